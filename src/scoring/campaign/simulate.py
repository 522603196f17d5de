"""A retention campaign with known truth on the synthetic shop.

The project's own scorer and offer policy score the shop the day before its cutoff
(:func:`score_for_campaign`); every buyer is put in an arm by a stable hash of the customer
id (:func:`assign_campaign`); the arms give a share of the policy's risk-scaled bonus. The
campaign window is ``[start, start + days)`` (``start`` defaults to the shop's cutoff, so
the window lies in the shop's holdout). :func:`simulate_campaign` then lets the customers of
the treatment arms behave as treated in the window and records, for every customer and
every arm, what would have happened in that arm (the potential outcomes).

Effect model (per campaign customer ``i``, purchase rate ``lambda_i`` per day and spend
``nu_i`` from the shop's truth; ``b`` = the bonus the arm offers, currency;
``s(b) = b / (b + half_saturation_bonus)`` rises from 0 to 1 and saturates):

Personas, fixed at ``start`` from the truth and what the shop has seen:

- ``persuadable``: alive at ``start`` (no dropout before it) and overdue: days since the
  last order (as seen by the shop) ``> overdue_factor / lambda_i`` (1.5 expected gaps).
  Treated, their purchase rate in the window is multiplied by
  ``1 + contact_rate_lift + max_rate_lift * s(b)``.
- ``sure_thing``: alive, not overdue, ``lambda_i`` in the top ``1 - sure_thing_quantile``
  (20 %) of the alive campaign customers: ``1 + contact_rate_lift`` (almost no lift).
- ``regular``: the other alive customers:
  ``1 + contact_rate_lift + regular_lift_share * max_rate_lift * s(b)``.
- ``recently_dropped``: dropped out less than ``recent_dropout_days`` before ``start``.
  Treated, they come back with probability
  ``contact_comeback_probability + max_comeback_probability * s(b)``; a comeback makes
  ``1 + Poisson(comeback_activity * lambda_i * days)`` orders at uniform times in the
  window.
- ``lost_cause``: dropped out longer ago: come back with ``lost_cause_comeback_probability``
  (0.005) when treated, whatever the bonus.
- ``sleeping_dog``: a random ``negative_share`` (3 %) of the campaign customers, whatever
  their state: contact removes each of their untreated window orders with probability
  ``negative_drop_probability`` (0.3); no positive effect.

The extra orders of an alive customer form a Poisson process of rate
``(multiplier - 1) * lambda_i`` from ``start`` until the window's end or the day of the
customer's dropout. Order values follow the shop's Gamma-Gamma model
(``Gamma(shape=p, rate=nu_i)``, rounded to the cent).

Common random numbers: every customer's uniforms are drawn once and shared by all arms:
the number of extra orders is the Poisson inverse CDF of the same uniform at each arm's
mean, a comeback is ``u < q(b)`` with the same ``u``, the ``j``-th extra order has the same
time, value and product in every arm that makes at least ``j`` extra orders, and a sleeping
dog loses the same orders in every treatment arm. Potential outcomes are therefore monotone
in the bonus and individual effects are known exactly. The untreated (control) outcome is
the base shop's orders in the window.

A sleeping dog's removed order leaves the transactions with its cancellation rows (order id
``"C" + order_id``); its return rows stay (a credit note is not linked to its order in the
table), which does not touch the gross outcomes below.

Outcomes in the window are gross: ``orders`` counts distinct purchase orders (lines with
``quantity > 0``) with a timestamp in the window, ``revenue`` sums their line amounts;
cancellations and returns are not subtracted.

Everything is vectorised numpy / pandas; the only Python loops run over the arms.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import poisson

from scoring.campaign import (
    ASSIGNMENT_COLUMNS,
    CONTROL_ARM,
    PREDICTION_COLUMNS,
    with_predicted_revenue,
)
from scoring.data.synthetic import SECONDS_PER_DAY, SyntheticShop, write_shop
from scoring.offers.arms import stable_unit_hash

__all__ = [
    "PERSONAS",
    "CampaignArm",
    "CampaignConfig",
    "SimulatedCampaign",
    "assign_campaign",
    "read_campaign",
    "score_for_campaign",
    "simulate_campaign",
    "write_campaign",
]

PERSONAS: tuple[str, ...] = (
    "persuadable",
    "sure_thing",
    "regular",
    "recently_dropped",
    "lost_cause",
    "sleeping_dog",
)
"""Persona labels of the truth's ``persona`` column (<NA> outside the campaign)."""

_ARM_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_SHOP_OPEN_SECONDS = 7 * 3600  # shop hours 07:00-22:00, as in the generator
_SHOP_HOURS_SECONDS = 15 * 3600


# ---------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class CampaignArm:
    """One arm of the campaign.

    name: arm name, letters, digits and ``_`` (it becomes a column suffix of the truth).
    share: share of the campaign population hashed into the arm, in (0, 1].
    bonus_multiplier: the arm offers ``bonus_multiplier * policy_bonus`` (currency); 0 in
        the control arm, > 0 in treatment arms.
    """

    name: str
    share: float
    bonus_multiplier: float


