"""Campaign measurement: outcomes, per-arm effects (plain / adjusted), report, power, Qini, plots."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from matplotlib.figure import Figure
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from scoring.campaign import OUTCOME_COLUMNS
from scoring.campaign.measure import (
    _cuped,
    _lin,
    _usable_covariates,
    _welch,
    arm_effects,
    balance_checks,
    campaign_report,
)
from scoring.campaign.outcomes import campaign_outcomes
from scoring.campaign.plots import (
    arm_effects_figure,
    qini_curves_figure,
    uplift_by_decile_figure,
)
from scoring.campaign.power import (
    minimum_detectable_effect,
    minimum_detectable_effect_continuous,
    required_control_share,
    required_control_share_continuous,
)
from scoring.campaign.qini import qini_coefficient, qini_curve, uplift_by_quantile
from scoring.data.errors import DataError

TRUE_EFFECT = {"control": 0.0, "bonus_25": 3.0, "bonus_50": 6.0}


def simulate(n: int = 3000, seed: int = 0, noise: float = 10.0) -> pd.DataFrame:
    """Outcomes table with known effects: revenue = 20 + 0.5 * pre_revenue + effect + noise."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(list(TRUE_EFFECT), size=n, p=[0.3, 0.35, 0.35])
    effect = pd.Series(arm).map(TRUE_EFFECT).to_numpy()
    treated = arm != "control"
    pre_revenue = rng.gamma(2.0, 50.0, n)
    pre_orders = rng.poisson(1 + pre_revenue / 50)
    revenue = 20 + 0.5 * pre_revenue + effect + rng.normal(0, noise, n)
    p_conv = np.clip(0.1 + 0.002 * pre_revenue + 0.05 * treated, 0, 1)
    converted = rng.random(n) < p_conv
    orders = np.where(converted, 1 + rng.poisson(1 + pre_orders / 4), 0)
    bonus_amount = np.where(arm == "bonus_50", 10.0, np.where(arm == "bonus_25", 5.0, 0.0))
    bonus_cost = np.where(treated & converted, bonus_amount, 0.0)
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "arm": arm,
        "bonus_amount": bonus_amount,
        "offer_type": rng.choice(["discount", "points"], size=n),
        "value_tier": rng.choice(["low", "mid", "high", "vip"], size=n,
                                 p=[0.5, 0.35, 0.145, 0.005]),
        "lifecycle_stage": rng.choice(["new", "active", "lapsing"], size=n),
        "churn_probability": rng.random(n),
        "orders": orders,
        "revenue": revenue,
        "converted": converted,
        "pre_orders": pre_orders,
        "pre_revenue": pre_revenue,
        "treated": treated,
        "bonus_cost": bonus_cost,
        "net_revenue": revenue - bonus_cost,
    })


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate()


# ------------------------------------------------------------------ plain vs scipy / statsmodels

@pytest.mark.parametrize("outcome", ["revenue", "converted", "orders"])
def test_plain_effects_match_scipy_welch(sim, outcome):
    table = arm_effects(sim, outcome).set_index("arm")
    assert list(table.index) == ["control", "bonus_25", "bonus_50"]
    assert table.loc["control", "method"] == "reference"
    assert np.isnan(table.loc["control", "effect"])
    y_c = sim.loc[sim["arm"] == "control", outcome].to_numpy(float)
    for arm in ("bonus_25", "bonus_50"):
        y_t = sim.loc[sim["arm"] == arm, outcome].to_numpy(float)
        ref = stats.ttest_ind(y_t, y_c, equal_var=False)
        ci = ref.confidence_interval(0.95)
        row = table.loc[arm]
        assert row["n"] == len(y_t)
        assert row["mean"] == pytest.approx(y_t.mean(), rel=1e-12)
        assert row["effect"] == pytest.approx(y_t.mean() - y_c.mean(), rel=1e-12, abs=1e-14)
        assert row["se"] == pytest.approx(
            np.sqrt(y_t.var(ddof=1) / len(y_t) + y_c.var(ddof=1) / len(y_c)), rel=1e-10)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)
        assert row["ci_low"] == pytest.approx(ci.low, rel=1e-8)
        assert row["ci_high"] == pytest.approx(ci.high, rel=1e-8)
        assert row["df"] == pytest.approx(ref.df, rel=1e-10)
        assert row["relative_lift"] == pytest.approx(row["effect"] / y_c.mean(), rel=1e-12)
        assert row["method"] == "welch"


