"""Column parsers for order exports: one format per column, inferred from all of its values.

Each parser returns a ``Parsed`` (values, ``bad`` and ``blank`` masks, what was detected,
warnings) or raises ``DataError`` with the file, the column, a few examples, the count and
the fix. They never guess silently: a column whose day/month order or decimal separator
cannot be told from its values is refused, and the message names the option that settles it.

Work is vectorised (pyarrow.compute / numpy); no column is turned into Python objects.
Text columns are read in slices of ``cleaning.CHUNK_ROWS`` rows; each slice is
dictionary-encoded first (unless its values are mostly distinct), so the work runs once per
distinct value (order lines repeat their timestamp and prices) and is expanded back to the
rows with one ``take``. Dates go further: the date pattern is matched once per distinct
*shape* (digits replaced by 9) and the fields are read at their positions from the string
buffers, so a column of millions of distinct timestamps costs a few numpy passes. Evidence
(day/month order, layouts, decimal separators, epoch units) is summed over all slices
before anything is decided.

Dates (``parse_dates``):

* one layout per column: ISO 8601 (``2011-06-09``, ``2011-06-09 14:30``, ``T``, fractional
  seconds, ``Z``/``UTC``/``+01:00``/``+0100`` offsets; also ``2011/06/09``, ``2011.06.09``),
  ``d/m/Y`` or ``m/d/Y`` with ``/ - .`` separators and 4- or 2-digit years (00-68 -> 20xx,
  69-99 -> 19xx), optional ``H:M[:S[.f]]`` with or without AM/PM, ``YYYYMMDD``, and epoch
  numbers (seconds, milliseconds, microseconds or nanoseconds since 1970, told apart by
  magnitude). The layout of most values wins; values in another layout are ``bad``.
* day/month order from evidence in the whole column: a value that is a valid date only day
  first (``13/02/2011``) or only month first (``02/13/2011``). Both kinds -> DataError
  (mixed orders); neither while some value reads differently both ways -> DataError
  (ambiguous), unless ``date_format`` is given. Every value with day == month is fine.
* offsets: converted to ``timezone`` and made naive; values without an offset are taken as
  already in ``timezone``.
* impossible dates: before 1990-01-01, more than ``max_bad_share`` of the present values ->
  DataError (a wrong format or unit), fewer are ``bad``; after 2100-01-01 (mistyped years),
  kept so that ``future_timestamps`` flags them, unless they are most of the column
  (``_MAX_LATE_SHARE``) -> DataError.
* more than ``max_bad_share`` of the present values unreadable -> DataError.

Numbers (``parse_numbers``), ids (``parse_ids``) and ``future_timestamps``: see their
docstrings.

Why by hand rather than ``pd.to_datetime`` / ``pd.to_numeric`` alone: those libraries parse
one given format, or guess one per call (``dayfirst`` is a hint, not a rule, and a
``"1,000"`` with ``thousands=","`` and ``"1,5"`` cannot both be read); they do not report
the *evidence* (which values settle day/month order or the decimal separator) that lets a
column be refused instead of misread. The readings here are checked against them: with a
format given, ``pd.to_datetime(format=...)`` does the parsing itself, and the tests compare
the inferred readings with ``pd.to_datetime`` / ``float`` on random values
(``tests/test_parsing.py``).
"""

from __future__ import annotations

import re
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import cleaning as _cleaning
from .errors import DataError, examples, where

MIN_PLAUSIBLE_DATE = pd.Timestamp("1990-01-01")
MAX_PLAUSIBLE_DATE = pd.Timestamp("2100-01-01")
"""Dates outside this range are impossible in an order log (same as ``cleaning``)."""

_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds
_DAY_NS = 86_400 * 10**9
_LO_NS = MIN_PLAUSIBLE_DATE.as_unit("ns").value
_HI_NS = MAX_PLAUSIBLE_DATE.as_unit("ns").value
_MAX_NS = pd.Timestamp.max.as_unit("ns").value - _DAY_NS  # latest date kept (2262-04-10)
_MAX_LATE_SHARE = 0.5
"""Dates after 2100 are typos (kept for ``future_timestamps``) unless they are more than
this share of the column: then the format or unit is wrong."""
_STRING = pd.StringDtype("pyarrow")
_SAMPLE_ROWS = 1 << 16
_BLANK_TOKENS = ("", "nan", "nat", "none", "null", "na", "n/a", "-")
"""Cell contents that mean "no value" (compared lower-case, after stripping)."""


@dataclass
class Parsed:
    """A parsed column.

    Attributes:
        values: parsed values, same index (and length n) as the input.
        bad: bool array (n,), True where a present value could not be parsed (unreadable,
            non-finite, or not in the column's format); its value is missing.
        blank: bool array (n,), True where the input is empty or missing.
        detected: what was inferred, e.g. ``"%d/%m/%Y %H:%M"``, ``"epoch milliseconds"``,
            ``"decimal ',' thousands '.'"``.
        warnings: notes for the user (mixed offsets, values left unread, ...).
    """

    values: pd.Series
    bad: np.ndarray
    blank: np.ndarray
    detected: str
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- shared helpers


class _Tally:
    """Row counts and the first few example values per key, summed over slices."""

    def __init__(self, limit: int = 5):
        self.counts: Counter = Counter()
        self.samples: dict = {}
        self.limit = limit
        self.offsets: set[int] = set()
        self.currencies: set[str] = set()

    def add(self, key, mask: np.ndarray, rows: np.ndarray, uniques: pa.Array) -> None:
        """Count the rows of the distinct values in ``mask`` (bool (k,)); ``rows`` (k,) is
        the number of rows per distinct value, ``uniques`` the values (k,)."""
        n = int(rows[mask].sum())
        if not n:
            return
        self.counts[key] += n
        have = self.samples.setdefault(key, [])
        if len(have) < self.limit:
            index = np.flatnonzero(mask & (rows > 0))[: self.limit - len(have)]
            have.extend(uniques.take(pa.array(index)).to_pylist())

    def examples(self, *keys) -> str:
        found = [v for key in keys for v in self.samples.get(key, [])]
        return examples(found, self.limit)


def _is_arrow_string(dtype) -> bool:
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def _text_slices(values: pd.Series):
    """(start, pyarrow string Array) for consecutive slices of at most ``CHUNK_ROWS`` rows;
    non-string input is converted slice by slice (``astype("string")``)."""
    rows = _cleaning.CHUNK_ROWS
    chunked = values.array.__arrow_array__() if _is_arrow_string(values.dtype) else None
    for start in range(0, len(values), rows):
        if chunked is not None:
            piece = chunked.slice(start, rows)
        else:
            piece = values.iloc[start : start + rows].astype(_STRING).array.__arrow_array__()
        yield start, piece.combine_chunks() if isinstance(piece, pa.ChunkedArray) else piece


def _encode(piece: pa.Array) -> tuple[np.ndarray | None, pa.Array, np.ndarray]:
    """Dictionary-encode a slice: (codes int32 (rows,), stripped distinct values (k,),
    rows per distinct value int64 (k,)). Missing cells map to a trailing ``""`` entry.

    A slice whose first ``_SAMPLE_ROWS`` rows are mostly distinct is not encoded: codes are
    None and the "distinct values" are the rows (hashing would cost more than it saves)."""
    sample = piece.slice(0, _SAMPLE_ROWS)
    if len(pc.unique(sample)) > 0.5 * len(sample) and len(piece) > _SAMPLE_ROWS:
        uniques = pc.fill_null(pc.utf8_trim_whitespace(piece), "")
        return None, uniques.cast(pa.large_string()), np.ones(len(piece), dtype=np.int64)
    encoded = pc.dictionary_encode(piece)
    uniques = pc.utf8_trim_whitespace(encoded.dictionary).cast(pa.large_string())
    k = len(uniques)
    uniques = pa.concat_arrays([uniques, pa.array([""], pa.large_string())])
    codes = encoded.indices.fill_null(k).to_numpy(zero_copy_only=False).astype(np.int32)
    return codes, uniques, np.bincount(codes, minlength=k + 1)


def _blank_text(uniques: pa.Array, tokens=_BLANK_TOKENS) -> np.ndarray:
    """bool (k,): the value is empty or a missing-value token."""
    return pc.is_in(pc.utf8_lower(uniques), value_set=pa.array(tokens)).to_numpy(
        zero_copy_only=False
    )


