"""BTYD outputs for downstream models and plots: ``btyd_feature_frame`` (p_alive, expected
orders, churn probability, days to next order and, with a spend model, order value and
revenue per customer), ``p_alive_matrix`` (P(alive) over a frequency x recency grid) and
``_horizon_label`` (``"182d"``-style column suffixes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.errors import DataError
from .base import _BTYDModel


def _horizon_label(horizon_days: float) -> str:
    h = float(horizon_days)
    return f"{int(h)}d" if h == int(h) else f"{h:g}d"


def btyd_feature_frame(
    rfm: pd.DataFrame,
    horizon_days: float,
    transaction_model: _BTYDModel,
    spend_model=None,
) -> pd.DataFrame:
    """BTYD outputs as features (e.g. for the LightGBM models), indexed like ``rfm``.

    Args:
        rfm: RFM table (n customers); ``monetary_value`` is needed with a ``spend_model``.
        horizon_days: horizon H in days.
        transaction_model: a fitted BetaGeoModel / ParetoNBDModel / ModifiedBetaGeoModel.
        spend_model: a fitted ``GammaGammaModel`` (or anything with
            ``expected_order_value(rfm)``); None leaves out the money columns.

    Returns:
        DataFrame with ``p_alive``, ``expected_orders_<H>d``, ``churn_probability_<H>d``,
        ``expected_days_to_next_order`` and, with a spend model, ``expected_order_value``
        (currency per order) and ``predicted_revenue_<H>d`` (undiscounted expected revenue
        in the horizon = expected orders * expected order value).
    """
    label = _horizon_label(horizon_days)
    expected_orders = transaction_model.expected_orders(rfm, horizon_days)
    frame = pd.DataFrame(
        {
            "p_alive": transaction_model.p_alive(rfm),
            f"expected_orders_{label}": expected_orders,
            f"churn_probability_{label}": transaction_model.prob_no_order(rfm, horizon_days),
            "expected_days_to_next_order": transaction_model.expected_days_to_next_order(rfm),
        },
        index=rfm.index,
    )
    if spend_model is not None:
        order_value = spend_model.expected_order_value(rfm)
        frame["expected_order_value"] = order_value
        frame[f"predicted_revenue_{label}"] = expected_orders * order_value
    return frame


def p_alive_matrix(
    model: _BTYDModel, T: float, max_frequency: int = 30, n_recency: int = 60
) -> pd.DataFrame:
    """P(alive) of a fitted BTYD model over a frequency x recency grid, at age ``T`` days.

    Args:
        model: a fitted BetaGeoModel / ParetoNBDModel / ModifiedBetaGeoModel.
        T: days from the first purchase to the end of observation, shared by every cell.
        max_frequency: rows are frequencies 0, 1, ..., ``max_frequency`` (repeat purchase days).
        n_recency: columns are ``n_recency`` recencies evenly spaced from 0 to ``T`` (days from
            the first to the last purchase).

    Returns:
        DataFrame of shape (max_frequency + 1, n_recency), index ``frequency`` (int), columns
        ``recency`` (float days), values P(alive) in [0, 1]. A customer without repeat
        purchases has recency 0, so row 0 holds P(alive | 0, 0, T) in every column.
    """
    if not T > 0 or max_frequency < 0 or n_recency < 1:
        raise DataError(
            f"p_alive_matrix: need T > 0 days, max_frequency >= 0 and n_recency >= 1; got "
            f"T={T}, max_frequency={max_frequency}, n_recency={n_recency}."
        )
    frequency = np.arange(max_frequency + 1)
    recency = np.linspace(0.0, float(T), n_recency)
    f_grid, r_grid = np.meshgrid(frequency.astype("float64"), recency, indexing="ij")
    grid = pd.DataFrame(
        {
            "frequency": f_grid.ravel(),
            "recency": np.where(f_grid == 0, 0.0, r_grid).ravel(),
            "T": np.full(f_grid.size, float(T)),
        }
    )
    alive = np.asarray(model.p_alive(grid), dtype="float64").reshape(f_grid.shape)
    return pd.DataFrame(
        alive,
        index=pd.Index(frequency, name="frequency"),
        columns=pd.Index(recency, name="recency"),
    )
