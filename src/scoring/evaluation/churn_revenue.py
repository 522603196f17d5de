"""Out-of-time evaluation of every churn and revenue model on one split.

``evaluate_churn_revenue(shop, cutoff, holdout_days)`` fits every model on data strictly
before ``cutoff`` and measures it on the holdout ``[cutoff, cutoff + holdout_days)`` for every
customer with at least one order before the cutoff.

Models (``churn__<name>`` = P(no order in the holdout), ``revenue__<name>`` = gross revenue in
the holdout, currency):

| name | churn | revenue |
| --- | --- | --- |
| ``recency`` | days since last order, logistic-calibrated on the latest rolling origin | - |
| ``rfm_score`` | summed RFM quintile score, logistic-calibrated on the latest origin | - |
| ``spend_rate`` | exp(-historical purchase-day rate x H) | revenue per tenure day x H |
| ``bgnbd`` / ``paretonbd`` | BTYD P(no purchase in H) | - |
| ``bgnbd_gg`` / ``paretonbd_gg`` | - | expected purchase days x Gamma-Gamma order value |
| ``lgbm`` | LightGBM on behavioural features, isotonic on the latest origin | tweedie, total scaled on the latest origin |
| ``lgbm_hybrid`` | + BTYD features, boosted from BG/NBD, isotonic on the latest origin | + BTYD features, boosted from BG/NBD x GG, scaled on the latest origin |
| ``lgbm_hybrid_anchored`` | the hybrid's ranking, level = BG/NBD's mean at the cutoff | the hybrid's ranking, total = BG/NBD x GG total x actual / BTYD ratio on the same-season origin a year earlier (else the latest origin) |

**Shipped models (chosen before the cutoff, never on the holdout).** On the *validation
origin* (the latest rolling origin, whose label window ends the day before the cutoff) every
candidate the scorer can ship is ranked: ``lgbm_hybrid_anchored`` / ``bgnbd`` by ROC-AUC for
churn (the baselines are measured beside them, not shipped), ``lgbm_hybrid_anchored`` / ``bgnbd_gg`` by normalized Gini for revenue
(LightGBM with its out-of-fold predictions, BTYD fitted as of that origin, baselines from the
origin's features); the best ships (ties go to ``lgbm_hybrid_anchored``). ``spend_rate`` is
not a revenue candidate: its total is not a forecast (it counts the first order in the rate).
Why ``lgbm_hybrid_anchored`` is the LightGBM candidate: the rolling origins cover other
seasons and younger customer bases, so LightGBM's absolute level does not transfer to the
cutoff, while its ranking does; BG/NBD (x Gamma-Gamma) fitted on all data up to the cutoff
gives the level, and for revenue the actual / BTYD ratio of the origin one year before the
cutoff (same part of the year; the latest origin when the history is shorter) corrects
BTYD's stationarity. Without any rolling origin (too little history) the shipped models are
``bgnbd`` / ``bgnbd_gg``.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.config import EvaluationConfig
from scoring.data.errors import DataError
from scoring.data.schema import ShopData
from scoring.evaluation import plots
from scoring.evaluation.metrics import churn_metrics, revenue_metrics
from scoring.features.rfm import calibration_and_holdout
from scoring.models.baselines import RecencyBaseline, RFMScoreBaseline, SpendRateBaseline
from scoring.models.lgbm import (
    LGBMChurnModel,
    LGBMRevenueModel,
    build_rolling_origin_panel,
    spend_fit_rows,
)
from scoring.selection import ModelSelection

SHIPPED_MODEL = "lgbm_hybrid_anchored"
CHURN_CANDIDATES: tuple[str, ...] = (SHIPPED_MODEL, "bgnbd")
REVENUE_CANDIDATES: tuple[str, ...] = (SHIPPED_MODEL, "bgnbd_gg")
"""Models the shipped one is chosen from on the validation origin (``SHIPPED_MODEL`` first:
it wins ties): only models the scorer can ship (``SCORER_CHURN_MODELS``); the baselines
(recency, RFM score, spend rate) are measured beside them."""
FALLBACK_CHURN = "bgnbd"
FALLBACK_REVENUE = "bgnbd_gg"
SCORER_CHURN_MODELS: dict[str, str] = {SHIPPED_MODEL: "lgbm_hybrid", "bgnbd": "btyd"}
"""Churn candidate -> the ``ScoringConfig.churn_model`` that ships it."""

DEFAULT_CONFIG: dict = EvaluationConfig().churn_revenue()
"""Settings of ``evaluate_churn_revenue`` (``config`` overrides these keys): paretonbd,
n_folds, step_days, max_origins, min_history_days, min_origins, n_jobs, plots, churn_params,
revenue_params, with the defaults of those fields of ``scoring.config.EvaluationConfig`` (the
``evaluation:`` section of the ``--config`` YAML)."""


@dataclass
class ChurnRevenueEvaluation:
    """Result of ``evaluate_churn_revenue``.

    ``predictions``: one row per customer with an order before the cutoff; ``customer_id``,
    ``churn__<model>``, ``revenue__<model>``, actuals ``churned`` (0/1) and
    ``revenue_holdout`` (currency), and the shipped models' ``churn_probability`` and
    ``predicted_revenue``. ``metrics``: JSON-ready dict (see ``evaluate_churn_revenue``).
    ``figures``: name -> matplotlib Figure. ``models``: name -> fitted model.
    """

    predictions: pd.DataFrame
    metrics: dict
    figures: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    selection: ModelSelection = field(default_factory=ModelSelection)
    """The scorer's churn and transaction models chosen on the validation origin."""


