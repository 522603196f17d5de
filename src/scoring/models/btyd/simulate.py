"""Simulators of BG/NBD, modified BG/NBD and Pareto/NBD customers with known parameters
(known truth for tests and benchmarks): ``simulate_bgnbd``, ``simulate_pareto_nbd`` and their
helpers ``_simulation_frame`` and ``_as_ages``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.errors import DataError


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
