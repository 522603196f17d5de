"""The scale goals of the issue "One honest pipeline" on the 1M-customer synthetic shop:
``scoring evaluate`` under 20 minutes and 10 GB, fitting the scorer under 8 GB.

Usage: python benchmarks/bench_scale.py [--customers 1000000] [--seed 0]
           [--only fit|evaluate] [--timeout-minutes 45] [--memory-cap-gb 18] [--plain]

Two measurements, each in a fresh Python process under ``/usr/bin/time -f "%e %M %U %S"``
(wall seconds, peak resident memory of the process, CPU seconds):

1. fit: ``load_dataset("synthetic", n_customers=..., seed=...)`` (read from the cache under
   ``data/interim/``, cleaned and accounted), then ``CustomerScorer().fit(shop)`` with the
   default config (LightGBM hybrid churn on a 100k-customer training sample, BG/NBD,
   Gamma-Gamma, buy-again recommender). Load and fit seconds are timed in the process; its
   peak resident memory is ``VmHWM`` (also reported after the load alone). Goal: < 8 GB.
2. evaluate: ``python -m scoring evaluate --dataset synthetic --synthetic-customers N
   --recommender-grid quick --out TMP`` with ``MLFLOW_TRACKING_URI=sqlite:///TMP/mlflow.db``
   (a fresh MLflow store). Goal: < 20 minutes and < 10 GB. Its progress bar on stderr is
   read as it is written: the seconds of every stage ("churn and revenue models",
   "recommenders", "shipped scorer", "outputs"; "load and setup" before the bar) come from
   when each stage's name first appears. A hard timeout (default 45 minutes) and a memory cap
   on the process tree (default 18 GB, so that the machine is not driven into the OOM
   killer) end the process; that is recorded as its status with the last stage it reached,
   not as a number.

Where the time and memory go: both processes run their work under a stack sampler (a thread
that every 0.5 s reads the main thread's Python stack and the resident memory from
``/proc/self/statm``), which attributes seconds and the peak memory to the step of the
pipeline and the function that was running. For evaluate, the wrapper runs the package's
``__main__`` with ``runpy`` and the same argument list, which is what ``python -m scoring``
does; ``--plain`` runs the plain command instead (no sampler). The sampler's figures are
approximate (a C call that holds the GIL delays the sample); wall and peak come from
``/usr/bin/time``. The profile is flushed every 10 s, so a killed run still shows how far
it got.

The load average (1, 5, 15 min) before and after each process and the 1-minute load average
sampled every 10 s during it are recorded: on this 2-core machine, wall times depend on what
else runs. Writes benchmarks/results/scale.json (after each measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from scoring.outputs import dumps, write_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "scale.json"
GB = 1e9
GOALS = {"fit_peak_gb": 8.0, "evaluate_seconds": 20 * 60, "evaluate_peak_gb": 10.0}
STAGES = ("churn and revenue models", "recommenders", "shipped scorer", "outputs")
STAGE_LINE = re.compile(r"^(" + "|".join(map(re.escape, STAGES)) + r"):\s+\d+%")
PAGE = os.sysconf("SC_PAGE_SIZE")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def status_gb(field: str, pid: str = "self") -> float:
    """A memory figure (kB) from /proc/<pid>/status, in GB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / GB
    raise KeyError(field)


# --------------------------------------------------------------------------- stack sampler


def _frames(frame) -> list:
    """The stack outer -> inner as (path, qualname, line)."""
    stack = []
    while frame is not None:
        code = frame.f_code
        stack.append((code.co_filename, getattr(code, "co_qualname", code.co_name),
                      frame.f_lineno))  # fmt: skip
        frame = frame.f_back
    return stack[::-1]


def _label(entry) -> str:
    path, name, line = entry
    parts = Path(path).parts
    if "scoring" in parts:
        short = "/".join(parts[len(parts) - parts[::-1].index("scoring") - 1:])
    elif "site-packages" in parts:
        short = "/".join(parts[parts.index("site-packages") + 1:])
    else:
        short = Path(path).name
    return f"{short}:{line} {name}"


def _is_scoring(entry) -> bool:
    parts = Path(entry[0]).parts
    return "scoring" in parts and "site-packages" not in parts