def _default_split(shop: ShopData, cutoff, holdout_days) -> tuple[pd.Timestamp, int]:
    from scoring.data.loaders import DATASETS

    defaults = DATASETS.get(shop.name)
    if cutoff is None:
        if defaults is None:
            raise DataError(
                f"evaluate_churn_revenue: shop {shop.name!r} has no default cutoff; pass "
                "cutoff= (e.g. '2011-06-09') and holdout_days=."
            )
        cutoff = defaults.cutoff
    if holdout_days is None:
        holdout_days = defaults.holdout_days if defaults is not None else 182
    return pd.Timestamp(cutoff).normalize(), int(holdout_days)


def _btyd_at_cutoff(calibration: pd.DataFrame, horizon: int, with_pareto: bool) -> dict:
    """BTYD models fitted as of the cutoff with their predictions."""
    from scoring.models.btyd import BetaGeoModel, ParetoNBDModel
    from scoring.models.gamma_gamma import GammaGammaModel

    fitted = {"bgnbd": BetaGeoModel().fit(calibration)}
    if with_pareto:
        fitted["paretonbd"] = ParetoNBDModel().fit(calibration)
    spend = GammaGammaModel().fit(spend_fit_rows(calibration))
    order_value = spend.expected_order_value(calibration)
    out = {"models": {**fitted, "gammagamma": spend}, "churn": {}, "revenue": {}, "orders": {}}
    for name, model in fitted.items():
        expected = model.expected_orders(calibration, horizon)
        out["orders"][name] = expected
        out["churn"][name] = model.prob_no_order(calibration, horizon)
        out["revenue"][f"{name}_gg"] = expected * order_value
    out["order_value"] = order_value
    return out


def _params(model) -> dict:
    return {k: float(v) for k, v in getattr(model, "params_", {}).items()}


@dataclass
class _Candidates:
    """Per-customer scores and fitted models of a group of models, in insertion order.

    ``churn``: name -> P(no order in the holdout), float64 array, shape (n_customers,).
    ``revenue``: name -> predicted holdout revenue (currency), float64 array, shape
    (n_customers,). ``models``: name -> fitted model. The insertion order is the column order
    of ``predictions`` and the key order of ``metrics``.
    """

    churn: dict = field(default_factory=dict)
    revenue: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)

    def add(self, other: _Candidates) -> None:
        """Append ``other``'s scores and models (new names go last, in ``other``'s order)."""
        self.churn.update(other.churn)
        self.revenue.update(other.revenue)
        self.models.update(other.models)


def _settings(config: dict | None) -> dict:
    """``DEFAULT_CONFIG`` overridden by ``config``; raises ``DataError`` on an unknown key."""
    settings = {**DEFAULT_CONFIG, **(config or {})}
    unknown = set(config or {}) - set(DEFAULT_CONFIG)
    if unknown:
        raise DataError(
            f"evaluate_churn_revenue: unknown config key(s) {sorted(unknown)}; known keys are "
            f"{sorted(DEFAULT_CONFIG)}."
        )
    return settings


def _calibration_at_cutoff(transactions: pd.DataFrame, cutoff: pd.Timestamp, horizon: int):
    """Calibration/holdout summary (one row per customer with an order before ``cutoff``).

    ``horizon`` is the holdout length in days. Returns ``calibration_and_holdout``'s frame
    indexed by customer; raises ``DataError`` when no customer ordered before the cutoff.
    """
    calibration = calibration_and_holdout(transactions, cutoff, horizon)
    if calibration.empty:
        raise DataError(
            f"evaluate_churn_revenue: no customer has an order before the cutoff {cutoff.date()};"
            " choose a later cutoff."
        )
    return calibration


