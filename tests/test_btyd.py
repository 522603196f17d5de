"""BTYD models: published CDNOW parameters, agreement with lifetimes, churn probability against
Monte-Carlo simulation, parameter recovery, numerical robustness and clear errors."""

from __future__ import annotations

import lifetimes
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special
from sklearn.metrics import roc_auc_score

from scoring.data import DataError, load_dataset
from scoring.features.rfm import calibration_and_holdout, rfm_summary
from scoring.models.btyd import (
    BetaGeoModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    _log_hyp2f1_b1,
    _log_hyp2f1_b1_series,
    _pareto_log_integral,
    btyd_feature_frame,
    simulate_bgnbd,
    simulate_pareto_nbd,
    unique_rows,
)

RFM = ["frequency", "recency", "T"]


@pytest.fixture(scope="module")
def cdnow_rfm() -> pd.DataFrame:
    shop = load_dataset("cdnow-sample")
    return rfm_summary(shop.transactions, "1997-09-30")


@pytest.fixture(scope="module")
def orii_holdout() -> pd.DataFrame:
    shop = load_dataset("online-retail-ii")
    return calibration_and_holdout(shop.transactions, "2011-06-09", 182)


def _lifetimes_fit(fitter, rfm):
    return fitter.fit(rfm["frequency"], rfm["recency"], rfm["T"])


# --- published values and lifetimes ------------------------------------------------------------


def test_bgnbd_reproduces_published_cdnow_parameters(cdnow_rfm):
    model = BetaGeoModel().fit(cdnow_rfm)
    p = model.params_
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414 per week, a = 0.793, b = 2.426
    assert p["r"] == pytest.approx(0.243, abs=6e-4)
    assert p["alpha"] / 7 == pytest.approx(4.414, abs=6e-4)
    assert p["alpha"] == pytest.approx(30.90, abs=6e-3)
    assert p["a"] == pytest.approx(0.793, abs=6e-4)
    assert p["b"] == pytest.approx(2.426, abs=6e-4)
    assert model.n_customers_ == 2357
    assert model.converged_ and model.fit_info_["ladder_step"] == 0
    assert model.fit_info_["n_unique_rows"] < len(cdnow_rfm)


def test_pareto_nbd_reproduces_published_cdnow_parameters(cdnow_rfm):
    p = ParetoNBDModel().fit(cdnow_rfm).params_
    # r = 0.553, alpha = 10.58, s = 0.606, beta = 11.67 (per week)
    assert p["r"] == pytest.approx(0.553, abs=6e-4)
    assert p["alpha"] / 7 == pytest.approx(10.58, abs=6e-3)
    assert p["s"] == pytest.approx(0.606, abs=6e-4)
    assert p["beta"] / 7 == pytest.approx(11.67, abs=6e-3)


@pytest.mark.parametrize(
    "model_cls, fitter_cls",
    [
        (BetaGeoModel, lifetimes.BetaGeoFitter),
        (ModifiedBetaGeoModel, lifetimes.ModifiedBetaGeoFitter),
    ],
)
def test_bg_family_matches_lifetimes(cdnow_rfm, model_cls, fitter_cls):
    ours = model_cls().fit(cdnow_rfm)
    theirs = _lifetimes_fit(fitter_cls(), cdnow_rfm)
    for name, value in ours.params_.items():
        assert value == pytest.approx(theirs.params_[name], rel=1e-4)
    # same parameters -> same predictions (ours in log space / Pfaff-transformed)
    same = model_cls.from_params(dict(theirs.params_))
    f, r, T = (cdnow_rfm[c] for c in RFM)
    np.testing.assert_allclose(
        same.p_alive(cdnow_rfm), theirs.conditional_probability_alive(f, r, T), rtol=1e-10
    )
    for horizon in (7, 30, 182, 365):
        np.testing.assert_allclose(
            same.expected_orders(cdnow_rfm, horizon),
            theirs.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, T),
            rtol=1e-9,
        )
    np.testing.assert_allclose(
        same.log_likelihood(cdnow_rfm).sum(), ours.log_likelihood_, rtol=1e-6
    )


