"""LightGBM churn classifier and revenue regressor trained on rolling origins.

Training data (``build_rolling_origin_panel``): behavioural features (and, for the hybrid
models, BTYD outputs) computed as of several *origins* before the evaluation cutoff, stacked,
each row labelled with what the customer did in the ``label_horizon_days`` after its origin:

* origins are ``cutoff - h``, ``cutoff - h - step``, ``cutoff - h - 2 step``, ... (``h`` = label
  horizon), so the label window of the most recent origin is ``[cutoff - h, cutoff)`` and
  ends the day before the evaluation cutoff: nothing at or after the cutoff is ever used.
  Origins need ``min_history_days`` of data before them.
* the label horizon is the evaluation horizon ``H`` when the data allow at least
  ``min_origins`` origins with a full ``H``-day window; otherwise it shrinks to fit (e.g.
  CDNOW: 9 months of history before a 273-day horizon). The models then rank customers by the
  shorter-horizon target and the revenue total is rescaled by ``H / h`` (or anchored to BTYD,
  below).
* labels: ``churned`` = 1 when the customer has no order in ``[origin, origin + h)``,
  ``revenue_next`` = gross revenue in that window (currency).

Estimators (scikit-learn style; parameters in ``__init__``, fitted state ends with ``_``):

* ``LGBMChurnModel``: binary LightGBM; ``predict_proba(features)`` = churn probability
  P(no order in the next H days).
* ``LGBMRevenueModel``: tweedie LightGBM; ``predict(features)`` = gross revenue in the next
  H days (currency per customer).

Both are *cross-fitted*: customers are split into ``n_folds`` groups (seeded); fold ``k``'s
booster is trained on all origins of the other customers, so every training row gets an
out-of-fold prediction (``oof_``) from a booster that never saw that customer. Predictions at
the cutoff average the fold boosters. Calibration is fitted on the out-of-fold predictions of
the calibration origins (default: the most recent origin), i.e. on data the boosters were
not fitted on:

* churn ``calibration``: ``"isotonic"``, ``"platt"`` (logistic on the logit), ``"btyd_level"``
  (shift the logit so the mean probability equals the BTYD model's mean churn probability at the
  cutoff, optionally corrected by the same-season origin a year earlier: LightGBM gives
  the ranking, the BTYD model fitted on all data up to the cutoff gives the level, since the
  training origins have other seasons and populations), or ``None``.
* revenue ``calibration``: ``"scale"`` (multiply by actual / predicted total on the
  calibration origins), ``"btyd_level"`` (total = BTYD total at the cutoff times the
  actual / BTYD ratio of the same-season origin a year earlier, or of the latest origin when
  there is none), or ``None``.

``use_btyd=True`` (the hybrid) adds the BTYD outputs (BG/NBD + Gamma-Gamma fitted as of each
origin, ``btyd_*`` columns) as features and boosts from the BTYD prediction
(``init_score`` = logit of BG/NBD P(no order) for churn, log of BG/NBD x Gamma-Gamma revenue
for revenue), so the trees learn corrections to the BTYD model.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from scoring.data.errors import DataError
from scoring.features.behavioural import (
    CATEGORICAL_FEATURES,
    DEFAULT_WINDOWS,
    behavioural_features_panel,
    prepare_transactions,
)
from scoring.features.rfm import rfm_summary

LABEL_COLUMNS: tuple[str, ...] = ("churned", "revenue_next")
BTYD_PREFIX = "btyd_"
BTYD_CHURN = "btyd_churn_probability"
BTYD_REVENUE = "btyd_predicted_revenue"
PROBABILITY_CLIP = 1e-4
DAYS_PER_YEAR = 365
SEASON_TOLERANCE_DAYS = 7
"""An origin counts as 'same season' when it lies within this many days of ``cutoff - 365k``."""

DEFAULT_CHURN_PARAMS: dict = {
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.7,
    "reg_lambda": 1.0,
}
DEFAULT_REVENUE_PARAMS: dict = {
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.7,
    "reg_lambda": 1.0,
}
N_ESTIMATORS_FROM_SCRATCH = 300
N_ESTIMATORS_FROM_BTYD = 100
"""Boosting rounds when ``n_estimators`` is not given: fewer when boosting from the BTYD
prediction (the trees only correct it)."""


# ---------------------------------------------------------------------------------------------
# Rolling origins and the training panel
# ---------------------------------------------------------------------------------------------


def rolling_origins(
    cutoff,
    horizon_days: int,
    data_start,
    step_days: int = 28,
    max_origins: int = 26,
    min_history_days: int = 90,
    min_origins: int = 3,
    include_anniversaries: bool = True,
) -> tuple[list[pd.Timestamp], int]:
    """Training origins before ``cutoff`` and the label horizon they use.

    Returns ``(origins, label_horizon_days)``: origins (midnights, most recent first)
    ``cutoff - h - k * step_days`` for ``k = 0 .. max_origins - 1`` that have at least
    ``min_history_days`` of data after ``data_start``; ``h = horizon_days`` when that leaves
    ``min_origins`` origins, otherwise the largest ``h`` that does. With
    ``include_anniversaries`` (and ``h = horizon_days``) the origins ``cutoff - 365 k`` days
    (same part of the year, used for the seasonal level correction) are added when they have
    the history. Every label window ``[origin, origin + h)`` ends before the cutoff.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    earliest = pd.Timestamp(data_start).normalize() + pd.Timedelta(days=int(min_history_days))
    available = (cutoff - earliest).days
    horizon = int(horizon_days)
    if horizon <= 0 or step_days <= 0 or max_origins <= 0:
        raise DataError(
            f"rolling_origins: horizon_days ({horizon_days}), step_days ({step_days}) and "
            f"max_origins ({max_origins}) must be positive."
        )
    wanted = max(1, min(int(min_origins), int(max_origins)))
    label_horizon = min(horizon, available - (wanted - 1) * int(step_days))
    if label_horizon < 1:
        raise DataError(
            f"rolling_origins: only {available} days between the first possible origin "
            f"({earliest.date()} = data start + {min_history_days} days of history) and the "
            f"cutoff {cutoff.date()}; not enough for {wanted} training origins. Use a later "
            "cutoff, fewer min_history_days or fewer min_origins."
        )
    last = cutoff - pd.Timedelta(days=label_horizon)
    origins = [last - pd.Timedelta(days=k * int(step_days)) for k in range(int(max_origins))]
    origins = [o for o in origins if o >= earliest]
    if include_anniversaries and label_horizon == horizon:
        # the same part of the year one (two, ...) years before the cutoff
        years = 1
        while (anniversary := cutoff - pd.Timedelta(days=DAYS_PER_YEAR * years)) >= earliest:
            if anniversary <= last and anniversary not in origins:
                origins.append(anniversary)
            years += 1
    return sorted(origins, reverse=True), int(label_horizon)


