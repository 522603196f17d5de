"""Throughput of batch top-10 recommendations for every customer of a large shop.

Builds the interaction matrix of a large synthetic shop (``scoring.data.synthetic``; 1M
customers by default) or, with ``--source random``, a random skewed customer x product
matrix, fits buy-again, BM25 item-kNN and ALS, and times ``recommend(all customers, n=10)``.
Prints and writes benchmarks/results/recommend.json (synthetic) or recommend_random.json
(customers per second per model, fit seconds, peak memory, load average of the machine).

    .venv/bin/python benchmarks/bench_recommend.py                   # synthetic, 1M customers
    .venv/bin/python benchmarks/bench_recommend.py --source random   # 1M x 5k, ~25M cells
    .venv/bin/python benchmarks/bench_recommend.py --customers 100000 --als-iterations 15
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scoring.models.recommend import (
    ALSRecommender,
    BuyAgainRecommender,
    InteractionMatrix,
    ItemKNNRecommender,
    build_interaction_matrix,
)
from scoring.outputs import dumps

RESULTS = Path(__file__).parent / "results" / "recommend.json"


def random_matrix(
    n_customers: int, n_products: int, n_cells: int, seed: int = 0
) -> InteractionMatrix:
    """Random matrix with Zipf-like product popularity and skewed customer activity."""
    rng = np.random.default_rng(seed)
    product_p = 1.0 / np.arange(1, n_products + 1) ** 0.8
    product_p /= product_p.sum()
    activity = rng.gamma(0.8, 1.0, n_customers)
    activity /= activity.sum()
    rows = rng.choice(n_customers, size=n_cells, p=activity).astype(np.int32)
    cols = rng.choice(n_products, size=n_cells, p=product_p).astype(np.int32)
    counts = sp.csr_matrix(
        (np.ones(n_cells, dtype=np.float32), (rows, cols)), shape=(n_customers, n_products)
    )
    counts.sum_duplicates()
    days = counts.copy()
    days.data = rng.integers(1, 365, size=counts.nnz).astype(np.float32)
    last_sale = np.full(n_products, np.inf)
    np.minimum.at(last_sale, days.indices, days.data)
    width = len(str(n_customers))
    return InteractionMatrix(
        user_items=counts,
        order_counts=counts,
        days_since_last_purchase=days,
        customer_ids=np.char.zfill(np.arange(n_customers).astype(str), width),
        product_ids=np.char.zfill(np.arange(n_products).astype(str), 5),
        product_names=np.array([f"product {i}" for i in range(n_products)]),
        product_days_since_last_sale=last_sale,
        active_products=last_sale <= 90,
        cutoff=pd.Timestamp("2024-01-01"),
        settings={"weighting": "orders", "source": "random"},
    )


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=("synthetic", "random"), default="synthetic")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=5000, help="random source only")
    parser.add_argument("--cells", type=int, default=25_000_000, help="random source only")
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200_000, help="customers per recommend call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--als-iterations",
        type=int,
        default=5,
        help="ALS sweeps (fit time only; recommend throughput does not depend on it)",
    )
    args = parser.parse_args()

    out: dict = {
        "source": args.source,
        "num_threads": args.num_threads,
        "als_iterations": args.als_iterations,
        "customers_requested": args.customers,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
    }
    t0 = time.perf_counter()
    if args.source == "synthetic":
        from scoring.data.synthetic import generate_shop

        shop = generate_shop(args.customers, seed=args.seed)
        out["generate_seconds"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        matrix = build_interaction_matrix(shop.transactions, shop.cutoff)
        out["purchase_lines"] = int(len(shop.transactions))
        del shop
    else:
        matrix = random_matrix(args.customers, args.products, args.cells, args.seed)
    out["matrix_seconds"] = round(time.perf_counter() - t0, 1)
    out["matrix_shape"] = list(matrix.shape)
    out["matrix_nnz"] = int(matrix.user_items.nnz)
    out["active_products"] = int(matrix.active_products.sum())
    print(f"matrix {matrix.shape}, nnz {matrix.user_items.nnz:,}, {out['matrix_seconds']}s")

    models = {
        "buy_again": BuyAgainRecommender(half_life_days=180.0),
        "item_knn_bm25": ItemKNNRecommender(weighting="bm25", K=100, num_threads=args.num_threads),
        "als": ALSRecommender(
            factors=64,
            iterations=args.als_iterations,
            num_threads=args.num_threads,
            random_state=args.seed,
        ),
    }
    customers = matrix.customer_ids
    out["models"] = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(matrix)
        fit_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        n_rows = 0
        for start in range(0, len(customers), args.batch):
            recs = model.recommend(customers[start : start + args.batch], n=10)
            n_rows += len(recs)
        seconds = time.perf_counter() - t0
        assert n_rows == 10 * len(customers), (name, n_rows)
        out["models"][name] = {
            "fit_seconds": round(fit_seconds, 1),
            "recommend_seconds": round(seconds, 1),
            "customers_per_second": round(len(customers) / seconds),
            "recommendations": n_rows,
        }
        print(
            f"{name:14s} fit {fit_seconds:6.1f}s  recommend top-10 for {len(customers):,} "
            f"customers {seconds:6.1f}s = {len(customers) / seconds:,.0f} customers/s",
            flush=True,
        )
    out["peak_rss_gb"] = round(peak_rss_gb(), 2)
    out["load_average_at_end"] = list(os.getloadavg())
    results = RESULTS if args.source == "synthetic" else RESULTS.with_name("recommend_random.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