def test_pareto_predictions_match_lifetimes_formulas(cdnow_rfm):
    np.random.seed(0)  # lifetimes' Pareto/NBD fit starts from unseeded random values
    theirs = _lifetimes_fit(lifetimes.ParetoNBDFitter(), cdnow_rfm)
    ours = ParetoNBDModel().fit(cdnow_rfm)
    for name, value in ours.params_.items():  # lifetimes: Nelder-Mead, tol 1e-4
        assert value == pytest.approx(theirs.params_[name], rel=2e-3)
    same = ParetoNBDModel.from_params(dict(theirs.params_))
    f, r, T = (cdnow_rfm[c] for c in RFM)
    np.testing.assert_allclose(
        same.p_alive(cdnow_rfm), theirs.conditional_probability_alive(f, r, T), rtol=1e-10
    )
    np.testing.assert_allclose(
        same.expected_orders(cdnow_rfm, 182),
        theirs.conditional_expected_number_of_purchases_up_to_time(182, f, r, T),
        rtol=1e-9,
    )


# --- churn probability against simulation --------------------------------------------------------

H = 90.0
SIMULATIONS = {
    "bgnbd": (
        BetaGeoModel,
        {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5},
        lambda p, T, seed: simulate_bgnbd(p, T, H, seed),
    ),
    "mbgnbd": (
        ModifiedBetaGeoModel,
        {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5},
        lambda p, T, seed: simulate_bgnbd(p, T, H, seed, modified=True),
    ),
    "pareto": (
        ParetoNBDModel,
        {"r": 0.6, "alpha": 25.0, "s": 0.7, "beta": 60.0},
        lambda p, T, seed: simulate_pareto_nbd(p, T, H, seed),
    ),
}


@pytest.mark.parametrize("name", list(SIMULATIONS))
def test_churn_probability_is_calibrated_on_simulated_customers(name):
    """P(no order in (T, T+H] | history) is a conditional probability: within any group of
    histories its mean must equal the simulated share of customers without an order."""
    model_cls, params, simulate = SIMULATIONS[name]
    ages = np.random.default_rng(1).uniform(30, 400, 120_000)
    sim = simulate(params, ages, 7)
    pred = btyd_feature_frame(sim, H, model_cls.from_params(params))
    churn = pred["churn_probability_90d"].to_numpy()
    no_order = (sim["frequency_holdout"] == 0).to_numpy()
    frame = pd.DataFrame(
        {
            "churn": churn,
            "no_order": no_order,
            "p_alive": pred["p_alive"],
            "alive": sim["alive"],
            "expected": pred["expected_orders_90d"],
            "orders": sim["frequency_holdout"],
            "decile": pd.qcut(pd.Series(churn).rank(method="first"), 10, labels=False).to_numpy(),
            "freq_bin": pd.cut(sim["frequency"], [-1, 0, 1, 2, 4, 8, np.inf], labels=False),
        }
    )
    for key in ("decile", "freq_bin"):
        means = frame.groupby(key).mean()
        np.testing.assert_allclose(means["churn"], means["no_order"], atol=0.02)
        np.testing.assert_allclose(means["p_alive"], means["alive"], atol=0.02)
        np.testing.assert_allclose(means["expected"], means["orders"], atol=0.03, rtol=0.08)
    # the point of the closed form: not 1 - P(alive)
    one_timers = sim["frequency"].to_numpy() == 0
    assert np.mean(np.abs(churn - (1 - pred["p_alive"].to_numpy()))) > 0.1
    if name == "bgnbd":
        assert np.all(pred["p_alive"].to_numpy()[one_timers] == 1.0)
        assert np.all(churn[one_timers] > 0.3)
    assert roc_auc_score(no_order, churn) > 0.7


def test_simulator_matches_lifetimes_unconditional_expectation():
    params = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5}
    sim = simulate_bgnbd(params, np.full(100_000, 200.0), seed=3)
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series(params)
    expected = fitter.expected_number_of_purchases_up_to_time(200.0)
    assert sim["frequency"].mean() == pytest.approx(expected, rel=0.02)


# --- parameter recovery ----------------------------------------------------------------------


def test_bgnbd_recovers_simulated_parameters_and_ranks_churn():
    truth = {"r": 0.7, "alpha": 60.0, "a": 0.6, "b": 3.0}
    ages = np.random.default_rng(2).integers(60, 731, 60_000).astype(float)
    sim = simulate_bgnbd(truth, ages, holdout_days=182, seed=11, integer_days=True)
    model = BetaGeoModel().fit(sim)
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.12), name
    churn = model.prob_no_order(sim, 182)
    no_order = (sim["frequency_holdout"] == 0).to_numpy()
    assert roc_auc_score(no_order, churn) > 0.75
    oracle = BetaGeoModel.from_params(truth).prob_no_order(sim, 182)
    assert np.corrcoef(churn, oracle)[0, 1] > 0.99
    # the fit is deterministic and only sees unique rows with their counts
    again = BetaGeoModel().fit(pd.concat([sim, sim]).sample(frac=1.0, random_state=0))
    for name, value in model.params_.items():
        assert again.params_[name] == pytest.approx(value, rel=1e-6)