def _btyd_candidates(btyd: dict) -> _Candidates:
    """The BTYD models at the cutoff (``_btyd_at_cutoff`` output) as candidates.

    Churn: ``bgnbd`` (``paretonbd``); revenue: ``bgnbd_gg`` (``paretonbd_gg``), currency;
    models: ``bgnbd`` (``paretonbd``), ``gammagamma``. Arrays have shape (n_customers,).
    """
    return _Candidates(
        churn=dict(btyd["churn"]), revenue=dict(btyd["revenue"]), models=dict(btyd["models"])
    )


def _rolling_origin_panel(shop: ShopData, cutoff: pd.Timestamp, horizon: int, returns, settings,
                          seed: int = 0):
    """The rolling-origin training panel before ``cutoff`` (with BTYD features), or None.

    ``horizon``: holdout days; ``returns``: the shop's returns or None; ``settings``:
    ``_settings`` output (step_days, max_origins, min_history_days, min_origins,
    max_training_customers). Above ``max_training_customers`` customers the training origins
    hold a sample drawn with ``seed`` (``hybrid_churn.stable_sample``, as the scorer trains),
    the cutoff rows every customer. Returns ``(panel or None, notes)``; ``notes`` says why
    there is no panel (too little history) or that the training panel is a sample.
    """
    from scoring.models.churn.panel import build_sampled_panel
    from scoring.models.hybrid_churn import stable_sample

    common = dict(returns=returns, events=shop.events, customers=shop.customers, btyd=True,
                  step_days=settings["step_days"], max_origins=settings["max_origins"],
                  min_history_days=settings["min_history_days"],
                  min_origins=settings["min_origins"])
    tx = shop.transactions
    sample = stable_sample(tx["customer_id"], int(settings["max_training_customers"]), seed)
    notes: list[str] = []
    try:
        if len(sample) < tx["customer_id"].nunique():
            panel = build_sampled_panel(tx, cutoff, horizon, sample, **common)
            notes.append(f"LightGBM trained on a seeded sample of {len(sample):,} customers "
                         "(max_training_customers); every customer scored")
        else:
            panel = build_rolling_origin_panel(tx, cutoff, horizon, **common)
    except DataError as error:
        return None, [f"no rolling-origin training ({error}); LightGBM models skipped"]
    return panel, notes


def _calibrated_churn_baselines(panel, features: pd.DataFrame) -> _Candidates:
    """Recency and RFM-score churn baselines, logistic-calibrated on the latest origin.

    ``panel``: rolling-origin panel; ``features``: behavioural features at the cutoff, one row
    per customer (n_customers rows). Returns churn probabilities ``recency``, ``rfm_score``
    (shape (n_customers,)) and the fitted baselines.
    """
    train_features, train_labels = panel.training()
    latest = max(panel.origins)
    latest_rows = train_features.index.get_level_values("origin") == latest
    latest_features = train_features.loc[latest_rows].droplevel("origin")
    latest_churned = train_labels.loc[latest_rows, "churned"].to_numpy()
    out = _Candidates()
    for name, baseline in (("recency", RecencyBaseline()), ("rfm_score", RFMScoreBaseline())):
        baseline.fit(latest_features, latest_churned)
        out.churn[name] = baseline.predict_proba(features).to_numpy()
        out.models[name] = baseline
    return out


def _percentile_churn_baselines(features: pd.DataFrame) -> _Candidates:
    """Recency and RFM-score churn baselines as score percentiles (no origin to calibrate on).

    ``features``: behavioural features at the cutoff (n_customers rows). Returns ``recency``,
    ``rfm_score`` percentile ranks in (0, 1], shape (n_customers,), and the baselines.
    """
    out = _Candidates()
    for name, baseline in (("recency", RecencyBaseline()), ("rfm_score", RFMScoreBaseline())):
        score = baseline.score(features)
        out.churn[name] = (score.rank(pct=True)).to_numpy()
        out.models[name] = baseline
    return out


def _spend_rate_candidate(features: pd.DataFrame, horizon: int) -> _Candidates:
    """The spend-rate baseline over ``horizon`` days.

    ``features``: behavioural features at the cutoff (n_customers rows). Returns churn
    ``spend_rate`` = exp(-purchase-day rate x H) and revenue ``spend_rate`` = revenue per
    tenure day x H (currency), each shape (n_customers,), and the baseline.
    """
    spend = SpendRateBaseline(horizon)
    return _Candidates(
        churn={"spend_rate": spend.predict_proba(features).to_numpy()},
        revenue={"spend_rate": spend.predict(features).to_numpy()},
        models={"spend_rate": spend},
    )


