"""The next budget: who gets which bonus, by predicted incremental profit per bonus unit.

Every customer ``i`` has ``k`` treatment options (e.g. the arms ``bonus_50`` and ``bonus_100``)
and the option "none". Option ``j`` has

::

    effect[i, j]         predicted incremental revenue vs control (currency)
    expected_cost[i, j]  = redemption[i, j] * bonus[i, j]      (currency; the bonus is paid
                           only when redeemed, redemption defaults to 1: the worst case)
    profit[i, j]         = effect[i, j] - expected_cost[i, j]  (currency)

and the budget is charged ``expected_cost`` (``budget_basis="expected"``, the default) or the
face value ``bonus`` (``budget_basis="face"``: the spend can never exceed the budget whatever
is redeemed).

Greedy on upgrade steps (multiple-choice knapsack)
--------------------------------------------------
Per customer, the options are reduced to the upper concave hull of the points
``(charge, profit)`` starting at "none" = (0, 0), with positive slopes only: options below the
hull (dominated: another option or a mix of neighbours gives more profit per unit) are never
chosen. The hull is a chain of *steps* ("none -> small bonus", "small -> large bonus", ...) with
decreasing marginal profit per marginal bonus unit. All steps of all customers are sorted by
that ratio (descending; ties: ``customer_id``, then step) and funded in that order while the
cumulative charge fits the budget; a customer ends on the last hull vertex funded. Because the
ratios decrease along each customer's chain, a customer's upgrade is never funded before the
step it upgrades from.

With an unlimited budget every customer gets the option of largest profit (none if that is
<= 0). With a budget, the first step that does not fit ends the allocation (a prefix of the
order is funded, as in :mod:`scoring.offers.budget`), which keeps the whole thing a sort and a
cumulative sum. Bound: the funded prefix is the optimum of the LP relaxation up to the step that
did not fit, so ``profit(greedy) >= OPT - max step profit`` (OPT: the best integral choice of
one option per customer within the budget), and the greedy *is* optimal when the budget equals
the charge of a funded prefix (the LP optimum is then integral). The test suite checks both
against brute force.

Rules compared in the notebook: :func:`allocate_by_uplift` (predicted effects),
:func:`allocate_by_value_at_risk` (today's rule: the full policy bonus by value at risk per
bonus unit, whatever the response) and :func:`allocate_oracle` (the true individual effects and
redemptions of a simulation: an upper reference). :func:`true_incremental_profit` and
:func:`budget_curve` score them against the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from scoring.offers.budget import check_budget
from scoring.offers.policy import TOL

ALLOCATION_COLUMNS: tuple[str, ...] = (
    "customer_id", "option", "bonus_amount", "expected_bonus_cost",
    "expected_incremental_revenue", "expected_incremental_profit",
)
"""Columns of every allocation frame (one row per customer, input order); ``option`` is the
column index into the (n, k) option matrices, -1 for no bonus."""

BUDGET_BASES: tuple[str, ...] = ("expected", "face")


# --- input checks -------------------------------------------------------------------------


def _ids(customer_id: Sequence | np.ndarray | pd.Series) -> np.ndarray:
    ids = np.asarray(pd.Series(customer_id).to_numpy(dtype=object))
    if ids.ndim != 1:
        raise ValueError(f"customer_id must be one-dimensional, got shape {ids.shape}")
    if pd.isna(pd.Series(ids)).any():
        raise ValueError("customer_id has missing values")
    if len(pd.unique(ids)) != len(ids):
        raise ValueError("customer_id has duplicates: one row per customer is expected")
    return ids


def _matrix(name: str, values, n: int, k: int | None = None, *, nonnegative: bool = False,
            unit: bool = False) -> np.ndarray:
    """``values`` as a float (n, k) matrix (a 1-d array of length n is one option)."""
    a = np.asarray(values, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != n or (k is not None and a.shape[1] != k):
        want = f"({n}, {k if k is not None else 'k'})"
        raise ValueError(f"{name} must have shape {want} (customers x options), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has {int((~np.isfinite(a)).sum())} missing or infinite value(s)")
    if nonnegative and np.any(a < 0):
        raise ValueError(f"{name} has {int((a < 0).sum())} negative value(s); must be >= 0")
    if unit and np.any((a < 0) | (a > 1)):
        raise ValueError(f"{name} must be probabilities in [0, 1]")
    return a


def _budget(budget: float | None) -> float:
    budget = check_budget(budget)
    return np.inf if budget is None else budget


# --- the kernel ---------------------------------------------------------------------------


def hull_steps(charge: np.ndarray, profit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upgrade steps of every customer's upper concave hull of (charge, profit), from "none".

    ``charge``, ``profit``: (n, k) floats, charge >= 0. Returns ``(vertex, ratio)``, both
    (n, k): ``vertex[i, s]`` is the option reached by customer ``i``'s step ``s`` (-1 when the
    chain has fewer steps), ``ratio[i, s]`` its marginal profit per marginal charge unit
    (+inf for a free step, NaN when absent); ratios decrease along each row.

    Loop over at most ``k`` steps, vectorised over customers: from the current vertex, the
    next one is the option of largest slope among those with a larger charge (or the same
    charge and more profit: a free step), ties to the smaller charge, so collinear options
    stay separate (finer) steps. Only positive slopes are kept.
    """
    n, k = charge.shape
    rows = np.arange(n)
    vertex = np.full((n, k), -1, dtype=np.int64)
    ratio = np.full((n, k), np.nan)
    cur_charge = np.zeros(n)
    cur_profit = np.zeros(n)
    active = np.ones(n, dtype=bool)
    for step in range(k):
        d_charge = charge - cur_charge[:, None]
        d_profit = profit - cur_profit[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(d_charge > 0, d_profit / d_charge, -np.inf)
        slope = np.where((d_charge == 0) & (d_profit > 0), np.inf, slope)
        slope[~active] = -np.inf
        # largest slope, ties to the smaller charge (then the smaller option index)
        order = np.lexsort((np.arange(k)[None, :].repeat(n, 0), charge, -slope), axis=1)
        best = order[:, 0]
        best_slope = slope[rows, best]
        take = active & (best_slope > 0)
        if not take.any():
            break
        vertex[take, step] = best[take]
        ratio[take, step] = best_slope[take]
        cur_charge = np.where(take, charge[rows, best], cur_charge)
        cur_profit = np.where(take, profit[rows, best], cur_profit)
        active = take
    return vertex, ratio


def greedy_steps(
    owner_rank: np.ndarray, step: np.ndarray, ratio: np.ndarray, charge: np.ndarray,
    budget: float,
) -> np.ndarray:
    """Boolean mask of the steps funded: best ``ratio`` first (ties: ``owner_rank``, then
    ``step``), a prefix while the cumulative ``charge`` (currency) fits ``budget``.

    All inputs 1-d of the same length; ``owner_rank``: integer rank of the customer id.
    """
    order = np.lexsort((step, owner_rank, -ratio))
    spent = np.cumsum(charge[order])
    fits = spent <= budget + TOL * max(1.0, budget if np.isfinite(budget) else 1.0)
    n_fit = int(np.argmin(fits)) if not fits.all() else len(order)
    funded = np.zeros(len(order), dtype=bool)
    funded[order[:n_fit]] = True
    return funded


def _greedy_allocation(
    ids: np.ndarray, effect: np.ndarray, bonus: np.ndarray, expected_cost: np.ndarray,
    charge: np.ndarray, budget: float,
) -> pd.DataFrame:
    """Shared by :func:`allocate_by_uplift` and :func:`allocate_oracle`."""
    n, k = effect.shape
    profit = effect - expected_cost
    vertex, ratio = hull_steps(charge, profit)
    cust, step = np.nonzero(vertex >= 0)
    opt = vertex[cust, step]
    prev = np.where(step > 0, vertex[cust, np.maximum(step - 1, 0)], -1)
    prev_charge = np.where(prev >= 0, charge[cust, np.maximum(prev, 0)], 0.0)
    step_charge = charge[cust, opt] - prev_charge
    rank = pd.factorize(pd.Series(ids), sort=True)[0]
    funded = greedy_steps(rank[cust], step, ratio[cust, step], step_charge, budget)
    # the last funded step of every customer is the option it ends on
    option = np.full(n, -1, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, cust[funded], step[funded])
    has = last >= 0
    option[has] = vertex[np.flatnonzero(has), last[has]]
    return _frame(ids, option, effect, bonus, expected_cost)


def _frame(ids, option, effect, bonus, expected_cost) -> pd.DataFrame:
    has = option >= 0
    rows = np.arange(len(ids))
    col = np.maximum(option, 0)

    def pick(m: np.ndarray) -> np.ndarray:
        return np.where(has, m[rows, col], 0.0)

    revenue = pick(effect)
    cost = pick(expected_cost)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "option": option,
            "bonus_amount": pick(bonus),
            "expected_bonus_cost": cost,
            "expected_incremental_revenue": revenue,
            "expected_incremental_profit": revenue - cost,
        }
    )


