"""Quarantine rules and row accounting for transactions, customers and events.

Every input row ends up either used or quarantined with exactly one reason, so
``rows_in == rows_used + sum(quarantined.values())`` always holds. Rules are applied in the
order of ``QUARANTINE_RULES``; the first rule that matches names the reason.

| reason | rule |
| --- | --- |
| ``unparsable_timestamp`` | the timestamp cannot be read as a date (a few are tolerated; if more than ``max_invalid_share`` of rows are unreadable the whole file is refused with an error) |
| ``unparsable_number`` | quantity, unit price or amount is not a number (same tolerance) |
| ``missing_customer_id`` | guest checkout: no customer id |
| ``cancellation`` | the order id starts with ``C`` (the shop's cancellation invoices), whatever the sign of the quantity |
| ``return`` | quantity zero or negative (returns, stock corrections) |
| ``non_positive_price`` | unit price (or amount) zero or negative: free samples, bad-debt adjustments (zero allowed for CDNOW, whose published fits count $0 orders) |
| ``non_product_code`` | the product code is not a product: postage, carriage, fees, manual lines, discounts, samples, bank charges, commissions, test items, gift vouchers (``NON_PRODUCT_CODE_PATTERN``) |
| ``duplicate_row`` | an exact copy of an earlier input row (all source columns equal) |
| ``after_as_of`` | the timestamp is after the as-of date (the scoring moment): the future is not used |

Cancellations and returns are kept in the quarantine table (``ShopData.returns``) so features
such as return rate can use them; they never enter revenue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError, examples, where
from .schema import EVENT_TYPES

QUARANTINE_RULES: tuple[str, ...] = (
    "unparsable_timestamp",
    "unparsable_number",
    "missing_customer_id",
    "cancellation",
    "return",
    "non_positive_price",
    "non_product_code",
    "duplicate_row",
    "after_as_of",
)
EVENT_QUARANTINE_RULES: tuple[str, ...] = (
    "unparsable_timestamp",
    "missing_customer_id",
    "unknown_event_type",
    "duplicate_row",
    "after_as_of",
)
CUSTOMER_QUARANTINE_RULES: tuple[str, ...] = ("missing_customer_id", "duplicate_customer_id")

NON_PRODUCT_CODE_PATTERN = (
    r"^(?:POST|DOT|M|C2|C3|D|S|B|CRUK|PADS|AMAZONFEE|BANK CHARGES|ADJUST\d*|TEST\d*"
    r"|GIFT(?:_\w+)?|DCGSS?(?:BOY|GIRL)|DCGSL(?:BOY|GIRL))$"
)
"""Product codes that are not products (case-insensitive). DCGSSBOY/DCGSSGIRL etc. are
'update' placeholder lines in Online Retail II."""

MIN_PLAUSIBLE_DATE = pd.Timestamp("1990-01-01")
MAX_PLAUSIBLE_DATE = pd.Timestamp("2100-01-01")

DATE_FORMATS: tuple[str, ...] = (
    "ISO8601",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y%m%d",
)


def customer_id_to_string(values: pd.Series) -> pd.Series:
    """Customer ids as strings: ``12346.0`` -> ``"12346"``, blanks -> <NA>."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            return values.astype("Int64").astype("string")
    text = values.astype("string").str.strip()
    text = text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return text.mask(text.str.lower().isin(["", "nan", "none", "null", "na", "n/a", "-"]))


