"""The scoring moment: one value for "when" in every public signature.

``as_of`` is the last day of data (rows up to its end count); ``observation_end == as_of``.
``cutoff = as_of + 1 day`` is the first day predictions cover: rows strictly before it are known.
A horizon of ``h`` days is the window ``[cutoff, cutoff + h days)``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data.errors import DataError

__all__ = ["ONE_DAY", "ScoringMoment"]

ONE_DAY = pd.Timedelta(days=1)
"""One calendar day (the step between the as-of day and the cutoff)."""


def _day(value, what: str) -> pd.Timestamp:
    """``value`` (date-like) as a tz-naive midnight Timestamp in ns; DataError otherwise."""
    if isinstance(value, bool) or value is None:
        raise DataError(f"{what}: expected a date (YYYY-MM-DD, Timestamp, datetime or date), "
                        f"got {value!r}")
    if not isinstance(value, (str, pd.Timestamp, _dt.date, np.datetime64)):
        raise DataError(f"{what}: expected a date (YYYY-MM-DD, Timestamp, datetime or date), "
                        f"got {type(value).__name__} {value!r}")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what}: {value!r} is not a date; write it as YYYY-MM-DD") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise DataError(f"{what}: got a missing date ({value!r}); pass a day as YYYY-MM-DD")
    if ts.tzinfo is not None:
        raise DataError(f"{what}: {value!r} has a time zone; the project's timestamps are "
                        "tz-naive local shop time: pass the local date (e.g. "
                        f"{str(ts.tz_localize(None).date())!r})")
    return ts.normalize().as_unit("ns")


@dataclass(frozen=True)
class ScoringMoment:
    """When a scoring happens: the as-of day (module docstring).

    ``as_of``: the last day of data, a midnight ``pd.Timestamp`` in ns (a time of day given
    to the constructor is floored to its day). Build with ``ScoringMoment.of(date_like)`` or
    ``ScoringMoment.from_cutoff(cutoff)``; equal days give equal (and equally hashed) moments.
    """

    as_of: pd.Timestamp

    def __post_init__(self):
        object.__setattr__(self, "as_of", _day(self.as_of, "as_of"))

    @classmethod
    def of(cls, value) -> ScoringMoment:
        """The moment whose as-of day is ``value``'s day (a ScoringMoment is returned as is)."""
        if isinstance(value, ScoringMoment):
            return value
        return cls(_day(value, "as_of"))

    @classmethod
    def from_cutoff(cls, cutoff) -> ScoringMoment:
        """The moment whose cutoff (first predicted day) is ``cutoff``'s day: as-of = the day
        before. A ScoringMoment is returned as is."""
        if isinstance(cutoff, ScoringMoment):
            return cutoff
        return cls(_day(cutoff, "cutoff") - ONE_DAY)

    @property
    def cutoff(self) -> pd.Timestamp:
        """``as_of + 1 day`` (midnight): the first day predictions cover; rows strictly before
        it are the known history."""
        return self.as_of + ONE_DAY

    @property
    def observation_end(self) -> pd.Timestamp:
        """The last observed day (== ``as_of``): lifetimes' ``calibration_period_end``."""
        return self.as_of

    @property
    def end_of_day(self) -> pd.Timestamp:
        """The last nanosecond of the as-of day (``cutoff - 1 ns``): "rows up to as_of" are
        those with ``timestamp <= end_of_day``."""
        return self.cutoff - pd.Timedelta(nanoseconds=1)

    def window(self, horizon_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        """(start, end) of the next ``horizon_days`` days, ``[cutoff, cutoff + horizon)``: the
        end is excluded."""
        if isinstance(horizon_days, bool) or int(horizon_days) != horizon_days \
                or horizon_days <= 0:
            raise DataError(f"horizon_days must be a positive whole number of days, "
                            f"got {horizon_days!r}")
        return self.cutoff, self.cutoff + pd.Timedelta(days=int(horizon_days))

    def __str__(self) -> str:
        return str(self.as_of.date())