class StackSampler:
    """Every ``interval`` seconds: the main thread's stack and this process's resident memory.

    A sample's step is the function called by the innermost *anchor* on the stack (anchors:
    (file name, qualname) pairs, e.g. the pipeline function that calls every stage), its
    substep the function that step called; seconds and peak memory accumulate per step and
    substep, and per step the innermost scoring function and innermost function overall
    ("hot"). The summary is written to ``path`` every ``flush_every`` seconds and at stop.
    """

    def __init__(self, path: Path, anchors: list[tuple[str, str]], interval: float = 0.5,
                 flush_every: float = 10.0):
        self.path, self.anchors = path, anchors
        self.interval, self.flush_every = interval, flush_every
        self.main = threading.main_thread().ident
        self.steps: dict[str, dict] = {}
        self.order: list[str] = []
        self.peak = {"rss_gb": 0.0, "stack": []}
        self.timeline: list[tuple[float, float, str]] = []
        self.start = self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _rss_gb(self) -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE / GB

    def _sample(self) -> None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        frame = sys._current_frames().get(self.main)
        stack = _frames(frame) if frame is not None else []
        rss = self._rss_gb()
        anchor = max((i for i, (path, name, _) in enumerate(stack)
                      if (Path(path).name, name) in self.anchors), default=None)  # fmt: skip
        if anchor is None or anchor + 1 >= len(stack):
            step, substep = "(outside the anchors)", ""
        elif stack[anchor + 1][0].startswith("<frozen importlib"):
            step, substep = "(imports)", ""
        else:
            step = stack[anchor + 1][1]
            substep = stack[anchor + 2][1] if anchor + 2 < len(stack) else "(itself)"
            if anchor + 2 < len(stack):
                substep = f"{substep} (line {stack[anchor + 1][2]})"
        inner_scoring = next((_label(e) for e in reversed(stack) if _is_scoring(e)), "")
        leaf = _label(stack[-1]) if stack else ""
        if step not in self.steps:
            self.order.append(step)
            self.steps[step] = {"seconds": 0.0, "peak_rss_gb": 0.0, "first_seen_s": round(
                now - self.start, 1), "substeps": {}, "hot_scoring": Counter(),
                "hot_leaf": Counter()}  # fmt: skip
        entry = self.steps[step]
        entry["seconds"] += dt
        entry["peak_rss_gb"] = max(entry["peak_rss_gb"], rss)
        entry["last_seen_s"] = round(now - self.start, 1)
        sub = entry["substeps"].setdefault(substep, {"seconds": 0.0, "peak_rss_gb": 0.0})
        sub["seconds"] += dt
        sub["peak_rss_gb"] = max(sub["peak_rss_gb"], rss)
        entry["hot_scoring"][inner_scoring] += dt
        entry["hot_leaf"][leaf] += dt
        if rss > self.peak["rss_gb"]:
            self.peak = {"rss_gb": rss, "at_s": round(now - self.start, 1), "step": step,
                         "stack": [_label(e) for e in stack if _is_scoring(e)][-12:]
                         + [_label(stack[-1])]}  # fmt: skip
        if not self.timeline or now - self.start - self.timeline[-1][0] >= 10:
            self.timeline.append((round(now - self.start, 1), round(rss, 3), step))

    def summary(self) -> dict:
        def top(counter: Counter, n: int = 8) -> dict:
            return {k: round(v, 1) for k, v in counter.most_common(n)}

        steps = {}
        for name in self.order:
            entry = self.steps[name]
            subs = sorted(entry["substeps"].items(), key=lambda kv: -kv[1]["seconds"])[:12]
            steps[name] = {
                "seconds": round(entry["seconds"], 1),
                "peak_rss_gb": round(entry["peak_rss_gb"], 3),
                "first_seen_s": entry["first_seen_s"],
                "last_seen_s": entry.get("last_seen_s"),
                "substeps": {k: {"seconds": round(v["seconds"], 1),
                                 "peak_rss_gb": round(v["peak_rss_gb"], 3)}
                             for k, v in subs},  # fmt: skip
                "hot_scoring": top(entry["hot_scoring"]),
                "hot_leaf": top(entry["hot_leaf"]),
            }
        return {"interval_s": self.interval, "elapsed_s": round(time.monotonic() - self.start, 1),
                "steps": steps, "peak": {**self.peak, "rss_gb": round(self.peak["rss_gb"], 3)},
                "rss_timeline_gb": self.timeline}  # fmt: skip

    def flush(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.summary(), indent=1))
        tmp.replace(self.path)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                self._sample()
                if time.monotonic() - last_flush >= self.flush_every:
                    self.flush()
                    last_flush = time.monotonic()
            except Exception as error:  # never let the sampler break the measured work
                sys.stderr.write(f"bench_scale sampler: {error!r}\n")

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.flush()
        return self.summary()


