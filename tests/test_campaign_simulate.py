"""The simulated retention campaign: config validation, stable arms, potential outcomes
(monotone in the bonus, known effects), transactions that agree exactly with the truth, an
untouched control group and outside window, determinism and the written layout."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scoring.campaign import ASSIGNMENT_COLUMNS
from scoring.campaign.simulate import (
    PERSONAS,
    CampaignArm,
    CampaignConfig,
    assign_campaign,
    read_campaign,
    score_for_campaign,
    simulate_campaign,
    write_campaign,
)
from scoring.data.synthetic import generate_shop, read_shop

CONFIG = CampaignConfig()
ARMS = CONFIG.arm_names


@pytest.fixture(scope="module")
def shop():
    return generate_shop(n_customers=3000, seed=1)


@pytest.fixture(scope="module")
def scores(shop):
    return score_for_campaign(shop)  # the project's scorer and offer policy: a few seconds


@pytest.fixture(scope="module")
def assignments(shop, scores):
    return assign_campaign(scores, CONFIG, start=shop.cutoff)


@pytest.fixture(scope="module")
def campaign(shop, assignments):
    return simulate_campaign(shop, assignments, CONFIG, seed=5)


@pytest.fixture(scope="module")
def truth(campaign):
    return campaign.truth.loc[campaign.truth["campaign_arm"].notna()].reset_index(drop=True)


def _effect(truth, arm, what="revenue"):
    return (truth[f"{what}_if_{arm}"] - truth[f"{what}_if_control"]).astype(float)


def _window_outcomes(transactions, start, end):
    tx = transactions
    lines = tx.loc[(tx["quantity"] > 0) & (tx["timestamp"] >= start) & (tx["timestamp"] < end)]
    grouped = lines.groupby("customer_id", observed=True)
    return pd.DataFrame(
        {"orders": grouped["order_id"].nunique(), "revenue": grouped["amount"].sum()}
    )


# --- config -----------------------------------------------------------------------------


def test_default_config_and_round_trips(tmp_path):
    assert [(a.name, a.share, a.bonus_multiplier) for a in CONFIG.arms] == [
        ("control", 0.2, 0.0), ("bonus_50", 0.4, 0.5), ("bonus_100", 0.4, 1.0)]
    assert CONFIG.days == 90 and CONFIG.salt == "campaign-1" and CONFIG.negative_share == 0.03
    assert CampaignConfig.from_dict(CONFIG.to_dict()) == CONFIG
    path = tmp_path / "campaign.yaml"
    path.write_text(
        "days: 60\nsalt: s2\narms:\n"
        "  - {name: control, share: 0.5, bonus_multiplier: 0}\n"
        "  - {name: voucher, share: 0.5, bonus_multiplier: 1.0}\n"
    )
    config = CampaignConfig.from_yaml(path)
    assert config.days == 60 and config.arm_names == ["control", "voucher"]
    assert config.arms[1] == CampaignArm("voucher", 0.5, 1.0)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"dayz": 30}, "dayz"),
        ({"days": 0}, "days"),
        ({"days": 2.5}, "days"),
        ({"negative_share": 1.5}, "negative_share"),
        ({"half_saturation_bonus": 0}, "half_saturation_bonus"),
        ({"max_rate_lift": -1}, "max_rate_lift"),
        ({"arms": [{"name": "control", "share": 1.0, "bonus_multiplier": 0, "colour": 1}]},
         "colour"),
        ({"arms": [{"name": "control", "share": 0.5, "bonus_multiplier": 0},
                   {"name": "b", "share": 0.6, "bonus_multiplier": 1}]}, "sum to 1"),
        ({"arms": [{"name": "control", "share": 0.0, "bonus_multiplier": 0},
                   {"name": "b", "share": 1.0, "bonus_multiplier": 1}]}, "share"),
        ({"arms": [{"name": "a", "share": 0.5, "bonus_multiplier": 0.5},
                   {"name": "b", "share": 0.5, "bonus_multiplier": 1}]}, "control_arm"),
        ({"arms": [{"name": "control", "share": 0.5, "bonus_multiplier": 0.5},
                   {"name": "b", "share": 0.5, "bonus_multiplier": 1}]}, "multiplier 0"),
        ({"arms": [{"name": "control", "share": 0.5, "bonus_multiplier": 0},
                   {"name": "b", "share": 0.5, "bonus_multiplier": 0}]}, "bonus_multiplier"),
        ({"arms": [{"name": "control", "share": 0.5, "bonus_multiplier": 0},
                   {"name": "control", "share": 0.5, "bonus_multiplier": 1}]}, "unique"),
        ({"arms": [{"name": "control", "share": 0.5, "bonus_multiplier": 0},
                   {"name": "bad name", "share": 0.5, "bonus_multiplier": 1}]}, "name"),
        ({"arms": [{"name": "control", "share": 1.0}]}, "bonus_multiplier"),
    ],
)
def test_bad_config_is_refused_naming_the_key(change, named):
    with pytest.raises(ValueError, match=named):
        CampaignConfig.from_dict(change)


# --- assignment -------------------------------------------------------------------------


def test_assignments_follow_the_contract(scores, assignments):
    assert tuple(assignments.columns) == ASSIGNMENT_COLUMNS
    buyers = scores.loc[scores["lifecycle_stage"] != "lead"]
    assert len(assignments) == len(buyers) and (assignments["lifecycle_stage"] != "lead").all()
    merged = assignments.merge(scores[["customer_id", "candidate_bonus"]], on="customer_id")
    # the policy's bonus, raised to the learning floor min_bonus (10 by default)
    np.testing.assert_array_equal(merged["policy_bonus"],
                                  np.maximum(merged["candidate_bonus"], 10.0))
    np.testing.assert_allclose(assignments["bonus_amount"],
                               assignments["bonus_multiplier"] * assignments["policy_bonus"])
    assert (assignments.loc[assignments["arm"] == "control", "bonus_amount"] == 0).all()
    shares = assignments["arm"].value_counts(normalize=True)
    for arm in CONFIG.arms:
        assert abs(shares[arm.name] - arm.share) < 0.04, (arm.name, shares[arm.name])


def test_arms_are_hash_stable_under_row_shuffling(shop, scores, assignments):
    shuffled = scores.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = assign_campaign(shuffled, CONFIG, start=shop.cutoff)
    pd.testing.assert_frame_equal(again, assignments)
    other_salt = assign_campaign(scores, CampaignConfig(salt="campaign-2"))
    assert (other_salt["arm"] != assignments["arm"]).mean() > 0.3


# --- potential outcomes -----------------------------------------------------------------


def test_truth_has_personas_and_potential_outcomes(campaign, truth, assignments):
    assert len(truth) == len(assignments)
    assert set(truth["persona"].unique()) <= set(PERSONAS)
    assert set(truth["persona"].unique()) == set(PERSONAS)  # all present on 3000 customers
    for arm in ARMS:
        assert f"orders_if_{arm}" in truth and f"revenue_if_{arm}" in truth
    outside = campaign.truth.loc[campaign.truth["campaign_arm"].isna()]
    assert outside[f"orders_if_{ARMS[0]}"].isna().all()
    assert abs((truth["persona"] == "sleeping_dog").mean() - CONFIG.negative_share) < 0.015
    assert set(campaign.metadata) >= {"start", "days", "arms", "control_arm", "salt", "seed"}


def test_potential_outcomes_are_monotone_in_the_bonus(truth):
    positive = truth.loc[truth["persona"] != "sleeping_dog"]
    for what in ("orders", "revenue"):
        control, half, full = (positive[f"{what}_if_{a}"].astype(float) for a in ARMS)
        assert (half >= control).all() and (full >= half).all()
    dogs = truth.loc[truth["persona"] == "sleeping_dog"]
    assert (dogs["orders_if_bonus_50"] <= dogs["orders_if_control"]).all()
    assert (dogs["orders_if_bonus_100"] == dogs["orders_if_bonus_50"]).all()
    persuadable = truth.loc[truth["persona"] == "persuadable"]
    assert (_effect(persuadable, "bonus_100") > _effect(persuadable, "bonus_50")).any()


def test_lost_causes_mostly_equal_control(truth):
    lost = truth.loc[truth["persona"] == "lost_cause"]
    assert len(lost) > 50
    assert (lost["orders_if_bonus_100"] == lost["orders_if_control"]).mean() > 0.97


def test_true_effects_are_ordered(truth):
    full, half = _effect(truth, "bonus_100").mean(), _effect(truth, "bonus_50").mean()
    assert full > half > 0
    orders_full = _effect(truth, "bonus_100", "orders").mean()
    assert orders_full > _effect(truth, "bonus_50", "orders").mean()


def test_sure_things_gain_much_less_than_persuadables(truth):
    by = truth.groupby("persona")
    sure = _effect(truth.loc[truth["persona"] == "sure_thing"], "bonus_100").mean()
    persuadable = _effect(truth.loc[truth["persona"] == "persuadable"], "bonus_100").mean()
    assert by.size()["sure_thing"] > 50 and by.size()["persuadable"] > 50
    assert sure < 0.5 * persuadable
    # relative to what they buy anyway, sure things barely move
    base = truth.loc[truth["persona"] == "sure_thing", "revenue_if_control"].mean()
    assert sure < 0.05 * base


# --- realised transactions --------------------------------------------------------------


def test_transactions_agree_exactly_with_the_realised_arm(campaign, truth):
    got = _window_outcomes(campaign.transactions, campaign.start, campaign.end)
    got = got.reindex(pd.Index(truth["customer_id"]), fill_value=0)
    arm = truth["campaign_arm"].to_numpy(dtype=str)
    expected_orders = np.choose(
        pd.Categorical(arm, categories=ARMS).codes,
        [truth[f"orders_if_{a}"].to_numpy(np.int64) for a in ARMS])
    expected_revenue = np.choose(
        pd.Categorical(arm, categories=ARMS).codes,
        [truth[f"revenue_if_{a}"].to_numpy(np.float64) for a in ARMS])
    np.testing.assert_array_equal(got["orders"].to_numpy(np.int64), expected_orders)
    np.testing.assert_allclose(got["revenue"].to_numpy(np.float64), expected_revenue,
                               rtol=1e-12, atol=1e-8)
    # the treatment did something, in both directions
    treated = truth["campaign_arm"] != "control"
    extra = expected_orders - truth["orders_if_control"].to_numpy(np.int64)
    assert (extra[treated] > 0).sum() > 20 and (extra[treated] < 0).sum() > 0


def test_extra_orders_look_like_the_shop(campaign, shop):
    tx = campaign.transactions
    new = tx.loc[~tx["order_id"].isin(shop.transactions["order_id"])]
    assert len(new) > 0 and new["order_id"].is_unique  # one line per extra order
    assert (new["quantity"] == 1).all() and (new["amount"] == new["unit_price"]).all()
    assert ((new["timestamp"] >= campaign.start) & (new["timestamp"] < campaign.end)).all()
    hours = new["timestamp"].dt.hour
    assert ((hours >= 7) & (hours < 22)).all()
    assert new["product_id"].isin(shop.products["product_id"]).all()
    assert new["customer_id"].isin(campaign.assignments.loc[
        campaign.assignments["arm"] != "control", "customer_id"]).all()
    assert tx["timestamp"].is_monotonic_increasing
    pd.testing.assert_series_equal(tx.dtypes, shop.transactions.dtypes)


def test_control_and_outside_window_rows_are_untouched(campaign, shop):
    control = set(campaign.assignments.loc[campaign.assignments["arm"] == "control", "customer_id"])
    removed = set(shop.transactions["order_id"]) - set(campaign.transactions["order_id"])

    def untouched(tx):
        outside = (tx["timestamp"] < campaign.start) | (tx["timestamp"] >= campaign.end)
        keep = (tx["customer_id"].isin(control) | outside) & ~tx["order_id"].isin(removed)
        return tx.loc[keep].reset_index(drop=True)

    pd.testing.assert_frame_equal(untouched(campaign.transactions), untouched(shop.transactions))
    # only sleeping dogs' orders are removed, and only their window orders (and cancellations)
    gone = shop.transactions.loc[shop.transactions["order_id"].isin(removed)]
    dogs = campaign.truth.loc[campaign.truth["persona"] == "sleeping_dog", "customer_id"]
    assert gone["customer_id"].isin(dogs).all()
    purchases = gone.loc[gone["quantity"] > 0]
    in_window = purchases["timestamp"].between(campaign.start, campaign.end, inclusive="left")
    assert in_window.all()


def test_same_inputs_give_identical_outputs(shop, assignments, campaign):
    shuffled = assignments.sample(frac=1.0, random_state=1)
    again = simulate_campaign(shop, shuffled, CONFIG, seed=5)
    pd.testing.assert_frame_equal(again.transactions, campaign.transactions)
    pd.testing.assert_frame_equal(again.truth, campaign.truth)
    assert again.metadata == campaign.metadata
    other = simulate_campaign(shop, assignments, CONFIG, seed=6)
    assert not other.truth["revenue_if_bonus_100"].equals(campaign.truth["revenue_if_bonus_100"])


def test_bad_inputs_are_refused(shop, assignments):
    with pytest.raises(ValueError, match="window"):
        simulate_campaign(shop, assignments, CONFIG, seed=0, start=shop.end)
    bad = assignments.copy()
    bad.loc[0, "arm"] = "bonus_200"
    with pytest.raises(ValueError, match="bonus_200"):
        simulate_campaign(shop, bad, CONFIG, seed=0)


def test_write_campaign_keeps_the_shop_layout(campaign, tmp_path):
    out = write_campaign(campaign, tmp_path / "shop")
    back = read_shop(out)
    pd.testing.assert_frame_equal(back.transactions, campaign.transactions)
    pd.testing.assert_frame_equal(back.truth, campaign.truth)
    assert back.cutoff == campaign.base_shop.cutoff
    meta = json.loads((out / "campaign.json").read_text())
    assert meta == campaign.metadata
    assignments, metadata = read_campaign(out)
    pd.testing.assert_frame_equal(assignments, campaign.assignments)
    assert metadata["start"] == str(campaign.start.date())
