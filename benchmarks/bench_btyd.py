"""BG/NBD fit: BetaGeoModel (weighted unique rows, analytic gradient) vs lifetimes, and the
BTYD models' holdout quality on Online Retail II.

Usage: python benchmarks/bench_btyd.py [--customers 1000000] [--lifetimes-customers N]
                                       [--skip-orii]

Simulates BG/NBD customers with known per-day parameters (``simulate_bgnbd``, whole days,
ages 1-730 days), fits ``BetaGeoModel`` and lifetimes' plain ``BetaGeoFitter.fit`` (every
row, no weights) on the same RFM rows, checks the parameters agree to 1e-4 relative and
writes benchmarks/results/btyd.json. ``--lifetimes-customers`` fits lifetimes on the first N
customers only (ours is then also timed and compared on those N).

Online Retail II (cutoff 2011-06-09, 182 holdout days): fit time of each model, ROC-AUC of
``churn_probability`` against "no order in the holdout", and the normalized Gini of expected
revenue (``expected_orders * expected_order_value``, Gamma-Gamma) against holdout revenue.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import lifetimes
import numpy as np
from sklearn.metrics import roc_auc_score

from scoring.models.btyd import (
    BetaGeoModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    btyd_feature_frame,
    simulate_bgnbd,
)
from scoring.models.gamma_gamma import GammaGammaModel
from scoring.outputs import dumps

TRUE_PARAMS = {"r": 0.68, "alpha": 66.0, "a": 0.15, "b": 3.3}  # Online Retail II-like, per day


def relative_differences(ours: dict, theirs: dict) -> dict:
    return {k: abs(ours[k] / float(theirs[k]) - 1.0) for k in ours}


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``predicted`` divided by the Gini of the perfect order."""

    def gini(order_by: np.ndarray) -> float:
        order = np.argsort(-order_by, kind="stable")
        cumulative = np.cumsum(actual[order]) / actual.sum()
        n = len(actual)
        return cumulative.sum() / n - (n + 1) / (2 * n)

    return gini(predicted) / gini(actual)


def online_retail_quality() -> dict:
    from scoring.data import load_dataset
    from scoring.features.rfm import calibration_and_holdout

    shop = load_dataset("online-retail-ii")
    rfm = calibration_and_holdout(shop.transactions, "2011-06-09", 182)
    no_order = (rfm["frequency_holdout"] == 0).to_numpy()
    revenue = rfm["revenue_holdout"].to_numpy()
    spend = GammaGammaModel().fit(rfm)
    out = {"customers": len(rfm), "gamma_gamma_params": spend.params_}
    for model_cls in (BetaGeoModel, ParetoNBDModel, ModifiedBetaGeoModel):
        t0 = time.perf_counter()
        model = model_cls().fit(rfm)
        seconds = time.perf_counter() - t0
        features = btyd_feature_frame(rfm, 182, model, spend)
        out[model_cls.__name__] = {
            "fit_seconds": round(seconds, 3),
            "params": model.params_,
            "ladder_step": model.fit_info_["ladder_step"],
            "penalizer_coef": model.fit_info_["penalizer_coef"],
            "all_finite": bool(np.isfinite(features.to_numpy()).all()),
            "roc_auc_churn": round(
                float(roc_auc_score(no_order, features["churn_probability_182d"])), 4
            ),
            "roc_auc_one_minus_p_alive": round(
                float(roc_auc_score(no_order, 1 - features["p_alive"])), 4
            ),
            "normalized_gini_revenue": round(
                normalized_gini(revenue, features["predicted_revenue_182d"].to_numpy()), 4
            ),
        }
        print(model_cls.__name__, out[model_cls.__name__])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lifetimes-customers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-orii", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    ages = rng.integers(1, 731, args.customers).astype(float)
    rfm = simulate_bgnbd(TRUE_PARAMS, ages, seed=args.seed, integer_days=True)
    rfm = rfm[["frequency", "recency", "T"]]

    t0 = time.perf_counter()
    ours = BetaGeoModel().fit(rfm)
    t_ours = time.perf_counter() - t0
    print(
        f"BetaGeoModel on {len(rfm):,} customers ({ours.fit_info_['n_unique_rows']:,} unique "
        f"rows): {t_ours:.2f}s {ours.params_}"
    )

    n_lt = args.lifetimes_customers or len(rfm)
    sub = rfm.iloc[:n_lt]
    t0 = time.perf_counter()
    theirs = lifetimes.BetaGeoFitter().fit(sub["frequency"], sub["recency"], sub["T"])
    t_lifetimes = time.perf_counter() - t0
    print(
        f"lifetimes BetaGeoFitter.fit on {n_lt:,} customers: {t_lifetimes:.2f}s "
        f"{dict(theirs.params_)}"
    )
    if n_lt == len(rfm):
        ours_same, t_ours_same = ours, t_ours
    else:
        t0 = time.perf_counter()
        ours_same = BetaGeoModel().fit(sub)
        t_ours_same = time.perf_counter() - t0
    rel = relative_differences(ours_same.params_, theirs.params_)
    max_rel = max(rel.values())
    print(f"max relative parameter difference: {max_rel:.2e}")
    if max_rel > 1e-4:
        raise SystemExit(f"parameters differ by more than 1e-4 relative: {rel}")

    result = {
        "customers": len(rfm),
        "unique_rows": ours.fit_info_["n_unique_rows"],
        "true_params": TRUE_PARAMS,
        "ours_params": ours.params_,
        "ours_seconds": round(t_ours, 3),
        "lifetimes_customers": n_lt,
        "lifetimes_params": {k: float(v) for k, v in theirs.params_.items()},
        "lifetimes_seconds": round(t_lifetimes, 3),
        "ours_seconds_same_rows": round(t_ours_same, 3),
        "speedup": round(t_lifetimes / t_ours_same, 1),
        "max_relative_param_difference": max_rel,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "lifetimes": lifetimes.__version__,
            "numpy": np.__version__,
        },
    }
    if not args.skip_orii:
        result["online_retail_ii"] = online_retail_quality()
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "btyd.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
