"""Marketing segments: RFM scores and named RFM segments, lifecycle stages, behaviour flags.

All thresholds live in ``SegmentConfig``. Definitions (as of the scoring moment ``as_of``,
the last day of data, see ``scoring.timeframe``; "the last N days" are the N days up to and
including it):

- ``days_since_last_order``: whole days from the last order's day to ``as_of``'s day.
- ``n_orders``: distinct orders; ``revenue``: gross revenue of purchase lines.
- RFM scores 1-5 (``r_score``, ``f_score``, ``m_score``): quintiles of, respectively, minus
  days since the last order, number of orders, revenue. Ties are handled deterministically:
  equal values always get the same score (score = 1 + floor(5 * (min-rank - 1) / n)), so a
  heavily tied dimension (most customers have one order) puts all of them in one score.
- ``fm_score`` = ceil((f_score + m_score) / 2); ``rfm_score`` = r + f + m (3..15).
- ``rfm_segment``: the first rule in ``SegmentConfig.rfm_segments`` whose r and fm ranges
  contain the customer's scores; the default table covers all 25 (r, fm) pairs exactly once.
- ``lifecycle_stage`` (exactly one per customer): ``sleeping`` (no order for
  ``sleeping_days``, default 365), else ``lapsed`` (no order for ``lapsed_days``, 180), else
  by orders: ``lead`` (a known profile, no order yet), ``first_time`` (1), ``second_order``
  (2), ``loyal`` (3 or more).
- ``cart_abandoner`` (flag, needs events): a ``cart_add``/``checkout_start`` in the last
  ``cart_recent_days`` (30) with no order from that event until ``cart_abandon_days`` (7)
  later (or until ``as_of`` if sooner).
- ``email_engagement`` (needs events; customers with email events or opted in): ``clicker``
  (a click in the last ``engagement_days``, 90), else ``reader`` (an open), else ``passive``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data.errors import require_columns
from .data.schema import ShopData, rows_before
from .features.activity import recency_and_tenure
from .timeframe import ScoringMoment

LIFECYCLE_STAGES = ("lead", "first_time", "second_order", "loyal", "lapsed", "sleeping")

DEFAULT_RFM_SEGMENTS: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    # name, (r_min, r_max), (fm_min, fm_max): first match wins.
    ("champions", (5, 5), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential_loyalists", (4, 5), (2, 3)),
    ("new", (5, 5), (1, 1)),
    ("promising", (4, 4), (1, 1)),
    ("need_attention", (3, 3), (3, 3)),
    ("about_to_sleep", (3, 3), (1, 2)),
    ("cannot_lose_them", (1, 2), (5, 5)),
    ("at_risk", (1, 2), (3, 4)),
    ("hibernating", (2, 2), (1, 2)),
    ("lost", (1, 1), (1, 2)),
)
RFM_SEGMENTS = tuple(name for name, _, _ in DEFAULT_RFM_SEGMENTS)


@dataclass(frozen=True)
class SegmentConfig:
    """Thresholds of the segment rules (days unless stated)."""

    lapsed_days: int = 180
    sleeping_days: int = 365
    loyal_min_orders: int = 3
    cart_abandon_days: int = 7
    cart_recent_days: int = 30
    engagement_days: int = 90
    rfm_bins: int = 5
    rfm_segments: tuple = field(default=DEFAULT_RFM_SEGMENTS)


def quantile_scores(values: pd.Series, bins: int = 5, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..bins by quantile of ``values``; equal values get equal scores."""
    ranked = (values if higher_is_better else -values).rank(method="min")
    n = len(values)
    scores = 1 + np.floor(bins * (ranked.to_numpy() - 1) / max(n, 1)).astype(int)
    return pd.Series(np.clip(scores, 1, bins), index=values.index, dtype="int64")


def customer_activity(transactions: pd.DataFrame, as_of) -> pd.DataFrame:
    """Per customer with an order up to ``as_of``: n_orders, revenue, first/last order,
    days_since_last_order, tenure_days.

    ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``): rows before
    its cutoff (the next day) count."""
    moment = ScoringMoment.of(as_of)
    tx = rows_before(transactions, moment.cutoff)
    grouped = tx.groupby("customer_id", sort=True)
    activity = pd.DataFrame({
        "n_orders": grouped["order_id"].nunique().astype("int64"),
        "revenue": grouped["amount"].sum(),
        "first_order_at": grouped["timestamp"].min(),
        "last_order_at": grouped["timestamp"].max(),
    })
    activity = activity.join(recency_and_tenure(activity["first_order_at"],
                                                activity["last_order_at"], moment))
    activity.index = activity.index.astype("string")
    activity.index.name = "customer_id"
    return activity


