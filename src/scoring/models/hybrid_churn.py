"""The shipped churn model in a form that scores any partition of customers alike.

``HybridChurnModel`` wraps the evaluation's shipped churn model (``lgbm_hybrid_anchored``:
LightGBM on behavioural + BTYD features, boosted from the BG/NBD churn logit, its level
anchored to BG/NBD) for the scorer. The evaluation computes two things over the whole
population at the cutoff, which a per-partition scorer (Spark buckets, pandas chunks) cannot:

* the ``*_pct`` features (a customer's percentile among the customers scored at the same
  cutoff): here percentiles are taken against the distribution seen at fit time
  (``percentile_reference_``), with pandas' average-rank convention, so a customer's value
  does not depend on who else is in the partition;
* the BTYD level anchoring (a logit shift making the mean churn probability equal BG/NBD's):
  here the shift is computed once at fit time on the training population at the as-of date
  (``level_shift_``) and applied to every customer.

At the fit date both equal the evaluation's population computations on the training
customers. Features use transactions and, when the shop has them, events; not the profile
table or returns (the batch scoring input carries neither), so training uses neither too.

Training scales by sampling: with more than ``max_training_customers`` customers, a seeded
sample (a stable hash of the customer id) builds the rolling-origin panel; scoring covers
everyone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from scoring._memory import release_memory
from scoring.data.schema import EVENT_TYPES, rows_before
from scoring.features.behavioural import (
    DEFAULT_EVENT_WINDOWS,
    RELATIVE_FEATURES,
    behavioural_features,
)
from scoring.features.rfm import rfm_summary
from scoring.models.churn import (
    BTYD_CHURN,
    LGBMChurnModel,
    btyd_features,
    build_rolling_origin_panel,
    fit_btyd_feature_models,
)

NOT_FITTED_MESSAGE = (
    "This %(name)s instance is not fitted yet; call fit(transactions, as_of) first."
)
"""``check_is_fitted`` message of ``HybridChurnModel`` (``NotFittedError``)."""

EVENT_COUNT_COLUMNS = {f"{e}_{w}d" for e in EVENT_TYPES for w in DEFAULT_EVENT_WINDOWS}
EVENT_RECENCY_COLUMNS = {f"days_since_last_{e}" for e in EVENT_TYPES}


def stable_sample(customer_ids: pd.Series, size: int, seed: int = 0) -> pd.Index:
    """``size`` distinct customer ids (all when there are fewer) chosen by a seeded hash of the
    id, sorted: the same ids for the same data and seed, whatever the row order."""
    ids = pd.Index(pd.unique(customer_ids.astype("string")), dtype="string").sort_values()
    if len(ids) <= size:
        return ids
    hashed = pd.util.hash_array(ids.to_numpy(dtype=object), hash_key=f"{seed:016d}")
    keep = np.argsort(hashed, kind="stable")[:size]
    return ids[np.sort(keep)]


def average_rank_percentile(values: pd.Series, reference: np.ndarray) -> pd.Series:
    """Percentile of each value in a sorted reference sample, as
    ``Series.rank(pct=True, method="average")`` gives it when ``values`` is the reference
    itself; NaN stays NaN. ``reference``: sorted float64 array without NaN."""
    x = values.to_numpy(dtype="float64")
    below = np.searchsorted(reference, x, side="left")
    at_or_below = np.searchsorted(reference, x, side="right")
    pct = (below + (at_or_below - below + 1) / 2.0) / max(len(reference), 1)
    return pd.Series(np.where(np.isnan(x), np.nan, pct), index=values.index)


class HybridChurnModel(BaseEstimator):
    """LightGBM hybrid churn probability P(no order in the next ``horizon_days`` days).

    A scikit-learn estimator (``get_params`` / ``clone``; fitted state only in ``*_``
    attributes set by ``fit``; ``NotFittedError`` before it).

    Parameters
    ----------
    horizon_days : churn horizon H, days.
    max_origins : rolling origins (28 days apart) to train on.
    max_training_customers : customers in the training panel (a seeded sample above it).
    random_state : seed of the sample and of LightGBM.
    n_jobs : LightGBM threads (-1: all cores; the fitted model is the same for any count).

    Fitted attributes: ``model_`` (LGBMChurnModel), ``label_horizon_days_``,
    ``feature_models_`` (BG/NBD and Gamma-Gamma behind the ``btyd_*`` features, fitted on
    every customer up to the as-of date), ``percentile_reference_`` {column: sorted values},
    ``level_shift_`` (logit shift), ``uses_events_``, ``n_training_customers_``, ``origins_``.
    """

    def __init__(self, horizon_days: int = 90, max_origins: int = 13,
                 max_training_customers: int = 100_000, random_state: int = 0,
                 n_jobs: int = -1):
        self.horizon_days = horizon_days
        self.max_origins = max_origins
        self.max_training_customers = max_training_customers
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, transactions: pd.DataFrame, as_of, events: pd.DataFrame | None = None,
            rfm: pd.DataFrame | None = None) -> HybridChurnModel:
        """Fit on rolling origins up to ``as_of`` (the last day of data, inclusive). ``rfm``:
        every customer's ``rfm_summary`` as of ``as_of`` if already computed."""
        as_of = pd.Timestamp(as_of).normalize()
        cutoff = as_of + pd.Timedelta(days=1)
        tx = rows_before(transactions, cutoff)
        self.uses_events_ = events is not None and len(events) > 0
        events = events if self.uses_events_ else None
        sample = stable_sample(tx["customer_id"], self.max_training_customers, self.random_state)
        sample_tx = tx.loc[tx["customer_id"].isin(sample)]
        sample_events = None if events is None else events.loc[events["customer_id"].isin(sample)]
        panel = build_rolling_origin_panel(sample_tx, cutoff, self.horizon_days,
                                           events=sample_events, btyd=True,
                                           max_origins=self.max_origins)
        release_memory()  # the panel's temporaries, before LightGBM copies the features
        self.model_ = LGBMChurnModel(horizon_days=self.horizon_days, calibration="btyd_level",
                                     use_btyd=True, origins=self.max_origins,
                                     random_state=self.random_state,
                                     n_jobs=self.n_jobs).fit(panel=panel)
        self.label_horizon_days_ = panel.label_horizon_days
        self.origins_ = [str(o.date()) for o in panel.origins]
        del panel  # the training panel is not needed for the as-of features below
        self.n_training_customers_ = len(sample)
        self.feature_models_ = fit_btyd_feature_models(
            rfm if rfm is not None else rfm_summary(tx, as_of))
        # population-level quantities, fixed now on the training customers at the as-of date
        sample_rfm = rfm_summary(sample_tx, as_of)
        at_as_of = self._features(sample_tx, as_of, sample_events, sample_rfm,
                                  with_reference=False)
        self.percentile_reference_ = {
            column: np.sort(at_as_of[column].dropna().to_numpy(dtype="float64"))
            for column in RELATIVE_FEATURES if f"{column}_pct" in at_as_of
        }
        reference = self._btyd_churn(at_as_of, sample_rfm)
        self.level_shift_ = self.model_.level_shift(self.model_.predict_raw(at_as_of), reference)
        return self

    def _btyd_churn(self, features: pd.DataFrame, rfm: pd.DataFrame) -> np.ndarray:
        """BG/NBD P(no order in H days), the anchoring reference (the feature column when the
        label horizon is H)."""
        if self.label_horizon_days_ == self.horizon_days:
            return features[BTYD_CHURN].to_numpy(dtype="float64")
        at_h = btyd_features(rfm.reindex(features.index), self.horizon_days,
                             *self.feature_models_)
        return at_h[BTYD_CHURN].to_numpy(dtype="float64")

    def _features(self, transactions: pd.DataFrame, as_of, events, rfm: pd.DataFrame,
                  with_reference: bool = True) -> pd.DataFrame:
        cutoff = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
        features = behavioural_features(transactions, cutoff, events=events,
                                        horizon_days=self.label_horizon_days_)
        btyd = btyd_features(rfm.reindex(features.index), self.label_horizon_days_,
                             *self.feature_models_)
        features = features.join(btyd)
        # event types nobody in this partition had: what a customer without them gets
        for column in getattr(self.model_, "feature_names_", []):
            if column not in features and column in EVENT_COUNT_COLUMNS:
                features[column] = 0.0
            elif column not in features and column in EVENT_RECENCY_COLUMNS:
                features[column] = np.nan
        if with_reference:
            for column, reference in self.percentile_reference_.items():
                features[f"{column}_pct"] = average_rank_percentile(features[column], reference)
        return features

    def predict_proba(self, transactions: pd.DataFrame, as_of,
                      events: pd.DataFrame | None = None,
                      rfm: pd.DataFrame | None = None) -> pd.Series:
        """Churn probability per customer with an order up to ``as_of`` (Series indexed by
        ``customer_id``, sorted). ``rfm``: their ``rfm_summary`` as of ``as_of`` if already
        computed. Any partition of the customers gives the same values."""
        check_is_fitted(self, "model_", msg=NOT_FITTED_MESSAGE)
        as_of = pd.Timestamp(as_of).normalize()
        tx = rows_before(transactions, as_of + pd.Timedelta(days=1))
        if rfm is None:
            rfm = rfm_summary(tx, as_of)
        features = self._features(tx, as_of, events if self.uses_events_ else None, rfm)
        raw = self.model_.predict_raw(features)
        return pd.Series(special.expit(raw + self.level_shift_), index=features.index,
                         name="churn_probability")
