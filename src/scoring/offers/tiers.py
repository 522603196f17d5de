"""Value tiers: vip / high / medium / low by predicted 12-month CLV; ``lead`` without orders.

Quantile tiers (default): among buyers, a customer is in the top-``s`` group when the buyers
whose CLV is at least theirs make up no more than the share ``s``; tied customers share a tier
(ties go to the lower tier), the tier is monotone in CLV and independent of row order.
Absolute tiers (``OfferPolicy.tier_thresholds``) compare the CLV with fixed amounts instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .policy import VALUE_TIERS, OfferPolicy


def value_tiers(
    predicted_clv_12m: pd.Series | np.ndarray,
    policy: OfferPolicy | None = None,
    is_lead: pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """Value tier per customer, shape (n,), values in :data:`VALUE_TIERS`.

    ``predicted_clv_12m``: shape (n,), currency. ``is_lead``: optional boolean mask (n,); leads
    get ``"lead"`` and are left out of the quantiles. Quantile or absolute tiers as described
    in the module docstring.
    """
    policy = policy or OfferPolicy()
    clv = np.asarray(predicted_clv_12m, dtype=float)
    lead = np.zeros(clv.shape, bool) if is_lead is None else np.asarray(is_lead, dtype=bool)
    return np.asarray(VALUE_TIERS)[tier_codes(clv, lead, policy)]


def tier_codes(clv: np.ndarray, lead: np.ndarray, policy: OfferPolicy) -> np.ndarray:
    """Codes into VALUE_TIERS (0 vip, 1 high, 2 medium, 3 low, 4 lead), shape (n,)."""
    if policy.tier_thresholds is not None:
        vip_min, high_min, medium_min = policy.tier_thresholds
        codes = np.select([clv >= vip_min, clv >= high_min, clv >= medium_min], [0, 1, 2], 3)
    else:
        codes = np.full(clv.shape, 3, dtype=np.int8)
        buyers = ~lead
        n_buyers = int(buyers.sum())
        if n_buyers:
            # buyers with CLV >= mine, i.e. my 1-based position when ties go to the bottom
            at_least_mine = pd.Series(clv[buyers]).rank(method="max", ascending=False).to_numpy()
            limits = np.floor(np.cumsum(policy.tier_top_shares) * n_buyers + 1e-9)
            codes[buyers] = np.searchsorted(limits, at_least_mine, side="left")
    codes = np.asarray(codes, dtype=np.int8)
    codes[lead] = 4
    return codes


__all__ = ["VALUE_TIERS", "tier_codes", "value_tiers"]