def monthly_activity(transactions: pd.DataFrame) -> pd.DataFrame:
    """Orders, revenue and buying customers per calendar month.

    ``transactions``: canonical purchase lines (timestamp, order_id, customer_id, amount).
    Returns one row per month from the first to the last purchase (months without purchases
    included, with zeros), indexed by the month's first day (``month``, Timestamp), with
    columns ``orders`` (distinct order ids), ``revenue`` (sum of ``amount``, currency) and
    ``customers`` (distinct customer ids; a customer buying in several months counts in
    each of them).
    """
    require_columns(transactions, ("timestamp", "order_id", "customer_id", "amount"),
                    "monthly_activity: transactions", "pass canonical purchase lines "
                    "(scoring.data.load_dataset(...).transactions).")
    columns = ["timestamp", "order_id", "customer_id", "amount"]
    monthly = (transactions[columns].set_index("timestamp")
               .resample("MS").agg({"order_id": "nunique", "amount": "sum", "customer_id": "nunique"})
               .rename(columns={"order_id": "orders", "amount": "revenue",
                                "customer_id": "customers"}))
    monthly = monthly.astype({"orders": "int64", "customers": "int64", "revenue": "float64"})
    monthly.index.name = "month"
    return monthly[["orders", "revenue", "customers"]]


def rfm_scores(activity: pd.DataFrame, config: SegmentConfig = SegmentConfig()) -> pd.DataFrame:
    """r/f/m scores, fm_score, rfm_score and rfm_segment for customers with orders.

    The one definition of the RFM quintile scores (see the module docstring);
    ``scoring.models.baselines.RFMScoreBaseline`` ranks churn by the same ``rfm_score``.
    """
    require_columns(activity, ("days_since_last_order", "n_orders", "revenue"),
                    "rfm_scores: activity", "pass customer_activity(transactions, as_of).")
    out = pd.DataFrame(index=activity.index)
    out["r_score"] = quantile_scores(activity["days_since_last_order"], config.rfm_bins,
                                     higher_is_better=False)
    out["f_score"] = quantile_scores(activity["n_orders"], config.rfm_bins)
    out["m_score"] = quantile_scores(activity["revenue"], config.rfm_bins)
    out["fm_score"] = np.ceil((out["f_score"] + out["m_score"]) / 2).astype("int64")
    out["rfm_score"] = out["r_score"] + out["f_score"] + out["m_score"]
    out["rfm_segment"] = rfm_segment(out["r_score"], out["fm_score"], config.rfm_segments)
    return out


def rfm_segment(r_score: pd.Series, fm_score: pd.Series, rules=DEFAULT_RFM_SEGMENTS) -> pd.Series:
    """Named segment of each (r, fm) pair: the first matching rule."""
    conditions = [
        r_score.between(r_lo, r_hi) & fm_score.between(fm_lo, fm_hi)
        for _, (r_lo, r_hi), (fm_lo, fm_hi) in rules
    ]
    names = [name for name, _, _ in rules]
    segment = np.select(conditions, names, default="unassigned")
    return pd.Series(segment, index=r_score.index, dtype="string")


def lifecycle_stage(n_orders: pd.Series, days_since_last_order: pd.Series,
                    config: SegmentConfig = SegmentConfig()) -> pd.Series:
    """Exactly one stage per customer; ``n_orders`` 0 means a lead (days may be NA)."""
    days = days_since_last_order.fillna(-1)
    stage = np.select(
        [
            n_orders <= 0,
            days >= config.sleeping_days,
            days >= config.lapsed_days,
            n_orders >= config.loyal_min_orders,
            n_orders == 2,
        ],
        ["lead", "sleeping", "lapsed", "loyal", "second_order"],
        default="first_time",
    )
    return pd.Series(pd.Categorical(stage, categories=LIFECYCLE_STAGES), index=n_orders.index)


def cart_abandoners(events: pd.DataFrame, transactions: pd.DataFrame, as_of,
                    config: SegmentConfig = SegmentConfig()) -> pd.Series:
    """True for customers whose latest recent cart/checkout event was not followed by an
    order within ``cart_abandon_days``. Indexed by customer_id (customers with such events).

    ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``): events and
    orders before its cutoff (the next day) count."""
    cutoff = ScoringMoment.of(as_of).cutoff
    carts = events.loc[events["event_type"].isin(["cart_add", "checkout_start"])
                       & (events["timestamp"] < cutoff)
                       & (events["timestamp"] >= cutoff - pd.Timedelta(
                           days=config.cart_recent_days))]
    last_cart = carts.groupby("customer_id")["timestamp"].max()
    window_end = (last_cart + pd.Timedelta(days=config.cart_abandon_days)).clip(upper=cutoff)
    orders = transactions.loc[transactions["customer_id"].isin(last_cart.index)
                              & (transactions["timestamp"] < cutoff),
                              ["customer_id", "timestamp"]]
    joined = orders.join(last_cart.rename("cart_at"), on="customer_id").join(
        window_end.rename("window_end"), on="customer_id")
    converted = joined.loc[(joined["timestamp"] >= joined["cart_at"])
                           & (joined["timestamp"] <= joined["window_end"]), "customer_id"]
    flag = ~last_cart.index.isin(converted.unique())
    return pd.Series(flag, index=last_cart.index.astype("string"), name="cart_abandoner")


