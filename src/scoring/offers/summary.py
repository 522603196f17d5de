"""The campaign summary: counts and totals of an offers table, as plain JSON-ready types."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .arms import arm_names
from .bonus import BONUS_REASONS
from .policy import VALUE_TIERS, OfferPolicy


def counts(values: pd.Series, categories: Sequence[str]) -> dict[str, int]:
    """Customers per value: ``categories`` first (zeros included), then any other value."""
    value_counts = values.value_counts(sort=False)
    ordered = {c: int(value_counts.get(c, 0)) for c in categories}
    ordered.update({str(c): int(n) for c, n in value_counts.items() if c not in ordered})
    return ordered


def campaign_summary(
    offers: pd.DataFrame,
    is_lead: np.ndarray,
    clv: np.ndarray,
    budget: float | None,
    policy: OfferPolicy,
) -> dict:
    """The summary of :func:`~scoring.offers.assign.assign_offers` (keys listed there)."""
    n = len(offers)
    bonus = offers["bonus_amount"].to_numpy()
    retention_total = float(bonus[~is_lead].sum())
    control_size = int(offers["control_group"].sum())
    tier_min = pd.Series(clv).groupby(offers["value_tier"].to_numpy()).min()
    summary = {
        "customers": n,
        "customers_per_offer_type": counts(offers["offer_type"], policy.offer_types),
        "customers_per_value_tier": counts(offers["value_tier"], VALUE_TIERS),
        "customers_per_ab_group": counts(offers["ab_group"], arm_names(policy)),
        "customers_per_bonus_reason": counts(offers["bonus_reason"], BONUS_REASONS),
        "control_group_size": control_size,
        "control_group_share": control_size / n if n else 0.0,
        "customers_with_bonus": int((bonus > 0).sum()),
        "bonus_total": float(bonus.sum()),
        "retention_bonus_total": retention_total,
        "welcome_bonus_total": float(bonus[is_lead].sum()),
        "budget": budget,
        "budget_used": retention_total,
        "budget_used_share": retention_total / budget if budget else None,
        "customers_cut_by_budget": int((offers["bonus_reason"] == "budget_exhausted").sum()),
        "value_at_risk_total": float(offers["value_at_risk"].sum()),
        "expected_revenue_retained": float(offers["expected_revenue_retained"].sum()),
        "tier_min_clv": {t: float(tier_min[t]) for t in VALUE_TIERS[:-1] if t in tier_min.index},
    }
    if "rfm_segment" in offers.columns:
        summary["customers_per_rfm_segment"] = counts(offers["rfm_segment"].astype(str), [])
    return summary


__all__ = ["campaign_summary", "counts"]
