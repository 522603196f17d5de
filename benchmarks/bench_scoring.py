"""Batch scoring of the synthetic shop: pandas engine vs Spark (local), time and peak memory.

Usage: python benchmarks/bench_scoring.py [--customers 1000000] [--seed 0]
           [--engines pandas,spark] [--master local[2]] [--n-buckets N]

Steps, each in its own Python process so that every peak-memory figure belongs to one step:

1. prepare: ``load_dataset("synthetic", ...)`` (the data layer generates the shop and caches it
   under ``data/interim/`` with ``write_shop`` / ``read_shop``, so repeated runs do not
   regenerate), write the cleaned canonical tables as Parquet for Spark, fit the scorer
   (``CustomerScorer().fit``, timed on its own) and pickle it.
2. pandas: load the shop through the data layer (timed), then score it exactly as
   ``CustomerScorer.score`` does (``check_input``, ``score_customers_in_chunks``, ``finalize``; each step
   timed, with its own peak resident memory from a 0.2 s sampler).
3. spark: ``score_parquet_with_spark`` on the Parquet files with a new session (``local[2]``).
   The driver JVM and the Python workers are child processes: the sampled peak of the whole
   process tree (sum of resident set sizes, an upper bound: forked workers share pages) is
   reported, and ``getrusage(RUSAGE_CHILDREN)`` after the JVM has exited (the largest single
   descendant).

Both engines' tables are checked equal. Writes benchmarks/results/scoring.json. Wall times
depend on what else runs on the machine: CPU seconds and the load average are recorded too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from scoring.outputs import dumps, write_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "scoring.json"
GB = 1e9


# --------------------------------------------------------------------------- measuring


def maxrss_gb(who: int) -> float:
    """``getrusage(who).ru_maxrss`` in GB (KiB on Linux, bytes on macOS)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return round(resource.getrusage(who).ru_maxrss * scale / GB, 3)


def cpu_seconds() -> float:
    self_, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


class MemorySampler:
    """Resident memory of this process and all its descendants, sampled every ``interval``
    seconds in a thread; ``step(name)`` starts a named step, ``peaks`` holds each step's peak
    (GB) of the whole tree and of the JVM processes."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._step = "start"
        self._stop = threading.Event()
        self.peaks: dict[str, dict[str, float]] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def step(self, name: str) -> None:
        self._sample()
        self._step = name
        self._sample()

    def _sample(self) -> None:
        import psutil

        tree = jvm = 0
        for proc in [self._process, *self._process.children(recursive=True)]:
            try:
                rss = proc.memory_info().rss
                is_jvm = proc.name() == "java"
            except psutil.Error:
                continue
            tree += rss
            jvm += rss if is_jvm else 0
        peak = self.peaks.setdefault(self._step, {"tree_gb": 0.0, "jvm_gb": 0.0})
        peak["tree_gb"] = round(max(peak["tree_gb"], tree / GB), 3)
        peak["jvm_gb"] = round(max(peak["jvm_gb"], jvm / GB), 3)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        self._thread.join()
        self._sample()
        return {k: v for k, v in self.peaks.items() if k != "start"}


class Steps:
    """Wall and CPU seconds per named step, with the sampler's step markers."""

    def __init__(self, sampler: MemorySampler):
        self.sampler = sampler
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        self.sampler.step(name)
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = fn(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - wall, 2)
        self.cpu[name] = round(cpu_seconds() - cpu, 2)
        return result


# --------------------------------------------------------------------------- workers


def work_dir(args) -> Path:
    from scoring.data.loaders import DATA_DIR

    path = DATA_DIR / "interim" / f"bench-scoring-{args.customers}-seed{args.seed}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load(args):
    from scoring.data import load_dataset

    return load_dataset("synthetic", n_customers=args.customers, seed=args.seed)


def worker_prepare(args) -> dict:
    from scoring.data.loaders import DATA_DIR
    from scoring.scorer import CustomerScorer

    work = work_dir(args)
    cached = any(
        DATA_DIR.joinpath("interim").glob(
            f"synthetic-{args.customers}-seed{args.seed}*/synthetic.json"
        )
    )
    steps = Steps(MemorySampler())
    shop = steps.run("load" if cached else "generate_and_load", load, args)
    for table in ("transactions", "events", "customers"):
        path = work / f"{table}.parquet"
        if not path.exists():
            steps.run(f"write_{table}", getattr(shop, table).to_parquet, path, index=False)
    scorer = steps.run("fit", CustomerScorer().fit, shop)
    (work / "scorer.pkl").write_bytes(pickle.dumps(scorer))
    return {
        "seconds": steps.seconds,
        "cpu_seconds": steps.cpu,
        "peak_gb": steps.sampler.stop(),
        "rusage_self_gb": maxrss_gb(resource.RUSAGE_SELF),
        "shop_cached": cached,
        "rows": {
            "transaction_lines": len(shop.transactions),
            "events": 0 if shop.events is None else len(shop.events),
            "customer_profiles": 0 if shop.customers is None else len(shop.customers),
            "buyers": int(shop.transactions["customer_id"].nunique()),
        },
        "as_of": str(shop.as_of),
        "model_version": scorer.version_,
    }


