"""The scorer's LightGBM hybrid churn model: partition-free percentiles and level, sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.exceptions import NotFittedError

from scoring.data import load_dataset
from scoring.models.hybrid_churn import HybridChurnModel, average_rank_percentile, stable_sample


@pytest.fixture(scope="module")
def cdnow():
    return load_dataset("cdnow-sample")


@pytest.fixture(scope="module")
def fitted(cdnow):
    return HybridChurnModel(horizon_days=90, max_origins=6).fit(cdnow.transactions, cdnow.as_of)


def test_average_rank_percentile_equals_pandas_rank_on_the_reference():
    values = pd.Series([3.0, 1.0, np.nan, 3.0, 2.0, 3.0, 7.0])
    reference = np.sort(values.dropna().to_numpy())
    ours = average_rank_percentile(values, reference)
    pd.testing.assert_series_equal(ours, values.rank(pct=True, method="average"),
                                   check_names=False)


def test_average_rank_percentile_places_new_values_between_reference_values():
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    ours = average_rank_percentile(pd.Series([0.0, 2.5, 9.0]), reference)
    np.testing.assert_allclose(ours, [0.125, 0.625, 1.125])


def test_stable_sample_is_seeded_and_ignores_row_order():
    ids = pd.Series([f"c{i}" for i in range(1000)] * 2, dtype="string")
    first = stable_sample(ids, 100, seed=1)
    assert len(first) == 100 and first.is_unique
    assert first.equals(stable_sample(ids.sample(frac=1.0, random_state=3), 100, seed=1))
    assert not first.equals(stable_sample(ids, 100, seed=2))
    assert len(stable_sample(ids, 5000)) == 1000  # fewer customers than asked: all of them


def test_scores_do_not_depend_on_the_partition(cdnow, fitted):
    tx = cdnow.transactions
    full = fitted.predict_proba(tx, cdnow.as_of)
    ids = full.index[::3]
    part = fitted.predict_proba(tx.loc[tx["customer_id"].isin(ids)], cdnow.as_of)
    pd.testing.assert_series_equal(part, full.loc[ids])
    assert full.between(0, 1).all() and full.notna().all()


def test_level_is_anchored_to_bgnbd_on_the_training_customers(cdnow, fitted):
    """At the fit date the mean churn probability equals BG/NBD's (the evaluation's
    "btyd_level" calibration), with the shift frozen at fit time."""
    from scoring.features.rfm import rfm_summary
    from scoring.models.lgbm import btyd_features

    tx = cdnow.transactions
    churn = fitted.predict_proba(tx, cdnow.as_of)
    rfm = rfm_summary(tx, cdnow.as_of)
    bgnbd = btyd_features(rfm, 90, *fitted.feature_models_)["btyd_churn_probability"]
    assert churn.mean() == pytest.approx(bgnbd.mean(), abs=2e-3)
    assert np.corrcoef(special.logit(churn), special.logit(bgnbd.clip(1e-6, 1 - 1e-6)))[0, 1] > 0.8


def test_sampling_caps_the_training_customers(cdnow):
    model = HybridChurnModel(horizon_days=90, max_origins=4, max_training_customers=800)
    model.fit(cdnow.transactions, cdnow.as_of)
    assert model.n_training_customers_ == 800
    assert model.predict_proba(cdnow.transactions, cdnow.as_of).shape[0] == 2357


def test_unfitted_model_says_so(cdnow):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        HybridChurnModel().predict_proba(cdnow.transactions, cdnow.as_of)
