"""BTYD ("buy till you die") transaction models: BG/NBD, Pareto/NBD and modified BG/NBD.

Every model reads an RFM table as built by :func:`scoring.features.rfm.rfm_summary`
(index ``customer_id``; float columns ``frequency``, ``recency``, ``T``, all in **days**) and
has the same interface (scikit-learn estimators: ``get_params`` / ``set_params`` / ``clone``
work, fitted state lives in attributes ending in ``_`` set by ``fit``, and every query raises
``sklearn.exceptions.NotFittedError`` before ``fit``):

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

Predictions are computed once per unique ``(frequency, recency, T)`` row and broadcast back;
each customer's prediction depends only on its own row and the fitted parameters, never on
the other customers in the batch.

Convergence ladder: ``fit`` first uses ``penalizer_coef`` (default 0, the plain maximum
likelihood), then 1e-4, 1e-3 and 1e-2 while the fit fails (non-finite values, a diverging
parameter, a gradient that is not ~0). ``fit_info_`` records every attempt and the step used;
if no step works ``fit`` raises ``DataError`` listing them. On Online Retail II the BG/NBD
fits at step 0, the Pareto/NBD at step 1 (its likelihood keeps rising as s, beta -> inf).

Layout (one model per module, utilities apart):

- ``base``: ``_BTYDModel`` (fit machinery, penalizer ladder, prediction API) and the shared
  constants ``DEFAULT_PENALIZER_LADDER``, ``PARAM_BOUNDS``, ``ACCEPT_GRADIENT``.
- ``validation``: ``RFM_COLUMNS``, ``rfm_arrays``, ``unique_rows`` and the input checks.
- ``_special``: hypergeometric, Pareto/NBD integral and quadrature kernels.
- ``beta_geo``: ``BetaGeoModel``, ``ModifiedBetaGeoModel``; ``pareto_nbd``: ``ParetoNBDModel``.
- ``simulate``: ``simulate_bgnbd``, ``simulate_pareto_nbd``.
- ``features``: ``btyd_feature_frame``, ``p_alive_matrix``.

Everything is re-exported here: import from ``scoring.models.btyd``.

References: Fader, Hardie & Lee (2005), "Counting your customers the easy way" (BG/NBD);
Schmittlein, Morrison & Colombo (1987) and Fader & Hardie (2005) note 009 (Pareto/NBD);
Batislam, Denizel & Filiztekin (2007) (modified BG/NBD).
"""

from __future__ import annotations

from ._special import _log_hyp2f1_b1, _log_hyp2f1_b1_series, _pareto_log_integral
from .base import (
    ACCEPT_GRADIENT,
    DEFAULT_PENALIZER_LADDER,
    NOT_FITTED_MESSAGE,
    PARAM_BOUNDS,
    _BTYDModel,
)
from .beta_geo import BetaGeoModel, ModifiedBetaGeoModel, _BetaGeoFamily
from .features import _horizon_label, btyd_feature_frame, p_alive_matrix
from .pareto_nbd import ParetoNBDModel
from .simulate import simulate_bgnbd, simulate_pareto_nbd
from .validation import RFM_COLUMNS, _check_horizon, rfm_arrays, unique_rows

__all__ = [
    "ACCEPT_GRADIENT",
    "DEFAULT_PENALIZER_LADDER",
    "NOT_FITTED_MESSAGE",
    "PARAM_BOUNDS",
    "RFM_COLUMNS",
    "BetaGeoModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "btyd_feature_frame",
    "p_alive_matrix",
    "rfm_arrays",
    "simulate_bgnbd",
    "simulate_pareto_nbd",
    "unique_rows",
    # private, imported by tests and benchmarks
    "_BTYDModel",
    "_BetaGeoFamily",
    "_check_horizon",
    "_horizon_label",
    "_log_hyp2f1_b1",
    "_log_hyp2f1_b1_series",
    "_pareto_log_integral",
]
