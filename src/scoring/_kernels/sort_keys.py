"""Bit-packed int64 sort keys: group a log by (customer, day) with one value sort.

Every row gets one int64 ``customer | day | row`` (bit-packed); a plain value sort of those
keys (several times faster than an argsort) groups the rows by customer, then day, then
original position. The customer part is read straight from the Arrow string buffers: each
pair of byte positions of the ids is replaced by its rank among the pairs present there, so
``"12346"`` or ``"C0001234"`` style ids take 20-30 bits, sort like the strings, and no string
is hashed. Ids that do not compress into the key (emails, UUIDs) fall back to a hash
factorization (:func:`factorize_sorted`) and an argsort.

Used by ``scoring.features.rfm``; ``tests/test_kernels.py`` checks every function against a
plain Python reference (sorting tuples of strings).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

MAX_ID_BYTES = 32
"""Longest id (bytes) read from the Arrow buffers; longer ids take the hash path."""


def id_bytes(ids: pd.Series) -> np.ndarray | None:
    """The ids as an (n, width) uint8 matrix, zero-padded on the right, or None.

    Read straight from the Arrow offsets and data buffers (no per-string Python work).
    None (use the hash path) for non-Arrow storage, nulls, empty ids, ids longer than
    ``MAX_ID_BYTES`` or NUL bytes (which would collide with the padding).
    """
    if not isinstance(ids.dtype, pd.StringDtype) or ids.dtype.storage != "pyarrow" or ids.empty:
        return None
    arr = pa.chunked_array(ids.array._pa_array).combine_chunks()
    if arr.null_count:
        return None
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    lengths = np.diff(offsets)
    width = int(lengths.max())
    if lengths.min() < 1 or width > MAX_ID_BYTES:
        return None
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]: offsets[-1]]
    if not data.all():
        return None
    if lengths.min() == width:  # the common case: every id has the same length
        return data.reshape(len(arr), width)
    padded = np.concatenate([data, np.zeros(width, dtype=np.uint8)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    matrix = windows[offsets[:-1] - offsets[0]]
    matrix[np.arange(width) >= lengths[:, None]] = 0
    return matrix


def bits(max_value: int) -> int:
    """Bits needed to hold 0..max_value."""
    return int(max_value).bit_length()


def compressed_id_keys(byte_matrix: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Order-preserving int64 keys of the rows of a byte matrix, and their bit width.

    Each pair of byte positions (read as a big-endian 16-bit number) is replaced by its rank
    among the pairs present there, and the ranks are concatenated: ``"C0001234"``-style ids
    over a million customers take 21 bits instead of 64. None when more than 62 bits.
    """
    n, width = byte_matrix.shape
    if width % 2:
        byte_matrix = np.concatenate([byte_matrix, np.zeros((n, 1), dtype=np.uint8)], axis=1)
    pairs = np.ascontiguousarray(byte_matrix).view(">u2").T.astype(np.uint16, order="C")
    key = np.zeros(n, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    total_bits = 0
    for column in pairs:  # loop over at most 16 byte pairs
        if column.min() == column.max():
            continue
        present = np.bincount(column, minlength=1 << 16) > 0
        width_bits = bits(int(present.sum()) - 1)
        total_bits += width_bits
        if total_bits > 62:
            return None
        key <<= width_bits
        key |= np.take((np.cumsum(present) - 1).astype(np.int64), column, out=rank)
    return key, total_bits


def factorize_sorted(values: pd.Series, keep: np.ndarray | None = None
                     ) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``values[keep]`` into their sorted unique values.

    Hash-factorizes first and sorts only the distinct values (much faster than a sorted
    factorize on millions of strings). Returns (codes, sorted unique ids as a string Index).
    """
    codes, uniques = pd.factorize(values, sort=False)
    if keep is not None:
        codes = codes[keep]
    present = np.bincount(codes, minlength=len(uniques)) > 0
    uniques = pd.Index(uniques, dtype="string")
    order = np.flatnonzero(present)[uniques[present].argsort()]
    rank = np.full(len(uniques), -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], pd.Index(uniques[order], dtype="string", name="customer_id")


def customer_keys(ids: pd.Series, keep: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Per kept row a non-negative int64, equal iff the ids are and ordered like the id
    strings, and the number of bits it uses."""
    matrix = id_bytes(ids)
    compressed = None
    if matrix is not None:
        compressed = compressed_id_keys(matrix if keep is None else matrix[keep])
    if compressed is not None:
        return compressed
    codes, uniques = factorize_sorted(ids, keep)
    return codes.astype(np.int64), bits(max(len(uniques) - 1, 0))


def runs(sorted_values: np.ndarray) -> np.ndarray:
    """Start index of every run of equal values in a sorted array."""
    if len(sorted_values) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(sorted_values), dtype=bool)
    change[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=change[1:])
    return np.flatnonzero(change)


def sort_customer_days(customer: np.ndarray, customer_bits: int, days: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, int]:
    """Order of the rows by (customer, day, row) and their sorted ``customer | day`` keys.

    ``customer``: non-negative int64 keys using ``customer_bits`` bits (``customer_keys``);
    ``days``: int64 day numbers, same length (not empty). Returns ``(order, key, day_bits)``:
    ``order`` the row positions in sorted order, ``key`` (sorted) =
    ``customer << day_bits | (day - days.min())``, with dense customer codes in place of
    ``customer`` when both do not fit one int64 (the order is the same).

    The key is ``customer | day | row`` packed in one int64 when it fits (a plain value sort,
    several times faster than an argsort), else ``customer | day`` with a stable argsort.
    """
    low = days.min()
    day_bits = bits(days.max() - low)
    row_bits = bits(len(days) - 1)
    if customer_bits + day_bits + row_bits <= 63:
        packed = (customer << (day_bits + row_bits)) | ((days - low) << row_bits)
        packed |= np.arange(len(days), dtype=np.int64)
        packed.sort()
        return packed & ((1 << row_bits) - 1), packed >> row_bits, day_bits
    if customer_bits + day_bits > 63:  # cannot share one int64: use dense codes
        _, customer = np.unique(customer, return_inverse=True)
    key = (customer.astype(np.int64) << day_bits) | (days - low)
    order = np.argsort(key, kind="stable")
    return order, key[order], day_bits