# --- the rules ----------------------------------------------------------------------------


def allocate_by_uplift(
    customer_id, predicted_effect, bonus, budget: float | None, redemption=None,
    budget_basis: str = "expected",
) -> pd.DataFrame:
    """Bonus per customer by predicted incremental profit per bonus unit, within ``budget``.

    ``customer_id``: (n,) unique ids; ``predicted_effect``: (n, k) incremental revenue of each
    option vs no bonus (currency, e.g. :meth:`UpliftModel.predict`); ``bonus``: (n, k) face
    value of each option (currency, >= 0); ``budget``: currency (None: no cap);
    ``redemption``: (n, k) probability that the bonus is redeemed (paid), default 1 (worst
    case); ``budget_basis``: charge the budget ``"expected"`` cost or ``"face"`` value.

    Returns one row per customer (input order) with :data:`ALLOCATION_COLUMNS`: ``option``
    (column index, -1 = none), ``bonus_amount`` (face value), ``expected_bonus_cost``,
    ``expected_incremental_revenue`` and ``expected_incremental_profit`` (currency, 0 for
    none). See the module docstring for the greedy and its bound.
    """
    ids = _ids(customer_id)
    n = len(ids)
    effect = _matrix("predicted_effect", predicted_effect, n)
    k = effect.shape[1]
    face = _matrix("bonus", bonus, n, k, nonnegative=True)
    red = np.ones((n, k)) if redemption is None else _matrix(
        "redemption", redemption, n, k, unit=True)
    if budget_basis not in BUDGET_BASES:
        raise ValueError(f"budget_basis must be one of {BUDGET_BASES}, got {budget_basis!r}")
    expected_cost = red * face
    charge = expected_cost if budget_basis == "expected" else face
    return _greedy_allocation(ids, effect, face, expected_cost, charge, _budget(budget))