def _baselines(panel, shop: ShopData, cutoff: pd.Timestamp, horizon: int, returns, index):
    """Features at the cutoff and the recency, RFM-score and spend-rate baselines.

    ``panel``: rolling-origin panel or None; ``horizon``: holdout days; ``returns``: returns
    or None; ``index``: the calibration customers (n_customers). Returns ``(features,
    candidates, notes)``: features reindexed to ``index`` (from the panel, else computed at
    the cutoff), the baselines' scores and models, and a note when they are uncalibrated.
    """
    notes: list[str] = []
    if panel is not None:
        features = panel.at_cutoff().reindex(index)
        candidates = _calibrated_churn_baselines(panel, features)
    else:
        from scoring.features.behavioural import behavioural_features

        features = behavioural_features(shop.transactions, cutoff, returns=returns).reindex(index)
        candidates = _percentile_churn_baselines(features)
        notes.append(
            "recency / rfm_score probabilities are score percentiles (no origin to calibrate on)"
        )
    candidates.add(_spend_rate_candidate(features, horizon))
    return features, candidates, notes


def _fit_lgbm_pair(panel, features: pd.DataFrame, name: str, use_btyd: bool, common, settings):
    """Fit the LightGBM churn (isotonic) and revenue (scaled) models ``name`` on the panel.

    ``features``: features at the cutoff (n_customers rows); ``use_btyd``: with BTYD
    features (hybrid); ``common``: shared model settings; ``settings``: ``_settings`` output
    (churn_params, revenue_params). Returns ``(candidates, info, raw)``: churn / revenue
    scores (shape (n_customers,)), models ``<name>_churn`` / ``<name>_revenue``, the top-10
    feature importances of each, and each model's ``predict_raw(features)`` by model name.
    """
    churn_model = LGBMChurnModel(
        calibration="isotonic", use_btyd=use_btyd, **common,
        lgbm_params=dict(settings["churn_params"]) or None
    ).fit(panel=panel)
    revenue_model = LGBMRevenueModel(
        calibration="scale", use_btyd=use_btyd, **common,
        lgbm_params=dict(settings["revenue_params"]) or None
    ).fit(panel=panel)
    raw = {f"{name}_churn": churn_model.predict_raw(features),
           f"{name}_revenue": revenue_model.predict_raw(features)}
    candidates = _Candidates(
        churn={name: churn_model.proba_from_raw(raw[f"{name}_churn"], features).to_numpy()},
        revenue={name: revenue_model.predict_from_raw(raw[f"{name}_revenue"],
                                                      features).to_numpy()},
        models={f"{name}_churn": churn_model, f"{name}_revenue": revenue_model},
    )
    info = {
        "churn_top_features": churn_model.feature_importance().head(10).round(2).to_dict(),
        "revenue_top_features": revenue_model.feature_importance().head(10).round(2).to_dict(),
    }
    return candidates, info, raw


def _anchored_candidate(models: dict, features: pd.DataFrame, btyd: dict,
                        raw: dict) -> _Candidates:
    """``SHIPPED_MODEL``: the hybrid's ranking at BG/NBD's level at the cutoff.

    ``models`` holds ``lgbm_hybrid_churn`` / ``lgbm_hybrid_revenue``; ``features``: features
    at the cutoff (n_customers rows); ``btyd``: ``_btyd_at_cutoff`` output (BG/NBD churn and
    BG/NBD x GG revenue as references); ``raw``: the hybrid models' ``predict_raw(features)``
    by model name (the anchored copies share their boosters: LightGBM predicts once).
    Returns the anchored churn / revenue (currency) scores, shape (n_customers,), and models
    ``<SHIPPED_MODEL>_churn`` / ``_revenue``.
    """
    anchored_churn = models["lgbm_hybrid_churn"].with_calibration("btyd_level")
    anchored_revenue = models["lgbm_hybrid_revenue"].with_calibration("btyd_level")
    return _Candidates(
        churn={
            SHIPPED_MODEL: anchored_churn.proba_from_raw(
                raw["lgbm_hybrid_churn"], features, reference=btyd["churn"]["bgnbd"]
            ).to_numpy()
        },
        revenue={
            SHIPPED_MODEL: anchored_revenue.predict_from_raw(
                raw["lgbm_hybrid_revenue"], features, reference=btyd["revenue"]["bgnbd_gg"]
            ).to_numpy()
        },
        models={
            f"{SHIPPED_MODEL}_churn": anchored_churn,
            f"{SHIPPED_MODEL}_revenue": anchored_revenue,
        },
    )


