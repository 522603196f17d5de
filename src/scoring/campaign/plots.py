"""Figures of the campaign measurement (matplotlib, no pyplot: no GUI, Agg-safe).

Every function takes tables already computed by :mod:`.measure` / :mod:`.qini` and returns a
``matplotlib.figure.Figure``; it never shows or saves it. No statistics happen here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["arm_effects_figure", "uplift_by_decile_figure", "qini_curves_figure",
           "budget_curve_figure"]


def _figure(width: float = 6.0, height: float = 4.5) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot(1, 1, 1)


def arm_effects_figure(plain: pd.DataFrame, adjusted: pd.DataFrame | None = None, *,
                       outcome: str = "", unit: str = "") -> Figure:
    """Effect per treatment arm with its interval: plain and (offset) adjusted side by side.

    ``plain`` / ``adjusted``: :func:`scoring.campaign.measure.arm_effects` tables (the
    control reference row, with NaN effect, is skipped). ``unit`` labels the y-axis."""
    fig, ax = _figure()
    tables = [("plain (Welch)", plain)] + ([("adjusted", adjusted)] if adjusted is not None
                                           else [])
    arms = plain.loc[plain["effect"].notna(), "arm"].tolist()
    x = np.arange(len(arms))
    width = 0.35 if len(tables) > 1 else 0.0
    for i, (label, table) in enumerate(tables):
        rows = table.set_index("arm").reindex(arms)
        offset = (i - (len(tables) - 1) / 2) * width
        err = np.vstack([rows["effect"] - rows["ci_low"], rows["ci_high"] - rows["effect"]])
        ax.errorbar(x + offset, rows["effect"], yerr=err, fmt="o", capsize=4, label=label)
    ax.axhline(0, color="grey", linewidth=1, linestyle="--")
    ax.set_xticks(x, arms)
    ax.set_xlim(-0.6, len(arms) - 0.4)
    ax.set_ylabel(f"effect vs control{f' ({unit})' if unit else ''}")
    ax.set_title(f"Effect per arm{f' on {outcome}' if outcome else ''} with intervals")
    ax.legend(loc="best", fontsize="small")
    return fig


def uplift_by_decile_figure(table: pd.DataFrame, *, score_name: str = "churn risk",
                            outcome: str = "") -> Figure:
    """Observed effect per score quantile with its interval (bars + error bars).

    ``table``: :func:`scoring.campaign.qini.uplift_by_quantile` output."""
    fig, ax = _figure()
    err = np.vstack([table["effect"] - table["ci_low"], table["ci_high"] - table["effect"]])
    ax.bar(table["quantile"], table["effect"], color="tab:blue", alpha=0.6)
    ax.errorbar(table["quantile"], table["effect"], yerr=err, fmt="none", ecolor="black",
                capsize=3)
    ax.axhline(0, color="grey", linewidth=1, linestyle="--")
    ax.set_xticks(table["quantile"])
    ax.set_xlabel(f"{score_name} decile (highest = last)")
    ax.set_ylabel(f"effect on {outcome or 'outcome'} (treated - control)")
    ax.set_title(f"Uplift by {score_name} decile")
    return fig


def qini_curves_figure(curves: Mapping[str, pd.DataFrame], *,
                       coefficients: Mapping[str, float] | None = None) -> Figure:
    """Qini curves of several scores on one axis plus the random-targeting line.

    ``curves``: name -> :func:`scoring.campaign.qini.qini_curve` table (same population);
    ``coefficients``: optional name -> Qini coefficient shown in the legend."""
    fig, ax = _figure()
    first = None
    for name, curve in curves.items():
        label = name
        if coefficients and name in coefficients:
            label = f"{name} (Qini {coefficients[name]:.3f})"
        ax.plot(curve["fraction"], curve["gain"], label=label)
        first = curve if first is None else first
    if first is not None:
        ax.plot(first["fraction"], first["random"], color="grey", linestyle="--",
                label="random")
    ax.set_xlabel("fraction of customers targeted (by score, descending)")
    ax.set_ylabel("incremental outcome (Qini gain)")
    ax.set_title("Qini curves")
    ax.legend(loc="best", fontsize="small")
    return fig


def budget_curve_figure(curve: pd.DataFrame) -> Figure:
    """True incremental profit against the bonus budget, one line per allocation rule.

    ``curve``: :func:`scoring.campaign.allocate.budget_curve` output (long table with
    ``rule``, ``budget``, ``true_incremental_profit``, currency)."""
    fig, ax = _figure()
    for rule, rows in curve.groupby("rule", sort=False):
        rows = rows.sort_values("budget")
        ax.plot(rows["budget"], rows["true_incremental_profit"], marker="o", label=str(rule))
    ax.axhline(0, color="grey", linewidth=1, linestyle="--")
    ax.set_xlabel("bonus budget (currency)")
    ax.set_ylabel("true incremental profit (currency)")
    ax.set_title("Incremental profit by budget and allocation rule")
    ax.legend(loc="best", fontsize="small")
    return fig
