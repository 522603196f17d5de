"""The risk-scaled retention bonus, the response assumption, and why a bonus was (not) given.

::

    value_at_risk   = churn_probability * predicted_clv_12m                  (currency)
    raw_bonus       = clip(bonus_rate * value_at_risk, 0, max_share_of_clv * predicted_clv_12m)
    candidate_bonus = largest denomination <= raw_bonus   (0 below the smallest denomination)
    candidate_bonus = 0 unless churn_probability >= min_churn_probability
                           and predicted_clv_12m >= min_clv

    uplift_probability(bonus) = response_rate * min(1, bonus / (bonus_saturation_share * predicted_clv_12m))
    expected_revenue_retained = uplift_probability(bonus) * churn_probability * predicted_clv_12m

The response is an assumption, not an estimate: replace it with the uplift measured on the
control group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .policy import TOL, OfferPolicy

BONUS_REASONS: tuple[str, ...] = (
    "risk_scaled_bonus",
    "lead_welcome_offer",
    "control_group",
    "budget_exhausted",
    "below_min_clv",
    "below_min_churn_probability",
    "below_smallest_denomination",
    "uplift_allocation",
    "no_expected_profit",
)
"""Values of ``bonus_reason``: why a customer has (or has not) got a bonus.

``risk_scaled_bonus``: bonus given; ``lead_welcome_offer``: lead, welcome discount (and voucher
when ``welcome_bonus_amount > 0``); ``control_group``: would have had an incentive but is held
out; ``budget_exhausted``: cut by the budget; ``below_min_clv`` / ``below_min_churn_probability``
/ ``below_smallest_denomination``: no candidate bonus (checked in that order). With an uplift
model (``--uplift-model``, :func:`scoring.campaign.registry.allocate_with_uplift`):
``uplift_allocation``: bonus given for its predicted incremental profit;
``no_expected_profit``: no option's predicted incremental revenue exceeds its expected cost.
"""


def risk_scaled_bonus(
    churn_probability: pd.Series | np.ndarray | float,
    predicted_clv_12m: pd.Series | np.ndarray | float,
    policy: OfferPolicy | None = None,
) -> np.ndarray:
    """Candidate retention bonus (currency), shape of the broadcast inputs.

    ``clip(bonus_rate * p * clv, 0, max_share_of_clv * clv)`` rounded down to
    ``denominations``, zero unless ``p >= min_churn_probability`` and ``clv >= min_clv``.
    Non-decreasing in ``churn_probability`` and in ``predicted_clv_12m``.
    """
    policy = policy or OfferPolicy()
    p = np.asarray(churn_probability, dtype=float)
    clv = np.asarray(predicted_clv_12m, dtype=float)
    p, clv = np.broadcast_arrays(p, clv)
    cap = policy.max_share_of_clv * np.maximum(clv, 0.0)
    raw = np.clip(policy.bonus_rate * p * clv, 0.0, cap)
    denominations = np.asarray(policy.denominations, dtype=float)
    # tolerance: 0.1 * 0.5 * 100 must round to 5, not to 0 because of 4.999999999
    index = np.searchsorted(denominations, raw + TOL, side="right") - 1
    bonus = np.where(index >= 0, denominations[np.clip(index, 0, None)], 0.0)
    eligible = (p >= policy.min_churn_probability) & (clv >= policy.min_clv)
    return np.where(eligible, bonus, 0.0)


def uplift_probability(
    bonus_amount: pd.Series | np.ndarray | float,
    predicted_clv_12m: pd.Series | np.ndarray | float,
    policy: OfferPolicy | None = None,
) -> np.ndarray:
    """Assumed probability that ``bonus_amount`` retains an otherwise churning customer.

    ``response_rate * min(1, bonus / (bonus_saturation_share * clv))``, 0 for no bonus or
    CLV 0. Shape of the broadcast inputs.
    """
    policy = policy or OfferPolicy()
    bonus = np.asarray(bonus_amount, dtype=float)
    saturation = policy.bonus_saturation_share * np.asarray(predicted_clv_12m, dtype=float)
    bonus, saturation = np.broadcast_arrays(bonus, saturation)
    strength = np.divide(
        bonus, saturation, out=np.zeros(bonus.shape), where=(saturation > 0) & (bonus > 0)
    )
    return policy.response_rate * np.minimum(1.0, strength)


def expected_revenue_retained(
    bonus_amount: pd.Series | np.ndarray | float,
    churn_probability: pd.Series | np.ndarray | float,
    predicted_clv_12m: pd.Series | np.ndarray | float,
    policy: OfferPolicy | None = None,
) -> np.ndarray:
    """``uplift_probability(bonus) * churn_probability * predicted_clv_12m`` (currency)."""
    clv = np.asarray(predicted_clv_12m, dtype=float)
    uplift = uplift_probability(bonus_amount, clv, policy)
    return uplift * np.asarray(churn_probability, dtype=float) * clv


def bonus_reason_codes(
    is_lead: np.ndarray,
    control: np.ndarray,
    cut: np.ndarray,
    churn_probability: np.ndarray,
    predicted_clv_12m: np.ndarray,
    candidate_bonus: np.ndarray,
    policy: OfferPolicy,
) -> np.ndarray:
    """Codes into BONUS_REASONS per customer (first matching rule wins), shape (n,)."""
    rules = [
        (is_lead & control, "control_group"),
        (is_lead, "lead_welcome_offer"),
        (predicted_clv_12m < policy.min_clv, "below_min_clv"),
        (churn_probability < policy.min_churn_probability, "below_min_churn_probability"),
        (candidate_bonus <= 0, "below_smallest_denomination"),
        (control, "control_group"),
        (cut, "budget_exhausted"),
    ]
    return np.select(
        [condition for condition, _ in rules],
        [BONUS_REASONS.index(reason) for _, reason in rules],
        BONUS_REASONS.index("risk_scaled_bonus"),
    ).astype(np.int8)


__all__ = [
    "BONUS_REASONS",
    "bonus_reason_codes",
    "expected_revenue_retained",
    "risk_scaled_bonus",
    "uplift_probability",
]