def _lgbm_panel_info(panel, models: dict) -> dict:
    """Panel and anchoring facts for ``metrics["lgbm"]``.

    Label horizon (days), origins (ISO dates), the anchored revenue model's season / level
    origins and level ratio, the anchored churn level adjustment, the number of training rows
    and the BTYD transaction model of each origin.
    """
    anchored_churn = models[f"{SHIPPED_MODEL}_churn"]
    anchored_revenue = models[f"{SHIPPED_MODEL}_revenue"]
    return {
        "label_horizon_days": panel.label_horizon_days,
        "n_origins": len(panel.origins),
        "origins": [str(o.date()) for o in panel.origins],
        "season_origins": [str(o.date()) for o in anchored_revenue.season_origins_],
        "revenue_level_origins": list(anchored_revenue.level_origins_),
        "revenue_level_ratio": float(anchored_revenue.level_ratio_),
        "churn_level_adjustment": float(anchored_churn.level_adjustment_),
        "n_training_rows": int(models["lgbm_hybrid_churn"].n_training_rows_),
        "btyd_transaction_model_by_origin": {
            origin: params["transaction_model"] for origin, params in panel.btyd_params.items()
        },
    }


def _lgbm_candidates(panel, features, btyd: dict, horizon: int, settings: dict, seed: int):
    """``lgbm``, ``lgbm_hybrid`` and ``SHIPPED_MODEL`` fitted on the rolling-origin panel.

    ``features``: features at the cutoff (n_customers rows); ``btyd``: ``_btyd_at_cutoff``
    output; ``horizon``: holdout days; ``settings``: ``_settings`` output; ``seed``: the
    models' random state. Returns ``(candidates, lgbm_info)`` (``metrics["lgbm"]``).
    """
    common = {
        "horizon_days": horizon,
        "n_folds": settings["n_folds"],
        "step_days": settings["step_days"],
        "min_history_days": settings["min_history_days"],
        "min_origins": settings["min_origins"],
        "random_state": seed,
        "n_jobs": settings["n_jobs"],
    }
    candidates = _Candidates()
    info: dict = {}
    pairs = (("lgbm", False), ("lgbm_hybrid", True)) if settings["from_scratch_lgbm"] else (
        ("lgbm_hybrid", True),)
    raw: dict = {}
    for name, use_btyd in pairs:
        fitted, info[name], raw_scores = _fit_lgbm_pair(panel, features, name, use_btyd,
                                                        common, settings)
        candidates.add(fitted)
        raw.update(raw_scores)
    candidates.add(_anchored_candidate(candidates.models, features, btyd, raw))
    info.update(_lgbm_panel_info(panel, candidates.models))
    return candidates, info


def _select_shipped(panel, models: dict) -> tuple[dict, dict]:
    """Choose the shipped churn and revenue models on the validation origin.

    ``panel``: rolling-origin panel or None; ``models``: fitted models by name. Returns
    ``(validation, shipped)``: ``_validation_metrics`` ({} without a panel) and {churn,
    revenue: model name, rule}; without a panel, BG/NBD (x Gamma-Gamma).
    """
    if panel is None:
        return {}, {
            "churn": FALLBACK_CHURN,
            "revenue": FALLBACK_REVENUE,
            "rule": "no rolling origin before the cutoff: BG/NBD (x Gamma-Gamma)",
        }
    validation = _validation_metrics(panel, models)
    shipped = {
        "churn": max(CHURN_CANDIDATES, key=lambda m: validation["churn"][m]),
        "revenue": max(REVENUE_CANDIDATES, key=lambda m: validation["revenue"][m]),
        "rule": "best ROC-AUC (churn) / normalized Gini (revenue) on the latest rolling "
        "origin before the cutoff (out-of-fold for LightGBM) among "
        f"{list(CHURN_CANDIDATES)} / {list(REVENUE_CANDIDATES)}",
    }
    return validation, shipped


def _predictions_frame(index, candidates: _Candidates, churned, revenue_actual, shipped: dict):
    """One row per calibration customer: every model's scores, actuals and shipped outputs.

    ``index``: customers (n_customers); ``churned``: 0/1 int64, ``revenue_actual``: holdout
    revenue (currency), both shape (n_customers,); ``shipped``: ``_select_shipped`` output.
    Columns: ``customer_id`` (string), ``churn__<model>``, ``revenue__<model>`` (float64),
    ``churned``, ``revenue_holdout``, ``churn_probability``, ``predicted_revenue``.
    """
    predictions = pd.DataFrame({"customer_id": index.astype("string")})
    for name, values in candidates.churn.items():
        predictions[f"churn__{name}"] = np.asarray(values, dtype="float64")
    for name, values in candidates.revenue.items():
        predictions[f"revenue__{name}"] = np.asarray(values, dtype="float64")
    predictions["churned"] = churned
    predictions["revenue_holdout"] = revenue_actual
    predictions["churn_probability"] = predictions[f"churn__{shipped['churn']}"]
    predictions["predicted_revenue"] = predictions[f"revenue__{shipped['revenue']}"]
    return predictions