_DEFAULT_ARMS: tuple[CampaignArm, ...] = (
    CampaignArm(CONTROL_ARM, 0.20, 0.0),
    CampaignArm("bonus_50", 0.40, 0.5),
    CampaignArm("bonus_100", 0.40, 1.0),
)


@dataclass(frozen=True)
class CampaignConfig:
    """The campaign's arms, window, hash salt and the true effect model (module docstring).

    Arms and window:
        arms: the arms in hash order (consecutive intervals of the stable hash); default
            ``control`` 20 % (x0), ``bonus_50`` 40 % (x0.5), ``bonus_100`` 40 % (x1.0).
        control_arm: name of the control arm ("control"); exactly one arm has this name and
            it has ``bonus_multiplier == 0``.
        days: window length in days (90), ``>= 1``.
        salt: salt of the stable hash ("campaign-1"); a new salt draws a fresh split.
        min_bonus: the learning floor of the full-arm bonus (currency, 10.0):
            ``policy_bonus = max(candidate_bonus, min_bonus)``. The default policy gives no
            bonus below a value at risk of 50, so without a floor most customers would never
            be tested with one and the next allocation could not learn about them; 0 keeps
            the policy's bonuses as they are.
    Effects (``s(b) = b / (b + half_saturation_bonus)``, ``b`` in currency):
        contact_rate_lift: rate lift of being contacted, every alive treated customer
            except sleeping dogs (0.02, i.e. +2 %).
        max_rate_lift: persuadables' extra rate lift at a saturating bonus (1.0: the rate
            doubles as ``b`` grows large).
        half_saturation_bonus: bonus (currency) giving half the maximal lift (10.0; the
            default policy's bonuses are 5-25).
        overdue_factor: overdue when the days since the last order exceed
            ``overdue_factor / lambda`` (1.5).
        sure_thing_quantile: sure things have ``lambda`` at or above this quantile of the
            alive campaign customers' rates (0.8: the top 20 %).
        regular_lift_share: regulars get this share of the persuadables' bonus lift (0.25).
        recent_dropout_days: dropped out less than this many days before ``start`` counts as
            recently dropped (180).
        contact_comeback_probability: recently dropped customers' comeback probability from
            contact alone (0.01).
        max_comeback_probability: their extra comeback probability at a saturating bonus
            (0.30).
        comeback_activity: a comeback makes ``1 + Poisson(comeback_activity * lambda *
            days)`` orders (0.5).
        lost_cause_comeback_probability: comeback probability of treated lost causes,
            whatever the bonus (0.005).
        negative_share: share of the campaign customers who are sleeping dogs (0.03).
        negative_drop_probability: probability that contact removes each of a sleeping
            dog's untreated window orders (0.3).
    """

    arms: tuple[CampaignArm, ...] = _DEFAULT_ARMS
    control_arm: str = CONTROL_ARM
    days: int = 90
    salt: str = "campaign-1"
    min_bonus: float = 10.0
    contact_rate_lift: float = 0.02
    max_rate_lift: float = 1.0
    half_saturation_bonus: float = 10.0
    overdue_factor: float = 1.5
    sure_thing_quantile: float = 0.8
    regular_lift_share: float = 0.25
    recent_dropout_days: float = 180.0
    contact_comeback_probability: float = 0.01
    max_comeback_probability: float = 0.30
    comeback_activity: float = 0.5
    lost_cause_comeback_probability: float = 0.005
    negative_share: float = 0.03
    negative_drop_probability: float = 0.3

    def __post_init__(self) -> None:
        arms = tuple(
            a if isinstance(a, CampaignArm) else _arm_from_mapping(a, i)
            for i, a in enumerate(self.arms)
        )
        object.__setattr__(self, "arms", arms)
        self._validate()

    # --- validation -------------------------------------------------------------------
    def _validate(self) -> None:
        if not self.arms:
            raise ValueError("CampaignConfig.arms must list at least two arms, got none")
        names = [a.name for a in self.arms]
        for i, arm in enumerate(self.arms):
            if not isinstance(arm.name, str) or not _ARM_NAME.match(arm.name):
                raise ValueError(
                    f"CampaignConfig.arms[{i}].name must be letters, digits or '_', "
                    f"got {arm.name!r}"
                )
            if not (_is_number(arm.share) and 0 < arm.share <= 1):
                raise ValueError(
                    f"CampaignConfig.arms[{i}].share must be > 0 and <= 1, got {arm.share!r}"
                )
            if not (_is_number(arm.bonus_multiplier) and arm.bonus_multiplier >= 0):
                raise ValueError(
                    f"CampaignConfig.arms[{i}].bonus_multiplier must be >= 0, "
                    f"got {arm.bonus_multiplier!r}"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"CampaignConfig.arms: arm names must be unique, got {names}")
        total = math.fsum(a.share for a in self.arms)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"CampaignConfig.arms: shares must sum to 1, got {total!r}")
        if names.count(self.control_arm) != 1:
            raise ValueError(
                f"CampaignConfig.control_arm {self.control_arm!r} must name exactly one arm "
                f"of {names}"
            )
        for i, arm in enumerate(self.arms):
            is_control = arm.name == self.control_arm
            if is_control and arm.bonus_multiplier != 0:
                raise ValueError(
                    f"CampaignConfig.arms[{i}].bonus_multiplier: the control arm "
                    f"{arm.name!r} must have multiplier 0, got {arm.bonus_multiplier!r}"
                )
            if not is_control and arm.bonus_multiplier <= 0:
                raise ValueError(
                    f"CampaignConfig.arms[{i}].bonus_multiplier: treatment arm {arm.name!r} "
                    f"must have a multiplier > 0 (only the control arm has 0), "
                    f"got {arm.bonus_multiplier!r}"
                )
        if not (isinstance(self.days, int | np.integer) and not isinstance(self.days, bool)
                and self.days >= 1):
            raise ValueError(f"CampaignConfig.days must be a whole number >= 1, got {self.days!r}")
        if not isinstance(self.salt, str) or not self.salt:
            raise ValueError(f"CampaignConfig.salt must be a non-empty string, got {self.salt!r}")
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if not (_is_number(value) and value >= 0):
                raise ValueError(f"CampaignConfig.{name} must be >= 0, got {value!r}")
        for name in _POSITIVE:
            value = getattr(self, name)
            if not (_is_number(value) and value > 0):
                raise ValueError(f"CampaignConfig.{name} must be > 0, got {value!r}")
        for name in _PROBABILITIES:
            value = getattr(self, name)
            if not (_is_number(value) and 0 <= value <= 1):
                raise ValueError(
                    f"CampaignConfig.{name} is a probability and must lie in [0, 1], "
                    f"got {value!r}"
                )
        if self.contact_comeback_probability + self.max_comeback_probability > 1:
            raise ValueError(
                "CampaignConfig.max_comeback_probability: contact_comeback_probability + "
                "max_comeback_probability must be <= 1, got "
                f"{self.contact_comeback_probability + self.max_comeback_probability!r}"
            )

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping) -> CampaignConfig:
        """A config from a mapping of field names (``arms``: a list of mappings with
        ``name``, ``share``, ``bonus_multiplier``). Missing keys take the defaults; an
        unknown key or a bad value raises ValueError naming it."""
        if not isinstance(d, Mapping):
            raise ValueError(f"campaign config must be a mapping, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in d if k not in known]
        if unknown:
            raise ValueError(
                f"campaign config: unknown key {unknown[0]!r} (known keys: {', '.join(known)})"
            )
        kwargs = dict(d)
        if "arms" in kwargs:
            arms = kwargs["arms"]
            if isinstance(arms, str | bytes) or not hasattr(arms, "__iter__"):
                raise ValueError(
                    f"campaign config: arms must be a list of {{name, share, "
                    f"bonus_multiplier}}, got {arms!r}"
                )
            kwargs["arms"] = tuple(
                a if isinstance(a, CampaignArm) else _arm_from_mapping(a, i)
                for i, a in enumerate(arms)
            )
        if "days" in kwargs and _is_number(kwargs["days"]) and float(kwargs["days"]).is_integer():
            kwargs["days"] = int(kwargs["days"])
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path) -> CampaignConfig:
        """A config from a YAML file holding the mapping of :meth:`from_dict`."""
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        """JSON-serialisable mapping that :meth:`from_dict` reads back."""
        out = dataclasses.asdict(self)
        out["arms"] = [dataclasses.asdict(a) for a in self.arms]
        return out

    def effects(self) -> dict:
        """The effect parameters (every field but arms, control_arm, days, salt, min_bonus)."""
        skip = {"arms", "control_arm", "days", "salt", "min_bonus"}
        return {k: v for k, v in self.to_dict().items() if k not in skip}

    @property
    def arm_names(self) -> list[str]:
        """Arm names in hash order."""
        return [a.name for a in self.arms]

    @property
    def control_index(self) -> int:
        """Position of the control arm in ``arms``."""
        return self.arm_names.index(self.control_arm)


