"""RFM summaries with lifetimes' conventions (``freq="D"``), vectorised.

``rfm_summary`` gives the same numbers as
``lifetimes.utils.summary_data_from_transaction_data(..., freq="D", monetary_value_col=...)``
and ``calibration_and_holdout`` the same as ``lifetimes.utils.calibration_and_holdout_data``
on day-resolution data, at a fraction of the time (see ``benchmarks/bench_rfm.py``).

Two deliberate differences with lifetimes when timestamps carry a time of day:
- lifetimes compares raw timestamps with ``calibration_period_end`` (midnight), so purchases
  made on the last calibration day after 00:00 fall out of the calibration and into the
  holdout. Here every purchase is floored to its day first: the calibration holds every day
  strictly before the cutoff, the holdout ``[cutoff, cutoff + holdout_days)``.
- lifetimes' ``monetary_value_holdout`` is a mean per transaction line; here it is the mean
  revenue per purchase day, like the calibration's ``monetary_value``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.errors import DataError

DAY = np.timedelta64(1, "D")


def _day_numbers(timestamps: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 (int64), timestamps floored to days."""
    return timestamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def _daily_purchases(
    transactions: pd.DataFrame, first_day: int | None, last_day: int, value_col: str
) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
    """Unique (customer, day) purchases with summed value.

    Returns (customer_ids sorted, customer code per purchase day, day per purchase day,
    value per purchase day), in no particular row order. Only days in
    [first_day, last_day] are kept. Hash-based (no sort of the transaction log).
    """
    days = _day_numbers(transactions["timestamp"])
    keep = days <= last_day
    if first_day is not None:
        keep &= days >= first_day
    codes, customer_ids = factorize_sorted(transactions["customer_id"], keep)
    days = days[keep]
    values = (transactions[value_col].to_numpy(dtype=np.float64)[keep]
              if value_col in transactions else np.zeros(len(days)))
    if len(days) == 0:
        return customer_ids, codes, days, values
    low = days.min()
    span = np.int64(days.max() - low + 1)
    key = codes * span + (days - low)
    inverse, unique_key = pd.factorize(key, sort=False)
    day_value = np.bincount(inverse, weights=values, minlength=len(unique_key))
    return customer_ids, unique_key // span, unique_key % span + low, day_value


def _group_extreme(code: np.ndarray, day: np.ndarray, n: int, ufunc) -> np.ndarray:
    """Per-group min or max of ``day`` (groups 0..n-1, every group non-empty or 0)."""
    series = pd.Series(day).groupby(code, sort=True)
    extreme = series.min() if ufunc is np.minimum else series.max()
    out = np.zeros(n, dtype=np.int64)
    out[extreme.index.to_numpy()] = extreme.to_numpy()
    return out


def factorize_sorted(values: pd.Series, keep: np.ndarray | None = None
                     ) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``values[keep]`` into their sorted unique values.

    Hash-factorizes first and sorts only the distinct values (much faster than a sorted
    factorize on millions of strings). Returns (codes, sorted unique ids as a string Index).
    """
    codes, uniques = pd.factorize(values, sort=False)
    if keep is not None:
        codes = codes[keep]
    present = np.bincount(codes, minlength=len(uniques)) > 0
    uniques = pd.Index(uniques, dtype="string")
    order = np.flatnonzero(present)[uniques[present].argsort()]
    rank = np.full(len(uniques), -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], pd.Index(uniques[order], dtype="string", name="customer_id")


def rfm_summary(
    transactions: pd.DataFrame,
    observation_end,
    value_col: str = "amount",
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value, in days.

    Args:
        transactions: canonical transactions (``customer_id``, ``timestamp``, ``amount``).
        observation_end: last day of the observation period (inclusive; a cutoff's
            ``cutoff - 1 day``). Later purchases are ignored.
        value_col: the money column.

    Returns:
        DataFrame indexed by ``customer_id`` (sorted), float columns:
        ``frequency`` (repeat purchase days), ``recency`` (days from first to last purchase
        day), ``T`` (days from first purchase day to ``observation_end``),
        ``monetary_value`` (mean revenue per repeat purchase day; 0 without repeats).
    """
    end = np.int64(pd.Timestamp(observation_end).normalize().to_datetime64().astype(
        "datetime64[D]").astype(np.int64))
    ids, code, day, value = _daily_purchases(transactions, None, end, value_col)
    n = len(ids)
    count = np.bincount(code, minlength=n)
    first = _group_extreme(code, day, n, np.minimum)
    last = _group_extreme(code, day, n, np.maximum)
    total = np.bincount(code, weights=value, minlength=n)
    is_first = day == first[code]
    first_value = np.bincount(code[is_first], weights=value[is_first], minlength=n)
    frequency = count - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, (total - first_value) / np.maximum(frequency, 1), 0.0)
    return pd.DataFrame(
        {
            "frequency": frequency.astype(np.float64),
            "recency": (last - first).astype(np.float64),
            "T": (end - first).astype(np.float64),
            "monetary_value": monetary,
        },
        index=ids,
    )


def calibration_and_holdout(
    transactions: pd.DataFrame,
    cutoff,
    holdout_days: int,
    value_col: str = "amount",
) -> pd.DataFrame:
    """RFM before ``cutoff`` plus what each customer did in ``[cutoff, cutoff + holdout_days)``.

    Returns one row per customer with a purchase before the cutoff: the ``rfm_summary``
    columns as of ``cutoff - 1 day``, and ``frequency_holdout`` (purchase days in the holdout),
    ``monetary_value_holdout`` (mean revenue per holdout purchase day, 0 if none),
    ``revenue_holdout`` (total revenue in the holdout), ``orders_holdout`` (distinct orders),
    ``duration_holdout`` (days).
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    if holdout_days <= 0:
        raise DataError(f"holdout_days must be positive, got {holdout_days}")
    calibration = rfm_summary(transactions, cutoff - pd.Timedelta(days=1), value_col)
    start = np.int64(cutoff.to_datetime64().astype("datetime64[D]").astype(np.int64))
    ids, code, day, value = _daily_purchases(transactions, start, start + holdout_days - 1,
                                             value_col)
    per_day = pd.DataFrame({"customer_id": ids[code], "value": value})
    holdout = per_day.groupby("customer_id", sort=False)["value"].agg(["size", "sum"])
    days_all = _day_numbers(transactions["timestamp"])
    in_window = (days_all >= start) & (days_all < start + holdout_days)
    orders = (transactions.loc[in_window].groupby("customer_id", sort=False)["order_id"].nunique()
              if "order_id" in transactions else holdout["size"])
    out = calibration.copy()
    out["frequency_holdout"] = holdout["size"].reindex(out.index).fillna(0).astype(np.float64)
    out["revenue_holdout"] = holdout["sum"].reindex(out.index).fillna(0.0).astype(np.float64)
    out["monetary_value_holdout"] = np.where(
        out["frequency_holdout"] > 0,
        out["revenue_holdout"] / out["frequency_holdout"].clip(lower=1),
        0.0,
    )
    out["orders_holdout"] = orders.reindex(out.index).fillna(0).astype(np.float64)
    out["duration_holdout"] = float(holdout_days)
    return out