def _btyd_metrics(calibration: pd.DataFrame, btyd: dict, models: dict) -> dict:
    """BTYD checks on the holdout (``metrics["btyd"]``).

    Per BTYD model: params and holdout purchase days (summed over customers) predicted vs
    actual and their ratio (NaN without holdout orders); ``gammagamma``: params and mean
    order value (currency) predicted vs actual over holdout buyers (NaN without buyers).
    """
    actual_orders = calibration["frequency_holdout"].to_numpy(dtype="float64")
    out: dict = {}
    for name in btyd["orders"]:
        predicted_orders = btyd["orders"][name]
        out[name] = {
            "params": _params(models[name]),
            "holdout_purchase_days_predicted": float(np.sum(predicted_orders)),
            "holdout_purchase_days_actual": float(actual_orders.sum()),
            "holdout_purchase_days_ratio": float(np.sum(predicted_orders) / actual_orders.sum())
            if actual_orders.sum() > 0
            else float("nan"),
        }
    buyers = actual_orders > 0
    out["gammagamma"] = {
        "params": _params(models["gammagamma"]),
        "mean_order_value_predicted": float(np.mean(btyd["order_value"][buyers]))
        if buyers.any()
        else float("nan"),
        "mean_order_value_actual": float(calibration.loc[buyers, "monetary_value_holdout"].mean())
        if buyers.any()
        else float("nan"),
    }
    return out


def _holdout_metrics(name, cutoff, horizon: int, churned, revenue_actual, candidates) -> dict:
    """The leading keys of ``metrics``: split, population and every model's holdout metrics.

    ``name``: dataset; ``cutoff``: Timestamp; ``horizon``: holdout days; ``churned`` (0/1) and
    ``revenue_actual`` (currency): shape (n_customers,). Returns dataset, cutoff (ISO date),
    holdout_days, time_unit, n_customers, churn_rate, revenue_holdout_total, churn {model:
    ``churn_metrics``}, revenue {model: ``revenue_metrics``}.
    """
    return {
        "dataset": name,
        "cutoff": str(cutoff.date()),
        "holdout_days": horizon,
        "time_unit": "days",
        "n_customers": int(len(churned)),
        "churn_rate": float(churned.mean()),
        "revenue_holdout_total": float(revenue_actual.sum()),
        "churn": {m: churn_metrics(churned, p) for m, p in candidates.churn.items()},
        "revenue": {m: revenue_metrics(revenue_actual, p) for m, p in candidates.revenue.items()},
    }


def _scorer_selection(shipped: dict) -> ModelSelection:
    """The scorer's ``ModelSelection`` for the shipped churn model (transactions: BG/NBD)."""
    return ModelSelection(
        transaction_model="bgnbd",  # every revenue candidate is BG/NBD-based
        churn_model=SCORER_CHURN_MODELS[shipped["churn"]],
        reasons={"churn": f"{shipped['churn']}: {shipped['rule']}",
                 "transaction_model": "BG/NBD: the base of every revenue candidate"},
    )


