"""``scoring data check`` on CSV exports: this checkout vs the data layer before the
"real exports" change, whole command, fresh processes.

Usage: python benchmarks/bench_data_check.py [--parts orii,synthetic] [--baseline-ref REF]
           [--repeat 2]

Inputs are the CSV files ``bench_csv.py`` writes into ``data/interim/bench/`` (run it first,
or this script runs its writer): Online Retail II (1,067,370 rows) and the 1M-customer
synthetic shop's transactions (24,263,298 rows) with its first-2M-row prefix.

For each file, ``scoring data check --transactions FILE --out DIR --write-canonical`` runs
under ``/usr/bin/time`` (wall seconds and peak resident memory of the process):

* ``new``: this checkout;
* ``baseline``: the package at git ``--baseline-ref`` (default ``f4e0ef5``, the last commit
  before the change), checked out with ``git worktree`` into ``data/interim/bench/baseline``
  and run with the same interpreter and ``PYTHONPATH`` pointing at its ``src``. On the
  24M-row file the old reader needs many minutes and more memory than the machine has
  (pandas' python engine), so the baseline runs on the 2M-row prefix only and the speed-up
  on the whole file is stated against its rows/s on the prefix;
* ``parquet``: this checkout on the Parquet file the CSV was written from (the same data),
  the memory reference (goal: CSV peak <= Parquet peak x 1.5).

Identical results: the cleaned tables (``canonical/transactions.parquet``) of ``new`` and
``baseline`` are compared with ``pandas.testing.assert_frame_equal`` and the accounting of
``quality_report.json`` reason by reason (reasons the baseline did not have must count 0).

Writes benchmarks/results/data_check.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH_DIR = ROOT / "data" / "interim" / "bench"
BASELINE_DIR = BENCH_DIR / "baseline"
RESULTS = HERE / "results" / "data_check.json"
FILES = {
    "orii": {"csv": "online_retail_II.csv", "baseline_on": "online_retail_II.csv"},
    "synthetic": {"csv": "synthetic_transactions.csv", "baseline_on": "synthetic_prefix.csv"},
}


def ensure_inputs(parts: list[str]) -> dict[str, Path]:
    """The CSV files (written by bench_csv's writers when missing); returns the Parquet file
    each was written from (the memory reference: the same data from Parquet)."""
    sys.path.insert(0, str(HERE))
    import bench_csv

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    sources = {}
    if "orii" in parts:
        if not (BENCH_DIR / FILES["orii"]["csv"]).exists():
            bench_csv.write_orii(BENCH_DIR / FILES["orii"]["csv"])
        sources["orii"] = bench_csv.ORII_PARQUET
    if "synthetic" in parts:
        source = bench_csv.synthetic_parquet(1_000_000)
        csv_path = BENCH_DIR / FILES["synthetic"]["csv"]
        prefix = BENCH_DIR / FILES["synthetic"]["baseline_on"]
        if not (csv_path.exists() and prefix.exists()):
            bench_csv.write_synthetic(source, csv_path, prefix, 2_000_000)
        sources["synthetic"] = source
    return sources


def ensure_baseline(ref: str) -> Path:
    """The package at ``ref`` in a git worktree; returns its ``src`` folder."""
    if not (BASELINE_DIR / "src").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach",
                        str(BASELINE_DIR), ref], check=True, capture_output=True)
    head = subprocess.run(["git", "-C", str(BASELINE_DIR), "rev-parse", "--short", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()
    wanted = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref],
                            check=True, capture_output=True, text=True).stdout.strip()
    if head != wanted:
        subprocess.run(["git", "-C", str(BASELINE_DIR), "checkout", "--detach", ref],
                       check=True, capture_output=True)
    return BASELINE_DIR / "src"


def run_check(path: Path, out: Path, src: Path | None) -> dict:
    """One ``scoring data check`` in a fresh process: seconds, peak GB, exit code."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(src) if src is not None else str(ROOT / "src")
    command = ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "scoring", "data",
               "check", "--transactions", str(path), "--out", str(out), "--write-canonical"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    seconds, kb = done.stderr.strip().splitlines()[-1].split()
    if done.returncode != 0:
        raise RuntimeError(f"data check failed on {path}: {done.stderr[-2000:]}")
    return {"seconds": round(float(seconds), 2), "wall_seconds": round(wall, 2),
            "peak_gb": round(int(kb) / 1e6, 2)}


def best_of(repeat: int, path: Path, out: Path, src: Path | None) -> dict:
    runs = [run_check(path, out, src) for _ in range(repeat)]
    return {"seconds": min(r["seconds"] for r in runs),
            "peak_gb": max(r["peak_gb"] for r in runs), "runs": runs}


def compare(new_out: Path, old_out: Path) -> dict:
    """Same cleaned table and the same accounting (new-only reasons count 0)."""
    import json

    new_report = json.loads((new_out / "quality_report.json").read_text())
    old_report = json.loads((old_out / "quality_report.json").read_text())
    same_counts = (new_report["rows_in"] == old_report["rows_in"]
                   and new_report["rows_used"] == old_report["rows_used"]
                   and all(new_report["quarantined"].get(k, 0) == v
                           for k, v in old_report["quarantined"].items())
                   and all(v == 0 for k, v in new_report["quarantined"].items()
                           if k not in old_report["quarantined"]))
    new_table = pd.read_parquet(new_out / "canonical" / "transactions.parquet")
    old_table = pd.read_parquet(old_out / "canonical" / "transactions.parquet")
    pd.testing.assert_frame_equal(new_table, old_table)
    return {"identical_tables": True, "identical_accounting": bool(same_counts),
            "rows_in": new_report["rows_in"], "rows_used": new_report["rows_used"]}


def bench(part: str, parquet_path: Path, src_old: Path, repeat: int, work: Path) -> dict:
    files = FILES[part]
    csv_path = BENCH_DIR / files["csv"]
    baseline_path = BENCH_DIR / files["baseline_on"]
    result: dict = {"file": files["csv"], "rows": None}
    result["new"] = best_of(repeat, csv_path, work / f"{part}-new", None)
    result["parquet"] = best_of(repeat, parquet_path, work / f"{part}-parquet", None)
    if baseline_path != csv_path:
        result["new_on_baseline_file"] = best_of(repeat, baseline_path,
                                                 work / f"{part}-new-prefix", None)
        compared_new = work / f"{part}-new-prefix"
    else:
        compared_new = work / f"{part}-new"
    result["baseline"] = best_of(1, baseline_path, work / f"{part}-old", src_old)
    result["baseline"]["on"] = files["baseline_on"]
    result["identical"] = compare(compared_new, work / f"{part}-old")
    rows_full = compare(work / f"{part}-new", work / f"{part}-new")["rows_in"]
    rows_base = result["identical"]["rows_in"]
    result["rows"] = rows_full
    old_rate = rows_base / result["baseline"]["seconds"]
    new_rate = rows_full / result["new"]["seconds"]
    result["speedup"] = round(new_rate / old_rate, 1)
    result["memory_vs_parquet"] = round(result["new"]["peak_gb"] / result["parquet"]["peak_gb"],
                                        2)
    result["goals"] = {"speedup_at_least_5x": result["speedup"] >= 5,
                       "peak_at_most_parquet_plus_50pct": result["memory_vs_parquet"] <= 1.5,
                       "identical": result["identical"]["identical_accounting"]}
    print(f"== {part}: new {result['new']['seconds']} s / {result['new']['peak_gb']} GB, "
          f"baseline {result['baseline']['seconds']} s on {files['baseline_on']}, parquet "
          f"{result['parquet']['seconds']} s / {result['parquet']['peak_gb']} GB, "
          f"speed-up {result['speedup']}x, memory {result['memory_vs_parquet']}x", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="orii,synthetic")
    parser.add_argument("--baseline-ref", default="f4e0ef5")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    parts = args.parts.split(",")
    sources = ensure_inputs(parts)
    src_old = ensure_baseline(args.baseline_ref)
    import json

    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # other parts kept
    data.update({"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                             "load_average": os.getloadavg()},
                 "baseline_ref": args.baseline_ref, "date": time.strftime("%Y-%m-%d")})
    with tempfile.TemporaryDirectory(dir=BENCH_DIR) as tmp:
        for part in parts:
            data[part] = bench(part, sources[part], src_old, args.repeat, Path(tmp))
    data["machine"]["load_average_after"] = os.getloadavg()
    from scoring.outputs import dumps

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(dumps(data) + "\n")
    print(RESULTS)


if __name__ == "__main__":
    main()