def origin_labels(transactions: pd.DataFrame, origins: Sequence, horizon_days: int) -> pd.DataFrame:
    """What each customer did in ``[origin, origin + horizon_days)`` for every origin.

    Returns a DataFrame with a (``origin``, ``customer_id``) MultiIndex holding only customers
    with an order in the window; columns ``purchase_days_next`` (distinct purchase days) and
    ``revenue_next`` (gross revenue, currency). Customers absent from an origin's rows had no
    order (churned).
    """
    day = transactions["timestamp"].dt.floor("D").astype("datetime64[ns]")
    daily = (
        pd.DataFrame(
            {
                "customer_id": transactions["customer_id"].astype("string"),
                "day": day,
                "amount": transactions["amount"].astype("float64"),
            }
        )
        .groupby(["customer_id", "day"], observed=True, sort=False)["amount"]
        .sum()
        .reset_index()
    )
    frames = {}
    for origin in origins:
        start = pd.Timestamp(origin).normalize()
        end = start + pd.Timedelta(days=int(horizon_days))
        window = daily.loc[(daily["day"] >= start) & (daily["day"] < end)]
        grouped = window.groupby("customer_id", observed=True)["amount"]
        frames[start] = pd.DataFrame(
            {"purchase_days_next": grouped.size().astype("float64"), "revenue_next": grouped.sum()}
        )
    return pd.concat(frames, names=["origin", "customer_id"])


def spend_fit_rows(rfm: pd.DataFrame) -> pd.DataFrame:
    """Rows the Gamma-Gamma model can be fitted on: one-time buyers and repeat buyers with a
    positive mean repeat order value (free repeat orders, e.g. zero-price CDNOW lines, would
    make the fit refuse the whole table). Predictions still cover every customer."""
    keep = (rfm["frequency"] == 0) | (rfm["monetary_value"] > 0)
    return rfm.loc[keep]


def fit_btyd_feature_models(rfm: pd.DataFrame) -> tuple[object, object]:
    """The transaction and spend models behind the ``btyd_*`` features, fitted on an RFM table.

    BG/NBD (its a -> 0 limit ``NBDModel`` when the fit is refused: short histories where hardly
    anyone has lapsed yet) and Gamma-Gamma on ``spend_fit_rows``. Returns
    ``(transaction_model, spend_model)``.
    """
    from scoring.models.btyd import BetaGeoModel
    from scoring.models.gamma_gamma import GammaGammaModel

    try:
        transaction_model = BetaGeoModel().fit(rfm)
    except DataError:
        transaction_model = NBDModel().fit(rfm)
    return transaction_model, GammaGammaModel().fit(spend_fit_rows(rfm))