def _to_string(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def parse_timestamps(
    values: pd.Series,
    column: str = "timestamp",
    source: str | None = None,
    date_format: str | None = None,
    max_invalid_share: float = 0.01,
) -> pd.Series:
    """Parse a timestamp column to naive datetime64[ns].

    Unreadable values become NaT (quarantined by the caller). Raises DataError when all (or
    more than ``max_invalid_share``) are unreadable, when the column mixes date formats, or
    when dates are impossible (before 1990 or after 2100).
    """
    present = values.notna()
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if values.dt.tz is not None else values
        parsed = parsed.astype("datetime64[ns]")
    else:
        text = values.astype("string").str.strip()
        if date_format:
            formats = (date_format,)
        else:
            formats = DATE_FORMATS
        best, best_ok, counts = None, -1, {}
        for fmt in formats:
            try:
                attempt = pd.to_datetime(text, format=fmt, errors="coerce")
            except (ValueError, TypeError):
                continue
            ok = int(attempt.notna().sum())
            counts[fmt] = ok
            if ok > best_ok:
                best, best_ok = attempt, ok
        n_present = int(present.sum())
        if best is None or best_ok == 0:
            raise DataError(
                f"{where(source, column)}none of the {n_present:,} timestamps could be read "
                f"as a date, e.g. {examples(text.dropna())}. Export dates as ISO 8601 "
                "(2011-06-09 14:30:00) or pass the format in the config (date_format)."
            )
        missing_share = (n_present - best_ok) / max(n_present, 1)
        if missing_share > max_invalid_share:
            second = sorted(counts.items(), key=lambda kv: -kv[1])
            others = [f"{f}: {c:,}" for f, c in second[:3]]
            bad = text[best.isna() & present]
            raise DataError(
                f"{where(source, column)}{len(bad):,} of {n_present:,} timestamps do not "
                f"match the dominant date format (mixed formats? rows readable per format: "
                f"{'; '.join(others)}), e.g. {examples(bad)}. Export all dates in one "
                "format, or pass it in the config (date_format)."
            )
        parsed = best
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
    impossible = parsed.notna() & ((parsed < MIN_PLAUSIBLE_DATE) | (parsed > MAX_PLAUSIBLE_DATE))
    if impossible.any():
        raise DataError(
            f"{where(source, column)}{int(impossible.sum()):,} impossible dates (before "
            f"{MIN_PLAUSIBLE_DATE.date()} or after {MAX_PLAUSIBLE_DATE.date()}), e.g. "
            f"{examples(values[impossible])}. Check the date column and its format "
            "(day/month order, two-digit years, epoch numbers)."
        )
    parsed = parsed.astype("datetime64[ns]")
    unreadable = present & parsed.isna()
    if unreadable.mean() > max_invalid_share:
        raise DataError(
            f"{where(source, column)}{int(unreadable.sum()):,} timestamps could not be read, "
            f"e.g. {examples(values[unreadable])}."
        )
    return parsed


def parse_numbers(
    values: pd.Series, column: str, source: str | None = None, max_invalid_share: float = 0.01
) -> pd.Series:
    """Parse a numeric column; unreadable values become NaN (quarantined by the caller).

    Raises DataError when more than ``max_invalid_share`` of the present values are not
    numbers, naming the column, examples and the count.
    """
    if values.isna().all():
        raise DataError(
            f"{where(source, column)}all {len(values):,} values are empty. Map the right "
            "column with --columns."
        )
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    text = text.str.replace(r"^[£$€]\s*", "", regex=True)
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = values.notna() & parsed.isna()
    if bad.sum() > max_invalid_share * max(int(values.notna().sum()), 1):
        raise DataError(
            f"{where(source, column)}{int(bad.sum()):,} of {int(values.notna().sum()):,} "
            f"values are not numbers, e.g. {examples(values[bad])}. Fix the export (plain "
            "numbers, '.' as the decimal point) or map another column with --columns."
        )
    return parsed


def _first_reason(masks: dict[str, pd.Series], rules: tuple[str, ...], index) -> pd.Series:
    """The first rule (in ``rules`` order) that flags each row; <NA> for rows that pass."""
    reason = pd.Series(pd.NA, index=index, dtype="string")
    for rule in reversed(rules):
        mask = masks.get(rule)
        if mask is not None:
            reason = reason.mask(mask.fillna(False).astype(bool), rule)
    return reason


def accounting(rows_in: int, reasons: pd.Series, rules: tuple[str, ...]) -> dict:
    """Quality report: rows_in, rows_used, quarantined {reason: count} in rule order."""
    counts = reasons.value_counts()
    quarantined = {rule: int(counts.get(rule, 0)) for rule in rules}
    report = {
        "rows_in": int(rows_in),
        "rows_used": int(rows_in - sum(quarantined.values())),
        "quarantined": quarantined,
    }
    assert report["rows_used"] + sum(quarantined.values()) == report["rows_in"]
    return report


def clean_transactions(
    raw: pd.DataFrame,
    source: str = "transactions",
    as_of: pd.Timestamp | str | None = None,
    date_format: str | None = None,
    max_invalid_share: float = 0.01,
    allow_zero_price: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Canonicalise mapped transactions and split them into used and quarantined rows.

    Args:
        raw: transactions with canonical column names (after ``io.map_columns``); values may
            still be strings.
        source: file or dataset name, for error messages.
        as_of: rows with a timestamp after this moment are quarantined (``after_as_of``).
            A date without time means the end of that day.
        allow_zero_price: count zero-value lines as purchases (CDNOW's $0 orders, which the
            published BTYD fits include); negative prices are always quarantined.

    Returns:
        (transactions, quarantine, report): canonical used rows; quarantined rows with a
        ``quarantine_reason`` column; the accounting dict.
    """
    n = len(raw)
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = customer_id_to_string(raw["customer_id"])
    has_order_ids = "order_id" in raw and raw["order_id"].notna().any()
    frame["order_id"] = (
        _to_string(raw["order_id"])
        if has_order_ids
        else pd.Series(pd.NA, index=raw.index, dtype="string")
    )
    frame["timestamp"] = parse_timestamps(
        raw["timestamp"], "timestamp", source, date_format, max_invalid_share
    )
    for column in ("product_id", "product_name"):
        frame[column] = _to_string(raw[column]) if column in raw else pd.Series(
            pd.NA, index=raw.index, dtype="string")
    numbers = {
        c: parse_numbers(raw[c], c, source, max_invalid_share)
        for c in ("quantity", "unit_price", "amount")
        if c in raw
    }
    if "amount" not in numbers and not {"quantity", "unit_price"} <= set(numbers):
        raise DataError(
            f"{source}: needs an 'amount' column, or both 'quantity' and 'unit_price'; found "
            f"{', '.join(raw.columns)}. Map them with --columns, e.g. "
            '--columns "amount=Revenue" or "quantity=Qty,unit_price=Price"'
        )
    if {"quantity", "unit_price"} <= set(numbers):
        frame["quantity"] = numbers["quantity"]
        frame["unit_price"] = numbers["unit_price"]
        frame["amount"] = frame["quantity"] * frame["unit_price"]
    else:
        frame["quantity"] = numbers.get("quantity", pd.Series(1.0, index=raw.index))
        frame["amount"] = numbers["amount"]
        frame["unit_price"] = frame["amount"] / frame["quantity"].where(frame["quantity"] != 0)
    frame["country"] = _to_string(raw["country"]) if "country" in raw else pd.Series(
        pd.NA, index=raw.index, dtype="string")
    if not has_order_ids:
        # No order ids: one order per customer and timestamp.
        frame["order_id"] = (frame["customer_id"].fillna("guest") + "@"
                             + frame["timestamp"].astype("string").fillna("?"))

    money_bad = frame["amount"].isna() | frame["quantity"].isna()
    masks = {
        "unparsable_timestamp": frame["timestamp"].isna(),
        "unparsable_number": money_bad,
        "missing_customer_id": frame["customer_id"].isna(),
        "cancellation": frame["order_id"].str.upper().str.startswith("C").fillna(False)
        & has_order_ids,
        "return": frame["quantity"] <= 0,
        "non_positive_price": (frame["unit_price"] < 0) | (frame["amount"] < 0)
        if allow_zero_price
        else (frame["unit_price"] <= 0) | (frame["amount"] <= 0),
        "non_product_code": frame["product_id"].str.upper().str.fullmatch(
            NON_PRODUCT_CODE_PATTERN).fillna(False),
        "duplicate_row": raw.duplicated(keep="first"),
    }
    if as_of is not None:
        masks["after_as_of"] = frame["timestamp"] > end_of_day(as_of)
    reasons = _first_reason(masks, QUARANTINE_RULES, raw.index)
    report = accounting(n, reasons, QUARANTINE_RULES)
    used = reasons.isna()
    transactions = frame.loc[used].reset_index(drop=True)
    quarantine = frame.loc[~used].assign(quarantine_reason=reasons[~used].astype(str))
    quarantine = quarantine.reset_index(names="source_row")
    return transactions, quarantine, report


def end_of_day(as_of) -> pd.Timestamp:
    """An as-of date without a time covers the whole day."""
    ts = pd.Timestamp(as_of)
    if ts == ts.normalize():
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts


def clean_customers(raw: pd.DataFrame, source: str = "customers") -> tuple[pd.DataFrame,
                                                                             pd.DataFrame, dict]:
    """Canonicalise customer profiles; quarantine rows without an id and repeated ids."""
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = customer_id_to_string(raw["customer_id"])
    for column in ("email", "first_name", "last_name", "gender", "country"):
        frame[column] = _to_string(raw[column]) if column in raw else pd.Series(
            pd.NA, index=raw.index, dtype="string")
    if "signup_at" in raw:
        frame["signup_at"] = parse_timestamps(raw["signup_at"], "signup_at", source)
    else:
        frame["signup_at"] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if "email_opt_in" in raw:
        text = raw["email_opt_in"].astype("string").str.strip().str.lower()
        frame["email_opt_in"] = text.map(
            {"true": True, "1": True, "yes": True, "y": True, "1.0": True,
             "false": False, "0": False, "no": False, "n": False, "0.0": False}
        ).astype("boolean")
    else:
        frame["email_opt_in"] = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    masks = {
        "missing_customer_id": frame["customer_id"].isna(),
        "duplicate_customer_id": frame["customer_id"].duplicated(keep="first")
        & frame["customer_id"].notna(),
    }
    reasons = _first_reason(masks, CUSTOMER_QUARANTINE_RULES, raw.index)
    report = accounting(len(raw), reasons, CUSTOMER_QUARANTINE_RULES)
    used = reasons.isna()
    quarantine = frame.loc[~used].assign(quarantine_reason=reasons[~used].astype(str))
    return frame.loc[used].reset_index(drop=True), quarantine.reset_index(names="source_row"), report


def clean_events(
    raw: pd.DataFrame, source: str = "events", as_of=None
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Canonicalise events; quarantine unknown event types, missing ids, duplicates, future."""
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = customer_id_to_string(raw["customer_id"])
    frame["timestamp"] = parse_timestamps(raw["timestamp"], "timestamp", source)
    frame["event_type"] = _to_string(raw["event_type"]).str.lower()
    frame["product_id"] = _to_string(raw["product_id"]) if "product_id" in raw else pd.Series(
        pd.NA, index=raw.index, dtype="string")
    known = frame["event_type"].isin(EVENT_TYPES).fillna(False)
    if not known.any():
        raise DataError(
            f"{where(source, 'event_type')}none of the {len(frame):,} event types is known, "
            f"e.g. {examples(frame['event_type'].dropna())}; expected "
            f"{', '.join(EVENT_TYPES)}. Rename the values in the export."
        )
    masks = {
        "unparsable_timestamp": frame["timestamp"].isna(),
        "missing_customer_id": frame["customer_id"].isna(),
        "unknown_event_type": ~known,
        "duplicate_row": raw.duplicated(keep="first"),
    }
    if as_of is not None:
        masks["after_as_of"] = frame["timestamp"] > end_of_day(as_of)
    reasons = _first_reason(masks, EVENT_QUARANTINE_RULES, raw.index)
    report = accounting(len(raw), reasons, EVENT_QUARANTINE_RULES)
    used = reasons.isna()
    quarantine = frame.loc[~used].assign(quarantine_reason=reasons[~used].astype(str))
    return frame.loc[used].reset_index(drop=True), quarantine.reset_index(names="source_row"), report