def allocate_oracle(
    customer_id, true_effect, bonus, budget: float | None, redeemed=None,
) -> pd.DataFrame:
    """The same greedy as :func:`allocate_by_uplift` with the truth of a simulation.

    ``true_effect``: (n, k) individual incremental revenue of each option (currency);
    ``bonus``: (n, k) face values; ``redeemed``: (n, k) bool, whether the customer would
    redeem option ``j`` (default: always); the budget is charged the true cost
    ``bonus * redeemed``. An upper reference for the other rules (not an exact optimum: see
    the bound in the module docstring).
    """
    ids = _ids(customer_id)
    n = len(ids)
    effect = _matrix("true_effect", true_effect, n)
    k = effect.shape[1]
    face = _matrix("bonus", bonus, n, k, nonnegative=True)
    if redeemed is None:
        red = np.ones((n, k))
    else:
        r = np.asarray(redeemed)
        if r.dtype != bool:
            raise ValueError(f"redeemed must be a boolean (n, k) array, got dtype {r.dtype}")
        red = _matrix("redeemed", r.astype(float), n, k)
    cost = red * face
    return _greedy_allocation(ids, effect, face, cost, cost, _budget(budget))


def allocate_by_value_at_risk(
    customer_id, value_at_risk, policy_bonus, budget: float | None, option: int = 0,
) -> pd.DataFrame:
    """Today's rule: the full ``policy_bonus`` by ``value_at_risk`` per bonus unit.

    ``value_at_risk``, ``policy_bonus``: (n,) currency, >= 0. Customers with a positive bonus
    are ranked by ``value_at_risk / policy_bonus`` (ties: ``customer_id``) and funded at face
    value while the cumulative bonus fits ``budget`` (a prefix, as in
    :mod:`scoring.offers.budget`). ``option``: the column index of the full policy bonus in
    the option matrices the allocation is scored against (reported in ``option``). The rule
    predicts no effect: ``expected_incremental_revenue`` / ``_profit`` are NaN for funded
    customers (0 otherwise) and ``expected_bonus_cost`` is the face value.
    """
    ids = _ids(customer_id)
    n = len(ids)
    var = _matrix("value_at_risk", value_at_risk, n, 1, nonnegative=True)[:, 0]
    face = _matrix("policy_bonus", policy_bonus, n, 1, nonnegative=True)[:, 0]
    cust = np.flatnonzero(face > 0)
    rank = pd.factorize(pd.Series(ids), sort=True)[0]
    funded = greedy_steps(rank[cust], np.zeros(len(cust), dtype=np.int64),
                          var[cust] / face[cust], face[cust], _budget(budget))
    chosen = np.full(n, -1, dtype=np.int64)
    chosen[cust[funded]] = int(option)
    has = chosen >= 0
    unknown = np.where(has, np.nan, 0.0)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "option": chosen,
            "bonus_amount": np.where(has, face, 0.0),
            "expected_bonus_cost": np.where(has, face, 0.0),
            "expected_incremental_revenue": unknown,
            "expected_incremental_profit": unknown,
        }
    )


