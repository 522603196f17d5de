"""Offer policy: value tiers, risk-scaled retention bonus, budget allocation, offer type by
lifecycle stage, and A/B/n control groups.

Pure, vectorised functions over a per-customer scores table; no model is fitted here.
Everything is deterministic: the same scores and the same :class:`OfferPolicy` give the same
offers, whatever the row order.

Input: one row per customer
---------------------------
- ``customer_id``: string, unique (e.g. ``"12346"``).
- ``churn_probability``: P(no order in the next 90 days | history), in [0, 1].
- ``predicted_clv_12m``: predicted gross revenue in the next 12 months, shop currency, >= 0.
- ``lifecycle_stage``: one of ``lead``, ``first_time``, ``second_order``, ``loyal``,
  ``lapsed``, ``sleeping`` (see ``scoring.segments``).
- ``cart_abandoner``: optional boolean flag (missing values count as False).
- any other column (e.g. ``email_engagement``, ``rfm_segment``): carried through unchanged;
  the summary counts customers per ``rfm_segment`` when present.

Leads (``lifecycle_stage == "lead"``) have never ordered: their ``churn_probability`` and
``predicted_clv_12m`` may be missing and are ignored.

Columns added by :func:`assign_offers`
--------------------------------------
``value_tier`` (vip/high/medium/low/lead), ``value_at_risk``, ``offer_type``,
``template_key``, ``email_subject``, ``candidate_bonus``, ``bonus_amount``,
``discount_percent``, ``retained_per_bonus_unit``, ``control_group``, ``ab_group``,
``bonus_reason``, ``expected_revenue_retained``. Money columns are in shop currency; the
label columns are pandas Categoricals with the fixed categories :data:`VALUE_TIERS`,
:data:`OFFER_TYPES`, :data:`BONUS_REASONS` and the arm names (compare them with strings as
usual; ``.astype(str)`` for plain strings).

1. Value tier
-------------
Quantile tiers (default, ``tier_thresholds=None``): among buyers (leads excluded), a customer
is in the top-``s`` group when the buyers whose ``predicted_clv_12m`` is at least theirs make up
no more than the share ``s``. With ``tier_top_shares=(0.05, 0.15, 0.30)``: ``vip`` = top 5 %,
``high`` = next 15 %, ``medium`` = next 30 %, ``low`` = the rest. Tied customers always share
a tier (ties go to the lower tier, so a tier never holds more than its share), the tier is
monotone in CLV and does not depend on row order. Quantile tiers are relative to the scored
population; for tiers that stay put between runs, set absolute amounts
``tier_thresholds=(vip_min, high_min, medium_min)`` (currency; ``vip`` when
``predicted_clv_12m >= vip_min`` and so on). Leads get the tier ``lead``: they have no CLV
prediction and do not shift the buyers' quantiles.

2. Value at risk and the risk-scaled bonus
------------------------------------------
::

    value_at_risk   = churn_probability * predicted_clv_12m                  (currency)
    raw_bonus       = clip(bonus_rate * value_at_risk, 0, max_share_of_clv * predicted_clv_12m)
    candidate_bonus = largest denomination <= raw_bonus   (0 below the smallest denomination)
    candidate_bonus = 0 unless churn_probability >= min_churn_probability
                           and predicted_clv_12m >= min_clv

Each step is non-decreasing in ``churn_probability`` (at fixed CLV) and in
``predicted_clv_12m`` (at fixed churn), so the bonus is monotone in both, and it never exceeds
``max_share_of_clv * predicted_clv_12m``. Leads: ``value_at_risk = 0`` and the welcome offer
instead (``welcome_discount_percent`` off the first order, plus an optional fixed voucher
``welcome_bonus_amount``).

3. Response assumption and expected revenue retained
----------------------------------------------------
::

    uplift_probability(bonus) = response_rate * min(1, bonus / (bonus_saturation_share * predicted_clv_12m))
    expected_revenue_retained = uplift_probability(bonus) * churn_probability * predicted_clv_12m

``response_rate`` is the probability that a full-strength bonus keeps a customer who would
otherwise not order in the next 90 days; the effect grows linearly with the bonus up to
``bonus_saturation_share`` of the customer's CLV and is flat beyond. This is an assumption,
not an estimate: replace it with the uplift measured on the control group (section 6).

4. Budget
---------
With a budget, customers with a candidate bonus (treatment arms, buyers) are ranked by
``retained_per_bonus_unit = expected_revenue_retained(candidate_bonus) / candidate_bonus``
(ties: larger ``expected_revenue_retained`` first, then ``customer_id``) and receive their bonus
in that order while the cumulative sum of bonuses stays within the budget (a cumulative-sum
cut: the first bonus that does not fit ends the allocation, so at most one bonus worth of
budget stays unspent). Customers cut get ``bonus_amount = 0`` and the reason
``budget_exhausted``. Note: below saturation the value per unit is
``response_rate * churn_probability / bonus_saturation_share``, so with the defaults
(``max_share_of_clv == bonus_saturation_share``, no bonus is ever saturated) the budget goes to
the highest churn probabilities first, larger customers first among equals. The budget covers the risk-scaled retention bonuses only; the leads'
welcome vouchers (``welcome_bonus_amount``, 0 by default) are a fixed acquisition cost reported
separately as ``welcome_bonus_total``.

5. Offer type (marketing playbook)
----------------------------------
Precedence, first match wins:

1. ``lead`` -> ``welcome_discount`` (also when a lead abandoned a cart);
2. ``cart_abandoner`` and stage in ``cart_reminder_stages`` (default the active stages
   ``first_time``, ``second_order``, ``loyal``) -> ``cart_reminder``;
3. by stage (``stage_offer_types``): ``first_time`` -> ``thank_you_cross_sell``,
   ``second_order`` -> ``second_order_incentive``, ``loyal`` -> ``loyalty_club_invitation``,
   ``lapsed`` and ``sleeping`` -> ``reengagement_promo_new_arrivals``.

Every offer type maps to an e-mail template key and subject line (:data:`OFFER_TEMPLATES`).

6. Control group and A/B/n arms
-------------------------------
``u = stable_unit_hash(customer_id)`` is uniform in [0, 1): SipHash-2-4 (``pandas.util.hash_array``
with the fixed 16-byte ``hash_key``) of ``hash_salt + ":" + customer_id`` encoded as UTF-8,
top 53 bits. It depends only on the id, salt and key: stable across runs, machines, row orders
and populations. Arms (``arms``, default ``control`` 10 %, ``treatment`` 90 %) take consecutive
intervals of ``u`` in the order given, so raising the control share keeps the existing control
customers in control; change ``hash_salt`` to draw a fresh split for a new campaign. Customers
in ``control_arms`` get no incentive (``bonus_amount = 0``, ``discount_percent = 0``,
``bonus_reason = control_group`` when they would have had one) but their offer type and
candidate bonus are recorded, which is what the uplift comparison needs.

``bonus_reason``
----------------
First matching rule wins: ``control_group`` (lead held out), ``lead_welcome_offer`` (lead,
treated), ``below_min_clv``, ``below_min_churn_probability``, ``below_smallest_denomination``
(no candidate bonus), ``control_group`` (would have had a bonus, held out),
``budget_exhausted`` (cut by the budget), otherwise ``risk_scaled_bonus`` (bonus given).

Parameters (:class:`OfferPolicy`, defaults in brackets)
--------------------------------------------------------
- ``tier_top_shares`` [(0.05, 0.15, 0.30)]: vip / high / medium shares of buyers from the top
  by CLV; the rest is low.
- ``tier_thresholds`` [None]: absolute (vip_min, high_min, medium_min) CLV amounts, currency;
  replaces the quantile tiers when set.
- ``bonus_rate`` [0.10]: fraction of the value at risk offered.
- ``max_share_of_clv`` [0.20]: bonus cap as a fraction of ``predicted_clv_12m``.
- ``denominations`` [(5, 10, 15, 20, 25, 50, 75, 100)]: voucher amounts, currency; the bonus
  is rounded down to one of them.
- ``min_churn_probability`` [0.30]: no bonus below this churn probability.
- ``min_clv`` [20]: no bonus below this predicted 12-month CLV, currency.
- ``welcome_discount_percent`` [10]: leads' first-order discount, percent.
- ``welcome_bonus_amount`` [0]: leads' fixed welcome voucher, currency, outside the budget.
- ``response_rate`` [0.15]: assumed P(a full-strength bonus retains a churning customer).
- ``bonus_saturation_share`` [0.20]: bonus, as a fraction of CLV, at full strength.
- ``cart_reminder_stages`` [first_time, second_order, loyal]: stages where ``cart_abandoner``
  switches the offer to ``cart_reminder``.
- ``stage_offer_types`` [the playbook of section 5]: (stage, offer_type) pairs.
- ``arms`` [(("control", 0.10), ("treatment", 0.90))]: A/B/n arms and shares, in hash order;
  ``split_arms(control_share, variants)`` builds them.
- ``control_arms`` [("control",)]: arms held out from any incentive.
- ``hash_salt`` ["scoring-offers-v1"]: change it to redraw the split for a new campaign.
- ``hash_key`` ["scoring-offers-k"]: 16-byte SipHash key; keep fixed.

Budget (``assign_offers(..., budget=...)``, ``allocate_budget``, ``budget_curve``): total of
retention bonuses allowed, currency; None means no cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from scoring.data.errors import DataError, examples, require_columns

LIFECYCLE_STAGES: tuple[str, ...] = (
    "lead",
    "first_time",
    "second_order",
    "loyal",
    "lapsed",
    "sleeping",
)
"""Allowed values of ``lifecycle_stage``."""

VALUE_TIERS: tuple[str, ...] = ("vip", "high", "medium", "low", "lead")
"""Values of ``value_tier``, best first; ``lead`` for customers without orders."""

OFFER_TYPES: tuple[str, ...] = (
    "welcome_discount",
    "thank_you_cross_sell",
    "second_order_incentive",
    "loyalty_club_invitation",
    "reengagement_promo_new_arrivals",
    "cart_reminder",
)
"""Values of ``offer_type``."""

OFFER_TEMPLATES: MappingProxyType = MappingProxyType(
    {
        "welcome_discount": ("welcome_discount_v1", "Welcome! A discount on your first order"),
        "thank_you_cross_sell": (
            "thank_you_cross_sell_v1",
            "Thank you for your order - picked for you",
        ),
        "second_order_incentive": (
            "second_order_incentive_v1",
            "A little thank-you for your next order",
        ),
        "loyalty_club_invitation": (
            "loyalty_club_invitation_v1",
            "You're invited to our loyalty club",
        ),
        "reengagement_promo_new_arrivals": (
            "reengagement_new_arrivals_v1",
            "We've missed you - see what's new",
        ),
        "cart_reminder": ("cart_reminder_v1", "You left something in your cart"),
    }
)
"""offer_type -> (template_key, email subject line) for the e-mail export. No personal data."""

BONUS_REASONS: tuple[str, ...] = (
    "risk_scaled_bonus",
    "lead_welcome_offer",
    "control_group",
    "budget_exhausted",
    "below_min_clv",
    "below_min_churn_probability",
    "below_smallest_denomination",
)
"""Values of ``bonus_reason``: why a customer has (or has not) got a bonus.