_NON_NEGATIVE = (
    "min_bonus", "contact_rate_lift", "max_rate_lift", "regular_lift_share", "recent_dropout_days",
    "comeback_activity",
)  # fmt: skip
_POSITIVE = ("half_saturation_bonus", "overdue_factor")
_PROBABILITIES = (
    "sure_thing_quantile", "contact_comeback_probability", "max_comeback_probability",
    "lost_cause_comeback_probability", "negative_share", "negative_drop_probability",
)  # fmt: skip


def _is_number(x) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(
        x, bool
    ) and math.isfinite(float(x))


def _arm_from_mapping(a, i: int) -> CampaignArm:
    if not isinstance(a, Mapping):
        raise ValueError(
            f"campaign config: arms[{i}] must be a mapping with name, share and "
            f"bonus_multiplier, got {a!r}"
        )
    keys = ("name", "share", "bonus_multiplier")
    unknown = [k for k in a if k not in keys]
    if unknown:
        raise ValueError(
            f"campaign config: arms[{i}] has unknown key {unknown[0]!r} (known: {', '.join(keys)})"
        )
    missing = [k for k in keys if k not in a]
    if missing:
        raise ValueError(f"campaign config: arms[{i}] lacks the key {missing[0]!r}")
    for k in ("share", "bonus_multiplier"):
        if not _is_number(a[k]):
            raise ValueError(f"campaign config: arms[{i}].{k} must be a number, got {a[k]!r}")
    return CampaignArm(str(a["name"]), float(a["share"]), float(a["bonus_multiplier"]))


