"""LightGBM churn classifier and revenue regressor trained on rolling origins.

Estimators (scikit-learn ``BaseEstimator``: every ``__init__`` argument stored unchanged under
its own name, so ``get_params`` / ``set_params`` / ``sklearn.base.clone`` work; fitted state
only in attributes ending with ``_``, set by ``fit``; ``check_is_fitted`` raises
``NotFittedError`` with ``NOT_FITTED_MESSAGE`` before it):

* ``LGBMChurnModel``: binary LightGBM; ``predict_proba(features)`` = churn probability
  P(no order in the next H days).
* ``LGBMRevenueModel``: tweedie LightGBM; ``predict(features)`` = gross revenue in the next
  H days (currency per customer).

Both train on the rolling-origin panel (``scoring.models.churn.panel``) and are
*cross-fitted*: customers are split into ``n_folds`` groups (seeded); fold ``k``'s booster is
trained on all origins of the other customers, so every training row gets an out-of-fold
prediction (``oof_``) from a booster that never saw that customer. Predictions at the cutoff
average the fold boosters. The calibration step (``scoring.models.churn.calibration``) is
fitted on the out-of-fold predictions of the calibration origins; ``with_calibration`` gives a
copy sharing the boosters with another calibration.

``use_btyd=True`` (the hybrid) adds the BTYD outputs (BG/NBD + Gamma-Gamma fitted as of each
origin, ``btyd_*`` columns) as features and boosts from the BTYD prediction
(``init_score`` = logit of BG/NBD P(no order) for churn, log of BG/NBD x Gamma-Gamma revenue
for revenue), so the trees learn corrections to the BTYD model.

LightGBM settings go in ``lgbm_params`` (a dict overriding ``DEFAULT_CHURN_PARAMS`` /
``DEFAULT_REVENUE_PARAMS``), one constructor parameter, so ``get_params``/``clone`` see them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from scoring.data.errors import DataError
from scoring.features.behavioural import CATEGORICAL_FEATURES

from .btyd_features import BTYD_CHURN, BTYD_PREFIX, BTYD_REVENUE
from .calibration import (
    btyd_reference,
    calibrate_churn,
    calibrate_revenue,
    calibration_rows,
    churn_level_shift,
    fit_churn_calibration,
    fit_revenue_calibration,
    level_origins,
    logit,
)
from .panel import RollingOriginPanel, build_rolling_origin_panel, same_season_origins

NOT_FITTED_MESSAGE = (
    "This %(name)s instance is not fitted yet; call fit(transactions, cutoff) or "
    "fit(panel=...) first."
)
"""``check_is_fitted`` message of the LightGBM churn / revenue models (``NotFittedError``)."""


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


def _rows_into(buffer: np.ndarray, columns: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The rows ``rows`` (int positions) of ``columns`` (float64 arrays) as an F-ordered
    (n_rows, n_columns) matrix written into the start of ``buffer`` (flat float64)."""
    matrix = buffer[: len(columns) * len(rows)].reshape(len(columns), len(rows))
    for j, values in enumerate(columns):
        np.take(values, rows, out=matrix[j])
    return matrix.T


def lightgbm_threads(n_jobs: int) -> int:
    """LightGBM's ``num_threads`` for scikit-learn's ``n_jobs``: a positive count as is;
    -1 (or any negative) is 0, LightGBM's "OpenMP default": every core, or
    ``OMP_NUM_THREADS`` when it is set (``tests/conftest.py`` sets 1 per pytest-xdist worker,
    so two workers do not fight over two cores).

    With ``force_col_wise`` and ``deterministic`` (``_params``) the boosters and predictions
    fitted with one and with two threads are identical (``tests/test_lgbm_threads.py``, on a
    sample of Online Retail II); only the ``num_threads`` line of the model string differs, and 0
    keeps that line the same on every machine.
    """
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise DataError("n_jobs must be a positive number of threads or -1 (all cores), not 0.")
    return n_jobs if n_jobs > 0 else 0


