"""Per (customer, product) cell statistics of purchase lines, from integer codes.

The memory-light core of :func:`~.matrix.build_interaction_matrix`: purchase lines arrive as
integer arrays (customer code, product code, order key, age in days, quantity), one entry per
line in timestamp order, and are reduced with sorts and ``ufunc.reduceat`` instead of a pandas
groupby over string ids. The sums reproduce pandas' groupby sums bit for bit: pandas adds a
group's values in row order, with Kahan compensation (its Cython kernel), or with
``np.add.reduceat`` when the group ids are monotonic (its fast path); :func:`group_sums` takes
the same path in the same cases.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Cells(NamedTuple):
    """One entry per non-empty (customer, product) cell, sorted by (row, col).

    ``rows`` / ``cols``: customer and product codes (int64); ``orders``: distinct orders
    containing the product (float64); ``decayed``: sum over those orders of
    ``0.5 ** (age / half_life)`` (1 each without half-life); ``decayed_q``: the same weighted by
    the order's units; ``age``: days since the last purchase (float64).
    """

    rows: np.ndarray
    cols: np.ndarray
    orders: np.ndarray
    decayed: np.ndarray
    decayed_q: np.ndarray
    age: np.ndarray


def kahan_sums(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Kahan-compensated sum of each group of consecutive ``values`` (float64), NaN skipped.

    ``starts`` / ``sizes``: first position and length of each group (int arrays, (n_groups,)).
    The operations of pandas' Cython ``group_sum`` kernel, so every group gets exactly the sum
    pandas computes by scanning its rows in order. From the zero state (sum 0, compensation 0)
    a value ``v`` leaves sum ``v + 0.0`` (``-0.0`` becomes ``0.0``) and compensation 0, a NaN
    leaves the zero state: the first value of every group is taken directly and only groups
    with more values run the compensated loop (:func:`_kahan_continue`).
    """
    total = np.zeros(len(starts))
    nonempty = sizes > 0
    if nonempty.all():
        total[:] = values[starts]
    else:
        total[nonempty] = values[starts[nonempty]]
    del nonempty
    total[np.isnan(total)] = 0.0
    total += 0.0
    multi = np.flatnonzero(sizes > 1)
    if multi.size:
        total[multi] = _kahan_continue(values, starts[multi], sizes[multi], total[multi])
    return total


def _kahan_continue(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                    total: np.ndarray) -> np.ndarray:
    """pandas' compensated sums of groups of at least two ``values``, from their second value.

    ``total``: each group's sum after its first value (float64, (n_groups,), overwritten), the
    compensation then being 0. A loop over k >= 1 applies the kernel's operations to the k-th
    value of all groups that have one at once.
    """
    compensation = np.zeros(len(starts))
    active = np.arange(len(starts))
    k = 1
    while active.size:
        value = values[starts[active] + k]
        present = ~np.isnan(value)
        groups, value = active[present], value[present]
        del present
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, reset below as pandas does
            y = value - compensation[groups]
            t = total[groups] + y
            c = t - total[groups] - y
        c[np.isnan(c)] = 0.0  # pandas GH#53606: an infinite value leaves no compensation
        compensation[groups] = c
        total[groups] = t
        del value, groups, y, t, c
        k += 1
        active = active[sizes[active] > k]
    return total


def group_sums(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
               monotonic: bool) -> np.ndarray:
    """pandas' groupby sum of groups of consecutive float64 ``values`` (group order).

    ``monotonic``: whether pandas would see the group ids as monotonic in its row order (each
    group's rows contiguous and groups in order); then it sums with ``np.add.reduceat`` unless
    a value is NaN, else with Kahan compensation (:func:`kahan_sums`).
    """
    if monotonic and not np.isnan(values).any():
        with np.errstate(invalid="ignore"):  # inf + -inf: NaN, as in pandas
            return np.add.reduceat(values, starts)
    return kahan_sums(values, starts, sizes)