# ---------------------------------------------------------------------------------------
# scoring and assignment


def score_for_campaign(shop: SyntheticShop, scoring_config=None, as_of=None) -> pd.DataFrame:
    """Score the synthetic shop with the project's own scorer and offer policy.

    Builds a ``ShopData`` from the shop's transactions, customers and events as of
    ``as_of`` (default ``shop.observation_end``, the day before the cutoff; later rows are
    quarantined, so nothing after it is seen), fits ``CustomerScorer(scoring_config)`` on
    it and returns the scores table (one row per customer, leads included; see
    ``scoring.scorer``), with the campaign summary in ``scores.attrs["summary"]``.
    Takes a few seconds for a few thousand customers.
    """
    from scoring.data.loaders import _build
    from scoring.data.schema import TRANSACTION_COLUMNS
    from scoring.scorer import CustomerScorer

    as_of = shop.observation_end if as_of is None else pd.Timestamp(as_of)
    data = _build(
        "synthetic",
        shop.transactions[list(TRANSACTION_COLUMNS)],
        shop.customers,
        shop.events,
        source={"file": "synthetic", "seed": int(shop.seed)},
        as_of=as_of,
    )
    data.truth = shop.truth
    data.products = shop.products
    scorer = CustomerScorer(scoring_config).fit(data, as_of)
    scores, summary = scorer.score(data, as_of)
    scores.attrs["summary"] = summary
    return scores


def assign_campaign(scores: pd.DataFrame, config: CampaignConfig | None = None,
                    start=None) -> pd.DataFrame:
    """Arms for the campaign population (buyers: ``lifecycle_stage != "lead"``).

    ``u = stable_unit_hash(customer_id, salt=config.salt)`` picks the arm over consecutive
    share intervals of ``config.arms``: it depends only on the id and the salt (stable
    across runs and row orders). ``policy_bonus`` is the scores' ``candidate_bonus`` (the
    policy's risk-scaled bonus before the control group and budget, currency) raised to
    ``config.min_bonus``, and ``bonus_amount = bonus_multiplier * policy_bonus``.

    Args:
        scores: the scores table (``CustomerScorer.score``), one row per customer with
            customer_id, lifecycle_stage, candidate_bonus, offer_type, churn_probability,
            predicted_clv_12m, value_at_risk, value_tier.
        config: the campaign config (default ``CampaignConfig()``).
        start: first day of the window (date-like); kept in ``attrs["start"]`` (ISO date)
            for :func:`simulate_campaign`; None leaves it to the simulation (shop cutoff).

    Returns:
        DataFrame with ``scoring.campaign.ASSIGNMENT_COLUMNS``, one row per buyer, sorted
        by customer_id (strings as pandas ``string``, money as float64, currency).
    """
    config = config or CampaignConfig()
    needed = ("customer_id", "lifecycle_stage", "candidate_bonus", "offer_type",
              "churn_probability", "predicted_clv_12m", "value_at_risk", "value_tier")
    missing = [c for c in needed if c not in scores.columns]
    if missing:
        raise ValueError(f"assign_campaign: the scores lack the column(s) {', '.join(missing)}")
    buyers = scores.loc[scores["lifecycle_stage"].astype("string") != "lead"]
    buyers = buyers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    if buyers["customer_id"].duplicated().any():
        raise ValueError("assign_campaign: customer_id must be unique in the scores")
    customer_id = buyers["customer_id"].astype("string")
    u = stable_unit_hash(customer_id, salt=config.salt)
    bounds = np.cumsum([a.share for a in config.arms])
    code = np.minimum(np.searchsorted(bounds, u, side="right"), len(config.arms) - 1)
    multiplier = np.array([a.bonus_multiplier for a in config.arms], dtype=np.float64)[code]
    policy_bonus = np.maximum(
        pd.to_numeric(buyers["candidate_bonus"]).fillna(0.0).to_numpy(np.float64),
        config.min_bonus)
    out = pd.DataFrame(
        {
            "customer_id": customer_id,
            "arm": pd.Series(np.asarray(config.arm_names, dtype=object)[code], dtype="string"),
            "bonus_multiplier": multiplier,
            "policy_bonus": policy_bonus,
            "bonus_amount": multiplier * policy_bonus,
            "offer_type": buyers["offer_type"].astype("string"),
            "churn_probability": pd.to_numeric(buyers["churn_probability"]).astype(np.float64),
            "predicted_clv_12m": pd.to_numeric(buyers["predicted_clv_12m"]).astype(np.float64),
            "value_at_risk": pd.to_numeric(buyers["value_at_risk"]).astype(np.float64),
            "value_tier": buyers["value_tier"].astype("string"),
            "lifecycle_stage": buyers["lifecycle_stage"].astype("string"),
            **_predictions(buyers),
        }
    )[list(ASSIGNMENT_COLUMNS)]
    if start is not None:
        out.attrs["start"] = str(pd.Timestamp(start).normalize().date())
    return out


