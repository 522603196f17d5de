"""Out-of-time evaluation of the shipped scorer itself: the number reported is the number of
the model that ships, at the horizon it ships.

``evaluate_scorer(shop, cutoff, config)`` fits ``CustomerScorer(config)`` on the shop as it was
known the day before ``cutoff`` (``history_before``: order lines, events and returns strictly
before it), scores every customer with an order before the cutoff exactly as ``scoring run`` /
``scoring score`` would as of ``cutoff - 1 day``, and measures on what happened in
``[cutoff, cutoff + horizon_days)`` with ``horizon_days = config.churn_horizon_days``:

- churn: ``churn_probability`` (P(no order in the next ``horizon_days`` days)) against
  "no order in the window" (``churn_metrics``: ROC-AUC, Brier, ...);
- revenue: the scorer's expected revenue over the window (expected purchase days x expected
  order value, the BTYD x Gamma-Gamma parts behind ``predicted_clv_12m``) against the
  window's revenue (``revenue_metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..data.schema import ShopData, rows_before
from ..features.rfm import calibration_and_holdout
from ..timeframe import ScoringMoment
from .metrics import churn_metrics, revenue_metrics


@dataclass
class ScorerEvaluation:
    """Result of ``evaluate_scorer``.

    ``predictions``: one row per customer with an order before the cutoff: ``customer_id``,
    ``churn_probability``, ``predicted_revenue`` (currency over the window), ``churned``
    (0/1), ``revenue_holdout`` (currency). ``metrics``: ``cutoff``, ``horizon_days``,
    ``n_customers``, ``churn_rate``, ``churn`` (churn_metrics), ``revenue``
    (revenue_metrics), ``model_version``. ``scorer``: the fitted scorer.
    """

    predictions: pd.DataFrame
    metrics: dict
    scorer: object


def history_before(shop: ShopData, cutoff) -> ShopData:
    """The shop as known the day before ``cutoff``: transactions, events and quarantined
    lines (returns feed features) strictly before it; profiles as they are.

    ``cutoff``: the cutoff day (first day after the data; date-like or ``ScoringMoment``);
    the returned shop's ``as_of`` is the day before it."""
    moment = ScoringMoment.from_cutoff(cutoff)
    cutoff = moment.cutoff
    quarantine = shop.quarantine
    if "timestamp" in quarantine:
        quarantine = rows_before(quarantine, cutoff)
    events = None if shop.events is None else rows_before(shop.events, cutoff)
    return replace(shop, transactions=rows_before(shop.transactions, cutoff),
                   events=events, quarantine=quarantine,
                   as_of=moment.as_of)


