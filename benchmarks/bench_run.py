"""``scoring run`` on Online Retail II against the hand-written one-split pipeline, timed in
the same invocation.

Usage: python benchmarks/bench_run.py [--repeat N] [--dataset online-retail-ii]

Each repeat runs, each in a fresh process under ``/usr/bin/time -f "%e %M %U %S"`` (wall
seconds, peak resident memory of the process, CPU seconds):

(a) ``python -m scoring run --dataset DATASET --out TMP`` with
    ``MLFLOW_TRACKING_URI=sqlite:///TMP/mlflow.db`` (a fresh MLflow store, artifacts beside it);
(b) ``python benchmarks/reference_pipeline.py --out TMP`` (pandas + lifetimes + LightGBM +
    implicit, one split, no tuning, no evaluation);
(c) the same run with ``--shipped-only`` (the evaluation measures only the configured scorer:
    no candidates, baselines or recommender grid) and (d) with ``--skip-evaluation`` (one fit
    and the scoring, like the reference).

The best wall time of each over the repeats gives the ratio run / reference; the goal of the
issue "One honest pipeline" is a ratio of at most 2 for (a); (c) and (d) show what the
comparison of candidates and the evaluation itself cost. The machine's load average before and after
every process is recorded (wall times depend on what else runs: CPU seconds are reported too).
Writes benchmarks/results/run.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scoring.outputs import dumps, write_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "run.json"
REFERENCE = HERE / "reference_pipeline.py"
GOAL_RATIO = 2.0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def timed(name: str, cmd: list[str], env: dict[str, str], tmp: Path) -> dict:
    """Run ``cmd`` under /usr/bin/time in a fresh process; wall, peak RSS, CPU and its log."""
    stats = tmp / "time.txt"
    log = tmp / "log.txt"
    before = load_average()
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.call(
            ["/usr/bin/time", "-f", "%e %M %U %S", "-o", str(stats), *cmd],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    elapsed = time.perf_counter() - start
    text = log.read_text(errors="replace")
    if code:
        sys.stderr.write(text[-4000:])
        raise SystemExit(f"{name} failed with exit code {code}: {' '.join(cmd)}")
    wall, peak_kib, user, system = stats.read_text().split()[-4:]
    result = {
        "wall_seconds": float(wall),
        "peak_rss_gb": round(int(peak_kib) * 1024 / 1e9, 3),
        "cpu_seconds": round(float(user) + float(system), 2),
        "process_seconds": round(elapsed, 2),
        "load_average_before": before,
        "load_average_after": load_average(),
    }
    steps = dict(re.findall(r"^(\w+): ([\d.]+) s$", text, flags=re.MULTILINE))
    if steps:
        result["steps_seconds"] = {k: float(v) for k, v in steps.items()}
    print(f"{name}: {json.dumps(result)}", flush=True)
    return result


VARIANTS = {"run": [], "run_shipped_only": ["--shipped-only"],
            "run_skip_evaluation": ["--skip-evaluation"]}
"""``scoring run`` flags of each measured variant."""


def run_scoring(dataset: str, variant: str = "run") -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-run-"))
    try:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
        cmd = [sys.executable, "-m", "scoring", "run", "--dataset", dataset,
               "--out", str(tmp / "out"), *VARIANTS[variant]]  # fmt: skip
        return timed(f"scoring {variant}", cmd, env, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_reference() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-reference-"))
    try:
        cmd = [sys.executable, str(REFERENCE), "--out", str(tmp / "out")]
        return timed("reference", cmd, dict(os.environ), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def best(runs: list[dict]) -> dict:
    """The run with the best wall time, with every wall time and the largest peak."""
    top = min(runs, key=lambda r: r["wall_seconds"])
    return {
        **top,
        "wall_seconds_all": [r["wall_seconds"] for r in runs],
        "peak_rss_gb_max": max(r["peak_rss_gb"] for r in runs),
    }


def git_state() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty_files": len(git("status", "--porcelain").splitlines())}  # fmt: skip


def machine() -> dict:
    import pandas as pd
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "python": platform.python_version(),
        "pandas": pd.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (best wall kept)")
    parser.add_argument("--dataset", default="online-retail-ii")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    result: dict = {"dataset": args.dataset, "repeat": args.repeat,
                    "load_average_before": load_average()}  # fmt: skip
    runs: dict[str, list[dict]] = {"reference": [], **{v: [] for v in VARIANTS}}
    for _ in range(args.repeat):
        runs["reference"].append(run_reference())
        for variant in VARIANTS:
            runs[variant].append(run_scoring(args.dataset, variant))
    result["load_average_after"] = load_average()
    for name, measured in runs.items():
        result[name] = best(measured)
    ratio = result["run"]["wall_seconds"] / result["reference"]["wall_seconds"]
    result["ratio_run_to_reference"] = round(ratio, 2)
    for variant in VARIANTS:
        result[f"ratio_{variant}_to_reference"] = round(
            result[variant]["wall_seconds"] / result["reference"]["wall_seconds"], 2)
    result["cpu_ratio_run_to_reference"] = round(
        result["run"]["cpu_seconds"] / result["reference"]["cpu_seconds"], 2
    )
    result["goal_ratio_at_most_2"] = bool(ratio <= GOAL_RATIO)
    result["commands"] = {
        **{variant: f"python -m scoring run --dataset {args.dataset} --out TMP "
           + " ".join(flags) + " (MLFLOW_TRACKING_URI=sqlite:///TMP/mlflow.db)"
           for variant, flags in VARIANTS.items()},
        "reference": "python benchmarks/reference_pipeline.py --out TMP",
    }
    result["git"] = git_state()
    result["machine"] = machine()
    print(dumps(result))
    RESULTS.parent.mkdir(exist_ok=True)
    write_json(result, RESULTS)  # strict JSON, atomically


if __name__ == "__main__":
    main()