def _predictions(buyers: pd.DataFrame) -> dict[str, np.ndarray]:
    """The scorer's pre-campaign predictions of ``PREDICTION_COLUMNS`` (NaN when the scores
    lack one; ``predicted_revenue_90d`` from :func:`scoring.campaign.with_predicted_revenue`)."""
    buyers = with_predicted_revenue(buyers)
    return {name: (pd.to_numeric(buyers[name]).astype(np.float64).to_numpy() if name in buyers
                   else np.full(len(buyers), np.nan)) for name in PREDICTION_COLUMNS}


# ---------------------------------------------------------------------------------------
# simulation


@dataclass
class SimulatedCampaign:
    """A simulated campaign on a synthetic shop.

    transactions: the shop's transactions with the treatment arms' behaviour in the window
        (extra purchase orders appended, sleeping dogs' removed orders dropped), sorted by
        timestamp (stable: base rows keep their order).
    truth: the shop's truth plus ``campaign_arm``, ``persona`` (<NA> outside the campaign)
        and for every arm ``a``: ``orders_if_<a>`` (Int64) and ``revenue_if_<a>`` (float64,
        currency, gross) in the window (<NA> / NaN outside the campaign).
    assignments: the assignments (``ASSIGNMENT_COLUMNS``) the campaign ran with.
    metadata: the content of ``campaign.json`` (start, days, arms, control_arm, salt, seed,
        plus the effect parameters under ``effects``).
    base_shop: the untreated shop the campaign ran on (its other tables are unchanged).
    """

    transactions: pd.DataFrame
    truth: pd.DataFrame
    assignments: pd.DataFrame
    metadata: dict
    base_shop: SyntheticShop = field(repr=False)

    @property
    def shop(self) -> SyntheticShop:
        """The treated shop: ``base_shop`` with the campaign's transactions and truth."""
        return dataclasses.replace(
            self.base_shop, transactions=self.transactions, truth=self.truth
        )

    @property
    def start(self) -> pd.Timestamp:
        """First day of the window."""
        return pd.Timestamp(self.metadata["start"])

    @property
    def end(self) -> pd.Timestamp:
        """End of the window (exclusive)."""
        return self.start + pd.Timedelta(days=int(self.metadata["days"]))


