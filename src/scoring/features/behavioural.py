"""Behavioural features for the LightGBM churn and revenue models.

``behavioural_features(transactions, cutoff, ...)`` returns one row per customer with at least
one order strictly before ``cutoff`` (index ``customer_id``, string), computed from data strictly
before the cutoff only. The cutoff is floored to midnight; a row counts as "before the cutoff"
when its timestamp is earlier than that midnight (the same convention as
``features.rfm``: the observation period ends on ``cutoff - 1 day``). Adding rows at or after
the cutoff never changes a feature.

Time unit: days. "Age" of an order = whole days between its purchase day and the cutoff day
(1 = the day before the cutoff). A window of ``w`` days holds orders with age ``<= w``.
Money is in the shop's currency (gross ``amount`` of purchase lines).

An *order* is a distinct ``order_id`` of a customer (a purchase day when ``order_id`` is
missing); a *purchase day* is a distinct calendar day with at least one order (lifetimes'
``freq="D"`` convention, used for gaps).

Feature groups (column names):

* totals: ``n_orders``, ``n_purchase_days``, ``revenue_total``, ``days_since_last_order`` and
  ``tenure_days`` (to the as-of day, the day before the cutoff: the one definition of
  ``features.activity``, shared with the segments), ``first_order_value``,
  ``revenue_per_tenure_day``, ``orders_per_tenure_day`` (per ``tenure_days + 1`` days)
* windows ``w`` in ``windows``: ``orders_<w>d``, ``revenue_<w>d``; trend for each ``w`` with
  ``2w`` within the largest window: ``orders_prev_<w>d`` (orders with age in ``(w, 2w]``),
  ``revenue_trend_<w>d`` = ``log1p(revenue_<w>d) - log1p(revenue in (w, 2w])``
* gaps between purchase days: ``gap_mean_days``, ``gap_std_days``, ``gap_last_days``,
  ``gap_max_days``, ``recency_over_mean_gap`` (days since last order / mean gap; NaN for
  one-time buyers)
* basket: ``lines_per_order``, ``units_per_order``, ``value_per_order``, ``max_order_value``,
  ``n_products``, ``products_per_order`` (NaN when the shop has no products, e.g. CDNOW)
* returns (when ``returns`` is given; cancellation/return lines with negative quantities):
  ``n_returned_lines``, ``returned_value`` (absolute currency), ``returned_value_share``
  (returned value / (gross revenue + returned value)), ``cancelled_order_share`` (distinct
  cancelled orders / (orders + cancelled orders))
* country: ``country`` (categorical, the customer's most frequent country)
* seasonality (when ``horizon_days`` is given, describing the coming window
  ``[cutoff, cutoff + horizon_days)``): ``orders_same_window_last_year`` /
  ``revenue_same_window_last_year`` (orders in ``[cutoff - 365, cutoff - 365 + horizon)``, NaN
  when the shop's data starts after that window starts), ``in_season_order_rate`` /
  ``off_season_order_rate`` (purchase days per day of exposure since the first order, counting
  only days whose day of year falls / does not fall in the coming window's part of the year),
  ``in_season_order_share`` (share of purchase days in season)
* events (when ``events`` is given): ``<event_type>_<w>d`` counts for ``w`` in
  ``event_windows`` and ``days_since_last_<event_type>``
* profile (when ``customers`` is given): ``gender`` (categorical), ``email_opt_in`` (0/1),
  ``days_since_signup`` (NaN when the signup is at/after the cutoff or unknown)

Everything is computed with vectorised group-bys. ``behavioural_features_panel`` computes the
features at several cutoffs (rolling origins) reusing one preparation of the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.data.errors import DataError, require_columns
from scoring.features.activity import recency_and_tenure
from scoring.timeframe import ScoringMoment

DEFAULT_WINDOWS: tuple[int, ...] = (30, 90, 180, 365)
DEFAULT_EVENT_WINDOWS: tuple[int, ...] = (30, 90)
DAYS_PER_YEAR = 365

CATEGORICAL_FEATURES: tuple[str, ...] = ("country", "gender")
RELATIVE_FEATURES: tuple[str, ...] = (
    "days_since_last_order",
    "tenure_days",
    "n_purchase_days",
    "revenue_total",
    "revenue_per_tenure_day",
    "orders_per_tenure_day",
    "value_per_order",
)
"""Columns also given as ``<column>_pct``: percentile rank (0-1] among the customers scored
at the same cutoff."""


def _as_day(cutoff) -> pd.Timestamp:
    try:
        day = pd.Timestamp(cutoff)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"cutoff {cutoff!r} is not a date; pass e.g. '2011-06-09' or a pandas Timestamp."
        ) from exc
    if day is pd.NaT:
        raise DataError("cutoff is missing (NaT); pass the scoring date, e.g. '2011-06-09'.")
    return day.normalize()


def _check_transactions(transactions: pd.DataFrame) -> None:
    require_columns(
        transactions,
        ("customer_id", "timestamp", "amount"),
        "transactions",
        "behavioural features need the canonical columns customer_id, timestamp and amount "
        "(see scoring.data.schema). Load the shop with scoring.data.load_dataset or a loader "
        "with a column mapping.",
    )
    if not pd.api.types.is_datetime64_any_dtype(transactions["timestamp"]):
        raise DataError(
            f"transactions, column 'timestamp': dtype {transactions['timestamp'].dtype} is not a "
            "datetime; convert it with pd.to_datetime or use the project's loaders."
        )


def _order_key(lines: pd.DataFrame, day: pd.Series) -> pd.Series:
    """``order_id`` as string; the purchase day where it is missing."""
    if "order_id" in lines:
        order = lines["order_id"].astype("string")
        missing = order.isna()
        if not missing.any():
            return order
        fallback = day[missing].dt.strftime("day-%Y-%m-%d").astype("string")
        return order.mask(missing, fallback)
    return day.dt.strftime("day-%Y-%m-%d").astype("string")


@dataclass
class PreparedTransactions:
    """Order-level tables built once and reused for every cutoff.

    ``orders``: one row per (customer, order, day) with ``day`` (datetime64, midnight),
    ``n_lines``, ``units``, ``value`` (currency). ``first_product_day``: one row per
    (customer, product) with the first day it was bought (None without products).
    ``returns``: (customer, order, day, value) of cancellation/return lines, value >= 0.
    ``events``: ``PreparedEvents``. ``customers``: profile table.
    ``data_start``: first purchase day in the data.
    """

    orders: pd.DataFrame
    first_product_day: pd.DataFrame | None
    country: pd.DataFrame | None
    returns: pd.DataFrame | None
    events: PreparedEvents | None
    customers: pd.DataFrame | None
    data_start: pd.Timestamp


@dataclass(frozen=True)
class PreparedEvents:
    """Behavioural events as integer codes, built once and reused for every cutoff.

    ``customer``: int64 (n_events,) codes into ``customer_ids`` (Index of strings);
    ``event_type``: int64 (n_events,) codes into ``types`` (sorted strings); ``day``:
    datetime64[ns] (n_events,), the event's day at midnight; ``in_day_order``: ``day`` is
    sorted (the loaders' time order), so the events before a cutoff are a prefix.

    Why codes and not a frame of strings: the event features of a 1M-customer shop (10M
    events) grouped a table of indicator columns by an object array of customer ids, the
    largest memory peak of its evaluation (the rolling-origin panel's 10.4 GB in
    ``benchmarks/bench_scale.py``, 9.2 GB with codes; ``bincount`` needs one column at a
    time).
    """

    customer: np.ndarray
    customer_ids: pd.Index
    event_type: np.ndarray
    types: list[str]
    day: np.ndarray
    in_day_order: bool

    def before(self, cutoff: pd.Timestamp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(customer, event_type, day)`` of the events with ``day < cutoff`` (views when
        ``in_day_order``)."""
        end = _nanoseconds(cutoff)
        if self.in_day_order:
            stop = int(np.searchsorted(self.day, end, side="left"))
            return self.customer[:stop], self.event_type[:stop], self.day[:stop]
        keep = self.day < end
        return self.customer[keep], self.event_type[keep], self.day[keep]


def _purchase_lines(tx: pd.DataFrame) -> pd.DataFrame:
    """Purchase lines in the canonical types used by every feature.

    ``tx``: checked canonical purchase lines. Returns a frame with the index of ``tx`` and
    the columns ``customer_id`` (string), ``order_id`` (string, see ``_order_key``), ``day``
    (datetime64[ns], the purchase day at midnight), ``units`` (float64, NaN without a
    ``quantity`` column) and ``value`` (float64, currency).
    """
    day = tx["timestamp"].dt.floor("D").astype("datetime64[ns]")
    customer = tx["customer_id"].astype("string")
    order = _order_key(tx, day)
    quantity = tx["quantity"] if "quantity" in tx else pd.Series(np.nan, index=tx.index)
    return pd.DataFrame(
        {
            "customer_id": customer,
            "order_id": order,
            "day": day,
            "units": quantity.astype("float64"),
            "value": tx["amount"].astype("float64"),
        }
    )


def _orders_from_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, order, day) from ``_purchase_lines`` output.

    Returns columns ``customer_id``, ``order_id``, ``day``, ``n_lines`` (float64, lines in the
    order), ``units`` (float64, sum) and ``value`` (float64, currency, sum), in order of first
    appearance.
    """
    # the day is part of the order key, so an order id that (wrongly) spans the cutoff can
    # never carry lines from at/after the cutoff into features
    orders = (
        lines.groupby(["customer_id", "order_id", "day"], sort=False, observed=True)
        .agg(
            n_lines=("value", "size"),
            units=("units", "sum"),
            value=("value", "sum"),
        )
        .reset_index()
    )
    orders["n_lines"] = orders["n_lines"].astype("float64")
    return orders


def _first_product_day(tx: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame | None:
    """First purchase day of each (customer, product) pair.

    ``tx``: purchase lines; ``lines``: their ``_purchase_lines`` (same index). Returns columns
    ``customer_id``, ``product_id`` (string) and ``day`` (datetime64[ns]), one row per pair;
    None when the shop has no ``product_id`` values.
    """
    if "product_id" not in tx or not tx["product_id"].notna().any():
        return None
    pairs = pd.DataFrame(
        {
            "customer_id": lines["customer_id"],
            "product_id": tx["product_id"].astype("string"),
            "day": lines["day"],
        }
    ).dropna(subset=["product_id"])
    first = pairs.groupby(["customer_id", "product_id"], sort=False, observed=True)["day"].min()
    return first.reset_index()


def _country_lines(tx: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame | None:
    """Country of every purchase line with one.

    ``tx``: purchase lines; ``lines``: their ``_purchase_lines`` (same index). Returns columns
    ``customer_id``, ``country`` (string) and ``day`` (datetime64[ns]), one row per line with
    a country; None when the shop has no ``country`` values.
    """
    if "country" not in tx or not tx["country"].notna().any():
        return None
    return pd.DataFrame(
        {
            "customer_id": lines["customer_id"],
            "country": tx["country"].astype("string"),
            "day": lines["day"],
        }
    ).dropna(subset=["country"])


def _prepare_returns(returns: pd.DataFrame | None) -> pd.DataFrame | None:
    """Cancellation/return lines as (customer, order, day, value).

    ``returns``: canonical lines (negative quantities/amounts) or None. Returns columns
    ``customer_id`` and ``order_id`` (string), ``day`` (datetime64[ns]) and ``value``
    (float64, absolute currency), rows without customer or day dropped; None when there are
    no returns.
    """
    if returns is None or returns.empty:
        return None
    _check_transactions(returns)
    rday = returns["timestamp"].dt.floor("D").astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "customer_id": returns["customer_id"].astype("string"),
            "order_id": _order_key(returns, rday),
            "day": rday,
            "value": returns["amount"].astype("float64").abs(),
        }
    ).dropna(subset=["customer_id", "day"])


def _prepare_events(events: pd.DataFrame | None) -> PreparedEvents | None:
    """Behavioural events as codes (``PreparedEvents``), rows without customer, event type
    or timestamp dropped; None without events. ``events``: canonical events or None."""
    if events is None or events.empty:
        return None
    require_columns(
        events,
        ("customer_id", "timestamp", "event_type"),
        "events",
        "events need customer_id, timestamp and event_type (see "
        "scoring.data.schema.EVENT_COLUMNS).",
    )
    customer, customer_ids = pd.factorize(events["customer_id"].astype("string"))
    event_type, types = pd.factorize(events["event_type"].astype("string"), sort=True)
    day = events["timestamp"].dt.floor("D").astype("datetime64[ns]").to_numpy()
    keep = (customer >= 0) & (event_type >= 0) & ~np.isnat(day)
    if not keep.all():
        customer, event_type, day = customer[keep], event_type[keep], day[keep]
    return PreparedEvents(
        customer=customer.astype(np.int64, copy=False),
        customer_ids=pd.Index(customer_ids, dtype="string"),
        event_type=event_type.astype(np.int64, copy=False),
        types=[str(t) for t in types],
        day=day,
        in_day_order=bool(np.all(day[1:] >= day[:-1])),
    )


def _prepare_customers(customers: pd.DataFrame | None) -> pd.DataFrame | None:
    """Profile table indexed by ``customer_id`` (string), first row per customer kept.

    ``customers``: canonical profile table or None. Returns the same columns minus
    ``customer_id``; None without a profile table.
    """
    if customers is None or customers.empty:
        return None
    require_columns(
        customers,
        ("customer_id",),
        "customers",
        "the profile table needs one row per customer keyed by customer_id.",
    )
    prepared = customers.drop_duplicates("customer_id").copy()
    prepared["customer_id"] = prepared["customer_id"].astype("string")
    return prepared.set_index("customer_id")


def prepare_transactions(
    transactions: pd.DataFrame,
    returns: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
) -> PreparedTransactions:
    """Aggregate order lines to orders once (see ``PreparedTransactions``)."""
    _check_transactions(transactions)
    if transactions.empty:
        raise DataError(
            "transactions: the table is empty; behavioural features need at least one order."
        )
    lines = _purchase_lines(transactions)
    orders = _orders_from_lines(lines)
    return PreparedTransactions(
        orders=orders,
        first_product_day=_first_product_day(transactions, lines),
        country=_country_lines(transactions, lines),
        returns=_prepare_returns(returns),
        events=_prepare_events(events),
        customers=_prepare_customers(customers),
        data_start=orders["day"].min(),
    )


def _nanoseconds(moment) -> np.datetime64:
    """``moment`` (date-like) as a numpy datetime64[ns], comparable with ``day`` arrays."""
    return np.datetime64(pd.Timestamp(moment).as_unit("ns").asm8)


def _age(days, cutoff: pd.Timestamp) -> np.ndarray:
    """Whole days (int64) from ``days`` (a Series or array of midnights, datetime64[ns]) to
    ``cutoff`` (1 = the day before the cutoff)."""
    day = np.asarray(days, dtype="datetime64[ns]")
    return ((_nanoseconds(cutoff) - day) // np.timedelta64(1, "D")).astype("int64")


def _in_season(age: np.ndarray, horizon_days: int) -> np.ndarray:
    """True where a day ``age`` days before the cutoff falls in the part of the year covered
    by ``[cutoff, cutoff + horizon_days)`` (shifted back by whole 365-day years)."""
    return np.mod(-age, DAYS_PER_YEAR) < horizon_days


def _orders_before(prepared: PreparedTransactions, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Orders with ``day < cutoff``, with their ``age`` (int64 days, 1 = the day before).

    Raises ``DataError`` when there is none.
    """
    orders = prepared.orders.loc[prepared.orders["day"] < cutoff]
    if orders.empty:
        raise DataError(
            f"transactions: no order before the cutoff {cutoff.date()}; the data starts "
            f"{prepared.data_start.date()}. Choose a later cutoff."
        )
    return orders.assign(age=_age(orders["day"], cutoff))