def test_alpha_changes_interval(sim):
    wide = arm_effects(sim, "revenue", alpha=0.01).iloc[1]
    narrow = arm_effects(sim, "revenue", alpha=0.10).iloc[1]
    y_t = sim.loc[sim["arm"] == wide["arm"], "revenue"]
    y_c = sim.loc[sim["arm"] == "control", "revenue"]
    ci = stats.ttest_ind(y_t, y_c, equal_var=False).confidence_interval(0.99)
    assert wide["ci_low"] == pytest.approx(ci.low, rel=1e-8)
    assert wide["ci_high"] - wide["ci_low"] > narrow["ci_high"] - narrow["ci_low"]


def test_dummy_regression_hc2_equals_welch_se(sim):
    sub = sim[sim["arm"].isin(["control", "bonus_50"])]
    y = sub["revenue"].to_numpy(float)
    d = (sub["arm"] == "bonus_50").to_numpy()
    lin = _lin(y, d, np.empty((len(y), 0)), 0.05)
    welch = _welch(y[d], y[~d], 0.05)
    assert lin["effect"] == pytest.approx(welch["effect"], rel=1e-10)
    assert lin["se"] == pytest.approx(welch["se"], rel=1e-10)   # HC2 == Welch SE exactly
    assert lin["df"] == len(y) - 2                              # differs only by the df


def test_lin_adjustment_matches_statsmodels_formula(sim):
    table = arm_effects(sim, "revenue", covariates=("pre_revenue", "pre_orders")).set_index("arm")
    sub = sim[sim["arm"].isin(["control", "bonus_25"])].copy()
    sub["d"] = (sub["arm"] == "bonus_25").astype(float)
    for c in ("pre_revenue", "pre_orders"):
        sub[c + "_c"] = sub[c] - sub[c].mean()
    fit = smf.ols("revenue ~ d * (pre_revenue_c + pre_orders_c)", data=sub).fit(
        cov_type="HC2", use_t=True)
    row = table.loc["bonus_25"]
    assert row["method"] == "lin_hc2"
    assert row["effect"] == pytest.approx(fit.params["d"], rel=1e-9)
    assert row["se"] == pytest.approx(fit.bse["d"], rel=1e-9)
    assert row["p_value"] == pytest.approx(fit.pvalues["d"], rel=1e-6, abs=1e-300)
    low, high = fit.conf_int().loc["d"]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-9)


def test_cuped_theta_pooled(sim):
    sub = sim[sim["arm"].isin(["control", "bonus_50"])]
    y = sub["revenue"].to_numpy(float)
    x = sub["pre_revenue"].to_numpy(float)
    d = (sub["arm"] == "bonus_50").to_numpy()
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    y_adj = y - theta * (x - x.mean())
    ref = stats.ttest_ind(y_adj[d], y_adj[~d], equal_var=False)
    res = _cuped(y, d, x[:, None], 0.05)
    assert res["effect"] == pytest.approx(y_adj[d].mean() - y_adj[~d].mean(), rel=1e-9)
    assert res["p_value"] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    table = arm_effects(sim, "revenue", covariates=("pre_revenue",), method="cuped")
    assert table.iloc[2]["method"] == "cuped_welch"
    assert table.iloc[2]["effect"] == pytest.approx(res["effect"], rel=1e-9)


def test_adjusted_is_narrower_and_unbiased(sim):
    plain = arm_effects(sim, "revenue").set_index("arm")
    adjusted = arm_effects(sim, "revenue", covariates=("pre_revenue",)).set_index("arm")
    for arm in ("bonus_25", "bonus_50"):
        w_plain = plain.loc[arm, "ci_high"] - plain.loc[arm, "ci_low"]
        w_adj = adjusted.loc[arm, "ci_high"] - adjusted.loc[arm, "ci_low"]
        assert w_adj < 0.5 * w_plain          # pre_revenue explains most of the variance
        assert abs(adjusted.loc[arm, "effect"] - TRUE_EFFECT[arm]) < 3 * adjusted.loc[arm, "se"]
        assert adjusted.loc[arm, "ci_low"] < TRUE_EFFECT[arm] < adjusted.loc[arm, "ci_high"]


