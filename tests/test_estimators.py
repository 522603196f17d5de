"""Every RFM estimator (BG/NBD, modified BG/NBD, Pareto/NBD, Gamma-Gamma) through the same
scikit-learn style checks on the real CDNOW sample: output shapes and index, determinism,
batch (partition) invariance, pickling, ``clone``, ``get_params`` / ``set_params`` and
``NotFittedError`` before ``fit``.

The churn / revenue estimators (``LGBMChurnModel``, ``LGBMRevenueModel``, ``HybridChurnModel``
and the baselines ``RecencyBaseline``, ``RFMScoreBaseline``, ``SpendRateBaseline``) go through
the checks that apply to them (second part): parameter checks, ``clone``, ``NotFittedError``
before ``fit``, pickling with identical predictions, determinism (a clone refitted gives the
same predictions) and, for the per-customer predictions, partition invariance. Not partition
invariant by design: ``RFMScoreBaseline`` (quintiles among the scored customers) and the
``"btyd_level"`` calibration of the LightGBM models (a population-level shift).
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
from scoring.models.baselines import RecencyBaseline, RFMScoreBaseline, SpendRateBaseline
from scoring.models.btyd import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel
from scoring.models.churn import (
    LGBMChurnModel,
    LGBMRevenueModel,
    RollingOriginPanel,
    build_rolling_origin_panel,
)
from scoring.models.gamma_gamma import GammaGammaModel
from scoring.models.hybrid_churn import HybridChurnModel

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


# ---------------------------------------------------------------------------------------------
# Churn / revenue estimators (behavioural features, rolling-origin panel)
# ---------------------------------------------------------------------------------------------

CUTOFF = pd.Timestamp("1997-10-01")
CHURN_HORIZON = 273
FAST = {"n_estimators": 30, "n_folds": 3}


@dataclass
class ChurnSpec:
    """A churn / revenue estimator: non-default ``__init__`` arguments, ``fit(model, data)``,
    ``predict(model, data, rows)`` (rows: positions of the customers to score, None = all;
    returns a Series indexed by customer) and whether predictions are per customer
    (partition invariant)."""

    cls: type
    params: dict
    fit: Callable
    predict: Callable
    partition_invariant: bool = True

    def make(self) -> BaseEstimator:
        return self.cls(**self.params)


@dataclass
class ChurnData:
    shop: object
    panel: RollingOriginPanel
    at_cutoff: pd.DataFrame
    at_origin: pd.DataFrame
    churned_at_origin: np.ndarray


def _rows(frame: pd.DataFrame, rows) -> pd.DataFrame:
    return frame if rows is None else frame.iloc[rows]


def _hybrid_predict(model, data: ChurnData, rows) -> pd.Series:
    tx = data.shop.transactions
    if rows is not None:
        ids = data.at_cutoff.index[rows]
        tx = tx.loc[tx["customer_id"].astype("string").isin(ids)]
    return model.predict_proba(tx, data.shop.as_of)


def _baseline_fit(model, data: ChurnData):
    return model.fit(data.at_origin, data.churned_at_origin)


CHURN_SPECS = {
    "lgbm_churn": ChurnSpec(
        LGBMChurnModel,
        {"horizon_days": CHURN_HORIZON, "use_btyd": True, "lgbm_params": {"num_leaves": 15},
         **FAST},
        lambda m, d: m.fit(panel=d.panel),
        lambda m, d, rows: m.predict_proba(_rows(d.at_cutoff, rows)),
    ),
    "lgbm_revenue": ChurnSpec(
        LGBMRevenueModel,
        {"horizon_days": CHURN_HORIZON, "use_btyd": True, **FAST},
        lambda m, d: m.fit(panel=d.panel),
        lambda m, d, rows: m.predict(_rows(d.at_cutoff, rows)),
    ),
    "lgbm_churn_btyd_level": ChurnSpec(
        LGBMChurnModel,
        {"horizon_days": CHURN_HORIZON, "use_btyd": True, "calibration": "btyd_level", **FAST},
        lambda m, d: m.fit(panel=d.panel),
        lambda m, d, rows: m.predict_proba(_rows(d.at_cutoff, rows)),
        partition_invariant=False,
    ),
    "hybrid": ChurnSpec(
        HybridChurnModel,
        {"horizon_days": 90, "max_origins": 3, "max_training_customers": 800},
        lambda m, d: m.fit(d.shop.transactions, d.shop.as_of),
        _hybrid_predict,
    ),
    "recency": ChurnSpec(
        RecencyBaseline, {}, _baseline_fit,
        lambda m, d, rows: m.predict_proba(_rows(d.at_cutoff, rows)),
    ),
    "rfm_score": ChurnSpec(
        RFMScoreBaseline, {}, _baseline_fit,
        lambda m, d, rows: m.predict_proba(_rows(d.at_cutoff, rows)),
        partition_invariant=False,
    ),
    "spend_rate": ChurnSpec(
        SpendRateBaseline, {"horizon_days": 90}, lambda m, d: m.fit(),
        lambda m, d, rows: pd.concat(
            [m.predict(_rows(d.at_cutoff, rows)), m.predict_proba(_rows(d.at_cutoff, rows))],
            axis=1,
        ),
    ),
}
NEEDS_FIT = [name for name in CHURN_SPECS if name != "spend_rate"]


@pytest.fixture(scope="module")
def churn_data() -> ChurnData:
    """CDNOW sample (2,357 customers): rolling-origin panel with BTYD features at the default
    cutoff, features at the cutoff and at the latest origin with its churn labels."""
    shop = load_dataset("cdnow-sample")
    panel = build_rolling_origin_panel(shop.transactions, CUTOFF, CHURN_HORIZON, btyd=True)
    latest = max(panel.origins)
    features, labels = panel.training()
    at_origin = features.xs(latest, level="origin")
    churned = labels.xs(latest, level="origin")["churned"].to_numpy()
    return ChurnData(shop, panel, panel.at_cutoff(), at_origin, churned)


@pytest.fixture(scope="module", params=list(CHURN_SPECS), ids=list(CHURN_SPECS))
def churn_spec(request) -> ChurnSpec:
    return CHURN_SPECS[request.param]


@pytest.fixture(scope="module")
def churn_fitted(churn_spec, churn_data):
    return churn_spec.fit(churn_spec.make(), churn_data)


def test_churn_estimator_parameter_checks(churn_spec):
    est = churn_spec.make()
    name = churn_spec.cls.__name__
    estimator_checks.check_no_attributes_set_in_init(name, est)
    estimator_checks.check_parameters_default_constructible(name, est)
    estimator_checks.check_get_params_invariance(name, est)
    estimator_checks.check_set_params(name, est)
    assert {k: est.get_params()[k] for k in churn_spec.params} == churn_spec.params
    twin = clone(est)
    assert type(twin) is churn_spec.cls and twin.get_params() == est.get_params()


@pytest.mark.parametrize("name", NEEDS_FIT)
def test_churn_estimator_not_fitted_before_fit(name, churn_data):
    spec = CHURN_SPECS[name]
    est = spec.make()
    with pytest.raises(NotFittedError, match=f"This {spec.cls.__name__} instance is not fitted yet"):
        spec.predict(est, churn_data, None)
    with pytest.raises(NotFittedError, match=f"This {spec.cls.__name__} instance is not fitted"):
        check_is_fitted(est)
    if isinstance(est, LGBMChurnModel | LGBMRevenueModel):
        for query in (est.feature_importance, lambda: est.with_calibration(None)):
            with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
                query()
    assert not [k for k in vars(est) if k.endswith("_")]


def test_churn_estimator_pickle_round_trip_keeps_predictions(churn_spec, churn_fitted, churn_data):
    restored = pickle.loads(pickle.dumps(churn_fitted))
    assert type(restored) is churn_spec.cls
    assert restored.get_params() == churn_fitted.get_params()
    pd.testing.assert_frame_equal(
        pd.DataFrame(churn_spec.predict(restored, churn_data, None)),
        pd.DataFrame(churn_spec.predict(churn_fitted, churn_data, None)),
    )


def test_churn_estimator_refit_clone_gives_identical_predictions(
    churn_spec, churn_fitted, churn_data
):
    twin = clone(churn_fitted)
    if churn_spec.cls is not SpendRateBaseline:
        with pytest.raises(NotFittedError):
            check_is_fitted(twin)
    twin = churn_spec.fit(twin, churn_data)
    whole = churn_spec.predict(churn_fitted, churn_data, None)
    assert len(whole) > 0 and np.isfinite(whole.to_numpy()).all()
    pd.testing.assert_frame_equal(
        pd.DataFrame(churn_spec.predict(twin, churn_data, None)), pd.DataFrame(whole)
    )


def test_churn_predictions_do_not_depend_on_the_batch(churn_spec, churn_fitted, churn_data):
    """Scoring 3 random parts of the customers (and 3 single customers) gives the values of
    scoring them all at once, exactly."""
    if not churn_spec.partition_invariant:
        pytest.skip("population-level by design (quintiles among / level of the scored rows)")
    whole = pd.DataFrame(churn_spec.predict(churn_fitted, churn_data, None))
    rng = np.random.default_rng(0)
    n = len(churn_data.at_cutoff)
    parts = [*np.array_split(rng.permutation(n), 3), *([i] for i in rng.choice(n, 3))]
    for rows in parts:
        rows = np.sort(np.asarray(rows))
        part = pd.DataFrame(churn_spec.predict(churn_fitted, churn_data, rows))
        pd.testing.assert_frame_equal(part, whole.loc[part.index])
        assert set(part.index) == set(churn_data.at_cutoff.index[rows])


def test_lgbm_params_are_one_parameter_seen_by_get_params():
    model = LGBMChurnModel(lgbm_params={"max_depth": 3, "num_leaves": 7})
    assert model.get_params()["lgbm_params"] == {"max_depth": 3, "num_leaves": 7}
    assert clone(model).get_params() == model.get_params()
    assert LGBMRevenueModel().get_params()["lgbm_params"] is None
    with pytest.raises(TypeError):  # no hidden **kwargs: get_params would not see them
        LGBMChurnModel(num_leaves=7)


def test_with_calibration_shares_boosters_and_keeps_the_original(churn_data):
    spec = CHURN_SPECS["lgbm_churn"]
    model = spec.fit(spec.make(), churn_data)
    before = model.predict_proba(churn_data.at_cutoff)
    anchored = model.with_calibration("btyd_level")
    assert anchored.boosters_ is model.boosters_ and model.calibration == "isotonic"
    pd.testing.assert_series_equal(model.predict_proba(churn_data.at_cutoff), before)
    expected = LGBMChurnModel(**{**spec.params, "calibration": "btyd_level"}).fit(
        panel=churn_data.panel
    )
    pd.testing.assert_series_equal(
        anchored.predict_proba(churn_data.at_cutoff),
        expected.predict_proba(churn_data.at_cutoff),
    )
