"""Per-customer outcomes of a campaign window, computed from the canonical transactions.

The result is the assignments table (one row per customer, in the input order) plus the
outcome columns of the data contract (:data:`scoring.campaign.OUTCOME_COLUMNS`):

- ``orders`` (int): distinct ``order_id`` with at least one positive-amount line in the
  window ``[start, start + days)``;
- ``revenue`` (float, currency, gross): sum of the positive amounts in the window
  (cancellations / returns, negative lines, are ignored);
- ``converted`` (bool): ``orders > 0``;
- ``pre_orders`` / ``pre_revenue``: the same over ``[start - pre_days, start)``;
- ``treated`` (bool): ``arm != control_arm``;
- ``bonus_cost`` (float, currency): ``bonus_amount`` for a treated customer who converted
  (the bonus is redeemed with an order), else 0;
- ``net_revenue`` (float, currency): ``revenue - bonus_cost``.

Lines without an ``order_id`` count in revenue but not in orders. Customers without any
transaction get 0 everywhere (intention to treat: everybody assigned
counts, whether or not they bought or opened the e-mail).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from scoring.data.errors import DataError, examples, require_columns, require_unique_ids

from . import CONTROL_ARM

__all__ = ["campaign_outcomes", "period_totals"]

_TX_COLUMNS = ("customer_id", "timestamp", "amount", "order_id")


def _as_timestamp(value, tz) -> pd.Timestamp:
    """``value`` as a Timestamp in the time zone of the transactions (``tz`` or naive)."""
    ts = pd.Timestamp(value)
    if tz is not None and ts.tz is None:
        ts = ts.tz_localize(tz)
    elif tz is None and ts.tz is not None:
        ts = ts.tz_convert(None)
    return ts


def campaign_outcomes(
    assignments: pd.DataFrame,
    transactions: pd.DataFrame,
    start,
    days: int,
    pre_days: int = 365,
    control_arm: str = CONTROL_ARM,
) -> pd.DataFrame:
    """Outcomes of every assigned customer in the campaign window and the pre-period.

    Parameters
    ----------
    assignments:
        One row per customer (``customer_id``, ``arm``, ``bonus_amount`` at least; the other
        contract columns are passed through), shape ``(n_customers, k)``.
    transactions:
        Canonical purchase lines: ``customer_id`` (string), ``timestamp`` (datetime64),
        ``amount`` (float, currency; cancellations / returns negative), ``order_id``.
    start:
        First day of the window (anything :class:`pandas.Timestamp` accepts).
    days:
        Window length in days; the window is ``[start, start + days)`` (half-open).
    pre_days:
        Length of the pre-period ``[start - pre_days, start)`` in days (covariates).
    control_arm:
        Name of the control arm.

    Returns
    -------
    pandas.DataFrame
        ``assignments`` (index reset, ``customer_id`` as string) plus the columns of
        :data:`scoring.campaign.OUTCOME_COLUMNS`; shape ``(n_customers, k + 8)``.

    Raises
    ------
    DataError
        Missing columns, duplicated customer ids, missing arm, ``control_arm`` not among the
        arms, missing ``bonus_amount`` for treated customers, or a window that starts after
        the last transaction (the data does not reach the window yet).
    """
    if int(days) <= 0 or int(pre_days) < 0:
        raise DataError(f"campaign_outcomes: days must be > 0 and pre_days >= 0 "
                        f"(got days={days!r}, pre_days={pre_days!r}).")
    out, treated, bonus = _checked_assignments(assignments, transactions, control_arm)
    start_ts, end_ts = _window(transactions, start, days)
    pre, window = period_totals(transactions, out["customer_id"],
                                [start_ts - pd.Timedelta(days=int(pre_days)), start_ts, end_ts])
    out["orders"] = window["orders"].to_numpy()
    out["revenue"] = window["revenue"].to_numpy()
    out["converted"] = out["orders"].to_numpy() > 0
    out["pre_orders"] = pre["orders"].to_numpy()
    out["pre_revenue"] = pre["revenue"].to_numpy()
    out["treated"] = treated
    out["bonus_cost"] = np.where(treated & out["converted"].to_numpy(),
                                 bonus.fillna(0.0).to_numpy(dtype=float), 0.0)
    out["net_revenue"] = out["revenue"] - out["bonus_cost"]
    return out


def _checked_assignments(assignments: pd.DataFrame, transactions: pd.DataFrame,
                         control_arm: str) -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    """A copy of the assignments (ids as strings) after the checks of
    :func:`campaign_outcomes`, the treated mask (n,) and the numeric bonus (n,)."""
    require_columns(assignments, ("customer_id", "arm", "bonus_amount"), "assignments",
                    "the campaign assignments (campaign.parquet) carry them; re-run the "
                    "assignment step.")
    require_columns(transactions, _TX_COLUMNS, "transactions",
                    "pass the project's canonical transactions table.")
    out = assignments.reset_index(drop=True).copy()
    require_unique_ids(out["customer_id"], "assignments",
                       "a customer is assigned to exactly one arm: keep one row per customer "
                       "(re-run the assignment).")
    out["customer_id"] = out["customer_id"].astype(str)
    out["arm"] = _checked_arms(out, control_arm)
    treated = out["arm"].ne(control_arm).to_numpy()
    bonus = pd.to_numeric(out["bonus_amount"], errors="coerce")
    bad_bonus = treated & bonus.isna().to_numpy()
    if bad_bonus.any():
        ids = out.loc[bad_bonus, "customer_id"]
        raise DataError(
            f"assignments, column 'bonus_amount': {int(bad_bonus.sum())} treated customer(s) "
            f"without a numeric bonus, e.g. customer_id {examples(ids)}. Fill the offered "
            "bonus (currency) for every treated customer.")
    return out, treated, bonus


def _checked_arms(out: pd.DataFrame, control_arm: str) -> pd.Series:
    """The ``arm`` column as strings; refuses missing arms and an absent control arm."""
    arm = out["arm"]
    missing_arm = arm.isna() | (arm.astype(str).str.strip() == "")
    if missing_arm.any():
        ids = out.loc[missing_arm, "customer_id"]
        raise DataError(
            f"assignments, column 'arm': {int(missing_arm.sum())} customer(s) without an arm, "
            f"e.g. customer_id {examples(ids)}. Intention to treat needs every customer's "
            "assigned arm; re-run the assignment or drop customers who were never assigned.")
    arm = arm.astype(str)
    arms = sorted(arm.unique())
    if control_arm not in arms:
        raise DataError(
            f"assignments, column 'arm': control arm {control_arm!r} not found among the "
            f"{len(arms)} arm(s) {examples(arms, 10)}. Pass control_arm= with the name used "
            "in the assignment (campaign.json 'control_arm').")
    return arm


def _window(transactions: pd.DataFrame, start, days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, start + days)`` in the transactions' time zone; refuses a window the data
    does not reach and warns when the data ends inside it."""
    ts = pd.to_datetime(transactions["timestamp"])
    start_ts = _as_timestamp(start, getattr(ts.dt, "tz", None))
    end_ts = start_ts + pd.Timedelta(days=int(days))
    last = ts.max() if len(ts) else pd.NaT
    if pd.isna(last) or last < start_ts:
        raise DataError(
            f"transactions, column 'timestamp': the last transaction is {last} but the "
            f"campaign window starts {start_ts} ({int(days)} days to {end_ts}); the data does "
            "not reach the window yet. Load transactions that cover the window (or wait until "
            "it has passed).")
    if last < end_ts - pd.Timedelta(days=1):
        warnings.warn(
            f"transactions end {last}, before the campaign window ends {end_ts}: outcomes "
            "cover only part of the window.", stacklevel=3)
    return start_ts, end_ts