def simulate_campaign(shop: SyntheticShop, assignments: pd.DataFrame,
                      config: CampaignConfig | None = None, seed: int = 0,
                      start=None) -> SimulatedCampaign:
    """Simulate the campaign on ``shop`` (module docstring: personas, effects, common random
    numbers).

    Args:
        shop: the (untreated) synthetic shop.
        assignments: from :func:`assign_campaign` (needs customer_id, arm, policy_bonus);
            every customer must be a buyer of the shop, every arm an arm of ``config``.
        config: the campaign config (default ``CampaignConfig()``).
        seed: seed of the numpy Generator; the same inputs give identical outputs, whatever
            the row order of ``assignments``.
        start: first day of the window; default ``assignments.attrs["start"]``, else the
            shop's cutoff. The window ``[start, start + days)`` must lie within the
            simulated period ``[shop.start, shop.end)``.

    Returns:
        :class:`SimulatedCampaign`.
    """
    config = config or CampaignConfig()
    start = _window_start(shop, assignments, config, start)
    end = start + pd.Timedelta(days=config.days)
    asg = _check_assignments(assignments, config)
    ids = asg["customer_id"]
    n = len(asg)
    arm_code = pd.Categorical(asg["arm"].astype(str), categories=config.arm_names).codes
    arm_code = arm_code.astype(np.int64)
    policy_bonus = asg["policy_bonus"].to_numpy(np.float64)
    multipliers = np.array([a.bonus_multiplier for a in config.arms], dtype=np.float64)
    k_control = config.control_index

    truth = shop.truth.set_index("customer_id")
    unknown = ~ids.isin(truth.index)
    if unknown.any():
        raise ValueError(
            f"simulate_campaign: {int(unknown.sum())} assigned customers are not in the shop "
            f"(e.g. {ids[unknown].iloc[0]!r})"
        )
    t = truth.loc[pd.Index(ids)]
    lam = t["purchase_rate_per_day"].to_numpy(np.float64)
    nu = t["spend_nu"].to_numpy(np.float64)
    if t["is_lead"].to_numpy(bool).any() or np.isnan(lam).any():
        raise ValueError("simulate_campaign: the assignments contain leads (no purchase rate); "
                         "the campaign population is the shop's buyers")

    tx = shop.transactions
    purchase = tx["quantity"].to_numpy() > 0
    ts = tx["timestamp"]
    in_window = purchase & (ts >= start).to_numpy() & (ts < end).to_numpy()
    # -- what the shop has seen at start: days since the last order, last country
    before = tx.loc[purchase & (ts < start).to_numpy(), ["customer_id", "timestamp"]]
    last_order = before.groupby("customer_id", sort=False, observed=True)["timestamp"].max()
    last_order = last_order.reindex(pd.Index(ids))
    days_since_last = ((start - last_order) / pd.Timedelta(days=1)).to_numpy(np.float64)
    days_since_last = np.where(np.isnan(days_since_last), np.inf, days_since_last)
    country = _last_country(shop, ids, start)

    # -- personas
    dropout = t["dropout_at"]
    alive = (dropout.isna() | (dropout >= start)).to_numpy()
    days_since_dropout = ((start - dropout) / pd.Timedelta(days=1)).to_numpy(np.float64)
    recent = ~alive & (days_since_dropout < config.recent_dropout_days)
    overdue = days_since_last > config.overdue_factor / lam
    rate_cut = np.quantile(lam[alive], config.sure_thing_quantile) if alive.any() else np.inf
    rng = np.random.default_rng(int(seed))
    u_dog, u_comeback, u_count = rng.random((3, n))
    u_count = np.maximum(u_count, np.finfo(np.float64).tiny)
    persona = np.select(
        [u_dog < config.negative_share, ~alive & recent, ~alive, overdue, lam >= rate_cut],
        [5, 3, 4, 0, 1],
        default=2,
    )  # codes into PERSONAS
    # exposure of alive customers: whole days from start before the end or the dropout day
    exposure = np.full(n, float(config.days))
    days_to_dropout = np.floor(-days_since_dropout)  # whole days from start to the dropout
    exposure = np.where(alive & ~np.isnan(days_to_dropout),
                        np.clip(days_to_dropout, 0, config.days), exposure)

    # -- potential numbers of extra orders per arm (k, n), common random numbers
    k = len(config.arms)
    n_extra = np.zeros((k, n), dtype=np.int64)
    came_back = np.zeros((k, n), dtype=bool)
    comeback_orders = 1 + poisson.ppf(
        u_count, config.comeback_activity * lam * config.days
    ).astype(np.int64)
    for a in range(k):
        if a == k_control:
            continue
        s = _saturation(multipliers[a] * policy_bonus, config.half_saturation_bonus)
        lift = np.select(
            [persona == 0, persona == 1, persona == 2],
            [
                config.contact_rate_lift + config.max_rate_lift * s,
                np.full(n, config.contact_rate_lift),
                config.contact_rate_lift + config.regular_lift_share * config.max_rate_lift * s,
            ],
            default=0.0,
        )
        n_extra[a] = np.where(lift > 0, poisson.ppf(u_count, lift * lam * exposure), 0).astype(
            np.int64
        )
        q = np.select(
            [persona == 3, persona == 4],
            [
                config.contact_comeback_probability + config.max_comeback_probability * s,
                np.full(n, config.lost_cause_comeback_probability),
            ],
            default=0.0,
        )
        came_back[a] = u_comeback < q
        n_extra[a] = np.where(came_back[a], comeback_orders, n_extra[a])
    # comeback orders fall anywhere in the window; an alive customer's before its dropout
    span = np.where(np.isin(persona, (3, 4)), float(config.days), exposure)

    # -- the base shop's window orders of the campaign customers, and sleeping dogs' losses
    orders = _window_orders(tx, in_window)
    cust_pos = pd.Index(ids).get_indexer(orders["customer_id"])
    campaign_order = cust_pos >= 0
    base_orders = np.bincount(cust_pos[campaign_order], minlength=n)
    base_revenue = np.bincount(cust_pos[campaign_order],
                               weights=orders["value"].to_numpy()[campaign_order], minlength=n)
    co = orders.loc[campaign_order].reset_index(drop=True)
    co_pos = cust_pos[campaign_order]
    u_drop = rng.random(len(co))
    lose = (persona[co_pos] == 5) & (u_drop < config.negative_drop_probability)
    lost_orders = np.bincount(co_pos[lose], minlength=n)
    lost_revenue = np.bincount(co_pos[lose], weights=co["value"].to_numpy()[lose], minlength=n)

    # -- the extra order slots: slot j of a customer is the same order in every arm
    n_slots = n_extra.max(axis=0)
    owner, within = _group_index(n_slots)
    m = owner.size
    u_time = rng.random(m)
    value = np.maximum(np.round(rng.standard_gamma(shop.params.p, m) / nu[owner] * 100), 1) / 100
    product_idx = _draw_products(rng, shop, tx, purchase, ts < start, m)

    # -- potential outcomes
    outcomes: dict[str, np.ndarray] = {}
    for a, name in enumerate(config.arm_names):
        treated = a != k_control
        made = within < n_extra[a][owner]
        extra_revenue = np.bincount(owner[made], weights=value[made], minlength=n)
        outcomes[f"orders_if_{name}"] = base_orders + (n_extra[a] - lost_orders if treated else 0)
        outcomes[f"revenue_if_{name}"] = base_revenue + (
            extra_revenue - lost_revenue if treated else 0.0
        )

    # -- realised transactions: own arm
    treated_own = arm_code != k_control
    keep_slot = within < n_extra[arm_code, np.arange(n)][owner]
    new_rows = _extra_rows(
        shop, tx, start, ids, owner[keep_slot], u_time[keep_slot], span, value[keep_slot],
        product_idx[keep_slot], country,
    )
    removed = co.loc[lose & treated_own[co_pos], "order_id"]
    drop_ids = pd.concat([removed, "C" + removed], ignore_index=True)
    kept = tx.loc[~tx["order_id"].isin(drop_ids)] if len(drop_ids) else tx
    transactions = pd.concat([kept, new_rows], ignore_index=True)
    transactions = transactions.sort_values("timestamp", kind="stable").reset_index(drop=True)

    # -- truth
    out_truth = shop.truth.copy()
    pos = pd.Index(ids).get_indexer(out_truth["customer_id"])
    inside = pos >= 0
    arm_text = np.full(len(out_truth), None, dtype=object)
    arm_text[inside] = np.asarray(config.arm_names, dtype=object)[arm_code[pos[inside]]]
    out_truth["campaign_arm"] = pd.Series(arm_text, dtype="string")
    persona_text = np.full(len(out_truth), None, dtype=object)
    persona_text[inside] = np.asarray(PERSONAS, dtype=object)[persona[pos[inside]]]
    out_truth["persona"] = pd.Series(persona_text, dtype="string")
    for name in config.arm_names:
        o = np.zeros(len(out_truth), dtype=np.int64)
        o[inside] = outcomes[f"orders_if_{name}"][pos[inside]]
        out_truth[f"orders_if_{name}"] = pd.arrays.IntegerArray(o, ~inside)
        r = np.full(len(out_truth), np.nan)
        r[inside] = outcomes[f"revenue_if_{name}"][pos[inside]]
        out_truth[f"revenue_if_{name}"] = r

    metadata = {
        "start": str(start.date()),
        "days": int(config.days),
        "arms": [dataclasses.asdict(a) for a in config.arms],
        "control_arm": config.control_arm,
        "salt": config.salt,
        "seed": int(seed),
        "min_bonus": float(config.min_bonus),
        "effects": config.effects(),
    }
    asg_out = asg.copy()
    asg_out.attrs["start"] = metadata["start"]
    return SimulatedCampaign(
        transactions=transactions,
        truth=out_truth,
        assignments=asg_out,
        metadata=metadata,
        base_shop=shop,
    )


