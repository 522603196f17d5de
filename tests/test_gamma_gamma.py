"""Gamma-Gamma spend model and CLV: published CDNOW values, lifetimes agreement, recovery."""

from __future__ import annotations

import lifetimes
import numpy as np
import pandas as pd
import pytest
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

from scoring.data import DataError, load_dataset
from scoring.features.rfm import rfm_summary
from scoring.models.btyd import BetaGeoModel, ParetoNBDModel, btyd_feature_frame
from scoring.models.gamma_gamma import GammaGammaModel, customer_lifetime_value


@pytest.fixture(scope="module")
def cdnow_rfm() -> pd.DataFrame:
    shop = load_dataset("cdnow-sample")
    return rfm_summary(shop.transactions, "1997-09-30")


def test_published_parameters_on_lifetimes_summary():
    """lifetimes' docs: p = 6.25, q = 3.74, v = 15.44 on its CDNOW summary with zbar."""
    summary = load_cdnow_summary_data_with_monetary_value()
    params = GammaGammaModel().fit(summary).params_
    assert params["p"] == pytest.approx(6.25, abs=5e-3)
    assert params["q"] == pytest.approx(3.74, abs=5e-3)
    assert params["v"] == pytest.approx(15.44, abs=1e-2)


def test_cdnow_sample_transactions_reproduce_published_parameters(cdnow_rfm):
    """Our RFM from the raw cdnow-sample log (cutoff 1997-10-01) gives the published values to
    0.2%: p = 6.2496, q = 3.7442, v = 15.4435 (lifetimes' summary: 6.2488, 3.7446, 15.4477)."""
    model = GammaGammaModel().fit(cdnow_rfm)
    assert model.params_["p"] == pytest.approx(6.25, rel=2e-3)
    assert model.params_["q"] == pytest.approx(3.74, rel=2e-3)
    assert model.params_["v"] == pytest.approx(15.44, rel=2e-3)
    assert model.n_customers_ == int((cdnow_rfm["frequency"] > 0).sum())
    assert model.converged_ and not model.fit_info_["q_constrained"]


def test_matches_lifetimes(cdnow_rfm):
    ours = GammaGammaModel().fit(cdnow_rfm)
    repeat = cdnow_rfm[cdnow_rfm["frequency"].to_numpy() > 0]
    theirs = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    for name, value in ours.params_.items():
        assert value == pytest.approx(theirs.params_[name], rel=1e-6)
    expected = ours.expected_order_value(cdnow_rfm)
    theirs.params_ = pd.Series(ours.params_)
    np.testing.assert_allclose(
        expected,
        theirs.conditional_expected_average_profit(
            cdnow_rfm["frequency"], cdnow_rfm["monetary_value"]
        ),
        rtol=1e-12,
    )
    one_time = cdnow_rfm["frequency"].to_numpy() == 0
    np.testing.assert_allclose(expected[one_time], ours.population_mean_order_value)


def test_one_time_buyers_get_the_population_mean_whatever_their_monetary_value(cdnow_rfm):
    model = GammaGammaModel().fit(cdnow_rfm)
    rfm = cdnow_rfm.head(50).copy()
    rfm.loc[rfm["frequency"] == 0, "monetary_value"] = 1e6
    values = model.expected_order_value(rfm)
    np.testing.assert_allclose(
        values[rfm["frequency"].to_numpy() == 0], model.population_mean_order_value
    )


@pytest.mark.parametrize("months, rate", [(12, 0.01), (3, 0.0), (24, 0.05)])
def test_clv_matches_lifetimes(cdnow_rfm, months, rate):
    bg = BetaGeoModel().fit(cdnow_rfm)
    gg = GammaGammaModel().fit(cdnow_rfm)
    ours = customer_lifetime_value(bg, gg, cdnow_rfm, months=months, monthly_discount_rate=rate)
    fitter = lifetimes.BetaGeoFitter().fit(
        cdnow_rfm["frequency"], cdnow_rfm["recency"], cdnow_rfm["T"]
    )
    fitter.params_ = pd.Series(bg.params_)  # compare the CLV formula at identical parameters
    spend = lifetimes.GammaGammaFitter()
    spend.params_ = pd.Series(gg.params_)
    theirs = spend.customer_lifetime_value(
        fitter,
        cdnow_rfm["frequency"],
        cdnow_rfm["recency"],
        cdnow_rfm["T"],
        cdnow_rfm["monetary_value"],
        time=months,
        discount_rate=rate,
        freq="D",
    )
    np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-9)