def prepared_as_of(work: Path):
    """The shop's as-of day as one Timestamp for both engines, in the data layer's unit (ns):
    the dtype of ``expected_next_order_date`` follows the unit of ``as_of``."""
    import pandas as pd

    as_of = json.loads((work / "prepare.json").read_text())["as_of"]
    return pd.Timestamp(as_of).normalize().as_unit("ns")


def score_pandas(steps: Steps, shop, work: Path, name: str) -> dict:
    """Score ``shop`` exactly as ``CustomerScorer.score`` does, step by step."""
    scorer = pickle.loads((work / "scorer.pkl").read_bytes())
    as_of = prepared_as_of(work)
    steps.run("check_input", scorer.check_input, shop.transactions)
    per_customer = steps.run("score_customers", scorer.score_customers_in_chunks,
                             shop.transactions, as_of, shop.events)  # fmt: skip
    scores, _ = steps.run("finalize", scorer.finalize, per_customer, as_of, shop.customers)
    scores.to_parquet(work / f"scores-{name}.parquet", index=False)
    scoring = ("check_input", "score_customers", "finalize")
    return {
        "wall_seconds": round(sum(steps.seconds[s] for s in scoring), 2),
        "cpu_seconds": round(sum(steps.cpu[s] for s in scoring), 2),
        "load_seconds": steps.seconds["load"],
        "steps_seconds": steps.seconds,
        "peak_gb_by_step": steps.sampler.stop(),
        "peak_gb": maxrss_gb(resource.RUSAGE_SELF),
        "customers_scored": len(scores),
    }


def worker_pandas(args) -> dict:
    """The pandas engine on the shop loaded through the data layer (read, clean, account)."""
    steps = Steps(MemorySampler())
    shop = steps.run("load", load, args)
    return score_pandas(steps, shop, work_dir(args), "pandas")


def read_canonical(work: Path):
    """The cleaned canonical tables from Parquet (written by the prepare step), as ShopData."""
    import pandas as pd

    from scoring.data.schema import ShopData

    tables = {}
    for table in ("transactions", "events", "customers"):
        tables[table] = pd.read_parquet(work / f"{table}.parquet")
    return ShopData(name="synthetic", **tables, as_of=prepared_as_of(work))


def worker_pandas_parquet(args) -> dict:
    """The pandas engine on the cleaned canonical Parquet tables (no cleaning at load)."""
    steps = Steps(MemorySampler())
    shop = steps.run("load", read_canonical, work_dir(args))
    return score_pandas(steps, shop, work_dir(args), "pandas-parquet")


