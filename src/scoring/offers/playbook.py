"""The marketing playbook: an ordered tuple of offer rules, evaluated first-match.

A rule (:class:`OfferRule`) is data: the offer type it gives, the e-mail template key and
subject line that go with it, the discount (percent) a treated customer gets, and the customers
it applies to, i.e. conditions on columns (``when``: column -> allowed values, all must hold)
and on the ``cart_abandoner`` flag (missing flags count as False). Every customer gets the
offer of the first rule whose conditions hold. Evaluation is vectorised: one boolean mask per
rule over the whole table, then ``np.select`` (no loop over customers).

Adding an offer is one edit: one :class:`OfferRule` in :data:`DEFAULT_PLAYBOOK`, or a policy
with another playbook, e.g. ``OfferPolicy(playbook=(vip_rule, *DEFAULT_PLAYBOOK))``. The offer
types, templates, subjects and discounts of a policy all come from its rules; rules giving the
same offer type must agree on template, subject and discount.

Columns a rule may test: any column of the scores table (``lifecycle_stage``, ``rfm_segment``,
``email_engagement``, ...) and ``value_tier`` (computed before the playbook is evaluated). The
values of ``lifecycle_stage`` and ``value_tier`` are checked against their vocabularies when the
policy is built, so a typo fails early. Every customer must get an offer: the rules that test
``lifecycle_stage`` only (no other column, ``cart_abandoner=None``) must together cover every
lifecycle stage; end the playbook with them.

Reports list the offer types (``offer_type`` categories, ``customers_per_offer_type``) in
playbook order, except that offers needing a flag (``cart_abandoner=True``) come after the
others: a flag overrides the stage offer, so its rule sits early in the playbook, but it is
reported after the offers of the lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from scoring.data.errors import DataError

Conditions = tuple[tuple[str, tuple[Any, ...]], ...]


def _normalise_when(when: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Conditions:
    """``{"lifecycle_stage": ("lead",)}`` (or pairs, or a single value) -> tuple of pairs."""
    pairs = when.items() if isinstance(when, Mapping) else when
    out = []
    for column, allowed in pairs:
        if not isinstance(column, str) or column == "cart_abandoner":
            raise ValueError(
                f"rule conditions are column names -> allowed values, got column {column!r} "
                "(use the rule's cart_abandoner=True/False for the flag)"
            )
        values = (allowed,) if isinstance(allowed, str | bool | int | float) else allowed
        out.append((column, tuple(values)))
    if len({column for column, _ in out}) != len(out):
        raise ValueError(f"a column appears twice in the rule conditions {when!r}")
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class OfferRule:
    """One line of the playbook: who gets which offer, with which e-mail and discount.

    Attributes
    ----------
    name : name of the rule, unique within a playbook (e.g. ``"loyalty_club"``).
    offer_type : value of ``offer_type`` for the customers the rule matches.
    template_key : e-mail template key of the offer (``template_key`` column).
    subject : e-mail subject line of the offer (``email_subject`` column). No personal data.
    when : conditions, column -> allowed values, all must hold; empty matches everyone.
        Given as a dict (``{"lifecycle_stage": ("lapsed", "sleeping")}``), stored as a tuple of
        (column, values) pairs so that the rule is hashable.
    cart_abandoner : True: only customers flagged; False: only customers not flagged (missing
        counts as not flagged); None: either.
    discount_percent : percent off (0..100) for treated customers; control customers get 0.
    """

    name: str
    offer_type: str
    template_key: str
    subject: str
    when: Conditions = ()
    cart_abandoner: bool | None = None
    discount_percent: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "when", _normalise_when(self.when))
        for attribute in ("name", "offer_type", "template_key", "subject"):
            value = getattr(self, attribute)
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"offer rule {attribute} must be a non-empty string, got {value!r}"
                )
        if self.cart_abandoner not in (True, False, None):
            raise ValueError(
                f"offer rule {self.name!r}: cart_abandoner must be True, False or None, "
                f"got {self.cart_abandoner!r}"
            )
        discount = float(self.discount_percent)
        if not 0.0 <= discount <= 100.0:
            raise ValueError(
                f"offer rule {self.name!r}: discount_percent must be in [0, 100], "
                f"got {self.discount_percent!r}"
            )
        object.__setattr__(self, "discount_percent", discount)

    @property
    def conditions(self) -> dict[str, tuple[Any, ...]]:
        """``when`` as a dict column -> allowed values."""
        return dict(self.when)

    @property
    def tests_stage_only(self) -> bool:
        """True when the rule tests ``lifecycle_stage`` and nothing else (no flag either)."""
        return self.cart_abandoner is None and set(self.conditions) <= {"lifecycle_stage"}


DEFAULT_PLAYBOOK: tuple[OfferRule, ...] = (
    OfferRule(
        name="lead_welcome",
        offer_type="welcome_discount",
        when={"lifecycle_stage": ("lead",)},  # also when a lead abandoned a cart
        template_key="welcome_discount_v1",
        subject="Welcome! A discount on your first order",
        discount_percent=10.0,
    ),
    OfferRule(
        name="cart_reminder",
        offer_type="cart_reminder",
        when={"lifecycle_stage": ("first_time", "second_order", "loyal")},
        cart_abandoner=True,
        template_key="cart_reminder_v1",
        subject="You left something in your cart",
    ),
    OfferRule(
        name="first_order_thank_you",
        offer_type="thank_you_cross_sell",
        when={"lifecycle_stage": ("first_time",)},
        template_key="thank_you_cross_sell_v1",
        subject="Thank you for your order - picked for you",
    ),
    OfferRule(
        name="second_order",
        offer_type="second_order_incentive",
        when={"lifecycle_stage": ("second_order",)},
        template_key="second_order_incentive_v1",
        subject="A little thank-you for your next order",
    ),
    OfferRule(
        name="loyalty_club",
        offer_type="loyalty_club_invitation",
        when={"lifecycle_stage": ("loyal",)},
        template_key="loyalty_club_invitation_v1",
        subject="You're invited to our loyalty club",
    ),
    OfferRule(
        name="reengagement",
        offer_type="reengagement_promo_new_arrivals",
        when={"lifecycle_stage": ("lapsed", "sleeping")},
        template_key="reengagement_new_arrivals_v1",
        subject="We've missed you - see what's new",
    ),
)
"""The default playbook, first match wins: leads -> welcome discount (10 % off the first order);
cart abandoners among the active stages -> cart reminder; then by lifecycle stage."""


# ----------------------------------------------------------------------------- checks


def offer_catalogue(playbook: Sequence[OfferRule]) -> tuple[OfferRule, ...]:
    """One rule per offer type (the first giving it), in report order (module docstring)."""
    report_order = sorted(
        range(len(playbook)), key=lambda i: (playbook[i].cart_abandoner is True, i)
    )
    first: dict[str, OfferRule] = {}
    for i in report_order:
        first.setdefault(playbook[i].offer_type, playbook[i])
    return tuple(first.values())


OFFER_TYPES: tuple[str, ...] = tuple(rule.offer_type for rule in offer_catalogue(DEFAULT_PLAYBOOK))
"""Values of ``offer_type`` under the default playbook, in report order (from the rules)."""

OFFER_TEMPLATES: MappingProxyType = MappingProxyType(
    {
        rule.offer_type: (rule.template_key, rule.subject)
        for rule in offer_catalogue(DEFAULT_PLAYBOOK)
    }
)
"""offer_type -> (template_key, email subject line) under the default playbook (from the rules)."""


def validate_playbook(
    playbook: Sequence[OfferRule], vocabularies: Mapping[str, Sequence[str]]
) -> None:
    """Raise ValueError unless ``playbook`` is a usable, complete tuple of rules.

    ``vocabularies``: column -> allowed values, for the columns whose values are known in
    advance; must include ``lifecycle_stage`` (the stages every customer is in).
    """
    if len(playbook) == 0 or not all(isinstance(rule, OfferRule) for rule in playbook):
        raise ValueError(f"playbook must be a non-empty tuple of OfferRule, got {playbook!r}")
    names = [rule.name for rule in playbook]
    if len(names) != len(set(names)):
        raise ValueError(f"playbook rule names must be unique, got {names}")
    offer = {rule.offer_type: rule for rule in offer_catalogue(playbook)}
    for rule in playbook:
        reference = offer[rule.offer_type]
        if (rule.template_key, rule.subject, rule.discount_percent) != (
            reference.template_key,
            reference.subject,
            reference.discount_percent,
        ):
            raise ValueError(
                f"rules {reference.name!r} and {rule.name!r} both give {rule.offer_type!r} but "
                "differ in template_key, subject or discount_percent; one offer type, one e-mail"
            )
        for column, allowed in rule.when:
            unknown = [
                v for v in allowed if column in vocabularies and v not in vocabularies[column]
            ]
            if unknown:
                raise ValueError(
                    f"offer rule {rule.name!r}: unknown {column} value(s) {unknown}; "
                    f"allowed: {tuple(vocabularies[column])}"
                )
    stages = tuple(vocabularies["lifecycle_stage"])
    covered = {
        stage
        for rule in playbook
        if rule.tests_stage_only
        for stage in rule.conditions.get("lifecycle_stage", stages)
    }
    missing = [stage for stage in stages if stage not in covered]
    if missing:
        raise ValueError(
            f"the playbook gives no offer to lifecycle stage(s) {missing}: end it with rules "
            "that test lifecycle_stage only (no other column, cart_abandoner=None) and together "
            f"cover {stages}"
        )


def edit_rules(
    playbook: Sequence[OfferRule], offer_type: str, edit: Callable[[OfferRule], OfferRule]
) -> tuple[OfferRule, ...]:
    """``playbook`` with ``edit`` applied to every rule giving ``offer_type``."""
    if not any(rule.offer_type == offer_type for rule in playbook):
        raise ValueError(f"the playbook has no rule giving {offer_type!r} to change")
    return tuple(edit(rule) if rule.offer_type == offer_type else rule for rule in playbook)


# ----------------------------------------------------------------------------- evaluation


def cart_flag(scores: pd.DataFrame) -> np.ndarray:
    """``cart_abandoner`` as a boolean array (n,); missing column or values count as False."""
    if "cart_abandoner" not in scores.columns:
        return np.zeros(len(scores), dtype=bool)
    flag = scores["cart_abandoner"]
    return flag.where(flag.notna(), False).astype(bool).to_numpy()


def _rule_mask(
    rule: OfferRule, scores: pd.DataFrame, computed: Mapping[str, Any], flag: np.ndarray
) -> np.ndarray:
    mask = np.ones(len(scores), dtype=bool)
    for column, allowed in rule.when:
        if column in computed:
            values = pd.Series(computed[column])
        elif column in scores.columns:
            values = scores[column]
        else:
            raise DataError(
                f"offer rule {rule.name!r} tests column {column!r}, which the scores table does "
                f"not have (columns: {list(scores.columns)}); add the column or change the rule."
            )
        mask &= values.isin(allowed).to_numpy()
    if rule.cart_abandoner is not None:
        mask &= flag if rule.cart_abandoner else ~flag
    return mask


def offer_codes(
    playbook: Sequence[OfferRule], scores: pd.DataFrame, computed: Mapping[str, Any]
) -> np.ndarray:
    """Codes into ``offer_catalogue(playbook)`` per row of ``scores`` (first match), (n,).

    ``computed``: columns computed by the caller (``value_tier``), looked up before ``scores``.
    """
    flag = cart_flag(scores)
    masks = [_rule_mask(rule, scores, computed, flag) for rule in playbook]
    catalogue = [rule.offer_type for rule in offer_catalogue(playbook)]
    code_of_rule = [catalogue.index(rule.offer_type) for rule in playbook]
    codes = np.select(masks, code_of_rule, default=-1).astype(np.int8)
    if np.any(codes < 0):
        raise DataError(
            f"{int((codes < 0).sum())} customer(s) match no offer rule; the playbook must end "
            "with rules covering every lifecycle stage."
        )
    return codes


__all__ = [
    "DEFAULT_PLAYBOOK",
    "OFFER_TEMPLATES",
    "OFFER_TYPES",
    "OfferRule",
    "cart_flag",
    "edit_rules",
    "offer_catalogue",
    "offer_codes",
    "validate_playbook",
]