def test_pareto_recovers_simulated_parameters():
    truth = {"r": 0.6, "alpha": 30.0, "s": 0.8, "beta": 120.0}
    ages = np.random.default_rng(4).integers(60, 366, 8_000).astype(float)
    sim = simulate_pareto_nbd(truth, ages, holdout_days=120, seed=5, integer_days=True)
    model = ParetoNBDModel().fit(sim)
    assert model.fit_info_["ladder_step"] == 0
    assert model.params_["r"] == pytest.approx(truth["r"], rel=0.15)
    assert model.params_["alpha"] == pytest.approx(truth["alpha"], rel=0.2)
    # s and beta are weakly identified separately; their ratio (mean dropout rate) is not
    mean_rate = model.params_["s"] / model.params_["beta"]
    assert mean_rate == pytest.approx(truth["s"] / truth["beta"], rel=0.25)
    no_order = (sim["frequency_holdout"] == 0).to_numpy()
    assert roc_auc_score(no_order, model.prob_no_order(sim, 120)) > 0.75


# --- numerical robustness ------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_analytic_gradient_matches_central_differences(cdnow_rfm, model_cls):
    model = model_cls()
    x, t_x, T = (cdnow_rfm[c].to_numpy() for c in RFM)
    (ux, ut, uT), _, counts = unique_rows(x, t_x, T)
    data = model._prepare(ux, ut / T.max(), uT / T.max(), counts / counts.sum())
    for point in ([0.1, -1.0, 0.3, 0.5], [-1.4, 0.2, -0.5, 1.2], [0.5, 2.0, 1.5, -2.0]):
        point = np.array(point)
        _, grad = model._objective(point, data, 1e-3)
        steps = np.eye(4) * 1e-6
        numeric = [
            (
                model._objective(point + h, data, 1e-3)[0]
                - model._objective(point - h, data, 1e-3)[0]
            )
            / 2e-6
            for h in steps
        ]
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_log_hypergeometric_matches_exact_series_where_scipy_fails():
    rng = np.random.default_rng(0)
    n = 3000
    A = np.exp(rng.uniform(np.log(0.05), np.log(3000), n))
    e = np.exp(rng.uniform(np.log(0.05), np.log(300), n))
    e[::3] = np.round(e[::3]) + 1e-12  # near-integer c - a - b: scipy's hyp2f1 is wrong here
    w = np.where(
        rng.random(n) < 0.5,
        rng.uniform(0, 1, n),
        1 - np.exp(rng.uniform(np.log(1e-4), np.log(0.5), n)),
    )
    keep = A + e > 1
    A, e, w = A[keep], e[keep], w[keep]
    exact = _log_hyp2f1_b1_series(A, e, w)
    np.testing.assert_allclose(_log_hyp2f1_b1(A, e, w), exact, rtol=1e-9, atol=1e-9)
    scipy_values = np.log(special.hyp2f1(A, 1.0, A + e, w))
    assert (~np.isfinite(scipy_values)).sum() > 0  # why we do not use it


@pytest.mark.parametrize(
    "params",
    [
        (0.75, 75.0, 1.7, 4500.0),
        (0.5, 300.0, 2.0, 10.0),
        (0.3, 5.0, 0.4, 5.0),
        (2.0, 1.0, 150.0, 20_000.0),
    ],
)
def test_pareto_dropout_integral_matches_quadrature(params):
    r, alpha, s, beta = params
    x = np.array([0.0, 1.0, 5.0, 40.0, 171.0, 171.0])
    t_lo = np.array([0.0, 10.0, 100.0, 300.0, 540.0, 0.0])
    t_hi = np.array([365.0, 30.0, 101.0, 554.0, 554.0, 3.0])
    ours = _pareto_log_integral(r, alpha, s, beta, x, t_lo, t_hi)
    for i in range(len(x)):

        def log_f(tau, i=i):
            return -(r + x[i]) * np.log(alpha + tau) - (s + 1) * np.log(beta + tau)

        peak = log_f(t_lo[i])
        value, _ = integrate.quad(
            lambda tau, i=i, peak=peak: np.exp(log_f(tau, i) - peak),
            t_lo[i],
            t_hi[i],
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )
        assert ours[i] == pytest.approx(peak + np.log(value), rel=1e-9, abs=1e-9)


