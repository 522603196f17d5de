"""Campaign figures added for the notebooks: the budget curve (drawing only)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from scoring.campaign.plots import budget_curve_figure


def test_budget_curve_figure_draws_one_line_per_rule():
    curve = pd.DataFrame({
        "rule": ["oracle"] * 3 + ["uplift model"] * 3,
        "budget": [0.0, 50.0, 100.0] * 2,
        "customers_with_bonus": [0, 5, 9, 0, 4, 8],
        "spent": [0.0, 40.0, 90.0, 0.0, 45.0, 95.0],
        "true_incremental_profit": [0.0, 30.0, 45.0, 0.0, 10.0, 12.0],
    })
    fig = budget_curve_figure(curve.iloc[::-1])  # row order does not matter
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()
             if not line.get_label().startswith("_")}
    assert set(lines) == {"oracle", "uplift model"}
    assert list(lines["oracle"].get_xdata()) == [0.0, 50.0, 100.0]
    assert list(lines["oracle"].get_ydata()) == [0.0, 30.0, 45.0]
    assert "budget" in ax.get_xlabel() and "profit" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["uplift model", "oracle"]