def _totals(orders: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Totals and basket averages per customer: the first columns of the feature table.

    ``orders``: ``_orders_before`` output. Returns a float64 frame indexed by ``customer_id``
    (string, sorted) with ``n_orders``, ``revenue_total`` (currency), ``days_since_last_order``,
    ``tenure_days`` (days, to the as-of day ``cutoff - 1 day``), ``lines_per_order``,
    ``units_per_order`` (NaN without quantities), ``value_per_order``, ``max_order_value``,
    ``first_order_value`` (currency), ``revenue_per_tenure_day`` and ``orders_per_tenure_day``
    (per ``tenure_days + 1`` days).
    """
    grouped = orders.groupby("customer_id", sort=True, observed=True)
    features = grouped.agg(
        n_orders=("value", "size"),
        revenue_total=("value", "sum"),
        lines_per_order=("n_lines", "mean"),
        units_per_order=("units", "mean"),
        value_per_order=("value", "mean"),
        max_order_value=("value", "max"),
    ).astype("float64")
    # recency and tenure: the one definition (features.activity), to the as-of day
    span = grouped["day"].agg(["min", "max"])
    activity = recency_and_tenure(span["min"], span["max"], ScoringMoment.from_cutoff(cutoff))
    features.insert(2, "days_since_last_order", activity["days_since_last_order"].astype("float64"))
    features.insert(3, "tenure_days", activity["tenure_days"].astype("float64"))
    features.index = features.index.astype("string")
    features.index.name = "customer_id"
    if orders["units"].isna().all():
        features["units_per_order"] = np.nan

    first = orders.loc[
        orders["age"] == orders.groupby("customer_id", observed=True)["age"].transform("max")
    ]
    features["first_order_value"] = first.groupby("customer_id", observed=True)["value"].sum()
    exposure = features["tenure_days"] + 1  # days of history, the first order's day included
    features["revenue_per_tenure_day"] = features["revenue_total"] / exposure
    features["orders_per_tenure_day"] = features["n_orders"] / exposure
    return features


def _window_sums(orders: pd.DataFrame, windows: list[int]) -> pd.DataFrame | None:
    """Orders and revenue per customer in each window and in the window before it.

    ``orders``: ``_orders_before`` output; ``windows``: sorted distinct lengths in days.
    Returns a float64 frame indexed by ``customer_id`` (string) with ``orders_<w>d`` and
    ``revenue_<w>d`` (age <= w) for every ``w`` and, when ``2w`` is within the largest window,
    ``orders_prev_<w>d`` and ``_revenue_prev_<w>d`` (age in ``(w, 2w]``); None without windows.
    """
    age = orders["age"].to_numpy()
    value = orders["value"].to_numpy()
    largest = max(windows) if windows else 0
    window_columns: dict[str, np.ndarray] = {}
    for w in windows:
        inside = age <= w
        window_columns[f"orders_{w}d"] = inside.astype("float64")
        window_columns[f"revenue_{w}d"] = np.where(inside, value, 0.0)
        if 2 * w <= largest:
            previous = (age > w) & (age <= 2 * w)
            window_columns[f"orders_prev_{w}d"] = previous.astype("float64")
            window_columns[f"_revenue_prev_{w}d"] = np.where(previous, value, 0.0)
    if not window_columns:
        return None
    sums = (
        pd.DataFrame(window_columns, index=orders.index)
        .groupby(orders["customer_id"].to_numpy())
        .sum()
    )
    sums.index = sums.index.astype("string")
    return sums


def _add_windows(features: pd.DataFrame, orders: pd.DataFrame, windows: Sequence[int]) -> None:
    """Add the window counts and revenue trends to ``features`` (in place).

    ``windows``: lengths in days. Adds the public columns of ``_window_sums`` (orders and
    revenue per window, ``orders_prev_<w>d``) then ``revenue_trend_<w>d`` =
    ``log1p(revenue_<w>d) - log1p(revenue in (w, 2w])`` (float64).
    """
    windows = sorted({int(w) for w in windows})
    sums = _window_sums(orders, windows)
    if sums is None:
        return
    for name in sums.columns:
        if not name.startswith("_"):
            features[name] = sums[name]
    for w in windows:
        if f"_revenue_prev_{w}d" in sums:
            features[f"revenue_trend_{w}d"] = np.log1p(sums[f"revenue_{w}d"]) - np.log1p(
                sums[f"_revenue_prev_{w}d"]
            )


def _purchase_days(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, purchase day), sorted, with columns ``customer_id``, ``day``
    and ``age`` (int64 days before the cutoff)."""
    return (
        orders.groupby(["customer_id", "day"], sort=True, observed=True)["age"]
        .first()
        .reset_index()
    )


def _add_gaps(features: pd.DataFrame, days: pd.DataFrame) -> None:
    """Add ``n_purchase_days`` and the gaps between purchase days to ``features`` (in place).

    ``days``: ``_purchase_days`` output. Adds float64 columns ``n_purchase_days``,
    ``gap_mean_days``, ``gap_std_days`` (population), ``gap_last_days``, ``gap_max_days``
    (days, NaN for one purchase day) and ``recency_over_mean_gap`` (days from the last order
    to the cutoff / mean gap).
    """
    features["n_purchase_days"] = (
        days.groupby("customer_id", observed=True).size().astype("float64")
    )
    gap = -days.groupby("customer_id", observed=True)["age"].diff()
    days = days.assign(gap=gap.astype("float64"))
    gap_stats = days.dropna(subset=["gap"]).groupby("customer_id", observed=True)["gap"]
    features["gap_mean_days"] = gap_stats.mean()
    features["gap_std_days"] = gap_stats.std(ddof=0)
    features["gap_last_days"] = gap_stats.last()
    features["gap_max_days"] = gap_stats.max()
    features["recency_over_mean_gap"] = (  # days from the last order to the cutoff
        (features["days_since_last_order"] + 1) / features["gap_mean_days"]
    )


def _add_products(
    features: pd.DataFrame, first_product_day: pd.DataFrame | None, cutoff: pd.Timestamp
) -> None:
    """Add ``n_products`` (distinct products bought before the cutoff) and
    ``products_per_order`` (float64) to ``features`` (in place); NaN without products."""
    if first_product_day is None:
        features["n_products"] = np.nan
        features["products_per_order"] = np.nan
        return
    products = first_product_day.loc[first_product_day["day"] < cutoff]
    features["n_products"] = products.groupby("customer_id", observed=True).size()
    features["n_products"] = features["n_products"].fillna(0.0).astype("float64")
    features["products_per_order"] = features["n_products"] / features["n_orders"]


def _add_returns(features: pd.DataFrame, returns: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """Add the return and cancellation features to ``features`` (in place).

    ``returns``: ``PreparedTransactions.returns``. Adds ``n_returned_lines``,
    ``returned_value`` (absolute currency), ``returned_value_share`` and
    ``cancelled_order_share`` (see the module docstring), using returns before ``cutoff``.
    """
    returned = returns.loc[returns["day"] < cutoff]
    returned_grouped = returned.groupby("customer_id", observed=True)
    features["n_returned_lines"] = returned_grouped.size().reindex(features.index).fillna(0.0)
    features["returned_value"] = returned_grouped["value"].sum().reindex(features.index).fillna(0.0)
    cancelled_orders = returned_grouped["order_id"].nunique().reindex(features.index).fillna(0)
    features["returned_value_share"] = features["returned_value"] / (
        features["revenue_total"] + features["returned_value"]
    )
    features["cancelled_order_share"] = cancelled_orders / (features["n_orders"] + cancelled_orders)


def _add_country(features: pd.DataFrame, country: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """Add ``country`` (categorical): the most frequent country of the customer's lines
    before ``cutoff`` (ties: alphabetical first), to ``features`` (in place)."""
    lines = country.loc[country["day"] < cutoff]
    counts = lines.groupby(["customer_id", "country"], observed=True).size().rename("n")
    counts = counts.reset_index().sort_values(
        ["customer_id", "n", "country"], ascending=[True, False, True], kind="stable"
    )
    mode = counts.drop_duplicates("customer_id").set_index("customer_id")["country"]
    features["country"] = mode.reindex(features.index).astype("category")


def _add_same_window_last_year(
    features: pd.DataFrame,
    orders: pd.DataFrame,
    cutoff: pd.Timestamp,
    horizon: int,
    data_start: pd.Timestamp,
) -> None:
    """Add ``orders_same_window_last_year`` and ``revenue_same_window_last_year`` (orders in
    ``[cutoff - 365, cutoff - 365 + horizon)`` days; NaN when ``data_start`` is after that
    window starts) to ``features`` (in place)."""
    start_last_year = cutoff - pd.Timedelta(days=DAYS_PER_YEAR)
    end_last_year = start_last_year + pd.Timedelta(days=horizon)
    last_year = (orders["day"] >= start_last_year) & (orders["day"] < end_last_year)
    if data_start <= start_last_year:
        lag = orders.loc[last_year].groupby("customer_id", observed=True)["value"]
        features["orders_same_window_last_year"] = lag.size().reindex(features.index).fillna(0)
        features["revenue_same_window_last_year"] = lag.sum().reindex(features.index).fillna(0.0)
    else:
        features["orders_same_window_last_year"] = np.nan
        features["revenue_same_window_last_year"] = np.nan


def _add_season_rates(features: pd.DataFrame, days: pd.DataFrame, horizon: int) -> None:
    """Add the in/off-season purchase-day rates to ``features`` (in place).

    ``days``: ``_purchase_days`` output; ``horizon``: length of the coming window in days.
    Adds ``in_season_order_rate`` / ``off_season_order_rate`` (purchase days per day of
    exposure in / out of season, NaN without such exposure) and ``in_season_order_share``.
    Needs ``tenure_days`` and ``n_purchase_days`` in ``features``.
    """
    in_season = _in_season(days["age"].to_numpy(), horizon)
    season_days = (
        pd.Series(in_season.astype("float64"), index=days.index)
        .groupby(days["customer_id"].to_numpy())
        .sum()
    )
    season_days.index = season_days.index.astype("string")
    # exposure: days 1..tenure before the cutoff that are / are not in season
    max_age = int(features["tenure_days"].max()) + 1  # ages count to the cutoff
    cumulative = np.concatenate([[0], np.cumsum(_in_season(np.arange(1, max_age + 1), horizon))])
    tenure = features["tenure_days"].to_numpy(dtype="int64") + 1
    in_exposure = cumulative[tenure].astype("float64")
    off_exposure = tenure - in_exposure
    in_count = season_days.reindex(features.index).to_numpy()
    off_count = features["n_purchase_days"].to_numpy() - in_count
    with np.errstate(divide="ignore", invalid="ignore"):
        features["in_season_order_rate"] = np.where(in_exposure > 0, in_count / in_exposure, np.nan)
        features["off_season_order_rate"] = np.where(
            off_exposure > 0, off_count / off_exposure, np.nan
        )
    features["in_season_order_share"] = in_count / features["n_purchase_days"].to_numpy()


def _add_event_features(
    features: pd.DataFrame,
    events: PreparedEvents,
    cutoff: pd.Timestamp,
    event_windows: Sequence[int],
) -> None:
    """Add ``<event_type>_<w>d`` counts (float64, 0 when none) and
    ``days_since_last_<event_type>`` (days, NaN when never) to ``features`` (in place), for
    every event type (sorted) with an event before ``cutoff``: all the counts (type, then
    window), then all the recencies. Ages are whole days (1 = the day before the cutoff)."""
    customer, event_type, day = events.before(cutoff)
    if not len(customer):
        return
    age = _age(day, cutoff)
    n_customers = len(events.customer_ids)
    row = events.customer_ids.get_indexer(features.index)  # -1: no event at all
    present = np.bincount(event_type, minlength=len(events.types)) > 0
    recency: dict[str, np.ndarray] = {}
    for code in np.flatnonzero(present):
        name = events.types[code]
        is_type = event_type == code
        of_type, age_of_type = customer[is_type], age[is_type]
        for w in event_windows:
            counts = np.bincount(of_type[age_of_type <= w], minlength=n_customers)
            features[f"{name}_{w}d"] = np.where(row >= 0, counts[row], 0).astype("float64")
        last = np.full(n_customers, np.inf)
        np.minimum.at(last, of_type, age_of_type.astype("float64"))
        recency[f"days_since_last_{name}"] = np.where(row >= 0, last[row], np.inf)
    for column, values in recency.items():
        features[column] = np.where(np.isinf(values), np.nan, values)


def _add_profile(features: pd.DataFrame, customers: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """Add the profile columns present in ``customers`` to ``features`` (in place):
    ``gender`` (categorical), ``email_opt_in`` (float64 0/1) and ``days_since_signup``
    (days, NaN when the signup is at/after ``cutoff`` or unknown)."""
    profile = customers.reindex(features.index)
    if "gender" in profile:
        features["gender"] = profile["gender"].astype("string").astype("category")
    if "email_opt_in" in profile:
        features["email_opt_in"] = (
            profile["email_opt_in"].astype("boolean").astype("Float64").astype("float64")
        )
    if "signup_at" in profile:
        signup = pd.to_datetime(profile["signup_at"]).dt.floor("D")
        since = (cutoff - signup) // pd.Timedelta(days=1)
        features["days_since_signup"] = since.where(signup < cutoff).astype("float64")


def _add_percentiles(features: pd.DataFrame) -> None:
    """Add ``<column>_pct`` (average percentile rank in (0, 1] among the customers of this
    cutoff) for every non-empty column of ``RELATIVE_FEATURES`` (in place): scale-free across
    cutoffs with different history lengths and seasons."""
    for column in RELATIVE_FEATURES:
        if column in features and features[column].notna().any():
            features[f"{column}_pct"] = features[column].rank(pct=True, method="average")


def _features_at(
    prepared: PreparedTransactions,
    cutoff: pd.Timestamp,
    windows: Sequence[int],
    horizon_days: int | None,
    event_windows: Sequence[int],
) -> pd.DataFrame:
    """Feature table at one midnight ``cutoff`` (see ``behavioural_features``): one row per
    customer with an order before it, the column groups in the module docstring's order."""
    orders = _orders_before(prepared, cutoff)
    features = _totals(orders, cutoff)
    _add_windows(features, orders, windows)
    days = _purchase_days(orders)
    _add_gaps(features, days)
    _add_products(features, prepared.first_product_day, cutoff)
    if prepared.returns is not None:
        _add_returns(features, prepared.returns, cutoff)
    if prepared.country is not None:
        _add_country(features, prepared.country, cutoff)
    if horizon_days is not None:
        horizon = int(horizon_days)
        _add_same_window_last_year(features, orders, cutoff, horizon, prepared.data_start)
        _add_season_rates(features, days, horizon)
    if prepared.events is not None:
        _add_event_features(features, prepared.events, cutoff, event_windows)
    if prepared.customers is not None:
        _add_profile(features, prepared.customers, cutoff)
    _add_percentiles(features)
    return features


def behavioural_features(
    transactions: pd.DataFrame,
    cutoff,
    returns: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    horizon_days: int | None = None,
    event_windows: Sequence[int] = DEFAULT_EVENT_WINDOWS,
) -> pd.DataFrame:
    """Behavioural features as of ``cutoff`` from data strictly before it.

    Parameters
    ----------
    transactions : canonical purchase lines (``customer_id``, ``timestamp``, ``amount``;
        optional ``order_id``, ``quantity``, ``product_id``, ``country``).
    cutoff : the scoring moment (floored to midnight); only rows with ``timestamp < cutoff``
        are used.
    returns : cancellation/return lines (``ShopData.returns``), optional.
    events, customers : optional event and profile tables (``scoring.data.schema``).
    windows : window lengths in days for order and revenue counts.
    horizon_days : length of the coming prediction window in days; adds the seasonality
        features (see module docstring). ``None`` leaves them out.
    event_windows : window lengths in days for event counts.

    Returns
    -------
    DataFrame of shape (n_customers, n_features), index ``customer_id`` (string, sorted), one
    row per customer with at least one order before the cutoff. Numeric columns are float64;
    ``country`` and ``gender`` are categorical. Columns are described in the module docstring.
    """
    prepared = prepare_transactions(transactions, returns, events, customers)
    return _features_at(prepared, _as_day(cutoff), windows, horizon_days, event_windows)


def behavioural_features_panel(
    transactions: pd.DataFrame | PreparedTransactions,
    cutoffs: Iterable,
    returns: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    horizon_days: int | None = None,
    event_windows: Sequence[int] = DEFAULT_EVENT_WINDOWS,
) -> pd.DataFrame:
    """``behavioural_features`` at several cutoffs, stacked.

    Returns a DataFrame with a (``origin``, ``customer_id``) MultiIndex, where ``origin`` is
    the (midnight) cutoff the row's features were computed at. Categorical columns share the
    union of categories across cutoffs. Data is prepared once (``prepare_transactions``).
    """
    prepared = (
        transactions
        if isinstance(transactions, PreparedTransactions)
        else prepare_transactions(transactions, returns, events, customers)
    )
    frames = {}
    for cutoff in cutoffs:
        day = _as_day(cutoff)
        frames[day] = _features_at(prepared, day, windows, horizon_days, event_windows)
    if not frames:
        raise DataError("behavioural_features_panel: no cutoffs given; pass at least one date.")
    categorical = [
        c for c in CATEGORICAL_FEATURES if any(c in frame.columns for frame in frames.values())
    ]
    for column in categorical:
        levels = sorted(
            set().union(
                *(set(frame[column].cat.categories) for frame in frames.values() if column in frame)
            )
        )
        for frame in frames.values():
            frame[column] = pd.Categorical(frame[column].astype("object"), categories=levels)
    panel = pd.concat(frames, names=["origin", "customer_id"])
    return panel