``risk_scaled_bonus``: bonus given; ``lead_welcome_offer``: lead, welcome discount (and voucher
when ``welcome_bonus_amount > 0``); ``control_group``: would have had an incentive but is held
out; ``budget_exhausted``: cut by the budget; ``below_min_clv`` / ``below_min_churn_probability``
/ ``below_smallest_denomination``: no candidate bonus (checked in that order).
"""

_DEFAULT_STAGE_OFFERS: tuple[tuple[str, str], ...] = (
    ("lead", "welcome_discount"),
    ("first_time", "thank_you_cross_sell"),
    ("second_order", "second_order_incentive"),
    ("loyal", "loyalty_club_invitation"),
    ("lapsed", "reengagement_promo_new_arrivals"),
    ("sleeping", "reengagement_promo_new_arrivals"),
)

_REQUIRED = ("customer_id", "churn_probability", "predicted_clv_12m", "lifecycle_stage")
_TOL = 1e-9  # currency; absorbs floating-point error in rounding and budget cuts


def split_arms(
    control_share: float = 0.10, variants: Sequence[str] = ("treatment",)
) -> tuple[tuple[str, float], ...]:
    """Arms for :attr:`OfferPolicy.arms`: ``control`` first, the rest split equally.

    ``split_arms(0.1, ("voucher_a", "voucher_b"))`` ->
    ``(("control", 0.1), ("voucher_a", 0.45), ("voucher_b", 0.45))``.
    """
    if not 0.0 <= control_share < 1.0:
        raise ValueError(f"control_share must be in [0, 1), got {control_share!r}")
    if len(variants) == 0:
        raise ValueError("variants must name at least one treatment arm")
    treatment_share = (1.0 - control_share) / len(variants)
    arms = [("control", float(control_share))] if control_share > 0 else []
    return tuple(arms + [(str(name), treatment_share) for name in variants])


@dataclass(frozen=True)
class OfferPolicy:
    """Parameters of the offer policy (all money in shop currency, shares as fractions 0..1).

    Attributes
    ----------
    tier_top_shares : (vip, high, medium) shares of buyers, counted from the top by
        ``predicted_clv_12m``. Default (0.05, 0.15, 0.30): vip = top 5 %, high = next 15 %,
        medium = next 30 %, low = remaining 50 %. Used when ``tier_thresholds`` is None.
    tier_thresholds : optional absolute (vip_min, high_min, medium_min) CLV amounts, currency,
        non-increasing. When set, replaces the quantile tiers (stable across runs).
    bonus_rate : fraction of ``value_at_risk`` offered as a bonus, >= 0. Default 0.10.
    max_share_of_clv : cap of the bonus as a fraction of ``predicted_clv_12m``, >= 0.
        Default 0.20.
    denominations : voucher amounts the bonus is rounded down to, strictly increasing,
        positive. Default (5, 10, 15, 20, 25, 50, 75, 100); below the smallest -> no bonus,
        above the largest -> the largest.
    min_churn_probability : no bonus below this churn probability. Default 0.30.
    min_clv : no bonus below this ``predicted_clv_12m`` (currency). Default 20.
    welcome_discount_percent : percent off a lead's first order (0..100). Default 10.
    welcome_bonus_amount : fixed welcome voucher for leads (currency), outside the budget.
        Default 0 (the welcome offer is the percent discount only).
    response_rate : probability that a full-strength bonus retains a customer who would
        otherwise churn (assumption, 0..1). Default 0.15.
    bonus_saturation_share : bonus, as a fraction of ``predicted_clv_12m``, at which the
        response stops growing (> 0). Default 0.20.
    cart_reminder_stages : stages where the ``cart_abandoner`` flag overrides the stage offer
        with ``cart_reminder``. Default the active stages (first_time, second_order, loyal).
    stage_offer_types : (lifecycle_stage, offer_type) pairs, one per stage; the playbook.
    arms : (name, share) pairs of the A/B/n split, shares > 0 summing to 1, assigned in this
        order over the stable hash. Default (("control", 0.10), ("treatment", 0.90)); see
        :func:`split_arms`.
    control_arms : names of the arms held out from any incentive. Default ("control",).
    hash_salt : salt of the stable hash; change it to redraw the split for a new campaign.
    hash_key : 16-character ASCII key of pandas' SipHash; keep fixed for stable groups.
    """

    tier_top_shares: tuple[float, float, float] = (0.05, 0.15, 0.30)
    tier_thresholds: tuple[float, float, float] | None = None
    bonus_rate: float = 0.10
    max_share_of_clv: float = 0.20
    denominations: tuple[float, ...] = (5, 10, 15, 20, 25, 50, 75, 100)
    min_churn_probability: float = 0.30
    min_clv: float = 20.0
    welcome_discount_percent: float = 10.0
    welcome_bonus_amount: float = 0.0
    response_rate: float = 0.15
    bonus_saturation_share: float = 0.20
    cart_reminder_stages: tuple[str, ...] = ("first_time", "second_order", "loyal")
    stage_offer_types: tuple[tuple[str, str], ...] = _DEFAULT_STAGE_OFFERS
    arms: tuple[tuple[str, float], ...] = (("control", 0.10), ("treatment", 0.90))
    control_arms: tuple[str, ...] = ("control",)
    hash_salt: str = "scoring-offers-v1"
    hash_key: str = "scoring-offers-k"

    def __post_init__(self) -> None:
        shares = tuple(float(s) for s in self.tier_top_shares)
        if len(shares) != 3 or any(s < 0 for s in shares) or sum(shares) > 1 + 1e-12:
            raise ValueError(
                f"tier_top_shares must be three non-negative shares (vip, high, medium) summing "
                f"to at most 1, got {self.tier_top_shares!r}"
            )
        if self.tier_thresholds is not None:
            t = tuple(float(x) for x in self.tier_thresholds)
            if len(t) != 3 or not (t[0] >= t[1] >= t[2] >= 0):
                raise ValueError(
                    "tier_thresholds must be (vip_min, high_min, medium_min) with "
                    f"vip_min >= high_min >= medium_min >= 0, got {self.tier_thresholds!r}"
                )
        for name in ("bonus_rate", "max_share_of_clv", "min_clv", "welcome_bonus_amount"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("min_churn_probability", "response_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not 0.0 <= self.welcome_discount_percent <= 100.0:
            raise ValueError(
                f"welcome_discount_percent must be in [0, 100], got {self.welcome_discount_percent!r}"
            )
        if not (np.isfinite(self.bonus_saturation_share) and self.bonus_saturation_share > 0):
            raise ValueError(
                f"bonus_saturation_share must be > 0, got {self.bonus_saturation_share!r}"
            )
        d = np.asarray(self.denominations, dtype=float)
        if d.size == 0 or np.any(~np.isfinite(d)) or np.any(d <= 0) or np.any(np.diff(d) <= 0):
            raise ValueError(
                "denominations must be positive and strictly increasing, e.g. (5, 10, 20), "
                f"got {self.denominations!r}"
            )
        stages = [stage for stage, _ in self.stage_offer_types]
        missing = sorted(set(LIFECYCLE_STAGES) - set(stages))
        unknown_stages = sorted(set(stages) - set(LIFECYCLE_STAGES))
        unknown_offers = sorted({o for _, o in self.stage_offer_types} - set(OFFER_TYPES))
        if missing or unknown_stages or unknown_offers or len(stages) != len(set(stages)):
            raise ValueError(
                "stage_offer_types must give exactly one known offer type per lifecycle stage "
                f"{LIFECYCLE_STAGES}; missing {missing}, unknown stages {unknown_stages}, "
                f"unknown offer types {unknown_offers} (known: {OFFER_TYPES})"
            )
        bad = sorted(set(self.cart_reminder_stages) - set(LIFECYCLE_STAGES))
        if bad:
            raise ValueError(f"cart_reminder_stages has unknown stages {bad}")
        names = [name for name, _ in self.arms]
        arm_shares = np.array([share for _, share in self.arms], dtype=float)
        if (
            len(names) == 0
            or len(names) != len(set(names))
            or np.any(arm_shares <= 0)
            or abs(arm_shares.sum() - 1.0) > 1e-9
        ):
            raise ValueError(
                "arms must be (name, share) pairs with unique names and positive shares summing "
                f"to 1, e.g. split_arms(0.1, ('a', 'b')); got {self.arms!r}"
            )
        bad = sorted(set(self.control_arms) - set(names))
        if bad:
            raise ValueError(f"control_arms {bad} are not among the arms {names}")
        if len(self.hash_key.encode("utf-8")) != 16:
            raise ValueError(
                f"hash_key must be 16 bytes (pandas SipHash key), got {self.hash_key!r}"
            )

    @property
    def offer_type_by_stage(self) -> dict[str, str]:
        """The playbook as a dict lifecycle_stage -> offer_type."""
        return dict(self.stage_offer_types)


# ----------------------------------------------------------------------------- validation


def _validate_scores(scores: pd.DataFrame, required: Sequence[str] = _REQUIRED) -> None:
    """Raise DataError naming column, count, examples and the fix for unusable scores."""
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    require_columns(
        scores,
        required,
        "scores",
        f"the offer policy needs one row per customer with {list(required)} "
        "(churn_probability and predicted_clv_12m from the models, lifecycle_stage from "
        "scoring.segments).",
    )
    ids = scores["customer_id"]
    if ids.isna().any():
        raise DataError(
            f"column 'customer_id': {int(ids.isna().sum())} missing value(s); drop those rows "
            "or fill the ids."
        )
    if not pd.api.types.is_string_dtype(ids):
        raise DataError(
            f"column 'customer_id' must hold strings like '12346', got dtype {ids.dtype} "
            f"(e.g. {examples(ids.head(5))}); convert with .astype(str) (ints, never floats)."
        )
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        raise DataError(
            f"column 'customer_id': {int(ids[duplicated].nunique())} id(s) appear more than once "
            f"(e.g. {examples(ids[duplicated])}); scores need exactly one row per customer."
        )
    if "lifecycle_stage" in required:
        stage = scores["lifecycle_stage"]
        bad = stage.isna() | ~stage.isin(LIFECYCLE_STAGES)
        if bad.any():
            raise DataError(
                f"column 'lifecycle_stage': {int(bad.sum())} row(s) with unknown or missing "
                f"stage (e.g. {examples(stage[bad])}); allowed: {LIFECYCLE_STAGES}."
            )
        buyer = (stage != "lead").to_numpy()
    else:
        buyer = np.ones(len(scores), dtype=bool)
    for column, low, high in (
        ("churn_probability", 0.0, 1.0),
        ("predicted_clv_12m", 0.0, np.inf),
    ):
        try:
            values = pd.to_numeric(scores[column]).astype(float).to_numpy()
        except (TypeError, ValueError) as error:
            raise DataError(
                f"column {column!r} must be numeric; {error}. Convert it with pd.to_numeric."
            ) from None
        bad = buyer & ~((values >= low) & (values <= high) & np.isfinite(values))
        if bad.any():
            raise DataError(
                f"column {column!r}: {int(bad.sum())} customer(s) with orders have a missing or "
                f"out-of-range value (allowed [{low}, {high}]), e.g. customer_id "
                f"{examples(ids[bad])} with {examples(values[bad])}; only leads may be missing."
            )
    if "cart_abandoner" in scores.columns:
        flag = scores["cart_abandoner"]
        ok = flag.isna() | flag.isin([True, False, 0, 1])
        if not ok.all():
            raise DataError(
                f"column 'cart_abandoner' must be boolean, {int((~ok).sum())} value(s) are not "
                f"(e.g. {examples(flag[~ok])}); use True/False (missing counts as False)."
            )


def _numeric(scores: pd.DataFrame, column: str, is_lead: np.ndarray) -> np.ndarray:
    """Column as float array with leads set to 0."""
    values = pd.to_numeric(scores[column]).astype(float).to_numpy()
    return np.where(is_lead, 0.0, np.nan_to_num(values, nan=0.0))


# ----------------------------------------------------------------------------- building blocks


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
    return np.asarray(VALUE_TIERS)[_tier_codes(clv, lead, policy)]


def _tier_codes(clv: np.ndarray, lead: np.ndarray, policy: OfferPolicy) -> np.ndarray:
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
    index = np.searchsorted(denominations, raw + _TOL, side="right") - 1
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


def offer_types(scores: pd.DataFrame, policy: OfferPolicy | None = None) -> np.ndarray:
    """Exactly one offer type per row of ``scores`` (needs ``lifecycle_stage``), shape (n,).

    Precedence: lead -> welcome_discount; cart_abandoner in ``cart_reminder_stages`` ->
    cart_reminder; otherwise ``stage_offer_types``.
    """
    policy = policy or OfferPolicy()
    _validate_scores(scores, required=("customer_id", "lifecycle_stage"))
    return np.asarray(OFFER_TYPES)[_offer_codes(scores, policy)]


def _stage_codes(scores: pd.DataFrame) -> np.ndarray:
    """Codes into LIFECYCLE_STAGES (0 = lead), shape (n,)."""
    stage = scores["lifecycle_stage"].astype(str)
    return pd.Categorical(stage, categories=LIFECYCLE_STAGES).codes


def _offer_codes(scores: pd.DataFrame, policy: OfferPolicy) -> np.ndarray:
    """Codes into OFFER_TYPES, shape (n,)."""
    stage = _stage_codes(scores)
    offer_of_stage = np.array(
        [OFFER_TYPES.index(policy.offer_type_by_stage[st]) for st in LIFECYCLE_STAGES]
    )
    reminder_stage = np.isin(np.asarray(LIFECYCLE_STAGES), policy.cart_reminder_stages)
    override = _cart_flag(scores) & reminder_stage[stage] & (stage != 0)
    codes = np.where(override, OFFER_TYPES.index("cart_reminder"), offer_of_stage[stage])
    codes[stage == 0] = OFFER_TYPES.index("welcome_discount")
    return codes.astype(np.int8)


def _cart_flag(scores: pd.DataFrame) -> np.ndarray:
    if "cart_abandoner" not in scores.columns:
        return np.zeros(len(scores), dtype=bool)
    flag = scores["cart_abandoner"]
    return flag.where(flag.notna(), False).astype(bool).to_numpy()


def stable_unit_hash(
    customer_id: pd.Series | Iterable[str], salt: str = "scoring-offers-v1", key: str | None = None
) -> np.ndarray:
    """Uniform number in [0, 1) per id, stable across runs, machines and row orders.

    SipHash-2-4 (``pandas.util.hash_array``, ``categorize=False``) of ``salt + ":" + id`` as
    UTF-8 with the 16-byte ``key`` (default ``OfferPolicy.hash_key``), top 53 bits / 2**53.
    Shape (n,), float64.
    """
    key = OfferPolicy.hash_key if key is None else key
    ids = pd.Series(customer_id, dtype=object).astype(str)
    keyed = (salt + ":" + ids).to_numpy(dtype=object)
    hashes = pd.util.hash_array(keyed, hash_key=key, categorize=False).astype(np.uint64)
    return (hashes >> np.uint64(11)).astype(np.float64) / float(2**53)


def ab_groups(
    customer_id: pd.Series | Iterable[str], policy: OfferPolicy | None = None
) -> np.ndarray:
    """Arm name per id (shape (n,)) from :func:`stable_unit_hash` and ``policy.arms``."""
    policy = policy or OfferPolicy()
    names = np.asarray([name for name, _ in policy.arms])
    return names[_arm_codes(customer_id, policy)]


def _arm_codes(customer_id: pd.Series | Iterable[str], policy: OfferPolicy) -> np.ndarray:
    """Codes into ``policy.arms``, shape (n,)."""
    u = stable_unit_hash(customer_id, policy.hash_salt, policy.hash_key)
    bounds = np.cumsum([share for _, share in policy.arms])
    return np.minimum(np.searchsorted(bounds, u, side="right"), len(policy.arms) - 1)


# ----------------------------------------------------------------------------- budget


def _greedy_order(customer_id: np.ndarray, bonus: np.ndarray, retained: np.ndarray) -> np.ndarray:
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


def _budget_keep(
    customer_id: np.ndarray, bonus: np.ndarray, retained: np.ndarray, budget: float | None
) -> np.ndarray:
    """Boolean mask (n,): customers whose bonus fits the budget in the greedy order."""
    keep = bonus > 0
    if budget is None:
        return keep
    order = _greedy_order(customer_id, bonus, retained)
    fits = np.cumsum(bonus[order]) <= budget + _TOL * max(1.0, budget)
    # a prefix: the first bonus that does not fit ends the allocation
    n_fit = int(np.argmin(fits)) if not fits.all() else len(order)
    keep[order[n_fit:]] = False
    return keep


def _check_budget(budget: float | None) -> float | None:
    if budget is None:
        return None
    budget = float(budget)
    if not (np.isfinite(budget) and budget >= 0):
        raise ValueError(f"budget must be a finite amount >= 0 (currency) or None, got {budget!r}")
    return budget


def _bonus_reason_codes(
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


def _categorical(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=list(categories))


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
    budget = _check_budget(budget)
    required = ["customer_id", "churn_probability", "predicted_clv_12m"]
    if "lifecycle_stage" in scores.columns:
        required.append("lifecycle_stage")
    _validate_scores(scores, required=tuple(required))
    if "lifecycle_stage" in scores.columns:
        is_lead = (scores["lifecycle_stage"] == "lead").to_numpy()
    else:
        is_lead = np.zeros(len(scores), dtype=bool)
    p = _numeric(scores, "churn_probability", is_lead)
    clv = _numeric(scores, "predicted_clv_12m", is_lead)
    if "bonus_amount" in scores.columns:
        bonus = pd.to_numeric(scores["bonus_amount"]).fillna(0.0).astype(float).to_numpy()
        if np.any(bonus < 0):
            raise DataError(
                f"column 'bonus_amount': {int((bonus < 0).sum())} negative value(s); bonuses "
                "must be >= 0."
            )
    else:
        bonus = risk_scaled_bonus(p, clv, policy)
    retention = np.where(is_lead, 0.0, bonus)
    retained = expected_revenue_retained(retention, p, clv, policy)
    keep = _budget_keep(scores["customer_id"].to_numpy(dtype=object), retention, retained, budget)
    cut = (retention > 0) & ~keep

    out = scores.copy()
    out["bonus_amount"] = np.where(cut, 0.0, bonus)
    if "bonus_reason" in out.columns:
        reason = out["bonus_reason"].astype(object).where(~cut, "budget_exhausted")
        known = reason.isin(BONUS_REASONS).all()
        out["bonus_reason"] = pd.Categorical(reason, categories=BONUS_REASONS) if known else reason
    else:
        no_control = np.zeros(len(out), dtype=bool)
        codes = _bonus_reason_codes(is_lead, no_control, cut, p, clv, bonus, policy)
        out["bonus_reason"] = _categorical(codes, BONUS_REASONS)
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


# ----------------------------------------------------------------------------- the policy


def assign_offers(
    scores: pd.DataFrame, policy: OfferPolicy | None = None, budget: float | None = None
) -> tuple[pd.DataFrame, dict]:
    """Offer, bonus, tier and A/B arm for every customer.

    Parameters
    ----------
    scores : DataFrame, one row per customer (see the module docstring for columns).
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
    budget = _check_budget(budget)
    _validate_scores(scores)
    customer_id = scores["customer_id"].to_numpy(dtype=object)
    is_lead = _stage_codes(scores) == 0
    p = _numeric(scores, "churn_probability", is_lead)
    clv = _numeric(scores, "predicted_clv_12m", is_lead)

    tier = _tier_codes(clv, is_lead, policy)
    offer = _offer_codes(scores, policy)
    arm = _arm_codes(scores["customer_id"], policy)
    arm_names = [name for name, _ in policy.arms]
    control = np.isin(np.asarray(arm_names), policy.control_arms)[arm]

    candidate = np.where(is_lead, policy.welcome_bonus_amount, risk_scaled_bonus(p, clv, policy))
    retention = np.where(is_lead | control, 0.0, candidate)
    retained = expected_revenue_retained(retention, p, clv, policy)
    keep = _budget_keep(customer_id, retention, retained, budget)
    cut = (retention > 0) & ~keep
    bonus = np.where(control | cut, 0.0, candidate)
    retention_candidate = np.where(is_lead, 0.0, candidate)
    candidate_retained = expected_revenue_retained(retention_candidate, p, clv, policy)
    reason = _bonus_reason_codes(is_lead, control, cut, p, clv, candidate, policy)

    offers = scores.copy()
    offers["value_tier"] = _categorical(tier, VALUE_TIERS)
    offers["value_at_risk"] = p * clv
    offers["offer_type"] = _categorical(offer, OFFER_TYPES)
    offers["template_key"] = _categorical(offer, [OFFER_TEMPLATES[o][0] for o in OFFER_TYPES])
    offers["email_subject"] = _categorical(offer, [OFFER_TEMPLATES[o][1] for o in OFFER_TYPES])
    offers["candidate_bonus"] = candidate
    offers["bonus_amount"] = bonus
    offers["discount_percent"] = np.where(is_lead & ~control, policy.welcome_discount_percent, 0.0)
    offers["retained_per_bonus_unit"] = np.divide(
        candidate_retained,
        retention_candidate,
        out=np.zeros(len(scores)),
        where=retention_candidate > 0,
    )
    offers["control_group"] = control
    offers["ab_group"] = _categorical(arm, arm_names)
    offers["bonus_reason"] = _categorical(reason, BONUS_REASONS)
    offers["expected_revenue_retained"] = np.where(keep, retained, 0.0)
    return offers, _summary(offers, is_lead, clv, budget, policy)