def period_totals(transactions: pd.DataFrame, customer_id: pd.Series, edges
                  ) -> list[pd.DataFrame]:
    """Per period ``[edges[i], edges[i+1])`` (increasing timestamps), one table per period:
    orders (distinct ``order_id`` with a positive line, int) and gross revenue (sum of the
    positive amounts, currency) of each customer in ``customer_id``, one row per given id in
    its order (0 without a purchase). One pass over the transactions for all periods; also the
    pre-campaign covariates when scoring with an uplift model (``pre_orders``,
    ``pre_revenue``)."""
    ts = pd.to_datetime(transactions["timestamp"])
    tz = getattr(ts.dt, "tz", None)
    bounds = pd.DatetimeIndex([_as_timestamp(e, tz) for e in edges])
    ids = pd.Index(customer_id.astype(str))
    amount = pd.to_numeric(transactions["amount"], errors="coerce").to_numpy(dtype=float)
    period = bounds.searchsorted(ts, side="right") - 1  # -1 before, len - 1 after
    keep = (period >= 0) & (period < len(bounds) - 1) & (amount > 0)
    cid = transactions["customer_id"].to_numpy()[keep].astype(str)
    keep_id = ids.get_indexer(cid) >= 0
    lines = pd.DataFrame({"customer_id": cid[keep_id],
                          "period": period[keep][keep_id],
                          "order_id": transactions["order_id"].to_numpy()[keep][keep_id],
                          "amount": amount[keep][keep_id]})
    agg = lines.groupby(["period", "customer_id"], sort=False).agg(
        orders=("order_id", "nunique"), revenue=("amount", "sum"))
    tables = []
    for i in range(len(bounds) - 1):  # a few periods, not rows
        part = (agg.xs(i, level="period") if i in agg.index.get_level_values("period")
                else agg.iloc[:0].droplevel("period")).reindex(ids)
        tables.append(pd.DataFrame({
            "orders": part["orders"].fillna(0).to_numpy().astype(np.int64),
            "revenue": part["revenue"].fillna(0.0).to_numpy().astype(float)}, index=ids))
    return tables
