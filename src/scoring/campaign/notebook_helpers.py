"""Small glue for ``notebooks/06_campaign_measurement``: tables the notebook shows that need a
few lines of pandas / numpy beyond one call of the campaign library.

- :func:`true_arm_effects`: the true average effect of every treatment arm (from the potential
  outcomes of a simulated campaign) on the outcomes the report measures;
- :func:`effects_vs_truth`: the plain and adjusted :func:`~scoring.campaign.measure.arm_effects`
  of one outcome side by side, with the truth and whether each interval covers it;
- :func:`net_incremental_table`: the per-arm summary of a
  :func:`~scoring.campaign.measure.campaign_report` (bonus paid, net incremental revenue);
- :func:`learning_frame`, :func:`learning_features`: the uplift model's training table (the
  outcomes plus pre-campaign score columns) and its feature columns *without* the window's
  outcomes;
- :func:`hash_split`: a stable split of the customers by a salted hash of their id;
- :func:`arm_vs_control`: the rows of one treatment arm and control (Qini, uplift deciles);
- :func:`qini_curves`: Qini curves and coefficients of several scores on the same customers;
- :func:`allocation_problem`, :func:`allocation_budget_curve`: the option matrices of the next
  allocation (face value, true effect and cost per customer and arm) and the true incremental
  profit vs budget of the uplift rule, today's value-at-risk rule and the oracle.

No statistics or models live here: every estimate comes from the campaign library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.offers.arms import stable_unit_hash

from . import CONTROL_ARM, OUTCOME_COLUMNS
from .allocate import (
    allocate_by_uplift,
    allocate_by_value_at_risk,
    allocate_oracle,
    budget_curve,
)
from .measure import REPORT_OUTCOMES
from .qini import qini_coefficient, qini_curve
from .simulate import SimulatedCampaign
from .uplift import UPLIFT_FEATURES, uplift_features

__all__ = [
    "PRE_CAMPAIGN_SCORE_COLUMNS",
    "AllocationProblem",
    "allocation_budget_curve",
    "allocation_problem",
    "arm_vs_control",
    "effects_vs_truth",
    "hash_split",
    "learning_features",
    "learning_frame",
    "net_incremental_table",
    "qini_curves",
    "redemption_rates",
    "true_arm_effects",
]

PRE_CAMPAIGN_SCORE_COLUMNS: tuple[str, ...] = ("days_since_last_order", "n_orders")
"""Columns of :data:`scoring.campaign.uplift.UPLIFT_FEATURES` that the scores table has and the
assignments do not carry. The scores' ``revenue`` (pre-campaign) is deliberately not among them:
in the outcomes table ``revenue`` is the window's outcome."""

_WINDOW_OUTCOMES = tuple(c for c in OUTCOME_COLUMNS if not c.startswith("pre_"))


# --- truth -------------------------------------------------------------------------------


def _campaign_truth(campaign: SimulatedCampaign, customer_id) -> pd.DataFrame:
    """Truth rows of ``customer_id`` (in that order); KeyError names a missing id."""
    truth = campaign.truth.loc[campaign.truth["campaign_arm"].notna()]
    truth = truth.set_index(truth["customer_id"].astype(str))
    ids = pd.Index(pd.Series(customer_id).astype(str))
    missing = ids.difference(truth.index)
    if len(missing):
        raise KeyError(f"customer(s) not in the campaign's truth, e.g. {missing[0]!r}")
    return truth.loc[ids]


def _arm_multipliers(campaign: SimulatedCampaign) -> dict[str, float]:
    return {a["name"]: float(a["bonus_multiplier"]) for a in campaign.metadata["arms"]}


