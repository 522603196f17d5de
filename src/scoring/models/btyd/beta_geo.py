"""BG/NBD and modified BG/NBD models: ``_BetaGeoFamily``, ``BetaGeoModel``,
``ModifiedBetaGeoModel`` (likelihood terms, conditional expectations and the objective with
its analytic gradient; fitting and predictions come from ``base._BTYDModel``).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._special import _posterior_expected_alive_bg
from .base import _BTYDModel


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
    ``benchmarks/bench_btyd.py``). See ``scoring.models.btyd`` for the prediction API.
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