def test_interval_coverage_over_replications():
    start = time.perf_counter()
    hits = {"welch": 0, "lin_hc2": 0}
    reps = 200
    for seed in range(reps):
        frame = simulate(n=300, seed=1000 + seed, noise=15.0)
        frame = frame[frame["arm"].isin(["control", "bonus_50"])]
        for covariates in ((), ("pre_revenue",)):
            row = arm_effects(frame, "revenue", covariates=covariates).iloc[1]
            hits[row["method"]] += row["ci_low"] <= TRUE_EFFECT["bonus_50"] <= row["ci_high"]
    for method, hit in hits.items():
        assert 0.90 <= hit / reps <= 0.99, (method, hit / reps)
    assert time.perf_counter() - start < 10


def test_not_estimable_gives_nan():
    frame = pd.DataFrame({"arm": ["control", "control", "a"], "y": [1.0, 2.0, 3.0]})
    row = arm_effects(frame, "y").iloc[1]
    assert row["effect"] == pytest.approx(1.5)
    assert np.isnan(row["se"]) and np.isnan(row["p_value"])


def test_arm_effects_refuses_bad_input(sim):
    with pytest.raises(DataError, match="control arm 'ctrl'"):
        arm_effects(sim, "revenue", control_arm="ctrl")
    bad = sim.copy()
    bad.loc[:4, "pre_revenue"] = np.nan
    with pytest.raises(DataError, match="'pre_revenue': 5 missing"):
        arm_effects(bad, "revenue", covariates=("pre_revenue",))
    with pytest.raises(DataError, match="missing column"):
        arm_effects(sim, "nope")


# ------------------------------------------------------------------ report

def test_report_json_round_trip_and_content(sim):
    report = campaign_report(sim)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["arms"] == ["control", "bonus_25", "bonus_50"]
    assert report["covariates"] == ["pre_revenue", "pre_orders", "churn_probability"]
    overall = {e["arm"]: e for e in report["overall"]}
    assert overall["control"]["bonus_cost"]["total"] == 0
    b50 = overall["bonus_50"]
    table = arm_effects(sim, "revenue").set_index("arm")
    rev = b50["outcomes"]["revenue"]
    assert rev["plain"]["effect"] == pytest.approx(table.loc["bonus_50", "effect"])
    assert rev["plain"]["method"] == "welch" and rev["adjusted"]["method"] == "lin_hc2"
    assert rev["ci_width_reduction"] > 0.5
    assert 0 <= b50["outcomes"]["converted"]["mean"] <= 1
    mask = sim["arm"] == "bonus_50"
    assert b50["bonus_cost"]["total"] == pytest.approx(sim.loc[mask, "bonus_cost"].sum())
    net = b50["net_incremental_revenue"]
    assert net["basis"] == "adjusted"
    assert net["per_customer"]["effect"] == b50["outcomes"]["net_revenue"]["adjusted"]["effect"]
    assert net["total"]["effect"] == pytest.approx(net["per_customer"]["effect"] * mask.sum())
    assert net["total"]["ci_low"] < net["total"]["effect"] < net["total"]["ci_high"]
    notes = " ".join(report["notes"])
    for phrase in ("stable hash", "Intention to treat", "Welch", "HC2", "not corrected"):
        assert phrase in notes


def test_report_segments_flag_small_cells(sim):
    report = campaign_report(sim, min_cell=30)
    json.dumps(report, allow_nan=False)
    assert set(report["segments"]) == {"value_tier", "lifecycle_stage", "offer_type",
                                       "churn_decile"}
    deciles = report["segments"]["churn_decile"]
    assert [c["value"] for c in deciles] == list(range(1, 11))
    assert sum(c["customers"] for c in deciles) == len(sim)
    tiers = {c["value"]: c for c in report["segments"]["value_tier"]}
    assert tiers["vip"]["small_cell"] is True
    assert "fewer than 30" in tiers["vip"]["warning"]
    assert tiers["low"]["small_cell"] is False and tiers["low"]["warning"] is None
    low_arm = tiers["low"]["arms"][1]
    sub = sim[sim["value_tier"] == "low"]
    table = arm_effects(sub, "revenue").set_index("arm")
    assert low_arm["outcomes"]["revenue"]["plain"]["effect"] == pytest.approx(
        table.loc[low_arm["arm"], "effect"])


