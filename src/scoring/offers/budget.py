"""The bonus budget: greedy allocation by expected revenue retained per bonus unit.

Customers with a retention bonus (treated buyers) are ranked by
``retained_per_bonus_unit = expected_revenue_retained(bonus) / bonus`` (ties: larger
``expected_revenue_retained`` first, then ``customer_id``) and get their bonus in that order
while the cumulative sum stays within the budget: the first bonus that does not fit ends the
allocation (a prefix of the order is funded), so at most one bonus worth of budget stays
unspent. Leads' welcome vouchers are outside the budget. :func:`budget_curve` gives the same
allocation for many budgets at once (one sort, cumulative sums).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from scoring.data.errors import DataError

from .arms import arm_codes, control_mask
from .bonus import BONUS_REASONS, bonus_reason_codes, expected_revenue_retained, risk_scaled_bonus
from .policy import TOL, OfferPolicy, lead_mask, numeric, validate_scores


def check_budget(budget: float | None) -> float | None:
    """``budget`` as a float (None stays None); ValueError unless finite and >= 0."""
    if budget is None:
        return None
    budget = float(budget)
    if not (np.isfinite(budget) and budget >= 0):
        raise ValueError(f"budget must be a finite amount >= 0 (currency) or None, got {budget!r}")
    return budget


def greedy_order(customer_id: np.ndarray, bonus: np.ndarray, retained: np.ndarray) -> np.ndarray:
    """Positions of customers with a positive bonus, best value per bonus unit first."""
    positions = np.flatnonzero(bonus > 0)
    ranking = pd.DataFrame(
        {
            "per_unit": retained[positions] / bonus[positions],
            "retained": retained[positions],
            "customer_id": customer_id[positions],
            "position": positions,
        }
    ).sort_values(
        ["per_unit", "retained", "customer_id"], ascending=[False, False, True], kind="mergesort"
    )
    return ranking["position"].to_numpy()


def budget_keep(
    customer_id: np.ndarray, bonus: np.ndarray, retained: np.ndarray, budget: float | None
) -> np.ndarray:
    """Boolean mask (n,): customers whose bonus fits the budget in the greedy order."""
    keep = bonus > 0
    if budget is None:
        return keep
    order = greedy_order(customer_id, bonus, retained)
    fits = np.cumsum(bonus[order]) <= budget + TOL * max(1.0, budget)
    # a prefix: the first bonus that does not fit ends the allocation
    n_fit = int(np.argmin(fits)) if not fits.all() else len(order)
    keep[order[n_fit:]] = False
    return keep


def _given_bonus(
    scores: pd.DataFrame, p: np.ndarray, clv: np.ndarray, policy: OfferPolicy
) -> np.ndarray:
    """``bonus_amount`` of ``scores`` (missing -> 0), or the risk-scaled bonus without it."""
    if "bonus_amount" not in scores.columns:
        return risk_scaled_bonus(p, clv, policy)
    bonus = pd.to_numeric(scores["bonus_amount"]).fillna(0.0).astype(float).to_numpy()
    if np.any(bonus < 0):
        raise DataError(
            f"column 'bonus_amount': {int((bonus < 0).sum())} negative value(s); bonuses "
            "must be >= 0."
        )
    return bonus


def allocate_budget(
    scores: pd.DataFrame, budget: float | None, policy: OfferPolicy | None = None
) -> tuple[pd.DataFrame, dict]:
    """Cap the total of retention bonuses at ``budget`` (currency) greedily by value per unit.

    ``scores``: one row per customer with ``customer_id``, ``churn_probability``,
    ``predicted_clv_12m`` and the bonuses before the budget in ``bonus_amount`` (computed with
    :func:`risk_scaled_bonus` when the column is absent). Leads (when ``lifecycle_stage`` is
    present) are outside the budget. ``budget=None`` means no cap.

    Returns a copy of ``scores`` with ``bonus_amount`` (0 for customers cut), ``bonus_reason``
    (``budget_exhausted`` for them), ``retained_per_bonus_unit`` and
    ``expected_revenue_retained``, and a dict with ``budget``, ``spent``,
    ``expected_revenue_retained``, ``customers_with_bonus``, ``customers_cut_by_budget``.
    """
    policy = policy or OfferPolicy()
    budget = check_budget(budget)
    required = ["customer_id", "churn_probability", "predicted_clv_12m"]
    if "lifecycle_stage" in scores.columns:
        required.append("lifecycle_stage")
    validate_scores(scores, required=tuple(required))
    is_lead = lead_mask(scores)
    p = numeric(scores, "churn_probability", is_lead)
    clv = numeric(scores, "predicted_clv_12m", is_lead)
    bonus = _given_bonus(scores, p, clv, policy)
    retention = np.where(is_lead, 0.0, bonus)
    retained = expected_revenue_retained(retention, p, clv, policy)
    keep = budget_keep(scores["customer_id"].to_numpy(dtype=object), retention, retained, budget)
    cut = (retention > 0) & ~keep

    out = scores.copy()
    out["bonus_amount"] = np.where(cut, 0.0, bonus)
    if "bonus_reason" in out.columns:
        reason = out["bonus_reason"].astype(object).where(~cut, "budget_exhausted")
        known = reason.isin(BONUS_REASONS).all()
        out["bonus_reason"] = pd.Categorical(reason, categories=BONUS_REASONS) if known else reason
    else:
        no_control = np.zeros(len(out), dtype=bool)
        codes = bonus_reason_codes(is_lead, no_control, cut, p, clv, bonus, policy)
        out["bonus_reason"] = pd.Categorical.from_codes(codes, categories=list(BONUS_REASONS))
    out["retained_per_bonus_unit"] = np.divide(
        retained, retention, out=np.zeros(len(out)), where=retention > 0
    )
    out["expected_revenue_retained"] = np.where(keep, retained, 0.0)
    summary = {
        "budget": budget,
        "spent": float(retention[keep].sum()),
        "expected_revenue_retained": float(retained[keep].sum()),
        "customers_with_bonus": int(keep.sum()),
        "customers_cut_by_budget": int(cut.sum()),
    }
    return out, summary


def budget_curve(
    scores: pd.DataFrame, policy: OfferPolicy | None = None, budgets: Iterable[float] = ()
) -> pd.DataFrame:
    """Spend and expected revenue retained as a function of the budget, for the budget plot.

    Same allocation as ``assign_offers(scores, policy, budget=b)`` for every ``b`` in
    ``budgets`` (currency), computed with one sort and cumulative sums. Returns a DataFrame
    with one row per budget (input order) and columns ``budget``, ``spent``,
    ``expected_revenue_retained`` (currency) and ``customers_with_bonus``.
    """
    policy = policy or OfferPolicy()
    budget_values = np.asarray(list(budgets), dtype=float)
    if budget_values.size and not (
        np.all(np.isfinite(budget_values)) and np.all(budget_values >= 0)
    ):
        raise ValueError("budgets must be finite amounts >= 0 (currency)")
    validate_scores(scores)
    is_lead = lead_mask(scores)
    p = numeric(scores, "churn_probability", is_lead)
    clv = numeric(scores, "predicted_clv_12m", is_lead)
    control = control_mask(arm_codes(scores["customer_id"], policy), policy)
    # the retention bonuses assign_offers would give without a budget (treated buyers)
    retention = np.where(is_lead | control, 0.0, risk_scaled_bonus(p, clv, policy))
    retained = expected_revenue_retained(retention, p, clv, policy)
    order = greedy_order(scores["customer_id"].to_numpy(dtype=object), retention, retained)
    spent_cum = np.concatenate([[0.0], np.cumsum(retention[order])])
    retained_cum = np.concatenate([[0.0], np.cumsum(retained[order])])
    tolerance = TOL * np.maximum(1.0, budget_values)
    n_fit = np.searchsorted(spent_cum, budget_values + tolerance, side="right") - 1
    return pd.DataFrame(
        {
            "budget": budget_values,
            "spent": spent_cum[n_fit],
            "expected_revenue_retained": retained_cum[n_fit],
            "customers_with_bonus": n_fit.astype(np.int64),
        }
    )


__all__ = ["allocate_budget", "budget_curve", "budget_keep", "check_budget", "greedy_order"]
