"""Every RFM estimator (BG/NBD, modified BG/NBD, Pareto/NBD, Gamma-Gamma) through the same
scikit-learn style checks on the real CDNOW sample: output shapes and index, determinism,
batch (partition) invariance, pickling, ``clone``, ``get_params`` / ``set_params`` and
``NotFittedError`` before ``fit``.

The baselines in ``scoring.models.baselines`` are not included: they read the behavioural
feature frame rather than an RFM table and are not ``BaseEstimator`` subclasses (no
``get_params``, so ``clone`` does not apply).
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks
from sklearn.utils.validation import check_is_fitted

from scoring.data import load_dataset
from scoring.features.rfm import rfm_summary
from scoring.models.btyd import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel
from scoring.models.gamma_gamma import GammaGammaModel

HORIZON_DAYS = 90.0


def _btyd_queries() -> dict[str, Callable]:
    return {
        "predict": lambda m, rfm: m.predict(rfm, HORIZON_DAYS),
        "p_alive": lambda m, rfm: m.p_alive(rfm),
        "expected_orders": lambda m, rfm: m.expected_orders(rfm, HORIZON_DAYS),
        "prob_no_order": lambda m, rfm: m.prob_no_order(rfm, HORIZON_DAYS),
        "expected_days_to_next_order": lambda m, rfm: m.expected_days_to_next_order(rfm),
        "log_likelihood": lambda m, rfm: m.log_likelihood(rfm),
        "cumulative_expected_orders": lambda m, rfm: m.cumulative_expected_orders(
            rfm, [0.0, 30.0, HORIZON_DAYS]
        ),
    }


@dataclass
class Spec:
    """An estimator class, non-default ``__init__`` arguments (that leave the CDNOW fit
    unchanged, so ``clone`` / ``get_params`` see real values) and its query methods, each
    ``query(model, rfm) -> DataFrame indexed like rfm | array with len(rfm) rows``."""

    cls: type
    params: dict
    queries: dict[str, Callable] = field(default_factory=_btyd_queries)

    def make(self) -> BaseEstimator:
        return self.cls(**self.params)


SPECS = {
    "bgnbd": Spec(BetaGeoModel, {"min_customers": 10, "max_days_to_next_order": 365.0}),
    "mbgnbd": Spec(ModifiedBetaGeoModel, {"min_customers": 10, "max_iter": 3000}),
    "paretonbd": Spec(ParetoNBDModel, {"min_customers": 10, "penalizer_ladder": (1e-3,)}),
    "gammagamma": Spec(
        GammaGammaModel,
        {"min_customers": 10, "q_constraint": True},
        {
            "expected_order_value": lambda m, rfm: m.expected_order_value(rfm),
            "population_mean_order_value": lambda m, rfm: np.full(
                len(rfm), m.population_mean_order_value
            ),
        },
    ),
}


@pytest.fixture(scope="module")
def rfm() -> pd.DataFrame:
    """CDNOW sample RFM table (2,357 customers; frequency, recency, T in days;
    monetary_value in dollars)."""
    shop = load_dataset("cdnow-sample")
    return rfm_summary(shop.transactions, "1997-09-30")


@pytest.fixture(scope="module", params=list(SPECS), ids=list(SPECS))
def spec(request) -> Spec:
    return SPECS[request.param]


@pytest.fixture(scope="module")
def fitted(spec, rfm):
    return spec.make().fit(rfm)


def _values(out) -> np.ndarray:
    return out.to_numpy() if isinstance(out, pd.DataFrame | pd.Series) else np.asarray(out)


def test_sklearn_parameter_checks(spec):
    est = spec.make()
    name = spec.cls.__name__
    estimator_checks.check_no_attributes_set_in_init(name, est)
    estimator_checks.check_parameters_default_constructible(name, est)
    estimator_checks.check_get_params_invariance(name, est)
    estimator_checks.check_set_params(name, est)
    assert {k: est.get_params()[k] for k in spec.params} == spec.params
    assert est.set_params(min_customers=5) is est and est.min_customers == 5


def test_not_fitted_before_fit(spec, rfm):
    est = spec.make()
    with pytest.raises(NotFittedError, match=f"This {spec.cls.__name__} instance is not fitted"):
        check_is_fitted(est)
    for name, query in spec.queries.items():
        with pytest.raises(NotFittedError, match="not fitted yet; call fit\\(rfm\\) first"):
            query(est, rfm)
        assert not [k for k in vars(est) if k.endswith("_")], name


def test_fit_returns_self_and_outputs_have_the_rfm_rows(spec, fitted, rfm):
    check_is_fitted(fitted)
    assert isinstance(fitted.params_, dict) and fitted.converged_
    assert fitted.fit(rfm) is fitted  # refit in place (determinism checked below)
    for name, query in spec.queries.items():
        out = query(fitted, rfm)
        values = _values(out)
        assert values.shape[0] == len(rfm), name
        assert np.isfinite(values).all(), name
        if isinstance(out, pd.DataFrame):
            assert out.index.equals(rfm.index), name
        else:
            assert values.ndim == 1 or name == "cumulative_expected_orders", name


def test_two_fits_give_identical_parameters(spec, fitted, rfm):
    again = spec.make().fit(rfm)
    assert again.params_ == fitted.params_
    assert again.fit_info_ == fitted.fit_info_


def test_queries_do_not_change_fitted_state(spec, fitted, rfm):
    before = copy.deepcopy(vars(fitted))
    for query in spec.queries.values():
        query(fitted, rfm)
    assert vars(fitted) == before


def test_predictions_do_not_depend_on_the_batch(spec, fitted, rfm):
    """Predicting on 3 random parts and concatenating equals predicting on all (exactly), and
    a customer predicted alone gets the same value as within the whole table."""
    rng = np.random.default_rng(0)
    parts = np.array_split(rng.permutation(len(rfm)), 3)
    singles = rng.choice(len(rfm), size=5, replace=False)
    for name, query in spec.queries.items():
        whole = _values(query(fitted, rfm))
        pieces = np.empty_like(whole)
        for rows in parts:
            pieces[rows] = _values(query(fitted, rfm.iloc[rows]))
        np.testing.assert_array_equal(pieces, whole, err_msg=name)
        for row in singles:
            alone = _values(query(fitted, rfm.iloc[[row]]))
            np.testing.assert_array_equal(alone[0], whole[row], err_msg=name)


def test_pickle_round_trip_keeps_predictions(spec, fitted, rfm):
    restored = pickle.loads(pickle.dumps(fitted))
    assert type(restored) is spec.cls
    assert restored.params_ == fitted.params_
    assert restored.get_params() == fitted.get_params()
    for name, query in spec.queries.items():
        np.testing.assert_array_equal(
            _values(query(restored, rfm)), _values(query(fitted, rfm)), err_msg=name
        )


def test_clone_is_unfitted_with_equal_params(spec, fitted):
    twin = clone(fitted)
    assert type(twin) is spec.cls and twin is not fitted
    assert twin.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(twin)
