"""Quarantine rules and row accounting for transactions, customers and events.

Every input row ends up either used or quarantined with exactly one reason, so
``rows_in == rows_used + sum(quarantined.values())`` always holds. Rules are applied in the
order of ``QUARANTINE_RULES``; the first rule that matches names the reason.

| reason | rule |
| --- | --- |
| ``unparsable_timestamp`` | the timestamp cannot be read as a date in the column's format (``parsing.parse_dates``) |
| ``missing_timestamp`` | the timestamp cell is blank |
| ``future_timestamp`` | the timestamp is after today, or it is among the newest 0.1% of rows and comes after an empty gap of more than ``future_gap_days`` (365) days after the rest of the data: a mistyped year (``parsing.future_timestamps``); it never moves the default as-of date |
| ``unparsable_number`` | quantity, unit price or amount is not a finite number (``parsing.parse_numbers``; ``inf`` is not a number) |
| ``missing_number`` | quantity, unit price or amount is blank |
| ``missing_customer_id`` | guest checkout: no customer id |
| ``cancellation`` | the order id starts with the cancellation prefix (``C`` by default, ``cancellation_prefix``; off when empty) AND the quantity is zero or less: Online Retail II's cancellation invoices. ``CN-1001`` with a positive quantity is an order |
| ``return`` | quantity zero or negative (returns, stock corrections) |
| ``non_positive_price`` | unit price (or amount) zero or negative: free samples, bad-debt adjustments (zero allowed for CDNOW, whose published fits count $0 orders) |
| ``non_product_code`` | the product code is not a product: postage, carriage, fees, manual lines, discounts, samples, bank charges, commissions, test items, gift vouchers (``NON_PRODUCT_CODE_PATTERN``) |
| ``duplicate_row`` | an exact copy of an earlier input row over *all* the source file's columns, mapped or not (a line number that differs makes two lines distinct) |
| ``after_as_of`` | the timestamp is after the as-of date (the scoring moment): the future is not used |

Blank and unreadable values of a required column (timestamp, quantity, unit price, amount)
together may be at most ``max_bad_share`` (1%, ``--max-bad-share``) of the rows; more refuses
the file with an error that names the column, examples, the count and the fix. The quarantine
table keeps the source text of every field that could not be read (``raw_<column>``).

Cancellations and returns are kept in the quarantine table (``ShopData.returns``) so features
such as return rate can use them; they never enter revenue.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
import pandas as pd

# The row-hash kernels moved to scoring._kernels.row_hash; still importable from here.
from .._kernels.row_hash import CHUNK_ROWS as CHUNK_ROWS
from .._kernels.row_hash import ROW_HASH_BITS as ROW_HASH_BITS
from .._kernels.row_hash import duplicated_rows as duplicated_rows
from .._kernels.row_hash import row_hashes as row_hashes
from .._kernels.row_hash import value_hashes as value_hashes
from . import parsing
from .errors import DataError, examples, where
from .options import LoadOptions
from .schema import EVENT_TYPES

QUARANTINE_RULES: tuple[str, ...] = (
    "unparsable_timestamp",
    "missing_timestamp",
    "future_timestamp",
    "unparsable_number",
    "missing_number",
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
    "missing_timestamp",
    "future_timestamp",
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



def map_chunks(values: pd.Series, transform, chunk_rows: int = CHUNK_ROWS) -> pd.Series:
    """``transform(values)`` for an element-wise ``transform``, computed slice by slice.

    Returns ``values`` itself (no copy) when the transform changes nothing (same dtype, values
    and missing positions), which is the rule for clean exports; otherwise the concatenated
    slices, equal to ``transform(values)``. Temporaries are bounded by one slice of
    ``chunk_rows`` rows.
    """
    if len(values) <= chunk_rows:
        result = transform(values)
        return values if _unchanged(result, values) else result
    parts, changed = [], False
    for start in range(0, len(values), chunk_rows):
        chunk = values.iloc[start : start + chunk_rows]
        result = transform(chunk)
        changed = changed or not _unchanged(result, chunk)
        parts.append(result)
    return pd.concat(parts) if changed else values


def _unchanged(result: pd.Series, values: pd.Series) -> bool:
    return (
        result.dtype == values.dtype and result.index.equals(values.index) and result.equals(values)
    )


def mask_chunks(values: pd.Series, predicate, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """``predicate(values)`` (element-wise, <NA> counted as False) as a bool ndarray of shape
    ``(len(values),)``, computed slice by slice to bound the temporaries."""
    out = np.zeros(len(values), dtype=bool)
    for start in range(0, len(values), chunk_rows):
        chunk = values.iloc[start : start + chunk_rows]
        out[start : start + len(chunk)] = predicate(chunk).fillna(False).to_numpy(dtype=bool)
    return out


def customer_id_to_string(values: pd.Series) -> pd.Series:
    """Customer ids as strings: ``12346.0`` -> ``"12346"``, blanks -> <NA> (``parsing.parse_ids``)."""
    return parsing.parse_ids(values, "customer_id").values


def _stripped(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _to_string(values: pd.Series) -> pd.Series:
    """Strings with surrounding whitespace removed, blanks as <NA>; no copy when clean."""
    return map_chunks(values, _stripped)


def _optional_string(raw: pd.DataFrame, column: str, present: bool | None = None) -> pd.Series:
    """``_to_string`` of a column, or all <NA> when the input lacks it (or ``present`` is
    False)."""
    if present is None:
        present = column in raw
    if present:
        return _to_string(raw[column])
    return pd.Series(pd.NA, index=raw.index, dtype="string")


def _lower_stripped(values: pd.Series) -> pd.Series:
    return _stripped(values).str.lower()


def _as_bool(mask) -> np.ndarray:
    if isinstance(mask, pd.Series):
        return mask.fillna(False).to_numpy(dtype=bool)
    return np.asarray(mask, dtype=bool)


def reason_codes(masks: dict, rules: tuple[str, ...], n: int) -> np.ndarray:
    """The first rule (in ``rules`` order) that flags each row, as an int8 array of shape
    ``(n,)``: 0 for rows that pass, ``i + 1`` for ``rules[i]``. Masks are positional (bool
    Series or arrays of length ``n``; <NA> counts as not flagged)."""
    codes = np.zeros(n, dtype=np.int8)
    for i in reversed(range(len(rules))):
        mask = masks.get(rules[i])
        if mask is not None:
            codes[_as_bool(mask)] = i + 1
    return codes


def _accounting_from_codes(rows_in: int, codes: np.ndarray, rules: tuple[str, ...]) -> dict:
    counts = np.bincount(codes, minlength=len(rules) + 1)
    return _report(rows_in, {rule: int(counts[i + 1]) for i, rule in enumerate(rules)})


def _report(rows_in: int, quarantined: dict[str, int]) -> dict:
    report = {
        "rows_in": int(rows_in),
        "rows_used": int(rows_in - sum(quarantined.values())),
        "quarantined": quarantined,
    }
    assert report["rows_used"] + sum(quarantined.values()) == report["rows_in"]
    return report


def _split(
    frame: pd.DataFrame, codes: np.ndarray, rules: tuple[str, ...],
    raw_text: dict[str, pd.Series] | None = None, part: np.ndarray | None = None,
    part_names: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(used rows with a fresh RangeIndex, quarantined rows with ``source_row``,
    ``quarantine_reason``, the ``raw_text`` columns (source text of unreadable fields) and
    ``source_sheet`` when ``part`` is given). Empties ``frame`` column by column while the
    used rows are taken, so each input column can be freed as soon as it is copied (when
    nothing else holds it); when every row is used, the columns are passed on without a
    copy."""
    used = codes == 0
    dropped = ~used
    reason = np.asarray(rules, dtype=object)[codes[dropped].astype(np.intp) - 1]
    index = frame.index[dropped]
    quarantine = pd.DataFrame(
        {name: _filter_rows(column, dropped) for name, column in frame.items()},
        index=index,
        columns=frame.columns,
        copy=False,
    )
    quarantine = quarantine.assign(quarantine_reason=pd.Series(reason, index=index).astype(str))
    for name, text in (raw_text or {}).items():
        quarantine[name] = text.to_numpy()[dropped]
    if part is not None:
        labels = np.asarray(part_names if part_names is not None else [], dtype=object)
        sheets = np.asarray(part)[dropped]
        quarantine["source_sheet"] = pd.array(
            labels[sheets] if len(labels) else sheets.astype(str), dtype="string")
    quarantine = quarantine.reset_index(names="source_row")
    if used.all():
        return frame.reset_index(drop=True), quarantine
    kept = {}
    for name in list(frame.columns):
        kept[name] = _filter_rows(frame.pop(name), used)
    return pd.DataFrame(kept, copy=False), quarantine


