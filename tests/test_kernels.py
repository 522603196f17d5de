"""The low-level kernels (``scoring._kernels``) against plain reference implementations.

Each kernel is compared on random inputs (hypothesis) with a naive version written for
clarity: Python sorting of tuples for the bit-packed sort keys, ``DataFrame.duplicated`` for
the row hashes, an ``np.argsort`` per row for the top-n.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring._kernels import row_hash, sort_keys, topn

# ----------------------------------------------------------------------------- sort keys
ID_FORMS = {
    "short": ("c{}", "string[pyarrow]"),
    "numeric": ("{}", "string[pyarrow]"),
    "padded": ("C{:07d}", "string[pyarrow]"),
    "wide": ("{}~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", "string[pyarrow]"),
    "unicode": ("kü{}é", "string[pyarrow]"),
    "python": ("c{}", "string[python]"),
    "object": ("c{}", object),
}


@st.composite
def id_columns(draw, max_rows: int = 40):
    """Customer ids as a Series in one of the forms above, and an optional keep mask."""
    numbers = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=max_rows))
    form, dtype = ID_FORMS[draw(st.sampled_from(sorted(ID_FORMS)))]
    ids = pd.Series([form.format(x) for x in numbers], dtype=dtype)
    keep = None
    if draw(st.booleans()):
        keep = np.array(draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids))))
        if not keep.any():
            keep[0] = True
    return ids, keep


def _assert_same_order(keys: np.ndarray, reference: list) -> None:
    """``keys`` compare (<, ==) like the ``reference`` values, pair by pair."""
    assert len(keys) == len(reference)
    for i in range(len(reference)):
        for j in range(len(reference)):
            assert (keys[i] < keys[j]) == (reference[i] < reference[j])
            assert (keys[i] == keys[j]) == (reference[i] == reference[j])


def _kept(ids: pd.Series, keep: np.ndarray | None) -> list[str]:
    values = [str(v) for v in ids]
    return values if keep is None else [v for v, k in zip(values, keep, strict=True) if k]


@settings(max_examples=200, deadline=None)
@given(column=id_columns())
def test_customer_keys_sort_like_the_strings(column):
    ids, keep = column
    keys, n_bits = sort_keys.customer_keys(ids, keep)
    assert keys.dtype == np.int64 and (keys >= 0).all()
    assert n_bits <= 63 and int(keys.max()).bit_length() <= n_bits
    # reference: Python's string order (UTF-8 byte order is code point order)
    _assert_same_order(keys, _kept(ids, keep))


@settings(max_examples=100, deadline=None)
@given(column=id_columns())
def test_factorize_sorted_equals_sorting_the_distinct_values(column):
    ids, keep = column
    codes, uniques = sort_keys.factorize_sorted(ids, keep)
    strings = _kept(ids, keep)
    reference = sorted(set(strings))
    assert list(uniques) == reference
    assert codes.tolist() == [reference.index(s) for s in strings]


@settings(max_examples=100, deadline=None)
@given(column=id_columns())
def test_id_bytes_are_the_padded_utf8_bytes(column):
    ids, _ = column
    matrix = sort_keys.id_bytes(ids)
    if matrix is None:
        assert not (isinstance(ids.dtype, pd.StringDtype) and ids.dtype.storage == "pyarrow"
                    and max(len(str(v).encode()) for v in ids) <= sort_keys.MAX_ID_BYTES)
        return
    encoded = [str(v).encode() for v in ids]
    width = max(map(len, encoded))
    reference = [list(e) + [0] * (width - len(e)) for e in encoded]
    assert matrix.tolist() == reference


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.lists(st.integers(1, 255), min_size=3, max_size=3), min_size=1,
                     max_size=30))
def test_compressed_id_keys_order_like_byte_tuples(rows):
    matrix = np.array(rows, dtype=np.uint8)
    keys, n_bits = sort_keys.compressed_id_keys(matrix)
    assert int(keys.max()).bit_length() <= n_bits
    _assert_same_order(keys, [tuple(row) for row in rows])


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 20), st.integers(-5, 400)), min_size=1,
                   max_size=60),
    spread=st.sampled_from([0, 30, 48, 57]),
)
def test_sort_customer_days_equals_sorting_tuples(pairs, spread):
    """``spread`` pushes the customer keys high (20 << 57 < 2**63) so that the packed
    ``customer | day | row`` key does not fit: 48 takes the argsort path, 57 dense codes."""
    customer = np.array([c for c, _ in pairs], dtype=np.int64) << spread
    days = np.array([d for _, d in pairs], dtype=np.int64) + 18_000
    customer_bits = sort_keys.bits(int(customer.max()))
    order, key, day_bits = sort_keys.sort_customer_days(customer, customer_bits, days)
    reference = sorted(range(len(pairs)), key=lambda i: (pairs[i][0], pairs[i][1], i))
    assert order.tolist() == reference
    assert (np.diff(key) >= 0).all()
    assert ((key & ((1 << day_bits) - 1)) + days.min()).tolist() == days[order].tolist()
    customer_runs = [pairs[i][0] for i in reference]
    same = np.diff(key >> day_bits) == 0
    assert same.tolist() == [a == b for a, b in zip(customer_runs[:-1], customer_runs[1:], strict=True)]


@given(values=st.lists(st.integers(0, 5), max_size=40))
def test_runs_start_where_the_value_changes(values):
    ordered = np.sort(np.array(values, dtype=np.int64))
    reference = [i for i in range(len(ordered)) if i == 0 or ordered[i] != ordered[i - 1]]
    assert sort_keys.runs(ordered).tolist() == reference


# ------------------------------------------------------------------------------ row hash
CELLS = {
    "string": (st.sampled_from(["a", "b", "", "ab", None]), "string[pyarrow]"),
    "float": (st.sampled_from([0.0, -0.0, 1.5, np.nan, np.inf, -2.0]), "float64"),
    "float32": (st.sampled_from([0.0, -0.0, 1.5, np.nan]), "float32"),
    "int": (st.integers(-3, 3), "int64"),
    "bool": (st.booleans(), "bool"),
    "datetime": (st.sampled_from(["2020-01-01", "2020-01-02", None]), "datetime64[ns]"),
    "object": (st.sampled_from(["x", 1, None, 2.5]), object),
    "category": (st.sampled_from(["p", "q", None]), "category"),
}


@st.composite
def frames(draw, max_rows: int = 30):
    """Small frames of mixed dtypes with many repeated rows."""
    n = draw(st.integers(0, max_rows))
    kinds = draw(st.lists(st.sampled_from(sorted(CELLS)), min_size=1, max_size=4))
    columns = {}
    for i, kind in enumerate(kinds):
        cell, dtype = CELLS[kind]
        columns[f"{kind}{i}"] = pd.Series(draw(st.lists(cell, min_size=n, max_size=n)),
                                          dtype=dtype)
    frame = pd.DataFrame(columns)
    if n and draw(st.booleans()):  # repeat whole rows
        rows = draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n))
        frame = frame.iloc[rows].reset_index(drop=True)
    return frame


@settings(max_examples=200, deadline=None)
@given(frame=frames(), hash_bits=st.sampled_from([64, 3, 0]))
def test_duplicated_rows_equals_pandas(frame, hash_bits):
    expected = frame.duplicated(keep="first").to_numpy(dtype=bool)
    got = row_hash.duplicated_rows(frame, hash_bits=hash_bits)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=100, deadline=None)
@given(frame=frames(), chunk_rows=st.integers(1, 7))
def test_equal_rows_hash_equal(frame, chunk_rows):
    """Rows pandas calls equal share a hash; value hashes do not depend on the slicing."""
    hashes = row_hash.row_hashes(frame)
    # reference: rows are equal when every column's factorize code is (as in duplicated)
    codes = list(zip(*(column.factorize()[0].tolist() for _, column in frame.items()),
                     strict=True))
    by_row: dict[tuple, set] = {}
    for row, code in enumerate(codes):
        by_row.setdefault(code, set()).add(int(hashes[row]))
    assert all(len(h) == 1 for h in by_row.values())
    for _, column in frame.items():
        whole = row_hash.value_hashes(column, np.empty(len(column), np.uint64))
        sliced = row_hash.value_hashes(column, np.empty(len(column), np.uint64), chunk_rows)
        np.testing.assert_array_equal(whole, sliced)


def test_mix64_is_splitmix64s_finaliser():
    def reference(x: int) -> int:
        mask = 2**64 - 1
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    values = np.array([0, 1, 2**63 + 5, 2**64 - 1, 123456789], dtype=np.uint64)
    expected = [reference(int(v)) for v in values]
    got = row_hash._mix64(values.copy(), np.empty_like(values))
    assert got.tolist() == expected


# ---------------------------------------------------------------------------------- top-n
SCORE_VALUES = [0.0, 1.0, 2.0, 2.0, -1.5, 3.25, -np.inf, np.inf, np.nan]


def _reference_topn(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: finite scores by (-score, column) with a stable argsort, first n."""
    m, n_items = scores.shape
    n_eff = min(n, n_items)
    idx = np.full((m, n_eff), -1, dtype=np.int64)
    top = np.full((m, n_eff), -np.inf)
    for r in range(m):
        row = scores[r].astype(np.float64)
        finite = np.flatnonzero(np.isfinite(row))
        best = finite[np.argsort(-row[finite], kind="stable")][:n_eff]
        idx[r, : len(best)] = best
        top[r, : len(best)] = row[best]
    return idx, top


