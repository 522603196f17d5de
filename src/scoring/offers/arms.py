"""A/B/n arms and the control group, drawn from a stable hash of the customer id.

``u = stable_unit_hash(customer_id)`` is uniform in [0, 1) and depends only on the id, the salt
and the key (:mod:`scoring._kernels.stable_hash`). Arms (``OfferPolicy.arms``) take consecutive
intervals of ``u`` in the order given, so raising the control share keeps the existing control
customers in control; a new ``hash_salt`` draws a fresh split for a new campaign. Customers in
``OfferPolicy.control_arms`` get no incentive.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from scoring._kernels import stable_hash

from .policy import OfferPolicy


def stable_unit_hash(
    customer_id: pd.Series | Iterable[str],
    salt: str = OfferPolicy.hash_salt,
    key: str | None = None,
) -> np.ndarray:
    """Uniform number in [0, 1) per id, stable across runs, machines and row orders.

    SipHash-2-4 (``pandas.util.hash_array``, ``categorize=False``) of ``salt + ":" + id`` as
    UTF-8 with the 16-byte ``key`` (default ``OfferPolicy.hash_key``), top 53 bits / 2**53.
    Shape (n,), float64. The kernel and its reference: :mod:`scoring._kernels.stable_hash`.
    """
    key = OfferPolicy.hash_key if key is None else key
    return stable_hash.stable_unit_hash(customer_id, salt, key)


def arm_codes(customer_id: pd.Series | Iterable[str], policy: OfferPolicy) -> np.ndarray:
    """Codes into ``policy.arms``, shape (n,)."""
    u = stable_unit_hash(customer_id, policy.hash_salt, policy.hash_key)
    bounds = np.cumsum([share for _, share in policy.arms])
    return np.minimum(np.searchsorted(bounds, u, side="right"), len(policy.arms) - 1)


def arm_names(policy: OfferPolicy) -> list[str]:
    """Names of ``policy.arms`` in hash order (the categories of ``ab_group``)."""
    return [name for name, _ in policy.arms]


def control_mask(codes: np.ndarray, policy: OfferPolicy) -> np.ndarray:
    """Boolean array (n,): the arm (``codes`` from :func:`arm_codes`) is a control arm."""
    return np.isin(np.asarray(arm_names(policy)), policy.control_arms)[codes]


def ab_groups(
    customer_id: pd.Series | Iterable[str], policy: OfferPolicy | None = None
) -> np.ndarray:
    """Arm name per id (shape (n,)) from :func:`stable_unit_hash` and ``policy.arms``."""
    policy = policy or OfferPolicy()
    return np.asarray(arm_names(policy))[arm_codes(customer_id, policy)]


__all__ = ["ab_groups", "arm_codes", "arm_names", "control_mask", "stable_unit_hash"]
