"""Shared estimator machinery of the BTYD models: the ``_BTYDModel`` base class and constants.

``_BTYDModel`` (a scikit-learn ``BaseEstimator``) holds the maximum-likelihood fit on weighted
unique RFM rows with the penalizer ladder (``fit_info_`` records every attempt), the
parameter checks, ``from_params`` and the public prediction API (``p_alive``,
``expected_orders``, ``prob_no_order``, ``expected_days_to_next_order``, ``predict``,
``cumulative_expected_orders``, ``log_likelihood``). Subclasses (``beta_geo``, ``pareto_nbd``)
supply the likelihood terms and the objective. Also the shared constants
``DEFAULT_PENALIZER_LADDER``, ``PARAM_BOUNDS``, ``ACCEPT_GRADIENT`` (also used by the
Gamma-Gamma model), ``NOT_FITTED_MESSAGE`` and ``RFM_COLUMNS`` (defined in ``validation``,
re-exported here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ...data.errors import DataError
from ._special import _median_wait
from .validation import RFM_COLUMNS, _check_horizon, rfm_arrays, unique_rows

__all__ = [
    "ACCEPT_GRADIENT",
    "DEFAULT_PENALIZER_LADDER",
    "NOT_FITTED_MESSAGE",
    "PARAM_BOUNDS",
    "RFM_COLUMNS",
    "_BTYDModel",
]

DEFAULT_PENALIZER_LADDER: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
"""Penalizers tried in turn (after ``penalizer_coef``) when a fit fails or is absurd."""

PARAM_BOUNDS: tuple[float, float] = (1e-6, 1e6)
"""A fit whose time-scaled parameters leave this range counts as absurd (next ladder step)."""

ACCEPT_GRADIENT: float = 1e-4
"""A fit whose largest gradient entry (mean NLL w.r.t. log-parameters) exceeds this failed."""

NOT_FITTED_MESSAGE = "This %(name)s instance is not fitted yet; call fit(rfm) first."
"""``check_is_fitted`` message of the BTYD and Gamma-Gamma models (raises ``NotFittedError``)."""


class _BTYDModel(BaseEstimator):
    """Fitting ladder, checks and the public prediction API shared by the BTYD models.

    A scikit-learn estimator: every ``__init__`` argument is stored unchanged under its own
    name (``get_params`` / ``set_params`` / ``sklearn.base.clone`` work), the fitted state
    (``params_``, ``n_customers_``, ``converged_``, ``log_likelihood_``, ``fit_info_``) is set
    only by ``fit`` (or built by the ``from_params`` constructor), and every query method
    checks it with ``check_is_fitted`` (``NotFittedError``, ``NOT_FITTED_MESSAGE``) and
    leaves it unchanged.
    """

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
        """Fitted per-day parameters in ``_param_names`` order; raises ``NotFittedError``
        (via ``check_is_fitted``) before ``fit``. Every query method starts here."""
        check_is_fitted(self, "params_", msg=NOT_FITTED_MESSAGE)
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

        Computed as ``exp(log L(x, t_x, T + H) - log L(x, t_x, T))`` (see the
        ``scoring.models.btyd`` package docstring).
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
