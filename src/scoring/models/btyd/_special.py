"""Low-level numerical kernels of the BTYD models (no model state, all vectorised, float64).

- ``_log_hyp2f1_b1`` (+ ``_cf``, ``_quadrature``, ``_series`` and the ``_grad`` variants):
  ``log 2F1(A, 1; A + e; w)`` by Gauss' continued fraction with exp-sinh quadrature for the
  rows it does not converge on, with forward-mode derivatives; the series is the slow exact
  reference used by the tests.
- ``_hyp2f1_minus_one_over_b`` and ``_posterior_expected_alive_bg``: the BG/NBD-family
  expected purchases of an active customer.
- ``_pareto_log_integral`` (+ ``_grad``): the Pareto/NBD dropout integral in log space.
- ``_expm1_ratio``, ``_matvec`` and ``_median_wait`` (median days to the next purchase).

Inputs are arrays of shape (n,) (broadcast where stated); times are in the caller's unit
(days, or time-scaled days during fitting).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .validation import unique_rows

_LN2 = math.log(2.0)


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