def test_report_tiny_cells_and_missing_segments():
    frame = simulate(n=40, seed=3)
    report = campaign_report(frame.drop(columns=["offer_type"]), min_cell=30)
    text = json.dumps(report, allow_nan=False)   # NaN -> None, even for one-customer cells
    assert "offer_type" in report["segments_skipped"]
    assert all(c["small_cell"] for cells in report["segments"].values() for c in cells)
    assert "null" in text


# ------------------------------------------------------------------ outcomes from transactions

def _assignments() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "arm": ["control", "bonus_50", "bonus_50", "control"],
        "bonus_amount": [0.0, 10.0, 10.0, 0.0],
        "value_tier": ["low", "high", "mid", "low"],
    })


def _transactions() -> pd.DataFrame:
    rows = [
        # customer, timestamp, amount, order
        ("a", "2024-03-01 00:00", 20.0, "o1"),    # first instant: in the window
        ("a", "2024-03-01 10:00", 5.0, "o1"),     # same order, second line
        ("a", "2024-03-05 12:00", -20.0, "o1c"),  # cancellation: ignored
        ("a", "2024-02-29 23:59", 7.0, "p1"),     # pre-period
        ("b", "2024-03-30 23:59", 30.0, "o2"),    # last instant in the 30-day window
        ("b", "2024-03-31 00:00", 99.0, "o3"),    # end is excluded
        ("b", "2023-03-02 00:00", 11.0, "p2"),    # pre-period starts 2023-03-02 (365 d)
        ("b", "2023-03-01 23:59", 13.0, "p3"),    # before the pre-period
        ("c", "2024-03-10 00:00", -15.0, "r1"),   # only a return: not converted
        ("x", "2024-03-02 00:00", 50.0, "o9"),    # not in the campaign
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "order_id"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def test_outcomes_from_hand_written_transactions():
    out = campaign_outcomes(_assignments(), _transactions(), "2024-03-01", days=30).set_index(
        "customer_id")
    assert list(out.index) == ["a", "b", "c", "d"]
    for col in OUTCOME_COLUMNS:
        assert col in out.columns
    assert out["value_tier"].tolist() == ["low", "high", "mid", "low"]
    assert out["orders"].tolist() == [1, 1, 0, 0]
    assert out["revenue"].tolist() == [25.0, 30.0, 0.0, 0.0]
    assert out["converted"].tolist() == [True, True, False, False]
    assert out["pre_orders"].tolist() == [1, 1, 0, 0]
    assert out["pre_revenue"].tolist() == [7.0, 11.0, 0.0, 0.0]
    assert out["treated"].tolist() == [False, True, True, False]
    assert out["bonus_cost"].tolist() == [0.0, 10.0, 0.0, 0.0]
    assert out["net_revenue"].tolist() == [25.0, 20.0, 0.0, 0.0]
    assert out["orders"].dtype == np.int64 and out["converted"].dtype == bool


def test_outcomes_short_pre_period_and_distinct_orders():
    tx = _transactions()
    extra = pd.DataFrame({"customer_id": ["a", "a"], "amount": [1.0, 2.0],
                          "order_id": ["o7", "o8"],
                          "timestamp": pd.to_datetime(["2024-03-02", "2024-03-03"])})
    out = campaign_outcomes(_assignments(), pd.concat([tx, extra]), pd.Timestamp("2024-03-01"),
                            days=30, pre_days=1).set_index("customer_id")
    assert out.loc["a", "orders"] == 3 and out.loc["a", "revenue"] == 28.0
    assert out.loc["a", "pre_revenue"] == 7.0 and out.loc["b", "pre_revenue"] == 0.0


def test_outcomes_refuse_bad_assignments():
    tx = _transactions()
    dup = pd.concat([_assignments(), _assignments().iloc[[1]]])
    with pytest.raises(DataError, match=r"customer_id.*more than once.*'b'") as err:
        campaign_outcomes(dup, tx, "2024-03-01", 30)
    assert "one row per customer" in str(err.value)
    no_arm = _assignments()
    no_arm.loc[2, "arm"] = None
    with pytest.raises(DataError, match=r"column 'arm': 1 customer\(s\) without an arm.*'c'"):
        campaign_outcomes(no_arm, tx, "2024-03-01", 30)
    with pytest.raises(DataError, match="control arm 'holdout' not found.*control_arm="):
        campaign_outcomes(_assignments(), tx, "2024-03-01", 30, control_arm="holdout")
    with pytest.raises(DataError, match="missing column"):
        campaign_outcomes(_assignments().drop(columns="arm"), tx, "2024-03-01", 30)


def test_outcomes_refuse_window_after_data():
    with pytest.raises(DataError, match="does not reach the window yet"):
        campaign_outcomes(_assignments(), _transactions(), "2024-06-01", 30)
    with pytest.warns(UserWarning, match="part of the window"):
        campaign_outcomes(_assignments(), _transactions(), "2024-03-15", 30)


# ------------------------------------------------------------------ power

@pytest.mark.parametrize("n, share, p0", [(10_000, 0.1, 0.2), (50_000, 0.5, 0.05),
                                          (4_000, 0.2, 0.3)])
def test_mde_round_trip_with_statsmodels(n, share, p0):
    lift = minimum_detectable_effect(n, share, p0)
    assert lift > 0
    h = proportion_effectsize(p0 + lift, p0)
    achieved = NormalIndPower().power(effect_size=h, nobs1=n * share, alpha=0.05,
                                      ratio=(1 - share) / share)
    assert achieved == pytest.approx(0.8, abs=1e-6)
    nobs1 = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8,
                                         ratio=(1 - share) / share)
    assert nobs1 == pytest.approx(n * share, rel=1e-5)
    assert required_control_share(n, p0, lift) == pytest.approx(min(share, 0.5), rel=1e-5)


