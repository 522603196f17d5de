"""rfm_summary vs lifetimes' summary_data_from_transaction_data on a large transaction log.

Usage: python benchmarks/bench_rfm.py [--customers 1000000] [--transactions 2500000] [--repeat 3]
Writes benchmarks/results/rfm.json. Outputs are checked equal before timing is reported;
the speed-up compares the best of ``--repeat`` runs of each (the timeit convention).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data

from scoring.features.rfm import rfm_summary
from scoring.outputs import dumps

ID_FORMATS = {
    "short": "C{:07d}".format,  # shop ids like "C0012345" or "12346"
    "email": "customer{:07d}@example-shop.com".format,  # 32 bytes, constant parts compress away
    "uuid": lambda i: f"{(i * 0x9E3779B97F4A7C15) % 2**64:016x}{(i * 0xC2B2AE3D27D4EB4F) % 2**64:016x}",
}  # uuid: 32 random-looking hex digits do not fit one int64: the hashing fallback


def make_log(n_customers: int, n_transactions: int, seed: int = 0,
             id_format: str = "short") -> pd.DataFrame:
    """A transaction log with skewed purchase counts over two years, with times of day."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.5, 1.0, n_customers)
    extra = rng.choice(n_customers, size=n_transactions - n_customers, p=weights / weights.sum())
    customer = np.concatenate([np.arange(n_customers), extra])  # everyone buys at least once
    seconds = rng.integers(0, 730 * 86_400, n_transactions)  # order times of day, as shops log them
    return pd.DataFrame({
        "customer_id": pd.Series(customer).map(ID_FORMATS[id_format]).astype("string"),
        "timestamp": pd.Timestamp("2022-01-01") + pd.to_timedelta(seconds, unit="s"),
        "amount": np.round(rng.gamma(2.0, 20.0, n_transactions), 2),
    })


def timed(function, repeat: int) -> tuple[list[float], object]:
    """Wall times of ``repeat`` calls and the last result."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def compare(log: pd.DataFrame, repeat: int) -> dict:
    """Time both on one log, after checking their outputs are equal."""
    end = "2023-12-31"
    ours_seconds, ours = timed(lambda: rfm_summary(log, end), repeat)
    lifetimes_seconds, theirs = timed(
        lambda: summary_data_from_transaction_data(log, "customer_id", "timestamp", "amount",
                                                   observation_period_end=end),
        repeat)
    theirs.index = theirs.index.astype("string")
    theirs = theirs.sort_index()
    pd.testing.assert_frame_equal(ours, theirs, check_names=False, check_index_type=False,
                                  rtol=1e-9)
    t_ours, t_lifetimes = min(ours_seconds), min(lifetimes_seconds)
    return {
        "example_id": str(log["customer_id"].iloc[0]),
        "rfm_summary_seconds": round(t_ours, 3),
        "lifetimes_seconds": round(t_lifetimes, 3),
        "speedup": round(t_lifetimes / t_ours, 1),
        "rfm_summary_all_seconds": [round(t, 3) for t in ours_seconds],
        "lifetimes_all_seconds": [round(t, 3) for t in lifetimes_seconds],
        "identical_output": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=2_500_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each; the best (minimum) time is compared, as timeit does")
    parser.add_argument("--id-formats", default="short,email,uuid",
                        help=f"comma-separated customer id styles among {sorted(ID_FORMATS)}")
    args = parser.parse_args()
    result = {"customers": args.customers, "transactions": args.transactions,
              "repeats": args.repeat}
    for id_format in args.id_formats.split(","):
        result[f"{id_format}_ids"] = compare(make_log(args.customers, args.transactions,
                                                      id_format=id_format), args.repeat)
    result["speedup"] = result["short_ids"]["speedup"] if "short_ids" in result else None
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "rfm.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