class _RollingOriginLGBM(BaseEstimator):
    """Shared fitting logic (panel, folds, categories, boosters) and the calibration step."""

    _default_params: dict = {}
    _target: str = ""

    # -- data ---------------------------------------------------------------------------------
    def build_panel(
        self,
        transactions: pd.DataFrame,
        cutoff,
        returns: pd.DataFrame | None = None,
        events: pd.DataFrame | None = None,
        customers: pd.DataFrame | None = None,
    ) -> RollingOriginPanel:
        """The rolling-origin panel this model's settings ask for (``panel`` module)."""
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
        params = {**self._default_params, **(self.lgbm_params or {})}
        n_estimators = self.n_estimators
        if n_estimators is None:
            n_estimators = N_ESTIMATORS_FROM_BTYD if self.use_btyd else N_ESTIMATORS_FROM_SCRATCH
        params.update(
            n_estimators=int(n_estimators),
            random_state=int(self.random_state),
            n_jobs=lightgbm_threads(self.n_jobs),
            verbose=-1,
            deterministic=True,
            force_col_wise=True,
        )
        return params

    def _lgbm_categories(self, features: pd.DataFrame) -> tuple[dict[str, list], list[str]]:
        """What LightGBM makes of the categorical columns of ``_prepare_x(features)``: their
        categories in column order (the booster's ``pandas_categorical``) and the unordered
        ones (its categorical features)."""
        categories, unordered = {}, []
        for column in self.feature_names_:
            dtype = features[column].dtype
            if column in self.categories_:  # _prepare_x: unordered, the fitted levels
                categories[column] = list(self.categories_[column])
                unordered.append(column)
            elif isinstance(dtype, pd.CategoricalDtype):
                categories[column] = list(dtype.categories)
                if not dtype.ordered:
                    unordered.append(column)
        return categories, unordered

    def _columns(self, features: pd.DataFrame) -> list[np.ndarray]:
        """The columns of ``_prepare_x(features)`` as LightGBM turns that DataFrame into
        numbers: float64 (n_rows,) each, a category as its code (NaN when missing).

        Float64 columns are the frame's own arrays (views, no copy). LightGBM reads every
        value as a double, so float64 loses nothing for other numeric dtypes.
        """
        columns = []
        for column in self.feature_names_:
            values = features[column]
            if isinstance(values.dtype, pd.CategoricalDtype):
                levels = self.categories_.get(column, values.cat.categories)
                codes = pd.Categorical(values.astype("object"), categories=levels).codes
                columns.append(np.where(codes < 0, np.nan, codes))
            elif values.dtype == np.float64:
                columns.append(values.to_numpy())
            else:
                columns.append(values.to_numpy(dtype=np.float64, na_value=np.nan))
        return columns

    def _fold_booster(self, columns: list[np.ndarray], y: np.ndarray,
                      margin: np.ndarray | None, train: np.ndarray, held: np.ndarray,
                      buffer: np.ndarray, categories: tuple[dict[str, list], list[str]]):
        """Fit one fold's booster on the rows ``train`` of ``columns`` (int positions; ``y`` and
        ``margin`` are indexed alike); return it and its raw predictions for the rows ``held``.

        The rows are taken into ``buffer`` (flat float64, reused by every fold) as an
        F-ordered matrix, so LightGBM gets the values, layout, names and categorical columns
        pandas' ``to_numpy`` of the DataFrame ``x.loc[train]`` gives it; the booster then
        records that DataFrame's categories (they are part of its model string and map
        categories to codes when it predicts on frames).
        """
        levels, unordered = categories
        estimator = self._estimator()
        fit_kwargs = {} if margin is None else {"init_score": margin[train]}
        estimator.fit(_rows_into(buffer, columns, train), y[train],
                      feature_name=list(self.feature_names_), categorical_feature=unordered,
                      **fit_kwargs)
        estimator.booster_.pandas_categorical = list(levels.values())
        held_x = _rows_into(buffer, columns, held)
        return estimator, estimator.booster_.predict(held_x, raw_score=True)

    def _fit_boosters(self, panel: RollingOriginPanel, target: str) -> None:
        """Cross-fitted boosters on the panel's training rows (see the module docstring).

        Each fold's rows go from the panel's columns straight into one reused float64
        buffer (:meth:`_fold_booster`): no pandas copies of the training frame.
        """
        if int(self.n_folds) < 2:
            raise DataError(f"n_folds must be >= 2 for cross-fitting, got {self.n_folds}.")
        features, labels = panel.features, panel.labels
        rows = np.flatnonzero(features.index.get_level_values("origin") < panel.cutoff)
        if not rows.size or features.columns.empty:
            raise DataError("the rolling-origin panel has no training rows; use a later cutoff.")
        index = features.index[rows]
        self.feature_names_ = self._feature_columns(panel)
        self.categories_ = {
            c: list(features[c].cat.categories)
            for c in CATEGORICAL_FEATURES
            if c in self.feature_names_ and isinstance(features[c].dtype, pd.CategoricalDtype)
        }
        columns = self._columns(features)
        y = np.full(len(features), np.nan)
        y[rows] = labels[target].to_numpy(dtype="float64")
        margin = self._margin(features)
        fold = self._folds(index.get_level_values("customer_id"))
        per_fold = np.bincount(fold, minlength=int(self.n_folds))
        size = max(fold.size - int(per_fold.min()), int(per_fold.max()))
        buffer = np.empty(len(columns) * size)
        categories = self._lgbm_categories(features)
        oof_raw = np.zeros(len(index))
        self.boosters_ = []
        for k in range(int(self.n_folds)):
            train, held = rows[fold != k], fold == k
            estimator, oof_raw[held] = self._fold_booster(
                columns, y, margin, train, rows[held], buffer, categories)
            self.boosters_.append(estimator)
        del buffer, columns
        if margin is not None:
            oof_raw = oof_raw + margin[rows]
        self.oof_raw_ = pd.Series(oof_raw, index=index, name="oof_raw")
        self.train_labels_ = labels
        self.train_btyd_ = (
            features[[c for c in (BTYD_CHURN, BTYD_REVENUE) if c in features]].iloc[rows]
            if panel.btyd_columns
            else None
        )
        self.cutoff_ = panel.cutoff
        self.origins_ = list(panel.origins)
        self.label_horizon_days_ = panel.label_horizon_days
        self.season_origins_ = same_season_origins(panel.origins, panel.cutoff)
        if panel.label_horizon_days != int(self.horizon_days):
            self.season_origins_ = []
        self.n_training_rows_ = len(index)

    def _folds(self, customers: pd.Index) -> np.ndarray:
        """Fold (0 .. n_folds - 1) of each training row: customers spread over the folds by a
        seeded permutation of the sorted distinct ids."""
        unique = np.sort(customers.unique().to_numpy(dtype=object).astype(str))
        rng = np.random.default_rng(self.random_state)
        fold_of_customer = rng.permutation(unique.size) % int(self.n_folds)
        return fold_of_customer[
            np.searchsorted(unique, customers.to_numpy(dtype=object).astype(str))
        ]

    def _check_fitted(self) -> None:
        check_is_fitted(self, "boosters_", msg=NOT_FITTED_MESSAGE)

    def predict_raw(self, features: pd.DataFrame) -> np.ndarray:
        """Uncalibrated score per row, shape (n,): the churn logit (``LGBMChurnModel``) or the
        log of the revenue (``LGBMRevenueModel``), margin included."""
        return self._raw(features)

    def _raw(self, features: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        x = self._prepare_x(features)
        raw = np.mean([b.predict(x, raw_score=True) for b in self.boosters_], axis=0)
        margin = self._margin(features)
        return raw + margin if margin is not None else raw

    # -- calibration --------------------------------------------------------------------------
    def _calibration_inputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(y, rows, level)`` of the calibration step: the target per training row, the
        calibration rows and (``"btyd_level"``) the level origins' rows or None; sets
        ``level_origins_`` for ``"btyd_level"``."""
        y = self.train_labels_[self._target].to_numpy(dtype="float64")
        origin = self.oof_raw_.index.get_level_values("origin")
        rows = calibration_rows(
            origin, self.origins_, self.season_origins_, self.calibration_origins
        )
        level = None
        if self.calibration == "btyd_level":
            chosen = level_origins(
                self.origins_,
                self.season_origins_,
                self.level_reference,
                self.train_btyd_ is not None,
            )
            self.level_origins_ = [str(pd.Timestamp(o).date()) for o in chosen]
            level = np.asarray(origin.isin(chosen)) if chosen else None
        return y, rows, level

    def _btyd_train(self, column: str) -> np.ndarray | None:
        return None if self.train_btyd_ is None else self.train_btyd_[column].to_numpy()

    def _fit_calibration(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

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

    def _fit(self, panel: RollingOriginPanel) -> None:
        self._fit_boosters(panel, self._target)
        self._fit_calibration()

    def with_calibration(self, calibration: str | None, calibration_origins: str | None = None):
        """A copy sharing the fitted boosters with another calibration (refitted on ``oof_``)."""
        self._check_fitted()
        other = copy.copy(self)
        other.calibration = calibration
        if calibration_origins is not None:
            other.calibration_origins = calibration_origins
        other._fit_calibration()
        return other

    def feature_importance(self) -> pd.Series:
        """Mean gain importance over the fold boosters, sorted descending."""
        self._check_fitted()
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
    random_state, n_jobs : seed and LightGBM threads (-1: all cores, see
        ``lightgbm_threads``; the boosters are the same for any number of threads).
    lgbm_params : dict passed to ``lightgbm.LGBMClassifier`` (overrides
        ``DEFAULT_CHURN_PARAMS``). Extra keywords are merged into it (deprecated).

    Fitted attributes: ``boosters_`` (n_folds LGBMClassifier), ``feature_names_``,
    ``categories_``, ``oof_raw_`` (out-of-fold logit per training row), ``calibrator_``,
    ``label_horizon_days_``, ``origins_``, ``season_origins_``, ``level_adjustment_`` (logit
    shift observed a year earlier, for ``"btyd_level"``).
    """

    _default_params = DEFAULT_CHURN_PARAMS
    _target = "churned"

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
        n_jobs: int = -1,
        lgbm_params: dict | None = None,
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

    def _estimator(self):
        return lgb.LGBMClassifier(**self._params())

    def _margin(self, features: pd.DataFrame) -> np.ndarray | None:
        if not self.use_btyd:
            return None
        return logit(features[BTYD_CHURN].to_numpy(dtype="float64"))

    def _fit_calibration(self) -> None:
        y, rows, level = self._calibration_inputs()
        self.calibrator_, self.level_adjustment_ = fit_churn_calibration(
            self.calibration,
            self.oof_raw_.to_numpy(),
            y,
            rows,
            level,
            self._btyd_train(BTYD_CHURN),
        )

    def level_shift(self, raw: np.ndarray, reference) -> float:
        """``"btyd_level"``: the logit shift that makes the mean churn probability of a
        population (raw logits ``raw``) equal BTYD's mean ``reference`` probability for the
        same customers, moved by ``level_adjustment_``. A population-level quantity: a scorer
        that scores customers in partitions computes it once and applies it to every
        partition (``expit(raw + shift)``)."""
        self._check_fitted()
        return churn_level_shift(raw, reference, self.level_adjustment_)

    def predict_proba(self, features: pd.DataFrame, reference=None) -> pd.Series:
        """Churn probability P(no order in the next ``horizon_days``), one per row.

        ``features``: rows to score with the fitted feature columns (e.g.
        ``panel.at_cutoff()``). ``reference``: BTYD churn probabilities at horizon H for the
        same rows, used by ``calibration="btyd_level"`` (defaults to the
        ``btyd_churn_probability`` feature, valid when the label horizon equals H).
        Returns a Series named ``churn_probability`` indexed like ``features``.
        """
        return self.proba_from_raw(self._raw(features), features, reference)

    def proba_from_raw(self, raw: np.ndarray, features: pd.DataFrame,
                       reference=None) -> pd.Series:
        """``predict_proba(features, reference)`` from ``raw = predict_raw(features)`` of this
        model or of a copy sharing its boosters (``with_calibration``): one LightGBM pass
        serves several calibrations of the same boosters."""
        if self.calibration == "btyd_level":
            reference = btyd_reference(features, reference, BTYD_CHURN, "churn probabilities")
        proba = calibrate_churn(
            self.calibration, raw, self.calibrator_, self.level_adjustment_, reference
        )
        return pd.Series(proba, index=features.index, name="churn_probability")


class LGBMRevenueModel(_RollingOriginLGBM):
    """LightGBM (tweedie) regressor of gross revenue in the next ``horizon_days``.

    Parameters as ``LGBMChurnModel`` plus ``objective`` (default ``"tweedie"``) and
    ``tweedie_variance_power`` (default 1.3); ``calibration`` is ``"scale"`` (default),
    ``"btyd_level"`` or None (``scoring.models.churn.calibration``); ``level_reference``
    (default ``"season_or_latest"``) multiplies the BTYD total by the actual / BTYD revenue
    ratio of the same-season origin a year earlier, or of the latest origin when there is none
    (BTYD models are stationary; the seasonal swing of the revenue total is large);
    ``lgbm_params`` go to ``lightgbm.LGBMRegressor`` (override ``DEFAULT_REVENUE_PARAMS``).

    Fitted attributes: as ``LGBMChurnModel`` (``oof_raw_`` is the log of the predicted revenue)
    plus ``scale_`` (multiplier applied to the predictions) and ``level_ratio_``.
    """

    _default_params = DEFAULT_REVENUE_PARAMS
    _target = "revenue_next"

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
        n_jobs: int = -1,
        lgbm_params: dict | None = None,
    ):
        self.horizon_days = horizon_days
        self.origins = origins
        self.calibration = calibration
        self.use_btyd = use_btyd
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power
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
        super()._fit(panel)

    def _fit_calibration(self) -> None:
        y, rows, level = self._calibration_inputs()
        self.scale_, self.level_ratio_ = fit_revenue_calibration(
            self.calibration,
            np.exp(self.oof_raw_.to_numpy()),
            y,
            int(self.horizon_days) / self.label_horizon_days_,
            rows,
            level,
            self._btyd_train(BTYD_REVENUE),
        )

    def predict(self, features: pd.DataFrame, reference=None) -> pd.Series:
        """Predicted gross revenue in the next ``horizon_days`` (currency), one per row.

        ``reference``: BTYD predicted revenue at horizon H for the same rows, used by
        ``calibration="btyd_level"`` (defaults to the ``btyd_predicted_revenue`` feature,
        valid when the label horizon equals H). Returns a Series named ``predicted_revenue``.
        """
        return self.predict_from_raw(self.predict_raw(features), features, reference)

    def predict_from_raw(self, raw: np.ndarray, features: pd.DataFrame,
                         reference=None) -> pd.Series:
        """``predict(features, reference)`` from ``raw = predict_raw(features)`` of this model
        or of a copy sharing its boosters (``with_calibration``)."""
        predicted = np.exp(raw)
        if self.calibration == "btyd_level":
            reference = btyd_reference(features, reference, BTYD_REVENUE, "revenue predictions")
        predicted = calibrate_revenue(
            self.calibration, predicted, self.scale_, self.level_ratio_, reference
        )
        return pd.Series(predicted, index=features.index, name="predicted_revenue")