def email_engagement(events: pd.DataFrame, as_of, customers: pd.DataFrame | None = None,
                     config: SegmentConfig = SegmentConfig()) -> pd.Series:
    """clicker / reader / passive over the last ``engagement_days``, for customers who get
    emails (opted in, or with any email event).

    ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``): events before
    its cutoff (the next day) count."""
    cutoff = ScoringMoment.of(as_of).cutoff
    email = events.loc[events["event_type"].isin(["email_open", "email_click"])
                       & (events["timestamp"] < cutoff)]
    recent = email.loc[email["timestamp"] >= cutoff - pd.Timedelta(days=config.engagement_days)]
    clicked = set(recent.loc[recent["event_type"] == "email_click", "customer_id"])
    opened = set(recent.loc[recent["event_type"] == "email_open", "customer_id"])
    audience = pd.Index(email["customer_id"].unique(), dtype="string")
    if customers is not None and "email_opt_in" in customers:
        opted = customers.loc[customers["email_opt_in"].fillna(False).astype(bool), "customer_id"]
        audience = audience.union(pd.Index(opted, dtype="string"))
    level = np.where(audience.isin(list(clicked)), "clicker",
                     np.where(audience.isin(list(opened)), "reader", "passive"))
    return pd.Series(level, index=audience, name="email_engagement", dtype="string")


def build_segments(shop: ShopData, as_of=None, config: SegmentConfig = SegmentConfig()
                   ) -> pd.DataFrame:
    """One row per known customer (buyers, plus leads from the profile table).

    Columns: n_orders, revenue, first_order_at, last_order_at, days_since_last_order,
    tenure_days, r_score, f_score, m_score, fm_score, rfm_score, rfm_segment,
    lifecycle_stage, and where events exist cart_abandoner and email_engagement.

    ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``; default
    ``shop.as_of``); profiles signed up before its cutoff (the next day) are leads.
    """
    moment = ScoringMoment.of(as_of if as_of is not None else shop.as_of)
    activity = customer_activity(shop.transactions, moment)
    table = activity.join(rfm_scores(activity, config))
    if shop.customers is not None:
        known = shop.customers.loc[
            shop.customers["signup_at"].isna()
            | (shop.customers["signup_at"] < moment.cutoff), "customer_id"]
        leads = pd.Index(known, dtype="string").difference(table.index)
        table = pd.concat([table, pd.DataFrame(index=leads)])
        table["n_orders"] = table["n_orders"].fillna(0).astype("int64")
        table["revenue"] = table["revenue"].fillna(0.0)
        table["rfm_segment"] = table["rfm_segment"].astype("string")
    table.index.name = "customer_id"
    table["lifecycle_stage"] = lifecycle_stage(table["n_orders"],
                                               table["days_since_last_order"], config)
    if shop.events is not None and len(shop.events):
        abandoners = cart_abandoners(shop.events, shop.transactions, moment, config)
        table["cart_abandoner"] = abandoners.reindex(table.index).fillna(False).astype(bool)
        table["email_engagement"] = email_engagement(shop.events, moment, shop.customers,
                                                     config).reindex(table.index)
    table = table.sort_index()
    return table.reset_index()


def segment_sizes(segments: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Customer counts per lifecycle stage, RFM segment and flag."""
    sizes = {
        "lifecycle_stage": segments["lifecycle_stage"].value_counts().reindex(
            LIFECYCLE_STAGES, fill_value=0).astype(int).to_dict(),
        "rfm_segment": segments["rfm_segment"].value_counts().reindex(
            RFM_SEGMENTS, fill_value=0).astype(int).to_dict(),
    }
    if "cart_abandoner" in segments:
        sizes["cart_abandoner"] = {"yes": int(segments["cart_abandoner"].sum())}
    if "email_engagement" in segments:
        sizes["email_engagement"] = segments["email_engagement"].value_counts().astype(
            int).to_dict()
    return sizes