def true_arm_effects(campaign: SimulatedCampaign) -> pd.DataFrame:
    """True average effect of every treatment arm vs control over the whole campaign
    population (every customer counts, whatever arm the hash put them in).

    Per customer ``i`` and arm ``a``, from the potential outcomes of the truth:
    ``converted`` = ``[orders_if_a > 0] - [orders_if_control > 0]``, ``orders`` and
    ``revenue`` the differences of ``orders_if_*`` / ``revenue_if_*`` (currency), and
    ``net_revenue`` = the revenue difference minus the bonus paid in arm ``a``
    (``bonus_multiplier * policy_bonus`` when the customer converts in ``a``; the bonus is
    redeemed with an order, as in :func:`scoring.campaign.outcomes.campaign_outcomes`).

    Returns one row per treatment arm (hash order): ``arm``, ``customers`` and one column per
    outcome of :data:`scoring.campaign.measure.REPORT_OUTCOMES` (mean per customer; rate
    units for ``converted``, currency for the revenues). The measured intention-to-treat
    effects estimate exactly these means.
    """
    control = campaign.metadata["control_arm"]
    asg = campaign.assignments
    truth = _campaign_truth(campaign, asg["customer_id"])
    policy_bonus = asg["policy_bonus"].to_numpy(float)
    orders_c = truth[f"orders_if_{control}"].to_numpy(float)
    revenue_c = truth[f"revenue_if_{control}"].to_numpy(float)
    rows = []
    for arm, multiplier in _arm_multipliers(campaign).items():
        if arm == control:
            continue
        orders_a = truth[f"orders_if_{arm}"].to_numpy(float)
        revenue_a = truth[f"revenue_if_{arm}"].to_numpy(float)
        paid = multiplier * policy_bonus * (orders_a > 0)
        effect = {
            "converted": (orders_a > 0).astype(float) - (orders_c > 0),
            "orders": orders_a - orders_c,
            "revenue": revenue_a - revenue_c,
            "net_revenue": revenue_a - paid - revenue_c,
        }
        rows.append({"arm": arm, "customers": len(asg),
                     **{o: float(np.mean(effect[o])) for o in REPORT_OUTCOMES}})
    return pd.DataFrame(rows, columns=["arm", "customers", *REPORT_OUTCOMES])


def effects_vs_truth(plain: pd.DataFrame, adjusted: pd.DataFrame, truth: pd.DataFrame,
                     outcome: str) -> pd.DataFrame:
    """Plain and adjusted estimates of one outcome next to the true effect, per treatment arm.

    ``plain`` / ``adjusted``: :func:`scoring.campaign.measure.arm_effects` tables of
    ``outcome`` without / with covariates; ``truth``: :func:`true_arm_effects`.

    Returns one row per treatment arm: ``arm``, ``true_effect``, then for ``plain`` and
    ``adjusted``: ``<m>_effect``, ``<m>_ci_low``, ``<m>_ci_high``, ``<m>_covers`` (the interval
    contains the true effect), and ``ci_width_reduction`` (1 - adjusted width / plain width).
    """
    out = truth[["arm", outcome]].rename(columns={outcome: "true_effect"}).set_index("arm")
    for label, table in (("plain", plain), ("adjusted", adjusted)):
        t = table.loc[table["effect"].notna()].set_index("arm").reindex(out.index)
        out[f"{label}_effect"] = t["effect"]
        out[f"{label}_ci_low"] = t["ci_low"]
        out[f"{label}_ci_high"] = t["ci_high"]
        out[f"{label}_covers"] = (t["ci_low"] <= out["true_effect"]) & (
            out["true_effect"] <= t["ci_high"])
    width_plain = out["plain_ci_high"] - out["plain_ci_low"]
    width_adjusted = out["adjusted_ci_high"] - out["adjusted_ci_low"]
    out["ci_width_reduction"] = 1 - width_adjusted / width_plain
    return out.reset_index()


def net_incremental_table(report: Mapping) -> pd.DataFrame:
    """Per treatment arm of a :func:`~scoring.campaign.measure.campaign_report`: customers,
    bonus paid (``bonus_total``, ``redeemed``), net incremental revenue vs control per customer
    and in total with its interval (currency), its basis (``adjusted`` / ``plain``) and p-value.
    """
    rows = []
    for entry in report["overall"]:
        if entry["control"]:
            continue
        net = entry["net_incremental_revenue"]
        rows.append({
            "arm": entry["arm"], "customers": entry["customers"],
            "bonus_total": entry["bonus_cost"]["total"],
            "redeemed": entry["bonus_cost"]["redeemed"],
            "basis": net["basis"],
            "net_per_customer": net["per_customer"]["effect"],
            "net_total": net["total"]["effect"],
            "net_total_ci_low": net["total"]["ci_low"],
            "net_total_ci_high": net["total"]["ci_high"],
            "p_value": net["per_customer"]["p_value"],
        })
    return pd.DataFrame(rows)


