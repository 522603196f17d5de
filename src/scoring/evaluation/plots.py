"""Figures for the churn and revenue evaluation and the notebooks (matplotlib).

Every function returns a ``matplotlib.figure.Figure`` built without pyplot, so it needs no GUI
and leaves the notebooks' inline backend alone; it never shows or saves it: callers log or
save it (``mlflow.log_figure``, ``fig.savefig``) or display it. Plotting is kept apart from
fitting and computing: the functions take predictions (arrays/Series), tables or fitted models.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scoring.evaluation.metrics import (
    ECE_BINS,
    calibration_table,
    decile_table,
    holdout_by_frequency_table,
)
from scoring.models import btyd


def _figure(width: float = 6.0, height: float = 4.5) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot(1, 1, 1)


def calibration_curve(
    y_true, probabilities: Mapping[str, np.ndarray], n_bins: int = ECE_BINS
) -> Figure:
    """Observed churn rate against mean predicted probability in equal-width bins."""
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for name, p in probabilities.items():
        table = calibration_table(y_true, p, n_bins)
        ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=name)
    ax.set_xlabel("mean predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title(f"Calibration ({n_bins} equal-width bins)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def _roc_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]


def roc_curve(y_true, scores: Mapping[str, np.ndarray]) -> Figure:
    """ROC curves (true positive rate against false positive rate) with AUC in the legend."""
    from scoring.evaluation.metrics import roc_auc

    y = np.asarray(y_true, dtype="float64")
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for name, s in scores.items():
        fpr, tpr = _roc_points(y, np.asarray(s, dtype="float64"))
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(y, s):.3f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, churn")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def gains_chart(y_true, scores: Mapping[str, np.ndarray]) -> Figure:
    """Cumulative gains (share of churners among the top-scored share of customers) and lift."""
    y = np.asarray(y_true, dtype="float64")
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    gains_ax, lift_ax = fig.subplots(1, 2)
    share = np.arange(1, y.size + 1) / y.size
    for name, s in scores.items():
        order = np.argsort(-np.asarray(s, dtype="float64"), kind="mergesort")
        captured = np.cumsum(y[order]) / max(y.sum(), 1)
        gains_ax.plot(share, captured, label=name)
        lift_ax.plot(share, captured / share, label=name)
    gains_ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="random")
    gains_ax.set_xlabel("share of customers targeted (highest churn score first)")
    gains_ax.set_ylabel("share of churners captured")
    gains_ax.set_title("Cumulative gains")
    gains_ax.legend(loc="lower right", fontsize="small")
    lift_ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    lift_ax.set_xlabel("share of customers targeted")
    lift_ax.set_ylabel("lift")
    lift_ax.set_title("Lift")
    return fig


def decile_chart(actual, predicted, title: str = "Revenue by predicted decile") -> Figure:
    """Predicted and actual revenue sums per decile of predicted revenue (1 = highest)."""
    table = decile_table(actual, predicted)
    fig, ax = _figure(7, 4.5)
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["predicted"], width=0.4, label="predicted")
    ax.bar(x + 0.2, table["actual"], width=0.4, label="actual")
    ax.set_xticks(x, [str(d) for d in table.index])
    ax.set_xlabel("decile of predicted revenue (1 = highest)")
    ax.set_ylabel("revenue in the holdout (currency)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    return fig


def p_alive_heatmap(matrix: pd.DataFrame, title: str = "P(alive)") -> Figure:
    """Heatmap of a P(alive) matrix as returned by :func:`scoring.models.btyd.p_alive_matrix`:
    shape (n_frequencies, n_recencies), index ``frequency`` (repeat purchase days), columns
    ``recency`` (days, evenly spaced from 0), values in [0, 1]."""
    frequency = matrix.index.to_numpy(dtype="float64")
    recency = matrix.columns.to_numpy(dtype="float64")
    fig, ax = _figure(7, 5)
    image = ax.imshow(
        matrix.to_numpy(dtype="float64"),
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
        extent=(recency.min(), recency.max(), frequency.min() - 0.5, frequency.max() + 0.5),
    )
    fig.colorbar(image, ax=ax, label="P(alive)")
    ax.set_xlabel("recency (days between first and last purchase)")
    ax.set_ylabel("frequency (repeat purchase days)")
    ax.set_title(title)
    return fig


def p_alive_matrix(
    model, T: float | None = None, max_frequency: int | None = None, rfm: pd.DataFrame | None = None
) -> Figure:
    """P(alive) of a fitted BTYD model over frequency (rows) and recency (columns) for a
    customer observed ``T`` days (default: the largest ``T`` in ``rfm``); the matrix is
    :func:`scoring.models.btyd.p_alive_matrix` (60 recencies from 0 to ``T``), drawn by
    :func:`p_alive_heatmap`."""
    if T is None:
        T = float(rfm["T"].max()) if rfm is not None else 365.0
    if max_frequency is None:
        max_frequency = (
            int(np.clip(rfm["frequency"].quantile(0.99), 5, 60)) if rfm is not None else 30
        )
    matrix = btyd.p_alive_matrix(model, T, max_frequency, n_recency=60)
    return p_alive_heatmap(matrix, f"{type(model).__name__}: P(alive) at T = {T:.0f} days")


def holdout_by_frequency(
    frequency, actual_orders, expected_orders: Mapping[str, np.ndarray], max_frequency: int = 7
) -> Figure:
    """Mean actual vs expected holdout purchase days by calibration-period frequency
    (the last group pools frequency >= ``max_frequency``); the means are
    :func:`scoring.evaluation.metrics.holdout_by_frequency_table`. Arrays: one value per
    customer, shape (n,); ``expected_orders``: {model name: expected purchase days}."""
    means = holdout_by_frequency_table(frequency, actual_orders, expected_orders, max_frequency)
    fig, ax = _figure(7, 4.5)
    ax.plot(means.index, means["actual"], marker="o", color="black", label="actual")
    for name in expected_orders:
        ax.plot(means.index, means[name], marker="s", linestyle="--", label=name)
    labels = [str(g) if g < max_frequency else f"{max_frequency}+" for g in means.index]
    ax.set_xticks(means.index, labels)
    ax.set_xlabel("repeat purchase days before the cutoff")
    ax.set_ylabel("mean purchase days in the holdout")
    ax.set_title("Expected vs actual holdout purchases")
    ax.legend()
    return fig
