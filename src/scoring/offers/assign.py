"""``assign_offers``: tier, offer, arm, bonus, budget and summary for every customer, wired.

Each step is one call into the module that owns it, in this order: value tier (``tiers``),
offer from the playbook (``playbook``), A/B/n arm and control group (``arms``), candidate bonus
and its expected effect (``bonus``), the budget cut (``budget``), why each customer has or has
not got a bonus (``bonus``), the campaign summary (``summary``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .arms import arm_codes, arm_names, control_mask
from .bonus import BONUS_REASONS, bonus_reason_codes, expected_revenue_retained, risk_scaled_bonus
from .budget import budget_keep, check_budget
from .playbook import offer_codes
from .policy import VALUE_TIERS, OfferPolicy, lead_mask, numeric, validate_scores
from .summary import campaign_summary
from .tiers import tier_codes


def _categorical(codes: np.ndarray, labels: Sequence[str]) -> pd.Categorical:
    """``labels[codes]`` as a Categorical whose categories are ``labels`` without repeats."""
    categories = list(dict.fromkeys(labels))
    remap = np.array([categories.index(label) for label in labels], dtype=np.int8)
    return pd.Categorical.from_codes(remap[codes], categories=categories)


def assign_offers(
    scores: pd.DataFrame, policy: OfferPolicy | None = None, budget: float | None = None
) -> tuple[pd.DataFrame, dict]:
    """Offer, bonus, tier and A/B arm for every customer.

    Parameters
    ----------
    scores : DataFrame, one row per customer (see the package docstring for columns).
    policy : :class:`OfferPolicy`; defaults when None.
    budget : cap on the total of retention bonuses (currency), None for no cap.

    Returns
    -------
    offers : copy of ``scores`` (same index and row order) with the added columns
        value_tier, value_at_risk, offer_type, template_key, email_subject, candidate_bonus,
        bonus_amount, discount_percent, retained_per_bonus_unit, control_group, ab_group,
        bonus_reason, expected_revenue_retained.
    summary : JSON-serialisable dict: customers, customers_per_offer_type,
        customers_per_value_tier, customers_per_ab_group, customers_per_bonus_reason,
        control_group_size, control_group_share, customers_with_bonus, bonus_total,
        retention_bonus_total, welcome_bonus_total, budget, budget_used, budget_used_share,
        customers_cut_by_budget, value_at_risk_total, expected_revenue_retained,
        tier_min_clv (smallest CLV per tier).
    """
    policy = policy or OfferPolicy()
    budget = check_budget(budget)
    validate_scores(scores)
    customer_id = scores["customer_id"].to_numpy(dtype=object)
    is_lead = lead_mask(scores)
    p = numeric(scores, "churn_probability", is_lead)
    clv = numeric(scores, "predicted_clv_12m", is_lead)

    value_tier = _categorical(tier_codes(clv, is_lead, policy), VALUE_TIERS)
    offer = offer_codes(policy.playbook, scores, {"value_tier": value_tier})
    arm = arm_codes(scores["customer_id"], policy)
    control = control_mask(arm, policy)

    candidate = np.where(is_lead, policy.welcome_bonus_amount, risk_scaled_bonus(p, clv, policy))
    retention = np.where(is_lead | control, 0.0, candidate)  # the budget's scope
    retained = expected_revenue_retained(retention, p, clv, policy)
    keep = budget_keep(customer_id, retention, retained, budget)
    cut = (retention > 0) & ~keep
    candidate_retention = np.where(is_lead, 0.0, candidate)
    candidate_retained = expected_revenue_retained(candidate_retention, p, clv, policy)
    reason = bonus_reason_codes(is_lead, control, cut, p, clv, candidate, policy)

    catalogue = policy.offer_catalogue
    offers = scores.copy()
    offers["value_tier"] = value_tier
    offers["value_at_risk"] = p * clv
    offers["offer_type"] = _categorical(offer, [rule.offer_type for rule in catalogue])
    offers["template_key"] = _categorical(offer, [rule.template_key for rule in catalogue])
    offers["email_subject"] = _categorical(offer, [rule.subject for rule in catalogue])
    offers["candidate_bonus"] = candidate
    offers["bonus_amount"] = np.where(control | cut, 0.0, candidate)
    discount = np.array([rule.discount_percent for rule in catalogue], dtype=float)[offer]
    offers["discount_percent"] = np.where(control, 0.0, discount)
    offers["retained_per_bonus_unit"] = np.divide(
        candidate_retained,
        candidate_retention,
        out=np.zeros(len(scores)),
        where=candidate_retention > 0,
    )
    offers["control_group"] = control
    offers["ab_group"] = _categorical(arm, arm_names(policy))
    offers["bonus_reason"] = _categorical(reason, BONUS_REASONS)
    offers["expected_revenue_retained"] = np.where(keep, retained, 0.0)
    return offers, campaign_summary(offers, is_lead, clv, budget, policy)


def offer_types(scores: pd.DataFrame, policy: OfferPolicy | None = None) -> np.ndarray:
    """Exactly one offer type per row of ``scores`` (needs ``lifecycle_stage``), shape (n,).

    The offer of the first matching rule of ``policy.playbook``. When a rule tests
    ``value_tier`` and ``scores`` has no such column, the tiers are computed from
    ``predicted_clv_12m``.
    """
    policy = policy or OfferPolicy()
    validate_scores(scores, required=("customer_id", "lifecycle_stage"))
    computed = {}
    tests_tier = any("value_tier" in rule.conditions for rule in policy.playbook)
    if tests_tier and "value_tier" not in scores.columns and "predicted_clv_12m" in scores:
        is_lead = lead_mask(scores)
        clv = numeric(scores, "predicted_clv_12m", is_lead)
        computed["value_tier"] = _categorical(tier_codes(clv, is_lead, policy), VALUE_TIERS)
    codes = offer_codes(policy.playbook, scores, computed)
    return np.asarray(policy.offer_types)[codes]


__all__ = ["assign_offers", "offer_types"]