# --------------------------------------------------------------------------- workers


def worker_fit(args) -> None:
    """In the fresh process: load the shop, fit the default scorer, write the result."""
    sampler = StackSampler(Path(args.profile), [("bench_scale.py", "worker_fit")])
    from scoring.data import load_dataset
    from scoring.scorer import CustomerScorer

    start = time.perf_counter()
    shop = load_dataset("synthetic", n_customers=args.customers, seed=args.seed)
    load_seconds = time.perf_counter() - start
    peak_after_load = status_gb("VmHWM")
    rss_after_load = status_gb("VmRSS")
    start = time.perf_counter()
    scorer = CustomerScorer().fit(shop)
    fit_seconds = time.perf_counter() - start
    profile = sampler.stop()
    result = {
        "load_seconds": round(load_seconds, 2),
        "fit_seconds": round(fit_seconds, 2),
        "peak_rss_gb_after_load": round(peak_after_load, 3),
        "rss_gb_after_load": round(rss_after_load, 3),
        "peak_rss_gb_vmhwm": round(status_gb("VmHWM"), 3),
        "rows": {"transaction_lines": len(shop.transactions),
                 "events": 0 if shop.events is None else len(shop.events),
                 "customer_profiles": 0 if shop.customers is None else len(shop.customers)},
        "customers_fitted": scorer.n_customers_,
        "as_of": str(shop.as_of),
        "model_version": scorer.version_,
        "config": scorer.config.to_dict(),
        "profile": profile,
    }
    Path(args.result).write_text(dumps(result))


def worker_evaluate(args, argv: list[str]) -> None:
    """``python -m scoring <argv>`` through runpy, under the stack sampler."""
    import runpy

    sampler = StackSampler(Path(args.profile), [("pipeline.py", "_evaluate_models"),
                                                ("pipeline.py", "run_evaluate"),
                                                ("cli.py", "cmd_evaluate")])  # fmt: skip
    sys.argv = ["scoring", *argv]
    try:
        runpy.run_module("scoring", run_name="__main__", alter_sys=True)
    finally:
        sampler.stop()


# --------------------------------------------------------------------------- parent side