def _runs(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and sizes of the runs of equal consecutive key tuples (non-empty ``keys``)."""
    n = len(keys[0])
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for key in keys:
        new[1:] |= key[1:] != key[:-1]
    starts = np.flatnonzero(new)
    return starts, np.diff(starts, append=n)


def _per_order(lines: dict, n_products: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One entry per (cell, order): (cell, first line, min age, summed quantity).

    ``lines``: the line arrays ``customer``, ``product``, ``order``, ``age``, ``quantity``
    (see :func:`cells`), popped from the dict as soon as they are used, so that a caller
    handing over its only references frees them here (the 1M-customer fit's peak runs
    through here). pandas' ``groupby([c, p, o], sort=False).agg(age=min, q=sum)`` over the
    lines, the cell being ``customer * n_products + product``; entries are returned sorted by
    (cell, first line), i.e. each cell's orders in first-appearance order.
    """
    customer = lines.pop("customer")
    cell = customer.astype(np.int64) * int(n_products)
    del customer
    cell += lines.pop("product")
    order = lines.pop("order")
    perm = np.lexsort((order, cell))  # stable: a group's lines stay in line order
    cell_sorted = cell[perm]
    del cell
    order = order[perm]
    starts, sizes = _runs(cell_sorted, order)
    del order
    cell_g = cell_sorted[starts]
    del cell_sorted
    first = perm[starts]
    contiguous = True  # every group's lines consecutive: last - first + 1 == size
    for i in range(0, len(starts), 1 << 20):  # in blocks: no line-length temporaries
        block_starts, block_sizes = starts[i:i + (1 << 20)], sizes[i:i + (1 << 20)]
        if not np.array_equal(perm[block_starts + block_sizes - 1] - perm[block_starts] + 1,
                              block_sizes):
            contiguous = False
            break
    values = lines.pop("age")[perm]
    age_min = np.minimum.reduceat(values, starts)
    del values  # before the next line-length copy
    values = lines.pop("quantity")[perm]
    del perm
    q_sum = group_sums(values, starts, sizes, monotonic=contiguous)
    del values, starts, sizes
    in_cell_order = (cell_g[1:] != cell_g[:-1]) | (first[1:] > first[:-1])
    if not in_cell_order.all():  # orders of a cell interleaved in line order
        del in_cell_order
        perm = np.lexsort((first, cell_g))
        return cell_g[perm], first[perm], age_min[perm], q_sum[perm]
    return cell_g, first, age_min, q_sum


def cells(customer: np.ndarray, product: np.ndarray, order: np.ndarray, age: np.ndarray,
          quantity: np.ndarray, n_products: int, half_life_days: float | None) -> Cells:
    """Cell statistics (:class:`Cells`) of purchase lines given as codes, one entry per line
    in timestamp order: customer and product codes, order key (int), age in days before the
    cutoff and quantity (float64). The numbers of pandas'
    ``groupby([c, p, o], sort=False)`` per order then ``groupby([c, p], sort=True)``.

    A sum of ones (the order count; the decayed count without half-life) is exact in either
    of pandas' summations, so it is the group size; without half-life the decayed units are
    the summed units (``1.0 * q == q``).
    """
    return line_cells({"customer": customer, "product": product, "order": np.asarray(order),
                       "age": age, "quantity": quantity}, n_products, half_life_days)


def line_cells(lines: dict, n_products: int, half_life_days: float | None) -> Cells:
    """:func:`cells` of the line arrays in ``lines`` (keys ``customer``, ``product``,
    ``order``, ``age``, ``quantity``), which are popped (the dict is left empty): a caller
    passing its only references has each line array freed once it is no longer needed."""
    if not len(lines["customer"]):
        lines.clear()
        empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return Cells(empty_i, empty_i, empty_f, empty_f, empty_f, empty_f)
    cell_g, first, age_g, q_g = _per_order(lines, n_products)
    starts, sizes = _runs(cell_g)
    # pandas' ids are monotonic when every cell's orders come before the next cell's
    monotonic = bool(np.all(first[starts[1:] - 1] < first[starts[1:]]))
    del first
    key = cell_g[starts]
    del cell_g
    orders = sizes.astype(np.float64)
    age_min = np.minimum.reduceat(age_g, starts)
    if half_life_days is None:
        decayed = orders.copy()
    else:
        decay = np.power(0.5, age_g / half_life_days)
        decayed = group_sums(decay, starts, sizes, monotonic)
        q_g *= decay  # the decayed units per order, (the product decay * q)
        del decay
    del age_g
    decayed_q = group_sums(q_g, starts, sizes, monotonic)
    del q_g, starts, sizes
    return Cells(rows=key // int(n_products), cols=key % int(n_products), orders=orders,
                 decayed=decayed, decayed_q=decayed_q, age=age_min)
