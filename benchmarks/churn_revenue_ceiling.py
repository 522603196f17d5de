"""DIAGNOSTIC, uses the holdout labels: how high can churn / revenue metrics go at all?

Usage: python benchmarks/churn_revenue_ceiling.py [--dataset online-retail-ii]

Nothing here is a model or a tuning step: it bounds what any out-of-time training scheme can
reach with the project's features on the default split (Online Retail II: cutoff 2011-06-09,
182 days) and writes benchmarks/results/churn_revenue_ceiling_<dataset>.json.

* ``in_sample_cv``: LightGBM fitted on the holdout labels themselves (5-fold CV over the
  cutoff's customers, boosted from BG/NBD / BG/NBD x Gamma-Gamma like the hybrid) on the
  features at the cutoff (behavioural + BTYD). An out-of-time model cannot be expected to
  beat this by much.
* ``shipped``: the shipped ``lgbm_hybrid_anchored`` churn model (out of time, as in the
  evaluation), its Brier after isotonic recalibration fitted on the holdout itself (the
  lowest Brier its ranking allows), and ROC-AUC per purchase-frequency segment.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from scoring.data import load_dataset
from scoring.evaluation.churn_revenue import _btyd_at_cutoff, _default_split
from scoring.evaluation.metrics import brier, normalized_gini, roc_auc
from scoring.features.rfm import calibration_and_holdout
from scoring.models.lgbm import (
    DEFAULT_CHURN_PARAMS,
    LGBMChurnModel,
    _logit,
    build_rolling_origin_panel,
)
from scoring.outputs import dumps

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 0


def _cv_raw(estimator_factory, x, y, strata, margin) -> np.ndarray:
    """Out-of-fold raw scores (margin added), folds stratified on ``strata``."""
    oof = np.zeros(len(y))
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED).split(x, strata)
    for train, held in folds:
        model = estimator_factory().fit(x.iloc[train], y[train], init_score=margin[train])
        oof[held] = model.predict(x.iloc[held], raw_score=True) + margin[held]
    return oof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="online-retail-ii")
    args = parser.parse_args()
    shop = load_dataset(args.dataset)
    cutoff, horizon = _default_split(shop, None, None)
    calibration = calibration_and_holdout(shop.transactions, cutoff, horizon)
    churned = (calibration["frequency_holdout"] == 0).astype("int64").to_numpy()
    revenue = calibration["revenue_holdout"].to_numpy(dtype="float64")
    btyd = _btyd_at_cutoff(calibration, horizon, with_pareto=False)
    returns = shop.returns if not shop.quarantine.empty else None
    panel = build_rolling_origin_panel(
        shop.transactions, cutoff, horizon, returns=returns, events=shop.events, btyd=True
    )
    features = panel.at_cutoff().reindex(calibration.index)

    params = {**DEFAULT_CHURN_PARAMS, "n_jobs": 1, "verbose": -1, "random_state": SEED}
    churn_margin = _logit(btyd["churn"]["bgnbd"])
    revenue_margin = np.log(np.clip(btyd["revenue"]["bgnbd_gg"], 1e-2, None))
    ceiling = {"churn_roc_auc": {}, "revenue_normalized_gini": {}}
    for n_estimators in (50, 100, 300):
        raw = _cv_raw(
            lambda n=n_estimators: lgb.LGBMClassifier(n_estimators=n, **params),
            features,
            churned,
            churned,
            churn_margin,
        )
        ceiling["churn_roc_auc"][f"n_estimators_{n_estimators}"] = roc_auc(churned, raw)
        raw = _cv_raw(
            lambda n=n_estimators: lgb.LGBMRegressor(
                objective="tweedie", tweedie_variance_power=1.3, n_estimators=n, **params
            ),
            features,
            revenue,
            churned,
            revenue_margin,
        )
        ceiling["revenue_normalized_gini"][f"n_estimators_{n_estimators}"] = normalized_gini(
            revenue, raw
        )

    model = LGBMChurnModel(
        horizon_days=horizon, calibration="btyd_level", use_btyd=True, random_state=SEED
    ).fit(panel=panel)
    churn_probability = model.predict_proba(features, reference=btyd["churn"]["bgnbd"]).to_numpy()
    recalibrated = IsotonicRegression(out_of_bounds="clip").fit(churn_probability, churned)
    frequency = calibration["frequency"].to_numpy()
    segments = {
        "one_time": frequency == 0,
        "repeat_1_to_3": (frequency >= 1) & (frequency <= 3),
        "repeat_4_plus": frequency >= 4,
    }
    shipped = {
        "churn_roc_auc": roc_auc(churned, churn_probability),
        "churn_brier": brier(churned, churn_probability),
        "churn_brier_after_isotonic_on_holdout": brier(
            churned, recalibrated.predict(churn_probability)
        ),
        "churn_brier_constant_rate": brier(churned, np.full(len(churned), churned.mean())),
        "churn_roc_auc_by_segment": {
            name: {
                "n_customers": int(mask.sum()),
                "churn_rate": float(churned[mask].mean()),
                "roc_auc": roc_auc(churned[mask], churn_probability[mask]),
            }
            for name, mask in segments.items()
        },
    }
    out = {
        "dataset": args.dataset,
        "cutoff": str(cutoff.date()),
        "holdout_days": horizon,
        "n_customers": int(len(churned)),
        "note": "diagnostic: fitted on the holdout labels; bounds, not shippable results",
        "in_sample_cv": ceiling,
        "shipped": shipped,
    }
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"churn_revenue_ceiling_{args.dataset}.json"
    path.write_text(dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