def evaluate_churn_revenue(
    shop: ShopData,
    cutoff=None,
    holdout_days: int | None = None,
    config: dict | None = None,
    seed: int = 0,
) -> ChurnRevenueEvaluation:
    """Fit every churn/revenue model before ``cutoff`` and evaluate it on the holdout.

    Args:
        shop: canonical shop data (``transactions``; ``returns``, ``events``, ``customers``
            are used as features when present).
        cutoff: scoring moment (default: the dataset's default split).
        holdout_days: H, days (default: the dataset's default).
        config: overrides of ``DEFAULT_CONFIG``.
        seed: random seed of every model.

    Returns:
        ``ChurnRevenueEvaluation``. ``metrics`` keys: ``dataset``, ``cutoff``,
        ``holdout_days``, ``time_unit`` ("days"), ``n_customers``, ``churn_rate``,
        ``revenue_holdout_total``, ``churn`` {model: churn metrics}, ``revenue`` {model:
        revenue metrics}, ``btyd`` {bgnbd, paretonbd: params, holdout purchase days predicted
        vs actual; gammagamma: params, mean order value predicted vs actual}, ``lgbm``
        (label horizon, origins, feature importance), ``shipped`` {churn, revenue: model
        name, rule}.
    """
    settings = _settings(config)
    cutoff, horizon = _default_split(shop, cutoff, holdout_days)
    returns = shop.returns if not shop.quarantine.empty else None
    calibration = _calibration_at_cutoff(shop.transactions, cutoff, horizon)
    churned = (calibration["frequency_holdout"] == 0).astype("int64").to_numpy()
    revenue_actual = calibration["revenue_holdout"].to_numpy(dtype="float64")

    # BTYD at the cutoff
    btyd = _btyd_at_cutoff(calibration, horizon, bool(settings["paretonbd"]))
    candidates = _btyd_candidates(btyd)
    # rolling-origin panel and baselines
    panel, notes = _rolling_origin_panel(shop, cutoff, horizon, returns, settings, seed)
    features, baselines, baseline_notes = _baselines(
        panel, shop, cutoff, horizon, returns, calibration.index
    )
    candidates.add(baselines)
    notes.extend(baseline_notes)
    # LightGBM candidates
    lgbm_info: dict = {}
    if panel is not None:
        lgbm, lgbm_info = _lgbm_candidates(panel, features, btyd, horizon, settings, seed)
        candidates.add(lgbm)
    # selection on the validation origin
    validation, shipped = _select_shipped(panel, candidates.models)
    # predictions and metrics
    predictions = _predictions_frame(
        calibration.index, candidates, churned, revenue_actual, shipped
    )
    btyd_metrics = _btyd_metrics(calibration, btyd, candidates.models)
    metrics = {
        **_holdout_metrics(shop.name, cutoff, horizon, churned, revenue_actual, candidates),
        "btyd": btyd_metrics,
        "lgbm": lgbm_info,
        "shipped": shipped,
        "validation": validation,
        "seed": seed,
        "notes": notes,
    }
    # figures
    figures = {}
    if settings["plots"]:
        figures = _figures(
            predictions, candidates.churn, candidates.revenue, shipped, calibration, btyd,
            candidates.models,
        )
    return ChurnRevenueEvaluation(
        predictions=predictions, metrics=metrics, figures=figures, models=candidates.models,
        selection=_scorer_selection(shipped),
    )


def _validation_metrics(panel, models) -> dict:
    """ROC-AUC and normalized Gini of the candidates on the latest rolling origin.

    The origin's labels (``label_horizon_days`` after it) end before the cutoff. LightGBM
    models are scored with their out-of-fold predictions; BTYD with BG/NBD (x Gamma-Gamma)
    fitted as of that origin; baselines from the origin's features. Calibration does not
    change these ranking metrics.
    """
    from scoring.evaluation.metrics import normalized_gini, roc_auc

    features, labels = panel.training()
    latest = max(panel.origins)
    rows = np.asarray(features.index.get_level_values("origin") == latest)
    at_origin = features.loc[rows].droplevel("origin")
    churned = labels.loc[rows, "churned"].to_numpy()
    revenue = labels.loc[rows, "revenue_next"].to_numpy()
    spend = SpendRateBaseline(panel.label_horizon_days)
    churn_scores = {
        "recency": RecencyBaseline().score(at_origin).to_numpy(),
        "rfm_score": RFMScoreBaseline().score(at_origin).to_numpy(),
        "spend_rate": spend.predict_proba(at_origin).to_numpy(),
        "bgnbd": at_origin["btyd_churn_probability"].to_numpy(),
        SHIPPED_MODEL: models["lgbm_hybrid_churn"].oof_raw_.to_numpy()[rows],
    }
    revenue_scores = {
        "spend_rate": spend.predict(at_origin).to_numpy(),
        "bgnbd_gg": at_origin["btyd_predicted_revenue"].to_numpy(),
        SHIPPED_MODEL: models["lgbm_hybrid_revenue"].oof_raw_.to_numpy()[rows],
    }
    if "lgbm_churn" in models:  # the from-scratch comparison (from_scratch_lgbm)
        churn_scores["lgbm"] = models["lgbm_churn"].oof_raw_.to_numpy()[rows]
        revenue_scores["lgbm"] = models["lgbm_revenue"].oof_raw_.to_numpy()[rows]
    return {
        "origin": str(latest.date()),
        "label_horizon_days": panel.label_horizon_days,
        "n_customers": int(rows.sum()),
        "churn": {name: roc_auc(churned, score) for name, score in churn_scores.items()},
        "revenue": {
            name: normalized_gini(revenue, score) for name, score in revenue_scores.items()
        },
    }


