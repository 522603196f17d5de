"""The cell kernel (``scoring.models.recommend.cells``) against plain pandas groupbys.

``group_sums`` / ``kahan_sums`` must give pandas' groupby sums bit for bit (Kahan path when the
group ids are not monotonic, ``reduceat`` path when they are), NaN, infinities and signed
zeros included; ``cells`` must give the numbers of the two pandas groupbys it replaces.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.models.recommend.cells import _runs, cells, group_sums, kahan_sums

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e16, -1e16, 1.0, 0.1, 3.0e-17]


@st.composite
def grouped_values(draw, max_rows: int = 60):
    """Group labels (int) and float64 values with NaN, infinities, signed zeros, mixed scales."""
    n = draw(st.integers(1, max_rows))
    labels = np.array(draw(st.lists(st.integers(0, draw(st.integers(0, 8))),
                                    min_size=n, max_size=n)))
    pick = st.one_of(st.sampled_from(SPECIAL),
                     st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
    values = np.array(draw(st.lists(pick, min_size=n, max_size=n)), dtype=np.float64)
    return labels, values


def _pandas_sums(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Reference: pandas' groupby sum (sorted groups) of the rows in the given order."""
    frame = pd.DataFrame({"g": labels, "v": values})
    with np.errstate(invalid="ignore"):  # inf + -inf
        return frame.groupby("g", sort=True)["v"].sum().to_numpy()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality of float arrays (any NaN equal to NaN, 0.0 different from -0.0)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and np.array_equal(
        a[~nan].view(np.int64), b[~nan].view(np.int64))


@settings(max_examples=300, deadline=None)
@given(grouped_values())
def test_group_sums_match_pandas_in_any_row_order(data):
    labels, values = data
    perm = np.argsort(labels, kind="stable")  # each group's rows in row order
    starts, sizes = _runs(labels[perm])
    monotonic = bool(np.all(np.diff(labels) >= 0))
    ours = group_sums(values[perm], starts, sizes, monotonic=monotonic)
    assert _same(ours, _pandas_sums(labels, values))


@settings(max_examples=300, deadline=None)
@given(grouped_values())
def test_kahan_sums_match_pandas_kernel(data):
    """The compensated path alone, on rows pandas sees interleaved (its Cython kernel)."""
    labels, values = data
    shuffled = np.concatenate([[labels.max() + 1], labels, [labels.max() + 1]])
    values = np.concatenate([[1.5], values, [2.5]])  # a group split around the others
    perm = np.argsort(shuffled, kind="stable")
    starts, sizes = _runs(shuffled[perm])
    assert _same(kahan_sums(values[perm], starts, sizes), _pandas_sums(shuffled, values))


def test_kahan_sums_empty_and_singleton_groups():
    values = np.array([-0.0, np.nan, 2.0, np.inf, -np.inf, 5.0])
    starts = np.array([0, 1, 2, 3, 6, 5])
    sizes = np.array([1, 1, 1, 2, 0, 1])
    expected = np.array([0.0, 0.0, 2.0, np.nan, 0.0, 5.0])
    assert _same(kahan_sums(values, starts, sizes), expected)


@st.composite
def purchase_lines(draw, max_rows: int = 50):
    """Lines as codes: customer, product, order key, age (days), quantity (NaN possible)."""
    n = draw(st.integers(1, max_rows))
    def ints(hi):
        return np.array(draw(st.lists(st.integers(0, hi), min_size=n, max_size=n)))

    customer, product, order = ints(3), ints(4), ints(6)
    age = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 7.0, 30.0, 365.0]),
                                 min_size=n, max_size=n)))
    quantity = np.array(draw(st.lists(st.sampled_from([1.0, 2.0, -1.0, 0.5, -0.0, np.nan, 1e9]),
                                      min_size=n, max_size=n)))
    return customer, product, order, age, quantity


def _reference_cells(customer, product, order, age, quantity, half_life):
    """The pandas groupbys the kernel replaces: per order, then per (customer, product)."""
    lines = pd.DataFrame({"c": customer, "p": product, "o": order, "age": age, "q": quantity})
    per = (lines.groupby(["c", "p", "o"], sort=False)
           .agg(age=("age", "min"), q=("q", "sum")).reset_index())
    per["one"] = 1.0
    per["decay"] = 1.0 if half_life is None else np.power(0.5, per["age"] / half_life)
    per["dq"] = per["decay"] * per["q"]
    return per.groupby(["c", "p"], sort=True).agg(
        orders=("one", "sum"), decayed=("decay", "sum"), decayed_q=("dq", "sum"),
        age=("age", "min")).reset_index()


@settings(max_examples=200, deadline=None)
@given(purchase_lines(), st.sampled_from([None, 30.0]))
def test_cells_match_pandas_groupbys(lines, half_life):
    customer, product, order, age, quantity = lines
    ours = cells(customer, product, order, age, quantity, 5, half_life)
    ref = _reference_cells(customer, product, order, age, quantity, half_life)
    assert np.array_equal(ours.rows, ref["c"].to_numpy(np.int64))
    assert np.array_equal(ours.cols, ref["p"].to_numpy(np.int64))
    for field in ("orders", "decayed", "decayed_q", "age"):
        assert _same(getattr(ours, field), ref[field].to_numpy(np.float64)), field