def btyd_features(
    rfm: pd.DataFrame, horizon_days: int, transaction_model, spend_model
) -> pd.DataFrame:
    """The ``btyd_*`` feature columns for the customers of an RFM table, indexed by
    ``customer_id`` (string), from fitted models (``fit_btyd_feature_models``)."""
    from scoring.models.btyd import btyd_feature_frame

    frame = btyd_feature_frame(rfm, horizon_days, transaction_model, spend_model)
    label = f"_{int(horizon_days)}d"
    frame.columns = [BTYD_PREFIX + c.removesuffix(label) for c in frame.columns]
    frame.index = frame.index.astype("string")
    return frame


def btyd_origin_features(
    transactions: pd.DataFrame, origin, horizon_days: int
) -> tuple[pd.DataFrame, dict]:
    """BG/NBD + Gamma-Gamma outputs as of ``origin`` (fitted on data before it).

    Returns ``(frame, params)``: frame indexed by ``customer_id`` with ``btyd_p_alive``,
    ``btyd_expected_orders``, ``btyd_churn_probability`` (P(no order in horizon)),
    ``btyd_expected_days_to_next_order``, ``btyd_expected_order_value`` and
    ``btyd_predicted_revenue`` (currency in the horizon); params of both fits.
    """
    origin = pd.Timestamp(origin).normalize()
    rfm = rfm_summary(transactions, origin - pd.Timedelta(days=1))
    transaction_model, spend_model = fit_btyd_feature_models(rfm)
    frame = btyd_features(rfm, horizon_days, transaction_model, spend_model)
    params = {
        "transaction_model": type(transaction_model).__name__,
        "bgnbd": {k: float(v) for k, v in transaction_model.params_.items()},
        "gammagamma": {k: float(v) for k, v in getattr(spend_model, "params_", {}).items()},
    }
    return frame, params


class NBDModel:
    """NBD purchase model (gamma-Poisson, nobody drops out): BG/NBD's limit ``a -> 0``.

    Used for BTYD features at origins where ``BetaGeoModel`` refuses the fit because hardly
    any customer has lapsed yet. Purchase rate ``lambda ~ Gamma(r, alpha)`` per day; given
    ``x`` repeat purchase days in ``T`` days the posterior is ``Gamma(r + x, alpha + T)``.
    Same prediction interface as the BTYD models (``p_alive`` = 1). ``params_``: r, alpha.
    """

    def __init__(self, max_days_to_next_order: float = 3650.0):
        self.max_days_to_next_order = max_days_to_next_order

    def fit(self, rfm: pd.DataFrame) -> NBDModel:
        counts = rfm[["frequency", "T"]].value_counts(sort=False)
        x = counts.index.get_level_values("frequency").to_numpy(dtype="float64")
        t = counts.index.get_level_values("T").to_numpy(dtype="float64")
        w = counts.to_numpy(dtype="float64")

        def nll(log_params):
            r, alpha = np.exp(log_params)
            ll = (
                special.gammaln(r + x)
                - special.gammaln(r)
                + r * np.log(alpha)
                - (r + x) * np.log(alpha + t)
            )
            return -(w * ll).sum() / w.sum()

        start = np.log([1.0, max(float(np.average(t, weights=w)), 1.0)])
        result = optimize.minimize(
            nll,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000},
        )
        r, alpha = np.exp(result.x)
        self.params_ = {"r": float(r), "alpha": float(alpha)}
        return self

    def _posterior(self, rfm):
        r, alpha = self.params_["r"], self.params_["alpha"]
        return r + rfm["frequency"].to_numpy(dtype="float64"), alpha + rfm["T"].to_numpy(
            dtype="float64"
        )

    def p_alive(self, rfm: pd.DataFrame) -> np.ndarray:
        return np.ones(len(rfm))

    def expected_orders(self, rfm: pd.DataFrame, horizon_days: float) -> np.ndarray:
        shape, rate = self._posterior(rfm)
        return shape / rate * float(horizon_days)

    def prob_no_order(self, rfm: pd.DataFrame, horizon_days: float) -> np.ndarray:
        shape, rate = self._posterior(rfm)
        return np.exp(-shape * np.log1p(float(horizon_days) / rate))

    def expected_days_to_next_order(self, rfm: pd.DataFrame) -> np.ndarray:
        shape, rate = self._posterior(rfm)
        return np.minimum(rate * np.expm1(np.log(2.0) / shape), self.max_days_to_next_order)