def _window_start(shop: SyntheticShop, assignments: pd.DataFrame, config: CampaignConfig,
                  start) -> pd.Timestamp:
    if start is None:
        start = assignments.attrs.get("start", shop.cutoff)
    start = pd.Timestamp(start).normalize()
    end = start + pd.Timedelta(days=config.days)
    if start < shop.start or end > shop.end:
        raise ValueError(
            f"simulate_campaign: the window [{start.date()}, {end.date()}) must lie within the "
            f"shop's simulated period [{shop.start.date()}, {shop.end.date()})"
        )
    return start


def _check_assignments(assignments: pd.DataFrame, config: CampaignConfig) -> pd.DataFrame:
    missing = [c for c in ("customer_id", "arm", "policy_bonus") if c not in assignments]
    if missing:
        raise ValueError(f"simulate_campaign: assignments lack {', '.join(missing)}")
    asg = assignments.copy()
    asg["customer_id"] = asg["customer_id"].astype("string")
    if asg["customer_id"].duplicated().any():
        raise ValueError("simulate_campaign: customer_id must be unique in the assignments")
    bad = ~asg["arm"].astype("string").isin(config.arm_names)
    if bad.any():
        raise ValueError(
            f"simulate_campaign: arm {asg['arm'][bad].iloc[0]!r} is not an arm of the config "
            f"({', '.join(config.arm_names)})"
        )
    # row-order independence: customers in id order
    return asg.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _saturation(bonus: np.ndarray, half: float) -> np.ndarray:
    """``b / (b + half)``: 0 at no bonus, 1/2 at ``half``, towards 1 (shape of ``bonus``)."""
    bonus = np.maximum(bonus, 0.0)
    return bonus / (bonus + half)


def _group_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of sizes ``counts`` (n,): (owner, position within the group) per element."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - np.repeat(starts, counts)


