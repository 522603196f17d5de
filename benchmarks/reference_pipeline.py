"""The hand-written, one-split reference pipeline on Online Retail II (what a data scientist
would write in a notebook): the yardstick of ``scoring run`` in benchmarks/bench_run.py.

Usage: python benchmarks/reference_pipeline.py [--out DIR]   (default: a new temp dir)

Only pandas, numpy, scipy, lifetimes, LightGBM and implicit; no tuning, no evaluation:

1. read data/raw/online_retail_II.parquet; drop missing customer ids, cancellations (invoice
   starting with C), non-positive quantity or price and exact duplicate lines;
2. as-of = the last day in the data (2011-12-09); RFM summary with
   ``lifetimes.utils.summary_data_from_transaction_data`` (freq "D");
3. BG/NBD (``BetaGeoFitter``) on every customer, Gamma-Gamma (``GammaGammaFitter``) on the
   repeat customers; P(alive) and the 12-month CLV
   (``GammaGammaFitter.customer_lifetime_value``);
4. one LightGBM churn classifier trained on ONE origin (features as of as-of - 90 days:
   recency, frequency, T, monetary, orders and revenue in the last 30/90/365 days; label = no
   order in the next 90 days), applied to the same features as of the as-of date;
5. implicit ALS (64 factors, 15 iterations, BLAS on one thread) on the customer x product matrix
   of order counts, top-5 products for every customer;
6. one table per customer (p_alive, churn probability, CLV 12 months, top-5 products) written
   to ``DIR/reference_scores.parquet``.

Prints the seconds of every step and the wall time of the whole script (imports included).
"""

from __future__ import annotations

import time

START = time.perf_counter()

import os  # noqa: E402

# implicit warns (and runs slower) when OpenBLAS uses threads of its own: one thread,
# set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import implicit  # noqa: E402
import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from lifetimes import BetaGeoFitter, GammaGammaFitter  # noqa: E402
from lifetimes.utils import summary_data_from_transaction_data  # noqa: E402

RAW = Path(__file__).resolve().parents[1] / "data" / "raw" / "online_retail_II.parquet"
HORIZON = 90
WINDOWS = (30, 90, 365)
TOP_N = 5


class Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()
        self.seconds["imports"] = round(self._last - START, 2)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 2)
        self._last = now
        print(f"{name}: {self.seconds[name]:.2f} s", flush=True)


def load_clean(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    df = df.dropna(subset=["Customer ID"])
    df = df[~df["Invoice"].str.startswith("C") & (df["Quantity"] > 0) & (df["Price"] > 0)]
    df = df.drop_duplicates()
    df = df.assign(
        customer_id=df["Customer ID"].astype("int64"),
        revenue=df["Quantity"] * df["Price"],
        date=df["InvoiceDate"].dt.normalize(),
    )
    return df


def features(orders: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Per customer with an order on or before ``cutoff``: recency, frequency, T, monetary
    (lifetimes' summary) and orders / revenue in the last 30, 90 and 365 days."""
    past = orders[orders["date"] <= cutoff]
    rfm = summary_data_from_transaction_data(
        past, "customer_id", "date", monetary_value_col="revenue",
        observation_period_end=cutoff, freq="D",
    )  # fmt: skip
    rfm["days_since_last"] = rfm["T"] - rfm["recency"]
    age = (cutoff - past["date"]).dt.days
    for days in WINDOWS:
        recent = past[age < days].groupby("customer_id")["revenue"].agg(["size", "sum"])
        rfm[f"orders_{days}d"] = recent["size"].reindex(rfm.index, fill_value=0)
        rfm[f"revenue_{days}d"] = recent["sum"].reindex(rfm.index, fill_value=0.0)
    return rfm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: a new temp dir)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="reference-"))
    out.mkdir(parents=True, exist_ok=True)
    timer = Timer()

    lines = load_clean(RAW)
    as_of = lines["date"].max()
    orders = (
        lines.groupby(["customer_id", "Invoice"], sort=False)
        .agg(date=("date", "first"), revenue=("revenue", "sum"))
        .reset_index()
    )
    timer.lap("load_and_clean")

    # --- BG/NBD + Gamma-Gamma on everything up to the as-of date
    rfm = summary_data_from_transaction_data(
        orders, "customer_id", "date", monetary_value_col="revenue",
        observation_period_end=as_of, freq="D",
    )  # fmt: skip
    bgf = BetaGeoFitter(penalizer_coef=0.001)
    bgf.fit(rfm["frequency"], rfm["recency"], rfm["T"])
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    ggf = GammaGammaFitter()  # a penalizer drives q below 1 here (negative spend)
    ggf.fit(repeat["frequency"], repeat["monetary_value"])
    p_alive = bgf.conditional_probability_alive(rfm["frequency"], rfm["recency"], rfm["T"])
    clv = ggf.customer_lifetime_value(
        bgf, rfm["frequency"], rfm["recency"], rfm["T"], rfm["monetary_value"],
        time=12, freq="D", discount_rate=0.01,
    )  # fmt: skip
    timer.lap("btyd")

    # --- LightGBM churn: one origin (as-of - 90 days), applied as of the as-of date
    origin = as_of - pd.Timedelta(days=HORIZON)
    train = features(orders, origin)
    future = orders[(orders["date"] > origin) & (orders["date"] <= as_of)]
    y = (~train.index.isin(future["customer_id"].unique())).astype(int)
    columns = list(train.columns)
    # one thread: on 5k rows OpenMP threads only wait for each other (10x slower when the
    # machine is busy); the project's LightGBM runs on one thread too
    model = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, n_jobs=1, verbose=-1)
    model.fit(train[columns], y)
    now = features(orders, as_of)
    churn = pd.Series(model.predict_proba(now[columns])[:, 1], index=now.index)
    timer.lap("churn_lightgbm")

    # --- implicit ALS on customer x product order counts, top-5 for every customer
    pairs = lines.drop_duplicates(["customer_id", "Invoice", "StockCode"])
    customers, rows = np.unique(pairs["customer_id"].to_numpy(), return_inverse=True)
    products, cols = np.unique(pairs["StockCode"].to_numpy(dtype=str), return_inverse=True)
    user_items = sp.csr_matrix(
        (np.ones(len(pairs), dtype=np.float32), (rows, cols)),
        shape=(len(customers), len(products)),
    )
    user_items.sum_duplicates()
    als = implicit.als.AlternatingLeastSquares(
        factors=64, iterations=15, random_state=0, use_gpu=False
    )
    als.fit(user_items, show_progress=False)
    ids, _ = als.recommend(np.arange(len(customers)), user_items, N=TOP_N)
    top = pd.Series(list(products[ids]), index=customers)
    timer.lap("recommender_als")

    # --- one table per customer
    scores = pd.DataFrame(
        {
            "p_alive": p_alive,
            "churn_probability": churn.reindex(rfm.index),
            "clv_12m": clv,
            "top_products": top.reindex(rfm.index).map(list),
        },
        index=rfm.index,
    )
    scores.index.name = "customer_id"
    path = out / "reference_scores.parquet"
    scores.reset_index().to_parquet(path, index=False)
    timer.lap("write")

    wall = time.perf_counter() - START
    print(f"customers: {len(scores)}, as of {as_of.date()}, churn rate at origin "
          f"{y.mean():.3f}; written {path}")  # fmt: skip
    print(f"wall time: {wall:.2f} s (imports {timer.seconds['imports']:.2f} s)", flush=True)


if __name__ == "__main__":
    main()
