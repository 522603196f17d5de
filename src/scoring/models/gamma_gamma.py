"""Gamma-Gamma spend model and customer lifetime value (CLV).

The Gamma-Gamma model (Fader, Hardie & Lee 2005, "RFM and CLV"; Hardie's note 025) describes
the value of a customer's orders: each order's value is Gamma(p, nu) with the customer's
``nu ~ Gamma(q, v)``. Fitted on customers with at least one repeat purchase day
(``frequency > 0``) using their mean repeat-order value ``monetary_value`` (currency), same
likelihood and objective as ``lifetimes.GammaGammaFitter`` (mean negative log-likelihood plus
``penalizer_coef * (p^2 + q^2 + v^2)``).

``customer_lifetime_value`` combines a BTYD transaction model with the spend model exactly as
lifetimes' ``customer_lifetime_value`` does with ``freq="D"`` (months of 30 days).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..data.errors import DataError, examples
from .btyd.base import ACCEPT_GRADIENT, DEFAULT_PENALIZER_LADDER, NOT_FITTED_MESSAGE, PARAM_BOUNDS
from .btyd.validation import rfm_arrays, unique_rows

DAYS_PER_MONTH = 30.0
"""Month length used by ``customer_lifetime_value`` (lifetimes' factor for ``freq="D"``)."""


def _spend_arrays(rfm: pd.DataFrame, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated (frequency, monetary_value) arrays, shape (n,)."""
    x, _, _ = rfm_arrays(rfm, purpose)
    if "monetary_value" not in rfm.columns:
        raise DataError(
            f"{purpose}: RFM table has no 'monetary_value' column (mean revenue per repeat "
            "purchase day). Build it with scoring.features.rfm.rfm_summary."
        )
    m = rfm["monetary_value"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(m)
    if bad.any():
        raise DataError(
            f"{purpose}: column 'monetary_value': {int(bad.sum()):,} of {len(m):,} rows are NaN "
            f"or infinite (customer_id {examples(rfm.index[bad][:5])}). Drop or fill them."
        )
    return x, m


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma model of the mean order value.

    Fitted state (set only by ``fit``): ``params_`` = ``{"p", "q", "v"}`` (``v`` in currency
    units), ``n_customers_`` (repeat buyers used), ``converged_``, ``fit_info_`` (ladder step,
    penalizer, attempts, whether ``q > 1`` had to be enforced).

    A scikit-learn estimator (``get_params`` / ``set_params`` / ``clone`` work); the queries
    (``expected_order_value``, ``population_mean_order_value``) raise ``NotFittedError``
    before ``fit`` and leave the fitted state unchanged.

    The population mean order value ``p v / (q - 1)`` exists only for ``q > 1``. If the
    maximum likelihood has ``q <= 1``, ``fit`` raises ``DataError`` unless ``q_constraint``
    is set (then ``q >= 1 + 1e-6`` is enforced and ``fit_info_["q_constrained"]`` is True).
    """

    _param_names = ("p", "q", "v")

    def __init__(
        self,
        penalizer_coef: float = 0.0,
        penalizer_ladder: tuple[float, ...] = DEFAULT_PENALIZER_LADDER,
        tol: float = 1e-9,
        max_iter: int = 2000,
        min_customers: int = 20,
        drop_nonpositive: bool = False,
        q_constraint: bool = False,
    ):
        """
        Args:
            penalizer_coef: L2 penalty on (p, q, v) added to the mean negative
                log-likelihood; first step of the ladder.
            penalizer_ladder: larger penalizers tried in order when a fit fails.
            tol: optimizer gradient tolerance on the mean negative log-likelihood.
            max_iter: optimizer iteration limit per ladder step.
            min_customers: minimum number of repeat buyers with a positive monetary value.
            drop_nonpositive: leave repeat buyers with ``monetary_value <= 0`` (e.g. free
                repeat orders) out of the fit instead of raising; their count is in
                ``fit_info_["n_dropped_nonpositive"]``. Predictions still cover them.
            q_constraint: when the maximum likelihood has ``q <= 1`` (order values so
                heavy-tailed that the mean is infinite), refit with ``q >= 1 + 1e-6`` like
                lifetimes' ``q_constraint=True`` instead of raising. The population mean
                ``p v / (q - 1)`` is then huge, so one-time buyers get absurd order values;
                capping outlier order values first is usually the better fix.
        """
        self.penalizer_coef = penalizer_coef
        self.penalizer_ladder = penalizer_ladder
        self.tol = tol
        self.max_iter = max_iter
        self.min_customers = min_customers
        self.drop_nonpositive = drop_nonpositive
        self.q_constraint = q_constraint

    @staticmethod
    def _objective(log_params, data, penalizer):
        """Mean negative log-likelihood and gradient w.r.t. log(p, q, v)."""
        x, m, w = data
        params = np.exp(log_params)
        p, q, v = params
        px = p * x
        log_xm_v = np.log(x * m + v)
        ll = (
            special.gammaln(px + q)
            - special.gammaln(px)
            - special.gammaln(q)
            + q * np.log(v)
            + (px - 1.0) * np.log(m)
            + px * np.log(x)
            - (px + q) * log_xm_v
        )
        psi_pxq = special.digamma(px + q)
        d_p = x * (psi_pxq - special.digamma(px) + np.log(m) + np.log(x) - log_xm_v)
        d_q = psi_pxq - special.digamma(q) + np.log(v) - log_xm_v
        d_v = q / v - (px + q) / (x * m + v)
        value = -(w * ll).sum() + penalizer * np.sum(params**2)
        grad = np.array([-(w * d).sum() for d in (d_p, d_q, d_v)]) * params
        grad += 2.0 * penalizer * params**2
        return value, grad

    def _minimize(self, data, penalizer, q_constrained: bool):
        x0 = np.full(3, 0.1)
        if q_constrained:
            bounds = [(None, None), (np.log1p(1e-6), None), (None, None)]
            x0[1] = max(x0[1], np.log1p(1e-3))
            return optimize.minimize(
                self._objective,
                x0=x0,
                args=(data, penalizer),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"gtol": self.tol, "maxiter": self.max_iter, "ftol": 1e-15},
            )
        return optimize.minimize(
            self._objective,
            x0=x0,
            args=(data, penalizer),
            jac=True,
            method="BFGS",
            options={"gtol": self.tol, "maxiter": self.max_iter},
        )

    def _acceptable(self, result, data, penalizer, q_constrained) -> tuple[bool, str]:
        if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
            return False, "non-finite parameters or likelihood"
        params = np.exp(result.x)
        lo, hi = PARAM_BOUNDS
        if np.any(params < lo) or np.any(params > hi):
            return False, f"absurd parameters {params.round(8).tolist()} outside {PARAM_BOUNDS}"
        _, grad = self._objective(result.x, data, penalizer)
        if q_constrained and result.x[1] <= np.log1p(1e-6) + 1e-9:
            grad[1] = min(grad[1], 0.0)  # at the bound the gradient may point outwards
        gmax = float(np.max(np.abs(grad)))
        if not np.isfinite(gmax) or gmax > ACCEPT_GRADIENT:
            return False, f"not converged (max |gradient| {gmax:.2e}; {result.message})"
        return True, "ok"

    def fit(self, rfm: pd.DataFrame) -> GammaGammaModel:
        """Fit on customers with ``frequency > 0`` (unique (frequency, monetary_value) rows).

        Args:
            rfm: DataFrame (n customers) with ``frequency``, ``recency``, ``T`` and
                ``monetary_value`` (mean revenue per repeat purchase day, currency).

        Raises:
            DataError: invalid columns, non-positive monetary values of repeat buyers, fewer
                than ``min_customers`` repeat buyers, or no ladder step converged.
        """
        purpose = "GammaGammaModel.fit"
        x, m = _spend_arrays(rfm, purpose)
        repeat = x > 0
        bad = repeat & (m <= 0)
        n_dropped = int(bad.sum()) if self.drop_nonpositive else 0
        if self.drop_nonpositive:
            repeat &= ~bad
        elif bad.any():
            raise DataError(
                f"{purpose}: column 'monetary_value': {int(bad.sum()):,} repeat buyers have a "
                f"value <= 0 (customer_id {examples(rfm.index[bad][:5])}; values "
                f"{examples(m[bad][:5])}). The Gamma-Gamma model needs positive order values: "
                "drop those customers, fix the amounts (returns excluded) or pass "
                "drop_nonpositive=True."
            )
        n = int(repeat.sum())
        if n < self.min_customers:
            raise DataError(
                f"{purpose}: only {n:,} customers with a repeat purchase (frequency > 0) of "
                f"{len(x):,}; the Gamma-Gamma model needs at least {self.min_customers}. Use "
                "a longer calibration period."
            )
        if np.ptp(m[repeat]) == 0 and np.ptp(x[repeat]) == 0:
            raise DataError(
                f"{purpose}: all {n:,} repeat buyers have the same frequency and "
                "monetary_value; the spend distribution cannot be estimated."
            )
        (ux, um), _, counts = unique_rows(x[repeat], m[repeat])
        data = (ux, um, counts / counts.sum())
        steps = [float(self.penalizer_coef)] + [
            float(p) for p in self.penalizer_ladder if p > self.penalizer_coef
        ]
        attempts: list[dict[str, Any]] = []
        accepted = None
        for q_constrained in (False, True) if self.q_constraint else (False,):
            for step, penalizer in enumerate(steps):
                result = self._minimize(data, penalizer, q_constrained)
                ok, reason = self._acceptable(result, data, penalizer, q_constrained)
                if ok and np.exp(result.x[1]) <= 1.0:
                    ok, reason = False, "q <= 1 (infinite mean order value)"
                attempts.append(
                    {
                        "step": step,
                        "penalizer_coef": penalizer,
                        "q_constrained": q_constrained,
                        "accepted": ok,
                        "reason": reason,
                        "objective": float(result.fun),
                        "n_iter": int(result.get("nit", -1)),
                    }
                )
                if ok:
                    accepted = (step, penalizer, q_constrained, result)
                    break
                if reason.startswith("q <= 1"):
                    break  # a larger penalizer only pulls q further down
            if accepted is not None:
                break
        if accepted is None:
            details = "; ".join(
                f"penalizer {a['penalizer_coef']:g}"
                f"{' (q>1)' if a['q_constrained'] else ''}: {a['reason']}"
                for a in attempts
            )
            if any(a["reason"].startswith("q <= 1") for a in attempts):
                raise DataError(
                    f"{purpose}: the order values of the {n:,} repeat buyers are too "
                    "heavy-tailed for the Gamma-Gamma model (maximum likelihood at q <= 1, an "
                    "infinite mean order value). Cap outlier values of 'monetary_value' (e.g. "
                    "at a high percentile) or pass q_constraint=True (lifetimes' workaround)."
                )
            raise DataError(
                f"{purpose} did not converge on {n:,} repeat buyers ({details}). Check "
                "monetary_value for outliers or use a larger penalizer_coef."
            )
        step, penalizer, q_constrained, result = accepted
        self.params_ = dict(
            zip(self._param_names, (float(v) for v in np.exp(result.x)), strict=True)
        )
        self.n_customers_ = n
        self.converged_ = True
        self.fit_info_ = {
            "ladder_step": step,
            "penalizer_coef": penalizer,
            "q_constrained": q_constrained,
            "attempts": attempts,
            "n_iter": int(result.get("nit", -1)),
            "n_unique_rows": len(ux),
            "n_dropped_nonpositive": n_dropped,
            "objective": float(result.fun),
        }
        return self

    def _params(self) -> tuple[float, float, float]:
        """Fitted ``(p, q, v)``; raises ``NotFittedError`` (via ``check_is_fitted``) before
        ``fit``. Every query starts here."""
        check_is_fitted(self, "params_", msg=NOT_FITTED_MESSAGE)
        return self.params_["p"], self.params_["q"], self.params_["v"]

    @property
    def population_mean_order_value(self) -> float:
        """``p v / (q - 1)``: expected order value of a customer without history (currency)."""
        p, q, v = self._params()
        return p * v / (q - 1.0)

    def expected_order_value(self, rfm: pd.DataFrame) -> np.ndarray:
        """Conditional expected mean order value (currency), shape (n,).

        ``(1 - w) * p v / (q - 1) + w * monetary_value`` with ``w = p x / (p x + q - 1)``:
        the population mean for ``frequency == 0`` (their ``monetary_value`` is ignored).
        """
        p, q, v = self._params()
        x, m = _spend_arrays(rfm, "GammaGammaModel.expected_order_value")
        m = np.where(x > 0, m, 0.0)
        weight = p * x / (p * x + q - 1.0)
        return (1.0 - weight) * (p * v / (q - 1.0)) + weight * m


def customer_lifetime_value(
    transaction_model,
    spend_model: GammaGammaModel,
    rfm: pd.DataFrame,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
) -> np.ndarray:
    """Discounted expected revenue over the next ``months`` months (currency), shape (n,).

    As lifetimes (``freq="D"``): months of 30 days;
    ``sum_{k=1..months} (E[orders in (T + 30(k-1), T + 30k]] * expected_order_value)
    / (1 + monthly_discount_rate)^k``.

    Args:
        transaction_model: fitted BetaGeoModel / ParetoNBDModel / ModifiedBetaGeoModel.
        spend_model: fitted GammaGammaModel (or anything with ``expected_order_value``).
        rfm: RFM table (n customers) with ``monetary_value``.
        months: horizon in months (>= 0).
        monthly_discount_rate: discount rate per month (> -1).
    """
    if int(months) != months or months < 0:
        raise DataError(
            f"customer_lifetime_value: months must be a whole number >= 0, got {months!r}"
        )
    if not np.isfinite(monthly_discount_rate) or monthly_discount_rate <= -1:
        raise DataError(
            "customer_lifetime_value: monthly_discount_rate must be > -1, got "
            f"{monthly_discount_rate!r}"
        )
    order_value = np.asarray(spend_model.expected_order_value(rfm), dtype=np.float64)
    months = int(months)
    if months == 0:
        return np.zeros(len(rfm))
    horizons = DAYS_PER_MONTH * np.arange(0, months + 1)
    if hasattr(transaction_model, "cumulative_expected_orders"):
        cumulative = transaction_model.cumulative_expected_orders(rfm, horizons)
    else:  # any model with expected_orders(rfm, horizon_days)
        cumulative = np.column_stack([transaction_model.expected_orders(rfm, h) for h in horizons])
    per_month = np.diff(cumulative, axis=1)  # (n, months)
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1)
    return (per_month * discount).sum(axis=1) * order_value