def _string_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start int64 (k,), length int64 (k,), bytes uint8) of a pyarrow string array, read
    from its buffers without copying the bytes."""
    kind = np.int64 if pa.types.is_large_string(text.type) else np.int32
    _, offsets, data = text.buffers()
    offsets = np.frombuffer(offsets, dtype=kind)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    if not data.size:
        data = np.zeros(1, dtype=np.uint8)
    starts = offsets[:-1].astype(np.int64)
    return starts, np.diff(offsets).astype(np.int64), data


def _field_code(parts: pa.StructArray, name: str, choices: str) -> np.ndarray:
    """Index in ``choices`` (one character each, case-insensitive) of the first character
    captured by group ``name`` as int64 (k,); -1 where the group is empty."""
    table = np.full(256, -1, dtype=np.int64)
    for i, char in enumerate(choices):
        table[ord(char.lower())] = table[ord(char.upper())] = i
    starts, lengths, data = _string_buffers(parts.field(name))
    first = data[np.minimum(starts, len(data) - 1)]
    return np.where(lengths > 0, table[first], -1)


def _check_timezone(timezone: str) -> None:
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise DataError(
            f"unknown time zone {timezone!r}: use an IANA name such as 'UTC' or "
            "'Europe/London' (config key timezone)."
        ) from None


# ------------------------------------------------------------------------------------ dates

_SEPARATORS = "-/."
_UNREADABLE, _BLANK, _NUMBER, _COMPACT, _EXACT = 0, 1, 2, 3, 13
# 4 + i: year first, separator i; 7 + i: day/month first, 4-digit year; 10 + i: 2-digit year
_YEAR_FIRST, _FOUR_DIGIT, _TWO_DIGIT = 4, 7, 10

_DATE_PATTERN = (
    r"^(?:(?:"
    r"(?P<Y>\d{4})(?P<s1>[-/.])(?P<Ym>\d{1,2})(?P<s2>[-/.])(?P<Yd>\d{1,2})"
    r"|(?P<p>\d{1,2})(?P<s3>[-/.])(?P<q>\d{1,2})(?P<s4>[-/.])(?P<y>\d{4}|\d{2})"
    r"|(?P<c8>\d{8}))"
    r"(?:(?:T|\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?"
    r"(?:\s*(?P<ap>[AaPp])\.?[Mm]\.?)?)?"
    r"\s*(?P<Z>Z|UTC|GMT|(?P<zs>[+-])(?P<zh>\d{2})(?::?(?P<zm>\d{2}))?)?"
    r"|(?P<ni>\d+)(?:\.(?P<nf>\d+))?)$"
)
_DATE_RE = re.compile(_DATE_PATTERN, re.ASCII)
_DIGIT_GROUPS = ("Y", "Ym", "Yd", "p", "q", "y", "c8", "H", "M", "S", "F", "zh", "zm", "ni", "nf")
_CHAR_GROUPS = {"s1": _SEPARATORS, "s2": _SEPARATORS, "s3": _SEPARATORS, "s4": _SEPARATORS}
_CHAR_GROUPS |= {"ap": "AP", "zs": "-+"}
_TIME_FORMATS = ("", "%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "", "%I:%M %p", "%I:%M:%S %p")
_TIME_FORMATS += ("%I:%M:%S.%f %p",)
_EPOCH_UNITS = (("seconds", 10**9), ("milliseconds", 10**6), ("microseconds", 10**3))
_EPOCH_UNITS += (("nanoseconds", 1),)
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@dataclass
class _DateSlice:
    """One slice of rows starting at ``start``: ``codes`` (int32 (rows,): the distinct value
    of each row; None when the slice was not encoded, one value per row), and per distinct
    value its layout code (int8 (k,)), the day-first (``a``) and month-first (``b``)
    readings as int64 ns (k,; NaT when invalid or implausible; ``b`` None when the slice
    has no d/m or m/d value), and the epoch number (float64 (k,); None when there is none)."""

    start: int
    codes: np.ndarray | None
    layout: np.ndarray
    ns_a: np.ndarray
    ns_b: np.ndarray | None
    number: np.ndarray | None


@dataclass
class _DateChoice:
    layout: int
    reading: str = "a"  # "a": day first (or the only reading), "b": month first
    unit: int = 0  # ns per epoch unit
    detected: str = ""
    timezone: str = "UTC"  # epoch numbers (UTC instants) are converted to it


def _civil_days(year: np.ndarray, month: np.ndarray, day: np.ndarray):
    """Days since 1970-01-01 of proleptic Gregorian dates (int64 arrays of shape (k,)) and a
    bool (k,) that is False for impossible dates (month 13, 30 February, ...)."""
    valid = (month >= 1) & (month <= 12) & (day >= 1)
    m = np.clip(month, 1, 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    valid &= day <= _DAYS_IN_MONTH[m - 1] + (leap & (m == 2))
    y = year - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468, valid


def _shapes(text: pa.Array) -> pa.Array:
    """``text`` (k,) with every ASCII digit replaced by ``9``: all the date pattern looks at
    (its groups then sit at the same positions in the value)."""
    validity, offsets, data = text.buffers()
    if data is None:
        return text
    raw = np.frombuffer(data, dtype=np.uint8)
    shape = np.where((raw >= 48) & (raw <= 57), np.uint8(57), raw)
    buffers = [validity, offsets, pa.py_buffer(shape)]
    return pa.Array.from_buffers(text.type, len(text), buffers, offset=text.offset)


def _shape_table(shapes: list[str]) -> dict[str, np.ndarray]:
    """``_DATE_RE`` applied to each distinct shape (a Python loop over the few shapes of a
    column): ``matched`` (bool), per digit group its position ``<g>_at`` and length
    ``<g>_len`` (0 when absent), per one-character group the index of the character in
    ``_CHAR_GROUPS[g]`` (-1 when absent), and ``Z`` (an offset or UTC designator is given).
    Arrays of shape (number of shapes,)."""
    n = len(shapes)
    table = {"matched": np.zeros(n, dtype=bool), "Z": np.zeros(n, dtype=bool)}
    for group in _DIGIT_GROUPS:
        table[group + "_at"] = np.zeros(n, dtype=np.int64)
        table[group + "_len"] = np.zeros(n, dtype=np.int64)
    for group in _CHAR_GROUPS:
        table[group] = np.full(n, -1, dtype=np.int64)
    for i, shape in enumerate(shapes):
        match = _DATE_RE.fullmatch(shape)
        if match is None:
            continue
        table["matched"][i] = True
        table["Z"][i] = bool(match.group("Z"))
        for group in _DIGIT_GROUPS:
            start, end = match.span(group)
            if start >= 0:
                table[group + "_at"][i], table[group + "_len"][i] = start, end - start
        for group, choices in _CHAR_GROUPS.items():
            if match.group(group):
                table[group][i] = choices.find(match.group(group).upper())
    return table


def _digits_at(data: np.ndarray, at: np.ndarray, length: np.ndarray, dtype=np.int64):
    """The numbers written by ``length`` ASCII digits at byte ``at`` of ``data`` (arrays of
    shape (k,)), as ``dtype`` (k,); -1 where ``length`` is 0."""
    out = np.zeros(len(at), dtype=dtype)
    last = len(data) - 1
    for j in range(int(length.max(initial=0))):
        digit = data[np.minimum(at + j, last)].astype(dtype) - 48
        out = np.where(length > j, out * 10 + digit, out)
    return np.where(length > 0, out, -1)


def _date_parts(uniques: pa.Array) -> dict[str, np.ndarray]:
    """Every date field of the distinct values (k,) as int64 (-1 when absent), separator
    codes, the fraction in ns, AM/PM (0 none, 1 AM, 2 PM), the UTC offset in minutes
    (``has_offset``; NaT-valued when impossible), and all-digit values as float64 (else NaN).

    The pattern runs once per distinct *shape* (digits replaced by 9: ``12/03/2011 10:00``
    and ``25/12/2010 17:45`` share one), then each field is read at its position."""
    starts, _, data = _string_buffers(uniques)
    encoded = pc.dictionary_encode(_shapes(uniques))
    shape = encoded.indices.to_numpy(zero_copy_only=False)
    table = _shape_table(encoded.dictionary.to_pylist())
    k = len(uniques)

    def digits(group: str, dtype=np.int64, longest: int = 19) -> np.ndarray:
        if not table[group + "_len"].any():
            return np.full(k, -1, dtype=dtype)
        length = table[group + "_len"][shape]
        length = np.where(length <= longest, length, 0)
        return _digits_at(data, starts + table[group + "_at"][shape], length, dtype)

    out = {name: table[name][shape] for name in ("matched", "s1", "s2", "s3", "s4", "ap")}
    out |= {g: digits(g) for g in ("Y", "Ym", "Yd", "p", "q", "y", "c8", "H", "M", "S")}
    out["ap"] += 1
    out["y_digits"] = table["y_len"][shape]
    out["F_digits"] = table["F_len"][shape]
    out["F"] = np.maximum(digits("F"), 0) * 10 ** (9 - out["F_digits"])
    hours, minutes = np.maximum(digits("zh"), 0), np.maximum(digits("zm"), 0)
    offset = np.where(table["zs"][shape] == 0, -1, 1) * (hours * 60 + minutes)
    out["has_offset"] = table["Z"][shape]
    out["offset"] = np.where((hours <= 14) & (minutes < 60), offset, _NAT)
    fraction = np.maximum(digits("nf", longest=18), 0)
    fraction = fraction / 10.0 ** np.minimum(table["nf_len"][shape], 18)
    whole = digits("ni", np.float64, longest=20)
    out["number"] = np.where(whole >= 0, whole + fraction, np.nan)
    return out


def _date_layout(parts: dict[str, np.ndarray]) -> np.ndarray:
    """Layout code int8 (k,) of each distinct value (``_UNREADABLE`` when none matches)."""
    layout = np.full(len(parts["matched"]), _UNREADABLE, dtype=np.int8)
    year_first = (parts["Y"] >= 0) & (parts["s1"] == parts["s2"]) & (parts["s1"] >= 0)
    layout[year_first] = (_YEAR_FIRST + parts["s1"])[year_first]
    pair = (parts["p"] >= 0) & (parts["s3"] == parts["s4"]) & (parts["s3"] >= 0)
    base = np.where(parts["y_digits"] == 2, _TWO_DIGIT, _FOUR_DIGIT)
    layout[pair] = (base + parts["s3"])[pair]
    layout[parts["c8"] >= 0] = _COMPACT
    layout[~np.isnan(parts["number"])] = _NUMBER
    return layout


def _time_of_day(parts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ns since midnight int64 (k,), valid bool (k,), index into ``_TIME_FORMATS`` (k,)).
    No time means midnight; 12 AM is 00h, 12 PM is 12h; hour 0 or 13+ with AM/PM is
    invalid."""
    hour, minute, second, meridiem = parts["H"], parts["M"], parts["S"], parts["ap"]
    has = hour >= 0
    twelve = meridiem > 0
    hour24 = np.where(twelve, hour % 12 + 12 * (meridiem == 2), hour)
    hour_ok = np.where(twelve, (hour >= 1) & (hour <= 12), hour <= 23)
    valid = ~has | (hour_ok & (minute <= 59) & (second <= 59))
    ns = ((hour24 * 60 + minute) * 60 + np.maximum(second, 0)) * 10**9 + parts["F"]
    code = np.where(second < 0, 1, np.where(parts["F_digits"] > 0, 3, 2)) + 4 * twelve
    return np.where(has, ns, 0), valid, np.where(has, code, 0)


