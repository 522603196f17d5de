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
- ``lifecycle_stage``: one of ``scoring.segments.LIFECYCLE_STAGES`` (``lead``, ``first_time``,
  ``second_order``, ``loyal``, ``lapsed``, ``sleeping``).
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
the policy's offer types (:data:`OFFER_TYPES` by default), :data:`BONUS_REASONS` and the arm
names (compare them with strings as
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
``OfferPolicy.playbook`` is an ordered tuple of :class:`OfferRule` (``scoring.offers.playbook``),
evaluated first-match, vectorised. Each rule names the offer type, its e-mail template key,
subject line and discount, and the customers it applies to (``when``: column -> allowed values,
e.g. ``{"lifecycle_stage": ("lead",)}``; ``cart_abandoner``: True / False / None). The default,
:data:`DEFAULT_PLAYBOOK`:

1. ``lead`` -> ``welcome_discount``, 10 % off the first order (also when a lead abandoned a
   cart);
2. ``cart_abandoner`` and stage ``first_time``, ``second_order`` or ``loyal`` ->
   ``cart_reminder``;
3. by stage: ``first_time`` -> ``thank_you_cross_sell``, ``second_order`` ->
   ``second_order_incentive``, ``loyal`` -> ``loyalty_club_invitation``, ``lapsed`` and
   ``sleeping`` -> ``reengagement_promo_new_arrivals``.

Adding an offer is one edit: one more rule in the playbook (in :data:`DEFAULT_PLAYBOOK`, or in
a policy's own ``playbook``). Offer types, templates (:data:`OFFER_TYPES`,
:data:`OFFER_TEMPLATES` for the default; ``policy.offer_types``, ``policy.offer_templates``)
and discounts all come from the rules. Rules may test any column of the scores table and
``value_tier``. Treated customers get the discount of their rule (``discount_percent``),
control customers none.

6. Control group and A/B/n arms
-------------------------------
``u = stable_unit_hash(customer_id)`` is uniform in [0, 1) (kernel and reference in
``scoring._kernels.stable_hash``): SipHash-2-4 (``pandas.util.hash_array`` with the fixed 16-byte
``hash_key``) of ``hash_salt + ":" + customer_id`` encoded as UTF-8,
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
- ``welcome_discount_percent`` [None]: shortcut, sets the discount of the playbook's
  ``welcome_discount`` rules (10 % in the default playbook).
- ``welcome_bonus_amount`` [0]: leads' fixed welcome voucher, currency, outside the budget.
- ``response_rate`` [0.15]: assumed P(a full-strength bonus retains a churning customer).
- ``bonus_saturation_share`` [0.20]: bonus, as a fraction of CLV, at full strength.
- ``cart_reminder_stages`` [None]: shortcut, sets the stages of the playbook's
  ``cart_reminder`` rules (first_time, second_order, loyal in the default playbook).
- ``playbook`` [:data:`DEFAULT_PLAYBOOK`]: the offer rules of section 5, first match wins.
- ``stage_offer_types``: retired (must stay None); the playbook replaced it.
- ``arms`` [(("control", 0.10), ("treatment", 0.90))]: A/B/n arms and shares, in hash order;
  ``split_arms(control_share, variants)`` builds them.
- ``control_arms`` [("control",)]: arms held out from any incentive.
- ``hash_salt`` ["scoring-offers-v1"]: change it to redraw the split for a new campaign.
- ``hash_key`` ["scoring-offers-k"]: 16-byte SipHash key; keep fixed.

Budget (``assign_offers(..., budget=...)``, ``allocate_budget``, ``budget_curve``): total of
retention bonuses allowed, currency; None means no cap.

Modules
-------
``policy`` (OfferPolicy, split_arms, the input check), ``tiers`` (section 1), ``bonus``
(sections 2-3, bonus reasons), ``budget`` (section 4), ``playbook`` (section 5), ``arms``
(section 6), ``summary`` (the campaign summary), ``assign`` (``assign_offers``, wiring them).
"""

from scoring.segments import LIFECYCLE_STAGES

from .arms import ab_groups, stable_unit_hash
from .assign import assign_offers, offer_types
from .bonus import BONUS_REASONS, expected_revenue_retained, risk_scaled_bonus, uplift_probability
from .budget import allocate_budget, budget_curve
from .playbook import DEFAULT_PLAYBOOK, OFFER_TEMPLATES, OFFER_TYPES, OfferRule
from .policy import VALUE_TIERS, OfferPolicy, split_arms
from .tiers import value_tiers

__all__ = [
    "BONUS_REASONS",
    "DEFAULT_PLAYBOOK",
    "LIFECYCLE_STAGES",
    "OFFER_TEMPLATES",
    "OFFER_TYPES",
    "VALUE_TIERS",
    "OfferPolicy",
    "OfferRule",
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
