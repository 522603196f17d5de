"""The calibration step of the LightGBM churn and revenue models, shared by both.

Calibration is fitted on the out-of-fold predictions (``oof_raw_``) of the *calibration
origins* (``calibration_rows``: the most recent origin by default), i.e. on data the boosters
were not fitted on, and applied to the averaged fold boosters' predictions:

* churn (``fit_churn_calibration`` / ``calibrate_churn``): ``"isotonic"``, ``"platt"``
  (logistic on the logit), ``"btyd_level"`` (shift the logit so the mean probability equals
  the BTYD model's mean churn probability at the cutoff, optionally corrected by the
  same-season origin a year earlier, ``level_rows``: LightGBM gives the ranking, the BTYD model
  fitted on all data up to the cutoff gives the level, since the training origins have other
  seasons and populations), or ``None``.
* revenue (``fit_revenue_calibration`` / ``calibrate_revenue``): ``"scale"`` (multiply by
  actual / predicted total on the calibration origins), ``"btyd_level"`` (total = BTYD total
  at the cutoff times the actual / BTYD ratio of the same-season origin a year earlier, or of
  the latest origin when there is none), or ``None``.

``btyd_level`` needs BTYD references for the scored rows (``btyd_reference``: given, or the
``btyd_*`` feature column).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from scoring.data.errors import DataError

PROBABILITY_CLIP = 1e-4
CHURN_CALIBRATIONS: tuple[str, ...] = ("isotonic", "platt", "btyd_level")
REVENUE_CALIBRATIONS: tuple[str, ...] = ("scale", "btyd_level")


def logit(p) -> np.ndarray:
    """Logit of probabilities clipped to ``[PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]``."""
    return special.logit(
        np.clip(np.asarray(p, dtype="float64"), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    )


_logit = logit


def is_none(method: str | None) -> bool:
    return method is None or method == "none"


def check_method(method: str | None, allowed: Sequence[str]) -> None:
    """DataError unless ``method`` is None / ``"none"`` or one of ``allowed``."""
    if not is_none(method) and method not in allowed:
        names = ", ".join(repr(m) for m in allowed[:-1])
        raise DataError(
            f"calibration must be {names} or None, got {method!r}."
            if len(allowed) == 1
            else f"calibration must be {names}, {allowed[-1]!r} or None, got {method!r}."
        )


def calibration_rows(
    origin: pd.Index, origins: Sequence, season_origins: Sequence, choice: str
) -> np.ndarray:
    """Boolean mask of the training rows (``origin``: their origin) the calibration is fitted
    on: ``"latest"`` origin, ``"season"`` (same-season origins, else the latest) or ``"all"``."""
    if choice == "latest":
        return np.asarray(origin == max(origins))
    if choice == "all":
        return np.ones(len(origin), dtype=bool)
    if choice == "season":
        chosen = list(season_origins) or [max(origins)]
        return np.asarray(origin.isin(chosen))
    raise DataError(f"calibration_origins must be 'latest', 'season' or 'all', got {choice!r}.")


def level_origins(
    origins: Sequence, season_origins: Sequence, reference: str | None, has_btyd: bool
) -> list:
    """Origins the BTYD level correction is measured on (empty: no correction).

    ``reference``: None / ``"none"``, ``"season"`` (the same-season origins) or
    ``"season_or_latest"`` (those, else the latest origin)."""
    if is_none(reference) or not has_btyd:
        return []
    if reference not in ("season", "season_or_latest"):
        raise DataError(
            f"level_reference must be None, 'season' or 'season_or_latest', got {reference!r}."
        )
    chosen = list(season_origins)
    if not chosen and reference == "season_or_latest":
        chosen = [max(origins)]
    return chosen


def btyd_reference(features: pd.DataFrame, reference, column: str, what: str):
    """``reference`` when given, else the ``column`` BTYD feature of ``features``."""
    if reference is not None:
        return reference
    if column not in features:
        raise DataError(
            f"calibration='btyd_level' needs BTYD {what}: pass reference= or features with "
            f"{column!r}."
        )
    return features[column]


# -- churn ---------------------------------------------------------------------------------------
def fit_churn_calibration(
    method: str | None,
    raw: np.ndarray,
    churned: np.ndarray,
    rows: np.ndarray,
    level: np.ndarray | None,
    btyd_churn: np.ndarray | None,
) -> tuple[object | None, float]:
    """``(calibrator, level_adjustment)`` from out-of-fold logits ``raw`` and 0/1 ``churned``.

    ``rows``: calibration rows (isotonic, platt); ``level``: rows of the level origins
    (btyd_level; None = no correction) and ``btyd_churn`` the BTYD churn probability per row.
    ``level_adjustment``: logit gap between the actual and the BTYD churn rate there."""
    check_method(method, CHURN_CALIBRATIONS)
    if method == "isotonic":
        calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        return calibrator.fit(special.expit(raw[rows]), churned[rows]), 0.0
    if method == "platt":
        calibrator = LogisticRegression(C=1e6, max_iter=1000)
        return calibrator.fit(raw[rows].reshape(-1, 1), churned[rows]), 0.0
    if method == "btyd_level" and level is not None:
        actual = churned[level].mean()
        btyd = btyd_churn[level].mean()
        return None, float(logit(actual) - logit(btyd))
    return None, 0.0


def churn_level_shift(raw: np.ndarray, reference, level_adjustment: float) -> float:
    """The logit shift that makes the mean churn probability of a population (raw logits
    ``raw``) equal BTYD's mean ``reference`` probability for the same customers, moved by
    ``level_adjustment``."""
    reference = np.asarray(reference, dtype="float64")
    target = special.expit(logit(reference.mean()) + level_adjustment)
    return float(
        optimize.brentq(lambda d: special.expit(raw + d).mean() - target, -50.0, 50.0, xtol=1e-10)
    )


def calibrate_churn(
    method: str | None, raw: np.ndarray, calibrator, level_adjustment: float, reference=None
) -> np.ndarray:
    """Churn probabilities from logits ``raw`` (``reference``: BTYD churn probabilities of the
    same rows, for ``"btyd_level"``)."""
    if method == "isotonic":
        proba = calibrator.predict(special.expit(raw))
    elif method == "platt":
        proba = calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]
    elif method == "btyd_level":
        proba = special.expit(raw + churn_level_shift(raw, reference, level_adjustment))
    else:
        proba = special.expit(raw)
    return np.asarray(proba, dtype="float64")


# -- revenue -------------------------------------------------------------------------------------
def fit_revenue_calibration(
    method: str | None,
    predicted: np.ndarray,
    revenue: np.ndarray,
    horizon_ratio: float,
    rows: np.ndarray,
    level: np.ndarray | None,
    btyd_revenue: np.ndarray | None,
) -> tuple[float, float]:
    """``(scale, level_ratio)`` from out-of-fold revenue predictions and actual ``revenue``.

    ``horizon_ratio``: H / label horizon; ``rows``: calibration rows (scale); ``level``: rows
    of the level origins (btyd_level; None = no correction), ``btyd_revenue`` the BTYD revenue
    per row."""
    check_method(method, REVENUE_CALIBRATIONS)
    scale, level_ratio = horizon_ratio, 1.0
    if method == "scale":
        total = predicted[rows].sum()
        scale = horizon_ratio * (revenue[rows].sum() / total if total > 0 else 1.0)
    elif method == "btyd_level" and level is not None:
        btyd_total = btyd_revenue[level].sum()
        if btyd_total > 0:
            level_ratio = float(revenue[level].sum() / btyd_total)
    return scale, level_ratio


def calibrate_revenue(
    method: str | None, predicted: np.ndarray, scale: float, level_ratio: float, reference=None
) -> np.ndarray:
    """Calibrated revenue: ``"btyd_level"`` rescales ``predicted`` to total the BTYD
    ``reference`` total times ``level_ratio``; otherwise multiplies by ``scale``."""
    if method == "btyd_level":
        total = float(np.asarray(reference, dtype="float64").sum()) * level_ratio
        return predicted * (total / predicted.sum())
    return predicted * scale
