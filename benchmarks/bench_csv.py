"""CSV reading: ``readers.read_export`` (pyarrow) vs the old pandas python-engine reader.

Usage: python benchmarks/bench_csv.py [--parts orii,synthetic] [--customers 1000000]
           [--prefix-rows 2000000] [--repeat 3] [--rewrite]

Two files are written as CSV into ``data/interim/bench/`` (kept for later runs; --rewrite
writes them again):

* ``online_retail_II.csv``: Online Retail II (``data/raw/online_retail_II.parquet``,
  1,067,370 rows) written with ``DataFrame.to_csv``;
* ``synthetic_transactions.csv``: the transactions of the 1M-customer synthetic shop
  (24,263,298 rows; read from the cache ``loaders._load_synthetic`` writes under
  ``data/interim``, generated there first when missing), written with pyarrow's CSV
  writer, timestamps as ``YYYY-MM-DD HH:MM:SS``; and ``synthetic_prefix.csv``, its first
  ``--prefix-rows`` rows: the old reader would need many minutes and too much memory for
  the whole file, so it is timed on the prefix only (``old_reader_on_prefix_only``).

Every measurement runs in a fresh Python process (``--repeat`` times; the fastest run is
reported with the highest peak of all runs) that imports its reader, then reads the
file once: wall seconds, rows/s and the process's peak resident memory (``VmHWM`` from
/proc/self/status on Linux: ``ru_maxrss``, and so ``RUSAGE_CHILDREN``, also count the
parent's resident memory at ``fork``), with the resident memory after the imports and the
increase over it. Before timing, another fresh
process reads each compared file with both readers and checks the tables are identical
(both converted to the ``string`` dtype; column names stripped, as ``read_export`` does).

Memory is compared with reading the same data from Parquet with
``io.read_parquet_by_column`` in a fresh process: the Parquet file the CSV was written
from (typed columns), and a Parquet file of the table ``read_export`` returns (every column
a string, as the CSV reader gives them: the same table). Goals (from the issue): at least
5x the old reader's speed with identical tables, and a peak no higher than the Parquet
read's plus 50%.

Writes benchmarks/results/csv.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "csv.json"
BENCH_DIR = ROOT / "data" / "interim" / "bench"
ORII_PARQUET = ROOT / "data" / "raw" / "online_retail_II.parquet"
GB = 1e9


def _status_gb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (kB) in GB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / GB
    raise KeyError(field)


def peak_rss_gb() -> float:
    """Peak resident memory of this process in GB: ``VmHWM`` on Linux (the high-water mark
    of this program's memory; ``ru_maxrss`` also counts the parent's resident memory at
    ``fork``, which a big parent makes the child's), ``ru_maxrss`` elsewhere."""
    if sys.platform.startswith("linux"):
        return _status_gb("VmHWM")
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / GB


def rss_gb() -> float:
    """Current resident memory in GB."""
    if sys.platform.startswith("linux"):
        return _status_gb("VmRSS")
    import psutil

    return psutil.Process().memory_info().rss / GB


def old_reader(path):
    """The reader ``io.read_table`` used before ``read_export`` (kept here, not in the
    package, to compare against): pandas' python engine, delimiter sniffed by csv.Sniffer,
    every column as text, only empty cells missing."""
    import pandas as pd

    return pd.read_csv(
        path, sep=None, engine="python", dtype=str, keep_default_na=False, na_values=[""]
    )


# ----------------------------------------------------------------- child process (measured)


def child(mode: str, path: str, out: str | None) -> dict:
    """Read ``path`` once with ``mode`` ("old", "new", "parquet") or check the two CSV
    readers agree ("compare"); report seconds, rows and peak memory."""
    import pandas as pd

    from scoring.data import io
    from scoring.data.readers import read_export

    rss_imported = rss_gb()
    start = time.perf_counter()
    if mode == "old":
        frame = old_reader(path)
    elif mode == "new":
        frame = read_export(path).frame
    elif mode == "parquet":
        frame = io.read_parquet_by_column(path)
    elif mode == "compare":
        new = read_export(path).frame
        old = old_reader(path).astype(pd.StringDtype("pyarrow"))
        old.columns = [str(c).replace("\ufeff", "").strip() for c in old.columns]
        pd.testing.assert_frame_equal(new, old)
        return {"identical": True, "rows": len(new), "columns": list(new.columns)}
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    result = {
        "seconds": round(seconds, 2),
        "rows": len(frame),
        "rows_per_second": round(len(frame) / seconds),
        "peak_rss_gb": round(peak_rss_gb(), 3),
        "rss_after_imports_gb": round(rss_imported, 3),
        "peak_increase_gb": round(peak_rss_gb() - rss_imported, 3),
        "frame_gb": round(int(frame.memory_usage(deep=True).sum()) / GB, 3),
    }
    if out:  # the same table as Parquet, for the memory baseline (after the measurement)
        frame.to_parquet(out, index=False, row_group_size=1_000_000)
    return result


def run_child(mode: str, path: Path, out: Path | None = None, repeat: int = 1) -> dict:
    """Run ``child`` in ``repeat`` fresh processes: the fastest run's figures (the timeit
    convention), with the highest peak memory of all runs."""
    runs = []
    for i in range(repeat):
        command = [sys.executable, __file__, "--child", mode, str(path)]
        if out is not None and i == 0:
            command += ["--out", str(out)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    result = min(runs, key=lambda r: r.get("seconds", 0))
    if "seconds" in result:
        result = {**result, "runs_seconds": [r["seconds"] for r in runs]}
        for key in ("peak_rss_gb", "peak_increase_gb"):
            result[key] = max(r[key] for r in runs)
    print(f"  {mode:8s} {path.name}: {result}", flush=True)
    return result


# -------------------------------------------------------------------------- the files


def write_orii(path: Path) -> dict:
    import pandas as pd

    start = time.perf_counter()
    pd.read_parquet(ORII_PARQUET).to_csv(path, index=False)
    return {"write_seconds": round(time.perf_counter() - start, 2)}


def synthetic_parquet(customers: int) -> Path:
    """transactions.parquet of the cached synthetic shop (generated and cached first, the
    way ``loaders._load_synthetic`` does, when missing)."""
    import shutil

    from scoring.data import synthetic
    from scoring.data.loaders import DATA_DIR

    cache = DATA_DIR / "interim" / f"synthetic-{customers}-seed0-v{synthetic.GENERATOR_VERSION}"
    if not (cache / "synthetic.json").exists():
        shop = synthetic.generate_shop(n_customers=customers, seed=0)
        tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
        synthetic.write_shop(shop, tmp)
        del shop
        try:
            tmp.rename(cache)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return cache / "transactions.parquet"


def write_synthetic(source: Path, path: Path, prefix: Path, prefix_rows: int) -> dict:
    """Stream the Parquet file into CSV row group by row group (bounded memory); the first
    ``prefix_rows`` rows also into ``prefix``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    start = time.perf_counter()
    file = pq.ParquetFile(source)
    written = 0
    with (
        pa_csv.CSVWriter(path, _csv_schema(file.schema_arrow)) as full,
        pa_csv.CSVWriter(prefix, _csv_schema(file.schema_arrow)) as head,
    ):
        for i in range(file.num_row_groups):
            table = file.read_row_group(i)
            columns = [
                pc.strftime(c.cast(pa.timestamp("s")), "%Y-%m-%d %H:%M:%S")
                if pa.types.is_timestamp(c.type)
                else c
                for c in table.columns
            ]
            table = pa.table(columns, names=table.column_names)
            full.write_table(table)
            if written < prefix_rows:
                head.write_table(table.slice(0, prefix_rows - written))
                written += min(prefix_rows - written, table.num_rows)
    return {"write_seconds": round(time.perf_counter() - start, 2)}


def _csv_schema(schema):
    import pyarrow as pa

    return pa.schema(
        [pa.field(f.name, pa.string() if pa.types.is_timestamp(f.type) else f.type) for f in schema]
    )


# ------------------------------------------------------------------------------- parts


def bench_file(name: str, csv_path: Path, parquet_path: Path, old_path: Path, repeat: int) -> dict:
    """Compare, time and measure one CSV file (the old reader on ``old_path``)."""
    strings = BENCH_DIR / f"{csv_path.stem}.strings.parquet"
    result: dict = {
        "csv": str(csv_path.relative_to(ROOT)),
        "csv_gb": round(csv_path.stat().st_size / GB, 3),
        "old_reader_file": str(old_path.relative_to(ROOT)),
        "old_reader_on_prefix_only": old_path != csv_path,
    }
    result["identical"] = run_child("compare", old_path)
    result["old"] = run_child("old", old_path, repeat=repeat)
    result["new_same_file_as_old"] = run_child("new", old_path, repeat=repeat)
    result["new"] = run_child("new", csv_path, strings, repeat=repeat)
    result["parquet_as_stored"] = run_child("parquet", parquet_path, repeat=repeat)
    result["parquet_same_table"] = run_child("parquet", strings, repeat=repeat)
    old_rate = result["old"]["rows_per_second"]
    result["speedup_rows_per_second_vs_old"] = round(
        result["new_same_file_as_old"]["rows_per_second"] / old_rate, 1
    )
    result["speedup_full_file_rows_per_second_vs_old"] = round(
        result["new"]["rows_per_second"] / old_rate, 1
    )
    peak = result["new"]["peak_rss_gb"]
    for baseline in ("parquet_as_stored", "parquet_same_table"):
        result[f"peak_ratio_vs_{baseline}"] = round(peak / result[baseline]["peak_rss_gb"], 2)
    result["goals"] = {
        "speedup_at_least_5x": result["speedup_rows_per_second_vs_old"] >= 5,
        "identical_tables": result["identical"]["identical"],
        "peak_within_parquet_plus_50pct_same_table": result["peak_ratio_vs_parquet_same_table"]
        <= 1.5,
        "peak_within_parquet_plus_50pct_as_stored": result["peak_ratio_vs_parquet_as_stored"]
        <= 1.5,
    }
    print(f"== {name}: {json.dumps(result['goals'])}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="orii,synthetic")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--prefix-rows", type=int, default=2_000_000)
    parser.add_argument("--rewrite", action="store_true", help="write the CSV files again")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per timing")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.out)))
        return
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
    }
    parts = args.parts.split(",")
    if "orii" in parts:
        path = BENCH_DIR / "online_retail_II.csv"
        written = write_orii(path) if args.rewrite or not path.exists() else {}
        result = bench_file("online-retail-ii", path, ORII_PARQUET, path, args.repeat)
        data["online_retail_ii"] = {**written, **result}
    if "synthetic" in parts:
        source = synthetic_parquet(args.customers)
        path = BENCH_DIR / "synthetic_transactions.csv"
        prefix = BENCH_DIR / "synthetic_prefix.csv"
        written = (
            write_synthetic(source, path, prefix, args.prefix_rows)
            if args.rewrite or not (path.exists() and prefix.exists())
            else {}
        )
        result = bench_file("synthetic", path, source, prefix, args.repeat)
        data["synthetic"] = {
            "customers": args.customers,
            "prefix_rows": args.prefix_rows,
            **written,
            **result,
        }
    data["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    from scoring.outputs import dumps

    RESULTS.write_text(dumps(data) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
