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


CHUNK_ROWS = 1 << 20
"""Rows per slice for element-wise string operations on big columns (bounds the temporaries)."""


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


def _customer_id_text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    text = text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return text.mask(text.str.lower().isin(["", "nan", "none", "null", "na", "n/a", "-"]))


def customer_id_to_string(values: pd.Series) -> pd.Series:
    """Customer ids as strings: ``12346.0`` -> ``"12346"``, blanks -> <NA>."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            return values.astype("Int64").astype("string")
    return map_chunks(values, _customer_id_text)


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


ROW_HASH_BITS = 64
_MIX_SHIFTS_AND_FACTORS = ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB))


def _mix64(values: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser applied in place to a uint64 array (``scratch``: same shape)."""
    for shift, factor in _MIX_SHIFTS_AND_FACTORS:
        np.right_shift(values, np.uint64(shift), out=scratch)
        np.bitwise_xor(values, scratch, out=values)
        np.multiply(values, np.uint64(factor), out=values)
    np.right_shift(values, np.uint64(31), out=scratch)
    np.bitwise_xor(values, scratch, out=values)
    return values


_MISSING_HASH = np.uint64(0x5BD1E9955BD1E995)


def value_hashes(column: pd.Series, out: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """A uint64 hash of every value of ``column`` written into ``out`` (shape
    ``(len(column),)``), equal for values that ``DataFrame.duplicated`` treats as equal.

    Arrow strings, floats, integers, booleans and naive datetimes are hashed value by value,
    slice by slice (temporaries bounded by ``chunk_rows`` rows): strings by their bytes
    (missing values share one hash), floats with -0.0 as 0.0 and every NaN alike (as pandas'
    hash tables compare them). Other dtypes are factorized as ``duplicated`` does and the
    codes hashed.
    """
    dtype = column.dtype
    n = len(column)
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        import pyarrow.compute as pc

        start = 0
        for chunk in column.array.__arrow_array__().chunks:
            for offset in range(0, len(chunk), chunk_rows):
                piece = chunk.slice(offset, chunk_rows)
                stop = start + len(piece)
                encoded = pc.dictionary_encode(piece)
                unique_hashes = pd.util.hash_array(
                    encoded.dictionary.to_numpy(zero_copy_only=False), categorize=False
                )
                if len(unique_hashes):
                    codes = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
                    out[start:stop] = unique_hashes[codes]
                missing = piece.is_null().to_numpy(zero_copy_only=False)
                out[start:stop][missing] = _MISSING_HASH
                start = stop
        return out
    kind = dtype.kind if isinstance(dtype, np.dtype) else None
    if kind in ("f", "i", "u", "b", "M", "m"):
        values = column.to_numpy(copy=False)
        for start in range(0, n, chunk_rows):
            piece = values[start : start + chunk_rows]
            if kind == "f":
                piece = piece.astype(np.float64) + 0.0  # -0.0 -> 0.0
                piece[np.isnan(piece)] = np.nan  # one NaN bit pattern
                bits = piece.view(np.uint64)
            elif kind in ("M", "m"):
                bits = piece.view(np.int64).astype(np.uint64)
            else:
                bits = piece.astype(np.uint64)
            out[start : start + len(piece)] = bits
        return out
    np.copyto(out, column.factorize()[0], casting="unsafe")
    return out


def row_hashes(frame: pd.DataFrame, bits: int = ROW_HASH_BITS) -> np.ndarray:
    """One uint64 hash per row of ``frame`` (shape ``(len(frame),)``), equal for rows that
    ``DataFrame.duplicated`` considers equal (see ``value_hashes``).

    The column hashes are mixed (splitmix64) and combined per row in place (three uint64
    arrays of the frame's length at a time). ``bits`` < 64 keeps only the low bits: more
    collisions, used by tests to check that collisions are resolved exactly.
    """
    out = np.zeros(len(frame), dtype=np.uint64)
    scratch, work = np.empty_like(out), np.empty_like(out)
    for i, (_, column) in enumerate(frame.items()):
        value_hashes(column, work)
        # A different offset per column: equal values in two columns mix differently.
        np.add(work, np.uint64((0x9E3779B97F4A7C15 * (i + 1)) % 2**64), out=work)
        _mix64(work, scratch)
        np.multiply(out, np.uint64(0x100000001B3), out=out)
        np.bitwise_xor(out, work, out=out)
    del work
    _mix64(out, scratch)
    del scratch
    if bits < 64:
        np.bitwise_and(out, np.uint64((1 << bits) - 1), out=out)
    return out


def duplicated_rows(frame: pd.DataFrame, hash_bits: int = ROW_HASH_BITS) -> np.ndarray:
    """``frame.duplicated(keep="first")`` as a bool ndarray of shape ``(len(frame),)``,
    with much less memory and time on big frames.

    Rows are hashed once (``row_hashes``); only rows whose hash occurs more than once are
    candidates, and those are compared exactly on all columns with ``DataFrame.duplicated``,
    so a hash collision never marks a distinct row. Missing values (NaN, None, <NA>, NaT)
    are equal to each other, as in pandas.
    """
    n = len(frame)
    if n == 0 or frame.shape[1] == 0:
        return frame.duplicated(keep="first").to_numpy(dtype=bool)
    hashes = row_hashes(frame, hash_bits)
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered
    out = np.zeros(n, dtype=bool)
    if repeated.size:
        candidates = np.flatnonzero(pd.Series(hashes, copy=False).isin(np.unique(repeated)))
        exact = frame.iloc[candidates].duplicated(keep="first").to_numpy(dtype=bool)
        out[candidates[exact]] = True
    return out


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
        parsed = _as_ns(parsed)
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
    parsed = _as_ns(parsed)
    unreadable = present & parsed.isna()
    if unreadable.mean() > max_invalid_share:
        raise DataError(
            f"{where(source, column)}{int(unreadable.sum()):,} timestamps could not be read, "
            f"e.g. {examples(values[unreadable])}."
        )
    return parsed


def _as_ns(values: pd.Series) -> pd.Series:
    """datetime64[ns]; no copy when it already is (``astype`` always copies datetimes)."""
    return values if values.dtype == "datetime64[ns]" else values.astype("datetime64[ns]")


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
    frame: pd.DataFrame, codes: np.ndarray, rules: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(used rows with a fresh RangeIndex, quarantined rows with ``source_row`` and
    ``quarantine_reason``). Empties ``frame`` column by column while the used rows are
    taken, so each input column can be freed as soon as it is copied (when nothing else
    holds it); when every row is used, the columns are passed on without a copy."""
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
    quarantine = quarantine.reset_index(names="source_row")
    if used.all():
        return frame.reset_index(drop=True), quarantine
    kept = {}
    for name in list(frame.columns):
        kept[name] = _filter_rows(frame.pop(name), used)
    return pd.DataFrame(kept, copy=False), quarantine


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
    max_invalid_share: float = 0.01,
    allow_zero_price: bool = False,
    consume: bool = False,
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
        consume: drop the columns of ``raw`` once they have been read (``raw`` is left
            without columns), so that a loader which owns ``raw`` does not hold the input
            and the output in memory at the same time. Results are the same.

    Returns:
        (transactions, quarantine, report): canonical used rows; quarantined rows with a
        ``quarantine_reason`` column; the accounting dict.
    """
    n = len(raw)
    duplicate = duplicated_rows(raw)
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = customer_id_to_string(raw["customer_id"])
    has_order_ids = "order_id" in raw and raw["order_id"].notna().any()
    frame["order_id"] = _optional_string(raw, "order_id", has_order_ids)
    frame["timestamp"] = parse_timestamps(
        raw["timestamp"], "timestamp", source, date_format, max_invalid_share
    )
    for column in ("product_id", "product_name"):
        frame[column] = _optional_string(raw, column)
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
    del numbers
    frame["country"] = _optional_string(raw, "country")
    if consume:
        raw.drop(columns=raw.columns, inplace=True)
    if not has_order_ids:
        # No order ids: one order per customer and timestamp.
        frame["order_id"] = (
            frame["customer_id"].fillna("guest")
            + "@"
            + frame["timestamp"].astype("string").fillna("?")
        )

    money_bad = frame["amount"].isna() | frame["quantity"].isna()
    masks = {
        "unparsable_timestamp": frame["timestamp"].isna(),
        "unparsable_number": money_bad,
        "missing_customer_id": frame["customer_id"].isna(),
        "cancellation": mask_chunks(frame["order_id"], _is_cancellation) & has_order_ids,
        "return": frame["quantity"] <= 0,
        "non_positive_price": (frame["unit_price"] < 0) | (frame["amount"] < 0)
        if allow_zero_price
        else (frame["unit_price"] <= 0) | (frame["amount"] <= 0),
        "non_product_code": mask_chunks(frame["product_id"], _is_non_product_code),
        "duplicate_row": duplicate,
    }
    if as_of is not None:
        masks["after_as_of"] = frame["timestamp"] > end_of_day(as_of)
    codes = reason_codes(masks, QUARANTINE_RULES, n)
    del masks, money_bad, duplicate
    report = _accounting_from_codes(n, codes, QUARANTINE_RULES)
    transactions, quarantine = _split(frame, codes, QUARANTINE_RULES)
    return transactions, quarantine, report


def _is_cancellation(order_id: pd.Series) -> pd.Series:
    return order_id.str.upper().str.startswith("C")


def _is_non_product_code(product_id: pd.Series) -> pd.Series:
    return product_id.str.upper().str.fullmatch(NON_PRODUCT_CODE_PATTERN)


def end_of_day(as_of) -> pd.Timestamp:
    """An as-of date without a time covers the whole day."""
    ts = pd.Timestamp(as_of)
    if ts == ts.normalize():
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts


def clean_customers(
    raw: pd.DataFrame, source: str = "customers"
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Canonicalise customer profiles; quarantine rows without an id and repeated ids."""
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = customer_id_to_string(raw["customer_id"])
    for column in ("email", "first_name", "last_name", "gender", "country"):
        frame[column] = _optional_string(raw, column)
    if "signup_at" in raw:
        frame["signup_at"] = parse_timestamps(raw["signup_at"], "signup_at", source)
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
    customers, quarantine = _split(frame, codes, CUSTOMER_QUARANTINE_RULES)
    return customers, quarantine, report


def clean_events(
    raw: pd.DataFrame, source: str = "events", as_of=None, consume: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Canonicalise events; quarantine unknown event types, missing ids, duplicates, future.

    ``consume``: drop the columns of ``raw`` once read, as in ``clean_transactions``.
    """
    duplicate = duplicated_rows(raw)
    n = len(raw)
    frame = pd.DataFrame(index=raw.index)
    frame["customer_id"] = customer_id_to_string(raw["customer_id"])
    frame["timestamp"] = parse_timestamps(raw["timestamp"], "timestamp", source)
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
        "unparsable_timestamp": frame["timestamp"].isna(),
        "missing_customer_id": frame["customer_id"].isna(),
        "unknown_event_type": ~known,
        "duplicate_row": duplicate,
    }
    if as_of is not None:
        masks["after_as_of"] = frame["timestamp"] > end_of_day(as_of)
    codes = reason_codes(masks, EVENT_QUARANTINE_RULES, n)
    del masks, duplicate
    report = _accounting_from_codes(n, codes, EVENT_QUARANTINE_RULES)
    events, quarantine = _split(frame, codes, EVENT_QUARANTINE_RULES)
    return events, quarantine, report
