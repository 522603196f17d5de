"""Canonical tables shared by every stage of the project.

Every loader (built-in datasets, any shop's CSV/Parquet/Excel export, the synthetic shop)
produces these column names and dtypes; every model reads only these.

Transactions: one row per order line.
    customer_id   string   (e.g. "12346"; never a float like "12346.0")
    order_id      string
    timestamp     datetime64[ns] (naive, shop-local time)
    product_id    string   (optional; <NA> when the shop has no products, e.g. CDNOW)
    product_name  string   (optional)
    quantity      float64  (units; negative on returns / cancellations)
    unit_price    float64  (currency per unit)
    amount        float64  (quantity * unit_price, currency; the only money column models use)
    country       string   (optional)

Customers (optional): one row per known customer, including leads who never bought.
    customer_id, email, first_name, last_name, gender, country (strings),
    signup_at (datetime64[ns]), email_opt_in (boolean)

Events (optional): one row per behavioural event.
    customer_id (string), timestamp (datetime64[ns]), event_type (one of EVENT_TYPES),
    product_id (string, optional)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

TRANSACTION_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "order_id",
    "timestamp",
    "product_id",
    "product_name",
    "quantity",
    "unit_price",
    "amount",
    "country",
)
TRANSACTION_REQUIRED: tuple[str, ...] = ("customer_id", "timestamp")
"""Also required: ``amount``, or both ``quantity`` and ``unit_price``."""

CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "gender",
    "country",
    "signup_at",
    "email_opt_in",
)

EVENT_TYPES: tuple[str, ...] = (
    "email_open",
    "email_click",
    "site_visit",
    "product_view",
    "cart_add",
    "checkout_start",
)
EVENT_COLUMNS: tuple[str, ...] = ("customer_id", "timestamp", "event_type", "product_id")

STRING_COLUMNS = {
    "customer_id",
    "order_id",
    "product_id",
    "product_name",
    "country",
    "email",
    "first_name",
    "last_name",
    "gender",
    "event_type",
}
DATETIME_COLUMNS = {"timestamp", "signup_at"}
FLOAT_COLUMNS = {"quantity", "unit_price", "amount"}


@dataclass
class ShopData:
    """A shop's tables in canonical form.

    ``transactions`` holds only the rows used for modelling (purchases). Rows set aside by
    the cleaning rules are in ``quarantine`` with a ``quarantine_reason`` column;
    cancellations and returns stay available there for features such as return rate.
    ``rows_in == len(transactions) + len(quarantine)`` always holds.
    """

    name: str
    transactions: pd.DataFrame
    customers: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    rows_in: int = 0
    source: dict = field(default_factory=dict)
    reports: dict = field(default_factory=dict)
    """Accounting per table: {"transactions": {rows_in, rows_used, quarantined}, ...}."""
    customers_quarantine: pd.DataFrame | None = None
    events_quarantine: pd.DataFrame | None = None
    as_of: pd.Timestamp | None = None
    """The scoring moment: the as-of date asked for, else the last used timestamp."""
    products: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None
    """Known truth per customer (synthetic shop only)."""
    input_columns: tuple[str, ...] = ()
    """The canonical transaction columns the input really had (before the cleaning added the
    missing optional ones as empty): what a model's input check compares against."""
    warnings: list[str] = field(default_factory=list)
    """What the loading detected or set aside that a user must see (printed by the CLI)."""

    @property
    def has_products(self) -> bool:
        return "product_id" in self.transactions and self.transactions["product_id"].notna().any()

    @property
    def returns(self) -> pd.DataFrame:
        """Cancelled and returned lines (negative quantities), for return-rate features."""
        if self.quarantine.empty:
            return self.quarantine
        mask = self.quarantine["quarantine_reason"].isin(["cancellation", "return"])
        return self.quarantine.loc[mask]


def rows_before(frame: pd.DataFrame, end, column: str = "timestamp") -> pd.DataFrame:
    """The rows with ``column < end``; the frame itself (no copy) when that is every row, a
    slice of it (no copy either) when ``column`` is sorted, as the loaders leave it
    (``cleaning.in_time_order``).

    Scoring usually runs on data that ends at the as-of date: the common case then costs a
    comparison, not a copy of millions of order lines; an evaluation's history before its
    cutoff costs a binary search.
    """
    values = frame[column]
    if values.is_monotonic_increasing:
        stop = int(values.searchsorted(pd.Timestamp(end), side="left"))
        return frame if stop == len(frame) else frame.iloc[:stop]
    before = values < end
    return frame if before.all() else frame.loc[before]
