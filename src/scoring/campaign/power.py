"""Power of a two-arm comparison (control vs the treated share): detectable lift, control share.

All functions use statsmodels' :class:`~statsmodels.stats.power.NormalIndPower` (normal
approximation, two-sided test at level ``alpha``). ``nobs1`` is the control group
(``n_customers * control_share``) and ``ratio`` the treated / control size ratio.

- Conversion rates use Cohen's arcsine effect size
  ``h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))`` (:func:`statsmodels.stats.proportion.proportion_effectsize`),
  inverted back to a rate: ``p1 = sin(asin(sqrt(p0)) + h / 2) ** 2``; the lift is ``p1 - p0``
  (absolute, in rate units, upward).
- Continuous outcomes (orders, revenue) use the standardised difference ``d = delta / std``,
  so the detectable difference is ``d * std`` (outcome units; divide by the mean for a
  relative lift).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

__all__ = [
    "minimum_detectable_effect",
    "required_control_share",
    "minimum_detectable_effect_continuous",
    "required_control_share_continuous",
]

_POWER = NormalIndPower()


def _check(n_customers, alpha, power, control_share=None) -> None:
    if not n_customers or n_customers <= 0:
        raise ValueError(f"n_customers must be > 0 (got {n_customers!r}).")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1) (got {alpha!r}, {power!r}).")
    if control_share is not None and not 0 < control_share < 1:
        raise ValueError(f"control_share must be in (0, 1) (got {control_share!r}).")


def _effect_size(n_customers: float, control_share: float, alpha: float, power: float) -> float:
    """Smallest standardised effect size detectable with the given split: statsmodels'
    ``solve_power``, polished to machine precision with ``brentq`` on ``power()``."""
    n_c = n_customers * control_share
    ratio = (1 - control_share) / control_share
    h = float(_POWER.solve_power(effect_size=None, nobs1=n_c, alpha=alpha, power=power,
                                 ratio=ratio, alternative="two-sided"))

    def gap(effect_size: float) -> float:
        return float(_POWER.power(effect_size=effect_size, nobs1=n_c, alpha=alpha,
                                  ratio=ratio, alternative="two-sided")) - power

    # solve_power's root finder stops at ~1e-5 in power; polish on statsmodels' own power().
    low, high = h / 2, h * 2
    if gap(low) < 0 < gap(high):
        h = float(brentq(gap, low, high, xtol=1e-14, rtol=1e-14))
    return h


def _rate_from_h(baseline_rate: float, h: float) -> float:
    """Rate ``p1`` with ``proportion_effectsize(p1, baseline_rate) == h`` (NaN beyond 1)."""
    angle = math.asin(math.sqrt(baseline_rate)) + h / 2
    return math.sin(angle) ** 2 if angle <= math.pi / 2 else math.nan


def _check_rate(baseline_rate: float) -> None:
    if not 0 <= baseline_rate < 1:
        raise ValueError(f"baseline_rate must be in [0, 1) (got {baseline_rate!r}).")


def minimum_detectable_effect(n_customers: int, control_share: float, baseline_rate: float,
                              alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest absolute lift of a conversion rate (``p1 - baseline_rate``, rate units)
    detectable with ``power`` by a two-sided test at ``alpha``, with ``n_customers`` split
    into ``control_share`` control and ``1 - control_share`` treated.

    Raises ValueError when no rate <= 1 is detectable (sample far too small)."""
    _check(n_customers, alpha, power, control_share)
    _check_rate(baseline_rate)
    h = _effect_size(n_customers, control_share, alpha, power)
    p1 = _rate_from_h(baseline_rate, h)
    if not np.isfinite(p1):
        raise ValueError(f"with {n_customers} customers and control share {control_share:g} "
                         f"no conversion rate up to 100 % is detectable from {baseline_rate:g}.")
    return p1 - baseline_rate


def _required_share(n_customers: float, h: float, alpha: float, power: float,
                    what: str, mde_at_half: float, unit: str) -> float:
    """Smallest control share s in (0, 0.5] whose power for effect size ``h`` reaches
    ``power`` (power increases with s up to the balanced split)."""
    def gap(share: float) -> float:
        return float(_POWER.power(effect_size=h, nobs1=n_customers * share, alpha=alpha,
                                  ratio=(1 - share) / share, alternative="two-sided")) - power

    at_half = gap(0.5)
    if at_half < -1e-9:            # tolerance: the lift detectable at exactly 50 % qualifies
        raise ValueError(
            f"even a 50 % control group of {n_customers} customers cannot detect {what} with "
            f"power {power:g} at alpha {alpha:g}: the smallest detectable lift at 50 % is "
            f"{mde_at_half:.6g}{unit}. Add customers or aim for a larger effect.")
    if at_half <= 0:
        return 0.5
    low = 1.0 / n_customers / 10
    if gap(low) >= 0:
        return low
    return float(brentq(gap, low, 0.5, xtol=1e-14, rtol=1e-14))


def required_control_share(n_customers: int, baseline_rate: float, lift: float,
                           alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest control share in (0, 0.5] that detects an absolute conversion lift ``lift``
    (rate units, ``baseline_rate -> baseline_rate + lift``) with ``power`` at ``alpha``.

    Raises ValueError, naming the smallest lift detectable at a 50 % control share, when
    even a balanced split is not enough."""
    _check(n_customers, alpha, power)
    _check_rate(baseline_rate)
    if not 0 < lift <= 1 - baseline_rate:
        raise ValueError(f"lift must be in (0, 1 - baseline_rate] (got {lift!r}).")
    h = abs(float(proportion_effectsize(baseline_rate + lift, baseline_rate)))
    try:
        mde = minimum_detectable_effect(n_customers, 0.5, baseline_rate, alpha, power)
    except ValueError:
        mde = math.nan
    return _required_share(n_customers, h, alpha, power, f"a lift of {lift:g}", mde,
                           " (absolute rate)")


def minimum_detectable_effect_continuous(n_customers: int, control_share: float, std: float,
                                         alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest absolute difference of means (outcome units, e.g. currency per customer)
    detectable for an outcome with standard deviation ``std`` (per customer, assumed equal in
    both arms); divide by the control mean for a relative lift."""
    _check(n_customers, alpha, power, control_share)
    if not std > 0:
        raise ValueError(f"std must be > 0 (got {std!r}).")
    return _effect_size(n_customers, control_share, alpha, power) * std


def required_control_share_continuous(n_customers: int, std: float, effect: float,
                                      alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest control share in (0, 0.5] detecting a difference of means ``effect`` (outcome
    units) for an outcome with standard deviation ``std``; ValueError (with the smallest
    detectable difference at 50 %) when even a balanced split is not enough."""
    _check(n_customers, alpha, power)
    if not std > 0 or not effect or effect == 0:
        raise ValueError(f"std must be > 0 and effect non-zero (got {std!r}, {effect!r}).")
    mde = minimum_detectable_effect_continuous(n_customers, 0.5, std, alpha, power)
    return _required_share(n_customers, abs(effect) / std, alpha, power,
                           f"a difference of {effect:g}", mde, " (outcome units)")