@dataclass
class RollingOriginPanel:
    """Stacked features and labels for rolling-origin training.

    ``features``: (``origin``, ``customer_id``) MultiIndex; the training origins and the
    cutoff itself (the rows to score). ``labels``: ``churned`` (0/1) and ``revenue_next``
    (currency) for the training origins' rows, aligned with ``features``.
    ``label_horizon_days``: length of the label windows (days). ``btyd_columns``: the BTYD
    feature names (empty without BTYD). ``btyd_params``: per origin, the fitted parameters.
    """

    features: pd.DataFrame
    labels: pd.DataFrame
    cutoff: pd.Timestamp
    horizon_days: int
    label_horizon_days: int
    origins: list[pd.Timestamp]
    btyd_columns: list[str] = field(default_factory=list)
    btyd_params: dict = field(default_factory=dict)

    def training(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(features, labels) of the training origins."""
        mask = self.features.index.get_level_values("origin") < self.cutoff
        return self.features.loc[mask], self.labels

    def at_cutoff(self) -> pd.DataFrame:
        """Features as of the cutoff, indexed by ``customer_id``."""
        return self.features.xs(self.cutoff, level="origin")


def build_rolling_origin_panel(
    transactions: pd.DataFrame,
    cutoff,
    horizon_days: int,
    returns: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    btyd: bool = True,
    step_days: int = 28,
    max_origins: int = 26,
    min_history_days: int = 90,
    min_origins: int = 3,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    origins: Sequence | None = None,
) -> RollingOriginPanel:
    """Features at each rolling origin and at the cutoff, labels for the origins.

    ``origins`` overrides the automatic schedule (``rolling_origins``); every given origin
    must satisfy ``origin + horizon_days <= cutoff``.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    prepared = prepare_transactions(transactions, returns, events, customers)
    if origins is None:
        origins, label_horizon = rolling_origins(
            cutoff,
            horizon_days,
            prepared.data_start,
            step_days=step_days,
            max_origins=max_origins,
            min_history_days=min_history_days,
            min_origins=min_origins,
        )
    else:
        origins = sorted({pd.Timestamp(o).normalize() for o in origins}, reverse=True)
        label_horizon = int(horizon_days)
        late = [o for o in origins if o + pd.Timedelta(days=label_horizon) > cutoff]
        if late:
            raise DataError(
                f"origins {[str(o.date()) for o in late]}: their {label_horizon}-day label "
                f"windows reach the cutoff {cutoff.date()}; use origins on or before "
                f"{(cutoff - pd.Timedelta(days=label_horizon)).date()}."
            )
    all_origins = [*origins, cutoff]
    features = behavioural_features_panel(
        prepared, all_origins, windows=windows, horizon_days=label_horizon
    )
    btyd_columns: list[str] = []
    btyd_params: dict = {}
    if btyd:
        frames = {}
        for origin in all_origins:
            frames[origin], btyd_params[str(origin.date())] = btyd_origin_features(
                transactions, origin, label_horizon
            )
        btyd_frame = pd.concat(frames, names=["origin", "customer_id"])
        btyd_columns = list(btyd_frame.columns)
        features = features.join(btyd_frame, how="left")
    labels = origin_labels(transactions, origins, label_horizon)
    train_index = features.index[features.index.get_level_values("origin") < cutoff]
    labels = labels.reindex(train_index)
    labels = pd.DataFrame(
        {
            "churned": labels["purchase_days_next"].isna().astype("int8"),
            "revenue_next": labels["revenue_next"].fillna(0.0),
        },
        index=train_index,
    )
    return RollingOriginPanel(
        features=features,
        labels=labels,
        cutoff=cutoff,
        horizon_days=int(horizon_days),
        label_horizon_days=label_horizon,
        origins=list(origins),
        btyd_columns=btyd_columns,
        btyd_params=btyd_params,
    )


def same_season_origins(
    origins: Sequence[pd.Timestamp], cutoff, tolerance_days: int = SEASON_TOLERANCE_DAYS
) -> list[pd.Timestamp]:
    """Origins within ``tolerance_days`` of ``cutoff - 365 k`` days (k >= 1): their label
    windows cover the same part of the year as the window after the cutoff."""
    cutoff = pd.Timestamp(cutoff).normalize()
    out = []
    for origin in origins:
        gap = (cutoff - pd.Timestamp(origin)).days
        years = round(gap / DAYS_PER_YEAR)
        if years >= 1 and abs(gap - DAYS_PER_YEAR * years) <= tolerance_days:
            out.append(pd.Timestamp(origin))
    return out


# ---------------------------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------------------------


def _logit(p) -> np.ndarray:
    return special.logit(
        np.clip(np.asarray(p, dtype="float64"), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    )


class _RollingOriginLGBM:
    """Shared fitting logic (panel, folds, categories, boosters)."""

    _default_params: dict = {}
    _margin_column: str = ""

    def __init__(
        self,
        horizon_days: int = 182,
        origins: int | Sequence | None = None,
        calibration: str | None = None,
        use_btyd: bool = False,
        n_estimators: int | None = None,
        n_folds: int = 5,
        step_days: int = 28,
        min_history_days: int = 90,
        min_origins: int = 3,
        calibration_origins: str = "latest",
        level_reference: str | None = None,
        random_state: int = 0,
        n_jobs: int = 1,
        **lgbm_params,
    ):
        self.horizon_days = horizon_days
        self.origins = origins
        self.calibration = calibration
        self.use_btyd = use_btyd
        self.n_estimators = n_estimators
        self.n_folds = n_folds
        self.step_days = step_days
        self.min_history_days = min_history_days
        self.min_origins = min_origins
        self.calibration_origins = calibration_origins
        self.level_reference = level_reference
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.lgbm_params = lgbm_params

    # -- data ---------------------------------------------------------------------------------
    def build_panel(
        self,
        transactions: pd.DataFrame,
        cutoff,
        returns: pd.DataFrame | None = None,
        events: pd.DataFrame | None = None,
        customers: pd.DataFrame | None = None,
    ) -> RollingOriginPanel:
        """The rolling-origin panel this model's settings ask for (see module docstring)."""
        explicit = None if self.origins is None or isinstance(self.origins, int) else self.origins
        return build_rolling_origin_panel(
            transactions,
            cutoff,
            self.horizon_days,
            returns=returns,
            events=events,
            customers=customers,
            btyd=self.use_btyd,
            step_days=self.step_days,
            max_origins=self.origins if isinstance(self.origins, int) else 26,
            min_history_days=self.min_history_days,
            min_origins=self.min_origins,
            origins=explicit,
        )

    def _feature_columns(self, panel: RollingOriginPanel) -> list[str]:
        columns = [c for c in panel.features.columns if not c.startswith(BTYD_PREFIX)]
        if self.use_btyd:
            if not panel.btyd_columns:
                raise DataError(
                    f"{type(self).__name__}(use_btyd=True) needs a panel built with btyd=True "
                    "(build_rolling_origin_panel(..., btyd=True))."
                )
            columns += panel.btyd_columns
        return columns

    def _prepare_x(self, features: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_names_ if c not in features]
        if missing:
            raise DataError(
                f"{type(self).__name__}.predict: features lack {len(missing)} column(s) the model "
                f"was fitted on, e.g. {missing[:5]}; compute them with the same settings "
                "(behavioural_features with horizon_days, BTYD columns for use_btyd=True)."
            )
        x = features[self.feature_names_].copy()
        for column, levels in self.categories_.items():
            x[column] = pd.Categorical(x[column].astype("object"), categories=levels)
        return x

    def _margin(self, features: pd.DataFrame) -> np.ndarray | None:
        return None

    def _estimator(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _params(self) -> dict:
        params = {**self._default_params, **self.lgbm_params}
        n_estimators = self.n_estimators
        if n_estimators is None:
            n_estimators = N_ESTIMATORS_FROM_BTYD if self.use_btyd else N_ESTIMATORS_FROM_SCRATCH
        params.update(
            n_estimators=int(n_estimators),
            random_state=int(self.random_state),
            n_jobs=int(self.n_jobs),
            verbose=-1,
            deterministic=True,
            force_col_wise=True,
        )
        return params

    def _fit_boosters(self, panel: RollingOriginPanel, target: str) -> None:
        if int(self.n_folds) < 2:
            raise DataError(f"n_folds must be >= 2 for cross-fitting, got {self.n_folds}.")
        features, labels = panel.training()
        if features.empty:
            raise DataError("the rolling-origin panel has no training rows; use a later cutoff.")
        self.feature_names_ = self._feature_columns(panel)
        self.categories_ = {
            c: list(features[c].cat.categories)
            for c in CATEGORICAL_FEATURES
            if c in self.feature_names_ and isinstance(features[c].dtype, pd.CategoricalDtype)
        }
        x = self._prepare_x(features)
        y = labels[target].to_numpy(dtype="float64")
        margin = self._margin(features)
        customers = features.index.get_level_values("customer_id")
        unique = np.sort(customers.unique().to_numpy(dtype=object).astype(str))
        rng = np.random.default_rng(self.random_state)
        fold_of_customer = rng.permutation(unique.size) % int(self.n_folds)
        fold = fold_of_customer[
            np.searchsorted(unique, customers.to_numpy(dtype=object).astype(str))
        ]
        oof_raw = np.zeros(len(x))
        self.boosters_ = []
        for k in range(int(self.n_folds)):
            train, held = fold != k, fold == k
            estimator = self._estimator()
            fit_kwargs = {}
            if margin is not None:
                fit_kwargs["init_score"] = margin[train]
            estimator.fit(x.loc[train], y[train], **fit_kwargs)
            self.boosters_.append(estimator)
            oof_raw[held] = estimator.predict(x.loc[held], raw_score=True)
        if margin is not None:
            oof_raw = oof_raw + margin
        self.oof_raw_ = pd.Series(oof_raw, index=features.index, name="oof_raw")
        self.train_labels_ = labels
        self.train_btyd_ = (
            features[[c for c in (BTYD_CHURN, BTYD_REVENUE) if c in features]].copy()
            if panel.btyd_columns
            else None
        )
        self.cutoff_ = panel.cutoff
        self.origins_ = list(panel.origins)
        self.label_horizon_days_ = panel.label_horizon_days
        self.season_origins_ = same_season_origins(panel.origins, panel.cutoff)
        if panel.label_horizon_days != int(self.horizon_days):
            self.season_origins_ = []
        self.n_training_rows_ = len(x)

    def _raw(self, features: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "boosters_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first.")
        x = self._prepare_x(features)
        raw = np.mean([b.predict(x, raw_score=True) for b in self.boosters_], axis=0)
        margin = self._margin(features)
        return raw + margin if margin is not None else raw

    def _calibration_mask(self) -> np.ndarray:
        origin = self.oof_raw_.index.get_level_values("origin")
        choice = self.calibration_origins
        if choice == "latest":
            return np.asarray(origin == max(self.origins_))
        if choice == "all":
            return np.ones(len(origin), dtype=bool)
        if choice == "season":
            chosen = self.season_origins_ or [max(self.origins_)]
            return np.asarray(origin.isin(chosen))
        raise DataError(f"calibration_origins must be 'latest', 'season' or 'all', got {choice!r}.")

    def _level_mask(self) -> np.ndarray | None:
        """Rows of the origin(s) the BTYD level correction is measured on (or None)."""
        reference = self.level_reference
        if reference is None or reference == "none" or self.train_btyd_ is None:
            return None
        if reference not in ("season", "season_or_latest"):
            raise DataError(
                f"level_reference must be None, 'season' or 'season_or_latest', got {reference!r}."
            )
        chosen = self.season_origins_
        if not chosen and reference == "season_or_latest":
            chosen = [max(self.origins_)]
        if not chosen:
            return None
        self.level_origins_ = [str(pd.Timestamp(o).date()) for o in chosen]
        origin = self.oof_raw_.index.get_level_values("origin")
        return np.asarray(origin.isin(chosen))

    def fit(
        self,
        transactions: pd.DataFrame | None = None,
        cutoff=None,
        returns: pd.DataFrame | None = None,
        events: pd.DataFrame | None = None,
        customers: pd.DataFrame | None = None,
        panel: RollingOriginPanel | None = None,
    ):
        """Fit on rolling origins before ``cutoff`` (or on a prebuilt ``panel``)."""
        if panel is None:
            if transactions is None or cutoff is None:
                raise DataError(
                    f"{type(self).__name__}.fit needs transactions and cutoff, or panel=."
                )
            panel = self.build_panel(transactions, cutoff, returns, events, customers)
        self._fit(panel)
        return self

    def _fit(self, panel: RollingOriginPanel) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def with_calibration(self, calibration: str | None, calibration_origins: str | None = None):
        """A copy sharing the fitted boosters with another calibration (refitted on ``oof_``)."""
        if not hasattr(self, "boosters_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first.")
        other = copy.copy(self)
        other.calibration = calibration
        if calibration_origins is not None:
            other.calibration_origins = calibration_origins
        other._fit_calibration()
        return other

    def _fit_calibration(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def feature_importance(self) -> pd.Series:
        """Mean gain importance over the fold boosters, sorted descending."""
        if not hasattr(self, "boosters_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first.")
        gains = np.mean(
            [b.booster_.feature_importance(importance_type="gain") for b in self.boosters_], axis=0
        )
        return pd.Series(gains, index=self.feature_names_, name="gain").sort_values(ascending=False)


class LGBMChurnModel(_RollingOriginLGBM):
    """Calibrated LightGBM churn classifier trained on rolling origins.

    Parameters
    ----------
    horizon_days : H, days; churn = no order in ``[cutoff, cutoff + H)``.
    origins : None (automatic schedule, up to 26 origins), an int (maximum number of origins)
        or explicit origin dates.
    calibration : ``"isotonic"`` (default), ``"platt"``, ``"btyd_level"`` or None.
    use_btyd : add BTYD features and boost from the BG/NBD churn logit (hybrid).
    n_estimators : boosting rounds (default 300, or 100 when boosting from BTYD).
    n_folds : customer groups for cross-fitting.
    step_days, min_history_days, min_origins : origin schedule (``rolling_origins``).
    calibration_origins : ``"latest"`` (default), ``"season"`` or ``"all"`` origins' OOF rows.
    level_reference : for ``"btyd_level"``: None (default; the churn level is BTYD's mean at
        the cutoff as is), ``"season"`` (shift it by the logit gap between the actual and the
        BTYD churn rate on the same-season origin a year earlier, when there is one) or
        ``"season_or_latest"`` (that, else on the latest origin). The default leaves the
        churn level alone: the same-season origin has at most a year of history, where BG/NBD
        is often degenerate, so its churn bias says little about the cutoff's.
    random_state, n_jobs : seed and LightGBM threads.
    **lgbm_params : passed to ``lightgbm.LGBMClassifier`` (override ``DEFAULT_CHURN_PARAMS``).

    Fitted attributes: ``boosters_`` (n_folds LGBMClassifier), ``feature_names_``,
    ``categories_``, ``oof_raw_`` (out-of-fold logit per training row), ``calibrator_``,
    ``label_horizon_days_``, ``origins_``, ``season_origins_``, ``level_adjustment_`` (logit
    shift observed a year earlier, for ``"btyd_level"``).
    """

    _default_params = DEFAULT_CHURN_PARAMS

    def __init__(
        self,
        horizon_days: int = 182,
        origins: int | Sequence | None = None,
        calibration: str | None = "isotonic",
        use_btyd: bool = False,
        n_estimators: int | None = None,
        n_folds: int = 5,
        step_days: int = 28,
        min_history_days: int = 90,
        min_origins: int = 3,
        calibration_origins: str = "latest",
        level_reference: str | None = None,
        random_state: int = 0,
        n_jobs: int = 1,
        **lgbm_params,
    ):
        super().__init__(
            horizon_days=horizon_days,
            origins=origins,
            calibration=calibration,
            use_btyd=use_btyd,
            n_estimators=n_estimators,
            n_folds=n_folds,
            step_days=step_days,
            min_history_days=min_history_days,
            min_origins=min_origins,
            calibration_origins=calibration_origins,
            level_reference=level_reference,
            random_state=random_state,
            n_jobs=n_jobs,
            **lgbm_params,
        )

    def _estimator(self):
        return lgb.LGBMClassifier(**self._params())

    def _margin(self, features: pd.DataFrame) -> np.ndarray | None:
        if not self.use_btyd:
            return None
        return _logit(features[BTYD_CHURN].to_numpy(dtype="float64"))

    def _fit(self, panel: RollingOriginPanel) -> None:
        self._fit_boosters(panel, "churned")
        self._fit_calibration()

    def _fit_calibration(self) -> None:
        method = self.calibration
        y = self.train_labels_["churned"].to_numpy(dtype="float64")
        raw = self.oof_raw_.to_numpy()
        mask = self._calibration_mask()
        self.calibrator_ = None
        self.level_adjustment_ = 0.0
        if method is None or method == "none":
            return
        if method == "isotonic":
            self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
                special.expit(raw[mask]), y[mask]
            )
        elif method == "platt":
            self.calibrator_ = LogisticRegression(C=1e6, max_iter=1000).fit(
                raw[mask].reshape(-1, 1), y[mask]
            )
        elif method == "btyd_level":
            self.level_origins_ = []
            season = self._level_mask()
            if season is not None:
                actual = y[season].mean()
                btyd = self.train_btyd_[BTYD_CHURN].to_numpy()[season].mean()
                self.level_adjustment_ = float(_logit(actual) - _logit(btyd))
        else:
            raise DataError(
                f"calibration must be 'isotonic', 'platt', 'btyd_level' or None, got {method!r}."
            )

    def predict_raw(self, features: pd.DataFrame) -> np.ndarray:
        """Uncalibrated churn logit per row, shape (n,)."""
        return self._raw(features)

    def level_shift(self, raw: np.ndarray, reference) -> float:
        """``"btyd_level"``: the logit shift that makes the mean churn probability of a
        population (raw logits ``raw``) equal BTYD's mean ``reference`` probability for the
        same customers, moved by ``level_adjustment_``. A population-level quantity: a scorer
        that scores customers in partitions computes it once and applies it to every
        partition (``expit(raw + shift)``)."""
        reference = np.asarray(reference, dtype="float64")
        target = special.expit(_logit(reference.mean()) + self.level_adjustment_)
        return float(
            optimize.brentq(
                lambda d: special.expit(raw + d).mean() - target, -50.0, 50.0, xtol=1e-10
            )
        )

    def predict_proba(self, features: pd.DataFrame, reference=None) -> pd.Series:
        """Churn probability P(no order in the next ``horizon_days``), one per row.

        ``features``: rows to score with the fitted feature columns (e.g.
        ``panel.at_cutoff()``). ``reference``: BTYD churn probabilities at horizon H for the
        same rows, used by ``calibration="btyd_level"`` (defaults to the
        ``btyd_churn_probability`` feature, valid when the label horizon equals H).
        Returns a Series named ``churn_probability`` indexed like ``features``.
        """
        raw = self._raw(features)
        method = self.calibration
        if method == "isotonic":
            proba = self.calibrator_.predict(special.expit(raw))
        elif method == "platt":
            proba = self.calibrator_.predict_proba(raw.reshape(-1, 1))[:, 1]
        elif method == "btyd_level":
            if reference is None:
                if BTYD_CHURN not in features:
                    raise DataError(
                        "calibration='btyd_level' needs BTYD churn probabilities: pass "
                        "reference= or features with 'btyd_churn_probability'."
                    )
                reference = features[BTYD_CHURN]
            proba = special.expit(raw + self.level_shift(raw, reference))
        else:
            proba = special.expit(raw)
        return pd.Series(
            np.asarray(proba, dtype="float64"), index=features.index, name="churn_probability"
        )


class LGBMRevenueModel(_RollingOriginLGBM):
    """LightGBM (tweedie) regressor of gross revenue in the next ``horizon_days``.

    Parameters as ``LGBMChurnModel`` plus ``objective`` (default ``"tweedie"``) and
    ``tweedie_variance_power`` (default 1.3); ``calibration`` is ``"scale"`` (default),
    ``"btyd_level"`` or None (see module docstring); ``level_reference`` (default
    ``"season_or_latest"``) multiplies the BTYD total by the actual / BTYD revenue ratio of the
    same-season origin a year earlier, or of the latest origin when there is none (BTYD models
    are stationary; the seasonal swing of the revenue total is large).

    Fitted attributes: as ``LGBMChurnModel`` (``oof_raw_`` is the log of the predicted revenue)
    plus ``scale_`` (multiplier applied to the predictions) and ``level_ratio_``.
    """

    _default_params = DEFAULT_REVENUE_PARAMS

    def __init__(
        self,
        horizon_days: int = 182,
        origins: int | Sequence | None = None,
        calibration: str | None = "scale",
        use_btyd: bool = False,
        objective: str = "tweedie",
        tweedie_variance_power: float = 1.3,
        n_estimators: int | None = None,
        n_folds: int = 5,
        step_days: int = 28,
        min_history_days: int = 90,
        min_origins: int = 3,
        calibration_origins: str = "latest",
        level_reference: str | None = "season_or_latest",
        random_state: int = 0,
        n_jobs: int = 1,
        **lgbm_params,
    ):
        super().__init__(
            horizon_days=horizon_days,
            origins=origins,
            calibration=calibration,
            use_btyd=use_btyd,
            n_estimators=n_estimators,
            n_folds=n_folds,
            step_days=step_days,
            min_history_days=min_history_days,
            min_origins=min_origins,
            calibration_origins=calibration_origins,
            level_reference=level_reference,
            random_state=random_state,
            n_jobs=n_jobs,
            **lgbm_params,
        )
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power

    def _estimator(self):
        params = self._params()
        params["objective"] = self.objective
        if self.objective == "tweedie":
            params["tweedie_variance_power"] = float(self.tweedie_variance_power)
        return lgb.LGBMRegressor(**params)

    def _margin(self, features: pd.DataFrame) -> np.ndarray | None:
        if not self.use_btyd:
            return None
        revenue = features[BTYD_REVENUE].to_numpy(dtype="float64")
        return np.log(np.clip(revenue, 1e-2, None))

    def _fit(self, panel: RollingOriginPanel) -> None:
        if self.objective not in ("tweedie", "poisson", "gamma"):
            raise DataError(
                f"objective {self.objective!r}: LGBMRevenueModel works on the log scale; use "
                "'tweedie', 'poisson' or 'gamma'."
            )
        self._fit_boosters(panel, "revenue_next")
        self._fit_calibration()

    def _fit_calibration(self) -> None:
        method = self.calibration
        y = self.train_labels_["revenue_next"].to_numpy(dtype="float64")
        predicted = np.exp(self.oof_raw_.to_numpy())
        horizon_ratio = int(self.horizon_days) / self.label_horizon_days_
        self.scale_ = horizon_ratio
        self.level_ratio_ = 1.0
        if method is None or method == "none":
            return
        if method == "scale":
            mask = self._calibration_mask()
            total = predicted[mask].sum()
            self.scale_ = horizon_ratio * (y[mask].sum() / total if total > 0 else 1.0)
        elif method == "btyd_level":
            self.level_origins_ = []
            season = self._level_mask()
            if season is not None:
                btyd_total = self.train_btyd_[BTYD_REVENUE].to_numpy()[season].sum()
                if btyd_total > 0:
                    self.level_ratio_ = float(y[season].sum() / btyd_total)
        else:
            raise DataError(f"calibration must be 'scale', 'btyd_level' or None, got {method!r}.")

    def predict(self, features: pd.DataFrame, reference=None) -> pd.Series:
        """Predicted gross revenue in the next ``horizon_days`` (currency), one per row.

        ``reference``: BTYD predicted revenue at horizon H for the same rows, used by
        ``calibration="btyd_level"`` (defaults to the ``btyd_predicted_revenue`` feature,
        valid when the label horizon equals H). Returns a Series named ``predicted_revenue``.
        """
        predicted = np.exp(self._raw(features))
        if self.calibration == "btyd_level":
            if reference is None:
                if BTYD_REVENUE not in features:
                    raise DataError(
                        "calibration='btyd_level' needs BTYD revenue predictions: pass "
                        "reference= or features with 'btyd_predicted_revenue'."
                    )
                reference = features[BTYD_REVENUE]
            total = float(np.asarray(reference, dtype="float64").sum()) * self.level_ratio_
            predicted = predicted * (total / predicted.sum())
        else:
            predicted = predicted * self.scale_
        return pd.Series(predicted, index=features.index, name="predicted_revenue")