# --- learning ----------------------------------------------------------------------------


def learning_frame(outcomes: pd.DataFrame, scores: pd.DataFrame,
                   columns: Sequence[str] = PRE_CAMPAIGN_SCORE_COLUMNS) -> pd.DataFrame:
    """The outcomes table (rows and order kept) plus the pre-campaign score ``columns``
    (default :data:`PRE_CAMPAIGN_SCORE_COLUMNS`) joined on ``customer_id``.

    Only columns the outcomes table does not have are joined, so the window's ``revenue``
    (the outcome) is never overwritten by the scores' pre-campaign ``revenue``.
    """
    add = [c for c in columns if c in scores.columns and c not in outcomes.columns]
    extra = scores.assign(customer_id=scores["customer_id"].astype(str)).set_index(
        "customer_id")[add]
    joined = outcomes.join(extra, on=outcomes["customer_id"].astype(str).rename("_key"))
    return joined.drop(columns="_key", errors="ignore")


def learning_features(frame: pd.DataFrame,
                      candidates: Sequence[str] = UPLIFT_FEATURES) -> list[str]:
    """:func:`scoring.campaign.uplift.uplift_features` of ``frame`` without the window's
    outcomes (``orders``, ``revenue``, ``converted``, ``treated``, ``bonus_cost``,
    ``net_revenue``): on an outcomes table, ``revenue`` is what the model must predict, and
    using it as a feature would leak the answer."""
    return [c for c in uplift_features(frame, candidates) if c not in _WINDOW_OUTCOMES]


def hash_split(customer_id, salt: str = "uplift-learning", share: float = 0.5) -> np.ndarray:
    """Boolean mask (n,): True for the ``share`` of customers whose salted stable hash
    (:func:`scoring.offers.arms.stable_unit_hash`) is below ``share``.

    The split depends only on the id and the salt: the same customers land on the same side
    whatever the row order, on every run and machine, and independently of the campaign's
    arms (a different salt). Customers of every arm fall on both sides in their shares."""
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    return stable_unit_hash(pd.Series(customer_id).astype(str), salt=salt) < share


def arm_vs_control(frame: pd.DataFrame, arm: str,
                   control_arm: str = CONTROL_ARM) -> pd.DataFrame:
    """Rows of ``frame`` in ``arm`` or in control (index kept): one treatment arm against
    control, as :mod:`scoring.campaign.qini` expects."""
    arms = frame["arm"].astype(str)
    if not (arms == arm).any():
        raise ValueError(f"no row in arm {arm!r}")
    return frame.loc[arms.isin([arm, control_arm])]