def test_bgnbd_expected_orders_matches_quadrature_near_a_equal_1():
    """The Pfaff-transformed closed form against E_p[(1 - (1 + pH/(alpha+T))^-(r+x)) / p]."""
    for a in (0.3, 1.0 - 1e-5, 1.0, 1.0 + 1e-5, 4.0):
        params = {"r": 0.6, "alpha": 40.0, "a": a, "b": 2.0}
        model = BetaGeoModel.from_params(params)
        rfm = pd.DataFrame(
            {
                "frequency": [0.0, 3.0, 150.0],
                "recency": [0.0, 100.0, 300.0],
                "T": [20.0, 300.0, 300.0],
            }
        )
        ours = model.expected_orders(rfm, 365)
        p_alive = model.p_alive(rfm)
        for i, row in rfm.iterrows():
            R, b_post = params["r"] + row["frequency"], params["b"] + row["frequency"]
            scale = 365 / (params["alpha"] + row["T"])

            def integrand(p, R=R, scale=scale, b_post=b_post, a=a):
                gain = -np.expm1(-R * np.log1p(p * scale)) / p
                return gain * np.exp(
                    (a - 1) * np.log(p) + (b_post - 1) * np.log1p(-p) - special.betaln(a, b_post)
                )

            value, _ = integrate.quad(integrand, 0, 1, epsabs=0, epsrel=1e-11, limit=200)
            assert ours[i] == pytest.approx(p_alive[i] * value, rel=1e-8)


def test_heavy_buyers_of_online_retail_are_finite(orii_holdout):
    """lifetimes' Pareto/NBD gives NaN for 4 customers with 91-164 repeat purchase days who
    bought on the last day of the calibration period; every prediction here is finite."""
    rfm = orii_holdout
    heavy = rfm.index[((rfm["frequency"] >= 90) & (rfm["recency"] == rfm["T"])).to_numpy()]
    assert sorted(heavy) == ["12748", "14527", "14911", "17841"]
    lifetimes_params = {"r": 0.749338, "alpha": 75.014136, "s": 1.727070, "beta": 4507.798176}
    fitter = lifetimes.ParetoNBDFitter()
    fitter.params_ = pd.Series(lifetimes_params)
    f, r, T = (rfm[c] for c in RFM)
    with np.errstate(all="ignore"):
        theirs = np.asarray(
            fitter.conditional_expected_number_of_purchases_up_to_time(182, f, r, T)
        )
    assert set(rfm.index[~np.isfinite(theirs)]) == set(heavy)
    ours = ParetoNBDModel.from_params(lifetimes_params)
    pred = ours.predict(rfm, 182)
    assert np.isfinite(pred.to_numpy()).all()
    ok = np.isfinite(theirs)
    np.testing.assert_allclose(pred["expected_orders"].to_numpy()[ok], theirs[ok], rtol=1e-8)
    heavy_pred = pred.loc[heavy]
    assert (heavy_pred["p_alive"] > 0.99).all()
    # about their historical purchase-day rate over the next 182 days
    history_rate = (rfm.loc[heavy, "frequency"] / rfm.loc[heavy, "T"] * 182).to_numpy()
    np.testing.assert_allclose(heavy_pred["expected_orders"], history_rate, rtol=0.15)
    # an active heavy buyer orders within 182 days; the rest is the risk of dropping out first
    assert (heavy_pred["churn_probability"] < 0.01).all()
    bg = BetaGeoModel().fit(rfm)
    assert np.isfinite(bg.predict(rfm, 182).to_numpy()).all()