def test_clv_properties(cdnow_rfm):
    pareto = ParetoNBDModel.from_params({"r": 0.553, "alpha": 74.04, "s": 0.606, "beta": 81.68})
    gg = GammaGammaModel().fit(cdnow_rfm)
    np.testing.assert_array_equal(customer_lifetime_value(pareto, gg, cdnow_rfm, months=0), 0)
    base = customer_lifetime_value(pareto, gg, cdnow_rfm)
    assert np.isfinite(base).all() and (base > 0).all()
    assert (customer_lifetime_value(pareto, gg, cdnow_rfm, monthly_discount_rate=0.05) < base).all()
    assert (customer_lifetime_value(pareto, gg, cdnow_rfm, months=24) > base).all()
    undiscounted = customer_lifetime_value(pareto, gg, cdnow_rfm, monthly_discount_rate=0.0)
    np.testing.assert_allclose(
        undiscounted,
        pareto.expected_orders(cdnow_rfm, 360) * gg.expected_order_value(cdnow_rfm),
        rtol=1e-9,
    )
    features = btyd_feature_frame(cdnow_rfm, 182, pareto, gg)
    assert list(features.columns) == [
        "p_alive",
        "expected_orders_182d",
        "churn_probability_182d",
        "expected_days_to_next_order",
        "expected_order_value",
        "predicted_revenue_182d",
    ]
    np.testing.assert_allclose(
        features["predicted_revenue_182d"],
        features["expected_orders_182d"] * features["expected_order_value"],
    )


def _simulate_spend(p, q, v, n, seed):
    rng = np.random.default_rng(seed)
    frequency = rng.integers(1, 12, n).astype(float)
    nu = rng.gamma(q, 1.0 / v, n)  # per-customer rate of the Gamma(p, nu) order values
    totals = rng.gamma(p * frequency, 1.0 / nu)  # sum of `frequency` orders
    return pd.DataFrame(
        {"frequency": frequency, "recency": 100.0, "T": 200.0, "monetary_value": totals / frequency}
    )


def test_recovers_simulated_parameters():
    truth = {"p": 4.0, "q": 5.0, "v": 80.0}
    rfm = _simulate_spend(**truth, n=20_000, seed=1)
    model = GammaGammaModel().fit(rfm)
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.1), name
    again = GammaGammaModel().fit(rfm.sample(frac=1.0, random_state=2))
    assert again.params_ == model.params_


def test_heavy_tailed_spend_is_refused_unless_q_is_constrained():
    """True q < 1: the mean order value is infinite. Refused with a clear message, or fitted
    with q > 1 enforced (lifetimes' q_constraint) when asked, and recorded."""
    rfm = _simulate_spend(p=2.0, q=0.7, v=50.0, n=5_000, seed=3)
    with pytest.raises(DataError, match=r"too heavy-tailed .* q <= 1"):
        GammaGammaModel().fit(rfm)
    model = GammaGammaModel(q_constraint=True).fit(rfm)
    assert model.fit_info_["q_constrained"]
    assert model.params_["q"] > 1.0
    assert np.isfinite(model.expected_order_value(rfm)).all()
    assert np.isfinite(model.population_mean_order_value)


def test_errors(cdnow_rfm):
    bad = cdnow_rfm.copy()
    repeat = bad.index[bad["frequency"].to_numpy() > 0][:2]
    bad.loc[repeat, "monetary_value"] = 0.0
    with pytest.raises(DataError, match=r"2 repeat buyers have a value <= 0"):
        GammaGammaModel().fit(bad)
    lenient = GammaGammaModel(drop_nonpositive=True).fit(bad)
    assert lenient.fit_info_["n_dropped_nonpositive"] == 2
    assert lenient.n_customers_ == int((bad["frequency"] > 0).sum()) - 2
    assert np.isfinite(lenient.expected_order_value(bad)).all()
    with pytest.raises(DataError, match="monetary_value"):
        GammaGammaModel().fit(cdnow_rfm.drop(columns="monetary_value"))
    few = cdnow_rfm[cdnow_rfm["frequency"].to_numpy() > 0].head(5)
    with pytest.raises(DataError, match="only 5 customers with a repeat purchase"):
        GammaGammaModel().fit(few)
    nan = cdnow_rfm.copy()
    nan.iloc[0, nan.columns.get_loc("monetary_value")] = np.nan
    with pytest.raises(DataError, match="NaN"):
        GammaGammaModel().fit(nan)
    with pytest.raises(Exception, match="not fitted"):
        GammaGammaModel().expected_order_value(cdnow_rfm)
    model = GammaGammaModel().fit(cdnow_rfm)
    with pytest.raises(DataError, match="months"):
        customer_lifetime_value(BetaGeoModel().fit(cdnow_rfm), model, cdnow_rfm, months=-1)