def test_mde_shrinks_towards_balanced_split():
    lifts = [minimum_detectable_effect(10_000, s, 0.1) for s in (0.05, 0.1, 0.3, 0.5)]
    assert lifts == sorted(lifts, reverse=True)
    assert minimum_detectable_effect(10_000, 0.5, 0.1) == pytest.approx(
        minimum_detectable_effect(10_000, 0.5, 0.1, power=0.8), rel=1e-12)


def test_required_share_refuses_undetectable_lift():
    at_half = minimum_detectable_effect(2_000, 0.5, 0.1)
    with pytest.raises(ValueError, match="smallest detectable lift at 50 %") as err:
        required_control_share(2_000, 0.1, at_half / 2)
    assert f"{at_half:.6g}" in str(err.value)


def test_continuous_power_round_trip():
    n, share, std = 20_000, 0.15, 40.0
    mde = minimum_detectable_effect_continuous(n, share, std)
    nobs1 = NormalIndPower().solve_power(effect_size=mde / std, alpha=0.05, power=0.8,
                                         ratio=(1 - share) / share)
    assert nobs1 == pytest.approx(n * share, rel=1e-5)
    assert required_control_share_continuous(n, std, mde) == pytest.approx(share, rel=1e-5)
    with pytest.raises(ValueError, match="at 50 %"):
        required_control_share_continuous(100, std, 0.1)


# ------------------------------------------------------------------ Qini

def _uplift_data(n: int = 2000, seed: int = 7):
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    w = rng.random(n) < 0.6
    y = (rng.random(n) < 0.1 + 0.2 * x * w).astype(float)
    good = x + rng.normal(0, 0.1, n)
    noise = rng.normal(size=n)
    w[np.argsort(-good)[:3]] = True      # top-ranked customers treated: no control in prefix
    return y, w, good, noise


def test_qini_matches_causalml():
    from causalml.metrics import get_qini, qini_score

    y, w, good, noise = _uplift_data()
    df = pd.DataFrame({"y": y, "w": w.astype(int), "good": good, "noise": noise})
    ref_curve = get_qini(df)
    ref_score = qini_score(df)
    ref_raw = qini_score(df, normalize=False)
    for name, score in (("good", good), ("noise", noise)):
        curve = qini_curve(y, w, score)
        np.testing.assert_allclose(curve["gain"].to_numpy(), ref_curve[name].to_numpy(),
                                   rtol=1e-10, atol=1e-10)
        assert qini_coefficient(y, w, score) == pytest.approx(ref_score[name], rel=1e-10)
        assert qini_coefficient(y, w, score, normalize=False) == pytest.approx(
            ref_raw[name], rel=1e-10)
    assert qini_coefficient(y, w, good) > qini_coefficient(y, w, noise)


