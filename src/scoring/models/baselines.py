"""Simple churn and revenue baselines the learned models must beat.

All baselines read the behavioural feature frame (``scoring.features.behavioural``; one row
per customer, index ``customer_id``) and use its columns ``days_since_last_order``,
``n_orders``, ``n_purchase_days``, ``revenue_total`` and ``tenure_days`` (days, currency).

* ``RecencyBaseline``: churn score = days since the last order. ``fit`` maps it to a
  probability with a logistic regression on ``log1p(days since last order)`` fitted on an
  earlier origin's features and labels (e.g. the most recent rolling origin before the cutoff).
* ``RFMScoreBaseline``: the ``rfm_score`` of the marketing segments
  (``scoring.segments.rfm_scores``: R, F and M quintile scores 1-5 of days since the last
  order, orders and revenue among the scored customers, summed to 3-15); churn score =
  18 - score (higher = more likely to churn), mapped to a probability by a logistic
  regression on the score fitted on an earlier origin.
* ``SpendRateBaseline``: historical rates per day of tenure. Revenue in the next ``H`` days =
  revenue_total / (tenure_days + 1) * H; churn = exp(-purchase_days / (tenure_days + 1) * H) (Poisson
  with the historical purchase-day rate). No fitting (``fit`` is a no-op).

All three are scikit-learn estimators (``get_params`` / ``clone``); the fitted baselines raise
``NotFittedError`` (``NOT_FITTED_MESSAGE``) before ``fit``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from scoring.data.errors import DataError, require_columns
from scoring.segments import SegmentConfig, rfm_scores

RFM_QUINTILES = 5
NOT_FITTED_MESSAGE = (
    "This %(name)s instance is not fitted yet; call fit(features, churned) on an earlier "
    "origin first."
)
"""``check_is_fitted`` message of the fitted baselines (``NotFittedError``)."""


def _require(features: pd.DataFrame, columns: tuple[str, ...], who: str) -> None:
    require_columns(features, columns, f"{who}: features",
                    "compute them with scoring.features.behavioural.behavioural_features.")


def _fit_logistic(score: np.ndarray, churned) -> LogisticRegression:
    y = np.asarray(churned, dtype="float64")
    if y.size != score.size:
        raise DataError(
            f"baseline fit: {score.size} feature rows but {y.size} labels; pass one churn label "
            "per feature row."
        )
    if np.unique(y).size < 2:
        raise DataError(
            "baseline fit: the churn labels hold a single class; the calibration origin needs "
            "both churners and returning customers."
        )
    return LogisticRegression(C=1e6, max_iter=1000).fit(score.reshape(-1, 1), y)


class RecencyBaseline(BaseEstimator):
    """Churn from days since the last order (see module docstring).

    Fitted attributes: ``calibrator_`` (LogisticRegression on log1p(days)).
    """

    def score(self, features: pd.DataFrame) -> pd.Series:
        """Days since the last order (higher = more likely to churn)."""
        _require(features, ("days_since_last_order",), "RecencyBaseline")
        return features["days_since_last_order"].astype("float64").rename("recency_days")

    def fit(self, features: pd.DataFrame, churned) -> RecencyBaseline:
        """Fit the probability mapping on an earlier origin (features, 0/1 churn labels)."""
        x = np.log1p(self.score(features).to_numpy())
        self.calibrator_ = _fit_logistic(x, churned)
        return self

    def predict_proba(self, features: pd.DataFrame) -> pd.Series:
        """Churn probability per customer, Series ``churn_probability``."""
        check_is_fitted(self, "calibrator_", msg=NOT_FITTED_MESSAGE)
        x = np.log1p(self.score(features).to_numpy()).reshape(-1, 1)
        return pd.Series(
            self.calibrator_.predict_proba(x)[:, 1], index=features.index, name="churn_probability"
        )


class RFMScoreBaseline(BaseEstimator):
    """Churn from the summed RFM quintile score (see module docstring).

    Fitted attributes: ``calibrator_`` (LogisticRegression on the churn score).
    """

    def score(self, features: pd.DataFrame) -> pd.Series:
        """Churn score = 18 - rfm_score (3..15 -> 15..3; higher = more likely to churn).

        ``rfm_score`` is the segments' one (``scoring.segments.rfm_scores``, 5 quintiles)
        computed on the behavioural features (``revenue_total`` as the revenue).
        """
        _require(features, ("days_since_last_order", "n_orders", "revenue_total"),
                 "RFMScoreBaseline")
        activity = features[["days_since_last_order", "n_orders", "revenue_total"]].rename(
            columns={"revenue_total": "revenue"})
        config = SegmentConfig(rfm_bins=RFM_QUINTILES)
        return (
            (3 * RFM_QUINTILES + 3 - rfm_scores(activity, config)["rfm_score"])
            .astype("float64")
            .rename("rfm_churn_score")
        )

    def fit(self, features: pd.DataFrame, churned) -> RFMScoreBaseline:
        self.calibrator_ = _fit_logistic(self.score(features).to_numpy(), churned)
        return self

    def predict_proba(self, features: pd.DataFrame) -> pd.Series:
        """Churn probability per customer, Series ``churn_probability``."""
        check_is_fitted(self, "calibrator_", msg=NOT_FITTED_MESSAGE)
        x = self.score(features).to_numpy().reshape(-1, 1)
        return pd.Series(
            self.calibrator_.predict_proba(x)[:, 1], index=features.index, name="churn_probability"
        )


class SpendRateBaseline(BaseEstimator):
    """Historical revenue and purchase-day rates per day of tenure (no fitting).

    Parameters
    ----------
    horizon_days : H, days.
    """

    def __init__(self, horizon_days: int = 182):
        self.horizon_days = horizon_days

    def fit(self, features: pd.DataFrame | None = None, churned=None) -> SpendRateBaseline:
        """No-op (nothing to fit); returns self."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def _rates(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        _require(features, ("revenue_total", "n_purchase_days", "tenure_days"), "SpendRateBaseline")
        # days of history, the first order's day included (features.activity)
        tenure = features["tenure_days"].to_numpy(dtype="float64") + 1.0
        return (
            features["revenue_total"].to_numpy(dtype="float64") / tenure,
            features["n_purchase_days"].to_numpy(dtype="float64") / tenure,
        )

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Revenue in the next H days (currency), Series ``predicted_revenue``."""
        revenue_rate, _ = self._rates(features)
        return pd.Series(
            revenue_rate * float(self.horizon_days), index=features.index, name="predicted_revenue"
        )

    def predict_proba(self, features: pd.DataFrame) -> pd.Series:
        """P(no purchase day in the next H days) = exp(-rate * H), Series
        ``churn_probability``."""
        _, order_rate = self._rates(features)
        return pd.Series(
            np.exp(-order_rate * float(self.horizon_days)),
            index=features.index,
            name="churn_probability",
        )
