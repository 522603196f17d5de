"""Tests of the offer policy (scoring.offers): tiers, bonus, budget, offer types, control group."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.data.errors import DataError
from scoring.offers import (
    BONUS_REASONS,
    DEFAULT_PLAYBOOK,
    LIFECYCLE_STAGES,
    OFFER_TEMPLATES,
    OFFER_TYPES,
    VALUE_TIERS,
    OfferPolicy,
    OfferRule,
    ab_groups,
    allocate_budget,
    assign_offers,
    budget_curve,
    expected_revenue_retained,
    offer_types,
    risk_scaled_bonus,
    split_arms,
    stable_unit_hash,
    uplift_probability,
    value_tiers,
)
from scoring.segments import LIFECYCLE_STAGES as SEGMENT_STAGES

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NO_CONTROL = OfferPolicy(arms=(("treatment", 1.0),), control_arms=())

probabilities = st.floats(0.0, 1.0, allow_nan=False)
amounts = st.floats(0.0, 5_000.0, allow_nan=False)


def realistic_scores(n: int = 20_000, seed: int = 7) -> pd.DataFrame:
    """Seeded per-customer scores with realistic shapes: skewed CLV, zeros, leads, flags."""
    rng = np.random.default_rng(seed)
    stage = rng.choice(LIFECYCLE_STAGES, size=n, p=[0.08, 0.32, 0.15, 0.15, 0.15, 0.15])
    churn = rng.beta(2.0, 1.5, size=n)
    clv = rng.lognormal(mean=4.0, sigma=1.3, size=n) * (rng.random(n) > 0.15)
    lead = stage == "lead"
    scores = pd.DataFrame(
        {
            "customer_id": pd.Series(rng.permutation(n) + 10_000).astype(str),
            "churn_probability": np.where(lead, np.nan, churn),
            "predicted_clv_12m": np.where(lead, np.nan, np.round(clv, 2)),
            "lifecycle_stage": stage,
            "cart_abandoner": rng.random(n) < 0.08,
            "email_engagement": rng.choice(["passive", "reader", "clicker"], size=n),
            "rfm_segment": rng.choice(["champions", "at_risk", "lost", "new"], size=n),
        }
    )
    return scores


def comparable(offers: pd.DataFrame) -> pd.DataFrame:
    """Categorical label columns as strings (assert_frame_equal is slow on categoricals)."""
    labels = offers.select_dtypes("category").columns
    return offers.astype({column: str for column in labels})


def frame(churn, clv, stage="loyal", ids=None) -> pd.DataFrame:
    churn = np.atleast_1d(np.asarray(churn, dtype=float))
    clv = np.broadcast_to(np.asarray(clv, dtype=float), churn.shape)
    ids = [f"c{i:05d}" for i in range(len(churn))] if ids is None else ids
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype=str),
            "churn_probability": churn,
            "predicted_clv_12m": clv,
            "lifecycle_stage": stage,
        }
    )


# ----------------------------------------------------------------------------- bonus


@HYPOTHESIS
@given(p1=probabilities, p2=probabilities, clv=amounts)
def test_bonus_monotone_in_churn_probability(p1, p2, clv):
    low, high = sorted((p1, p2))
    assert risk_scaled_bonus(low, clv) <= risk_scaled_bonus(high, clv)


@HYPOTHESIS
@given(p=probabilities, clv1=amounts, clv2=amounts)
def test_bonus_monotone_in_clv(p, clv1, clv2):
    low, high = sorted((clv1, clv2))
    assert risk_scaled_bonus(p, low) <= risk_scaled_bonus(p, high)


@HYPOTHESIS
@given(
    p=st.lists(probabilities, min_size=2, max_size=30),
    clv=amounts,
    rate=st.floats(0.0, 1.0),
    share=st.floats(0.0, 1.0),
    min_p=probabilities,
    min_clv=st.floats(0.0, 200.0),
)
def test_bonus_monotone_for_any_policy(p, clv, rate, share, min_p, min_clv):
    policy = OfferPolicy(
        bonus_rate=rate, max_share_of_clv=share, min_churn_probability=min_p, min_clv=min_clv
    )
    p_sorted = np.sort(p)
    assert np.all(np.diff(risk_scaled_bonus(p_sorted, clv, policy)) >= 0)
    clv_sorted = np.sort(np.asarray(p) * clv * 3)
    assert np.all(np.diff(risk_scaled_bonus(p_sorted[-1], clv_sorted, policy)) >= 0)


@HYPOTHESIS
@given(p=probabilities, clv=amounts, share=st.floats(0.0, 1.0), rate=st.floats(0.0, 2.0))
def test_bonus_capped_by_share_of_clv_and_on_denominations(p, clv, share, rate):
    policy = OfferPolicy(bonus_rate=rate, max_share_of_clv=share)
    bonus = float(risk_scaled_bonus(p, clv, policy))
    assert bonus <= share * clv + 1e-6
    assert bonus <= rate * p * clv + 1e-6
    assert bonus == 0.0 or bonus in policy.denominations
    if bonus > 0:
        # the largest denomination not above the raw amount
        raw = min(rate * p * clv, share * clv)
        larger = [d for d in policy.denominations if d > bonus]
        assert not larger or larger[0] > raw - 1e-6


def test_denomination_rounding_examples():
    policy = OfferPolicy(bonus_rate=1.0, max_share_of_clv=1.0, min_churn_probability=0.0)
    raw = np.array([4.99, 5.0, 7.3, 24.99, 49.0, 60.0, 99.99, 130.0, 10_000.0])
    bonus = risk_scaled_bonus(1.0, raw, policy.__class__(**{**policy.__dict__, "min_clv": 0.0}))
    np.testing.assert_array_equal(bonus, [0, 5, 5, 20, 25, 50, 75, 100, 100])
    custom = OfferPolicy(
        bonus_rate=1.0,
        max_share_of_clv=1.0,
        min_clv=0,
        min_churn_probability=0,
        denominations=(3, 7),
    )
    np.testing.assert_array_equal(
        risk_scaled_bonus(1.0, [2.9, 3, 6.9, 7, 50], custom), [0, 3, 3, 7, 7]
    )
    # floating error: 0.1 * 0.5 * 100 = 5.000000000000001 or 4.999999999 must both give 5
    assert risk_scaled_bonus(0.5, 100.0, OfferPolicy(bonus_rate=0.1, max_share_of_clv=1)) == 5.0


def test_default_bonus_formula_example():
    # value at risk 0.6 * 500 = 300; 10 % -> 30, cap 20 % of 500 = 100 -> rounded down to 25
    assert risk_scaled_bonus(0.6, 500.0) == 25.0
    # cap binds: 0.9 * 300 * 0.1 = 27 > 0.2 * 300 = 60? no: 27 -> 25; rate 0.5 -> 135 capped 60 -> 50
    assert risk_scaled_bonus(0.9, 300.0, OfferPolicy(bonus_rate=0.5)) == 50.0


def test_thresholds_are_inclusive_and_give_reasons():
    policy = OfferPolicy(
        bonus_rate=0.5, max_share_of_clv=0.5, arms=(("treatment", 1.0),), control_arms=()
    )
    scores = frame(
        churn=[0.2999, 0.30, 0.9, 0.9, 0.31],
        clv=[400.0, 400.0, 19.99, 20.0, 30.0],
    )
    offers, _ = assign_offers(scores, policy)
    np.testing.assert_array_equal(offers["bonus_amount"], [0, 50, 0, 5, 0])
    assert offers["bonus_reason"].astype(str).tolist() == [
        "below_min_churn_probability",
        "risk_scaled_bonus",
        "below_min_clv",
        "risk_scaled_bonus",
        "below_smallest_denomination",
    ]
    stricter = OfferPolicy(min_churn_probability=0.5, min_clv=100, bonus_rate=0.5)
    assert risk_scaled_bonus(0.49, 1_000, stricter) == 0
    assert risk_scaled_bonus(0.5, 99, stricter) == 0
    assert risk_scaled_bonus(0.5, 100, stricter) == 20  # 25 capped at 20 % of 100


def test_uplift_and_expected_revenue_retained():
    policy = OfferPolicy(response_rate=0.2, bonus_saturation_share=0.25)
    # saturation at 0.25 * 400 = 100: bonus 50 -> half strength
    assert uplift_probability(50, 400, policy) == pytest.approx(0.1)
    assert uplift_probability(500, 400, policy) == pytest.approx(0.2)
    assert uplift_probability(0, 400, policy) == 0
    assert uplift_probability(10, 0, policy) == 0
    assert expected_revenue_retained(50, 0.5, 400, policy) == pytest.approx(0.1 * 0.5 * 400)


# ----------------------------------------------------------------------------- tiers


def test_quantile_tiers_shares_and_leads():
    clv = np.arange(1, 1001, dtype=float)[::-1]  # distinct values, shuffled order below
    rng = np.random.default_rng(0)
    clv = rng.permutation(clv)
    lead = np.zeros(1010, dtype=bool)
    lead[1000:] = True
    tiers = value_tiers(np.concatenate([clv, np.full(10, np.nan)]), is_lead=lead)
    counts = pd.Series(tiers).value_counts()
    assert counts.to_dict() == {"low": 500, "medium": 300, "high": 150, "vip": 50, "lead": 10}
    vip_min = clv[tiers[:1000] == "vip"].min()
    assert vip_min == 951
    assert clv[tiers[:1000] == "high"].max() < vip_min
    assert set(tiers) <= set(VALUE_TIERS)


def test_quantile_tiers_ties_share_a_tier_and_never_exceed_share():
    clv = np.array([100.0] * 30 + [50.0] * 70)  # 30 % tied at the top
    tiers = value_tiers(clv)
    # vip (5 %) and high (cumulative 20 %) cannot hold the 30 tied customers: they go to medium
    assert set(tiers[:30]) == {"medium"}
    assert set(tiers[30:]) == {"low"}
    assert set(value_tiers(np.zeros(50))) == {"low"}


def test_absolute_tiers():
    policy = OfferPolicy(tier_thresholds=(1000, 300, 50))
    tiers = value_tiers([5000, 1000, 999.99, 300, 50, 49.99, 0], policy)
    assert tiers.tolist() == ["vip", "vip", "high", "high", "medium", "low", "low"]


@HYPOTHESIS
@given(clv=st.lists(st.floats(0, 1e5), min_size=1, max_size=200))
def test_tiers_monotone_in_clv(clv):
    clv = np.asarray(clv)
    rank = pd.Series(value_tiers(clv)).map({t: i for i, t in enumerate(VALUE_TIERS)}).to_numpy()
    order = np.argsort(clv, kind="stable")
    # higher CLV never gets a worse tier (a larger code)
    assert np.all(np.diff(rank[order]) <= 0)


# ----------------------------------------------------------------------------- offer types


def test_offer_type_by_stage_and_cart_precedence():
    stages = list(LIFECYCLE_STAGES) * 2
    scores = pd.DataFrame(
        {
            "customer_id": pd.Series([f"id{i}" for i in range(12)], dtype=str),
            "churn_probability": 0.5,
            "predicted_clv_12m": 100.0,
            "lifecycle_stage": stages,
            "cart_abandoner": [False] * 6 + [True] * 6,
        }
    )
    offers = offer_types(scores)
    assert offers[:6].tolist() == [
        "welcome_discount",
        "thank_you_cross_sell",
        "second_order_incentive",
        "loyalty_club_invitation",
        "reengagement_promo_new_arrivals",
        "reengagement_promo_new_arrivals",
    ]
    # cart_abandoner overrides the active stages only; leads keep the welcome discount
    assert offers[6:].tolist() == [
        "welcome_discount",
        "cart_reminder",
        "cart_reminder",
        "cart_reminder",
        "reengagement_promo_new_arrivals",
        "reengagement_promo_new_arrivals",
    ]
    everywhere = OfferPolicy(cart_reminder_stages=("first_time", "lapsed", "sleeping"))
    assert offer_types(scores, everywhere)[6:].tolist() == [
        "welcome_discount",
        "cart_reminder",
        "second_order_incentive",
        "loyalty_club_invitation",
        "cart_reminder",
        "cart_reminder",
    ]
    # missing flags count as False
    scores["cart_abandoner"] = pd.array([pd.NA] * 12, dtype="boolean")
    assert "cart_reminder" not in offer_types(scores).tolist()


def test_every_customer_gets_exactly_one_known_offer_with_template():
    offers, _ = assign_offers(realistic_scores(5_000))
    assert offers["offer_type"].notna().all()
    assert set(offers["offer_type"].astype(str)) <= set(OFFER_TYPES)
    for offer_type, (template_key, subject) in OFFER_TEMPLATES.items():
        rows = offers[offers["offer_type"] == offer_type]
        assert (rows["template_key"] == template_key).all()
        assert (rows["email_subject"] == subject).all()
    assert set(OFFER_TEMPLATES) == set(OFFER_TYPES)


def test_leads_get_welcome_discount():
    scores = realistic_scores(3_000)
    policy = OfferPolicy(welcome_discount_percent=15, welcome_bonus_amount=5)
    offers, summary = assign_offers(scores, policy, budget=100.0)
    leads = offers[offers["lifecycle_stage"] == "lead"]
    assert len(leads) > 100
    assert (leads["offer_type"] == "welcome_discount").all()
    assert (leads["value_tier"] == "lead").all()
    assert (leads["value_at_risk"] == 0).all()
    assert (leads["expected_revenue_retained"] == 0).all()
    treated = leads[~leads["control_group"]]
    held_out = leads[leads["control_group"]]
    assert (treated["discount_percent"] == 15).all() and (treated["bonus_amount"] == 5).all()
    assert (treated["bonus_reason"] == "lead_welcome_offer").all()
    assert (held_out["discount_percent"] == 0).all() and (held_out["bonus_amount"] == 0).all()
    assert (held_out["bonus_reason"] == "control_group").all()
    # welcome vouchers are outside the retention budget
    assert summary["welcome_bonus_total"] == 5 * len(treated)
    assert summary["budget_used"] <= 100.0
    assert summary["bonus_total"] == summary["budget_used"] + summary["welcome_bonus_total"]
    non_leads = offers[offers["lifecycle_stage"] != "lead"]
    assert (non_leads["discount_percent"] == 0).all()


# ----------------------------------------------------------------------------- playbook

VIP_EARLY_ACCESS = OfferRule(
    name="vip_early_access",
    offer_type="vip_early_access",
    when={"lifecycle_stage": ("loyal",), "value_tier": ("vip",)},
    template_key="vip_early_access_v1",
    subject="Early access for our best customers",
    discount_percent=15,
)


def with_rule_before(rule: OfferRule, before: str) -> tuple[OfferRule, ...]:
    position = [r.name for r in DEFAULT_PLAYBOOK].index(before)
    return (*DEFAULT_PLAYBOOK[:position], rule, *DEFAULT_PLAYBOOK[position:])


def test_default_playbook_is_the_one_source_of_offer_types_and_templates():
    assert [rule.name for rule in DEFAULT_PLAYBOOK] == [
        "lead_welcome",
        "cart_reminder",
        "first_order_thank_you",
        "second_order",
        "loyalty_club",
        "reengagement",
    ]
    policy = OfferPolicy()
    assert policy.playbook == DEFAULT_PLAYBOOK
    assert policy.offer_types == OFFER_TYPES
    assert dict(policy.offer_templates) == dict(OFFER_TEMPLATES)
    assert {r.offer_type: (r.template_key, r.subject) for r in DEFAULT_PLAYBOOK} == dict(
        OFFER_TEMPLATES
    )
    # one list of lifecycle stages: the one of scoring.segments
    assert LIFECYCLE_STAGES is SEGMENT_STAGES


def test_policy_with_an_added_rule_needs_no_other_change():
    """A new offer is one rule in a playbook: here vip-tier loyal customers, before loyalty."""
    scores = realistic_scores(10_000)
    policy = OfferPolicy(playbook=with_rule_before(VIP_EARLY_ACCESS, "loyalty_club"))
    offers, summary = assign_offers(scores, policy, budget=5_000)
    default, default_summary = assign_offers(scores, OfferPolicy(), budget=5_000)

    vip_loyal = (offers["value_tier"] == "vip") & (offers["lifecycle_stage"] == "loyal")
    expected = vip_loyal & ~offers["cart_abandoner"]  # the cart reminder comes first
    assert expected.sum() > 20
    assert ((offers["offer_type"] == "vip_early_access") == expected).all()
    chosen = offers[expected]
    assert (chosen["template_key"] == "vip_early_access_v1").all()
    assert (chosen["email_subject"] == "Early access for our best customers").all()
    assert (chosen.loc[~chosen["control_group"], "discount_percent"] == 15).all()
    assert (chosen.loc[chosen["control_group"], "discount_percent"] == 0).all()
    # everyone else keeps today's offer, and bonuses, tiers and arms do not move
    others = ~expected
    np.testing.assert_array_equal(
        offers.loc[others, "offer_type"].astype(str), default.loc[others, "offer_type"].astype(str)
    )
    assert (default.loc[expected, "offer_type"] == "loyalty_club_invitation").all()
    for column in ("value_tier", "bonus_amount", "ab_group", "bonus_reason"):
        assert (offers[column] == default[column]).all(), column
    # the new offer type is a category and counted in the summary
    assert list(offers["offer_type"].cat.categories) == list(policy.offer_types)
    assert policy.offer_types == (*OFFER_TYPES[:3], "vip_early_access", *OFFER_TYPES[3:])
    per_offer = summary["customers_per_offer_type"]
    assert per_offer["vip_early_access"] == expected.sum()
    assert per_offer["loyalty_club_invitation"] == (
        default_summary["customers_per_offer_type"]["loyalty_club_invitation"] - expected.sum()
    )
    # offer_types computes the tier itself when a rule tests it
    np.testing.assert_array_equal(offer_types(scores, policy), offers["offer_type"].astype(str))


def first_match_reference(playbook, rows: pd.DataFrame) -> list[str]:
    """Per-customer loop over the rules, written for clarity."""
    result = []
    for row in rows.to_dict("records"):
        for rule in playbook:
            flag = bool(row["cart_abandoner"]) if pd.notna(row["cart_abandoner"]) else False
            if rule.cart_abandoner is not None and flag != rule.cart_abandoner:
                continue
            if all(row[column] in allowed for column, allowed in rule.when):
                result.append(rule.offer_type)
                break
    return result


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(LIFECYCLE_STAGES),
            st.sampled_from([True, False, None]),
            st.sampled_from(["champions", "at_risk", "lost"]),
            st.floats(0.0, 1_000.0),
        ),
        min_size=1,
        max_size=40,
    ),
    extra_first=st.booleans(),
)
def test_playbook_is_first_match_like_a_loop_over_customers(rows, extra_first):
    stage, cart, segment, clv = zip(*rows, strict=True)
    scores = pd.DataFrame(
        {
            "customer_id": pd.Series([f"c{i}" for i in range(len(rows))], dtype=str),
            "churn_probability": 0.5,
            "predicted_clv_12m": clv,
            "lifecycle_stage": stage,
            "cart_abandoner": pd.array(cart, dtype="boolean"),
            "rfm_segment": segment,
        }
    )
    at_risk = OfferRule(
        name="at_risk_winback",
        offer_type="at_risk_winback",
        when={"rfm_segment": "at_risk", "lifecycle_stage": ("loyal", "lapsed")},
        cart_abandoner=False,
        template_key="at_risk_winback_v1",
        subject="We would love to see you again",
    )
    rules = (at_risk, VIP_EARLY_ACCESS) if extra_first else (VIP_EARLY_ACCESS, at_risk)
    playbook = (*rules, *DEFAULT_PLAYBOOK)
    offers, _ = assign_offers(scores, OfferPolicy(playbook=playbook))
    rows_with_tier = scores.assign(value_tier=offers["value_tier"].astype(str))
    assert offers["offer_type"].astype(str).tolist() == first_match_reference(
        playbook, rows_with_tier
    )


def test_playbook_shortcuts_edit_the_rules():
    policy = OfferPolicy(welcome_discount_percent=15, cart_reminder_stages=("lapsed",))
    rules = {rule.name: rule for rule in policy.playbook}
    assert rules["lead_welcome"].discount_percent == 15
    assert rules["cart_reminder"].conditions == {"lifecycle_stage": ("lapsed",)}
    assert rules["loyalty_club"] == DEFAULT_PLAYBOOK[4]
    # rebuilding from the fields gives the same policy (the shortcuts are idempotent)
    assert OfferPolicy(**policy.__dict__) == policy
    assert hash(policy) == hash(OfferPolicy(**policy.__dict__))
    json.dumps(asdict(policy))  # the scorer's config is logged as JSON
    without_cart = tuple(rule for rule in DEFAULT_PLAYBOOK if rule.name != "cart_reminder")
    with pytest.raises(ValueError, match="no rule giving 'cart_reminder'"):
        OfferPolicy(playbook=without_cart, cart_reminder_stages=("loyal",))


def test_playbook_validation():
    loyal_rule = DEFAULT_PLAYBOOK[4]
    for playbook, message in (
        ((), "non-empty"),
        (tuple(r for r in DEFAULT_PLAYBOOK if r is not loyal_rule), r"stage\(s\) \['loyal'\]"),
        (
            with_rule_before(
                replace(VIP_EARLY_ACCESS, when={"value_tier": "gold"}), "loyalty_club"
            ),
            "unknown value_tier",
        ),
        (
            (replace(loyal_rule, name="x", when={"lifecycle_stage": "loyl"}), *DEFAULT_PLAYBOOK),
            "loyl",
        ),
        ((replace(loyal_rule, name="x", subject="Other subject"), *DEFAULT_PLAYBOOK), "differ"),
        ((*DEFAULT_PLAYBOOK, replace(loyal_rule, offer_type="x")), "unique"),
    ):
        with pytest.raises(ValueError, match=message):
            OfferPolicy(playbook=playbook)
    with pytest.raises(ValueError, match="retired"):
        OfferPolicy(stage_offer_types=(("loyal", "loyalty_club_invitation"),))
    with pytest.raises(ValueError, match="discount_percent"):
        replace(loyal_rule, discount_percent=120)
    with pytest.raises(ValueError, match="cart_abandoner"):
        OfferRule(
            name="a", offer_type="a", template_key="a", subject="a", when={"cart_abandoner": True}
        )
    # a rule testing a column the scores do not have: a clear error when evaluated
    policy = OfferPolicy(
        playbook=with_rule_before(
            replace(VIP_EARLY_ACCESS, when={"email_engagement": ("clicker",)}), "loyalty_club"
        )
    )
    with pytest.raises(DataError, match="email_engagement"):
        assign_offers(frame([0.5], [100.0]), policy)


# ----------------------------------------------------------------------------- control group


def test_control_group_share_stable_and_order_independent():
    ids = pd.Series([f"{i}" for i in range(100_000)], dtype=str)
    groups = ab_groups(ids)
    share = (groups == "control").mean()
    assert abs(share - 0.10) < 0.005  # 5 binomial standard deviations
    np.testing.assert_array_equal(groups, ab_groups(ids))  # same call, same answer
    permutation = np.random.default_rng(3).permutation(len(ids))
    shuffled = ab_groups(ids.iloc[permutation])
    np.testing.assert_array_equal(shuffled, groups[permutation])
    # independent of the rest of the population
    np.testing.assert_array_equal(ab_groups(ids.iloc[:50]), groups[:50])
    # dtype does not matter (object vs string)
    np.testing.assert_array_equal(ab_groups(ids.astype(object)), groups)


def test_stable_hash_is_pinned():
    """Same ids, same groups on every machine; this fails if pandas changes its hashing."""
    ids = pd.Series(["12346", "12347", "17850", "00004", "lead-0001"], dtype=str)
    np.testing.assert_allclose(
        stable_unit_hash(ids, "scoring-offers-v1", "scoring-offers-k"),
        [
            0.1930196776623332,
            0.9115552066101147,
            0.2910200018006519,
            0.042445355768227055,
            0.3694345634425731,
        ],
        rtol=0,
        atol=1e-15,
    )
    assert ab_groups(ids).tolist() == [
        "treatment",
        "treatment",
        "treatment",
        "control",
        "treatment",
    ]


def test_control_share_is_nested_and_salt_redraws():
    ids = pd.Series([str(i) for i in range(20_000)], dtype=str)
    small = ab_groups(ids, OfferPolicy(arms=split_arms(0.10))) == "control"
    large = ab_groups(ids, OfferPolicy(arms=split_arms(0.20))) == "control"
    assert np.all(large[small])  # raising the share keeps the old control customers
    assert abs(large.mean() - 0.20) < 0.015
    redrawn = ab_groups(ids, OfferPolicy(hash_salt="campaign-2")) == "control"
    assert abs((redrawn & small).mean() - 0.01) < 0.005  # independent draws overlap ~ 1 %


def test_abn_arms():
    arms = split_arms(0.1, ("voucher_a", "voucher_b", "voucher_c"))
    assert arms[0] == ("control", 0.1) and sum(s for _, s in arms) == pytest.approx(1.0)
    ids = pd.Series([str(i) for i in range(60_000)], dtype=str)
    groups = pd.Series(ab_groups(ids, OfferPolicy(arms=arms))).value_counts(normalize=True)
    for name, share in arms:
        assert abs(groups[name] - share) < 0.01


def test_control_customers_get_no_bonus_but_their_offer_is_recorded():
    offers, summary = assign_offers(realistic_scores(), OfferPolicy())
    control = offers[offers["control_group"]]
    assert (control["ab_group"] == "control").all()
    assert (control["bonus_amount"] == 0).all()
    assert (control["discount_percent"] == 0).all()
    assert (control["expected_revenue_retained"] == 0).all()
    assert control["offer_type"].notna().all()
    would_have = control[(control["candidate_bonus"] > 0) | (control["lifecycle_stage"] == "lead")]
    assert len(would_have) > 0
    assert (would_have["bonus_reason"] == "control_group").all()
    assert summary["control_group_size"] == len(control)
    assert summary["customers_per_ab_group"] == {
        "control": len(control),
        "treatment": len(offers) - len(control),
    }


# ----------------------------------------------------------------------------- budget


def greedy_rank(offers: pd.DataFrame, policy: OfferPolicy) -> pd.Series:
    """Independent re-implementation of the greedy order (Python sort over a few rows)."""
    candidates = offers[offers["candidate_bonus"] > 0]
    retained = expected_revenue_retained(
        candidates["candidate_bonus"],
        candidates["churn_probability"],
        candidates["predicted_clv_12m"],
        policy,
    )
    keys = sorted(
        zip(
            -(retained / candidates["candidate_bonus"].to_numpy()),
            -retained,
            candidates["customer_id"],
            strict=True,
        )
    )
    return pd.Series(range(len(keys)), index=[k[2] for k in keys])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(st.floats(0.0, 1.0), st.sampled_from([0, 15, 40, 90, 250, 600, 2000, 10_000])),
        min_size=1,
        max_size=60,
    ),
    budget=st.floats(0.0, 3_000.0),
)
def test_budget_never_exceeded_and_greedy_by_value_per_unit(rows, budget):
    churn, clv = (np.array(column, dtype=float) for column in zip(*rows, strict=True))
    scores = frame(churn, clv)
    offers, summary = assign_offers(scores, NO_CONTROL, budget=budget)
    given_bonus = offers["bonus_amount"] > 0
    assert offers["bonus_amount"].sum() <= budget + 1e-6
    assert summary["budget_used"] == pytest.approx(offers["bonus_amount"].sum())
    cut = offers["bonus_reason"] == "budget_exhausted"
    assert (offers.loc[cut, "bonus_amount"] == 0).all()
    assert set(offers.index[offers["candidate_bonus"] > 0]) == set(offers.index[given_bonus | cut])
    if cut.any():
        rank = greedy_rank(offers, NO_CONTROL)
        kept_ranks = rank[offers.loc[given_bonus, "customer_id"]]
        cut_ranks = rank[offers.loc[cut, "customer_id"]]
        # a prefix of the greedy order is funded ...
        assert kept_ranks.max() < cut_ranks.min() if len(kept_ranks) else True
        # ... and the best customer left out did not fit in what was left
        first_cut = rank.index[cut_ranks.min()]
        first_cut_bonus = offers.loc[offers["customer_id"] == first_cut, "candidate_bonus"].iloc[0]
        assert first_cut_bonus > budget - offers["bonus_amount"].sum() - 1e-9


def test_budget_examples_and_no_budget():
    policy = OfferPolicy(arms=(("treatment", 1.0),), control_arms=())
    # bonuses 25 (p 0.6, clv 500), 50 (p 0.9, clv 600), 10 (p 0.35, clv 300)
    scores = frame(churn=[0.6, 0.9, 0.35], clv=[500.0, 600.0, 300.0])
    unlimited, summary = assign_offers(scores, policy)
    np.testing.assert_array_equal(unlimited["bonus_amount"], [25, 50, 10])
    assert summary["budget"] is None and summary["budget_used"] == 85
    # unsaturated: value per unit = response_rate * p / saturation_share, so churn decides
    offers, summary = assign_offers(scores, policy, budget=60)
    np.testing.assert_array_equal(offers["bonus_amount"], [0, 50, 0])
    assert summary["customers_cut_by_budget"] == 2 and summary["budget_used"] == 50
    offers, _ = assign_offers(scores, policy, budget=0)
    assert (offers["bonus_amount"] == 0).all()
    with pytest.raises(ValueError, match="budget"):
        assign_offers(scores, policy, budget=-1)


def test_allocate_budget_matches_assign_offers():
    scores = realistic_scores(8_000)
    policy = OfferPolicy()
    uncapped, _ = assign_offers(scores, policy)
    for budget in (0.0, 500.0, 5_000.0, 1e9):
        capped, summary = assign_offers(scores, policy, budget=budget)
        allocated, allocation = allocate_budget(uncapped, budget, policy)
        np.testing.assert_array_equal(allocated["bonus_amount"], capped["bonus_amount"])
        assert (allocated["bonus_reason"] == capped["bonus_reason"]).all()
        np.testing.assert_allclose(
            allocated["expected_revenue_retained"], capped["expected_revenue_retained"]
        )
        assert allocation["spent"] == pytest.approx(summary["budget_used"])
        assert allocation["spent"] <= budget + 1e-6
        assert allocation["expected_revenue_retained"] == pytest.approx(
            summary["expected_revenue_retained"]
        )
    # without bonus_amount it computes the risk-scaled bonus itself
    raw = scores[scores["lifecycle_stage"] != "lead"].drop(columns="lifecycle_stage")
    allocated, allocation = allocate_budget(raw, 1_000.0)
    assert allocation["spent"] <= 1_000.0 and allocation["customers_cut_by_budget"] > 0
    assert set(allocated["bonus_reason"].astype(str)) <= set(BONUS_REASONS)


def test_budget_curve_matches_assign_offers_and_is_monotone():
    scores = realistic_scores(8_000)
    policy = OfferPolicy()
    budgets = [0, 100, 1_000, 2_500, 10_000, 50_000, 1e7]
    curve = budget_curve(scores, policy, budgets)
    assert list(curve.columns) == [
        "budget",
        "spent",
        "expected_revenue_retained",
        "customers_with_bonus",
    ]
    for row in curve.itertuples():
        _, summary = assign_offers(scores, policy, budget=row.budget)
        assert row.spent == pytest.approx(summary["budget_used"])
        assert row.expected_revenue_retained == pytest.approx(summary["expected_revenue_retained"])
        # no welcome voucher by default, so every bonus is a retention bonus
        assert row.customers_with_bonus == summary["customers_with_bonus"]
    assert (curve["spent"] <= curve["budget"] + 1e-6).all()
    assert curve["spent"].is_monotonic_increasing
    assert curve["expected_revenue_retained"].is_monotonic_increasing
    # diminishing returns: revenue per unit falls as the budget grows (greedy order)
    per_unit = np.diff(curve["expected_revenue_retained"]) / np.diff(curve["spent"]).clip(1e-9)
    assert np.all(np.diff(per_unit[np.diff(curve["spent"]) > 0]) <= 1e-9)


# ----------------------------------------------------------------------------- summary, realism


def test_summary_counts_add_up():
    scores = realistic_scores()
    offers, summary = assign_offers(scores, OfferPolicy(), budget=20_000)
    n = len(scores)
    assert summary["customers"] == n
    for key in (
        "customers_per_offer_type",
        "customers_per_value_tier",
        "customers_per_ab_group",
        "customers_per_bonus_reason",
        "customers_per_rfm_segment",
    ):
        assert sum(summary[key].values()) == n, key
    assert list(summary["customers_per_offer_type"]) == list(OFFER_TYPES)
    assert list(summary["customers_per_value_tier"]) == list(VALUE_TIERS)
    assert summary["customers_with_bonus"] == int((offers["bonus_amount"] > 0).sum())
    assert summary["bonus_total"] == pytest.approx(offers["bonus_amount"].sum())
    assert summary["expected_revenue_retained"] == pytest.approx(
        offers["expected_revenue_retained"].sum()
    )
    assert (
        summary["customers_cut_by_budget"]
        == summary["customers_per_bonus_reason"]["budget_exhausted"]
    )
    assert summary["budget_used"] <= 20_000
    assert summary["budget_used_share"] == pytest.approx(summary["budget_used"] / 20_000)
    tier_min = summary["tier_min_clv"]
    assert tier_min["vip"] > tier_min["high"] > tier_min["medium"] >= tier_min["low"]
    json.dumps(summary)  # plain Python types, ready for MLflow / JSON


def test_realistic_frame_is_deterministic_and_row_order_independent():
    scores = realistic_scores()
    policy = OfferPolicy()
    offers, summary = assign_offers(scores, policy, budget=15_000)
    again, summary_again = assign_offers(scores, policy, budget=15_000)
    pd.testing.assert_frame_equal(comparable(offers), comparable(again))
    assert summary == summary_again
    # the input is not modified and the row order and index are kept
    assert "bonus_amount" not in scores.columns
    assert offers.index.equals(scores.index)
    shuffled_scores = scores.sample(frac=1.0, random_state=11)
    shuffled, summary_shuffled = assign_offers(shuffled_scores, policy, budget=15_000)
    pd.testing.assert_frame_equal(comparable(shuffled.loc[offers.index]), comparable(offers))
    assert summary_shuffled == summary

    # plausibility on realistic values
    buyers = offers[offers["lifecycle_stage"] != "lead"]
    assert buyers["value_tier"].value_counts(normalize=True)["vip"] == pytest.approx(
        0.05, abs=0.002
    )
    assert (offers["bonus_amount"] <= 0.2 * offers["predicted_clv_12m"].fillna(0) + 1e-9).all()
    assert offers["expected_revenue_retained"].sum() > 0
    funded = offers[offers["bonus_amount"] > 0]
    assert (funded["churn_probability"] >= 0.3).all() and (funded["predicted_clv_12m"] >= 20).all()
    # value at risk is churn * CLV, higher tiers carry more of it on average
    np.testing.assert_allclose(
        buyers["value_at_risk"], buyers["churn_probability"] * buyers["predicted_clv_12m"]
    )
    by_tier = buyers.groupby("value_tier", observed=True)["value_at_risk"].mean()
    assert by_tier["vip"] > by_tier["high"] > by_tier["medium"] > by_tier["low"]
    # carried-through columns are unchanged
    assert (offers["email_engagement"] == scores["email_engagement"]).all()


def test_on_cdnow_scores_from_lifetimes():
    """Real data: BG/NBD + Gamma-Gamma (lifetimes) on the CDNOW sample as the scores."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    path = files("lifetimes.datasets") / "CDNOW_sample.txt"
    transactions = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["customer_id", "_", "date", "cds", "amount"],
        dtype={"customer_id": str},
    )
    transactions["timestamp"] = pd.to_datetime(transactions["date"].astype(str), format="%Y%m%d")
    transactions = transactions[transactions["timestamp"] < "1997-10-01"]
    rfm = summary_data_from_transaction_data(
        transactions,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end="1997-09-30",
        freq="D",
    )
    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(rfm["frequency"], rfm["recency"], rfm["T"])
    expected_orders = bgf.conditional_expected_number_of_purchases_up_to_time(
        90, rfm["frequency"], rfm["recency"], rfm["T"]
    )
    repeaters = rfm[rfm["frequency"] > 0]
    ggf = GammaGammaFitter(penalizer_coef=0.0).fit(
        repeaters["frequency"], repeaters["monetary_value"]
    )
    clv = ggf.customer_lifetime_value(
        bgf,
        rfm["frequency"],
        rfm["recency"],
        rfm["T"],
        rfm["monetary_value"],
        time=12,
        freq="D",
        discount_rate=0.0,
    )
    days_since_last = rfm["T"] - rfm["recency"]
    stage = np.select(
        [
            days_since_last > 365,
            days_since_last > 180,
            rfm["frequency"] == 0,
            rfm["frequency"] == 1,
        ],
        ["sleeping", "lapsed", "first_time", "second_order"],
        "loyal",
    )
    scores = pd.DataFrame(
        {
            "customer_id": rfm.index.astype(str),
            # Poisson proxy of P(no order in 90 days) from the expected number of orders
            "churn_probability": np.exp(-expected_orders.to_numpy()),
            "predicted_clv_12m": clv.to_numpy(),
            "lifecycle_stage": stage,
        }
    )
    budget = 100.0  # binds: about 60 customers would get a bonus worth about 300 in total
    offers, summary = assign_offers(scores, OfferPolicy(), budget=budget)
    assert summary["customers"] == len(rfm) == 2357
    assert 0 < summary["budget_used"] <= budget
    funded = offers[offers["bonus_amount"] > 0]
    assert len(funded) > 0
    assert (funded["bonus_amount"] <= 0.2 * funded["predicted_clv_12m"]).all()
    # with the budget binding, the funded customers are the ones with the best return per unit
    cut = offers[offers["bonus_reason"] == "budget_exhausted"]
    assert len(cut) > 0
    assert funded["retained_per_bonus_unit"].min() >= cut["retained_per_bonus_unit"].max() - 1e-12
    assert summary["customers_per_value_tier"]["vip"] <= 0.05 * len(rfm)