def evaluate_scorer(shop: ShopData, cutoff, config,
                    recommendations_k: int | None = None) -> ScorerEvaluation:
    """Fit the scorer before ``cutoff`` and measure it on the next ``config.churn_horizon_days``
    days (module docstring). ``cutoff``: the cutoff day (the first day of the measured window;
    date-like or ``ScoringMoment``); ``config``: a ``ScoringConfig``. ``recommendations_k``:
    also measure the scorer's own recommender at k (``metrics["recommendations"]``: {protocol:
    ranking metrics}, ``recommend_eval.fitted_recommender_metrics``, its customer sample seeded
    by ``config.random_state``) when it has one."""
    from ..scorer import CustomerScorer

    moment = ScoringMoment.from_cutoff(cutoff)
    cutoff = moment.cutoff
    horizon = int(config.churn_horizon_days)
    history = history_before(shop, moment)
    scorer = CustomerScorer(config).fit(history, moment)
    # the recommendation lists are not measured here (recommendations_k below measures the
    # recommender on its holdout sample): at 1M customers this call took 163 s with them and
    # 74 s without (the profiles of benchmarks/bench_scale.py, 2026-11-30)
    scored = scorer.score_customers_in_chunks(history.transactions, moment, history.events,
                                              with_recommendations=False)
    actual = calibration_and_holdout(shop.transactions, moment, horizon)
    scored = scored.set_index("customer_id").reindex(actual.index.astype("string"))
    predictions = pd.DataFrame({
        "customer_id": actual.index.astype("string"),
        "churn_probability": scored["churn_probability"].to_numpy(dtype="float64"),
        "predicted_revenue": (scored["expected_orders_90d"]
                              * scored["expected_order_value"]).to_numpy(dtype="float64"),
        "churned": (actual["frequency_holdout"] == 0).astype("int64").to_numpy(),
        "revenue_holdout": actual["revenue_holdout"].to_numpy(dtype="float64"),
    })
    metrics = {
        "cutoff": str(cutoff.date()),
        "horizon_days": horizon,
        "n_customers": int(len(predictions)),
        "churn_rate": float(predictions["churned"].mean()),
        "churn": churn_metrics(predictions["churned"].to_numpy(),
                               predictions["churn_probability"].to_numpy()),
        "revenue": revenue_metrics(predictions["revenue_holdout"].to_numpy(),
                                   predictions["predicted_revenue"].to_numpy()),
        "model_version": scorer.version_,
        "churn_model": config.churn_model,
        "transaction_model": config.transaction_model,
    }
    if recommendations_k is not None and scorer.recommender_ is not None:
        from .recommend_eval import fitted_recommender_metrics

        metrics["recommendations"] = fitted_recommender_metrics(
            scorer.recommender_, shop.transactions, cutoff, horizon, k=recommendations_k,
            events=history.events, seed=config.random_state)
        metrics["recommendations_k"] = int(recommendations_k)
    return ScorerEvaluation(predictions=predictions, metrics=metrics, scorer=scorer)


def headline(metrics: dict) -> dict[str, float]:
    """The shipped scorer's headline metrics (parent run, champion rule, summary.json)."""
    churn, revenue = metrics["churn"], metrics["revenue"]
    out = {"churn_roc_auc": churn["roc_auc"], "churn_brier": churn["brier"],
           "revenue_gini": revenue["normalized_gini"],
           "revenue_total_ratio": revenue["total_ratio"],
           "revenue_decile_mape": revenue["decile_mape"]}
    return {k: float(v) if v is not None and np.isfinite(v) else float("nan")
            for k, v in out.items()}


def recommendation_headline(metrics: dict) -> dict[str, float]:
    """``ndcg_at_<k>_<protocol>`` and ``coverage_at_<k>_<protocol>`` of the scorer's own
    recommendations (``evaluate_scorer(..., recommendations_k=k)``; {} when not measured)."""
    k = metrics.get("recommendations_k")
    return {f"{name}_at_{k}_{protocol}": float(values[name])
            for protocol, values in metrics.get("recommendations", {}).items()
            for name in ("ndcg", "coverage")}


def log_scorer_run(evaluation: ScorerEvaluation, tracker=None) -> str:
    """One nested child run ``scorer`` under the active parent run of ``tracker`` (a
    ``scoring.tracking.Tracker``, default MLflow; ``NullTracker()`` logs nothing): the
    shipped scorer's window, parts and holdout metrics (``churn_*``, ``revenue_*``); no
    customer data. Returns its run id."""
    from ..tracking import current_tracker

    tracker = current_tracker(tracker)
    metrics = evaluation.metrics
    with tracker.start_run("scorer", nested=True) as run:
        tracker.log_params({"model": "scorer", "cutoff": metrics["cutoff"],
                            "horizon_days": metrics["horizon_days"],
                            "n_customers": metrics["n_customers"],
                            "churn_model": metrics["churn_model"],
                            "transaction_model": metrics["transaction_model"],
                            "model_version": metrics["model_version"], "shipped": True})
        values = {f"{prefix}_{name}": float(value)
                  for prefix in ("churn", "revenue")
                  for name, value in metrics[prefix].items()
                  if value is not None and np.isfinite(value)}
        values.update(recommendation_headline(metrics))
        tracker.log_metrics(values)
        return run.info.run_id