def test_extreme_rows_and_parameters_give_finite_probabilities():
    rfm = pd.DataFrame(
        {
            "frequency": [0, 0, 1, 5, 200, 1000, 1000, 3, 50],
            "recency": [0, 0, 0, 2, 400, 1000, 999, 3, 10],
            "T": [0, 5000, 1, 2, 400, 1000, 1000, 3000, 3000],
        },
        dtype=float,
    )
    models = [
        BetaGeoModel.from_params({"r": 0.24, "alpha": 30.9, "a": 0.79, "b": 2.43}),
        BetaGeoModel.from_params({"r": 50.0, "alpha": 0.01, "a": 1e-3, "b": 1e4}),
        ModifiedBetaGeoModel.from_params({"r": 0.5, "alpha": 1e4, "a": 40.0, "b": 0.01}),
        ParetoNBDModel.from_params({"r": 0.55, "alpha": 74.0, "s": 0.61, "beta": 81.7}),
        ParetoNBDModel.from_params({"r": 0.75, "alpha": 0.5, "s": 2000.0, "beta": 1e7}),
        ParetoNBDModel.from_params({"r": 3.0, "alpha": 1e5, "s": 0.05, "beta": 0.1}),
    ]
    for model in models:
        for horizon in (0, 1, 182, 3650):
            pred = model.predict(rfm, horizon)
            assert np.isfinite(pred.to_numpy()).all(), (model, horizon)
            assert pred[["p_alive", "churn_probability"]].stack().between(0, 1).all()
        short, long = model.prob_no_order(rfm, 30), model.prob_no_order(rfm, 365)
        assert np.all(long <= short + 1e-12)
        assert np.all(model.expected_orders(rfm, 365) >= model.expected_orders(rfm, 30) - 1e-12)
        np.testing.assert_array_equal(model.prob_no_order(rfm, 0), 1.0)
        waits = model.expected_days_to_next_order(rfm)
        assert np.all((waits >= 0) & (waits <= model.max_days_to_next_order))


# --- API, ladder and errors ----------------------------------------------------------------------


def test_predict_frame_and_feature_frame(cdnow_rfm):
    model = BetaGeoModel().fit(cdnow_rfm)
    pred = model.predict(cdnow_rfm, 182)
    assert list(pred.columns) == [
        "p_alive",
        "expected_orders",
        "churn_probability",
        "expected_days_to_next_order",
    ]
    assert pred.index.equals(cdnow_rfm.index)
    np.testing.assert_allclose(pred["churn_probability"], model.prob_no_order(cdnow_rfm, 182))
    np.testing.assert_allclose(
        pred["expected_orders"], model.cumulative_expected_orders(cdnow_rfm, [0, 182])[:, 1]
    )
    features = btyd_feature_frame(cdnow_rfm, 182, model)
    assert list(features.columns) == [
        "p_alive",
        "expected_orders_182d",
        "churn_probability_182d",
        "expected_days_to_next_order",
    ]
    repeat = cdnow_rfm["frequency"].to_numpy() > 0
    waits = pred["expected_days_to_next_order"].to_numpy()
    assert np.median(waits[repeat]) < np.median(waits[~repeat])


def test_same_input_same_output(cdnow_rfm):
    first = BetaGeoModel().fit(cdnow_rfm)
    second = BetaGeoModel().fit(cdnow_rfm.sample(frac=1.0, random_state=3))
    assert first.params_ == second.params_
    shuffled = cdnow_rfm.sample(frac=1.0, random_state=4)
    pd.testing.assert_frame_equal(
        first.predict(shuffled, 90), first.predict(cdnow_rfm, 90).loc[shuffled.index]
    )


def test_penalizer_ladder_on_degenerate_dropout():
    """Simulated customers with (almost) identical dropout rates: the unpenalized Pareto/NBD
    likelihood keeps rising as s, beta -> infinity; the ladder moves to a penalizer."""
    ages = np.random.default_rng(0).integers(30, 366, 2000).astype(float)
    sim = simulate_pareto_nbd(
        {"r": 0.8, "alpha": 40.0, "s": 1e4, "beta": 2e6}, ages, seed=1, integer_days=True
    )
    model = ParetoNBDModel().fit(sim)
    info = model.fit_info_
    assert info["ladder_step"] >= 1 and info["penalizer_coef"] > 0
    assert not info["attempts"][0]["accepted"]
    assert "diverging" in info["attempts"][0]["reason"]
    assert np.isfinite(model.predict(sim, 90).to_numpy()).all()


def test_no_dropout_at_all_is_refused_with_the_ladder_in_the_message():
    """Everybody bought on the last day: dropout probability -> 0 (a -> 0), which no L2
    penalty prevents."""
    rng = np.random.default_rng(0)
    T = rng.integers(50, 300, 200).astype(float)
    rfm = pd.DataFrame({"frequency": rng.integers(1, 10, 200).astype(float), "recency": T, "T": T})
    with pytest.raises(DataError, match=r"did not converge.*penalizer 0\.01: diverging"):
        BetaGeoModel().fit(rfm)


