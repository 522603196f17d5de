"""Uplift evaluation of a score on a randomised campaign: Qini curve, coefficient, deciles.

Inputs are aligned 1-d arrays of length ``n``: ``y`` (outcome per customer, e.g. converted
0/1 or revenue in currency), ``treated`` (bool / 0-1: in the treatment arm, intention to
treat) and ``score`` (higher = target first, e.g. predicted uplift or churn probability).
Compare one treatment arm with control at a time (drop the other arms).

Qini curve (Radcliffe 2007), customers ranked by score descending; at a prefix of the ``k``
top-ranked customers::

    gain(k) = Y_t(k) - Y_c(k) * N_t(k) / N_c(k)

with ``Y_t``, ``Y_c`` the outcome sums and ``N_t``, ``N_c`` the counts of treated / control
customers in the prefix (the incremental outcome of the treated in the prefix, in outcome
units). ``gain(0) = 0``.

Ties: customers with equal scores form a block whose internal order is arbitrary. The curve
is exact at block ends and linear in ``k`` inside a block (all cumulative columns are
interpolated), so the result does not depend on the input order. Prefixes without any
control customer (``N_c = 0``) have no defined gain; they are linearly interpolated between
the origin and the first prefix with a control. Without ties this is exactly
:func:`causalml.metrics.get_qini` (which sorts with an unstable order inside ties instead).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from scoring.data.errors import DataError

__all__ = ["qini_curve", "qini_coefficient", "uplift_by_quantile"]


def _inputs(y, treated, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    t = np.asarray(treated).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if not len(y) == len(t) == len(s):
        raise DataError(f"qini: y, treated and score must have the same length "
                        f"(got {len(y)}, {len(t)}, {len(s)}).")
    if not np.isin(t, [0, 1, True, False]).all():
        raise DataError("qini: treated must be bool or 0/1 (one treatment arm vs control); "
                        f"got values {np.unique(t)[:5].tolist()}.")
    t = t.astype(bool)
    for name, arr in (("y", y), ("score", s)):
        if not np.isfinite(arr).all():
            raise DataError(f"qini: {name} has {int((~np.isfinite(arr)).sum())} missing or "
                            "infinite value(s); drop or fill them.")
    if t.all() or not t.any():
        raise DataError("qini: need both treated and control customers "
                        f"(got {int(t.sum())} treated of {len(t)}).")
    return y, t, s


def _full_curve(y: np.ndarray, t: np.ndarray, s: np.ndarray) -> pd.DataFrame:
    """Curve at every prefix size k = 0..n (n + 1 rows)."""
    n = len(y)
    order = np.argsort(-s, kind="stable")
    ys, ts, ss = y[order], t[order], s[order]
    cum = {
        "n_treated": np.cumsum(ts, dtype=float),
        "n_control": np.cumsum(~ts, dtype=float),
        "y_treated": np.cumsum(np.where(ts, ys, 0.0)),
        "y_control": np.cumsum(np.where(ts, 0.0, ys)),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = cum["y_treated"] - cum["y_control"] * cum["n_treated"] / cum["n_control"]
    gain = np.where(cum["n_control"] > 0, gain, np.nan)
    block_end = np.append(ss[1:] != ss[:-1], True)

    k = np.arange(n + 1, dtype=float)
    known = np.append(True, block_end)           # k = 0 and the block ends
    frame = {"n": np.arange(n + 1), "fraction": k / n}
    for name, values in {**cum, "gain": gain}.items():
        full = np.append(0.0, values)
        ok = known & ~np.isnan(full)
        frame[name] = np.interp(k, k[ok], full[ok])
    frame["block_end"] = known
    out = pd.DataFrame(frame)
    out["random"] = out["fraction"] * out["gain"].iloc[-1]
    return out


def qini_curve(y, treated, score, n_points: int | None = None) -> pd.DataFrame:
    """Qini curve of ``score``.

    Returns
    -------
    pandas.DataFrame
        ``n_points`` rows (evenly spaced prefix sizes, always 0 and n) or, by default, all
        ``n + 1`` prefix sizes k = 0..n. Columns: ``n`` (customers in the prefix),
        ``fraction`` (n / total), ``n_treated``, ``n_control``, ``y_treated``, ``y_control``
        (cumulative counts and outcome sums), ``gain`` (incremental outcome, outcome units),
        ``random`` (the random-targeting line ``fraction * gain(total)``), ``block_end``
        (False inside a block of tied scores, where values are interpolated).
    """
    curve = _full_curve(*_inputs(y, treated, score))
    if n_points is None:
        return curve
    if n_points < 2:
        raise DataError(f"qini_curve: n_points must be >= 2 (got {n_points}).")
    n = len(curve) - 1
    keep = np.unique(np.round(np.linspace(0, n, int(n_points))).astype(int))
    return curve.iloc[keep].reset_index(drop=True)


def qini_coefficient(y, treated, score, normalize: bool = True) -> float:
    """Area between the Qini curve and the random line, as the mean vertical distance over
    the ``n + 1`` prefix sizes k = 0..n::

        (1 / (n + 1)) * sum_k [gain(k) - (k / n) * gain(n)]

    i.e. the area over the x-axis "fraction of customers targeted" in [0, 1]. With
    ``normalize`` (default) it is divided by ``|gain(n)|``, the total incremental outcome, so
    it is unit-free (0 = no better than random); otherwise in outcome units. Equals
    :func:`causalml.metrics.qini_score` (``normalize=True`` / ``False``) without ties.
    """
    curve = _full_curve(*_inputs(y, treated, score))
    gain = curve["gain"].to_numpy()
    total = gain[-1]
    if normalize:
        if total == 0:
            return float("nan")
        gain = gain / abs(total)
    random = np.linspace(gain[0], gain[-1], len(gain))
    return float((gain - random).sum() / len(gain))


def uplift_by_quantile(y, treated, score, q: int = 10, alpha: float = 0.05) -> pd.DataFrame:
    """Observed effect (treated mean - control mean) per score quantile with a Welch interval.

    Quantile ``j`` in 1..q is ``ceil(q * average rank / n)`` of ``score``: ``q`` holds the
    highest scores; tied scores share a quantile.

    Returns
    -------
    pandas.DataFrame
        One row per quantile present (ascending): ``quantile``, ``n``, ``n_treated``,
        ``n_control``, ``score_min``, ``score_max``, ``score_mean``, ``mean_treated``,
        ``mean_control`` (outcome units per customer), ``effect``, ``se`` (Welch),
        ``ci_low``, ``ci_high`` (``1 - alpha``, Welch-Satterthwaite t), ``p_value``
        (two-sided). NaN where an arm has fewer than 2 customers in the quantile.
    """
    y, t, s = _inputs(y, treated, score)
    if q < 1:
        raise DataError(f"uplift_by_quantile: q must be >= 1 (got {q}).")
    pct = pd.Series(s).rank(method="average", pct=True).to_numpy()
    quantile = np.clip(np.ceil(pct * q), 1, q).astype(int)
    frame = pd.DataFrame({"quantile": quantile, "t": t, "y": y, "s": s})
    scores = frame.groupby("quantile")["s"].agg(["size", "min", "max", "mean"])
    arms = frame.groupby(["quantile", "t"])["y"].agg(["size", "mean", "var"]).unstack("t")

    def col(stat: str, arm: bool) -> np.ndarray:
        key = (stat, arm)
        if key not in arms.columns:
            return np.full(len(arms), np.nan)
        return arms[key].to_numpy(dtype=float)

    n_t, n_c = np.nan_to_num(col("size", True)), np.nan_to_num(col("size", False))
    m_t, m_c = col("mean", True), col("mean", False)
    v_t, v_c = col("var", True), col("var", False)
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = v_t / n_t, v_c / n_c
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a ** 2 / (n_t - 1) + b ** 2 / (n_c - 1))
        effect = m_t - m_c
        ok = (n_t >= 2) & (n_c >= 2) & (se > 0)
        se = np.where(ok, se, np.nan)
        crit = stats.t.ppf(1 - alpha / 2, df)
        p_value = 2 * stats.t.sf(np.abs(effect / se), df)
    scores = scores.reindex(arms.index)
    return pd.DataFrame({
        "quantile": arms.index.to_numpy(),
        "n": scores["size"].to_numpy(),
        "n_treated": n_t.astype(int),
        "n_control": n_c.astype(int),
        "score_min": scores["min"].to_numpy(),
        "score_max": scores["max"].to_numpy(),
        "score_mean": scores["mean"].to_numpy(),
        "mean_treated": m_t,
        "mean_control": m_c,
        "effect": effect,
        "se": se,
        "ci_low": effect - crit * se,
        "ci_high": effect + crit * se,
        "p_value": p_value,
    })
