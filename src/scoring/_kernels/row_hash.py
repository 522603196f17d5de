"""Row hashing: ``DataFrame.duplicated`` over big frames with little memory and time.

Every value is hashed column by column (uint64, slice by slice), the column hashes are mixed
(splitmix64's finaliser) and combined per row; only rows whose hash repeats are compared
exactly, so a hash collision never marks a distinct row. Used by ``scoring.data.cleaning``
(the ``duplicate_row`` quarantine rule, which re-exports these names);
``tests/test_kernels.py`` checks them against ``DataFrame.duplicated``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CHUNK_ROWS = 1 << 20
"""Rows per slice for element-wise operations on big columns (bounds the temporaries)."""

ROW_HASH_BITS = 64
_MIX_SHIFTS_AND_FACTORS = ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB))


def _mix64(values: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser applied in place to a uint64 array (``scratch``: same shape)."""
    for shift, factor in _MIX_SHIFTS_AND_FACTORS:
        np.right_shift(values, np.uint64(shift), out=scratch)
        np.bitwise_xor(values, scratch, out=values)
        np.multiply(values, np.uint64(factor), out=values)
    np.right_shift(values, np.uint64(31), out=scratch)
    np.bitwise_xor(values, scratch, out=values)
    return values


_MISSING_HASH = np.uint64(0x5BD1E9955BD1E995)


def value_hashes(column: pd.Series, out: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """A uint64 hash of every value of ``column`` written into ``out`` (shape
    ``(len(column),)``), equal for values that ``DataFrame.duplicated`` treats as equal.

    Arrow strings, floats, integers, booleans and naive datetimes are hashed value by value,
    slice by slice (temporaries bounded by ``chunk_rows`` rows): strings by their bytes
    (missing values share one hash), floats with -0.0 as 0.0 and every NaN alike (as pandas'
    hash tables compare them). Other dtypes are factorized as ``duplicated`` does and the
    codes hashed.
    """
    dtype = column.dtype
    n = len(column)
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        import pyarrow.compute as pc

        start = 0
        for chunk in column.array.__arrow_array__().chunks:
            for offset in range(0, len(chunk), chunk_rows):
                piece = chunk.slice(offset, chunk_rows)
                stop = start + len(piece)
                encoded = pc.dictionary_encode(piece)
                unique_hashes = pd.util.hash_array(
                    encoded.dictionary.to_numpy(zero_copy_only=False), categorize=False
                )
                if len(unique_hashes):
                    codes = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
                    out[start:stop] = unique_hashes[codes]
                missing = piece.is_null().to_numpy(zero_copy_only=False)
                out[start:stop][missing] = _MISSING_HASH
                start = stop
        return out
    kind = dtype.kind if isinstance(dtype, np.dtype) else None
    if kind in ("f", "i", "u", "b", "M", "m"):
        values = column.to_numpy(copy=False)
        for start in range(0, n, chunk_rows):
            piece = values[start : start + chunk_rows]
            if kind == "f":
                piece = piece.astype(np.float64) + 0.0  # -0.0 -> 0.0
                piece[np.isnan(piece)] = np.nan  # one NaN bit pattern
                bits = piece.view(np.uint64)
            elif kind in ("M", "m"):
                bits = piece.view(np.int64).astype(np.uint64)
            else:
                bits = piece.astype(np.uint64)
            out[start : start + len(piece)] = bits
        return out
    np.copyto(out, column.factorize()[0], casting="unsafe")
    return out


def row_hashes(frame: pd.DataFrame, bits: int = ROW_HASH_BITS) -> np.ndarray:
    """One uint64 hash per row of ``frame`` (shape ``(len(frame),)``), equal for rows that
    ``DataFrame.duplicated`` considers equal (see ``value_hashes``).

    The column hashes are mixed (splitmix64) and combined per row in place (three uint64
    arrays of the frame's length at a time). ``bits`` < 64 keeps only the low bits: more
    collisions, used by tests to check that collisions are resolved exactly.
    """
    out = np.zeros(len(frame), dtype=np.uint64)
    scratch, work = np.empty_like(out), np.empty_like(out)
    for i, (_, column) in enumerate(frame.items()):
        value_hashes(column, work)
        # A different offset per column: equal values in two columns mix differently.
        np.add(work, np.uint64((0x9E3779B97F4A7C15 * (i + 1)) % 2**64), out=work)
        _mix64(work, scratch)
        np.multiply(out, np.uint64(0x100000001B3), out=out)
        np.bitwise_xor(out, work, out=out)
    del work
    _mix64(out, scratch)
    del scratch
    if bits < 64:
        np.bitwise_and(out, np.uint64((1 << bits) - 1), out=out)
    return out


def duplicated_rows(frame: pd.DataFrame, hash_bits: int = ROW_HASH_BITS) -> np.ndarray:
    """``frame.duplicated(keep="first")`` as a bool ndarray of shape ``(len(frame),)``,
    with much less memory and time on big frames.

    Rows are hashed once (``row_hashes``); only rows whose hash occurs more than once are
    candidates, and those are compared exactly on all columns with ``DataFrame.duplicated``,
    so a hash collision never marks a distinct row. Missing values (NaN, None, <NA>, NaT)
    are equal to each other, as in pandas.
    """
    n = len(frame)
    if n == 0 or frame.shape[1] == 0:
        return frame.duplicated(keep="first").to_numpy(dtype=bool)
    hashes = row_hashes(frame, hash_bits)
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered
    out = np.zeros(n, dtype=bool)
    if repeated.size:
        candidates = np.flatnonzero(pd.Series(hashes, copy=False).isin(np.unique(repeated)))
        exact = frame.iloc[candidates].duplicated(keep="first").to_numpy(dtype=bool)
        out[candidates[exact]] = True
    return out