def _counts(values: pd.Series, categories: Sequence[str]) -> dict[str, int]:
    counts = values.value_counts(sort=False)
    ordered = {c: int(counts.get(c, 0)) for c in categories}
    ordered.update({str(c): int(n) for c, n in counts.items() if c not in ordered})
    return ordered


def _summary(
    offers: pd.DataFrame,
    is_lead: np.ndarray,
    clv: np.ndarray,
    budget: float | None,
    policy: OfferPolicy,
) -> dict:
    n = len(offers)
    bonus = offers["bonus_amount"].to_numpy()
    retention_total = float(bonus[~is_lead].sum())
    control_size = int(offers["control_group"].sum())
    tier_min = pd.Series(clv).groupby(offers["value_tier"].to_numpy()).min()
    summary = {
        "customers": n,
        "customers_per_offer_type": _counts(offers["offer_type"], OFFER_TYPES),
        "customers_per_value_tier": _counts(offers["value_tier"], VALUE_TIERS),
        "customers_per_ab_group": _counts(offers["ab_group"], [a for a, _ in policy.arms]),
        "customers_per_bonus_reason": _counts(offers["bonus_reason"], BONUS_REASONS),
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
        summary["customers_per_rfm_segment"] = _counts(offers["rfm_segment"].astype(str), [])
    return summary


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
    offers, _ = assign_offers(scores, policy, budget=None)
    is_lead = (offers["lifecycle_stage"] == "lead").to_numpy()
    retention = np.where(is_lead, 0.0, offers["bonus_amount"].to_numpy())
    retained = offers["expected_revenue_retained"].to_numpy()
    order = _greedy_order(offers["customer_id"].to_numpy(dtype=object), retention, retained)
    spent_cum = np.concatenate([[0.0], np.cumsum(retention[order])])
    retained_cum = np.concatenate([[0.0], np.cumsum(retained[order])])
    tolerance = _TOL * np.maximum(1.0, budget_values)
    n_fit = np.searchsorted(spent_cum, budget_values + tolerance, side="right") - 1
    return pd.DataFrame(
        {
            "budget": budget_values,
            "spent": spent_cum[n_fit],
            "expected_revenue_retained": retained_cum[n_fit],
            "customers_with_bonus": n_fit.astype(np.int64),
        }
    )


__all__ = [
    "BONUS_REASONS",
    "LIFECYCLE_STAGES",
    "OFFER_TEMPLATES",
    "OFFER_TYPES",
    "VALUE_TIERS",
    "OfferPolicy",
    "ab_groups",
    "allocate_budget",
    "assign_offers",
    "budget_curve",
    "expected_revenue_retained",
    "offer_types",
    "risk_scaled_bonus",
    "split_arms",
    "stable_unit_hash",
    "uplift_probability",
    "value_tiers",
]