def test_qini_curve_definition_and_ties():
    y, w, good, _ = _uplift_data(n=500)
    curve = qini_curve(y, w, good)
    assert len(curve) == 501 and curve["gain"].iloc[0] == 0
    k = 200
    top = np.argsort(-good)[:k]
    n_t, n_c = w[top].sum(), (~w[top]).sum()
    expected = y[top][w[top]].sum() - y[top][~w[top]].sum() * n_t / n_c
    assert curve.loc[k, "gain"] == pytest.approx(expected, rel=1e-12)
    assert curve["random"].iloc[-1] == pytest.approx(curve["gain"].iloc[-1])

    tied = np.round(good, 1)             # few distinct values: big tie blocks
    perm = np.random.default_rng(0).permutation(len(y))
    a = qini_curve(y, w, tied)
    b = qini_curve(y[perm], w[perm], tied[perm])
    pd.testing.assert_frame_equal(a, b)
    assert qini_coefficient(y, w, tied) == pytest.approx(
        qini_coefficient(y[perm], w[perm], tied[perm]), rel=1e-12)
    assert (~a["block_end"]).sum() > 0
    assert len(qini_curve(y, w, good, n_points=11)) == 11


def test_uplift_by_quantile_matches_scipy():
    y, w, good, _ = _uplift_data()
    table = uplift_by_quantile(y, w, good, q=10)
    assert table["quantile"].tolist() == list(range(1, 11))
    assert table["n"].sum() == len(y)
    assert table["score_mean"].is_monotonic_increasing
    decile = np.ceil(pd.Series(good).rank(pct=True) * 10).to_numpy()
    for _, row in table.iterrows():
        m = decile == row["quantile"]
        ref = stats.ttest_ind(y[m & w], y[m & ~w], equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert row["effect"] == pytest.approx(y[m & w].mean() - y[m & ~w].mean())
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-8)
    assert table["effect"].iloc[-1] > table["effect"].iloc[0]


def test_qini_refuses_one_group():
    with pytest.raises(DataError, match="both treated and control"):
        qini_curve([1.0, 0.0], [1, 1], [0.2, 0.1])


# ------------------------------------------------------------------ plots

def test_plots_return_figures(sim):
    plain = arm_effects(sim, "revenue")
    adjusted = arm_effects(sim, "revenue", covariates=("pre_revenue",))
    y, w, good, noise = _uplift_data(n=400)
    curves = {"good": qini_curve(y, w, good, n_points=50),
              "noise": qini_curve(y, w, noise, n_points=50)}
    figures = [
        arm_effects_figure(plain, adjusted, outcome="revenue", unit="EUR"),
        arm_effects_figure(plain),
        uplift_by_decile_figure(uplift_by_quantile(y, w, good)),
        qini_curves_figure(curves, coefficients={"good": qini_coefficient(y, w, good)}),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        assert fig.axes


SHARES = {"control": 0.3, "bonus_25": 0.35, "bonus_50": 0.35}


def test_balance_checks_pass_a_fair_randomisation(sim):
    checks = balance_checks(sim, ("pre_revenue", "pre_orders"), shares=SHARES)
    assert not checks["sample_ratio"]["mismatch"] and checks["sample_ratio"]["p_value"] > 0.001
    assert checks["warnings"] == [] and len(checks["pre_period"]) == 4
    json.dumps(checks, allow_nan=False)


def test_balance_checks_flag_a_sample_ratio_mismatch_and_a_pre_period_imbalance(sim):
    # customers lost from control selectively: the heavy buyers of control went missing
    lost = (sim["arm"] == "control") & (sim["pre_revenue"] > sim["pre_revenue"].quantile(0.7))
    checks = balance_checks(sim.loc[~lost], ("pre_revenue",), shares=SHARES)
    assert checks["sample_ratio"]["mismatch"]
    assert any("sample ratio mismatch" in w for w in checks["warnings"])
    assert any("pre-campaign imbalance" in w for w in checks["warnings"])
    assert all(r["smd"] > 0.1 for r in checks["pre_period"])
    # without planned shares there is no sample-ratio check
    assert balance_checks(sim, ("pre_revenue",))["sample_ratio"] is None


def test_collinear_and_constant_covariates_are_left_out_of_the_adjustment(sim):
    X = np.column_stack([sim["pre_revenue"], 2 * sim["pre_revenue"] + 1, sim["pre_orders"],
                         np.ones(len(sim))])
    d = sim["treated"].to_numpy()
    assert _usable_covariates(X, d).tolist() == [True, False, True, False]
    y = sim["revenue"].to_numpy()
    np.testing.assert_allclose(_lin(y, d, X, 0.05)["effect"],
                               _lin(y, d, X[:, [0, 2]], 0.05)["effect"], rtol=1e-10)