# ----------------------------------------------------------------------------- errors


def test_clear_errors_for_bad_scores():
    good = frame([0.5, 0.6], [100.0, 200.0])
    with pytest.raises(DataError, match="missing column.*predicted_clv_12m"):
        assign_offers(good.drop(columns="predicted_clv_12m"))
    with pytest.raises(DataError, match="more than once"):
        assign_offers(frame([0.5, 0.6], [100.0, 200.0], ids=["a", "a"]))
    with pytest.raises(DataError, match="churn_probability.*1 customer"):
        assign_offers(frame([0.5, 1.2], [100.0, 200.0]))
    with pytest.raises(DataError, match="predicted_clv_12m"):
        assign_offers(frame([0.5, 0.6], [100.0, -1.0]))
    with pytest.raises(DataError, match="predicted_clv_12m"):
        assign_offers(frame([0.5, 0.6], [100.0, np.nan]))  # only leads may be missing
    with pytest.raises(DataError, match="lifecycle_stage.*'vip'"):
        assign_offers(good.assign(lifecycle_stage=["loyal", "vip"]))
    with pytest.raises(DataError, match="strings like"):
        assign_offers(good.assign(customer_id=[12346.0, 12347.0]))
    with pytest.raises(DataError, match="cart_abandoner"):
        assign_offers(good.assign(cart_abandoner=["yes", "no"]))
    assert issubclass(DataError, ValueError)


def test_policy_validation():
    for bad in (
        {"tier_top_shares": (0.5, 0.4, 0.3)},
        {"tier_thresholds": (10, 100, 1)},
        {"denominations": (10, 5)},
        {"denominations": ()},
        {"min_churn_probability": 1.5},
        {"arms": (("control", 0.1), ("treatment", 0.8))},
        {"control_arms": ("holdout",)},
        {"stage_offer_types": (("lead", "welcome_discount"),)},
        {"hash_key": "short"},
        {"bonus_saturation_share": 0.0},
    ):
        with pytest.raises(ValueError):
            OfferPolicy(**bad)


def test_empty_scores():
    offers, summary = assign_offers(frame([], []))
    assert len(offers) == 0 and summary["customers"] == 0 and summary["bonus_total"] == 0
    assert budget_curve(frame([], []), budgets=[0, 10])["spent"].tolist() == [0, 0]