class SparkSteps(logging.Handler):
    """Collects the engine's ``<step>: <seconds> s`` log lines."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        step, seconds = record.getMessage().rsplit(": ", 1)
        self.seconds[step] = float(seconds.removesuffix(" s"))


def worker_spark(args) -> dict:
    from pyspark import SparkContext

    from scoring.spark_engine import score_parquet_with_spark, spark_session

    work = work_dir(args)
    scorer = pickle.loads((work / "scorer.pkl").read_bytes())
    as_of = prepared_as_of(work)
    log = SparkSteps()
    logging.getLogger("scoring.spark_engine").addHandler(log)
    logging.getLogger("scoring.spark_engine").setLevel(logging.INFO)
    steps = Steps(MemorySampler())
    spark = steps.run("session", spark_session, args.master)
    scores, _ = steps.run(
        "score", score_parquet_with_spark, scorer, work / "transactions.parquet", as_of,
        events_path=work / "events.parquet", customers_path=work / "customers.parquet",
        master=args.master, n_buckets=args.n_buckets,
    )  # fmt: skip
    peaks = steps.sampler.stop()
    scores.to_parquet(work / "scores-spark.parquet", index=False)
    # Let the JVM exit and reap it, so that RUSAGE_CHILDREN covers it.
    gateway = SparkContext._gateway
    spark.stop()
    proc = getattr(gateway, "proc", None)
    if proc is not None:
        gateway.shutdown()
        proc.stdin.close()
        proc.wait(timeout=120)
    return {
        "wall_seconds": steps.seconds["score"],
        "session_seconds": steps.seconds["session"],
        "steps_seconds": log.seconds,
        "peak_gb": max(p["tree_gb"] for p in peaks.values()),
        "peak_gb_by_step": peaks,
        "peak_gb_note": "sum of the RSS of the driver, the JVM and the Python workers, "
        "sampled every 0.2 s (an upper bound: forked workers share pages)",
        "rusage_self_gb": maxrss_gb(resource.RUSAGE_SELF),
        "rusage_children_gb": maxrss_gb(resource.RUSAGE_CHILDREN),
        "master": args.master,
        "n_buckets": args.n_buckets,
        "customers_scored": len(scores),
    }


WORKERS = {
    "prepare": worker_prepare,
    "pandas": worker_pandas,
    "pandas-parquet": worker_pandas_parquet,
    "spark": worker_spark,
}
ENGINES = ("pandas", "pandas-parquet", "spark")


# --------------------------------------------------------------------------- main


def run_worker(name: str, args) -> dict:
    """Run one step in a fresh interpreter; its result is read from a JSON file."""
    out = work_dir(args) / f"{name}.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--customers",
        str(args.customers),
        "--seed",
        str(args.seed),
        "--master",
        args.master,
    ]
    if args.n_buckets:
        cmd += ["--n-buckets", str(args.n_buckets)]
    start, load_start = time.perf_counter(), round(os.getloadavg()[0], 2)
    subprocess.run(cmd, check=True)
    result = json.loads(out.read_text())
    result["process_seconds"] = round(time.perf_counter() - start, 2)
    result["load_average_1min_at_start_and_end"] = [load_start, round(os.getloadavg()[0], 2)]
    print(f"{name}: {json.dumps(result)}", flush=True)
    return result


def machine() -> dict:
    import numpy as np
    import pandas as pd
    import psutil

    info = {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / GB, 1),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    try:
        import pyspark

        info["pyspark"] = pyspark.__version__
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
        info["java"] = (java.stderr or java.stdout).splitlines()[0]
    except (ImportError, OSError, IndexError):
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--engines",
        default="pandas,spark",
        help="comma-separated engines to time: pandas (data layer load + CustomerScorer.score), "
        "spark (score_parquet_with_spark), pandas-parquet (CustomerScorer.score on the "
        "cleaned Parquet tables Spark reads)",
    )
    parser.add_argument(
        "--reuse-prepared",
        action="store_true",
        help="reuse the fitted scorer and Parquet tables of an earlier run (no refit); engine "
        "results are merged into an existing results file for the same shop and model",
    )
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument(
        "--n-buckets",
        type=int,
        default=None,
        help="Spark customer buckets (default: the engine's rule)",
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = WORKERS[args.worker](args)
        (work_dir(args) / f"{args.worker}.json").write_text(dumps(result, indent=2))
        return
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engine(s) {sorted(unknown)}; choose from {', '.join(ENGINES)}")
    load_average_start = round(os.getloadavg()[0], 2)
    work = work_dir(args)
    if args.reuse_prepared and (work / "prepare.json").exists() and (work / "scorer.pkl").exists():
        prepare = json.loads((work / "prepare.json").read_text())
    else:
        prepare = run_worker("prepare", args)
    result = {
        "customers": args.customers,
        "seed": args.seed,
        **prepare["rows"],
        "as_of": prepare["as_of"],
        "model_version": prepare["model_version"],
        "prepare": {k: v for k, v in prepare.items() if k not in ("rows",)},
        "fit_seconds": prepare["seconds"]["fit"],
        "engines": {},
    }
    if args.reuse_prepared and RESULTS.exists():
        previous = json.loads(RESULTS.read_text())
        same = all(previous.get(k) == result[k] for k in ("customers", "seed", "model_version"))
        if same:
            result["engines"] = previous.get("engines", {})
    for engine in engines:
        result["engines"][engine] = run_worker(engine, args)
    compared = [e for e in result["engines"] if (work / f"scores-{e}.parquet").exists()]
    if len(compared) > 1:
        import pandas as pd

        first = pd.read_parquet(work / f"scores-{compared[0]}.parquet")
        for engine in compared[1:]:
            pd.testing.assert_frame_equal(
                pd.read_parquet(work / f"scores-{engine}.parquet"), first,
                check_exact=False, rtol=1e-9, atol=0,
            )  # fmt: skip
        result["identical_output"] = compared
    result["goal_under_10_min_and_8_gb"] = {
        name: bool(run["wall_seconds"] + run["load_seconds"] < 600 and run["peak_gb"] < 8)
        for name, run in result["engines"].items()
        if name.startswith("pandas")
    }
    result["machine"] = machine()
    result["machine"]["load_average_1min_at_start"] = load_average_start
    print(dumps(result))
    RESULTS.parent.mkdir(exist_ok=True)
    write_json(result, RESULTS)  # strict JSON, atomically


if __name__ == "__main__":
    main()
