"""Peak memory of loading the synthetic shop through the data layer.

Usage: python benchmarks/bench_load.py [--customers 1000000] [--seed 0] [--label after]
           [--hashes]

The load (``load_dataset("synthetic", n_customers=..., seed=...)``: read the cached raw tables
from ``data/interim``, clean them, account every row) runs in a fresh Python process. A thread
samples its resident memory every 0.2 s; the peak is the larger of the sampled peak and
``getrusage(RUSAGE_SELF).ru_maxrss`` (measured before anything else runs in that process).
The resident memory after the load (with the ``ShopData`` still held, after ``gc.collect``)
shows what is released. The shop must already be cached (run it once to generate it; the
generation is not what is measured here: ``generated`` says whether it ran).

``--hashes`` adds content hashes of every cleaned table, its dtypes and the accounting (taken
after the measurement), to check that a change to the data layer leaves the results identical.

Writes (merges into) benchmarks/results/load.json under ``runs[<customers>][<label>]``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from scoring.outputs import dumps

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "load.json"
GB = 1e9
TABLES = (
    "transactions",
    "quarantine",
    "events",
    "events_quarantine",
    "customers",
    "customers_quarantine",
)


def maxrss_gb() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in GB (KiB on Linux, bytes on macOS)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / GB


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RssSampler:
    """Resident memory of this process sampled every ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sample()
        self._thread.start()

    def _sample(self) -> int:
        rss = self._process.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.peak / GB


def table_hash(frame) -> str | None:
    """Content hash of a DataFrame: values (row order included), column names and dtypes."""
    import pandas as pd

    if frame is None:
        return None
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(repr(frame.index.dtype).encode() + str(len(frame)).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def child(args) -> dict:
    """Runs in the fresh process: the load, measured."""
    import psutil

    from scoring.data import data_hash, load_dataset
    from scoring.data.loaders import DATA_DIR
    from scoring.data.synthetic import GENERATOR_VERSION

    cache = (
        DATA_DIR / "interim" / f"synthetic-{args.customers}-seed{args.seed}-v{GENERATOR_VERSION}"
    )
    generated = not (cache / "synthetic.json").exists()
    rss_start = psutil.Process().memory_info().rss / GB
    sampler = RssSampler()
    wall, cpu = time.perf_counter(), cpu_seconds()
    shop = load_dataset("synthetic", n_customers=args.customers, seed=args.seed)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    peak = max(sampler.stop(), maxrss_gb())
    gc.collect()
    rss_after = psutil.Process().memory_info().rss / GB
    held = sum(
        int(getattr(shop, t).memory_usage(deep=True).sum())
        for t in TABLES
        if getattr(shop, t) is not None
    )
    result = {
        "customers": args.customers,
        "seed": args.seed,
        "generated": generated,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_gb": round(peak, 3),
        "rss_before_load_gb": round(rss_start, 3),
        "rss_after_load_gb": round(rss_after, 3),
        "shop_tables_gb": round(held / GB, 3),
        "rows": {table: report for table, report in shop.reports.items()},
    }
    if args.hashes:
        result["hashes"] = {t: table_hash(getattr(shop, t)) for t in TABLES}
        result["hashes"]["data_hash"] = data_hash(shop)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="current", help="name of this run in load.json")
    parser.add_argument("--hashes", action="store_true", help="hash the cleaned tables too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    command = [sys.executable, __file__, "--child", f"--customers={args.customers}",
               f"--seed={args.seed}"] + (["--hashes"] if args.hashes else [])  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    for table, report in result["rows"].items():
        quarantined = {k: v for k, v in report["quarantined"].items() if v}
        print(f"{table}: in {report['rows_in']:,} used {report['rows_used']:,} "
              f"quarantined {quarantined}")  # fmt: skip
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault("runs", {}).setdefault(str(args.customers), {})[args.label] = result
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