def _window_orders(tx: pd.DataFrame, in_window: np.ndarray) -> pd.DataFrame:
    """Purchase orders in the window: order_id, customer_id, value (sum of the lines'
    amounts, currency), sorted by (customer_id, first timestamp, order_id)."""
    lines = tx.loc[in_window, ["order_id", "customer_id", "timestamp", "amount"]]
    orders = lines.groupby("order_id", sort=True, observed=True).agg(
        customer_id=("customer_id", "first"), timestamp=("timestamp", "min"),
        value=("amount", "sum"),
    ).reset_index()
    return orders.sort_values(["customer_id", "timestamp", "order_id"],
                              kind="stable").reset_index(drop=True)


def _last_country(shop: SyntheticShop, ids: pd.Series, start: pd.Timestamp) -> pd.Series:
    """Country of each customer's last transaction row before ``start`` (else its profile)."""
    tx = shop.transactions
    rows = tx.loc[tx["timestamp"] < start, ["customer_id", "country"]]
    last = rows.groupby("customer_id", sort=False, observed=True)["country"].last()
    profile = shop.customers.drop_duplicates("customer_id").set_index("customer_id")["country"]
    index = pd.Index(ids)
    return last.reindex(index).fillna(profile.reindex(index)).astype("string")


def _draw_products(rng, shop: SyntheticShop, tx, purchase, before_start, m: int) -> np.ndarray:
    """(m,) indices into ``shop.products``, drawn by popularity (purchase lines before the
    window; uniform when there are none)."""
    products = shop.products["product_id"]
    sold = tx.loc[purchase & before_start.to_numpy(), "product_id"].value_counts()
    weight = sold.reindex(pd.Index(products)).fillna(0).to_numpy(np.float64)
    if weight.sum() <= 0:
        weight = np.ones(len(products))
    return rng.choice(len(products), size=m, p=weight / weight.sum())


def _extra_rows(shop, tx, start, ids, owner, u_time, span, value, product_idx,
                country) -> pd.DataFrame:
    """One purchase line per extra order: quantity 1, unit_price = amount = the order value,
    a fresh numeric order id (after the shop's largest, in time order), a time in shop hours
    (07:00-22:00) at ``u_time * span`` days after ``start``."""
    t_days = u_time * span[owner]
    day = np.floor(t_days)
    sec = (day * SECONDS_PER_DAY + _SHOP_OPEN_SECONDS
           + np.floor((t_days - day) * _SHOP_HOURS_SECONDS)).astype(np.int64)
    timestamp = start + pd.to_timedelta(sec, unit="s")
    order = np.lexsort((owner, sec))  # time, then customer
    ranks = np.empty(owner.size, dtype=np.int64)
    ranks[order] = np.arange(owner.size)
    numeric = pd.to_numeric(tx["order_id"].str.lstrip("C"), errors="coerce")
    first_id = int(numeric.max()) + 1 if numeric.notna().any() else 1
    products = shop.products
    id_array = pd.Series(ids).to_numpy(dtype=object)
    rows = pd.DataFrame(
        {
            "customer_id": pd.Series(id_array[owner], dtype="string"),
            "order_id": pd.Series((first_id + ranks).astype(str), dtype="string"),
            "timestamp": np.asarray(timestamp, dtype="datetime64[ns]"),
            "product_id": pd.Series(
                products["product_id"].to_numpy(dtype=object)[product_idx], dtype="string"),
            "product_name": pd.Series(
                products["product_name"].to_numpy(dtype=object)[product_idx], dtype="string"),
            "quantity": np.ones(owner.size),
            "unit_price": value,
            "amount": value * 1.0,
            "country": pd.Series(country.to_numpy(dtype=object)[owner], dtype="string"),
        }
    )
    rows = rows.iloc[order].reset_index(drop=True)
    return rows[list(tx.columns)].astype(tx.dtypes.to_dict())


# ---------------------------------------------------------------------------------------
# files


def write_campaign(campaign: SimulatedCampaign, out_dir) -> Path:
    """Write the treated shop (``synthetic.write_shop`` layout: the five tables, with the
    campaign's transactions and truth, and ``synthetic.json``) plus ``campaign.parquet``
    (the assignments) and ``campaign.json`` (``campaign.metadata``) into ``out_dir``
    (created if needed); ``synthetic.read_shop(out_dir)`` reads the treated shop back.
    Returns the directory."""
    from scoring.outputs import dumps

    out = write_shop(campaign.shop, out_dir)
    campaign.assignments.to_parquet(out / "campaign.parquet", index=False)
    (out / "campaign.json").write_text(dumps(campaign.metadata))
    return out


def read_campaign(directory) -> tuple[pd.DataFrame, dict]:
    """The assignments (``campaign.parquet``, string columns as pandas ``string``) and the
    metadata (``campaign.json``) written by :func:`write_campaign`."""
    directory = Path(directory)
    assignments = pd.read_parquet(directory / "campaign.parquet")
    for column in ("customer_id", "arm", "offer_type", "value_tier", "lifecycle_stage"):
        if column in assignments:
            assignments[column] = assignments[column].astype("string")
    metadata = json.loads((directory / "campaign.json").read_text())
    assignments.attrs = {"start": metadata["start"]}
    return assignments, metadata
