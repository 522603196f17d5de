"""How a shop's export is read and cleaned: one settings object, from the config file and the
command line.

Every field has a YAML key of the same name (``--config``) and a command-line flag
(``--encoding``, ``--sheet``, ``--header-row``, ``--delimiter``, ``--date-format``,
``--decimal``, ``--timezone``, ``--max-bad-share``, ``--cancellation-prefix``); flags override
the file. ``None`` means "detect it, and refuse clearly when detection is ambiguous".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pandas as pd

from .errors import DataError


@dataclass(frozen=True)
class LoadOptions:
    """Reading and cleaning settings of one shop's export.

    Attributes:
        encoding: text encoding of CSV files (``utf-8``, ``cp1252``, ``utf-16``, ...); None
            detects it (byte-order mark, UTF-16 pattern, strict UTF-8, then charset detection).
        sheet: Excel sheet name or 1-based index; None reads every sheet that shares the
            first data sheet's header (rows accounted per sheet).
        header_row: 1-based row of the header; None detects it (title blocks above the header
            are skipped).
        delimiter: CSV delimiter; None sniffs it (and honours Excel's ``sep=`` first line).
        date_format: strftime format of the timestamp column (e.g. ``%d/%m/%Y %H:%M``); None
            infers one format from the whole column and refuses an ambiguous day/month order.
        decimal: decimal separator of number columns (``.`` or ``,``); None infers it per column
            and refuses a column where it is ambiguous (only ``1,000``-like values).
        timezone: IANA time zone that timestamps with a UTC offset are converted to (then
            stored without zone); plain timestamps are taken as already in it.
        max_bad_share: share of present values of a required column that may be unreadable
            or blank before the whole file is refused (the rest is quarantined), 0..1.
        cancellation_prefix: order ids starting with it (case-insensitive) *and* with a
            quantity of zero or less are cancellations; None or "" turns the rule off (lines
            with a quantity of zero or less are then returns).
        future_gap_days: timestamps more than this many days after the bulk of the data
            (its 99.9th percentile), or after today, are quarantined as ``future_timestamp``.
    """

    encoding: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    delimiter: str | None = None
    date_format: str | None = None
    decimal: str | None = None
    timezone: str = "UTC"
    max_bad_share: float = 0.01
    cancellation_prefix: str | None = "C"
    future_gap_days: int = 365

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.max_bad_share) <= 1.0:
            raise DataError(f"max_bad_share must be between 0 and 1, got {self.max_bad_share!r}")
        if self.decimal not in (None, ".", ","):
            raise DataError(f"decimal must be '.' or ',', got {self.decimal!r}")
        if self.header_row is not None and int(self.header_row) < 1:
            raise DataError(f"header_row is 1-based, got {self.header_row!r}")
        if self.future_gap_days < 0:
            raise DataError(f"future_gap_days must be >= 0, got {self.future_gap_days!r}")

    @property
    def cancellation_rule(self) -> str | None:
        """The prefix in force, or None when the rule is off."""
        return self.cancellation_prefix or None

    def with_changes(self, **changes) -> LoadOptions:
        return replace(self, **changes)


def parse_cli_date(text: str | None, option: str) -> pd.Timestamp | None:
    """A command-line date: ISO 8601 only (``2011-12-09``, optionally ``T14:30[:00]``), no
    time-zone offset (dates are in the shop's time zone). Anything else is a DataError that
    names the option and the accepted form: ``09/06/2011`` could be either June or September."""
    if text is None:
        return None
    value = str(text).strip()
    pattern = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    offset = r"(?:Z|[+-]\d{2}:?\d{2})"
    if re.fullmatch(pattern + offset, value):
        raise DataError(
            f"{option} {value!r} has a time-zone offset; give the date in the shop's time zone "
            f"without one, e.g. {option} {value[:10]}")
    if not re.fullmatch(pattern, value):
        raise DataError(
            f"{option} {value!r} is not an ISO 8601 date; write it as YYYY-MM-DD, e.g. "
            f"{option} 2011-12-09 (day/month orders such as 09/06/2011 are ambiguous)")
    try:
        return pd.Timestamp(value)
    except ValueError as exc:
        raise DataError(f"{option} {value!r} is not a valid date ({exc}); write it as "
                        f"YYYY-MM-DD, e.g. {option} 2011-12-09") from exc