# --- scoring against the truth ------------------------------------------------------------


def true_incremental_profit(allocation: pd.DataFrame, true_effect, true_cost) -> float:
    """Sum over funded customers of ``true_effect - true_cost`` of their option (currency).

    ``allocation``: an allocation frame (rows in the order of the matrices, as every
    ``allocate_*`` returns them); ``true_effect``, ``true_cost``: (n, k) currency (the cost
    actually paid, e.g. ``bonus * redeemed``).
    """
    option = np.asarray(allocation["option"], dtype=np.int64)
    n = len(option)
    effect = _matrix("true_effect", true_effect, n)
    cost = _matrix("true_cost", true_cost, n, effect.shape[1])
    if np.any(option >= effect.shape[1]) or np.any(option < -1):
        raise ValueError(f"allocation option out of range [-1, {effect.shape[1]})")
    has = option >= 0
    rows = np.flatnonzero(has)
    return float((effect[rows, option[has]] - cost[rows, option[has]]).sum())


def true_spend(allocation: pd.DataFrame, true_cost) -> float:
    """Bonus actually paid by an allocation (currency): ``true_cost`` of the options given."""
    option = np.asarray(allocation["option"], dtype=np.int64)
    cost = _matrix("true_cost", true_cost, len(option))
    has = option >= 0
    return float(cost[np.flatnonzero(has), option[has]].sum())


def budget_curve(
    budgets, rules: Mapping[str, Callable[[float], pd.DataFrame]], true_effect, true_cost,
) -> pd.DataFrame:
    """True incremental profit vs budget for several rules, for the notebook's plot.

    ``budgets``: iterable of currency amounts; ``rules``: name -> function of the budget
    returning an allocation (e.g. ``lambda b: allocate_by_uplift(ids, effect, bonus, b)``);
    ``true_effect``, ``true_cost``: (n, k) currency. Returns a long DataFrame with one row per
    (rule, budget): ``rule``, ``budget``, ``customers_with_bonus``, ``spent`` (true cost
    paid), ``true_incremental_profit`` (currency).
    """
    values = [_budget(b) for b in budgets]
    rows = []
    for name, rule in rules.items():
        for b in values:
            allocation = rule(b)
            rows.append(
                {
                    "rule": name,
                    "budget": b,
                    "customers_with_bonus": int((allocation["option"] >= 0).sum()),
                    "spent": true_spend(allocation, true_cost),
                    "true_incremental_profit": true_incremental_profit(
                        allocation, true_effect, true_cost
                    ),
                }
            )
    return pd.DataFrame(
        rows,
        columns=["rule", "budget", "customers_with_bonus", "spent", "true_incremental_profit"],
    )


__all__ = [
    "ALLOCATION_COLUMNS",
    "BUDGET_BASES",
    "allocate_by_uplift",
    "allocate_by_value_at_risk",
    "allocate_oracle",
    "budget_curve",
    "greedy_steps",
    "hull_steps",
    "true_incremental_profit",
    "true_spend",
]
