"""The offer policy's parameters (:class:`OfferPolicy`), A/B/n arm shares and the input check.

Everything the offers do is set here: tiers, bonus, response assumption, playbook, arms and the
stable hash. The scores table (one row per customer) is checked by :func:`validate_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from scoring.data.errors import DataError, examples, require_columns, require_unique_ids
from scoring.segments import LIFECYCLE_STAGES

from .playbook import DEFAULT_PLAYBOOK, OfferRule, edit_rules, offer_catalogue, validate_playbook

VALUE_TIERS: tuple[str, ...] = ("vip", "high", "medium", "low", "lead")
"""Values of ``value_tier``, best first; ``lead`` for customers without orders."""

REQUIRED_COLUMNS = ("customer_id", "churn_probability", "predicted_clv_12m", "lifecycle_stage")
TOL = 1e-9  # currency; absorbs floating-point error in rounding and budget cuts


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
    welcome_discount_percent : shortcut: when set, the ``discount_percent`` of the playbook's
        ``welcome_discount`` rules (0..100). Default None: as in the playbook (10 % off a
        lead's first order).
    welcome_bonus_amount : fixed welcome voucher for leads (currency), outside the budget.
        Default 0 (the welcome offer is the percent discount only).
    response_rate : probability that a full-strength bonus retains a customer who would
        otherwise churn (assumption, 0..1). Default 0.15.
    bonus_saturation_share : bonus, as a fraction of ``predicted_clv_12m``, at which the
        response stops growing (> 0). Default 0.20.
    cart_reminder_stages : shortcut: when set, the lifecycle stages of the playbook's
        ``cart_reminder`` rules. Default None: as in the playbook (the active stages
        first_time, second_order, loyal).
    stage_offer_types : retired; must stay None. The offer types come from ``playbook``.
    playbook : ordered tuple of :class:`~scoring.offers.playbook.OfferRule`, first match
        wins; default :data:`~scoring.offers.playbook.DEFAULT_PLAYBOOK`. Adding an offer is
        one more rule here. The shortcuts above edit it when the policy is built.
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
    welcome_discount_percent: float | None = None
    welcome_bonus_amount: float = 0.0
    response_rate: float = 0.15
    bonus_saturation_share: float = 0.20
    cart_reminder_stages: tuple[str, ...] | None = None
    stage_offer_types: None = None
    playbook: tuple[OfferRule, ...] = DEFAULT_PLAYBOOK
    arms: tuple[tuple[str, float], ...] = (("control", 0.10), ("treatment", 0.90))
    control_arms: tuple[str, ...] = ("control",)
    hash_salt: str = "scoring-offers-v1"
    hash_key: str = "scoring-offers-k"

    def __post_init__(self) -> None:
        self._check_tiers()
        self._check_amounts()
        object.__setattr__(self, "playbook", self._edited_playbook())
        validate_playbook(
            self.playbook, {"lifecycle_stage": LIFECYCLE_STAGES, "value_tier": VALUE_TIERS}
        )
        self._check_arms()

    def _check_tiers(self) -> None:
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

    def _check_amounts(self) -> None:
        for name in ("bonus_rate", "max_share_of_clv", "min_clv", "welcome_bonus_amount"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("min_churn_probability", "response_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
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

    def _edited_playbook(self) -> tuple[OfferRule, ...]:
        """``playbook`` as a tuple, with the shortcut parameters applied (idempotent)."""
        if self.stage_offer_types is not None:
            raise ValueError(
                "stage_offer_types is retired: the offer per lifecycle stage is a rule of the "
                "playbook now; pass OfferPolicy(playbook=...) with OfferRule entries (see "
                "scoring.offers.DEFAULT_PLAYBOOK)"
            )
        playbook = tuple(self.playbook)
        if self.welcome_discount_percent is not None:
            percent = self.welcome_discount_percent
            playbook = edit_rules(
                playbook, "welcome_discount", lambda r: replace(r, discount_percent=percent)
            )
        if self.cart_reminder_stages is not None:
            stages = tuple(self.cart_reminder_stages)
            playbook = edit_rules(
                playbook,
                "cart_reminder",
                lambda r: replace(r, when={**r.conditions, "lifecycle_stage": stages}),
            )
        return playbook

    def _check_arms(self) -> None:
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
    def offer_catalogue(self) -> tuple[OfferRule, ...]:
        """One rule per offer type of the playbook, in report order."""
        return offer_catalogue(self.playbook)

    @property
    def offer_types(self) -> tuple[str, ...]:
        """The playbook's offer types, in report order (categories of ``offer_type``)."""
        return tuple(rule.offer_type for rule in self.offer_catalogue)

    @property
    def offer_templates(self) -> MappingProxyType:
        """offer_type -> (template_key, email subject line), from the playbook."""
        return MappingProxyType(
            {rule.offer_type: (rule.template_key, rule.subject) for rule in self.offer_catalogue}
        )


# ----------------------------------------------------------------------------- validation


def validate_scores(scores: pd.DataFrame, required: Sequence[str] = REQUIRED_COLUMNS) -> None:
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
    _check_ids(scores["customer_id"])
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
        if column in scores.columns:
            _check_range(scores, column, low, high, buyer)
    if "cart_abandoner" in scores.columns:
        flag = scores["cart_abandoner"]
        ok = flag.isna() | flag.isin([True, False, 0, 1])
        if not ok.all():
            raise DataError(
                f"column 'cart_abandoner' must be boolean, {int((~ok).sum())} value(s) are not "
                f"(e.g. {examples(flag[~ok])}); use True/False (missing counts as False)."
            )


def _check_ids(ids: pd.Series) -> None:
    require_unique_ids(ids, "scores", "scores need exactly one row per customer.")
    if not pd.api.types.is_string_dtype(ids):
        raise DataError(
            f"column 'customer_id' must hold strings like '12346', got dtype {ids.dtype} "
            f"(e.g. {examples(ids.head(5))}); convert with .astype(str) (ints, never floats)."
        )


def _check_range(
    scores: pd.DataFrame, column: str, low: float, high: float, buyer: np.ndarray
) -> None:
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
            f"{examples(scores['customer_id'][bad])} with {examples(values[bad])}; only leads "
            "may be missing."
        )


def lead_mask(scores: pd.DataFrame) -> np.ndarray:
    """Boolean array (n,): ``lifecycle_stage == "lead"`` (all False without the column)."""
    if "lifecycle_stage" not in scores.columns:
        return np.zeros(len(scores), dtype=bool)
    return (scores["lifecycle_stage"] == "lead").to_numpy(dtype=bool)


def numeric(scores: pd.DataFrame, column: str, is_lead: np.ndarray) -> np.ndarray:
    """Column as float array with leads (and missing values) set to 0."""
    values = pd.to_numeric(scores[column]).astype(float).to_numpy()
    return np.where(is_lead, 0.0, np.nan_to_num(values, nan=0.0))


__all__ = [
    "REQUIRED_COLUMNS",
    "TOL",
    "VALUE_TIERS",
    "OfferPolicy",
    "lead_mask",
    "numeric",
    "split_arms",
    "validate_scores",
]