class Watched:
    """A command under /usr/bin/time in its own session: stderr read as it is written (stage
    marks from the progress bar), the process tree's memory and the load average sampled,
    ended at a timeout or a memory cap (the measured process is killed, /usr/bin/time
    reports it)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], tmp: Path,
                 timeout_s: float, cap_gb: float):
        self.name, self.tmp, self.timeout_s, self.cap_gb = name, tmp, timeout_s, cap_gb
        self.stats, self.stdout = tmp / "time.txt", tmp / "stdout.txt"
        self.stderr = tmp / "stderr.txt"
        self.marks: list[tuple[str, float]] = []
        self.other_lines: list[str] = []
        self.last_bar = ""
        self.tree_peak_gb = 0.0
        self.loads: list[float] = []
        self.ended_by: str | None = None
        self.cmd = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", str(self.stats), *cmd]
        self.env = env

    def _read_stderr(self, pipe) -> None:
        pending = ""
        with self.stderr.open("w") as log:
            while chunk := os.read(pipe.fileno(), 65536):
                text = chunk.decode(errors="replace")
                log.write(text)
                log.flush()
                pieces = re.split(r"[\r\n]", pending + text)
                pending = pieces.pop()
                for piece in pieces:
                    self._line(piece.strip())
            self._line(pending.strip())

    def _line(self, line: str) -> None:
        if not line:
            return
        match = STAGE_LINE.match(line)
        if match or re.match(r"^\s*\d+%\|", line):
            self.last_bar = re.sub(r"(\]).*$", r"\1", line)  # without text written after it
            if match and (not self.marks or self.marks[-1][0] != match.group(1)):
                self.marks.append((match.group(1), time.perf_counter() - self.start))
            return
        self.other_lines = (self.other_lines + [line])[-25:]

    def _tree_rss_gb(self, proc) -> float:
        import psutil

        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / GB

    def _kill_measured(self, proc) -> None:
        """SIGKILL the measured process (the child of /usr/bin/time) and its children, by
        pid, so that /usr/bin/time still writes its figures."""
        import psutil

        for p in proc.children(recursive=True):
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass

    def run(self) -> dict:
        import psutil

        before = load_average()
        self.start = time.perf_counter()
        with self.stdout.open("w") as out:
            popen = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.PIPE, env=self.env,
                                     cwd=ROOT, start_new_session=True)  # fmt: skip
        reader = threading.Thread(target=self._read_stderr, args=(popen.stderr,), daemon=True)
        reader.start()
        proc = psutil.Process(popen.pid)
        last_load = 0.0
        while popen.poll() is None:
            elapsed = time.perf_counter() - self.start
            try:
                rss = self._tree_rss_gb(proc)
            except psutil.Error:
                rss = 0.0
            self.tree_peak_gb = max(self.tree_peak_gb, rss)
            if elapsed - last_load >= 10:
                self.loads.append(round(os.getloadavg()[0], 2))
                last_load = elapsed
            if self.ended_by is None and elapsed > self.timeout_s:
                self.ended_by = f"timeout after {self.timeout_s / 60:.0f} min"
                self._kill_measured(proc)
            elif self.ended_by is None and rss > self.cap_gb:
                self.ended_by = f"memory cap: process tree at {rss:.1f} GB > {self.cap_gb} GB"
                self._kill_measured(proc)
            time.sleep(0.5)
        process_seconds = time.perf_counter() - self.start
        reader.join(timeout=30)
        code = popen.returncode
        result = {
            "exit_code": code,
            "process_seconds": round(process_seconds, 2),
            "load_average_before": before,
            "load_average_after": load_average(),
            "load_average_1min_during": {"min": min(self.loads, default=None),
                                         "mean": round(sum(self.loads) / len(self.loads), 2)
                                         if self.loads else None,
                                         "max": max(self.loads, default=None),
                                         "samples": len(self.loads)},
            "tree_peak_rss_gb_sampled": round(self.tree_peak_gb, 3),
        }
        stats = self.stats.read_text().split() if self.stats.exists() else []
        killed = re.search(r"terminated by signal (\d+)", " ".join(stats))
        if len(stats) >= 4 and re.fullmatch(r"[\d.]+", stats[-4]):
            wall, peak_kib, user, system = stats[-4:]
            result.update(wall_seconds=float(wall),
                          peak_rss_gb=round(int(peak_kib) * 1024 / GB, 3),
                          cpu_seconds=round(float(user) + float(system), 2))  # fmt: skip
        if self.ended_by:
            result["status"] = f"ended by this benchmark: {self.ended_by}"
        elif killed:
            result["status"] = (f"killed by signal {killed.group(1)}"
                                + (" (probably the OOM killer)" if killed.group(1) == "9" else ""))
        elif code:
            result["status"] = f"failed with exit code {code}"
        else:
            result["status"] = "ok"
        if self.marks or result["status"] != "ok":
            result["stages"] = self._stages(process_seconds)
            result["last_stage_reached"] = self.marks[-1][0] if self.marks else "load and setup"
            result["last_progress_line"] = self.last_bar
        if result["status"] != "ok":
            result["stderr_tail"] = self.other_lines
        print(f"{self.name}: {json.dumps({k: v for k, v in result.items()})}", flush=True)
        return result

    def _stages(self, end: float) -> dict:
        """Seconds per progress-bar stage (from when its name first appeared on stderr)."""
        marks = [("load and setup", 0.0), *self.marks]
        stages = {}
        for (name, start), nxt in zip(marks, [*marks[1:], ("", end)], strict=True):
            stages[name] = {"start_s": round(start, 1), "seconds": round(nxt[1] - start, 1)}
        return stages


def run_fit(args, tmp: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", "fit", "--customers", str(args.customers),
           "--seed", str(args.seed), "--profile", str(tmp / "profile.json"),
           "--result", str(tmp / "result.json")]  # fmt: skip
    watched = Watched("fit", cmd, dict(os.environ), tmp, args.timeout_minutes * 60,
                      args.memory_cap_gb)  # fmt: skip
    result = watched.run()
    if (tmp / "result.json").exists():
        result.update(json.loads((tmp / "result.json").read_text()))
    elif (tmp / "profile.json").exists():
        result["profile"] = json.loads((tmp / "profile.json").read_text())
    if "peak_rss_gb" in result and result["status"] == "ok":
        result["goal_peak_under_8_gb"] = bool(result["peak_rss_gb"] < GOALS["fit_peak_gb"])
    else:
        result["goal_peak_under_8_gb"] = False
    result["command"] = (f"load_dataset('synthetic', n_customers={args.customers}, "
                         f"seed={args.seed}); CustomerScorer().fit(shop)")  # fmt: skip
    return result


def run_evaluate(args, tmp: Path) -> dict:
    argv = ["evaluate", "--dataset", "synthetic", "--synthetic-customers", str(args.customers),
            *(["--seed", str(args.seed)] if args.seed else []),
            "--recommender-grid", "quick", "--out", str(tmp / "out")]
    if args.plain:
        cmd = [sys.executable, "-m", "scoring", *argv]
    else:
        cmd = [sys.executable, __file__, "--worker", "evaluate", "--profile",
               str(tmp / "profile.json"), "--", *argv]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
    result = Watched("evaluate", cmd, env, tmp, args.timeout_minutes * 60,
                     args.memory_cap_gb).run()  # fmt: skip
    if (tmp / "profile.json").exists():
        result["profile"] = json.loads((tmp / "profile.json").read_text())
    if result["status"] == "ok":
        stdout = (tmp / "stdout.txt").read_text(errors="replace")
        match = re.search(r"^\{.*?^\}", stdout, flags=re.MULTILINE | re.DOTALL)
        if match:
            result["headline"] = json.loads(match.group(0))
    result.update(evaluate_goals(result))
    result["command"] = (f"python -m scoring {' '.join(argv[:-1])} TMP "
                         "(MLFLOW_TRACKING_URI=sqlite:///TMP/mlflow.db)")
    result["runner"] = ("python -m scoring, plain" if args.plain else
                        "runpy.run_module('scoring') with the same arguments, under the stack "
                        "sampler of benchmarks/bench_scale.py")  # fmt: skip
    return result


def evaluate_goals(result: dict) -> dict:
    """Goal met (True), missed (False) or not known (None: the run ended early, before it
    had used the time or the memory the goal allows)."""
    ok = result["status"] == "ok" and "wall_seconds" in result
    seconds = result.get("wall_seconds", result["process_seconds"])
    peak = max(result.get("peak_rss_gb", 0.0), result.get("tree_peak_rss_gb_sampled", 0.0))
    time_goal, memory_goal = GOALS["evaluate_seconds"], GOALS["evaluate_peak_gb"]
    return {
        "goal_under_20_min": seconds < time_goal if ok else (False if seconds >= time_goal
                                                             else None),
        "goal_under_10_gb": peak < memory_goal if ok else (False if peak >= memory_goal
                                                           else None),
    }


def git_state() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip()

    import hashlib

    diff = git("diff", "HEAD", "--", "src")
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty_files": len(git("status", "--porcelain").splitlines()),
            "src_diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else None}


def machine() -> dict:
    import numpy as np
    import pandas as pd
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / GB, 1),
        "available_gb_at_start": round(psutil.virtual_memory().available / GB, 1),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "numpy": np.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("fit", "evaluate"), default=None,
                        help="run one measurement (merged into an existing results file)")
    parser.add_argument("--timeout-minutes", type=float, default=45.0)
    parser.add_argument("--memory-cap-gb", type=float, default=18.0,
                        help="kill a measured process tree above this resident memory")
    parser.add_argument("--plain", action="store_true",
                        help="run evaluate as the plain command, without the stack sampler")
    parser.add_argument("--worker", choices=("fit", "evaluate"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.worker == "fit":
        return worker_fit(args)
    if args.worker == "evaluate":
        return worker_evaluate(args, [a for a in rest if a != "--"])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    result: dict = {}
    if args.only and RESULTS.exists():
        previous = json.loads(RESULTS.read_text())
        if previous.get("customers") == args.customers and previous.get("seed") == args.seed:
            result = previous
    result.update({"customers": args.customers, "seed": args.seed,
                   "goals": {"fit_peak_gb_under": GOALS["fit_peak_gb"],
                             "evaluate_minutes_under": GOALS["evaluate_seconds"] / 60,
                             "evaluate_peak_gb_under": GOALS["evaluate_peak_gb"]},
                   "timeout_minutes": args.timeout_minutes,
                   "memory_cap_gb": args.memory_cap_gb})  # fmt: skip
    result.setdefault("load_average_at_start", {})
    for name, run in (("fit", run_fit), ("evaluate", run_evaluate)):
        if args.only and args.only != name:
            continue
        result["load_average_at_start"][name] = load_average()
        code = git_state()  # the code the process imports (src/ may change while it runs)
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-scale-{name}-"))
        try:
            result[name] = run(args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        result[name]["git_at_start"] = code
        result["git"] = git_state()
        result["machine"] = machine()
        RESULTS.parent.mkdir(exist_ok=True)
        write_json(result, RESULTS)  # strict JSON, atomically, after every measurement
    print(dumps({k: v for k, v in result.items() if k not in ("fit", "evaluate")}))


if __name__ == "__main__":
    main()
