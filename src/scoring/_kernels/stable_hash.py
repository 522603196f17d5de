"""Stable hash of salted ids to a uniform number in [0, 1): the control-group draw.

``u = mix64(SipHash-2-4(key, salt + ":" + id)) >> 11 / 2**53`` with the id as text encoded
as UTF-8 and the 16-byte ``key``. SipHash-2-4 is pandas' (``pandas.util.hash_array`` with
``categorize=False``), which also applies splitmix64's finaliser (``mix64``) to every hash;
the top 53 bits make an exactly representable float64. The result depends only on the id,
salt and key: stable across runs, machines, row orders and populations.

:func:`stable_unit_hash` is the vectorised kernel; :func:`stable_unit_hash_reference` computes
the same number id by id with a pure-Python SipHash-2-4 (:func:`siphash24`), written for
clarity; ``tests/test_kernels_stable_hash.py`` compares the two on random ids. If pandas ever
changed its hashing, that test (and ``tests/test_offers.py::test_stable_hash_is_pinned``)
fails instead of the control groups silently moving.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

_MASK64 = (1 << 64) - 1
_UNIT = float(2**53)


def stable_unit_hash(customer_id: pd.Series | Iterable[str], salt: str, key: str) -> np.ndarray:
    """Uniform number in [0, 1) per id, shape (n,), float64 (vectorised, pandas' SipHash).

    ``customer_id``: ids, converted with ``.astype(str)``; ``salt``: any text; ``key``: text
    of exactly 16 bytes in UTF-8.
    """
    ids = pd.Series(customer_id, dtype=object).astype(str)
    keyed = (salt + ":" + ids).to_numpy(dtype=object)
    hashes = pd.util.hash_array(keyed, hash_key=key, categorize=False).astype(np.uint64)
    return (hashes >> np.uint64(11)).astype(np.float64) / _UNIT


# ----------------------------------------------------------------------------- reference


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK64


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK64
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _MASK64
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _MASK64
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _MASK64
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(data: bytes, key: bytes) -> int:
    """SipHash-2-4 of ``data`` with the 16-byte ``key`` (Aumasson & Bernstein), as an int."""
    if len(key) != 16:
        raise ValueError(f"key must be 16 bytes, got {len(key)}")
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:], "little")
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    n_full = len(data) // 8 * 8
    tail = data[n_full:] + bytes(7 - len(data) % 8) + bytes([len(data) & 0xFF])
    for start in [*range(0, n_full, 8), None]:
        m = int.from_bytes(tail if start is None else data[start : start + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _sipround(*_sipround(v0, v1, v2, v3))
        v0 ^= m
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def mix64(x: int) -> int:
    """splitmix64's finaliser, as pandas applies it after hashing."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def stable_unit_hash_reference(customer_id: Iterable[object], salt: str, key: str) -> np.ndarray:
    """Same as :func:`stable_unit_hash`, one id at a time in pure Python (slow, for tests)."""
    key_bytes = key.encode("utf-8")
    return np.array(
        [
            (mix64(siphash24(f"{salt}:{value}".encode(), key_bytes)) >> 11) / _UNIT
            for value in customer_id
        ],
        dtype=np.float64,
    )


__all__ = ["mix64", "siphash24", "stable_unit_hash", "stable_unit_hash_reference"]
