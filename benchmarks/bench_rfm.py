"""rfm_summary vs lifetimes' summary_data_from_transaction_data on a large transaction log.

Usage: python benchmarks/bench_rfm.py [--customers 1000000] [--transactions 2500000]
Writes benchmarks/results/rfm.json. Outputs are checked equal before timing is reported.
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


def make_log(n_customers: int, n_transactions: int, seed: int = 0) -> pd.DataFrame:
    """A transaction log with skewed purchase counts over two years, with times of day."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.5, 1.0, n_customers)
    extra = rng.choice(n_customers, size=n_transactions - n_customers, p=weights / weights.sum())
    customer = np.concatenate([np.arange(n_customers), extra])  # everyone buys at least once
    seconds = rng.integers(0, 730 * 86_400, n_transactions)  # order times of day, as shops log them
    return pd.DataFrame({
        "customer_id": pd.Series(customer).map("C{:07d}".format).astype("string"),
        "timestamp": pd.Timestamp("2022-01-01") + pd.to_timedelta(seconds, unit="s"),
        "amount": np.round(rng.gamma(2.0, 20.0, n_transactions), 2),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=2_500_000)
    args = parser.parse_args()
    log = make_log(args.customers, args.transactions)
    end = "2023-12-31"
    t0 = time.perf_counter()
    ours = rfm_summary(log, end)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = summary_data_from_transaction_data(log, "customer_id", "timestamp", "amount",
                                                observation_period_end=end)
    t_lifetimes = time.perf_counter() - t0
    theirs.index = theirs.index.astype("string")
    theirs = theirs.sort_index()
    pd.testing.assert_frame_equal(ours, theirs, check_names=False, check_index_type=False,
                                  rtol=1e-9)
    result = {
        "customers": int(ours.shape[0]),
        "transactions": args.transactions,
        "rfm_summary_seconds": round(t_ours, 3),
        "lifetimes_seconds": round(t_lifetimes, 3),
        "speedup": round(t_lifetimes / t_ours, 1),
        "identical_output": True,
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "rfm.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
