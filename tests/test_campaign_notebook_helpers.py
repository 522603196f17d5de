"""Glue of notebook 06 (scoring.campaign.notebook_helpers): true arm effects from the potential
outcomes, estimates vs truth, the report summary, the learning table without leaks, the stable
split, Qini curves of several scores and the allocation problem / budget curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.campaign import notebook_helpers as nh
from scoring.campaign.allocate import true_incremental_profit
from scoring.campaign.measure import arm_effects, campaign_report
from scoring.campaign.outcomes import campaign_outcomes
from scoring.campaign.qini import qini_coefficient
from scoring.campaign.simulate import (
    CampaignConfig,
    assign_campaign,
    score_for_campaign,
    simulate_campaign,
)
from scoring.data.synthetic import generate_shop

CONFIG = CampaignConfig()


@pytest.fixture(scope="module")
def world():
    shop = generate_shop(n_customers=2500, seed=3)
    scores = score_for_campaign(shop)
    assignments = assign_campaign(scores, CONFIG, start=shop.cutoff)
    campaign = simulate_campaign(shop, assignments, CONFIG, seed=2)
    outcomes = campaign_outcomes(campaign.assignments, campaign.transactions, campaign.start,
                                 campaign.metadata["days"])
    return scores, campaign, outcomes


def _truth(campaign, outcomes):
    t = campaign.truth.set_index("customer_id").loc[outcomes["customer_id"]]
    return t.reset_index()


def test_true_arm_effects_are_means_of_potential_outcome_differences(world):
    _, campaign, outcomes = world
    table = nh.true_arm_effects(campaign)
    assert table["arm"].tolist() == ["bonus_50", "bonus_100"]
    assert (table["customers"] == len(outcomes)).all()
    t = _truth(campaign, outcomes)
    bonus = outcomes["policy_bonus"].to_numpy()
    row = table.set_index("arm").loc["bonus_100"]
    revenue = (t["revenue_if_bonus_100"] - t["revenue_if_control"]).mean()
    assert row["revenue"] == pytest.approx(revenue)
    conv_a = t["orders_if_bonus_100"].to_numpy(float) > 0
    conv_c = t["orders_if_control"].to_numpy(float) > 0
    assert row["converted"] == pytest.approx(conv_a.mean() - conv_c.mean())
    assert row["net_revenue"] == pytest.approx(revenue - (bonus * conv_a).mean())
    assert row["orders"] == pytest.approx(
        (t["orders_if_bonus_100"] - t["orders_if_control"]).astype(float).mean())
    # the observed outcomes of each arm are that arm's potential outcomes
    own = outcomes["arm"] == "bonus_100"
    assert np.allclose(outcomes.loc[own, "revenue"], t.loc[own, "revenue_if_bonus_100"])


def test_effects_vs_truth_side_by_side(world):
    _, campaign, outcomes = world
    plain = arm_effects(outcomes, "revenue")
    adjusted = arm_effects(outcomes, "revenue", covariates=("pre_revenue", "pre_orders"))
    truth = nh.true_arm_effects(campaign)
    table = nh.effects_vs_truth(plain, adjusted, truth, "revenue").set_index("arm")
    p = plain.set_index("arm").loc["bonus_50"]
    a = adjusted.set_index("arm").loc["bonus_50"]
    row = table.loc["bonus_50"]
    assert row["plain_effect"] == pytest.approx(p["effect"])
    assert row["adjusted_ci_high"] == pytest.approx(a["ci_high"])
    assert row["true_effect"] == pytest.approx(truth.set_index("arm").loc["bonus_50", "revenue"])
    assert bool(row["plain_covers"]) == bool(p["ci_low"] <= row["true_effect"] <= p["ci_high"])
    width = 1 - (a["ci_high"] - a["ci_low"]) / (p["ci_high"] - p["ci_low"])
    assert row["ci_width_reduction"] == pytest.approx(width)


def test_net_incremental_table_reads_the_report(world):
    _, _, outcomes = world
    report = campaign_report(outcomes)
    table = nh.net_incremental_table(report).set_index("arm")
    assert list(table.index) == ["bonus_100", "bonus_50"]
    entry = next(e for e in report["overall"] if e["arm"] == "bonus_50")
    assert table.loc["bonus_50", "net_total"] == pytest.approx(
        entry["net_incremental_revenue"]["total"]["effect"])
    assert table.loc["bonus_50", "bonus_total"] == pytest.approx(
        outcomes.loc[outcomes["arm"] == "bonus_50", "bonus_cost"].sum())


def test_learning_frame_and_features_never_leak_the_window_outcome(world):
    scores, _, outcomes = world
    frame = nh.learning_frame(outcomes.iloc[::-1], scores)
    assert frame.index.equals(outcomes.index[::-1])
    assert frame["revenue"].equals(outcomes["revenue"].iloc[::-1])  # the window's, not the scores'
    s = scores.set_index("customer_id")
    assert np.allclose(frame["days_since_last_order"],
                       s.loc[frame["customer_id"], "days_since_last_order"])
    features = nh.learning_features(frame)
    assert "days_since_last_order" in features and "pre_revenue" in features
    assert not {"revenue", "orders", "converted", "net_revenue", "bonus_cost"} & set(features)


def test_hash_split_is_stable_and_order_free():
    ids = pd.Series([f"C{i:05d}" for i in range(4000)])
    mask = nh.hash_split(ids)
    assert 0.45 < mask.mean() < 0.55
    shuffled = ids.sample(frac=1, random_state=0)
    assert np.array_equal(nh.hash_split(shuffled), mask[shuffled.index])
    assert not np.array_equal(nh.hash_split(ids, salt="other"), mask)
    assert nh.hash_split(ids, share=0.2).mean() < 0.25
    with pytest.raises(ValueError):
        nh.hash_split(ids, share=1.0)


def test_arm_vs_control_and_qini_curves(world):
    _, campaign, outcomes = world
    sub = nh.arm_vs_control(outcomes, "bonus_100")
    assert set(sub["arm"]) == {"control", "bonus_100"}
    with pytest.raises(ValueError):
        nh.arm_vs_control(outcomes, "nope")
    scores = {"churn": sub["churn_probability"], "var": sub["value_at_risk"]}
    curves, coefficients = nh.qini_curves(sub["revenue"], sub["treated"], scores, n_points=11)
    assert set(curves) == set(coefficients) == {"churn", "var"}
    assert len(curves["churn"]) == 11
    assert coefficients["var"] == pytest.approx(
        qini_coefficient(sub["revenue"], sub["treated"], sub["value_at_risk"]))


def test_allocation_problem_and_budget_curve(world):
    _, campaign, outcomes = world
    arms = ["bonus_100", "bonus_50"]
    part = outcomes.iloc[:800]
    problem = nh.allocation_problem(part, campaign, arms)
    t = _truth(campaign, part)
    assert problem.full_option == 0
    assert np.allclose(problem.bonus[:, 1], 0.5 * part["policy_bonus"])
    assert np.allclose(problem.true_effect[:, 0],
                       t["revenue_if_bonus_100"] - t["revenue_if_control"])
    assert np.array_equal(problem.redeemed[:, 1], t["orders_if_bonus_50"].to_numpy(float) > 0)
    assert np.allclose(problem.true_cost, problem.bonus * problem.redeemed)

    rates = nh.redemption_rates(outcomes, arms)
    assert rates["bonus_50"] == pytest.approx(
        outcomes.loc[outcomes["arm"] == "bonus_50", "converted"].mean())
    with pytest.raises(ValueError):
        nh.redemption_rates(outcomes, ["nope"])

    curve = nh.allocation_budget_curve(problem, problem.true_effect, rates, n_budgets=4)
    assert curve["rule"].unique().tolist() == ["uplift model", "value at risk (today)", "oracle"]
    assert len(curve) == 12
    assert (curve.loc[curve["budget"] == 0, "true_incremental_profit"] == 0).all()
    top = curve["budget"].max()
    assert top == pytest.approx(problem.bonus[:, 0].sum())
    last = curve.loc[curve["budget"] == top].set_index("rule")["true_incremental_profit"]
    assert last["oracle"] >= last["value at risk (today)"]
    # the oracle's entry is the library's scoring of the oracle allocation
    from scoring.campaign.allocate import allocate_oracle
    alloc = allocate_oracle(problem.customer_id, problem.true_effect, problem.bonus, top,
                            problem.redeemed)
    assert last["oracle"] == pytest.approx(
        true_incremental_profit(alloc, problem.true_effect, problem.true_cost))