def qini_curves(y, treated, scores: Mapping[str, Sequence[float]], n_points: int = 101
                ) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Qini curve (``n_points`` prefixes) and normalised Qini coefficient of every score on
    the same customers: ``(curves, coefficients)``, both keyed by the names of ``scores``
    (inputs of :func:`plots.qini_curves_figure`)."""
    curves = {name: qini_curve(y, treated, s, n_points=n_points) for name, s in scores.items()}
    coefficients = {name: qini_coefficient(y, treated, s) for name, s in scores.items()}
    return curves, coefficients


# --- allocation ----------------------------------------------------------------------------


def redemption_rates(frame: pd.DataFrame, arms: Sequence[str]) -> dict[str, float]:
    """Share of converted customers (the bonus is redeemed with an order) per treatment arm
    in ``frame`` (an outcomes table): the redemption probability the uplift allocation uses
    for the next campaign."""
    rates = frame.groupby(frame["arm"].astype(str))["converted"].mean()
    missing = [a for a in arms if a not in rates.index]
    if missing:
        raise ValueError(f"no row in arm(s) {missing}")
    return {str(a): float(rates[a]) for a in arms}


@dataclass(frozen=True)
class AllocationProblem:
    """The next allocation on a set of campaign customers, options = the treatment arms.

    ``customer_id`` (n,); ``arms`` (k treatment arm names, the option order); ``bonus`` (n, k)
    face value of each option (``bonus_multiplier * policy_bonus``, currency); ``true_effect``
    (n, k) individual incremental revenue of each option vs control (currency);
    ``redeemed`` (n, k) bool, the customer would convert (redeem) in that arm;
    ``true_cost`` = ``bonus * redeemed``; ``value_at_risk``, ``policy_bonus`` (n,) currency;
    ``full_option``: the index of the option giving the full policy bonus.
    """

    customer_id: np.ndarray
    arms: list[str]
    bonus: np.ndarray
    true_effect: np.ndarray
    redeemed: np.ndarray
    true_cost: np.ndarray
    value_at_risk: np.ndarray
    policy_bonus: np.ndarray
    full_option: int


def allocation_problem(frame: pd.DataFrame, campaign: SimulatedCampaign,
                       arms: Sequence[str]) -> AllocationProblem:
    """The option matrices of the customers of ``frame`` (any arm: the truth knows every
    customer's outcome in every arm) for the treatment ``arms`` (e.g. ``model.arms_``)."""
    truth = _campaign_truth(campaign, frame["customer_id"])
    multiplier = _arm_multipliers(campaign)
    control = campaign.metadata["control_arm"]
    arms = [str(a) for a in arms]
    policy_bonus = frame["policy_bonus"].to_numpy(float)
    bonus = np.column_stack([multiplier[a] * policy_bonus for a in arms])
    effect = np.column_stack([
        truth[f"revenue_if_{a}"].to_numpy(float) - truth[f"revenue_if_{control}"].to_numpy(float)
        for a in arms])
    redeemed = np.column_stack([truth[f"orders_if_{a}"].to_numpy(float) > 0 for a in arms])
    return AllocationProblem(
        customer_id=frame["customer_id"].astype(str).to_numpy(),
        arms=arms, bonus=bonus, true_effect=effect, redeemed=redeemed,
        true_cost=bonus * redeemed,
        value_at_risk=frame["value_at_risk"].to_numpy(float),
        policy_bonus=policy_bonus,
        full_option=int(np.argmax([multiplier[a] for a in arms])),
    )


def allocation_budget_curve(problem: AllocationProblem, predicted_effect,
                            redemption: Mapping[str, float], budgets=None,
                            n_budgets: int = 11) -> pd.DataFrame:
    """True incremental profit vs budget of three rules on ``problem`` (a long table of
    :func:`scoring.campaign.allocate.budget_curve`):

    - ``uplift model``: :func:`allocate_by_uplift` with ``predicted_effect`` (n, k, columns
      in ``problem.arms`` order) and the redemption probability of each arm (``redemption``:
      arm -> probability, e.g. the arm's conversion rate in the training campaign);
    - ``value at risk (today)``: :func:`allocate_by_value_at_risk`, the full policy bonus;
    - ``oracle``: :func:`allocate_oracle` with the true effects and redemptions.

    ``budgets``: currency amounts; default ``n_budgets`` evenly spaced from 0 to the face
    value of giving every customer the full policy bonus.
    """
    if budgets is None:
        budgets = np.linspace(0, problem.bonus[:, problem.full_option].sum(), n_budgets)
    effect = np.asarray(predicted_effect, dtype=float)
    red = np.broadcast_to(np.array([redemption[a] for a in problem.arms], dtype=float),
                          problem.bonus.shape)
    ids = problem.customer_id
    rules = {
        "uplift model": lambda b: allocate_by_uplift(ids, effect, problem.bonus, b, red),
        "value at risk (today)": lambda b: allocate_by_value_at_risk(
            ids, problem.value_at_risk, problem.policy_bonus, b, option=problem.full_option),
        "oracle": lambda b: allocate_oracle(ids, problem.true_effect, problem.bonus, b,
                                            problem.redeemed),
    }
    return budget_curve(budgets, rules, problem.true_effect, problem.true_cost)