def _figures(predictions, churn_scores, revenue_scores, shipped, calibration, btyd, models):
    y = predictions["churned"].to_numpy()
    main = [m for m in (shipped["churn"], "lgbm", "bgnbd", "recency") if m in churn_scores]
    main = list(dict.fromkeys(main))
    figures = {
        "churn_calibration": plots.calibration_curve(y, {m: churn_scores[m] for m in main}),
        "churn_roc": plots.roc_curve(y, {m: churn_scores[m] for m in main}),
        "churn_gains": plots.gains_chart(y, {m: churn_scores[m] for m in main}),
        "revenue_deciles": plots.decile_chart(
            predictions["revenue_holdout"],
            revenue_scores[shipped["revenue"]],
            title=f"Revenue by predicted decile ({shipped['revenue']})",
        ),
        "bgnbd_p_alive_matrix": plots.p_alive_matrix(models["bgnbd"], rfm=calibration),
        "btyd_holdout_by_frequency": plots.holdout_by_frequency(
            calibration["frequency"], calibration["frequency_holdout"], btyd["orders"]
        ),
    }
    return figures


def _strip_customer_rows(model):
    """A copy of a fitted model without per-customer training rows (for logging)."""
    clean = copy.copy(model)
    for attribute in ("oof_raw_", "train_labels_", "train_btyd_"):
        if hasattr(clean, attribute):
            setattr(clean, attribute, None)
    return clean


def log_churn_revenue_runs(evaluation: ChurnRevenueEvaluation, tracker=None) -> list[str]:
    """Log one nested child run per model under the active parent run of ``tracker`` (a
    ``scoring.tracking.Tracker``; default MLflow, which needs an active run;
    ``NullTracker()`` logs nothing and needs none).

    Each child run gets params (model, dataset, cutoff, holdout_days, seed and the model's
    settings), metrics (``churn_*`` and ``revenue_*`` holdout metrics), the evaluation
    figures relevant to it (``mlflow.log_figure``) and the fitted model (joblib artifact,
    without per-customer training rows). No customer-level data is logged. Returns the child
    run ids.
    """
    import joblib

    from scoring.tracking import current_tracker

    tracker = current_tracker(tracker)
    if tracker.active_run() is None:
        raise DataError(
            "log_churn_revenue_runs: no active MLflow run; call it inside "
            "`with mlflow.start_run():` (the parent run of the evaluation)."
        )
    metrics = evaluation.metrics
    names = sorted(set(metrics["churn"]) | set(metrics["revenue"]))
    shipped = metrics["shipped"]
    figure_owner = {
        "churn_calibration": shipped["churn"],
        "churn_roc": shipped["churn"],
        "churn_gains": shipped["churn"],
        "revenue_deciles": shipped["revenue"],
        "bgnbd_p_alive_matrix": "bgnbd",
        "btyd_holdout_by_frequency": "bgnbd",
    }
    run_ids = []
    for name in names:
        with tracker.start_run(name, nested=True) as child:
            params = {
                "model": name,
                "dataset": metrics["dataset"],
                "cutoff": metrics["cutoff"],
                "holdout_days": metrics["holdout_days"],
                "seed": metrics.get("seed", 0),
                "shipped_churn": shipped["churn"] == name,
                "shipped_revenue": shipped["revenue"] == name,
            }
            fitted = {
                key: model
                for key, model in evaluation.models.items()
                if key == name
                or key in (f"{name}_churn", f"{name}_revenue")
                or (name.endswith("_gg") and key in (name.removesuffix("_gg"), "gammagamma"))
            }
            for key, model in fitted.items():
                for param, value in _model_params(model).items():
                    params[f"{key}.{param}"] = value
            tracker.log_params(params)
            values = {}
            for prefix in ("churn", "revenue"):
                for metric, value in metrics[prefix].get(name, {}).items():
                    if value is not None and np.isfinite(value):
                        values[f"{prefix}_{metric}"] = float(value)
            tracker.log_metrics(values)
            tracker.set_tag("dataset", metrics["dataset"])
            tracker.set_tag("kind", "churn_revenue")
            for figure_name, owner in figure_owner.items():
                if owner == name and figure_name in evaluation.figures:
                    tracker.log_figure(evaluation.figures[figure_name], f"plots/{figure_name}.png")
            if fitted:
                with tempfile.TemporaryDirectory() as tmp:
                    for key, model in fitted.items():
                        path = os.path.join(tmp, f"{key}.joblib")
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            joblib.dump(_strip_customer_rows(model), path)
                        tracker.log_artifact(path, artifact_path="model")
            run_ids.append(child.info.run_id)
    return run_ids


def _model_params(model) -> dict:
    """Scalar settings of a model for MLflow params (no data)."""
    out = {}
    for key, value in vars(model).items():
        if key.endswith("_") or key.startswith("_"):
            continue
        if isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
        elif isinstance(value, dict) and all(
            isinstance(v, (int, float, str, bool)) for v in value.values()
        ):
            out.update({f"{key}.{k}": v for k, v in value.items()})
    return out