def in_time_order(frame: pd.DataFrame, column: str = "timestamp") -> pd.DataFrame:
    """The rows of ``frame`` (fresh RangeIndex, no missing ``column``) stably sorted by
    ``column``: rows at the same moment keep their file order. The frame itself when it is
    already in order; otherwise its columns are taken one at a time
    and dropped from ``frame``, so one column is held twice, not the table.

    Why: the history before a moment is then a slice of the table, not a copy
    (``schema.rows_before``): the evaluation's scorer fit on the 1M-customer shop copied
    23M order lines."""
    values = frame[column]
    if values.is_monotonic_increasing:
        return frame
    order = np.argsort(values.to_numpy(), kind="stable")
    taken = {name: frame.pop(name).array.take(order) for name in list(frame.columns)}
    return pd.DataFrame(taken, copy=False)


def contiguous_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each Arrow string column in one chunk (in place, one column at a time;
    the values do not change). A column whose bytes would overflow a 32-bit-offset string
    array keeps its chunks.

    Why: pyarrow's take over a chunked column first concatenates it, so every later selection
    of rows (the training sample, a chunk of customers, a window's lines) copied the whole
    column. On the 1M-customer shop (24 chunks per column after the Parquet read) the
    scorer evaluation's split into customer chunks took 16-23 s, 6 s from single chunks
    (``benchmarks/bench_scale.py``'s profile)."""
    import pyarrow as pa

    for name in frame.columns:
        dtype = frame[name].dtype
        if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
            continue
        chunked = frame[name].array.__arrow_array__()
        if chunked.num_chunks <= 1 or (
                not pa.types.is_large_string(chunked.type) and chunked.nbytes >= 2**31 - 1):
            continue
        combined = pa.chunked_array([chunked.combine_chunks()], type=chunked.type)
        del chunked
        frame[name] = pd.Series(dtype.__from_arrow__(combined), index=frame.index, name=name,
                                copy=False)
    return frame


def _filter_rows(values: pd.Series, keep: np.ndarray):
    """``values.array[keep]`` (``keep``: bool array of shape ``(len(values),)``). Arrow-backed
    strings are filtered chunk by chunk (a take over a chunked column would first
    concatenate it), dropping each input chunk once copied, so that a column nobody else
    holds is not held twice."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return values.array[keep]
    import pyarrow as pa

    pool = pa.default_memory_pool()
    chunked = values.array.__arrow_array__()
    del values
    chunks, arrow_type = list(chunked.chunks), chunked.type
    del chunked
    out, start = [], 0
    for i, chunk in enumerate(chunks):
        out.append(chunk.filter(pa.array(keep[start : start + len(chunk)])))
        start += len(chunk)
        chunks[i] = chunk = None
        pool.release_unused()  # hand the freed chunk back (the pool keeps freed pages)
    return dtype.__from_arrow__(pa.chunked_array(out, type=arrow_type))


def accounting(rows_in: int, reasons: pd.Series, rules: tuple[str, ...]) -> dict:
    """Quality report: rows_in, rows_used, quarantined {reason: count} in rule order."""
    counts = reasons.value_counts()
    return _report(rows_in, {rule: int(counts.get(rule, 0)) for rule in rules})


def clean_transactions(
    raw: pd.DataFrame,
    source: str = "transactions",
    as_of: pd.Timestamp | str | None = None,
    date_format: str | None = None,
    max_invalid_share: float | None = None,
    allow_zero_price: bool = False,
    consume: bool = False,
    options: LoadOptions | None = None,
    duplicate: np.ndarray | None = None,
    part: np.ndarray | None = None,
    part_names: list[str] | None = None,
    now=None,
    source_names: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Canonicalise mapped transactions and split them into used and quarantined rows.

    Args:
        raw: transactions with canonical column names (after ``io.map_columns``); values may
            still be text.
        source: file or dataset name, for error messages.
        as_of: rows with a timestamp after this moment are quarantined (``after_as_of``).
            A date without time means the end of that day.
        date_format, max_invalid_share: shortcuts for the same fields of ``options``.
        allow_zero_price: count zero-value lines as purchases (CDNOW's $0 orders, which the
            published BTYD fits include); negative prices are always quarantined.
        consume: drop the columns of ``raw`` once they have been read (``raw`` is left
            without columns), so that a loader which owns ``raw`` does not hold the input
            and the output in memory at the same time. Results are the same.
        options: reading and cleaning settings (``LoadOptions``).
        duplicate: bool array (n,) of rows that repeat an earlier row over *all* the source
            file's columns (``duplicated_rows`` of the unmapped file); default: over ``raw``.
        part, part_names: sheet of every row (int array (n,) into ``part_names``) when the
            rows come from several sheets: the report then has an accounting per sheet.
        now: the current moment for the ``future_timestamp`` rule (default: the clock).
        source_names: canonical -> the file's column names, so messages use the user's names.

    Returns:
        (transactions, quarantine, report): canonical used rows; quarantined rows with
        ``source_row``, ``quarantine_reason`` and ``raw_<column>`` (the text of fields that
        could not be read); the accounting dict (+ ``warnings`` and ``detected`` formats).
    """
    options = _effective_options(options, date_format, max_invalid_share)
    n = len(raw)
    if duplicate is None:
        duplicate = duplicated_rows(raw)
    parsed = _parse_transaction_fields(raw, source, options, source_names)
    frame = _transaction_frame(raw, parsed, source)
    has_order_ids = bool(frame["order_id"].notna().any())
    if consume:
        raw.drop(columns=raw.columns, inplace=True)
    if not has_order_ids:
        # No order ids: one order per customer and timestamp.
        frame["order_id"] = (frame["customer_id"].fillna("guest") + "@"
                             + frame["timestamp"].astype("string").fillna("?"))
    masks = _transaction_masks(frame, parsed, duplicate, options, allow_zero_price,
                               has_order_ids, now)
    if as_of is not None:
        masks["after_as_of"] = frame["timestamp"] > end_of_day(as_of)
    codes = reason_codes(masks, QUARANTINE_RULES, n)
    del masks, duplicate
    report = _accounting_from_codes(n, codes, QUARANTINE_RULES)
    report.update(_parse_report(parsed, codes, QUARANTINE_RULES, source))
    if part is not None:
        report["parts"] = _part_accounting(codes, part, part_names, QUARANTINE_RULES)
    raw_text = {f"raw_{name}": p.raw_text for name, p in parsed.items()
                if p.raw_text is not None}
    transactions, quarantine = _split(frame, codes, QUARANTINE_RULES, raw_text, part,
                                      part_names)
    return contiguous_strings(in_time_order(transactions)), quarantine, report


MONEY_COLUMNS: tuple[str, ...] = ("quantity", "unit_price", "amount")


def _effective_options(options, date_format, max_invalid_share) -> LoadOptions:
    options = options or LoadOptions()
    changes = {}
    if date_format is not None:
        changes["date_format"] = date_format
    if max_invalid_share is not None:
        changes["max_bad_share"] = max_invalid_share
    return options.with_changes(**changes) if changes else options


@dataclass
class Field:
    """One parsed source column: values, unreadable and blank rows, raw text of both."""

    values: pd.Series
    bad: np.ndarray
    blank: np.ndarray
    detected: str = ""
    warnings: list[str] = dataclass_field(default_factory=list)
    raw_text: pd.Series | None = None
    """Source text of the unreadable or blank rows (<NA> elsewhere), for the quarantine."""


def _field(parsed: parsing.Parsed, raw: pd.Series, required: bool) -> Field:
    offending = parsed.bad | (parsed.blank if required else False)
    raw_text = None
    if offending.any():
        raw_text = pd.Series(pd.NA, index=raw.index, dtype="string")
        raw_text[offending] = raw[offending].astype("string").fillna("")
    return Field(parsed.values, parsed.bad, parsed.blank, parsed.detected,
                 list(parsed.warnings), raw_text)


def column_label(column: str, source_names: dict[str, str] | None) -> str:
    """How messages name a canonical column: with the file's own name when it differs
    (``Price (as unit_price)``)."""
    name = (source_names or {}).get(column)
    return column if name is None or str(name) == column else f"{name} (as {column})"


def _parse_transaction_fields(raw: pd.DataFrame, source: str, options: LoadOptions,
                              source_names: dict[str, str] | None = None
                              ) -> dict[str, Field]:
    """Parse the customer id, timestamp and money columns (``parsing``); refuse a column
    whose blank or unreadable rows exceed ``options.max_bad_share``. ``source_names``:
    canonical -> file column names, for messages."""
    label = {c: column_label(c, source_names) for c in raw.columns}
    fields = {
        "customer_id": _field(parsing.parse_ids(raw["customer_id"], label["customer_id"],
                                                source),
                              raw["customer_id"], required=False),
        "timestamp": _field(parsing.parse_dates(
            raw["timestamp"], label["timestamp"], source, date_format=options.date_format,
            timezone=options.timezone, max_bad_share=options.max_bad_share),
            raw["timestamp"], required=True),
    }
    for column in MONEY_COLUMNS:
        if column in raw:
            fields[column] = _field(parsing.parse_numbers(
                raw[column], label[column], source, decimal=options.decimal,
                max_bad_share=options.max_bad_share), raw[column], required=True)
    if "amount" not in fields and not {"quantity", "unit_price"} <= set(fields):
        raise DataError(
            f"{source}: needs an 'amount' column, or both 'quantity' and 'unit_price'; found "
            f"{', '.join(raw.columns)}. Map them with --columns, e.g. "
            '--columns "amount=Revenue" or "quantity=Qty,unit_price=Price"')
    for column, parsed in fields.items():
        if column != "customer_id":
            refuse_blank_or_bad(parsed, label[column], source, options.max_bad_share)
    return fields


def refuse_blank_or_bad(parsed: Field, column: str, source: str, max_bad_share: float) -> None:
    """DataError when more than ``max_bad_share`` of the rows of a required column are blank
    or unreadable: the file is then more likely mis-mapped or mis-exported than dirty."""
    n = len(parsed.values)
    bad = parsed.bad | parsed.blank
    if n and bad.sum() > max_bad_share * n:
        blank = int(parsed.blank.sum())
        shown = (examples(parsed.raw_text[parsed.bad])
                 if parsed.raw_text is not None and parsed.bad.any() else "")
        raise DataError(
            f"{where(source, column)}{int(bad.sum()):,} of {n:,} rows ({bad.mean():.1%}) are "
            f"blank ({blank:,}) or unreadable ({int(parsed.bad.sum()):,})"
            + (f", e.g. {shown}" if shown else "")
            + f"; at most {max_bad_share:.1%} may be quarantined. Fill the column in the "
            "export, map another column with --columns, or raise --max-bad-share if these "
            "rows should be set aside.")


def _transaction_frame(raw: pd.DataFrame, parsed: dict[str, Field], source: str
                       ) -> pd.DataFrame:
    """The canonical columns (schema.TRANSACTION_COLUMNS) from the parsed fields."""
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = parsed["customer_id"].values
    has_order_ids = "order_id" in raw and raw["order_id"].notna().any()
    frame["order_id"] = _optional_string(raw, "order_id", has_order_ids)
    frame["timestamp"] = parsed["timestamp"].values
    for column in ("product_id", "product_name"):
        frame[column] = _optional_string(raw, column)
    numbers = {c: parsed[c].values for c in MONEY_COLUMNS if c in parsed}
    if {"quantity", "unit_price"} <= set(numbers):
        frame["quantity"] = numbers["quantity"]
        frame["unit_price"] = numbers["unit_price"]
        frame["amount"] = frame["quantity"] * frame["unit_price"]
    else:
        frame["quantity"] = numbers.get("quantity", pd.Series(1.0, index=raw.index))
        frame["amount"] = numbers["amount"]
        frame["unit_price"] = frame["amount"] / frame["quantity"].where(frame["quantity"] != 0)
    frame["country"] = _optional_string(raw, "country")
    return frame


def _transaction_masks(frame: pd.DataFrame, parsed: dict[str, Field], duplicate,
                       options: LoadOptions, allow_zero_price: bool, has_order_ids: bool,
                       now) -> dict:
    """One bool mask per quarantine rule (``QUARANTINE_RULES``; ``after_as_of`` apart)."""
    money = [parsed[c] for c in MONEY_COLUMNS if c in parsed]
    timestamp = parsed["timestamp"]
    price_bad = ((frame["unit_price"] < 0) | (frame["amount"] < 0) if allow_zero_price
                 else (frame["unit_price"] <= 0) | (frame["amount"] <= 0))
    return {
        "unparsable_timestamp": timestamp.bad,
        "missing_timestamp": timestamp.blank,
        "future_timestamp": parsing.future_timestamps(
            frame["timestamp"], now=now, gap_days=options.future_gap_days),
        "unparsable_number": np.logical_or.reduce([f.bad for f in money]),
        "missing_number": np.logical_or.reduce([f.blank for f in money]),
        "missing_customer_id": frame["customer_id"].isna(),
        "cancellation": _cancellations(frame, options.cancellation_rule)
        if has_order_ids else None,
        "return": frame["quantity"] <= 0,
        "non_positive_price": price_bad,
        "non_product_code": mask_chunks(frame["product_id"], _is_non_product_code),
        "duplicate_row": duplicate,
    }


def _cancellations(frame: pd.DataFrame, prefix: str | None) -> np.ndarray | None:
    """Cancellation lines: the order id starts with ``prefix`` (case-insensitive) AND the
    quantity is zero or less (Online Retail II's ``C`` invoices). A shop numbering its orders
    ``CN-1001`` keeps its orders: their quantities are positive."""
    if not prefix:
        return None
    prefix = prefix.upper()
    starts = mask_chunks(frame["order_id"], lambda ids: ids.str.upper().str.startswith(prefix))
    return starts & (frame["quantity"] <= 0).to_numpy(dtype=bool, na_value=False)


def _parse_report(parsed: dict[str, Field], codes: np.ndarray, rules: tuple[str, ...],
                  source: str) -> dict:
    """What the parsing detected per column and the warnings a user must see (printed by
    the CLI): detected formats, mixed offsets, future timestamps set aside."""
    warnings = [w for f in parsed.values() for w in f.warnings]
    future = int((codes == rules.index("future_timestamp") + 1).sum())
    if future:
        warnings.append(
            f"{source}: {future:,} row(s) with a timestamp after today or far after the rest "
            "of the data quarantined as future_timestamp (see quarantine.parquet); they do "
            "not move the as-of date")
    return {"detected": {name: f.detected for name, f in parsed.items() if f.detected},
            "warnings": warnings}


def _part_accounting(codes: np.ndarray, part: np.ndarray, part_names, rules) -> dict:
    """Accounting per sheet: ``{sheet: {rows_in, rows_used, quarantined}}``."""
    part = np.asarray(part)
    names = list(part_names) if part_names is not None else [str(i) for i in np.unique(part)]
    return {name: _accounting_from_codes(int((part == i).sum()), codes[part == i], rules)
            for i, name in enumerate(names)}


def _is_non_product_code(product_id: pd.Series) -> pd.Series:
    return product_id.str.upper().str.fullmatch(NON_PRODUCT_CODE_PATTERN)


def end_of_day(as_of) -> pd.Timestamp:
    """An as-of date without a time covers the whole day."""
    ts = pd.Timestamp(as_of)
    if ts == ts.normalize():
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts


def clean_customers(
    raw: pd.DataFrame, source: str = "customers", options: LoadOptions | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Canonicalise customer profiles; quarantine rows without an id and repeated ids.

    A profile whose sign-up date cannot be read is kept (a lead is still a lead) with no
    sign-up date, and the report's ``warnings`` say how many."""
    options = options or LoadOptions()
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = parsing.parse_ids(raw["customer_id"], "customer_id", source).values
    for column in ("email", "first_name", "last_name", "gender", "country"):
        frame[column] = _optional_string(raw, column)
    warnings = []
    if "signup_at" in raw:
        signup = parsing.parse_dates(raw["signup_at"], "signup_at", source,
                                     timezone=options.timezone,
                                     max_bad_share=options.max_bad_share)
        frame["signup_at"] = signup.values
        if signup.bad.any():
            warnings.append(f"{where(source, 'signup_at')}{int(signup.bad.sum()):,} unreadable "
                            f"sign-up dates kept as unknown, e.g. "
                            f"{examples(raw['signup_at'][signup.bad])}")
    else:
        frame["signup_at"] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if "email_opt_in" in raw:
        text = raw["email_opt_in"].astype("string").str.strip().str.lower()
        frame["email_opt_in"] = text.map(
            {
                "true": True,
                "1": True,
                "yes": True,
                "y": True,
                "1.0": True,
                "false": False,
                "0": False,
                "no": False,
                "n": False,
                "0.0": False,
            }
        ).astype("boolean")
    else:
        frame["email_opt_in"] = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    masks = {
        "missing_customer_id": frame["customer_id"].isna(),
        "duplicate_customer_id": frame["customer_id"].duplicated(keep="first")
        & frame["customer_id"].notna(),
    }
    codes = reason_codes(masks, CUSTOMER_QUARANTINE_RULES, len(raw))
    del masks
    report = _accounting_from_codes(len(raw), codes, CUSTOMER_QUARANTINE_RULES)
    report["warnings"] = warnings
    customers, quarantine = _split(frame, codes, CUSTOMER_QUARANTINE_RULES)
    return customers, quarantine, report


def clean_events(
    raw: pd.DataFrame, source: str = "events", as_of=None, consume: bool = False,
    options: LoadOptions | None = None, duplicate: np.ndarray | None = None, now=None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Canonicalise events; quarantine unknown event types, missing ids, duplicates, future.

    ``consume``: drop the columns of ``raw`` once read, as in ``clean_transactions``;
    ``options``, ``duplicate``, ``now``: as in ``clean_transactions`` (the date format is
    inferred: an events export may use another one than the orders).
    """
    options = options or LoadOptions()
    if duplicate is None:
        duplicate = duplicated_rows(raw)
    n = len(raw)
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = parsing.parse_ids(raw["customer_id"], "customer_id", source).values
    timestamp = _field(parsing.parse_dates(raw["timestamp"], "timestamp", source,
                                           timezone=options.timezone,
                                           max_bad_share=options.max_bad_share),
                       raw["timestamp"], required=True)
    refuse_blank_or_bad(timestamp, "timestamp", source, options.max_bad_share)
    frame["timestamp"] = timestamp.values
    frame["event_type"] = map_chunks(raw["event_type"], _lower_stripped)
    frame["product_id"] = _optional_string(raw, "product_id")
    if consume:
        raw.drop(columns=raw.columns, inplace=True)
    known = frame["event_type"].isin(EVENT_TYPES).fillna(False)
    if not known.any():
        raise DataError(
            f"{where(source, 'event_type')}none of the {len(frame):,} event types is known, "
            f"e.g. {examples(frame['event_type'].dropna())}; expected "
            f"{', '.join(EVENT_TYPES)}. Rename the values in the export."
        )
    masks = {
        "unparsable_timestamp": timestamp.bad,
        "missing_timestamp": timestamp.blank,
        "future_timestamp": parsing.future_timestamps(frame["timestamp"], now=now,
                                                      gap_days=options.future_gap_days),
        "missing_customer_id": frame["customer_id"].isna(),
        "unknown_event_type": ~known,
        "duplicate_row": duplicate,
    }
    if as_of is not None:
        masks["after_as_of"] = frame["timestamp"] > end_of_day(as_of)
    codes = reason_codes(masks, EVENT_QUARANTINE_RULES, n)
    del masks, duplicate
    report = _accounting_from_codes(n, codes, EVENT_QUARANTINE_RULES)
    report.update(_parse_report({"timestamp": timestamp}, codes, EVENT_QUARANTINE_RULES, source))
    raw_text = {"raw_timestamp": timestamp.raw_text} if timestamp.raw_text is not None else {}
    events, quarantine = _split(frame, codes, EVENT_QUARANTINE_RULES, raw_text)
    return contiguous_strings(in_time_order(events)), quarantine, report
