"""Input checks and row compression shared by the BTYD and Gamma-Gamma models.

Holds ``RFM_COLUMNS`` (the columns every RFM table needs), ``rfm_arrays`` (validated
``frequency``/``recency``/``T`` float64 arrays, shape (n,), days), ``unique_rows`` (distinct
rows of equal-length columns with inverse and counts, so models compute once per distinct
``(frequency, recency, T)``), ``_check_horizon`` (a horizon in days >= 0) and ``_refuse`` (the
shared "count, example customer ids, fix" error).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...data.errors import DataError, examples, require_columns

RFM_COLUMNS: tuple[str, ...] = ("frequency", "recency", "T")
"""Columns of the RFM table every BTYD model reads (frequency: repeat purchase days; recency
and T: days), as built by :func:`scoring.features.rfm.rfm_summary`."""


def rfm_arrays(rfm: pd.DataFrame, purpose: str = "BTYD model") -> tuple[np.ndarray, ...]:
    """Validated ``(frequency, recency, T)`` float64 arrays, shape (n,) each, in days.

    Raises:
        DataError: missing columns, NaN / infinite / negative values, non-integer frequency,
            ``recency > T``, or one-time buyers (frequency 0) with a positive recency. The
            message names the column, the count and example customer ids.
    """
    if not isinstance(rfm, pd.DataFrame):
        raise DataError(
            f"{purpose}: expected an RFM DataFrame with columns {list(RFM_COLUMNS)}, got "
            f"{type(rfm).__name__}. Build it with scoring.features.rfm.rfm_summary."
        )
    require_columns(
        rfm,
        RFM_COLUMNS,
        f"{purpose}: RFM table",
        "build it with scoring.features.rfm.rfm_summary (frequency, recency, T in days).",
    )
    arrays = []
    for col in RFM_COLUMNS:
        try:
            values = rfm[col].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{purpose}: column {col!r} must be numeric (days or counts); got dtype "
                f"{rfm[col].dtype}. Convert it with pd.to_numeric."
            ) from exc
        _refuse(
            rfm,
            ~np.isfinite(values),
            col,
            "are NaN or infinite",
            purpose,
            "drop or fill those customers before modelling",
        )
        _refuse(
            rfm,
            values < 0,
            col,
            "are negative",
            purpose,
            "frequency, recency and T are non-negative counts/days; rebuild the table with "
            "rfm_summary and an observation_end after every first purchase",
        )
        arrays.append(values)
    x, t_x, T = arrays
    _refuse(
        rfm,
        x != np.round(x),
        "frequency",
        "are not whole numbers",
        purpose,
        "frequency counts repeat purchase days; round or rebuild it with rfm_summary",
    )
    _refuse(
        rfm,
        t_x > T + 1e-9,
        "recency",
        "are larger than T",
        purpose,
        "recency (first to last purchase) cannot exceed T (first purchase to observation "
        "end); rebuild the table with rfm_summary",
    )
    _refuse(
        rfm,
        (x == 0) & (t_x > 0),
        "recency",
        "are positive for one-time buyers (frequency 0)",
        purpose,
        "recency must be 0 when frequency is 0",
    )
    return x, t_x, T


def _refuse(rfm, bad: np.ndarray, col: str, what: str, purpose: str, fix: str) -> None:
    count = int(np.count_nonzero(bad))
    if count:
        ids = examples(rfm.index[bad][:5])
        vals = examples(rfm[col].to_numpy()[bad][:5])
        raise DataError(
            f"{purpose}: column {col!r}: {count:,} of {len(rfm):,} rows {what} "
            f"(customer_id {ids}; values {vals}). Fix: {fix}."
        )


def unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Unique rows of equal-length float columns.

    Returns ``(unique_columns, inverse, counts)`` with ``unique_columns[j][inverse] ==
    columns[j]``; ``counts`` (float64) is the number of rows per unique row.
    """
    n = len(columns[0])
    if n == 0:
        return [c.copy() for c in columns], np.zeros(0, dtype=np.int64), np.zeros(0)
    # pd.factorize(sort=True) gives np.unique's sorted codes from a hash pass and a sort of
    # the distinct values only (same output): the BTYD features of the 1M-customer
    # evaluation make dozens of calls, 10-18 s on np.unique here in benchmarks/bench_scale.py's
    # profile; with factorize this function is no longer among its hot lines
    codes, sizes = [], []
    for col in columns:
        code, distinct = pd.factorize(col, sort=True, use_na_sentinel=False)
        codes.append(code.astype(np.int64, copy=False))
        sizes.append(len(distinct))
    if math.prod(sizes) < 2**62:
        key = codes[0]
        for code, size in zip(codes[1:], sizes[1:], strict=True):
            key = key * size + code
        inverse, distinct_keys = pd.factorize(key, sort=True)
        counts = np.bincount(inverse, minlength=len(distinct_keys))
        first = np.empty(len(distinct_keys), dtype=np.int64)
        first[inverse] = np.arange(n)  # a row of each distinct key: all its rows are equal
        unique_cols = [col[first] for col in columns]
    else:  # pragma: no cover - needs > 2**20 distinct values per column
        stacked = np.column_stack(columns)
        u, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
        unique_cols = [u[:, j].copy() for j in range(u.shape[1])]
    return unique_cols, inverse.ravel(), counts.astype(np.float64)


def _check_horizon(horizon_days) -> float:
    try:
        h = float(horizon_days)
    except (TypeError, ValueError) as exc:
        raise DataError(f"horizon_days must be a number of days, got {horizon_days!r}") from exc
    if not np.isfinite(h) or h < 0:
        raise DataError(f"horizon_days must be a finite number >= 0 days, got {horizon_days!r}")
    return h
