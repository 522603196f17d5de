"""Churn / revenue evaluation on the real datasets: metrics of every model and wall time.

Usage: python benchmarks/eval_churn_revenue.py [--datasets online-retail-ii cdnow-sample cdnow]

Runs ``evaluate_churn_revenue`` on each dataset's default split (Online Retail II: cutoff
2011-06-09, 182 days; CDNOW: 1997-10-01, 273 days), prints a table of the churn and revenue
metrics, the shipped models and the targets, and writes
benchmarks/results/churn_revenue_<dataset>.json. Nothing is tuned here: the shipped models are
chosen by the evaluation itself on the latest rolling origin before the cutoff.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from scoring.data import load_dataset
from scoring.evaluation.churn_revenue import evaluate_churn_revenue
from scoring.outputs import dumps

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {
    "online-retail-ii": {
        "churn_roc_auc_min": 0.83,
        "churn_brier_max": 0.17,
        "revenue_gini_min": 0.875,
        "revenue_total_ratio_range": [0.9, 1.1],
        "revenue_decile_mape_max": 0.15,
    },
}
REFERENCES = {
    "online-retail-ii": {
        "churn_roc_auc": {
            "recency": 0.766,
            "rfm_score": 0.798,
            "bgnbd": 0.808,
            "paretonbd": 0.808,
            "lgbm_previous_182d": 0.777,
        },
        "churn_brier_best": 0.178,
        "revenue_gini": {
            "spend_rate": 0.851,
            "bgnbd_gg": 0.860,
            "paretonbd_gg": 0.861,
            "lgbm_tweedie": 0.847,
        },
        "revenue_decile_mape_best": 0.17,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["online-retail-ii", "cdnow-sample"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name in args.datasets:
        shop = load_dataset(name)
        start = time.perf_counter()
        evaluation = evaluate_churn_revenue(shop, seed=args.seed, config={"plots": False})
        seconds = time.perf_counter() - start
        metrics = evaluation.metrics
        shipped = metrics["shipped"]
        print(
            f"\n{name}: cutoff {metrics['cutoff']}, {metrics['holdout_days']} days, "
            f"{metrics['n_customers']} customers, churn rate {metrics['churn_rate']:.3f}, "
            f"{seconds:.1f} s"
        )
        print(f"{'churn model':24s} {'roc_auc':>8s} {'pr_auc':>8s} {'brier':>8s} {'ece':>8s}")
        for model, values in metrics["churn"].items():
            mark = " <- shipped" if model == shipped["churn"] else ""
            print(
                f"{model:24s} {values['roc_auc']:8.4f} {values['pr_auc']:8.4f} "
                f"{values['brier']:8.4f} {values['ece']:8.4f}{mark}"
            )
        print(f"{'revenue model':24s} {'gini':>8s} {'spearman':>8s} {'total':>8s} {'dec_mape':>8s}")
        for model, values in metrics["revenue"].items():
            mark = " <- shipped" if model == shipped["revenue"] else ""
            print(
                f"{model:24s} {values['normalized_gini']:8.4f} {values['spearman']:8.4f} "
                f"{values['total_ratio']:8.3f} {values['decile_mape']:8.3f}{mark}"
            )
        print("validation origin:", json.dumps(metrics.get("validation", {}), default=str))
        out = {
            "dataset": name,
            "seconds": round(seconds, 2),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "targets": TARGETS.get(name),
            "references": REFERENCES.get(name),
            "metrics": metrics,
        }
        path = RESULTS / f"churn_revenue_{name}.json"
        path.write_text(dumps(out, indent=2))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
