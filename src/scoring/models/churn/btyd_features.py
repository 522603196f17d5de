"""BTYD outputs as features: the ``btyd_*`` columns of the rolling-origin panel and the hybrid
models (BG/NBD, or its NBD limit, and Gamma-Gamma fitted on an RFM table), their column names
and the Gamma-Gamma fit rows (``spend_fit_rows``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special

from scoring.data.errors import DataError
from scoring.features.rfm import rfm_summary

BTYD_PREFIX = "btyd_"
BTYD_CHURN = "btyd_churn_probability"
BTYD_REVENUE = "btyd_predicted_revenue"


def spend_fit_rows(rfm: pd.DataFrame) -> pd.DataFrame:
    """Rows the Gamma-Gamma model can be fitted on: one-time buyers and repeat buyers with a
    positive mean repeat order value (free repeat orders, e.g. zero-price CDNOW lines, would
    make the fit refuse the whole table). Predictions still cover every customer."""
    keep = (rfm["frequency"] == 0) | (rfm["monetary_value"] > 0)
    return rfm.loc[keep]


def fit_btyd_feature_models(rfm: pd.DataFrame) -> tuple[object, object]:
    """The transaction and spend models behind the ``btyd_*`` features, fitted on an RFM table.

    BG/NBD (its a -> 0 limit ``NBDModel`` when the fit is refused: short histories where hardly
    anyone has lapsed yet) and Gamma-Gamma on ``spend_fit_rows``. Returns
    ``(transaction_model, spend_model)``.
    """
    from scoring.models.btyd import BetaGeoModel
    from scoring.models.gamma_gamma import GammaGammaModel

    try:
        transaction_model = BetaGeoModel().fit(rfm)
    except DataError:
        transaction_model = NBDModel().fit(rfm)
    return transaction_model, GammaGammaModel().fit(spend_fit_rows(rfm))


def btyd_features(
    rfm: pd.DataFrame, horizon_days: int, transaction_model, spend_model
) -> pd.DataFrame:
    """The ``btyd_*`` feature columns for the customers of an RFM table, indexed by
    ``customer_id`` (string), from fitted models (``fit_btyd_feature_models``)."""
    from scoring.models.btyd import btyd_feature_frame

    frame = btyd_feature_frame(rfm, horizon_days, transaction_model, spend_model)
    label = f"_{int(horizon_days)}d"
    frame.columns = [BTYD_PREFIX + c.removesuffix(label) for c in frame.columns]
    frame.index = frame.index.astype("string")
    return frame


def btyd_origin_features(
    transactions: pd.DataFrame, origin, horizon_days: int
) -> tuple[pd.DataFrame, dict]:
    """BG/NBD + Gamma-Gamma outputs as of ``origin`` (fitted on data before it).

    Returns ``(frame, params)``: frame indexed by ``customer_id`` with ``btyd_p_alive``,
    ``btyd_expected_orders``, ``btyd_churn_probability`` (P(no order in horizon)),
    ``btyd_expected_days_to_next_order``, ``btyd_expected_order_value`` and
    ``btyd_predicted_revenue`` (currency in the horizon); params of both fits.
    """
    origin = pd.Timestamp(origin).normalize()
    rfm = rfm_summary(transactions, origin - pd.Timedelta(days=1))
    transaction_model, spend_model = fit_btyd_feature_models(rfm)
    frame = btyd_features(rfm, horizon_days, transaction_model, spend_model)
    params = {
        "transaction_model": type(transaction_model).__name__,
        "bgnbd": {k: float(v) for k, v in transaction_model.params_.items()},
        "gammagamma": {k: float(v) for k, v in getattr(spend_model, "params_", {}).items()},
    }
    return frame, params


class NBDModel:
    """NBD purchase model (gamma-Poisson, nobody drops out): BG/NBD's limit ``a -> 0``.

    Used for BTYD features at origins where ``BetaGeoModel`` refuses the fit because hardly
    any customer has lapsed yet. Purchase rate ``lambda ~ Gamma(r, alpha)`` per day; given
    ``x`` repeat purchase days in ``T`` days the posterior is ``Gamma(r + x, alpha + T)``.
    Same prediction interface as the BTYD models (``p_alive`` = 1). ``params_``: r, alpha.
    """

    def __init__(self, max_days_to_next_order: float = 3650.0):
        self.max_days_to_next_order = max_days_to_next_order

    def fit(self, rfm: pd.DataFrame) -> NBDModel:
        counts = rfm[["frequency", "T"]].value_counts(sort=False)
        x = counts.index.get_level_values("frequency").to_numpy(dtype="float64")
        t = counts.index.get_level_values("T").to_numpy(dtype="float64")
        w = counts.to_numpy(dtype="float64")

        def nll(log_params):
            r, alpha = np.exp(log_params)
            ll = (
                special.gammaln(r + x)
                - special.gammaln(r)
                + r * np.log(alpha)
                - (r + x) * np.log(alpha + t)
            )
            return -(w * ll).sum() / w.sum()

        start = np.log([1.0, max(float(np.average(t, weights=w)), 1.0)])
        result = optimize.minimize(
            nll,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000},
        )
        r, alpha = np.exp(result.x)
        self.params_ = {"r": float(r), "alpha": float(alpha)}
        return self

    def _posterior(self, rfm):
        r, alpha = self.params_["r"], self.params_["alpha"]
        return r + rfm["frequency"].to_numpy(dtype="float64"), alpha + rfm["T"].to_numpy(
            dtype="float64"
        )

    def p_alive(self, rfm: pd.DataFrame) -> np.ndarray:
        return np.ones(len(rfm))

    def expected_orders(self, rfm: pd.DataFrame, horizon_days: float) -> np.ndarray:
        shape, rate = self._posterior(rfm)
        return shape / rate * float(horizon_days)

    def prob_no_order(self, rfm: pd.DataFrame, horizon_days: float) -> np.ndarray:
        shape, rate = self._posterior(rfm)
        return np.exp(-shape * np.log1p(float(horizon_days) / rate))

    def expected_days_to_next_order(self, rfm: pd.DataFrame) -> np.ndarray:
        shape, rate = self._posterior(rfm)
        return np.minimum(rate * np.expm1(np.log(2.0) / shape), self.max_days_to_next_order)