def test_online_retail_pareto_fit_uses_the_ladder(orii_holdout):
    model = ParetoNBDModel().fit(orii_holdout)
    assert model.fit_info_["ladder_step"] == 1
    churn = model.prob_no_order(orii_holdout, 182)
    no_order = (orii_holdout["frequency_holdout"] == 0).to_numpy()
    assert roc_auc_score(no_order, churn) > 0.79


def test_fit_refuses_degenerate_data():
    rng = np.random.default_rng(0)
    good = pd.DataFrame({"frequency": rng.integers(0, 4, 50).astype(float)})
    good["T"] = 100.0
    good["recency"] = np.where(good["frequency"] > 0, 50.0, 0.0)
    with pytest.raises(DataError, match="only 10 customers"):
        BetaGeoModel().fit(good.iloc[:10])
    with pytest.raises(DataError, match="repeat purchase"):
        BetaGeoModel().fit(good.assign(frequency=0.0, recency=0.0))
    with pytest.raises(DataError, match="'T' is 0"):
        BetaGeoModel().fit(good.assign(T=0.0, recency=0.0))
    bad = good.copy()
    bad.loc[bad.index[:3], "recency"] = np.nan
    with pytest.raises(DataError, match=r"'recency': 3 of 50 rows are NaN"):
        ParetoNBDModel().fit(bad)
    with pytest.raises(DataError, match=r"'T': 1 of 50 rows are negative"):
        BetaGeoModel().fit(good.assign(T=[-1.0] + [100.0] * 49))
    with pytest.raises(DataError, match="larger than T"):
        BetaGeoModel().fit(good.assign(T=10.0))
    with pytest.raises(DataError, match="whole numbers"):
        BetaGeoModel().fit(good.assign(frequency=good["frequency"] + 0.5))
    with pytest.raises(DataError, match="missing column"):
        BetaGeoModel().fit(good.drop(columns="T"))
    with pytest.raises(DataError, match="one-time buyers"):
        BetaGeoModel().fit(good.assign(recency=50.0))
    with pytest.raises(DataError, match="horizon_days"):
        BetaGeoModel.from_params({"r": 1, "alpha": 1, "a": 1, "b": 1}).predict(good, -5)
    with pytest.raises(DataError, match="must be finite and > 0"):
        ParetoNBDModel.from_params({"r": 1, "alpha": 1, "s": 0, "beta": 1})
    with pytest.raises(Exception, match="not fitted"):
        BetaGeoModel().p_alive(good)


def _reference_unique_rows(*columns):
    """np.unique of each column (NaN one value), then of the combined rank key."""
    ranks = [np.unique(c, return_inverse=True) for c in columns]
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for distinct, inverse in ranks:
        key = key * len(distinct) + inverse.ravel()
    _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True,
                                          return_counts=True)
    return [c[first] for c in columns], inverse.ravel(), counts.astype(float)


def test_unique_rows_matches_a_plain_numpy_reference():
    """``unique_rows`` (hash factorize per column, then of the combined key) gives the
    reference's sorted distinct rows, inverse and counts, NaN and -0.0 included; without NaN
    they are ``np.unique(axis=0)``'s."""
    rng = np.random.default_rng(3)
    n = 5000
    x = rng.integers(0, 8, n).astype(float)
    t_x = rng.integers(0, 30, n).astype(float) * (x > 0)
    T = rng.integers(1, 40, n).astype(float)
    t_x[:7] = -0.0
    for columns in ((x, t_x, T), (x, t_x, np.where(np.arange(n) < 3, np.nan, T))):
        got, inverse, counts = unique_rows(*columns)
        want, want_inverse, want_counts = _reference_unique_rows(*columns)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(inverse, want_inverse)
        np.testing.assert_array_equal(counts, want_counts)
        for a, c in zip(got, columns, strict=True):
            np.testing.assert_array_equal(a[inverse], c)
    stacked = np.column_stack([x, t_x, T])
    distinct, inverse_axis, counts_axis = np.unique(stacked, axis=0, return_inverse=True,
                                                    return_counts=True)
    got, inverse, counts = unique_rows(x, t_x, T)
    np.testing.assert_array_equal(np.column_stack(got), distinct)
    np.testing.assert_array_equal(inverse, inverse_axis.ravel())
    np.testing.assert_array_equal(counts, counts_axis)
