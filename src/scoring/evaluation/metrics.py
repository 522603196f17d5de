"""Churn and revenue metrics, written out so their definitions are explicit.

Churn (binary label ``y`` = 1 when the customer placed no order in the holdout window,
score ``p`` = predicted churn probability in [0, 1]):

* ``roc_auc``: probability that a random churner scores higher than a random non-churner,
  ties counted as 1/2 (Mann-Whitney U with average ranks).
* ``pr_auc``: average precision, ``sum_k (R_k - R_{k-1}) P_k`` over distinct score
  thresholds from high to low (the step-wise area under the precision-recall curve, the
  same definition as ``sklearn.metrics.average_precision_score``).
* ``brier``: mean squared error of the probabilities.
* ``log_loss``: mean negative log-likelihood, probabilities clipped to ``[1e-15, 1 - 1e-15]``.
* ``expected_calibration_error``: 10 equal-width probability bins ``[0, 0.1), ..., [0.9, 1]``;
  ``sum_b (n_b / n) |mean(y in b) - mean(p in b)|`` over non-empty bins.

Revenue (``actual`` >= 0 and ``predicted`` revenue per customer, currency):

* ``normalized_gini``: Gini of the predictions against the actual values divided by the Gini
  of the actual values against themselves. Gini(order) = mean over the population of
  (cumulative share of actual revenue captured when customers are sorted by ``order``
  descending - population share). Customers with tied predictions get the mean actual value
  of their tie group (the expectation over the tie orderings), so ties do not get credit
  from the input order. 1 = perfect ranking, 0 = random.
* ``spearman``: Spearman rank correlation (average ranks for ties).
* ``mae``: mean absolute error (currency per customer).
* ``total_ratio``: total predicted / total actual revenue.
* ``decile_mape``: customers split into 10 equal-size deciles by predicted revenue (ties
  broken by position after a stable sort); per decile the sums of predicted and actual revenue;
  mean over deciles of ``|predicted - actual| / actual`` (deciles whose actual sum is 0 are
  skipped).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from scoring.data.errors import DataError

ECE_BINS = 10
LOG_LOSS_EPS = 1e-15


def _arrays(first, second, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(first, dtype="float64").ravel()
    b = np.asarray(second, dtype="float64").ravel()
    if a.shape != b.shape:
        raise DataError(
            f"metrics: {names[0]} has {a.size} values but {names[1]} has {b.size}; pass one value "
            "per customer in the same order."
        )
    if a.size == 0:
        raise DataError(f"metrics: {names[0]} and {names[1]} are empty; nothing to evaluate.")
    for name, values in zip(names, (a, b), strict=True):
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"metrics: {name} has {int(bad.sum())} missing or infinite values; fill or drop "
                "them before evaluating."
            )
    return a, b


def _churn_inputs(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    y, p = _arrays(y_true, y_prob, ("y_true", "y_prob"))
    labels = np.unique(y)
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataError(
            f"metrics: y_true must be 0/1 churn labels, got values {labels[:5].tolist()}."
        )
    return y, p


def roc_auc(y_true, y_score) -> float:
    """ROC-AUC (Mann-Whitney U, ties count 1/2). NaN when only one class is present."""
    y, s = _churn_inputs(y_true, y_score)
    n_pos = y.sum()
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y_true, y_score) -> float:
    """Average precision (step-wise area under the precision-recall curve)."""
    y, s = _churn_inputs(y_true, y_score)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # last index of every distinct threshold
    distinct = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tp = np.cumsum(y_sorted)[distinct]
    predicted = distinct + 1
    precision = tp / predicted
    recall = tp / n_pos
    recall_steps = np.diff(np.r_[0.0, recall])
    return float((recall_steps * precision).sum())


def brier(y_true, y_prob) -> float:
    """Brier score: mean of (p - y)^2."""
    y, p = _churn_inputs(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def log_loss(y_true, y_prob, eps: float = LOG_LOSS_EPS) -> float:
    """Mean negative log-likelihood with probabilities clipped to [eps, 1 - eps]."""
    y, p = _churn_inputs(y_true, y_prob)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def expected_calibration_error(y_true, y_prob, n_bins: int = ECE_BINS) -> float:
    """ECE over ``n_bins`` equal-width probability bins on [0, 1] (last bin closed)."""
    y, p = _churn_inputs(y_true, y_prob)
    bins = np.clip(np.floor(p * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    used = count > 0
    gap = np.abs(sum_y[used] - sum_p[used])  # = n_b * |mean y - mean p|
    return float(gap.sum() / y.size)


def calibration_table(y_true, y_prob, n_bins: int = ECE_BINS) -> pd.DataFrame:
    """Per equal-width bin: ``n``, ``mean_predicted``, ``observed_rate`` (non-empty bins)."""
    y, p = _churn_inputs(y_true, y_prob)
    bins = np.clip(np.floor(p * n_bins).astype(int), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "y": y, "p": p})
    table = frame.groupby("bin").agg(
        n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean")
    )
    table["bin_lower"] = table.index / n_bins
    return table.reset_index(drop=True)


def churn_metrics(y_true, y_prob) -> dict[str, float]:
    """All churn metrics as a dict (keys: roc_auc, pr_auc, brier, log_loss, ece,
    mean_predicted, churn_rate)."""
    y, p = _churn_inputs(y_true, y_prob)
    return {
        "roc_auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "brier": brier(y, p),
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "mean_predicted": float(p.mean()),
        "churn_rate": float(y.mean()),
    }


def _gini(actual: np.ndarray, order_by: np.ndarray) -> float:
    order = np.argsort(-order_by, kind="mergesort")
    sorted_key = order_by[order]
    sorted_actual = actual[order]
    # ties: every member of a tie group gets the group's mean actual value
    group = np.r_[0, np.cumsum(np.diff(sorted_key) != 0)]
    group_mean = np.bincount(group, weights=sorted_actual) / np.bincount(group)
    values = group_mean[group]
    total = values.sum()
    if total == 0:
        return float("nan")
    n = values.size
    captured = np.cumsum(values) / total
    return float(captured.sum() / n - (n + 1) / (2 * n))


def normalized_gini(actual, predicted) -> float:
    """Gini(predicted ordering) / Gini(actual ordering); NaN when all actual values are 0."""
    a, p = _arrays(actual, predicted, ("actual", "predicted"))
    best = _gini(a, a)
    if not np.isfinite(best) or best == 0:
        return float("nan")
    return _gini(a, p) / best


def spearman(actual, predicted) -> float:
    """Spearman rank correlation (NaN when either input is constant)."""
    a, p = _arrays(actual, predicted, ("actual", "predicted"))
    if np.all(a == a[0]) or np.all(p == p[0]):
        return float("nan")
    return float(stats.spearmanr(a, p).statistic)


def mae(actual, predicted) -> float:
    """Mean absolute error (same unit as the inputs)."""
    a, p = _arrays(actual, predicted, ("actual", "predicted"))
    return float(np.mean(np.abs(a - p)))


def total_ratio(actual, predicted) -> float:
    """Total predicted / total actual (NaN when the actual total is 0)."""
    a, p = _arrays(actual, predicted, ("actual", "predicted"))
    total = a.sum()
    return float(p.sum() / total) if total != 0 else float("nan")


def decile_table(actual, predicted, n_groups: int = 10) -> pd.DataFrame:
    """Customers in ``n_groups`` equal-size groups by predicted value (group 1 = highest);
    columns ``n``, ``predicted``, ``actual`` (sums), ``abs_pct_error``."""
    a, p = _arrays(actual, predicted, ("actual", "predicted"))
    order = np.argsort(-p, kind="mergesort")
    position = np.empty(a.size, dtype="int64")
    position[order] = np.arange(a.size)
    decile = position * n_groups // a.size + 1
    frame = pd.DataFrame({"decile": decile, "predicted": p, "actual": a})
    table = frame.groupby("decile").agg(
        n=("actual", "size"), predicted=("predicted", "sum"), actual=("actual", "sum")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        table["abs_pct_error"] = np.where(
            table["actual"] > 0,
            np.abs(table["predicted"] - table["actual"]) / table["actual"],
            np.nan,
        )
    return table


def decile_mape(actual, predicted, n_groups: int = 10) -> float:
    """Mean absolute percentage error of per-decile revenue sums (see ``decile_table``)."""
    errors = decile_table(actual, predicted, n_groups)["abs_pct_error"].dropna()
    return float(errors.mean()) if len(errors) else float("nan")


def revenue_metrics(actual, predicted) -> dict[str, float]:
    """All revenue metrics as a dict (keys: normalized_gini, spearman, mae, total_ratio,
    decile_mape, total_predicted, total_actual)."""
    a, p = _arrays(actual, predicted, ("actual", "predicted"))
    return {
        "normalized_gini": normalized_gini(a, p),
        "spearman": spearman(a, p),
        "mae": mae(a, p),
        "total_ratio": total_ratio(a, p),
        "decile_mape": decile_mape(a, p),
        "total_predicted": float(p.sum()),
        "total_actual": float(a.sum()),
    }


def holdout_by_frequency_table(
    frequency, actual_orders, expected_orders: Mapping[str, np.ndarray], max_frequency: int = 7
) -> pd.DataFrame:
    """Mean actual and expected holdout purchase days per calibration-period frequency.

    ``frequency`` (repeat purchase days before the cutoff), ``actual_orders`` (purchase days in
    the holdout) and every array of ``expected_orders`` ({model name: expected purchase days in
    the holdout}) hold one value per customer, shape (n,). Customers are grouped by frequency,
    the last group pooling frequency >= ``max_frequency``. Returns one row per non-empty group,
    index ``frequency`` (int, 0..max_frequency), columns ``n`` (customers), ``actual`` and one
    per model (mean purchase days per customer in the holdout).
    """
    f, actual = _arrays(frequency, actual_orders, ("frequency", "actual_orders"))
    frame = pd.DataFrame({"frequency": np.minimum(f, max_frequency).astype("int64"),
                          "actual": actual})
    for name, values in expected_orders.items():
        frame[name] = _arrays(f, values, ("frequency", f"expected_orders[{name!r}]"))[1]
    grouped = frame.groupby("frequency")
    return pd.concat([grouped.size().rename("n"), grouped.mean()], axis=1)
