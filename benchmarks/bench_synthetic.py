"""Time and size of the synthetic shop generator.

Usage: python benchmarks/bench_synthetic.py [--customers 1000000] [--seed 0] [--write DIR]
Prints and writes benchmarks/results/synthetic.json: wall and CPU seconds to generate (and
to write the parquet files with --write), rows per table, in-memory size per table, peak RSS
(after generating, and at the end), and a few realism figures (orders per buyer, lines per
order, repeat-buying share, events per customer). CPU seconds are reported because the wall
time depends on what else runs on the machine (the load average is recorded too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

from scoring.data.synthetic import TABLES, generate_shop, write_shop
from scoring.outputs import dumps


def peak_rss_gb() -> float:
    """Peak resident set size of this process in GB (ru_maxrss is KiB on Linux)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--write",
        type=Path,
        default=None,
        help="also write the parquet files into this directory and time it",
    )
    args = parser.parse_args()

    t0, cpu0 = time.perf_counter(), time.process_time()
    shop = generate_shop(args.customers, seed=args.seed)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    rss_after_generate = peak_rss_gb()

    tx = shop.transactions
    purchase = tx["quantity"].to_numpy() > 0
    truth = shop.truth
    buyers = ~truth["is_lead"].to_numpy()
    orders = tx.loc[purchase, "order_id"].nunique()
    # share of purchase lines whose product the customer bought on an earlier day, on a
    # sample of up to 50,000 customers (a groupby over all lines would dominate the run)
    sample_ids = truth["customer_id"].sample(min(50_000, len(truth)), random_state=0)
    sample = tx.loc[purchase & tx["customer_id"].isin(sample_ids).to_numpy()]
    days = sample["timestamp"].dt.floor("D")
    first_day = days.groupby([sample["customer_id"], sample["product_id"]]).transform("min")
    result = {
        "customers": args.customers,
        "seed": args.seed,
        "generate_seconds": round(seconds, 2),
        "generate_cpu_seconds": round(cpu_seconds, 2),
        "peak_rss_gb_after_generate": round(rss_after_generate, 2),
        "rows": {name: int(len(getattr(shop, name))) for name in TABLES},
        "memory_gb": {
            name: round(getattr(shop, name).memory_usage(deep=True).sum() / 1e9, 3)
            for name in TABLES
        },
        "purchase_lines": int(purchase.sum()),
        "cancellation_rows": int(tx["order_id"].str.startswith("C").sum()),
        "return_rows": int((~purchase).sum() - tx["order_id"].str.startswith("C").sum()),
        "orders": int(orders),
        "orders_per_buyer": round(
            float((truth["orders_before_cutoff"] + truth["orders_holdout"])[buyers].mean()), 3
        ),
        "lines_per_order": round(float(purchase.sum() / orders), 3),
        "repeat_buying_share_sample": round(float((days > first_day).mean()), 3),
        "alive_at_cutoff_share": round(float(truth["alive_at_cutoff"][buyers].mean()), 3),
        "events_per_customer": round(len(shop.events) / args.customers, 3),
        "event_types": {
            str(k): int(v) for k, v in shop.events["event_type"].value_counts().items()
        },
    }
    if args.write is not None:
        t0 = time.perf_counter()
        write_shop(shop, args.write)
        result["write_seconds"] = round(time.perf_counter() - t0, 2)
        result["parquet_mb"] = {
            name: round((args.write / f"{name}.parquet").stat().st_size / 1e6, 1) for name in TABLES
        }
    result["peak_rss_gb"] = round(peak_rss_gb(), 2)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "synthetic.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