def _utc_to_zone(ns: np.ndarray, mask: np.ndarray, timezone: str) -> np.ndarray:
    """``ns`` (int64 (k,)) with the UTC instants at ``mask`` replaced by the wall-clock time
    in ``timezone`` (in place)."""
    if timezone == "UTC" or not mask.any():
        return ns
    instants = pd.DatetimeIndex(ns[mask].view("M8[ns]")).tz_localize("UTC")
    ns[mask] = instants.tz_convert(timezone).tz_localize(None).as_unit("ns").asi8
    return ns


def _wall_ns(year, month, day, time_ns, ok, parts, timezone):
    """One reading of the distinct values: (int64 ns (k,) in ``timezone``; bool (k,) True
    where the date is valid but impossible, before 1990 or after 2100). NaT where the date
    is invalid, before 1990 or beyond datetime64[ns]; dates after 2100 are kept (typos for
    ``future_timestamps``). Values with a UTC offset are converted to ``timezone``."""
    days, valid = _civil_days(year, month, day)
    valid &= ok
    near = valid & (days >= _LO_NS // _DAY_NS - 2) & (days <= _MAX_NS // _DAY_NS)
    ns = np.where(near, np.where(near, days, 0) * _DAY_NS + time_ns, _NAT)
    shifted = near & parts["has_offset"]
    ns[shifted] -= parts["offset"][shifted] * 60 * 10**9
    ns = _utc_to_zone(ns, shifted, timezone)
    kept = near & (ns >= _LO_NS)
    return np.where(kept, ns, _NAT), valid & (~kept | (ns > _HI_NS))


def _date_readings(parts: dict[str, np.ndarray], layout: np.ndarray, timezone: str) -> dict:
    """Both readings of every distinct value: ``ns_a`` (day first, or the only reading),
    ``ns_b`` (month first; d/m or m/d layouts only), int64 ns (k,), their ``impl_*`` masks,
    the time layout code, offsets and epoch numbers (see ``_date_parts``)."""
    pair = (layout >= _FOUR_DIGIT) & (layout < _EXACT)
    year_first = (layout >= _YEAR_FIRST) & (layout < _FOUR_DIGIT)
    c8 = parts["c8"]
    short = parts["y"] + np.where(parts["y"] < 69, 2000, 1900)
    pair_year = np.where(layout >= _TWO_DIGIT, short, parts["y"])
    year = np.where(pair, pair_year, np.where(year_first, parts["Y"], c8 // 10000))
    first = np.where(pair, parts["p"], np.where(year_first, parts["Yd"], c8 % 100))
    second = np.where(pair, parts["q"], np.where(year_first, parts["Ym"], c8 // 100 % 100))
    time_ns, time_ok, time_code = _time_of_day(parts)
    ok = time_ok & (parts["offset"] != _NAT) & (layout >= _COMPACT)
    ns_a, impl_a = _wall_ns(year, second, first, time_ns, ok, parts, timezone)
    if pair.any():
        ns_b, impl_b = _wall_ns(year, first, second, time_ns, ok & pair, parts, timezone)
    else:
        ns_b, impl_b = np.full(len(layout), _NAT), np.zeros(len(layout), dtype=bool)
    return {
        "layout": layout,
        "ns_a": ns_a,
        "ns_b": ns_b,
        "impl_a": impl_a,
        "impl_b": impl_b,
        "time": time_code,
        "has_offset": parts["has_offset"],
        "offset": parts["offset"],
        "number": parts["number"],
    }


def _exact_format_readings(uniques: pa.Array, date_format: str, timezone: str) -> dict:
    """The distinct values read with exactly ``date_format`` (``pd.to_datetime``); values
    with ``%z`` are converted to ``timezone``. Same keys as ``_date_readings``."""
    text = pd.Series(_STRING.__from_arrow__(uniques))
    try:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc="%z" in date_format)
    except (ValueError, TypeError) as error:
        raise DataError(
            f"date_format {date_format!r} cannot be used ({error}). Give a strftime format "
            "such as %d/%m/%Y %H:%M (--date-format, config key date_format)."
        ) from None
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert(timezone).dt.tz_localize(None)
    stamps = parsed.to_numpy()
    ok = ~np.isnat(stamps)
    kept = ok & (stamps >= MIN_PLAUSIBLE_DATE.to_datetime64())
    kept &= stamps <= pd.Timestamp(_MAX_NS).to_datetime64()
    late = ok & (stamps > MAX_PLAUSIBLE_DATE.to_datetime64())
    safe = np.where(kept, stamps, MIN_PLAUSIBLE_DATE.to_datetime64())
    k = len(uniques)
    return {
        "layout": np.full(k, _EXACT, dtype=np.int8),
        "ns_a": np.where(kept, safe.astype("M8[ns]").view(np.int64), _NAT),
        "ns_b": np.full(k, _NAT, dtype=np.int64),
        "impl_a": (ok & ~kept) | late,
        "impl_b": np.zeros(k, dtype=bool),
        "time": np.zeros(k, dtype=np.int64),
        "has_offset": np.zeros(k, dtype=bool),
        "offset": np.zeros(k, dtype=np.int64),
        "number": np.full(k, np.nan),
    }


def _tally_dates(tally: _Tally, uniques: pa.Array, rows: np.ndarray, r: dict) -> None:
    """Add one slice's evidence to ``tally``: rows per layout; per layout and reading the
    valid, invalid and implausible rows; day-first-only / month-first-only / ambiguous rows;
    time layouts; offsets; epoch units that fit."""
    layout = r["layout"]
    for code in np.unique(layout).tolist():
        inside = layout == code
        tally.add(("layout", code), inside, rows, uniques)
        if code in (_UNREADABLE, _BLANK):
            continue
        if code == _NUMBER:
            _tally_epochs(tally, inside, rows, uniques, r["number"])
            continue
        for name in ("a", "b"):
            ns, implausible = r["ns_" + name], r["impl_" + name]
            tally.add(("valid", code, name), inside & (ns != _NAT), rows, uniques)
            early, late = implausible & (ns == _NAT), implausible & (ns != _NAT)
            tally.add(("early", code, name), inside & early, rows, uniques)
            tally.add(("late", code, name), inside & late, rows, uniques)
            tally.add(("invalid", code, name), inside & (ns == _NAT) & ~implausible, rows, uniques)
        day_first = (r["ns_a"] != _NAT) | r["impl_a"]
        month_first = (r["ns_b"] != _NAT) | r["impl_b"]
        tally.add(("only", code, "a"), inside & day_first & ~month_first, rows, uniques)
        tally.add(("only", code, "b"), inside & month_first & ~day_first, rows, uniques)
        differ = inside & day_first & month_first & (r["ns_a"] != r["ns_b"])
        tally.add(("differ", code), differ, rows, uniques)
        for time in np.unique(r["time"][inside]).tolist():
            tally.add(("time", code, time), inside & (r["time"] == time), rows, uniques)
        offset = inside & r["has_offset"]
        tally.add(("offset", code), offset, rows, uniques)
        tally.add(("plain", code), inside & ~r["has_offset"], rows, uniques)
        tally.offsets.update(np.unique(r["offset"][offset & (rows > 0)]).tolist())


def _tally_epochs(tally, inside, rows, uniques, number) -> None:
    """Rows of all-digit values that fall in 1990-2100 per epoch unit, and those no unit
    fits."""
    fits_any = np.zeros(len(number), dtype=bool)
    for _, factor in _EPOCH_UNITS:
        fits = inside & (number * factor >= _LO_NS) & (number * factor <= _HI_NS)
        tally.add(("epoch", factor), fits, rows, uniques)
        fits_any |= fits
    tally.add(("epoch_out",), inside & ~fits_any, rows, uniques)


def _scan_date_slice(start, piece, timezone, date_format, tally) -> _DateSlice:
    """Read one slice (its distinct values) and add its evidence to ``tally``."""
    codes, uniques, rows = _encode(piece)
    blank = _blank_text(uniques)
    if date_format is not None:
        readings = _exact_format_readings(uniques, date_format, timezone)
        readings["layout"][blank] = _BLANK
    else:
        parts = _date_parts(uniques)
        layout = _date_layout(parts)
        layout[blank] = _BLANK
        readings = _date_readings(parts, layout, timezone)
    _tally_dates(tally, uniques, rows, readings)
    layout = readings["layout"]
    pair = ((layout >= _FOUR_DIGIT) & (layout < _EXACT)).any()
    return _DateSlice(
        start,
        codes,
        layout,
        readings["ns_a"],
        readings["ns_b"] if pair else None,
        readings["number"] if (layout == _NUMBER).any() else None,
    )


def _layout_format(layout: int, reading: str = "a", time: int = 0) -> str:
    """The strftime-like name of a layout (``"ISO8601"`` for year-month-day with dashes)."""
    if layout == _COMPACT:
        return "%Y%m%d"
    if _YEAR_FIRST <= layout < _FOUR_DIGIT:
        sep = _SEPARATORS[layout - _YEAR_FIRST]
        if sep == "-":
            return "ISO8601"
        date = f"%Y{sep}%m{sep}%d"
    else:
        sep = _SEPARATORS[(layout - _FOUR_DIGIT) % 3]
        year = "%y" if layout >= _TWO_DIGIT else "%Y"
        day, month = ("%m", "%d") if reading == "b" else ("%d", "%m")
        date = f"{day}{sep}{month}{sep}{year}"
    return f"{date} {_TIME_FORMATS[time]}" if _TIME_FORMATS[time] else date


def _layout_counts(tally: _Tally) -> dict[int, int]:
    """Rows per readable layout (neither blank nor unreadable)."""
    return {k[1]: n for k, n in tally.counts.items() if k[0] == "layout" and k[1] > _BLANK}


def _main_time(tally: _Tally, layout: int) -> int:
    times = {k[2]: n for k, n in tally.counts.items() if k[:2] == ("time", layout)}
    return max(times, key=times.get) if times else 0


def _choose_dates(tally, column, source, forced: int | None, max_bad_share) -> _DateChoice:
    """The column's layout (``forced``, else the one of most rows), day/month order and
    epoch unit. Raises DataError when nothing is readable, the order is mixed or ambiguous,
    or no epoch unit fits."""
    layouts = _layout_counts(tally)
    if forced is None and not layouts:
        present = tally.counts[("layout", _UNREADABLE)]
        raise DataError(
            f"{where(source, column)}none of the {present:,} values could be read as a date, "
            f"e.g. {tally.examples(('layout', _UNREADABLE))}. Supported: ISO 8601 "
            "(2011-06-09 14:30:00, offsets allowed), d/m/Y or m/d/Y (separators / - .), "
            "YYYYMMDD and epoch numbers; otherwise pass the format with --date-format "
            "(config key date_format), e.g. --date-format '%d-%b-%Y'."
        )
    layout = forced if forced is not None else max(layouts, key=layouts.get)
    if layout == _NUMBER:
        fits = {f: tally.counts[("epoch", f)] for _, f in _EPOCH_UNITS}
        shown = tally.examples(("epoch_out",), ("layout", _NUMBER))
        total = tally.counts[("layout", _NUMBER)]
        unit = _epoch_unit(fits, total, shown, column, source, max_bad_share)
        name = next(n for n, f in _EPOCH_UNITS if f == unit)
        return _DateChoice(layout, unit=unit, detected=f"epoch {name}")
    reading = "a"
    if _FOUR_DIGIT <= layout < _EXACT:
        reading = _day_month_order(tally, layout, column, source)
    return _DateChoice(layout, reading)


def _day_month_order(tally: _Tally, layout: int, column, source) -> str:
    """``"a"`` (day first) or ``"b"`` (month first) from the evidence of the whole column."""
    day_first = tally.counts[("only", layout, "a")]
    month_first = tally.counts[("only", layout, "b")]
    time = _main_time(tally, layout)
    fmt_a, fmt_b = _layout_format(layout, "a", time), _layout_format(layout, "b", time)
    if day_first and month_first:
        raise DataError(
            f"{where(source, column)}the column mixes day/month orders: {day_first:,} dates "
            f"are only valid day first ({fmt_a}), e.g. {tally.examples(('only', layout, 'a'))}"
            f", and {month_first:,} only month first ({fmt_b}), e.g. "
            f"{tally.examples(('only', layout, 'b'))}. Export all dates in one format "
            "(ISO 8601: 2011-06-09 14:30:00), or pass the right one with --date-format "
            "(config key date_format); dates in the other order are then unreadable."
        )
    if day_first or month_first:
        return "a" if day_first else "b"
    ambiguous = tally.counts[("differ", layout)]
    if ambiguous:
        raise DataError(
            f"{where(source, column)}the day/month order is ambiguous: no date in the column "
            f"has a day above 12, and {ambiguous:,} read differently day first and month "
            f"first, e.g. {tally.examples(('differ', layout))} ('01/03/2011' is 1 March or "
            f"3 January). Pass the format: --date-format '{fmt_a}' (day first) or "
            f"--date-format '{fmt_b}' (month first), or set date_format in the config."
        )
    return "a"


def _epoch_unit(fits: dict[int, int], total: int, shown: str, column, source, max_bad_share):
    """ns per unit of the ``total`` all-digit values: the unit (seconds, ms, us, ns since
    1970) that puts most of them between 1990 and 2100 (``fits``: rows that fit per unit).
    DataError naming the counts and examples (``shown``) when more than ``max_bad_share``
    of them fit no unit."""
    best = max(fits, key=fits.get)
    if total - fits[best] <= max_bad_share * total:
        return best
    counts = ", ".join(f"{n}: {fits[f]:,}" for n, f in _EPOCH_UNITS)
    raise DataError(
        f"{where(source, column)}the {total:,} all-digit values look like epoch numbers of "
        "unknown unit: no unit (seconds, milliseconds, microseconds, nanoseconds since "
        f"1970) puts them between {MIN_PLAUSIBLE_DATE.date()} and "
        f"{MAX_PLAUSIBLE_DATE.date()} (values that fit per unit: {counts}), e.g. {shown}. "
        "Export dates as ISO 8601 text (2011-06-09 14:30:00) or check the column mapping "
        "(--columns)."
    )


def _describe_dates(tally, choice: _DateChoice, timezone, date_format) -> list[str]:
    """Fill ``choice.detected`` (the format, offsets) and return warnings about times
    written several ways and UTC offsets."""
    layout, warnings = choice.layout, []
    if layout == _NUMBER:
        choice.detected += f" -> {timezone}" if timezone != "UTC" else ""
        return warnings
    if layout == _EXACT:
        choice.detected = date_format + (f" -> {timezone}" if "%z" in date_format else "")
        return warnings
    times = {k[2]: n for k, n in tally.counts.items() if k[:2] == ("time", layout)}
    time = _main_time(tally, layout)
    choice.detected = _layout_format(layout, choice.reading, time)
    if choice.detected.startswith("ISO8601"):
        choice.detected = "ISO8601"
    elif len(times) > 1:
        ways = "; ".join(f"{_TIME_FORMATS[t] or 'no time'}: {n:,}" for t, n in times.items())
        warnings.append(f"times are written in several ways (rows: {ways}); all were read")
    if _FOUR_DIGIT <= layout < _EXACT and not tally.counts[("differ", layout)]:
        if not tally.counts[("only", layout, choice.reading)]:
            warnings.append("every date has day == month, so the day/month order is moot")
    with_offset, plain = tally.counts[("offset", layout)], tally.counts[("plain", layout)]
    if with_offset:
        choice.detected += f" with UTC offsets -> {timezone}"
        shown = ", ".join(_offset_text(m) for m in sorted(tally.offsets)[:6])
        warnings.append(
            f"{with_offset:,} values carry a UTC offset ({shown}) and were converted to {timezone}"
        )
    if with_offset and plain:
        choice.detected += f"; values without offset taken as {timezone}"
        warnings.append(
            f"{plain:,} values have no UTC offset and are taken as already in {timezone}"
        )
    return warnings


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _check_dates(tally, choice: _DateChoice, column, source, max_bad_share) -> int:
    """The number of present values left unread. DataError when more than
    ``max_bad_share`` of the present values are impossible dates or unread."""
    layout, reading = choice.layout, choice.reading
    present = sum(n for k, n in tally.counts.items() if k[0] == "layout" and k[1] != _BLANK)
    early = tally.counts[("early", layout, reading)]
    late = tally.counts[("late", layout, reading)]
    if early > max_bad_share * present or late > _MAX_LATE_SHARE * present:
        shown = tally.examples(("early", layout, reading), ("late", layout, reading))
        raise _impossible_dates(source, column, early + late, shown, choice.detected)
    if layout == _NUMBER:
        good = tally.counts[("epoch", choice.unit)]
    else:
        good = tally.counts[("valid", layout, reading)]
    bad = present - good
    if bad > max_bad_share * present:
        others = {k: n for k, n in _layout_counts(tally).items() if k != layout}
        mix = "; ".join(f"{_layout_format(k)}: {n:,}" for k, n in others.items())
        mix = f" (the column mixes date formats; rows in other formats: {mix})" if mix else ""
        keys = [("layout", k) for k in others] + [("invalid", layout, reading)]
        raise DataError(
            f"{where(source, column)}{bad:,} of {present:,} values could not be read as "
            f"{choice.detected}{mix}, e.g. {tally.examples(*keys, ('layout', _UNREADABLE))}."
            " Export all dates in one format (ISO 8601: 2011-06-09 14:30:00) or pass it "
            "with --date-format (config key date_format)."
        )
    return bad


def _impossible_dates(source, column, count: int, shown: str, detected: str) -> DataError:
    return DataError(
        f"{where(source, column)}{count:,} impossible dates (before "
        f"{MIN_PLAUSIBLE_DATE.date()} or after {MAX_PLAUSIBLE_DATE.date()}) when read as "
        f"{detected}, e.g. {shown}. Check the date column and its format (day/month order, "
        "two-digit years, epoch unit) or pass it with --date-format (config key date_format)."
    )


def _epoch_ns(number: np.ndarray, factor: int) -> np.ndarray:
    """Epoch numbers (float64 (k,)) in units of ``factor`` ns as int64 ns (k,); the whole
    part is converted exactly."""
    whole = np.floor(np.nan_to_num(number))
    return whole.astype(np.int64) * factor + np.rint((number - whole) * factor).astype(np.int64)


def _chosen_ns(piece: _DateSlice, choice: _DateChoice) -> np.ndarray:
    """int64 ns per distinct value of a slice under the column's format, NaT elsewhere."""
    inside = piece.layout == choice.layout
    reading = piece.number if choice.layout == _NUMBER else piece.ns_a
    if choice.reading == "b":
        reading = piece.ns_b
    if reading is None:  # the slice has no value in the column's layout
        return np.full(len(inside), _NAT, dtype=np.int64)
    if choice.layout == _NUMBER:
        number = np.where(inside, reading, 0.0)
        inside &= (number * choice.unit >= _LO_NS) & (number * choice.unit <= _HI_NS)
        ns = np.where(inside, _epoch_ns(number, choice.unit), _NAT)
        return _utc_to_zone(ns, inside, choice.timezone)
    return np.where(inside, reading, _NAT)


def _assemble_dates(slices: list[_DateSlice], n: int, choice, index, name) -> tuple:
    """(datetime64[ns] Series (n,) on ``index``, bad (n,), blank (n,)) from the slices; each
    slice's per-value arrays are dropped once expanded."""
    out = np.empty(n, dtype=np.int64)
    blank = np.empty(n, dtype=bool)
    while slices:
        piece = slices.pop(0)
        chosen, is_blank = _chosen_ns(piece, choice), piece.layout == _BLANK
        if piece.codes is not None:
            chosen, is_blank = chosen[piece.codes], is_blank[piece.codes]
        out[piece.start : piece.start + len(chosen)] = chosen
        blank[piece.start : piece.start + len(chosen)] = is_blank
        del piece, chosen, is_blank
    bad = ~blank & (out == _NAT)
    return pd.Series(out.view("M8[ns]"), index=index, name=name), bad, blank


def _dates_from_text(values, column, source, date_format, timezone, max_bad_share) -> Parsed:
    """``parse_dates`` for text (or object) columns."""
    iso = date_format is not None and date_format.upper() == "ISO8601"
    exact = None if iso else date_format
    tally = _Tally()
    slices = [
        _scan_date_slice(start, piece, timezone, exact, tally)
        for start, piece in _text_slices(values)
    ]
    if not _layout_counts(tally) and not tally.counts[("layout", _UNREADABLE)]:
        empty = np.full(len(values), _NAT).view("M8[ns]")
        empty = pd.Series(empty, index=values.index, name=values.name)
        blank = np.ones(len(values), dtype=bool)
        return Parsed(empty, np.zeros(len(values), dtype=bool), blank, "empty")
    forced = _YEAR_FIRST if iso else (_EXACT if exact is not None else None)
    choice = _choose_dates(tally, column, source, forced, max_bad_share)
    choice.timezone = timezone
    warnings = _describe_dates(tally, choice, timezone, date_format)
    unread = _check_dates(tally, choice, column, source, max_bad_share)
    parsed, bad, blank = _assemble_dates(slices, len(values), choice, values.index, values.name)
    warnings += _unread_warnings(tally, choice, unread)
    return Parsed(parsed, bad, blank, choice.detected, warnings)


def _unread_warnings(tally: _Tally, choice: _DateChoice, unread: int) -> list[str]:
    """Warnings about the (tolerated) impossible dates and values left unread."""
    layout, reading, warnings = choice.layout, choice.reading, []
    for key, fate in (("early", "left empty (bad)"), ("late", "kept: future timestamps")):
        if tally.counts[(key, layout, reading)]:
            bound = MIN_PLAUSIBLE_DATE if key == "early" else MAX_PLAUSIBLE_DATE
            warnings.append(
                f"{tally.counts[(key, layout, reading)]:,} impossible dates "
                f"({'before' if key == 'early' else 'after'} {bound.date()}), e.g. "
                f"{tally.examples((key, layout, reading))}: {fate}"
            )
    if unread:
        shown = tally.examples(
            *[("layout", k) for k in _layout_counts(tally) if k != layout],
            ("invalid", layout, reading),
            ("layout", _UNREADABLE),
            ("early", layout, reading),
            ("epoch_out",),
        )
        warnings.append(
            f"{unread:,} values could not be read as {choice.detected}, e.g. {shown}; they "
            "are left empty (bad)"
        )
    return warnings


def _is_number_dtype(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _dates_from_datetimes(values: pd.Series, column, source, timezone, max_bad_share):
    """``parse_dates`` for datetime64 input: tz-aware values converted to ``timezone``,
    naive values taken as already in it; impossible dates as in the module docstring."""
    tz = values.dt.tz
    local = values.dt.tz_convert(timezone).dt.tz_localize(None) if tz is not None else values
    blank = local.isna().to_numpy()
    detected = f"datetime64 {tz} -> {timezone}" if tz is not None else "datetime64 (naive)"
    bad = ((local < MIN_PLAUSIBLE_DATE) | (local > pd.Timestamp(_MAX_NS))).to_numpy()
    late = ~bad & (local > MAX_PLAUSIBLE_DATE).to_numpy()
    present = int((~blank).sum())
    if bad.sum() > max_bad_share * present or late.sum() > _MAX_LATE_SHARE * present:
        shown = examples(local[bad | late].head(20))
        raise _impossible_dates(source, column, int((bad | late).sum()), shown, detected)
    warnings = []
    if (bad | late).any():
        warnings.append(
            f"{int((bad | late).sum()):,} impossible dates, e.g. {examples(local[bad | late])}"
            ": those before 1990 are left empty (bad), those after 2100 kept (future timestamps)"
        )
        local = local.mask(bad)
    if local.dtype != "datetime64[ns]":
        local = local.astype("datetime64[ns]")
    return Parsed(local, bad, blank, detected, warnings)


def _dates_from_numbers(values: pd.Series, column, source, timezone, max_bad_share) -> Parsed:
    """``parse_dates`` for numeric input: YYYYMMDD integers, else epoch numbers (UTC
    instants, converted to ``timezone``) whose unit is told by magnitude; NaN is blank,
    infinities are bad."""
    number = values.to_numpy(dtype="float64", na_value=np.nan)
    blank = np.isnan(number)
    finite = np.isfinite(number)
    x = number[finite]
    out = np.full(len(number), _NAT, dtype=np.int64)
    if not x.size:
        detected = "empty"
    elif np.all((x == np.floor(x)) & (x >= 19900101) & (x <= 21001231)):
        ints = x.astype(np.int64)
        days, ok = _civil_days(ints // 10000, ints // 100 % 100, ints % 100)
        out[finite] = np.where(ok, days * _DAY_NS, _NAT)
        detected = "%Y%m%d (numbers)"
    else:
        fits = {f: (x * f >= _LO_NS) & (x * f <= _HI_NS) for _, f in _EPOCH_UNITS}
        outside = ~np.logical_or.reduce(list(fits.values()))
        shown = examples(x[outside][:20].tolist())
        counts = {f: int(ok.sum()) for f, ok in fits.items()}
        unit = _epoch_unit(counts, x.size, shown, column, source, max_bad_share)
        ns = np.where(fits[unit], _epoch_ns(np.where(fits[unit], x, 0.0), unit), _NAT)
        out[finite] = _utc_to_zone(ns, fits[unit], timezone)
        detected = "epoch " + next(n for n, f in _EPOCH_UNITS if f == unit)
    bad = ~blank & (out == _NAT)
    present = int((~blank).sum())
    if bad.sum() > max_bad_share * present:
        raise DataError(
            f"{where(source, column)}{int(bad.sum()):,} of {present:,} values could not be "
            f"read as {detected}, e.g. {examples(values[bad])}. Export dates as ISO 8601 text "
            "(2011-06-09 14:30:00)."
        )
    parsed = pd.Series(out.view("M8[ns]"), index=values.index, name=values.name)
    return Parsed(parsed, bad, blank, detected)


def parse_dates(
    values: pd.Series,
    column: str,
    source: str | None = None,
    *,
    date_format: str | None = None,
    timezone: str = "UTC",
    max_bad_share: float = 0.01,
) -> Parsed:
    """Parse a date/time column to naive datetime64[ns] wall-clock times in ``timezone``.

    One format per column, inferred from all values (see the module docstring), or exactly
    ``date_format`` (a strftime format, or ``"ISO8601"``). Values with a UTC offset, and
    tz-aware datetime64 input, are converted to ``timezone`` (an IANA name); values without
    one are taken as already in it. Numeric input is YYYYMMDD or epoch numbers.

    Args:
        values: the column (n,): text, object, datetime64 (naive or tz-aware) or numbers.
        column, source: column and file names for error messages.
        date_format: the format, when the user knows it (``--date-format``).
        timezone: IANA time zone of the result (and of values without an offset).
        max_bad_share: largest tolerated share of present values that cannot be read.

    Returns:
        ``Parsed`` with datetime64[ns] values (NaT where blank or bad).

    Raises:
        DataError: unknown time zone; nothing readable; mixed or ambiguous day/month order;
        epoch numbers of unknown unit; dates before 1990 or after 2100; more than
        ``max_bad_share`` of the present values unreadable.
    """
    _check_timezone(timezone)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _dates_from_datetimes(values, column, source, timezone, max_bad_share)
    if date_format is None and _is_number_dtype(values.dtype):
        return _dates_from_numbers(values, column, source, timezone, max_bad_share)
    return _dates_from_text(values, column, source, date_format, timezone, max_bad_share)


# ---------------------------------------------------------------------------------- numbers

_CURRENCY_PATTERN = r"(?i)EUR|USD|GBP|[£$€¥]"
_CURRENCY_CODES = {"£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY"}
_NOISE_PATTERN = _CURRENCY_PATTERN + "|[\\s\u00a0\u2007\u2009\u202f']"
"""Removed before reading a number: currency symbols and codes, spaces (also non-breaking
and thin ones) and apostrophes, which serve as thousands separators."""
_NUMBER_PATTERN = (
    r"^(?P<open>\()?(?P<sign>[+-])?(?P<body>[\d.,]+)(?P<exp>[eE][+-]?\d+)?(?P<minus>-)?"
    r"(?P<close>\))?$"
)
_GROUPED = {
    ".": r"^(?:(?:\d+|[1-9]\d{0,2}(?:,\d{3})+)(?:\.\d*)?|\.\d+)$",
    ",": r"^(?:(?:\d+|[1-9]\d{0,2}(?:\.\d{3})+)(?:,\d*)?|,\d+)$",
}
"""A number body valid with this decimal separator (the other one groups thousands)."""
_THOUSANDS = {".": ",", ",": "."}
_PLAIN, _AMBIGUOUS, _DOT, _COMMA, _NUM_BAD, _NUM_BLANK = 0, 1, 2, 3, 4, 5
"""Classes of a number: no separator; both conventions valid but different (``1,000``);
only ``.`` decimal valid; only ``,`` decimal valid; unreadable; blank."""


@dataclass
class _NumberSlice:
    """One slice of rows starting at ``start``: ``codes`` as in ``_DateSlice``, and per
    distinct value its class int8 (k,) and the value read with ``.`` and with ``,`` as the
    decimal separator (float64 (k,), NaN where invalid)."""

    start: int
    codes: np.ndarray | None
    kind: np.ndarray
    dot: np.ndarray
    comma: np.ndarray


def _read_with(body: pa.Array, exponent: pa.Array | None, decimal: str) -> np.ndarray:
    """float64 (k,) of number bodies read with ``decimal`` as the decimal separator; NaN
    where the body does not fit that convention (or is not finite)."""
    valid = pc.match_substring_regex(body, _GROUPED[decimal])
    text = pc.replace_substring(body, _THOUSANDS[decimal], "")
    if decimal == ",":
        text = pc.replace_substring(text, ",", ".")
    if exponent is not None:
        text = pc.binary_join_element_wise(text, exponent, pa.scalar("", text.type))
    text = pc.if_else(valid, text, pa.scalar(None, text.type))
    value = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    return np.where(np.isfinite(value), value, np.nan)


def _number_parts(cleaned: pa.Array):
    """(body (digits and separators), exponent or None, negative bool (k,), well-formed bool
    (k,)) of cleaned values. Plain values (``-1.234,5``) take a fast path; others are split
    by ``_NUMBER_PATTERN`` (signs, trailing minus, parentheses, exponent)."""
    plain = pc.match_substring_regex(cleaned, r"^[+-]?[\d.,]*$")
    if pc.all(plain).as_py():
        body = pc.utf8_ltrim(cleaned, "+-")
        negative = pc.starts_with(cleaned, "-").to_numpy(zero_copy_only=False)
        return body, None, negative, np.ones(len(cleaned), dtype=bool)
    parts = pc.extract_regex(cleaned, _NUMBER_PATTERN)
    flags = {
        n: pc.not_equal(parts.field(n), "").to_numpy(zero_copy_only=False)
        for n in ("open", "close", "minus")
    }
    sign = _field_code(parts, "sign", "-+")  # 0: minus, 1: plus, -1: none
    signs = (sign == 0).astype(int) + flags["minus"] + flags["open"]
    ok = parts.is_valid().to_numpy(zero_copy_only=False) & (flags["open"] == flags["close"])
    ok &= (signs <= 1) & ~((sign == 1) & (signs > 0))
    return parts.field("body"), parts.field("exp"), signs > 0, ok


def _number_readings(uniques: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(class int8 (k,), value with ``.`` decimal, value with ``,`` decimal (float64 (k,)),
    whether any value had currency or spaces) of the distinct values. Currency, spaces and
    apostrophes are removed; the sign comes from ``+``/``-``, a trailing ``-`` or accounting
    parentheses ``(12.50)``."""
    noisy = pc.any(pc.match_substring_regex(uniques, _NOISE_PATTERN)).as_py()
    cleaned = pc.replace_substring_regex(uniques, _NOISE_PATTERN, "") if noisy else uniques
    body, exponent, negative, ok = _number_parts(cleaned)
    factor = np.where(negative, -1.0, 1.0)
    dot = np.where(ok, _read_with(body, exponent, ".") * factor, np.nan)
    comma = np.where(ok, _read_with(body, exponent, ",") * factor, np.nan)
    separated = pc.or_(pc.match_substring(body, "."), pc.match_substring(body, ","))
    separated = separated.to_numpy(zero_copy_only=False)
    kind = np.select(
        [np.isnan(dot) & np.isnan(comma), np.isnan(comma), np.isnan(dot), separated],
        [_NUM_BAD, _DOT, _COMMA, _AMBIGUOUS],
        _PLAIN,
    ).astype(np.int8)
    return kind, dot, comma, noisy


def _currencies(uniques: pa.Array, rows: np.ndarray) -> set[str]:
    """Currencies named in the values of rows > 0 (codes: GBP, USD, EUR, JPY)."""
    found = pc.extract_regex(uniques, f"(?P<c>{_CURRENCY_PATTERN})").field("c")
    used = pc.filter(found, pa.array(rows > 0))
    names = [v.upper() for v in pc.unique(used).to_pylist() if v]
    return {_CURRENCY_CODES.get(v, v) for v in names}


def _scan_number_slice(start: int, piece: pa.Array, tally: _Tally) -> _NumberSlice:
    """Read one slice (its distinct values) and add its evidence to ``tally``."""
    codes, uniques, rows = _encode(piece)
    kind, dot, comma, noisy = _number_readings(uniques)
    kind[pc.equal(uniques, "").to_numpy(zero_copy_only=False)] = _NUM_BLANK
    for code in np.unique(kind).tolist():
        tally.add(("kind", code), kind == code, rows, uniques)
    present = kind != _NUM_BLANK
    for name, value in (("dot", dot), ("comma", comma)):
        tally.add(("valid", name), present & ~np.isnan(value), rows, uniques)
        tally.add(("invalid", name), present & np.isnan(value), rows, uniques)
    if noisy:
        tally.currencies.update(_currencies(uniques, rows))
    return _NumberSlice(start, codes, kind, dot, comma)


def _choose_decimal(tally: _Tally, column, source, decimal: str | None) -> tuple[str, str]:
    """(reading ``"dot"`` or ``"comma"``, detected) from ``decimal`` or from the evidence of
    the whole column; DataError when the column mixes conventions or is ambiguous."""
    if decimal is not None:
        if decimal not in _THOUSANDS:
            raise DataError(f"decimal must be ',' or '.', not {decimal!r} (--decimal).")
        name = "dot" if decimal == "." else "comma"
        return name, f"decimal '{decimal}' thousands '{_THOUSANDS[decimal]}' (given)"
    dot, comma = tally.counts[("kind", _DOT)], tally.counts[("kind", _COMMA)]
    if dot and comma:
        raise DataError(
            f"{where(source, column)}the column mixes decimal separators: {dot:,} values "
            f"only read with '.' as the decimal point, e.g. {tally.examples(('kind', _DOT))}, "
            f"and {comma:,} only with ',', e.g. {tally.examples(('kind', _COMMA))}. Export "
            "the numbers in one convention, or pass the right one with --decimal . or "
            "--decimal , (config key decimal); values in the other one are then unreadable."
        )
    if dot or comma:
        decimal = "." if dot else ","
        return ("dot" if dot else "comma"), f"decimal '{decimal}' thousands '{_THOUSANDS[decimal]}'"
    ambiguous = tally.counts[("kind", _AMBIGUOUS)]
    if ambiguous:
        raise DataError(
            f"{where(source, column)}the decimal separator is ambiguous: {ambiguous:,} values "
            f"have one ',' or '.' followed by three digits, e.g. "
            f"{tally.examples(('kind', _AMBIGUOUS))}, and no value in the column tells "
            "whether it groups thousands (1,000 = one thousand) or is the decimal point "
            "(1,000 = one). Pass --decimal . if '.' is the decimal point (1,000 = 1000, "
            "1.000 = 1) or --decimal , if ',' is (1,000 = 1, 1.000 = 1000), or set decimal "
            "in the config."
        )
    return "dot", "plain numbers"


def _not_numbers(source, column, bad: int, present: int, detected: str, shown: str):
    return DataError(
        f"{where(source, column)}{bad:,} of {present:,} values are not numbers (read as "
        f"{detected}), e.g. {shown}. Fix the export (plain numbers such as 1234.56, one "
        "decimal separator for the whole column), pass the decimal separator with "
        "--decimal . or --decimal , (config key decimal), or map another column with "
        "--columns."
    )


def _numbers_from_numeric(values: pd.Series, column, source, max_bad_share) -> Parsed:
    """``parse_numbers`` for numeric input: missing (NaN, <NA>) is blank, infinities (and
    NaN in nullable float columns, which keep <NA> for missing) are bad."""
    blank = values.isna().to_numpy()
    number = values.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~blank & ~np.isfinite(number)
    present = int((~blank).sum())
    if bad.sum() > max_bad_share * present:
        shown = examples(values.iloc[np.flatnonzero(bad)[:20]])
        raise _not_numbers(source, column, int(bad.sum()), present, "numbers", shown)
    if bad.any():
        number = np.where(bad, np.nan, number)
    parsed = pd.Series(number, index=values.index, name=values.name, copy=False)
    return Parsed(parsed, bad, blank, "numbers")


def parse_numbers(
    values: pd.Series,
    column: str,
    source: str | None = None,
    *,
    decimal: str | None = None,
    max_bad_share: float = 0.01,
) -> Parsed:
    """Parse a number column (quantities, prices, amounts) to float64.

    The decimal separator is ``decimal`` when given, else inferred from all values: a value
    readable with only one convention decides it (``2,5``, ``1.234,56``, ``0,500`` -> ``,``;
    ``3.50``, ``1,234.56``, ``1,000,000`` -> ``.``); a lone separator followed by exactly
    three digits (``1,000``, ``1.000``) is ambiguous on its own. The other separator groups
    thousands (groups of three). Currency symbols and codes (``£ $ € ¥ EUR USD GBP``),
    spaces, non-breaking and thin spaces and apostrophes are removed; ``+``/``-``, a trailing
    ``-`` and accounting parentheses ``(12.50)`` give the sign; exponents are accepted.

    Args:
        values: the column (n,): text, object or numbers.
        column, source: column and file names for error messages.
        decimal: ``","`` or ``"."`` when the user knows it (``--decimal``).
        max_bad_share: largest tolerated share of present values that are not numbers.

    Returns:
        ``Parsed`` with float64 values (NaN where blank or bad). Non-finite values
        (``inf``, ``NaN`` as text, infinite floats) are bad.

    Raises:
        DataError: both conventions in one column; only ambiguous values and no
        ``decimal``; more than ``max_bad_share`` of the present values not numbers.
    """
    if _is_number_dtype(values.dtype):
        return _numbers_from_numeric(values, column, source, max_bad_share)
    tally = _Tally()
    slices = [_scan_number_slice(start, piece, tally) for start, piece in _text_slices(values)]
    present = sum(n for k, n in tally.counts.items() if k[0] == "kind" and k[1] != _NUM_BLANK)
    reading, detected = (
        _choose_decimal(tally, column, source, decimal) if present else ("dot", "empty")
    )
    bad_count = present - tally.counts[("valid", reading)]
    shown = tally.examples(("invalid", reading))
    if bad_count > max_bad_share * present:
        raise _not_numbers(source, column, bad_count, present, detected, shown)
    out, blank = _assemble_numbers(slices, len(values), reading)
    warnings = []
    if bad_count:
        warnings.append(f"{bad_count:,} values are not numbers, e.g. {shown}; left empty (bad)")
    if len(tally.currencies) > 1:
        currencies = ", ".join(sorted(tally.currencies))
        warnings.append(f"the column mixes currencies ({currencies}); amounts are not converted")
    bad = ~blank & np.isnan(out)
    parsed = pd.Series(out, index=values.index, name=values.name)
    return Parsed(parsed, bad, blank, detected, warnings)


def _assemble_numbers(slices: list[_NumberSlice], n: int, reading: str) -> tuple:
    """(float64 (n,), blank (n,)) from the slices under ``reading`` (``"dot"``/``"comma"``);
    each slice is dropped once expanded."""
    out = np.empty(n, dtype=np.float64)
    blank = np.empty(n, dtype=bool)
    while slices:
        piece = slices.pop(0)
        chosen = piece.dot if reading == "dot" else piece.comma
        is_blank = piece.kind == _NUM_BLANK
        if piece.codes is not None:
            chosen, is_blank = chosen[piece.codes], is_blank[piece.codes]
        out[piece.start : piece.start + len(chosen)] = chosen
        blank[piece.start : piece.start + len(chosen)] = is_blank
    return out, blank


# -------------------------------------------------------------------------------------- ids

_FLOAT_EXACT = 2**53
"""Integers above this cannot all be stored in a float64: ids beyond it lost digits."""
_SCIENTIFIC = r"^[+-]?\d(?:\.\d+)?[eE][+-]\d+$"
"""How Excel and ``str(float)`` write long numbers (``1.23457E+15``, ``1.5e+19``)."""


def _lost_precision(source, column, count: int, shown: str) -> DataError:
    return DataError(
        f"{where(source, column)}{count:,} ids were stored as floating-point "
        f"numbers and lost precision (not whole numbers, or beyond 2**53), e.g. {shown}. "
        "Export the ids as text (in Excel: format the column as Text before saving; in "
        "pandas/Parquet: keep them as strings or integers)."
    )


def _ids_from_floats(values: pd.Series, column, source) -> pd.Series:
    """Float ids (n,) as integer text; DataError when any present value is not a whole
    number within +-2**53 (its digits are already lost)."""
    number = values.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(number)
    with np.errstate(invalid="ignore"):
        lost = present & ~((np.abs(number) <= _FLOAT_EXACT) & (number == np.floor(number)))
    if lost.any():
        shown = examples(repr(float(v)) for v in number[lost][:20])
        raise _lost_precision(source, column, int(lost.sum()), shown)
    ints = pa.array(np.where(present, number, 0).astype(np.int64), mask=~present)
    text = _STRING.__from_arrow__(pc.cast(ints, pa.string()))
    return pd.Series(text, index=values.index, name=values.name)


def _ids_from_integers(values: pd.Series) -> pd.Series:
    """Integer ids (n,) (numpy, nullable or Arrow; uint64 included) as decimal text."""
    array = values.array
    if hasattr(array, "__arrow_array__"):
        ints = array.__arrow_array__()
    else:
        ints = pa.array(values.to_numpy())
    text = _STRING.__from_arrow__(pc.cast(ints, pa.string()))
    return pd.Series(text, index=values.index, name=values.name)


def _id_text(values: pd.Series) -> pd.Series:
    """Stripped id text: ``12346.0`` -> ``12346``, blank tokens -> <NA> (element-wise)."""
    text = values.astype(_STRING).str.strip()
    text = text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return text.mask(text.str.lower().isin(_BLANK_TOKENS))


def parse_ids(values: pd.Series, column: str, source: str | None = None) -> Parsed:
    """Customer (or other) ids as ``string`` dtype text; <NA> where blank.

    Text is stripped; ``""``, ``nan``, ``None``, ``null``, ``NA``, ``n/a``, ``-`` are blank;
    ``12346.0`` -> ``12346``. Float input: whole numbers -> integer text; integer input
    (uint64 beyond int64 included) -> decimal text. Text is transformed slice by slice
    (``cleaning.map_chunks``, no copy when already clean).

    Returns:
        ``Parsed`` with ``bad`` all False (ids are never unreadable) and ``blank`` (n,).

    Raises:
        DataError: ids stored as floats that lost precision: not whole numbers, beyond
        2**53 (e.g. 1.5e19), or written in scientific notation (``1.5E+19``).
    """
    dtype = values.dtype
    if pd.api.types.is_float_dtype(dtype):
        ids, detected = _ids_from_floats(values, column, source), "float ids -> integer text"
    elif pd.api.types.is_integer_dtype(dtype):
        ids, detected = _ids_from_integers(values), "integer ids -> text"
    else:
        ids, detected = _cleaning.map_chunks(values, _id_text), "text ids"
        if not _is_arrow_string(ids.dtype) or ids.dtype.na_value is not pd.NA:
            ids = ids.astype(_STRING)
        scientific = _cleaning.mask_chunks(ids, lambda s: s.str.fullmatch(_SCIENTIFIC))
        if scientific.any():
            shown = examples(ids.iloc[np.flatnonzero(scientific)[:20]])
            raise _lost_precision(source, column, int(scientific.sum()), shown)
    blank = ids.isna().to_numpy()
    return Parsed(ids, np.zeros(len(ids), dtype=bool), blank, detected)


# ------------------------------------------------------------------------ future timestamps

BULK_QUANTILE = 0.999
"""Share of the rows that makes "the bulk of the data" for ``future_timestamps``."""


def future_timestamps(timestamps, *, now=None, gap_days: float = 365) -> np.ndarray:
    """bool (n,): timestamps that cannot be real orders because they lie in the future.

    A timestamp is flagged when

    * it is after ``now`` (default: the machine's current time, ``pd.Timestamp.now()``,
      taken to the end of today; a ``now`` without a time of day also means the end of
      that day), or
    * it lies beyond the bulk of the data: among the newest rows above the 99.9th percentile
      (``BULK_QUANTILE``), it comes after the first empty stretch of more than
      ``gap_days`` between consecutive timestamps (so it is more than ``gap_days`` after
      the 99.9th percentile *and* after every earlier timestamp). A mistyped ``2099-...`` or
      ``2031-...`` in a 2009-2011 log is flagged even when "now" is later; a shop whose
      activity grows, or dwindles to a trickle, without a year-long silence is never
      flagged, however few rows its last months hold.

    Args:
        timestamps: datetime64 values (n,) (Series, Index or array), naive in the same clock
            as ``now``; tz-aware values are compared in UTC. NaT is never flagged.
        now: the current moment (anything ``pd.Timestamp`` accepts).
        gap_days: the length of the empty stretch that separates outliers from the bulk.
    """
    index = pd.DatetimeIndex(timestamps)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    ns = index.as_unit("ns").asi8
    present = ns != _NAT
    moment = pd.Timestamp.now() if now is None else pd.Timestamp(now)
    if moment.tzinfo is not None:
        moment = moment.tz_convert("UTC").tz_localize(None)
    if now is None or moment == moment.normalize():
        moment = moment.normalize() + pd.Timedelta(days=1) - pd.Timedelta(nanoseconds=1)
    return (present & (ns > moment.as_unit("ns").value)) | _beyond_bulk(ns, present, gap_days)


def _beyond_bulk(ns: np.ndarray, present: np.ndarray, gap_days: float) -> np.ndarray:
    """bool (n,): present timestamps (int64 ns (n,)) after the first gap longer than
    ``gap_days`` among those at or above the ``BULK_QUANTILE`` quantile."""
    out = np.zeros(len(ns), dtype=bool)
    valid = ns[present]
    if valid.size < 2:
        return out
    k = int(np.floor(BULK_QUANTILE * (valid.size - 1)))
    valid.partition(k)
    tail = np.sort(valid[k:])
    gaps = np.flatnonzero(np.diff(tail) > gap_days * _DAY_NS)
    if gaps.size:
        out = present & (ns >= tail[gaps[0] + 1])
    return out