@settings(max_examples=300, deadline=None)
@given(
    shape=st.tuples(st.integers(0, 8), st.integers(0, 12)),
    n=st.integers(0, 14),
    dtype=st.sampled_from([np.float64, np.float32]),
    data=st.data(),
)
def test_topn_dense_equals_argsort(shape, n, dtype, data):
    cells = data.draw(st.lists(st.sampled_from(SCORE_VALUES), min_size=shape[0] * shape[1],
                               max_size=shape[0] * shape[1]))
    scores = np.array(cells, dtype=dtype).reshape(shape)
    idx, top = topn.topn_dense(scores, n)
    ref_idx, ref_top = _reference_topn(scores, n)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(top, ref_top)


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9),
                             st.sampled_from([0.5, 1.0, 1.0, 2.0, -3.0])),
                   max_size=40, unique_by=lambda c: (c[0], c[1])),
    n=st.integers(1, 6),
)
def test_topn_cells_equals_argsort(cells, n):
    m = 6
    rows = np.array([c[0] for c in cells], dtype=np.int64)
    cols = np.array([c[1] for c in cells], dtype=np.int64)
    values = np.array([c[2] for c in cells], dtype=np.float64)
    idx, top, counts = topn.topn_cells(rows, cols, values, m, n)
    dense = np.full((m, 10), -np.inf)
    dense[rows, cols] = values
    ref_idx, ref_top = _reference_topn(dense, n)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(top, ref_top)
    assert counts.tolist() == np.bincount(rows, minlength=m).tolist()
