"""Recommender evaluation on Online Retail II (cutoff 2011-06-09, 182 holdout days, NDCG@10).

Tunes every model on the validation window before the cutoff, refits, and prints the holdout
metrics of both protocols (repurchase, new_items) with the shipped model per protocol.
Writes benchmarks/results/recommend_eval.json (metrics, choices, timings) and
benchmarks/results/recommend_validation_grid.csv (every setting's validation metrics).

    .venv/bin/python benchmarks/eval_recommend.py [--num-threads 2]
    .venv/bin/python benchmarks/eval_recommend.py --reference   # untuned reference settings
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import time
from pathlib import Path

import pandas as pd

from scoring.data import load_dataset
from scoring.evaluation.recommend_eval import evaluate_recommenders
from scoring.outputs import dumps

RESULTS = Path(__file__).parent / "results" / "recommend_eval.json"
GRID = Path(__file__).parent / "results" / "recommend_validation_grid.csv"
REFERENCE = {
    "models": ["popularity", "als", "bpr", "item_knn_cosine", "item_knn_bm25"],
    "grids": {
        "popularity": [{"model": "popularity", "params": {"window_days": 90}}],
        "als": [{"model": "als", "params": {"factors": 64, "alpha": 1.0, "regularization": 0.01}}],
        "bpr": [{"model": "bpr", "params": {"factors": 64}}],
        "item_knn_cosine": [{"model": "item_knn", "params": {"weighting": "cosine", "K": 100}}],
        "item_knn_bm25": [{"model": "item_knn", "params": {"weighting": "bm25", "K": 100}}],
    },
    "validation_folds": 1,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="online-retail-ii")
    parser.add_argument("--cutoff", default="2011-06-09")
    parser.add_argument("--holdout-days", type=int, default=182)
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reference",
        action="store_true",
        help="fixed reference settings (no tuning, no hybrid): 90-day popularity, ALS 64 "
        "factors alpha 1, BPR, item-kNN cosine / BM25 K=100, order-count weights",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    shop = load_dataset(args.dataset)
    start = time.perf_counter()
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    ev = evaluate_recommenders(
        shop.transactions,
        cutoff=args.cutoff,
        holdout_days=args.holdout_days,
        events=shop.events,
        k=10,
        config={"num_threads": args.num_threads, **(REFERENCE if args.reference else {})},
        seed=args.seed,
    )
    seconds = time.perf_counter() - start
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    table = ev.summary()
    pd.set_option("display.width", 200)
    print(
        f"matrix {ev.matrix_shape}, validation cutoffs {ev.validation_cutoffs}, "
        f"{seconds:.0f}s wall, {cpu_seconds:.0f}s CPU, load average {os.getloadavg()[0]:.1f}"
    )
    print(table.round(4).to_string(index=False))
    for protocol, model in ev.shipped.items():
        print(f"shipped[{protocol}] = {model}: {json.dumps(ev.chosen_params[model][protocol])}")
    out = {
        "dataset": args.dataset,
        "cutoff": ev.cutoff,
        "holdout_days": ev.holdout_days,
        "validation_cutoffs": ev.validation_cutoffs,
        "validation_metrics": ev.validation_metrics,
        "k": ev.k,
        "matrix_shape": list(ev.matrix_shape),
        "metrics": ev.metrics,
        "shipped": ev.shipped,
        "chosen_params": ev.chosen_params,
        "timings_seconds": ev.timings,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "num_threads": args.num_threads,
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
    }
    results, grid = RESULTS, GRID
    if args.reference:
        results = RESULTS.with_name("recommend_eval_reference.json")
        grid = GRID.with_name("recommend_validation_grid_reference.csv")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(dumps(out, indent=2))
    pd.DataFrame(ev.validation).to_csv(grid, index=False)
    print(f"wrote {results} and {grid}")


if __name__ == "__main__":
    main()
