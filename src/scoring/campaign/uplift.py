"""Who responds to a bonus: meta-learners on LightGBM (causalml), cross-fitted, chosen by Qini.

The target is the incremental revenue of each treatment arm vs control in the campaign window
(currency per customer), ``tau_a(x) = E[revenue | x, arm a] - E[revenue | x, control]``, learnt
from a randomised campaign (the outcomes table of :mod:`scoring.campaign`).

Design (``value_column``, default ``"expected_order_value"``): revenue in a 90-day window is
very noisy (SD ~110 per customer against effects of ~10-25), so by default the learners fit
the incremental number of ORDERS, ``tau_orders_a(x)``, and the prediction values it at the
scorer's expected order value (Gamma-Gamma): ``tau_a(x) = tau_orders_a(x) *
X[value_column]`` (currency). ``value_column=None`` fits revenue directly. On the
benchmark's fit halves (benchmarks/bench_campaign.py) the orders design had the higher
cross-fitted Qini on revenue than the revenue and conversion designs.

Learners (causalml, base model ``lightgbm.LGBMRegressor``):

- ``"t"``: :class:`causalml.inference.meta.BaseTRegressor`, one outcome model per arm;
- ``"x"``: :class:`~causalml.inference.meta.BaseXRegressor`, imputed effects regressed on x
  in both groups and mixed by the propensity;
- ``"dr"``: :class:`~causalml.inference.meta.BaseDRRegressor`, the doubly robust pseudo
  outcome regressed on x (3-fold cross-fitting inside causalml, seeded).

Several treatment arms are fitted at once (causalml returns one column per arm, sorted by
name). The propensity is *known* (the randomisation shares), so no propensity model is fitted:
``p_a = share_a / (share_a + share_control)`` (the arm's share among control + arm), passed as
constant arrays; it comes from ``arm_shares`` (e.g. ``campaign.json``) or, by default, from the
arm counts of the training rows.

``learner="auto"`` chooses by cross-fitted Qini: K folds stratified by arm (seeded), the
out-of-fold predicted effects of every learner, scored by :func:`qini_coefficient` (the sum
over arms of causalml's ``qini_score`` on control + that arm), the best learner refitted on all
rows. Predictions are per row (independent of the batch) and deterministic given
``random_state`` (LightGBM single-threaded, seeded).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from . import CONTROL_ARM, with_predicted_revenue

UPLIFT_FEATURES: tuple[str, ...] = (
    "churn_probability", "predicted_clv_12m", "value_at_risk", "policy_bonus", "pre_orders",
    "pre_revenue", "days_since_last_order", "n_orders", "p_alive", "expected_orders_90d",
    "expected_order_value", "predicted_revenue_90d", "value_tier", "lifecycle_stage",
)
"""Candidate feature columns of the assignments/outcomes table; :func:`uplift_features`
keeps those present. Only what is known before the campaign: never the window's outcomes
(``orders``, ``revenue``, ``converted``, ``bonus_cost``, ``net_revenue``), which the outcomes
table holds under those names."""

DERIVED_FEATURES: tuple[str, ...] = ("order_gaps_since_last",)
"""Features computed from the scorer's predictions by :func:`with_derived_features`:
``order_gaps_since_last = days_since_last_order * expected_orders_90d / 90``, the days since
the last order in units of the expected gap between orders (> 1: overdue, the customers a
bonus brings back). Computed the same way in :meth:`UpliftModel.fit` and
:meth:`UpliftModel.predict`. Not among the default :data:`UPLIFT_FEATURES` (it did not raise
the cross-fitted Qini on the benchmark's fit halves); pass it in ``features`` to use it."""

CATEGORICAL_FEATURES: tuple[str, ...] = ("value_tier", "lifecycle_stage")
"""Label columns, given to LightGBM as pandas categoricals with the categories seen in fit."""

LEARNERS: tuple[str, ...] = ("t", "x", "dr")


def uplift_features(frame: pd.DataFrame, candidates: Sequence[str] = UPLIFT_FEATURES) -> list[str]:
    """The columns of ``candidates`` present in ``frame``, in the candidates' order."""
    return [c for c in candidates if c in frame.columns]


def with_derived_features(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the :data:`DERIVED_FEATURES` whose inputs it holds (recomputed if
    present; unchanged when an input is missing) and ``predicted_revenue_90d`` when absent
    (:func:`scoring.campaign.with_predicted_revenue`; the scores table lacks it). The one place
    the derived features are defined: the models apply it to the rows they fit and score."""
    frame = with_predicted_revenue(frame)  # the scores table lacks it
    out = {}
    if {"days_since_last_order", "expected_orders_90d"} <= set(frame.columns):
        days = pd.to_numeric(frame["days_since_last_order"], errors="coerce").astype(float)
        rate = pd.to_numeric(frame["expected_orders_90d"], errors="coerce").astype(float) / 90.0
        out["order_gaps_since_last"] = (days * rate).replace([np.inf, -np.inf], np.nan)
    return frame.assign(**out) if out else frame


def fitted_categories(X: pd.DataFrame, features: Sequence[str]) -> dict[str, list[str]]:
    """The categories seen in fit of the label columns among ``features`` (those in
    :data:`CATEGORICAL_FEATURES` or not numeric); other columns enter as floats."""
    return {c: sorted(X[c].dropna().astype(str).unique().tolist()) for c in features
            if c in CATEGORICAL_FEATURES or not pd.api.types.is_numeric_dtype(X[c])}


def feature_matrix(X: pd.DataFrame, features: Sequence[str],
                   categories: Mapping[str, list[str]]) -> pd.DataFrame:
    """(n, features) matrix for LightGBM: numeric columns as float, label columns as
    categoricals with the ``categories`` fixed in fit (unseen or missing labels -> NaN), so a
    row's encoding never depends on the batch. Shared by the uplift and redemption models."""
    missing = [c for c in features if c not in X.columns]
    if missing:
        raise ValueError(f"X is missing the feature column(s) {missing}")
    out = {}
    for c in features:
        if c in categories:
            labels = X[c].astype(object).astype(str).where(X[c].notna())
            out[c] = pd.Categorical(labels, categories=categories[c])
        else:
            out[c] = pd.to_numeric(X[c], errors="raise").astype(float).to_numpy()
    return pd.DataFrame(out, index=X.index)


def _arm_array(arm, n: int) -> np.ndarray:
    a = pd.Series(arm).astype(object).to_numpy()
    if a.ndim != 1 or len(a) != n:
        raise ValueError(f"arm must be one-dimensional with {n} rows, got shape {a.shape}")
    if pd.isna(pd.Series(a)).any():
        raise ValueError("arm has missing values")
    return a.astype(str)


def _outcome_array(y, n: int) -> np.ndarray:
    v = np.asarray(y, dtype=float)
    if v.ndim != 1 or len(v) != n:
        raise ValueError(f"y must be one-dimensional with {n} rows, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("y (the window's outcome) has missing or infinite values")
    return v


def qini_coefficient(effect: pd.DataFrame, arm, y, control_arm: str = CONTROL_ARM) -> float:
    """Qini coefficient of predicted effects on observed outcomes, pooled over arms (currency).

    ``effect``: (n, arms) predicted incremental revenue, one column per treatment arm;
    ``arm``: (n,) arm names; ``y``: (n,) revenue. For every arm ``a``: the rows of control and
    ``a``, ranked by ``effect[a]``, scored with ``causalml.metrics.qini_score`` (unnormalised:
    the mean gap between the model's and random targeting's cumulative incremental revenue,
    currency); the coefficient is the sum over arms, so arms weigh by the revenue at stake.
    """
    from causalml.metrics import qini_score

    arm = np.asarray(arm).astype(str)
    y = np.asarray(y, dtype=float)
    total = 0.0
    for name in effect.columns:
        rows = (arm == str(name)) | (arm == control_arm)
        frame = pd.DataFrame(
            {
                "score": np.asarray(effect[name], dtype=float)[rows],
                "y": y[rows],
                "w": (arm[rows] == str(name)).astype(int),
            }
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            score = qini_score(
                frame, outcome_col="y", treatment_col="w", treatment_effect_col="__none__",
                normalize=False,
            )
        total += float(score["score"])
    return total


class UpliftModel(BaseEstimator):
    """Incremental revenue of each treatment arm vs control, per customer (currency).

    Parameters
    ----------
    learner : ``"t"``, ``"x"``, ``"dr"`` or ``"auto"`` (chosen by cross-fitted Qini).
    n_folds : folds of the cross-fitting (out-of-fold effects, learner choice); 0 or 1 skips
        it for a fixed learner (``oof_effect_`` is then None).
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM base models.
    random_state : seeds the folds, LightGBM and the DR learner's internal split.
    control_arm : name of the control arm.
    features : feature columns; None uses :func:`uplift_features` of the training frame
        (after :func:`with_derived_features`).
    value_column : column of X with the value of one unit of the fitted outcome (currency per
        order, default ``"expected_order_value"``): ``fit`` then takes ``y`` = orders in the
        window and :meth:`predict` returns incremental orders x ``X[value_column]``
        (currency; a missing value is the training median ``value_fill_``). None: ``y`` is
        the revenue in the window and the learners fit it directly.

    Attributes after :meth:`fit`
    ----------------------------
    ``learner_`` (str), ``cv_qini_`` (dict learner -> Qini coefficient, currency),
    ``oof_effect_`` (DataFrame (n, arms) out-of-fold predicted incremental revenue, index of
    X), ``arms_`` (list of treatment arm names: the columns of :meth:`predict`),
    ``feature_names_``, ``categories_`` (dict column -> categories), ``propensity_`` (dict arm
    -> p), ``model_`` (the causalml learner refitted on all rows), ``fit_seconds_``,
    ``value_fill_`` (currency per order used where ``value_column`` is missing).
    """

    def __init__(
        self,
        learner: str = "auto",
        n_folds: int = 5,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        min_child_samples: int = 100,
        random_state: int = 0,
        control_arm: str = CONTROL_ARM,
        features: Sequence[str] | None = None,
        value_column: str | None = "expected_order_value",
    ):
        self.learner = learner
        self.n_folds = n_folds
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.control_arm = control_arm
        self.features = features
        self.value_column = value_column

    # --- pieces ---------------------------------------------------------------------------

    def _base_model(self):
        from lightgbm import LGBMRegressor

        return LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            random_state=self.random_state,
            n_jobs=1,
            verbose=-1,
        )

    def _meta_learner(self, name: str):
        from causalml.inference.meta import BaseDRRegressor, BaseTRegressor, BaseXRegressor

        cls = {"t": BaseTRegressor, "x": BaseXRegressor, "dr": BaseDRRegressor}[name]
        return cls(learner=self._base_model(), control_name=self.control_arm)

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        """The feature matrix (:func:`feature_matrix`)."""
        return feature_matrix(X, self.feature_names_, self.categories_)

    def _fit_one(self, name: str, X: pd.DataFrame, arm: np.ndarray, y: np.ndarray):
        model = self._meta_learner(name)
        n = len(arm)
        p = {a: np.full(n, self.propensity_[a]) for a in self.arms_}
        if name == "t":
            model.fit(X, treatment=arm, y=y)
        elif name == "x":
            model.fit(X, treatment=arm, y=y, p=p)
        else:
            model.fit(X, treatment=arm, y=y, p=p, seed=self.random_state)
        return model

    def _predict_one(self, model, X: pd.DataFrame) -> np.ndarray:
        # the X-learner mixes its two effect models with p; pass the known constant
        # propensity (not a fitted model) so a row's prediction does not depend on the batch
        p = {a: np.full(len(X), self.propensity_[a]) for a in self.arms_}
        if hasattr(model, "models_tau_c"):
            te = model.predict(X, p=p, verbose=False)
        else:
            te = model.predict(X, verbose=False)
        return np.asarray(te, dtype=float).reshape(len(X), len(self.arms_))

    def _oof(self, name: str, X: pd.DataFrame, arm: np.ndarray, y: np.ndarray,
             folds: list[tuple[np.ndarray, np.ndarray]], value: np.ndarray) -> pd.DataFrame:
        out = np.full((len(arm), len(self.arms_)), np.nan)
        for train, test in folds:
            model = self._fit_one(name, X.iloc[train], arm[train], y[train])
            out[test] = self._predict_one(model, X.iloc[test])
        return pd.DataFrame(out * value[:, None], index=X.index, columns=self.arms_)

    def _value(self, X: pd.DataFrame) -> np.ndarray:
        """(n,) currency per unit of the fitted outcome: ``X[value_column]`` (missing ->
        ``value_fill_``), or 1 when the outcome is revenue itself."""
        if self.value_column is None:
            return np.ones(len(X))
        if self.value_column not in X.columns:
            raise ValueError(f"X is missing the value column {self.value_column!r} (currency "
                             "per order; value_column=None fits revenue directly)")
        v = pd.to_numeric(X[self.value_column], errors="coerce").astype(float).to_numpy()
        v = np.where(np.isfinite(v), v, self.value_fill_)
        if (v < 0).any():
            raise ValueError(f"{self.value_column!r} has negative values")
        return v

    # --- API ------------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, arm, y, arm_shares: Mapping[str, float] | None = None,
            revenue=None):
        """Fit on a randomised campaign.

        ``X``: (n, features) DataFrame (the assignments/outcomes table); ``arm``: (n,) arm
        names (``control_arm`` and at least one treatment arm); ``y``: (n,) the outcome the
        learners fit: the number of ORDERS in the window when ``value_column`` is set (the
        default), the REVENUE in the window (currency, zeros for non-buyers) when
        ``value_column=None``; ``arm_shares``: optional randomisation share per arm name
        (control included); default: the arm counts of these rows; ``revenue``: (n,) revenue
        in the window (currency), the outcome the cross-fitted Qini scores the predicted
        incremental revenue on (learner choice); default: ``y`` when ``value_column`` is
        None, else ``y * X[value_column]`` (orders valued at the expected order value).
        """
        start = time.perf_counter()
        if self.learner not in (*LEARNERS, "auto"):
            raise ValueError(f"learner must be one of {LEARNERS} or 'auto', got {self.learner!r}")
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a pandas DataFrame with the feature columns")
        X = with_derived_features(X)
        n = len(X)
        arm = _arm_array(arm, n)
        y = _outcome_array(y, n)
        if self.value_column is not None:
            if self.value_column not in X.columns:
                raise ValueError(f"X is missing the value column {self.value_column!r} "
                                 "(currency per order; value_column=None fits revenue directly)")
            v = pd.to_numeric(X[self.value_column], errors="coerce").astype(float)
            v = v[np.isfinite(v)]
            self.value_fill_ = float(v.median()) if len(v) else 0.0
        else:
            self.value_fill_ = 1.0
        value = self._value(X)
        revenue = y * value if revenue is None else _outcome_array(revenue, n)
        names, counts = np.unique(arm, return_counts=True)
        if self.control_arm not in names:
            raise ValueError(f"no row in the control arm {self.control_arm!r}")
        arms = [a for a in names if a != self.control_arm]
        if not arms:
            raise ValueError("at least one treatment arm besides control is needed")
        self.arms_ = [str(a) for a in arms]  # sorted by name, as causalml orders its output columns
        shares = dict(zip(names, counts / n, strict=True)) if arm_shares is None else {
            str(k): float(v) for k, v in arm_shares.items()}
        for a in [self.control_arm, *arms]:
            if not shares.get(a, 0) > 0:
                raise ValueError(f"arm_shares must give a positive share to arm {a!r}")
        s_c = shares[self.control_arm]
        self.propensity_ = {a: shares[a] / (shares[a] + s_c) for a in arms}

        features = list(self.features) if self.features is not None else uplift_features(X)
        if not features:
            raise ValueError("no feature column found in X (see UPLIFT_FEATURES)")
        self.feature_names_ = features
        self.categories_ = fitted_categories(X, features)
        design = self._design(X)

        candidates = list(LEARNERS) if self.learner == "auto" else [self.learner]
        self.cv_qini_ = {}
        self.oof_effect_ = None
        if self.learner == "auto" or self.n_folds >= 2:
            if self.n_folds < 2:
                raise ValueError("learner='auto' needs n_folds >= 2")
            cv = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
            folds = list(cv.split(np.zeros(n), arm))
            oof = {}
            for name in candidates:
                oof[name] = self._oof(name, design, arm, y, folds, value)
                self.cv_qini_[name] = qini_coefficient(oof[name], arm, revenue,
                                                       self.control_arm)
            # ties: the first (simplest) learner of LEARNERS
            self.learner_ = max(candidates, key=lambda c: self.cv_qini_[c])
            self.oof_effect_ = oof[self.learner_]
        else:
            self.learner_ = self.learner
        self.model_ = self._fit_one(self.learner_, design, arm, y)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Predicted incremental revenue per customer vs control (currency; with
        ``value_column``: incremental orders x ``X[value_column]``).

        Returns a DataFrame (n, arms) with the index of ``X`` and one column per treatment
        arm (``arms_``).
        """
        check_is_fitted(self, "model_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a pandas DataFrame with the feature columns")
        X = with_derived_features(X)
        design = self._design(X)
        effect = self._predict_one(self.model_, design) * self._value(X)[:, None]
        return pd.DataFrame(effect, index=X.index, columns=self.arms_)


def cross_fitted_effects(model: UpliftModel, X: pd.DataFrame, arm, y,
                         arm_shares: Mapping[str, float] | None = None,
                         revenue=None) -> pd.DataFrame:
    """Out-of-fold predicted incremental revenue (n, arms) of ``model``'s settings.

    Fits a copy of ``model`` (``n_folds >= 2``) and returns its ``oof_effect_``: every row's
    effect predicted by a model that did not see it, for honest evaluation (Qini, allocation
    back-tests) on the training campaign.
    """
    from sklearn.base import clone

    if model.n_folds < 2:
        raise ValueError("cross_fitted_effects needs n_folds >= 2")
    fitted = clone(model).fit(X, arm, y, arm_shares=arm_shares, revenue=revenue)
    return fitted.oof_effect_


__all__ = [
    "CATEGORICAL_FEATURES",
    "DERIVED_FEATURES",
    "LEARNERS",
    "UPLIFT_FEATURES",
    "UpliftModel",
    "cross_fitted_effects",
    "qini_coefficient",
    "uplift_features",
    "with_derived_features",
]
