"""Recency and tenure: one definition for segments, behavioural features and the scorer.

Both are whole days counted to the **as-of day** (the last day of data; the cutoff is the
next day, ``as_of + 1 day``):

- ``days_since_last_order``: from the last order's day to the as-of day (0 = ordered on the
  as-of day);
- ``tenure_days``: from the first order's day to the as-of day (0 = first order on the as-of
  day).

Rates per day of history use ``tenure_days + 1`` days (the first order's day counts), which is
never zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..timeframe import ScoringMoment


def days_to_as_of(days: pd.Series, as_of) -> np.ndarray:
    """Whole days from each timestamp's day to the as-of day, int64 array of shape (n,).

    ``days``: timestamps (any time of day; floored to the day); ``as_of``: the as-of day (the
    last day of data; a date-like, floored to its day, or a ``ScoringMoment``)."""
    as_of_day = ScoringMoment.of(as_of).as_of
    return ((as_of_day - days.dt.normalize()) // pd.Timedelta(days=1)).to_numpy(dtype="int64")


def recency_and_tenure(first_order_at: pd.Series, last_order_at: pd.Series, as_of
                       ) -> pd.DataFrame:
    """``days_since_last_order`` and ``tenure_days`` (int64, days; module docstring) of
    customers with their first and last order timestamps (Series with the same index), to the
    as-of day ``as_of`` (date-like or ``ScoringMoment``)."""
    return pd.DataFrame({
        "days_since_last_order": days_to_as_of(last_order_at, as_of),
        "tenure_days": days_to_as_of(first_order_at, as_of),
    }, index=last_order_at.index)
