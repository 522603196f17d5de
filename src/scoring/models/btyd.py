"""BTYD ("buy till you die") transaction models: BG/NBD, Pareto/NBD and modified BG/NBD.

Every model reads an RFM table as built by :func:`scoring.features.rfm.rfm_summary`
(index ``customer_id``; float columns ``frequency``, ``recency``, ``T``, all in **days**) and
has the same interface:

- ``fit(rfm)``: maximum likelihood on the unique ``(frequency, recency, T)`` rows weighted by
  their counts (same objective as lifetimes: mean negative log-likelihood over customers plus
  ``penalizer_coef * sum(params ** 2)`` on the time-scaled parameters, time scaled by
  ``1 / T.max()``). Parameters ``params_`` are per **day**.
- ``p_alive(rfm)``: P(customer still active at ``T`` | history).
- ``expected_orders(rfm, H)``: E[number of purchase days in ``(T, T + H]`` | history].
- ``prob_no_order(rfm, H)``: P(no purchase in ``(T, T + H]`` | history), the churn
  probability. It is the ratio of two likelihoods, ``L(x, t_x, T + H) / L(x, t_x, T)``: the
  likelihood of the history with the observation window stretched to ``T + H`` is exactly the
  probability of the same history and no purchase after ``T`` up to ``T + H``. Not
  ``1 - p_alive``: an active customer may still make no purchase in a short horizon.
- ``expected_days_to_next_order(rfm)``: median waiting time (days after ``T``) to the next
  purchase for a customer who is still active, capped at ``max_days_to_next_order``.
- ``predict(rfm, H)``: all of the above as a DataFrame indexed like ``rfm``.

Everything is computed in log space (``gammaln``, ``logaddexp``, ``expm1``/``log1p`` and a
well-conditioned hypergeometric form of the Pareto/NBD integral) so predictions are finite
for every customer, including heavy buyers with hundreds of purchase days whose last
purchase was on the last day (where lifetimes' Pareto/NBD returns NaN).

Predictions are computed once per unique ``(frequency, recency, T)`` row and broadcast back.

Convergence ladder: ``fit`` first uses ``penalizer_coef`` (default 0, the plain maximum
likelihood), then 1e-4, 1e-3 and 1e-2 while the fit fails (non-finite values, a diverging
parameter, a gradient that is not ~0). ``fit_info_`` records every attempt and the step used;
if no step works ``fit`` raises ``DataError`` listing them. On Online Retail II the BG/NBD
fits at step 0, the Pareto/NBD at step 1 (its likelihood keeps rising as s, beta -> inf).

References: Fader, Hardie & Lee (2005), "Counting your customers the easy way" (BG/NBD);
Schmittlein, Morrison & Colombo (1987) and Fader & Hardie (2005) note 009 (Pareto/NBD);
Batislam, Denizel & Filiztekin (2007) (modified BG/NBD).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.exceptions import NotFittedError

from ..data.errors import DataError, examples, require_columns

RFM_COLUMNS: tuple[str, ...] = ("frequency", "recency", "T")

DEFAULT_PENALIZER_LADDER: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
"""Penalizers tried in turn (after ``penalizer_coef``) when a fit fails or is absurd."""

PARAM_BOUNDS: tuple[float, float] = (1e-6, 1e6)
"""A fit whose time-scaled parameters leave this range counts as absurd (next ladder step)."""

ACCEPT_GRADIENT: float = 1e-4
"""A fit whose largest gradient entry (mean NLL w.r.t. log-parameters) exceeds this failed."""

_LN2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------
# Input checks and row compression
# ---------------------------------------------------------------------------------------------


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
    codes, sizes, uniques = [], [], []
    for col in columns:
        u, inv = np.unique(col, return_inverse=True)
        uniques.append(u)
        codes.append(inv.astype(np.int64))
        sizes.append(len(u))
    if math.prod(sizes) < 2**62:
        key = codes[0]
        for code, size in zip(codes[1:], sizes[1:], strict=True):
            key = key * size + code
        _, first, inverse, counts = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
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


# ---------------------------------------------------------------------------------------------
# Numerical helpers
# ---------------------------------------------------------------------------------------------


def _expm1_ratio(k, y):
    """``expm1(k * y) / k`` with its limit ``y`` at ``k = 0`` (elementwise, stable)."""
    k = np.asarray(k, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ky = k * y
    small = np.abs(ky) < 1e-8
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(small, y * (1.0 + 0.5 * ky), np.expm1(ky) / np.where(small, 1.0, k))
    return ratio


_SERIES_CHUNK = 32
_DE_STEP = 1.0 / 32.0
_DE_NODES = np.arange(-4.0, 3.0 + _DE_STEP / 2, _DE_STEP)
_DE_Q = np.exp(0.5 * np.pi * np.sinh(_DE_NODES))
_DE_DQ = _DE_Q * 0.5 * np.pi * np.cosh(_DE_NODES) * _DE_STEP
_DE_EXP_MINUS_Q = np.exp(-_DE_Q)


_CF_MAX_STEPS = 1024
_CF_CHUNK = 16


def _log_hyp2f1_b1(A, e, w) -> np.ndarray:
    """``log 2F1(A, 1; A + e; w)`` for ``A > 0``, ``e > 0``, ``A + e > 1``, ``0 <= w < 1``.

    ``scipy.special.hyp2f1`` is wrong or NaN here when ``e`` is close to an integer or large
    and ``w`` close to 1 (that is where lifetimes' Pareto/NBD breaks), and slow for large
    ``A``. Instead:

    - Gauss' continued fraction for ``2F1(a, 1; c + 1; w)`` (``c = A + e - 1``),
      ``1 / (1 - k1 w / (1 - k2 w / (1 - ...)))`` with ``k_{2n+1} = (a+n)(c+n) / ((c+2n)
      (c+2n+1))`` and ``k_{2n} = n(c-a+n) / ((c+2n-1)(c+2n))``, all positive, evaluated
      forwards (modified Lentz) until the relative change is below 1e-16. It converges in a
      few dozen steps except for small ``e`` with ``w`` close to 1.
    - Rows not converged after ``_CF_MAX_STEPS`` steps:
      ``2F1 = (A+e-1) (1-w)^(e-1) int_0^inf exp(-(A+e-1) q) (1 - w e^-q)^-e dq``
      by exp-sinh (double exponential) quadrature, relative error < 1e-9.
    """
    A, e, w = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (A, e, w)))
    shape = A.shape
    A, e, w = A.ravel(), e.ravel(), w.ravel()
    out, converged = _log_hyp2f1_b1_cf(A, e, w)
    quad = ~converged
    if quad.any():
        out[quad] = _log_hyp2f1_b1_quadrature(A[quad], e[quad], w[quad])
    return out.reshape(shape)


def _log_hyp2f1_b1_cf(A, e, w, max_steps: int = _CF_MAX_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """``log 2F1(A, 1; A + e; w)`` by Gauss' continued fraction (see ``_log_hyp2f1_b1``).

    Modified Lentz on ``D = 1 + a_1 / (1 + a_2 / (1 + ...))`` with ``a_j = -k_j w`` and
    ``2F1 = 1 / D``, in vectorised chunks of ``_CF_CHUNK`` steps over the unconverged rows.
    Returns ``(log values, converged mask)``.
    """
    c = A + e - 1.0
    value = np.ones(A.shape)  # f_j
    big_c = np.ones(A.shape)  # Lentz C_j
    big_d = np.zeros(A.shape)  # Lentz D_j
    converged = np.zeros(A.shape, dtype=bool)
    steps = np.arange(_CF_CHUNK)
    j0 = 1
    while j0 <= max_steps:
        idx = np.flatnonzero(~converged)
        if len(idx) == 0:
            break
        # coefficients a_j = -k_j w of this chunk, shape (rows, _CF_CHUNK)
        j = j0 + steps
        m = (j // 2)[None, :]
        odd = (j % 2 == 1)[None, :]
        Ai, ci, ei = A[idx, None], c[idx, None], e[idx, None]
        k = np.where(
            odd,
            (Ai + m) * (ci + m) / ((ci + 2 * m) * (ci + 2 * m + 1)),
            m * (ei - 1.0 + m) / ((ci + 2 * m - 1) * (ci + 2 * m)),
        )
        coef = -k * w[idx, None]
        f, cc, dd = value[idx], big_c[idx], big_d[idx]
        delta = np.ones(len(idx))
        for i in range(_CF_CHUNK):
            a = coef[:, i]
            dd = 1.0 / (1.0 + a * dd)
            cc = 1.0 + a / cc
            delta = cc * dd
            f = f * delta
        value[idx], big_c[idx], big_d[idx] = f, cc, dd
        converged[idx] = np.abs(delta - 1.0) < 1e-16
        j0 += _CF_CHUNK
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(value), converged


def _log_hyp2f1_b1_grad(A, e, w) -> tuple[np.ndarray, np.ndarray]:
    """``log 2F1(A, 1; A + e; w)`` and its partial derivatives w.r.t. ``(A, e, w)``.

    Same methods as ``_log_hyp2f1_b1`` (continued fraction, quadrature for the rest), with
    forward-mode differentiation carried through the Lentz recurrence and under the integral.
    Inputs are 1-d arrays; returns ``(values (n,), gradients (n, 3))``.
    """
    out, grad, converged = _log_hyp2f1_b1_cf_grad(A, e, w)
    quad = ~converged
    if quad.any():
        out[quad], grad[quad] = _log_hyp2f1_b1_quadrature_grad(A[quad], e[quad], w[quad])
    return out, grad


def _log_hyp2f1_b1_cf_grad(A, e, w, max_steps: int = _CF_MAX_STEPS):
    """Continued fraction of ``_log_hyp2f1_b1_cf`` with derivatives w.r.t. ``(A, e, w)``."""
    n_rows = len(A)
    c = A + e - 1.0
    value = np.ones(n_rows)  # D_j (the fraction); 2F1 = 1 / D
    big_c = np.ones(n_rows)
    big_d = np.zeros(n_rows)
    d_c = np.zeros((3, n_rows))  # derivatives of the Lentz C_j
    d_d = np.zeros((3, n_rows))  # derivatives of the Lentz D_j
    d_log = np.zeros((3, n_rows))  # derivatives of log D_j
    converged = np.zeros(n_rows, dtype=bool)
    steps = np.arange(_CF_CHUNK)
    j0 = 1
    while j0 <= max_steps:
        idx = np.flatnonzero(~converged)
        if len(idx) == 0:
            break
        j = j0 + steps
        m = (j // 2)[None, :]
        odd = (j % 2 == 1)[None, :]
        Ai, ci, ei, wi = A[idx, None], c[idx, None], e[idx, None], w[idx, None]
        inv1 = 1.0 / (ci + 2 * m)
        inv_odd = 1.0 / (ci + 2 * m + 1)
        inv_even = 1.0 / (ci + 2 * m - 1)
        k_odd = (Ai + m) * (ci + m) * inv1 * inv_odd
        k_even = m * (ei - 1.0 + m) * inv_even * inv1
        k = np.where(odd, k_odd, k_even)
        # d log k / dA and d log k / de (c = A + e - 1 depends on both)
        dlk_e = np.where(
            odd,
            1.0 / (ci + m) - inv1 - inv_odd,
            np.divide(1.0, ei - 1.0 + m, out=np.zeros_like(k), where=m > 0) - inv_even - inv1,
        )
        dlk_a = np.where(odd, dlk_e + 1.0 / (Ai + m), -inv_even - inv1)
        coef_rows = -k * wi  # (rows, chunk)
        coef = np.ascontiguousarray(coef_rows.T)  # (chunk, rows)
        dcoef = np.ascontiguousarray(
            np.stack([coef_rows * dlk_a, coef_rows * dlk_e, -k + 0.0 * wi]).transpose(2, 0, 1)
        )  # (chunk, 3, rows): derivatives of the coefficients w.r.t. (A, e, w)
        f, cc, dd = value[idx], big_c[idx], big_d[idx]
        dcc, ddd, dlog = d_c[:, idx], d_d[:, idx], d_log[:, idx]
        delta = np.ones(len(idx))
        for i in range(_CF_CHUNK):
            a, da = coef[i], dcoef[i]
            dd_old, cc_old = dd, cc
            dd = 1.0 / (1.0 + a * dd_old)
            ddd = -(da * dd_old + a * ddd) * (dd * dd)
            cc = 1.0 + a / cc_old
            dcc = (da - a * dcc / cc_old) / cc_old
            delta = cc * dd
            f = f * delta
            dlog += dcc / cc + ddd / dd
        value[idx], big_c[idx], big_d[idx] = f, cc, dd
        d_c[:, idx], d_d[:, idx], d_log[:, idx] = dcc, ddd, dlog
        converged[idx] = np.abs(delta - 1.0) < 1e-16
        j0 += _CF_CHUNK
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(value), -d_log.T.copy(), converged


def _log_hyp2f1_b1_quadrature_grad(A, e, w):
    """Exp-sinh quadrature of ``_log_hyp2f1_b1_quadrature`` with derivatives (n, 3)."""
    p = A + e - 1.0
    log_w1 = np.log1p(-w)
    q = _DE_Q[None, :]
    one_minus = 1.0 - w[:, None] * _DE_EXP_MINUS_Q[None, :]
    bracket = np.log(one_minus) - log_w1[:, None]
    psi = -p[:, None] * q - e[:, None] * bracket
    weights = np.exp(psi) * _DE_DQ[None, :]
    total = weights.sum(axis=1)
    mean = lambda values: (weights * values).sum(axis=1) / total  # noqa: E731
    d_psi_dw = -e[:, None] * (-_DE_EXP_MINUS_Q[None, :] / one_minus + 1.0 / (1.0 - w[:, None]))
    grad = np.column_stack(
        [
            1.0 / p + mean(-q),
            1.0 / p + mean(-q - bracket),
            1.0 / (1.0 - w) + mean(d_psi_dw),
        ]
    )
    return np.log(p) - log_w1 + np.log(total), grad


def _log_hyp2f1_b1_series(A, e, w, max_terms: int = 10**7) -> np.ndarray:
    """``log 2F1(A, 1; A + e; w)`` by the positive series, summed in vectorised chunks until
    the tail (at most ``term * w / (1 - w)``) is below 1e-16 of the sum. Exact but slow
    when ``w`` is close to 1; the reference the fast paths are tested against."""
    A, e, w = (np.asarray(v, dtype=np.float64).ravel() for v in (A, e, w))
    total = np.ones(A.shape)
    last = np.ones(A.shape)
    tail_factor = w / (1.0 - w)
    active = w > 0
    offsets = np.arange(_SERIES_CHUNK, dtype=np.float64)
    n0 = 0
    while n0 < max_terms:
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        j = n0 + offsets
        ratios = (A[idx, None] + j) / (A[idx, None] + e[idx, None] + j) * w[idx, None]
        terms = last[idx, None] * np.cumprod(ratios, axis=1)
        total[idx] += terms.sum(axis=1)
        last[idx] = terms[:, -1]
        done = last[idx] * tail_factor[idx] <= 1e-16 * total[idx]
        active[idx[done]] = False
        n0 += _SERIES_CHUNK
    return np.log(total)


def _log_hyp2f1_b1_quadrature(A, e, w) -> np.ndarray:
    """``log 2F1(A, 1; A + e; w)`` by exp-sinh quadrature (see ``_log_hyp2f1_b1``).

    The integrand ``exp(psi(q))``, ``psi(q) = -(A+e-1) q - e (log(1 - w e^-q) - log(1 - w))``,
    is at most 1 and decreasing, so it is summed without rescaling.
    """
    p = A + e - 1.0
    log_w1 = np.log1p(-w)
    psi = -p[:, None] * _DE_Q[None, :] - e[:, None] * (
        np.log1p(-w[:, None] * _DE_EXP_MINUS_Q[None, :]) - log_w1[:, None]
    )
    integral = (np.exp(psi) * _DE_DQ[None, :]).sum(axis=1)
    return np.log(p) - log_w1 + np.log(integral)


def _hyp2f1_minus_one_over_b(A, b, C, z, max_terms: int = 1_000_000) -> np.ndarray:
    """``(2F1(A, b; C; z) - 1) / b`` for ``0 <= z < 1``, stable as ``b -> 0``.

    Uses scipy's ``hyp2f1`` (its power series there) when ``|b| > 1e-3``, ``z <= 0.9`` and the
    result is finite; otherwise the series ``sum_{n>=1} (A)_n (b + 1)_{n-1} z^n / ((C)_n n!)``
    summed in vectorised chunks (scipy's transformations near ``z = 1`` are unreliable when
    ``C - A - b`` is close to an integer).
    """
    A, b, C, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (A, b, C, z)))
    out = np.full(A.shape, np.nan)
    direct = (np.abs(b) > 1e-3) & (z <= 0.9)
    if direct.any():
        with np.errstate(all="ignore"):
            out[direct] = (special.hyp2f1(A[direct], b[direct], C[direct], z[direct]) - 1.0) / (
                b[direct]
            )
    todo = ~np.isfinite(out)
    if todo.any():
        out[todo] = _hyp2f1_series_minus_one_over_b(A[todo], b[todo], C[todo], z[todo], max_terms)
    return out


def _hyp2f1_series_minus_one_over_b(A, b, C, z, max_terms: int) -> np.ndarray:
    term = A * z / C  # n = 1
    total = term.copy()
    active = np.ones(A.shape, dtype=bool)
    offsets = np.arange(_SERIES_CHUNK, dtype=np.float64)
    n0 = 1
    while n0 < max_terms:
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        n = n0 + offsets  # ratio term_{n+1} / term_n
        ratios = (
            (A[idx, None] + n)
            * (b[idx, None] + n)
            * z[idx, None]
            / ((C[idx, None] + n) * (n + 1.0))
        )
        terms = term[idx, None] * np.cumprod(ratios, axis=1)
        total[idx] += terms.sum(axis=1)
        term[idx] = terms[:, -1]
        # once the ratios are below z < 1 the tail is at most |term| * z / (1 - z)
        converged = (np.abs(term[idx]) * z[idx] / (1.0 - z[idx]) <= 1e-16 * np.abs(total[idx])) & (
            np.abs(ratios[:, -1]) < 1.0
        )
        converged |= term[idx] == 0
        active[idx[converged]] = False
        n0 += _SERIES_CHUNK
    return total


def _posterior_expected_alive_bg(R, alpha, a, b_post, T, H) -> np.ndarray:
    """E[purchases in (T, T+H] | alive at T] for the BG/NBD family.

    ``lambda ~ Gamma(R, alpha + T)``, ``p ~ Beta(a, b_post)``, purchases Poisson(lambda) and
    dropout with probability p after each purchase:
    ``E_p[(1 - (1 + p H / (alpha + T))^(-R)) / p]
    = C / (a - 1) * (1 - (1 - z)^(a - 1) 2F1(C - R, a - 1; C; z))`` with
    ``C = a + b_post - 1`` and ``z = H / (alpha + T + H)`` (Pfaff transform of lifetimes'
    formula; the hypergeometric here has parameters that do not grow with the frequency).
    """
    C = a + b_post - 1.0
    z = H / (alpha + T + H)
    ell = -np.log1p(H / (alpha + T))  # log(1 - z)
    k = a - 1.0
    G = _hyp2f1_minus_one_over_b(C - R, k, C, z)
    # C/k * (1 - e^{k ell} (1 + k G)) = C * ((1 - e^{k ell}) / k - e^{k ell} G)
    return C * (-_expm1_ratio(k, ell) - np.exp(k * ell) * G)


def _pareto_log_integral(r, alpha, s, beta, x, t_lo, t_hi) -> np.ndarray:
    """``log of integral_{t_lo}^{t_hi} (alpha + tau)^-(r + x) (beta + tau)^-(s + 1) dtau``.

    The dropout-between-purchases term of the Pareto/NBD likelihood. With ``m = max(alpha,
    beta)``, ``k = |alpha - beta|``, ``p = r + s + x`` and ``y = 1 / (m + tau)`` the antiderivative
    is ``F(y) = y^p / p * (1 - k y)^(1 - d) * 2F1(p + 1 - d, 1; p + 1; k y)`` (Euler transform
    of lifetimes' ``2F1(p, d; p + 1; k y)``; ``d = s + 1`` if ``alpha >= beta`` else ``r + x``).
    ``F`` is the tail integral from ``tau`` to infinity. The remaining ``2F1`` has positive
    terms and stays O(1 / (1 - k y)), so ``log F`` never overflows; it is evaluated by
    ``_log_hyp2f1_b1`` (not scipy's ``hyp2f1``, which returns NaN or wrong values here). The
    difference ``F(y_lo) - F(y_hi)`` is taken as ``log F_lo + log(-expm1(.))``, once per
    unique ``(x, t)``. Returns ``-inf`` where ``t_hi <= t_lo``. Shapes broadcast.
    """
    x, t_lo, t_hi = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, t_lo, t_hi)))
    big, k = (alpha, alpha - beta) if alpha >= beta else (beta, beta - alpha)
    out = np.full(x.shape, -np.inf)
    rows = t_hi > t_lo
    if not rows.any():
        return out
    # log F at both ends, computed once per unique (x, t) pair
    both_x = np.concatenate([x[rows], x[rows]])
    both_t = np.concatenate([t_lo[rows], t_hi[rows]])
    (ux, ut), inverse, _ = unique_rows(both_x, both_t)
    up = r + s + ux
    ud = np.full(ux.shape, s + 1.0) if alpha >= beta else r + ux
    w = k / (big + ut)
    log_F = (
        -up * np.log(big + ut)
        - np.log(up)
        + (1.0 - ud) * np.log1p(-w)
        + _log_hyp2f1_b1(up + 1.0 - ud, ud, w)
    )[inverse]
    lo, hi = log_F[: rows.sum()], log_F[rows.sum() :]
    diff = np.minimum(hi - lo, -1e-300)
    out[rows] = lo + np.log(-np.expm1(diff))
    return out


def _pareto_log_integral_grad(r, alpha, s, beta, x, t_lo, t_hi):
    """``_pareto_log_integral`` and its gradient w.r.t. ``(r, alpha, s, beta)``, shape (n, 4).

    Rows with ``t_hi <= t_lo`` get ``-inf`` and a zero gradient.
    """
    x, t_lo, t_hi = (np.asarray(v, dtype=np.float64) for v in (x, t_lo, t_hi))
    out = np.full(x.shape, -np.inf)
    grad = np.zeros(x.shape + (4,))
    rows = t_hi > t_lo
    n = int(rows.sum())
    if n == 0:
        return out, grad
    (ux, ut), inverse, _ = unique_rows(
        np.concatenate([x[rows], x[rows]]), np.concatenate([t_lo[rows], t_hi[rows]])
    )
    zero = np.zeros(ux.shape)
    p = r + s + ux
    if alpha >= beta:
        big, k = alpha, alpha - beta
        d, A, e = s + 1.0 + zero, r + ux, s + 1.0 + zero
        d_big = np.array([0.0, 1.0, 0.0, 0.0])
        d_k = np.array([0.0, 1.0, 0.0, -1.0])
        d_d = np.array([0.0, 0.0, 1.0, 0.0])
        d_A = np.array([1.0, 0.0, 0.0, 0.0])
        d_e = d_d
    else:
        big, k = beta, beta - alpha
        d, A, e = r + ux, s + 1.0 + zero, r + ux
        d_big = np.array([0.0, 0.0, 0.0, 1.0])
        d_k = np.array([0.0, -1.0, 0.0, 1.0])
        d_d = np.array([1.0, 0.0, 0.0, 0.0])
        d_A = np.array([0.0, 0.0, 1.0, 0.0])
        d_e = d_d
    d_p = np.array([1.0, 0.0, 1.0, 0.0])
    inv = 1.0 / (big + ut)
    w = k * inv
    log_big = np.log(big + ut)
    log_1mw = np.log1p(-w)
    hyp, hyp_grad = _log_hyp2f1_b1_grad(A, e, w)
    log_F = -p * log_big - np.log(p) + (1.0 - d) * log_1mw + hyp
    dw = np.outer(inv, d_k) - np.outer(k * inv * inv, d_big)  # (m, 4)
    d_log_F = (
        -np.outer(log_big + 1.0 / p, d_p)
        - np.outer(p * inv, d_big)
        - np.outer(log_1mw, d_d)
        - ((1.0 - d) / (1.0 - w))[:, None] * dw
        + np.outer(hyp_grad[:, 0], d_A)
        + np.outer(hyp_grad[:, 1], d_e)
        + hyp_grad[:, 2][:, None] * dw
    )
    log_F, d_log_F = log_F[inverse], d_log_F[inverse]
    lo, hi = log_F[:n], log_F[n:]
    d_lo, d_hi = d_log_F[:n], d_log_F[n:]
    diff = np.minimum(hi - lo, -1e-300)
    tail = -np.expm1(diff)
    out[rows] = lo + np.log(tail)
    ratio = np.exp(diff) / tail
    grad[rows] = d_lo - ratio[:, None] * (d_hi - d_lo)
    return out, grad


def _matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` without BLAS (its threads oversubscribe busy hosts)."""
    return (matrix * vector[None, :]).sum(axis=1)


def _median_wait(R, alpha, T, cap: float) -> np.ndarray:
    """Median days to the next purchase of an active customer, capped at ``cap``.

    Given activity, ``lambda | history ~ Gamma(R = r + x, alpha + T)`` in all three models, so
    the waiting time ``W`` has ``P(W > w) = ((alpha + T) / (alpha + T + w))^R`` and median
    ``(alpha + T) * (2^(1/R) - 1)``.
    """
    with np.errstate(over="ignore"):
        wait = (alpha + T) * np.expm1(_LN2 / R)
    return np.minimum(wait, cap)


# ---------------------------------------------------------------------------------------------
# Shared estimator machinery
# ---------------------------------------------------------------------------------------------


class _BTYDModel:
    """Fitting ladder, checks and the public prediction API shared by the BTYD models."""

    _param_names: tuple[str, ...] = ()
    _time_params: tuple[str, ...] = ()
    _model_name = "BTYD"
    _x0_log: float = 0.1
    _divergence_bound: float = PARAM_BOUNDS[1]
    _default_tol: float = 1e-9

    def _gtol(self) -> float:
        return float(self._default_tol if self.tol is None else self.tol)

    def __init__(
        self,
        penalizer_coef: float = 0.0,
        penalizer_ladder: tuple[float, ...] = DEFAULT_PENALIZER_LADDER,
        tol: float | None = None,
        max_iter: int = 2000,
        min_customers: int = 20,
        max_days_to_next_order: float = 3650.0,
    ):
        """
        Args:
            penalizer_coef: L2 penalty on the time-scaled parameters added to the mean
                negative log-likelihood (lifetimes' ``penalizer_coef``); first ladder step.
            penalizer_ladder: larger penalizers tried in order when a fit fails: non-finite
                likelihood or parameters, a time-scaled parameter diverging during the
                optimisation (beyond ``PARAM_BOUNDS``; Pareto/NBD: beyond 1e3, where the
                likelihood creeps up a flat ridge towards homogeneous dropout), or a largest
                gradient entry above ``ACCEPT_GRADIENT`` at the end. Only values above
                ``penalizer_coef`` are used. The step used, and why earlier steps were
                rejected, are in ``fit_info_``.
            tol: optimizer gradient tolerance (``gtol``) on the mean negative log-likelihood
                with respect to the log-parameters; None uses the model's default (1e-9).
            max_iter: optimizer iteration limit per ladder step.
            min_customers: ``fit`` refuses fewer customers than this.
            max_days_to_next_order: cap (days) for ``expected_days_to_next_order``.
        """
        self.penalizer_coef = penalizer_coef
        self.penalizer_ladder = penalizer_ladder
        self.tol = tol
        self.max_iter = max_iter
        self.min_customers = min_customers
        self.max_days_to_next_order = max_days_to_next_order

    # -- model specific (implemented by subclasses) ------------------------------------------
    def _prepare(self, x, t_x, T, weights):
        """Data passed to ``_objective``: unique rows (time-scaled) and weights summing to 1."""
        return (x, t_x, T, weights)

    def _objective(self, log_params, data, penalizer):  # pragma: no cover - abstract
        raise NotImplementedError

    def _log_tail(self, params, x, t_x, T):  # pragma: no cover - abstract
        """Per-row log of the history likelihood up to the parameter-only constant."""
        raise NotImplementedError

    def _log_alive_term(self, params, x, t_x, T):  # pragma: no cover - abstract
        raise NotImplementedError

    def _expected_given_alive(self, params, x, t_x, T, H):  # pragma: no cover - abstract
        raise NotImplementedError

    def _log_constant(self, params, x):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, rfm: pd.DataFrame) -> _BTYDModel:
        """Fit by maximum likelihood on the unique (frequency, recency, T) rows.

        Args:
            rfm: DataFrame (n customers) with float columns ``frequency``, ``recency``, ``T``
                in days (extra columns are ignored).

        Sets ``params_`` (dict, per-day parameters), ``n_customers_``, ``converged_``,
        ``log_likelihood_`` (total over customers, day units) and ``fit_info_`` (ladder step,
        penalizer used, attempts, iterations, unique rows, time scale).

        Raises:
            DataError: invalid RFM values, fewer than ``min_customers`` customers, no repeat
                buyers, every customer with ``T == 0``, or no ladder step converged.
        """
        x, t_x, T = rfm_arrays(rfm, f"{self._model_name}.fit")
        n = len(x)
        if n < self.min_customers:
            raise DataError(
                f"{self._model_name}.fit: only {n:,} customers in the RFM table; at least "
                f"{self.min_customers} are needed for a stable fit. Use a longer history or "
                "lower min_customers."
            )
        n_repeat = int(np.count_nonzero(x > 0))
        if n_repeat == 0:
            raise DataError(
                f"{self._model_name}.fit: none of the {n:,} customers made a repeat purchase "
                "(frequency is 0 everywhere), so purchase and dropout rates cannot be "
                "separated. Use a longer calibration period (earlier first purchases or a "
                "later cutoff)."
            )
        if T.max() <= 0:
            raise DataError(
                f"{self._model_name}.fit: column 'T' is 0 for all {n:,} customers (everybody "
                "first bought on the observation end day). Move the cutoff later."
            )
        (ux, ut, uT), _, counts = unique_rows(x, t_x, T)
        scale = 1.0 / T.max()
        data = self._prepare(ux, ut * scale, uT * scale, counts / counts.sum())

        steps = [float(self.penalizer_coef)] + [
            float(p) for p in self.penalizer_ladder if p > self.penalizer_coef
        ]
        attempts: list[dict[str, Any]] = []
        accepted = None
        for step, penalizer in enumerate(steps):
            # the optimizer probes extreme parameters on degenerate data (overflowing exp,
            # inf - inf): those steps return non-finite values it backs off from, and
            # _acceptable judges the result, so the floating-point warnings are noise
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                result = self._minimize(data, penalizer)
            ok, reason = self._acceptable(result, data, penalizer)
            attempts.append(
                {
                    "step": step,
                    "penalizer_coef": penalizer,
                    "accepted": ok,
                    "reason": reason,
                    "objective": float(result.fun),
                    "n_iter": int(result.get("nit", -1)),
                    "message": str(result.get("message", "")),
                }
            )
            if ok:
                accepted = (step, penalizer, result)
                break
        if accepted is None:
            details = "; ".join(
                f"penalizer {a['penalizer_coef']:g}: {a['reason']}" for a in attempts
            )
            raise DataError(
                f"{self._model_name}.fit did not converge on {n:,} customers ({n_repeat:,} "
                f"repeat buyers) at any penalizer step ({details}). The data may not follow "
                "the model (e.g. almost nobody churns or everybody bought once); try a longer "
                "calibration period or a larger penalizer_coef."
            )
        step, penalizer, result = accepted
        scaled = np.exp(result.x)
        params = dict(zip(self._param_names, (float(v) for v in scaled), strict=True))
        for name in self._time_params:
            params[name] = float(params[name] / scale)
        self.params_ = params
        self.n_customers_ = n
        self.converged_ = True
        self.log_likelihood_ = float(
            (
                counts
                * (
                    self._log_constant(self._params_tuple(), ux)
                    + self._log_tail(self._params_tuple(), ux, ut, uT)
                )
            ).sum()
        )
        self.fit_info_ = {
            "ladder_step": step,
            "penalizer_coef": penalizer,
            "attempts": attempts,
            "n_iter": int(result.get("nit", -1)),
            "n_unique_rows": len(ux),
            "n_repeat_buyers": n_repeat,
            "time_scale": float(scale),
            "objective": float(result.fun),
        }
        return self

    def _minimize(self, data, penalizer):
        limit = np.log(self._divergence_bound)
        diverged: list[np.ndarray] = []

        def stop_if_diverging(xk):
            if np.any(xk > limit) or np.any(xk < np.log(PARAM_BOUNDS[0])):
                diverged.append(np.exp(xk))
                raise StopIteration

        result = optimize.minimize(
            self._objective,
            x0=np.full(len(self._param_names), self._x0_log),
            args=(data, penalizer),
            jac=True,
            method="BFGS",
            callback=stop_if_diverging,
            options={"gtol": self._gtol(), "maxiter": self.max_iter},
        )
        result.diverged = bool(diverged)
        return result

    def _acceptable(self, result, data, penalizer) -> tuple[bool, str]:
        if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
            return False, "non-finite parameters or likelihood"
        if getattr(result, "diverged", False):
            names = [
                n
                for n, v in zip(self._param_names, np.exp(result.x), strict=True)
                if not PARAM_BOUNDS[0] <= v <= self._divergence_bound
            ]
            return False, (
                f"diverging parameter(s) {names} (time-scaled values beyond "
                f"[{PARAM_BOUNDS[0]:g}, {self._divergence_bound:g}]: the maximum is at the "
                "boundary of the parameter space)"
            )
        scaled = np.exp(result.x)
        lo, hi = PARAM_BOUNDS
        if np.any(scaled < lo) or np.any(scaled > hi):
            names = [n for n, v in zip(self._param_names, scaled, strict=True) if not lo <= v <= hi]
            return False, f"absurd parameter(s) {names} outside {PARAM_BOUNDS} (time-scaled)"
        _, grad = self._objective(result.x, data, penalizer)
        gmax = float(np.max(np.abs(grad)))
        if not np.isfinite(gmax) or gmax > ACCEPT_GRADIENT:
            return False, f"not converged (max |gradient| {gmax:.2e}; {result.message})"
        return True, "ok"

    @classmethod
    def from_params(cls, params: dict, **init_kwargs):
        """A model with given per-day parameters (e.g. published or saved ones), no fitting.

        Args:
            params: one float per name in the model's parameter list (``r, alpha, a, b`` or
                ``r, alpha, s, beta``), time parameters per day, all > 0.
        """
        missing = [n for n in cls._param_names if n not in params]
        if missing:
            raise DataError(f"{cls.__name__}.from_params: missing parameter(s) {missing}")
        values = {n: float(params[n]) for n in cls._param_names}
        bad = [n for n, v in values.items() if not (np.isfinite(v) and v > 0)]
        if bad:
            raise DataError(
                f"{cls.__name__}.from_params: parameter(s) {bad} must be finite and > 0, got "
                f"{[values[n] for n in bad]}"
            )
        model = cls(**init_kwargs)
        model.params_ = values
        model.n_customers_ = 0
        model.converged_ = True
        model.fit_info_ = {"from_params": True}
        return model

    # -- predictions --------------------------------------------------------------------------
    def _params_tuple(self) -> tuple[float, ...]:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"This {self._model_name} is not fitted yet; call fit(rfm) first.")
        return tuple(self.params_[name] for name in self._param_names)

    def log_likelihood(self, rfm: pd.DataFrame) -> np.ndarray:
        """Per-customer log-likelihood of the history (day units), shape (n,)."""
        params = self._params_tuple()
        (x, t_x, T), inverse, _ = self._unique(rfm, "log_likelihood")
        return (self._log_constant(params, x) + self._log_tail(params, x, t_x, T))[inverse]

    def _unique(self, rfm, purpose):
        x, t_x, T = rfm_arrays(rfm, f"{self._model_name}.{purpose}")
        return unique_rows(x, t_x, T)

    def _p_alive_rows(self, params, x, t_x, T):
        log_tail = self._log_tail(params, x, t_x, T)
        return np.clip(np.exp(self._log_alive_term(params, x, t_x, T) - log_tail), 0.0, 1.0)

    def _expected_rows(self, params, x, t_x, T, H):
        if H == 0:
            return np.zeros(x.shape)
        p_alive = self._p_alive_rows(params, x, t_x, T)
        return p_alive * self._expected_given_alive(params, x, t_x, T, H)

    def _no_order_rows(self, params, x, t_x, T, H):
        log_ratio = self._log_tail(params, x, t_x, T + H) - self._log_tail(params, x, t_x, T)
        return np.clip(np.exp(log_ratio), 0.0, 1.0)

    def _wait_rows(self, params, x, T):
        named = dict(zip(self._param_names, params, strict=True))
        return _median_wait(named["r"] + x, named["alpha"], T, self.max_days_to_next_order)

    def p_alive(self, rfm: pd.DataFrame) -> np.ndarray:
        """P(still active at ``T`` | frequency, recency, T), shape (n,)."""
        params = self._params_tuple()
        (x, t_x, T), inverse, _ = self._unique(rfm, "p_alive")
        return self._p_alive_rows(params, x, t_x, T)[inverse]

    def expected_orders(self, rfm: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """E[number of purchase days in ``(T, T + horizon_days]`` | history], shape (n,)."""
        params = self._params_tuple()
        H = _check_horizon(horizon_days)
        (x, t_x, T), inverse, _ = self._unique(rfm, "expected_orders")
        return self._expected_rows(params, x, t_x, T, H)[inverse]

    def prob_no_order(self, rfm: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """P(no purchase in ``(T, T + horizon_days]`` | history) = churn probability, (n,).

        Computed as ``exp(log L(x, t_x, T + H) - log L(x, t_x, T))`` (see module docstring).
        """
        params = self._params_tuple()
        H = _check_horizon(horizon_days)
        (x, t_x, T), inverse, _ = self._unique(rfm, "prob_no_order")
        return self._no_order_rows(params, x, t_x, T, H)[inverse]

    def expected_days_to_next_order(self, rfm: pd.DataFrame) -> np.ndarray:
        """Median days after ``T`` until the next purchase, for a customer still active.

        Definition: given activity the purchase rate is ``Gamma(r + x, alpha + T)``, so the
        waiting time is Lomax and its median is ``(alpha + T) * (2^(1/(r + x)) - 1)`` days.
        Conditional on being active (combine with ``p_alive`` / ``prob_no_order`` for
        churn); capped at ``max_days_to_next_order`` so it is always finite. Shape (n,).
        """
        params = self._params_tuple()
        x, _, T = rfm_arrays(rfm, f"{self._model_name}.expected_days_to_next_order")
        return self._wait_rows(params, x, T)

    def predict(self, rfm: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
        """All predictions for a horizon of ``horizon_days`` days.

        Returns:
            DataFrame indexed like ``rfm`` with float columns ``p_alive``,
            ``expected_orders``, ``churn_probability`` (= ``prob_no_order``) and
            ``expected_days_to_next_order``.
        """
        params = self._params_tuple()
        H = _check_horizon(horizon_days)
        (x, t_x, T), inverse, _ = self._unique(rfm, "predict")
        return pd.DataFrame(
            {
                "p_alive": self._p_alive_rows(params, x, t_x, T)[inverse],
                "expected_orders": self._expected_rows(params, x, t_x, T, H)[inverse],
                "churn_probability": self._no_order_rows(params, x, t_x, T, H)[inverse],
                "expected_days_to_next_order": self._wait_rows(params, x, T)[inverse],
            },
            index=rfm.index,
        )

    def cumulative_expected_orders(self, rfm: pd.DataFrame, horizons_days) -> np.ndarray:
        """E[purchase days in ``(T, T + h]``] for several horizons ``h`` (days).

        Returns shape (n, len(horizons_days)); used by ``customer_lifetime_value``.
        """
        params = self._params_tuple()
        horizons = [_check_horizon(h) for h in np.atleast_1d(horizons_days)]
        (x, t_x, T), inverse, _ = self._unique(rfm, "cumulative_expected_orders")
        p_alive = self._p_alive_rows(params, x, t_x, T)
        columns = [
            np.zeros(x.shape)
            if H == 0
            else p_alive * self._expected_given_alive(params, x, t_x, T, H)
            for H in horizons
        ]
        return np.column_stack(columns)[inverse] if columns else np.zeros((len(rfm), 0))

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            body = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"{type(self).__name__}({body}, n_customers={self.n_customers_})"
        return f"{type(self).__name__}(penalizer_coef={self.penalizer_coef})"


# ---------------------------------------------------------------------------------------------
# BG/NBD and modified BG/NBD
# ---------------------------------------------------------------------------------------------


class _BetaGeoFamily(_BTYDModel):
    """BG/NBD (``_modified = 0``) and MBG/NBD (``_modified = 1``) share all formulas.

    With ``m = _modified``: likelihood
    ``Gamma(r+x) alpha^r / Gamma(r) * [B(a, b+x+m) / B(a, b) (alpha+T)^-(r+x)
    + 1{x>0 or m} B(a+1, b+x+m-1) / B(a, b) (alpha+t_x)^-(r+x)]``: alive at T, or dropped out
    right after the last purchase (in MBG/NBD also right after the first one).
    """

    _param_names = ("r", "alpha", "a", "b")
    _time_params = ("alpha",)
    _modified = 0

    def _dropout_active(self, x):
        return np.ones(x.shape, dtype=bool) if self._modified else x > 0

    def _log_alive_term(self, params, x, t_x, T):
        r, alpha, a, b = params
        return (
            special.gammaln(b + x + self._modified)
            - special.gammaln(a + b + x + self._modified)
            - (r + x) * np.log(alpha + T)
        )

    def _log_dropout_term(self, params, x, t_x):
        r, alpha, a, b = params
        m = self._modified
        active = self._dropout_active(x)
        value = (
            np.log(a)
            - np.log(b + np.maximum(x + m, 1) - 1)
            + special.gammaln(b + x + m)
            - special.gammaln(a + b + x + m)
            - (r + x) * np.log(alpha + t_x)
        )
        return np.where(active, value, -np.inf)

    def _log_tail(self, params, x, t_x, T):
        return np.logaddexp(
            self._log_alive_term(params, x, t_x, T), self._log_dropout_term(params, x, t_x)
        )

    def _log_constant(self, params, x):
        r, alpha, a, b = params
        return (
            special.gammaln(r + x)
            - special.gammaln(r)
            + r * np.log(alpha)
            + special.gammaln(a + b)
            - special.gammaln(b)
        )

    def _expected_given_alive(self, params, x, t_x, T, H):
        r, alpha, a, b = params
        return _posterior_expected_alive_bg(r + x, alpha, a, b + x + self._modified, T, H)

    def _prepare(self, x, t_x, T, weights):
        """Codes of the distinct frequencies, recencies and ages with aggregated weights, so
        that the x-only terms (``gammaln``, ``digamma``) and the ``log(alpha + t)`` terms are
        computed once per distinct value."""
        xs, xc = np.unique(x, return_inverse=True)
        ts, tc = np.unique(t_x, return_inverse=True)
        Ts, Tc = np.unique(T, return_inverse=True)
        return {
            "x": x,
            "w": weights,
            "xs": xs,
            "xc": xc,
            "w_x": np.bincount(xc, weights=weights, minlength=len(xs)),
            "ts": ts,
            "tc": tc,
            "Ts": Ts,
            "Tc": Tc,
            "w_T": np.bincount(Tc, weights=weights, minlength=len(Ts)),
            "wx_T": np.bincount(Tc, weights=weights * x, minlength=len(Ts)),
            "no_dropout_term": ~self._dropout_active(xs),
        }

    def _objective(self, log_params, data, penalizer):
        """Mean negative log-likelihood and its gradient w.r.t. the log-parameters.

        Per row only ``d = A4 - A3`` (log-odds of "dropped out after the last purchase"
        against "alive") needs transcendental functions: ``log L = A1 + A2 + A3 +
        softplus(d)`` and the posterior dropout weight is ``expit(d)``. Sums over rows use
        ``(a * b).sum()`` rather than BLAS ``dot`` (thread oversubscription on busy hosts).
        """
        params = np.exp(log_params)
        r, alpha, a, b = params
        m = self._modified
        w, x, xs, xc = data["w"], data["x"], data["xs"], data["xc"]
        w_x, w_T, wx_T = data["w_x"], data["w_T"], data["wx_T"]
        # per distinct frequency
        bxm_s = b + xs + m
        abxm_s = a + b + xs + m
        bxm1_s = b + np.maximum(xs + m, 1) - 1
        log_odds_x = np.log(a) - np.log(bxm1_s)
        log_odds_x[data["no_dropout_term"]] = -np.inf
        # per distinct recency / age
        log_atx_s = np.log(alpha + data["ts"])
        log_at_s = np.log(alpha + data["Ts"])
        inv_atx_s = 1.0 / (alpha + data["ts"])
        inv_at_s = 1.0 / (alpha + data["Ts"])
        rw_T = r * w_T + wx_T  # sum of w * (r + x) per distinct age
        # per row
        rx = r + x
        gap = np.take(log_atx_s, data["tc"]) - np.take(log_at_s, data["Tc"])
        d = np.take(log_odds_x, xc) - rx * gap
        alive = special.expit(-d)
        with np.errstate(divide="ignore"):
            softplus = -np.log(alive)
        w_drop = w * (1.0 - alive)
        ll = (
            (
                w_x * (special.gammaln(r + xs) + special.gammaln(bxm_s) - special.gammaln(abxm_s))
            ).sum()
            - special.gammaln(r)
            + r * np.log(alpha)
            + special.gammaln(a + b)
            - special.gammaln(b)
            - (rw_T * log_at_s).sum()
            + (w * softplus).sum()
        )
        psi_ab = special.digamma(a + b)
        psi_abxm_s = special.digamma(abxm_s)
        g_r = (
            (w_x * special.digamma(r + xs)).sum()
            - special.digamma(r)
            + np.log(alpha)
            - (w_T * log_at_s).sum()
            - (w_drop * gap).sum()
        )
        inv_gap = np.take(inv_atx_s, data["tc"]) - np.take(inv_at_s, data["Tc"])
        g_alpha = r / alpha - (rw_T * inv_at_s).sum() - (w_drop * rx * inv_gap).sum()
        g_a = psi_ab - (w_x * psi_abxm_s).sum() + w_drop.sum() / a
        drop_x = np.bincount(xc, weights=w_drop, minlength=len(xs))
        g_b = (
            psi_ab
            + (w_x * (special.digamma(bxm_s) - psi_abxm_s)).sum()
            - special.digamma(b)
            - (drop_x / bxm1_s).sum()
        )
        value = -ll + penalizer * np.sum(params**2)
        grad = -np.array([g_r, g_alpha, g_a, g_b]) * params + 2.0 * penalizer * params**2
        return value, grad


class BetaGeoModel(_BetaGeoFamily):
    """BG/NBD model (Fader, Hardie & Lee 2005), fitted on weighted unique RFM rows.

    Parameters (``params_``): ``r`` and ``alpha`` (per day) of the Gamma purchase-rate
    heterogeneity, ``a`` and ``b`` of the Beta dropout probability. A customer drops out with
    probability ``p`` right after each repeat purchase. Same likelihood and objective as
    ``lifetimes.BetaGeoFitter`` (so the same parameters), fitted 5-30x faster (see
    ``benchmarks/bench_btyd.py``). See the module docstring for the prediction API.
    """

    _model_name = "BetaGeoModel"
    _modified = 0


class ModifiedBetaGeoModel(_BetaGeoFamily):
    """Modified BG/NBD (Batislam et al. 2007): like BG/NBD, but a customer may also drop out
    right after the first purchase, so one-time buyers can be inactive (P(alive) < 1).

    Same likelihood and objective as ``lifetimes.ModifiedBetaGeoFitter``.
    """

    _model_name = "ModifiedBetaGeoModel"
    _modified = 1


# ---------------------------------------------------------------------------------------------
# Pareto/NBD
# ---------------------------------------------------------------------------------------------


class ParetoNBDModel(_BTYDModel):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    Parameters (``params_``): ``r``, ``alpha`` (per day) of the Gamma purchase rate and ``s``,
    ``beta`` (per day) of the Gamma dropout rate (exponential lifetimes). The likelihood is
    ``Gamma(r+x) alpha^r beta^s / Gamma(r) * [(alpha+T)^-(r+x) (beta+T)^-s
    + s * integral_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau]`` with the integral
    computed in log space (see ``_pareto_log_integral``), so every prediction is finite.

    Optimised with BFGS (analytic gradient) on log shapes and log mean rates, starting from 1
    on the time-scaled parameters; lifetimes' ``ParetoNBDFitter`` uses Nelder-Mead
    with ``tol=1e-4`` from a random start, so its parameters agree only to ~1e-3.
    """

    _param_names = ("r", "alpha", "s", "beta")
    _time_params = ("alpha", "beta")
    _model_name = "ParetoNBDModel"
    _x0_log = 0.0
    # The likelihood often keeps increasing slowly as s, beta -> inf with s / beta fixed
    # (no heterogeneity in dropout rates, e.g. Online Retail II). Stop there and move to the
    # next penalizer instead of following that flat ridge.
    _divergence_bound = 1e3
    _default_tol = 1e-9

    def _log_alive_term(self, params, x, t_x, T):
        r, alpha, s, beta = params
        return -(r + x) * np.log(alpha + T) - s * np.log(beta + T)

    def _log_tail(self, params, x, t_x, T):
        r, alpha, s, beta = params
        log_int = _pareto_log_integral(r, alpha, s, beta, x, t_x, T)
        return np.logaddexp(self._log_alive_term(params, x, t_x, T), np.log(s) + log_int)

    def _log_constant(self, params, x):
        r, alpha, s, beta = params
        return special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)

    def _expected_given_alive(self, params, x, t_x, T, H):
        """``E[lambda] * E[(1 - exp(-mu H)) / mu]`` with ``lambda ~ Gamma(r+x, alpha+T)`` and
        ``mu ~ Gamma(s, beta+T)``: ``(r+x)/(alpha+T) * (beta+T) * (1 - ((beta+T)/(beta+T+H))^(s-1))
        / (s-1)`` (limit at ``s = 1`` handled)."""
        r, alpha, s, beta = params
        return (r + x) / (alpha + T) * (beta + T) * _expm1_ratio(1.0 - s, np.log1p(H / (beta + T)))

    def _objective(self, log_params, data, penalizer, basis=None):
        """Mean negative log-likelihood and its analytic gradient.

        The gradient of the dropout integral comes from forward-mode differentiation through
        the continued fraction / quadrature (``_pareto_log_integral_grad``). With ``basis``
        the point is ``z``, the log-parameters are ``basis @ z`` and the gradient is w.r.t.
        ``z``.
        """
        log_params = np.asarray(log_params, dtype=np.float64)
        log_theta = log_params if basis is None else _matvec(basis, log_params)
        theta = np.exp(log_theta)
        r, alpha, s, beta = theta
        x, t_x, T, w = data
        log_int, d_int = _pareto_log_integral_grad(r, alpha, s, beta, x, t_x, T)
        log_at, log_bt = np.log(alpha + T), np.log(beta + T)
        alive = -(r + x) * log_at - s * log_bt
        dropout = np.log(s) + log_int
        tail = np.logaddexp(alive, dropout)
        ll = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        ll = ll + tail
        value = -(w * ll).sum() + penalizer * np.sum(theta**2)
        if not np.isfinite(value):
            return np.inf, np.zeros(len(log_params))
        p_alive = np.exp(alive - tail)
        p_drop = 1.0 - p_alive
        g = np.array(
            [
                (w * (special.digamma(r + x) - p_alive * log_at + p_drop * d_int[:, 0])).sum()
                - special.digamma(r)
                + np.log(alpha),
                r / alpha + (w * (-p_alive * (r + x) / (alpha + T) + p_drop * d_int[:, 1])).sum(),
                np.log(beta) + (w * (-p_alive * log_bt + p_drop * (1.0 / s + d_int[:, 2]))).sum(),
                s / beta + (w * (-p_alive * s / (beta + T) + p_drop * d_int[:, 3])).sum(),
            ]
        )
        grad = -g * theta + 2.0 * penalizer * theta**2
        if basis is not None:
            grad = (basis * grad[:, None]).sum(axis=0)  # basis.T @ grad
        return float(value), grad

    # Optimisation coordinates z = (log r, log(r / alpha), log s, log(s / beta)): log shape and
    # log mean rate of each Gamma. The Fisher information of a Gamma is diagonal in (shape,
    # mean), so BFGS does not crawl along the shape-scale ridge (2-3x fewer iterations).
    _BASIS = np.array([[1.0, 0, 0, 0], [1.0, -1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 1.0, -1.0]])

    def _minimize(self, data, penalizer):
        limit = np.log(self._divergence_bound)
        basis = self._BASIS
        diverged: list[np.ndarray] = []

        def stop_if_diverging(z):
            log_params = _matvec(basis, z)
            if np.any(log_params > limit) or np.any(log_params < np.log(PARAM_BOUNDS[0])):
                diverged.append(np.exp(log_params))
                raise StopIteration

        result = optimize.minimize(
            self._objective,
            x0=np.linalg.solve(basis, np.full(4, self._x0_log)),
            args=(data, penalizer, basis),
            jac=True,
            method="BFGS",
            callback=stop_if_diverging,
            options={"gtol": self._gtol(), "maxiter": self.max_iter},
        )
        result.x = _matvec(basis, result.x)
        result.diverged = bool(diverged)
        return result


# ---------------------------------------------------------------------------------------------
# Simulators (known truth for tests and benchmarks)
# ---------------------------------------------------------------------------------------------


def _simulation_frame(x, t_x, T, holdout, alive, rate, extra: dict) -> pd.DataFrame:
    n = len(x)
    width = max(6, len(str(n)))
    index = pd.Index([f"sim{i:0{width}d}" for i in range(n)], dtype="string", name="customer_id")
    frame = pd.DataFrame(
        {
            "frequency": x.astype(np.float64),
            "recency": t_x,
            "T": T,
            "frequency_holdout": holdout.astype(np.float64),
            "alive": alive,
            "purchase_rate": rate,
            **extra,
        },
        index=index,
    )
    return frame


def _as_ages(T) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64).ravel()
    if np.any(~np.isfinite(T)) or np.any(T < 0):
        raise DataError("simulation: ages T must be finite and >= 0 days")
    return T


def simulate_bgnbd(
    params: dict,
    T,
    holdout_days: float = 0.0,
    seed: int = 0,
    integer_days: bool = False,
    modified: bool = False,
) -> pd.DataFrame:
    """Simulate BG/NBD (or modified BG/NBD) customers with known parameters.

    Args:
        params: ``{"r", "alpha" (per day), "a", "b"}``.
        T: customer ages in days, shape (n,) (one customer per entry).
        holdout_days: length of the window after ``T`` whose purchases are counted in
            ``frequency_holdout``.
        seed: seed of the ``numpy`` generator.
        integer_days: floor purchase times to whole days (like real RFM tables).
        modified: MBG/NBD (a customer may drop out right after the first purchase).

    Returns:
        DataFrame (n rows, index ``customer_id``) with ``frequency``, ``recency``, ``T``,
        ``frequency_holdout``, ``alive`` (active at T), ``purchase_rate`` (lambda per day) and
        ``dropout_probability`` (p).
    """
    rng = np.random.default_rng(seed)
    T = _as_ages(T)
    n = len(T)
    H = float(holdout_days)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    p = np.clip(rng.beta(params["a"], params["b"], n), 1e-12, 1.0)
    # repeat purchases made before dropping out
    n_life = rng.geometric(p) - (1 if modified else 0)
    n_total = rng.poisson(lam * (T + H))
    n_cal = rng.binomial(n_total, np.where(T + H > 0, T / np.where(T + H > 0, T + H, 1.0), 0.0))
    x = np.minimum(n_cal, n_life)
    holdout = np.minimum(n_total, n_life) - x
    # given n_cal uniform purchase times on [0, T], the x-th is T * Beta(x, n_cal - x + 1)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(n_cal - x + 1, 1)), 0.0)
    if integer_days:
        T = np.floor(T)
        t_x = np.minimum(np.floor(t_x), T)
    alive = n_life > n_cal
    return _simulation_frame(x, t_x, T, holdout, alive, lam, {"dropout_probability": p})


def simulate_pareto_nbd(
    params: dict, T, holdout_days: float = 0.0, seed: int = 0, integer_days: bool = False
) -> pd.DataFrame:
    """Simulate Pareto/NBD customers with known parameters.

    Args:
        params: ``{"r", "alpha", "s", "beta"}`` (alpha, beta per day).
        T, holdout_days, seed, integer_days: as in :func:`simulate_bgnbd`.

    Returns:
        DataFrame like :func:`simulate_bgnbd` with ``dropout_rate`` (mu per day) instead of
        ``dropout_probability``.
    """
    rng = np.random.default_rng(seed)
    T = _as_ages(T)
    n = len(T)
    H = float(holdout_days)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    mu = rng.gamma(params["s"], 1.0 / params["beta"], n)
    lifetime = rng.exponential(1.0 / mu)
    active_cal = np.minimum(lifetime, T)
    x = rng.poisson(lam * active_cal)
    t_x = np.where(x > 0, active_cal * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    holdout = rng.poisson(lam * np.clip(np.minimum(lifetime, T + H) - T, 0.0, None))
    if integer_days:
        T = np.floor(T)
        t_x = np.minimum(np.floor(t_x), T)
    alive = lifetime > T
    return _simulation_frame(x, t_x, T, holdout, alive, lam, {"dropout_rate": mu})


# ---------------------------------------------------------------------------------------------
# Features for downstream models
# ---------------------------------------------------------------------------------------------


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
