"""Customer x product interaction matrix built from purchases (and optional events).

The matrix is the single input of every recommender: rows are customers with an interaction
strictly before the cutoff, columns are products sold before the cutoff (the catalogue).
Purchases are counted per order (a product bought in 3 orders has weight 3, whatever the
quantities) unless another weighting is chosen; product views and cart additions can add
lower-weight interactions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from scoring.data.cleaning import NON_PRODUCT_CODE_PATTERN
from scoring.data.errors import DataError, examples, require_columns

from .cells import Cells, line_cells

log = logging.getLogger(__name__)

WEIGHTINGS: tuple[str, ...] = ("orders", "binary", "log1p_quantity", "bm25", "tfidf")
"""Cell weightings: number of orders containing the product (default), 1 per bought product,
log(1 + units bought), and BM25 / TF-IDF of the order counts (implicit's ``bm25_weight`` /
``tfidf_weight`` applied per product, the convention of implicit's examples)."""

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {"product_view": 0.1, "cart_add": 0.3}
"""Weight of one event relative to one order containing the product."""


@dataclass
class InteractionMatrix:
    """Interactions strictly before ``cutoff``, with the id maps.

    Attributes
    ----------
    user_items : scipy.sparse.csr_matrix, float32, shape (n_customers, n_products)
        Weighted interactions (see ``weighting``), the input of the collaborative models.
    order_counts : csr_matrix, float32, shape (n_customers, n_products)
        Number of distinct orders containing the product (purchases only, no events,
        no decay). Its sparsity pattern is "already bought".
    days_since_last_purchase : csr_matrix, float32, same pattern as ``order_counts``
        Days between the last purchase day of the product by the customer and the cutoff
        (>= 1, since only days before the cutoff are used).
    customer_ids : ndarray of str, shape (n_customers,)
        Row labels, sorted.
    product_ids : ndarray of str, shape (n_products,)
        Column labels, sorted.
    product_names : ndarray of str, shape (n_products,)
        Last name seen for the product before the cutoff ("" when unknown).
    product_days_since_last_sale : ndarray of float, shape (n_products,)
        Days between the product's last sale (any customer) and the cutoff.
    active_products : ndarray of bool, shape (n_products,)
        Products sold within ``discontinued_after_days`` before the cutoff; only these are
        ever recommended.
    cutoff : pd.Timestamp
        Day at which the matrix is observed (interactions strictly before it).
    settings : dict
        The builder arguments (weighting, half-life, event weights, ...).
    bm25_length_norm : ndarray of float32, shape (n_products,), or None
        BM25 length normalisation per product (``weighting="bm25"`` only): the one statistic
        of the weighting that pools customers. A model keeps it so that a later customer
        history (:meth:`Recommender.with_history`) is weighted exactly as at fit time.
    """

    user_items: sp.csr_matrix
    order_counts: sp.csr_matrix
    days_since_last_purchase: sp.csr_matrix
    customer_ids: np.ndarray
    product_ids: np.ndarray
    product_names: np.ndarray
    product_days_since_last_sale: np.ndarray
    active_products: np.ndarray
    cutoff: pd.Timestamp
    settings: dict = field(default_factory=dict)
    bm25_length_norm: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(n_customers, n_products)."""
        return self.user_items.shape

    @property
    def n_customers(self) -> int:
        return self.user_items.shape[0]

    @property
    def n_products(self) -> int:
        return self.user_items.shape[1]

    def customer_index(self, customer_ids) -> np.ndarray:
        """Row of each customer id, -1 for customers not in the matrix. Shape (len(ids),)."""
        return pd.Index(self.customer_ids).get_indexer(_as_str_array(customer_ids))

    def product_index(self, product_ids) -> np.ndarray:
        """Column of each product id, -1 for products not in the catalogue."""
        return pd.Index(self.product_ids).get_indexer(_as_str_array(product_ids))

    def subset_customers(self, rows: np.ndarray) -> InteractionMatrix:
        """The same matrix restricted to the given rows (same products, same settings)."""
        rows = np.asarray(rows)
        return InteractionMatrix(
            user_items=self.user_items[rows],
            order_counts=self.order_counts[rows],
            days_since_last_purchase=self.days_since_last_purchase[rows],
            customer_ids=self.customer_ids[rows],
            product_ids=self.product_ids,
            product_names=self.product_names,
            product_days_since_last_sale=self.product_days_since_last_sale,
            active_products=self.active_products,
            cutoff=self.cutoff,
            settings=dict(self.settings),
            bm25_length_norm=self.bm25_length_norm,
        )


def _as_str_array(values) -> np.ndarray:
    if np.isscalar(values):
        values = [values]
    return np.asarray(pd.Series(values, dtype="string").fillna("").to_numpy(dtype=str))


def _day_index(timestamps: pd.Series, cutoff: pd.Timestamp) -> np.ndarray:
    """Days between the purchase day and the cutoff day (>= 1 before the cutoff)."""
    days = (cutoff.normalize() - timestamps.dt.normalize()) / pd.Timedelta(days=1)
    return days.to_numpy(dtype=np.float64)


def bm25_weight(
    weights: sp.csr_matrix, k1: float, b: float, length_norm: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """BM25 of a customer x product matrix, per product (implicit's ``bm25_weight(X.T).T``).

    ``weights``: CSR (n_customers, n_products). The customer "idf" ``log(n_products) -
    log1p(products of the customer)`` only reads the customer's own row; the product length
    normalisation ``(1 - b) + b * total(product) / mean total`` pools every customer, so it
    can be passed in (frozen at fit time) to weight any set of customers the same way.
    Same operations and dtypes as implicit 0.7's ``bm25_weight``, hence the same numbers.

    Returns (weighted float64 COO-derived CSR (n_customers, n_products), length_norm
    (n_products,)).
    """
    X = sp.coo_matrix(weights.T)  # products x customers, as implicit's examples
    idf = np.log(float(X.shape[0])) - np.log1p(np.bincount(X.col, minlength=X.shape[1]))
    if length_norm is None:
        row_sums = np.ravel(X.sum(axis=1))
        average_length = row_sums.mean() if X.nnz else 1.0
        length_norm = (1.0 - b) + b * row_sums / average_length
    X.data = X.data * (k1 + 1.0) / (k1 * length_norm[X.row] + X.data) * idf[X.col]
    return sp.csr_matrix(X.T), length_norm


def tfidf_weight(weights: sp.csr_matrix) -> sp.csr_matrix:
    """TF-IDF per product (implicit's ``tfidf_weight(X.T).T``): sqrt(weight) x customer idf.

    The idf ``log(n_products) - log1p(products of the customer)`` reads the customer's row
    only, so any subset of customers is weighted as in the full matrix.
    """
    X = sp.coo_matrix(weights.T)
    idf = np.log(float(X.shape[0])) - np.log1p(np.bincount(X.col, minlength=X.shape[1]))
    X.data = np.sqrt(X.data) * idf[X.col]
    return sp.csr_matrix(X.T)


def _check_transactions(transactions: pd.DataFrame) -> None:
    require_columns(
        transactions,
        ("customer_id", "timestamp", "product_id"),
        "transactions",
        "recommenders need customer_id, timestamp and product_id per order line. Load the "
        "shop with scoring.data.load_dataset / load_files so the columns are canonical.",
    )
    if len(transactions) and not transactions["product_id"].notna().any():
        raise DataError(
            "transactions: column 'product_id' is empty in all "
            f"{len(transactions)} rows (e.g. CDNOW has no products); product recommendations "
            "need product-level purchases. Map the shop's product/SKU column to product_id."
        )


def product_names(transactions: pd.DataFrame) -> pd.Series:
    """Product name lookup: for every product with a named purchase line, the name on its
    last such line (row order).

    ``transactions``: canonical purchase lines with ``product_id`` and ``product_name``.
    Returns a string Series indexed by ``product_id`` (one row per named product), so
    ``recs["product_id"].map(product_names(tx))`` names recommendations (<NA> when unknown).
    """
    require_columns(
        transactions,
        ("product_id", "product_name"),
        "product_names: transactions",
        "pass canonical purchase lines of a shop with products (e.g. Online Retail II).",
    )
    named = transactions[["product_id", "product_name"]].dropna()
    names = named.drop_duplicates("product_id", keep="last").set_index("product_id")
    return names["product_name"].astype("string")


def build_interaction_matrix(
    transactions: pd.DataFrame,
    cutoff,
    events: pd.DataFrame | None = None,
    weighting: str = "orders",
    half_life_days: float | None = None,
    event_weights: Mapping[str, float] | None = None,
    discontinued_after_days: float | None = 90,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
    *,
    catalogue=None,
    bm25_length_norm: np.ndarray | None = None,
) -> InteractionMatrix:
    """Build the customer x product matrix from purchases strictly before ``cutoff``.

    Parameters
    ----------
    transactions : DataFrame
        Canonical purchase lines (customer_id, order_id, timestamp, product_id, quantity,
        product_name optional). Lines with a non-product code (postage, fees, vouchers, ...)
        are dropped here too, as a guard.
    cutoff : str or Timestamp
        Scoring day; only interactions with ``timestamp < cutoff`` (floored to days) are used.
    events : DataFrame, optional
        Canonical events (customer_id, timestamp, event_type, product_id). Events whose type is
        in ``event_weights`` and whose product is in the catalogue add ``event_weights[type]``
        per event to the cell (before the BM25/TF-IDF transform, after the time decay).
    weighting : {"orders", "binary", "log1p_quantity", "bm25", "tfidf"}
        Cell weight of purchases; see :data:`WEIGHTINGS`.
    half_life_days : float, optional
        Exponential time decay: each order (event) counts ``0.5 ** (age_days / half_life)``
        where ``age_days`` is the number of days between its day and the cutoff.
    event_weights : mapping, optional
        Weight per event type; default :data:`DEFAULT_EVENT_WEIGHTS`.
    discontinued_after_days : float or None
        Products not sold in the last ``discontinued_after_days`` days before the cutoff are
        marked inactive and never recommended. None keeps every product active.
    bm25_k1, bm25_b : float
        BM25 parameters when ``weighting="bm25"``.
    catalogue : array-like of str, optional
        Fixed product columns (a fitted model's ``product_ids_``): lines and events of other
        products are ignored, and no purchase before the cutoff is not an error (the matrix
        then has no rows). Default: the products sold before the cutoff.
    bm25_length_norm : ndarray (n_products,), optional
        Frozen BM25 product normalisation (see :func:`bm25_weight`), with ``catalogue``.

    Returns
    -------
    InteractionMatrix
    """
    _check_settings(weighting, half_life_days)
    _check_transactions(transactions)
    cutoff = pd.Timestamp(cutoff).normalize()
    event_weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)

    cells, customer_ids, product_ids, names, product_age, active = _line_cells(
        transactions, _purchase_lines(transactions, cutoff, catalogue), half_life_days,
        discontinued_after_days)
    shape = (len(customer_ids), len(product_ids))
    weights, order_counts, days_since = _cell_matrices(cells, weighting, half_life_days, shape)
    del cells

    if events is not None and len(events):
        weights, order_counts, days_since, customer_ids = _with_events(
            (weights, order_counts, days_since),
            customer_ids,
            product_ids,
            events,
            cutoff,
            event_weights,
            half_life_days,
        )
    weights, length_norm = _transform_weights(weights, weighting, bm25_k1, bm25_b, bm25_length_norm)
    return InteractionMatrix(
        user_items=weights,
        order_counts=order_counts,
        days_since_last_purchase=days_since,
        customer_ids=customer_ids,
        product_ids=product_ids,
        product_names=names,
        product_days_since_last_sale=product_age,
        active_products=active,
        cutoff=cutoff,
        settings={
            "weighting": weighting,
            "half_life_days": half_life_days,
            "event_weights": event_weights if events is not None else None,
            "discontinued_after_days": discontinued_after_days,
            "bm25_k1": bm25_k1,
            "bm25_b": bm25_b,
        },
        bm25_length_norm=length_norm,
    )


def _check_settings(weighting: str, half_life_days: float | None) -> None:
    """Raise ``DataError`` for an unknown ``weighting`` or a non-positive half-life (days)."""
    if weighting not in WEIGHTINGS:
        raise DataError(f"weighting={weighting!r} is not one of {WEIGHTINGS}.")
    if half_life_days is not None and not half_life_days > 0:
        raise DataError(f"half_life_days={half_life_days!r} must be > 0 (days) or None.")


class _Lines(NamedTuple):
    """The purchase lines of a matrix, in stable timestamp order, as integer codes.

    ``positions``: row positions in the transactions (int64, (n_lines,)); ``customer`` /
    ``product``: codes (int64) into ``customer_ids`` / ``product_ids`` (sorted str arrays);
    ``age``: days between the line's day and the cutoff (float64).
    """

    positions: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    age: np.ndarray
    customer_ids: np.ndarray
    product_ids: np.ndarray


def _codes(values: pd.Series, sort: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of the values as strings: (int64 codes, -1 when missing; str labels)."""
    codes, labels = pd.factorize(values.astype("string"), sort=sort)
    return codes.astype(np.int64, copy=False), np.asarray(labels, dtype=str)


def _dictionary_codes(values: pd.Series, labels: bool = True
                      ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Arrow dictionary encoding of an Arrow-backed string column: (int32 codes (n,), -1 when
    missing, into labels; object array of the distinct strings, unsorted, or None when
    ``labels`` is False), or None when the column is not Arrow strings. Cheaper than
    ``pd.factorize`` (no int64 codes, no sort); without ``labels`` no Python string is made
    (order ids: millions of them in a large shop)."""
    data = getattr(values.array, "_pa_array", None)
    if not isinstance(data, (pa.Array, pa.ChunkedArray)) or not (
        pa.types.is_string(data.type) or pa.types.is_large_string(data.type)
    ):
        return None
    if isinstance(data, pa.ChunkedArray):
        # one array, one dictionary: unifying the dictionaries of 24 chunks made the encodes
        # of the 1M-customer evaluation take 69 s, 18 s with the combined column
        # (benchmarks/bench_scale.py's profile). The loaders hand out one chunk, used as it
        # is (combine_chunks copies even a single chunk).
        data = data.chunk(0) if data.num_chunks == 1 else data.combine_chunks()
    encoded = pc.dictionary_encode(data)
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False) if labels else None
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(
        np.int32, copy=False)
    del encoded
    return codes, distinct


def _codes_at(values: pd.Series, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values.iloc[positions] as strings, sort=True)`` for rows without missing
    values: (int64 codes (len(positions),), sorted str labels of the smallest width). Arrow
    string columns are dictionary-encoded whole (int32) and only the rows in use are ranked."""
    encoded = _dictionary_codes(values)
    if encoded is None:
        return _codes(values.iloc[positions])
    codes, labels = encoded
    codes = codes[positions]
    used = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    kept = np.asarray(labels[used].tolist(), dtype=str)
    order = np.argsort(kept, kind="stable")
    rank = np.zeros(len(labels), dtype=np.int64)
    rank[used[order]] = np.arange(len(used), dtype=np.int64)
    return rank[codes], kept[order]


def _used(codes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber codes (all >= 0) to the labels they use, label order kept: (codes, labels as a
    str array of the smallest width, what ``pd.factorize`` of the used values gives)."""
    used = np.bincount(codes, minlength=len(labels)) > 0
    kept = np.asarray(labels[used].tolist(), dtype=str)
    return (np.cumsum(used) - 1)[codes], kept


def _purchase_positions(transactions: pd.DataFrame, cutoff: pd.Timestamp, catalogue
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of product purchases strictly before the midnight ``cutoff``, in line order.

    Drops lines without customer or product and lines with a non-product code (logged).
    Returns (positions int64, product code per position, product labels): the codes of
    ``pd.factorize(product_id as string, sort=True)`` over the rows kept before the
    non-product filter (:func:`_codes_at`). Raises ``DataError``
    when nothing is left and no ``catalogue`` is given.
    """
    keep = (
        (transactions["timestamp"] < cutoff)
        & transactions["product_id"].notna()
        & transactions["customer_id"].notna()
    )
    positions = np.flatnonzero(keep.to_numpy(dtype=bool))
    del keep
    product, labels = _codes_at(transactions["product_id"], positions)
    upper = pd.Series(labels, dtype="string").str.upper()
    non_product = upper.str.fullmatch(NON_PRODUCT_CODE_PATTERN).fillna(False).to_numpy(bool)
    bad = non_product[product]
    if bad.any():
        codes = transactions["product_id"].iloc[positions[bad]].astype("string")
        log.info("dropped %d lines with non-product codes (e.g. %s)", int(bad.sum()),
                 examples(codes))
        positions, product = positions[~bad], product[~bad]
    if not len(positions) and catalogue is None:
        raise DataError(
            f"transactions: no purchase line with a product before the cutoff {cutoff.date()}; "
            "choose a later cutoff or check the timestamp/product_id columns."
        )
    return positions, product, labels


def _purchase_lines(transactions: pd.DataFrame, cutoff: pd.Timestamp, catalogue) -> _Lines:
    """The lines of the matrix (:class:`_Lines`), sorted stably by timestamp.

    Without ``catalogue`` the columns are the sorted distinct ``product_id`` of the lines;
    with it (a fitted model's product ids) they are the catalogue and lines of other products
    are dropped. Rows are the sorted distinct customers of the remaining lines.
    """
    positions, product, labels = _purchase_positions(transactions, cutoff, catalogue)
    timestamps = transactions["timestamp"].iloc[positions]
    if not timestamps.is_monotonic_increasing:  # the loaders' time order needs no sort
        order = np.asarray(timestamps.array.argsort(kind="stable"))
        positions, product = positions[order], product[order]
        timestamps = timestamps.iloc[order]
        del order
    age = _day_index(timestamps, cutoff)
    del timestamps
    if catalogue is None:
        product, product_ids = _used(product, labels)
    else:  # a fitted model's catalogue: other products are unknown to it
        product_ids = np.asarray(catalogue, dtype=str)
        product = pd.Index(product_ids).get_indexer(labels)[product].astype(np.int64)
        known = product >= 0
        positions, product, age = positions[known], product[known], age[known]
    customer, customer_ids = _codes_at(transactions["customer_id"], positions)
    return _Lines(positions, customer, product, age, customer_ids, product_ids)


def _order_keys(transactions: pd.DataFrame, lines: _Lines) -> np.ndarray:
    """Integer order key per line (n_lines,): the factorized ``order_id`` when every line has
    one, else one order per (customer, timestamp). Only equality of keys matters."""
    if "order_id" in transactions:
        encoded = _dictionary_codes(transactions["order_id"], labels=False)
        if encoded is None:
            keys = pd.factorize(transactions["order_id"].iloc[lines.positions].astype("string"))[0]
        else:
            keys = encoded[0][lines.positions]
        del encoded
        if (keys >= 0).all():
            return keys
    stamps = pd.factorize(transactions["timestamp"].iloc[lines.positions])[0]
    return stamps.astype(np.int64) * (lines.customer.max(initial=-1) + 1) + lines.customer


def _line_cells(transactions: pd.DataFrame, lines: _Lines, half_life_days: float | None,
                discontinued_after_days: float | None):
    """Per (customer, product) cell statistics of the lines (:func:`~.cells.line_cells`):
    distinct orders, decayed order count and units, days since the last purchase.

    Takes over ``lines`` (the caller passes its only reference): the per-product statistics
    are computed first, then the line arrays are handed to the cell kernel, which frees each
    once used. Returns (cells, customer ids, product ids, product names, days since each
    product's last sale, active products).
    """
    product_ids = lines.product_ids
    names = _last_product_names(transactions, lines)
    product_age, active = _product_activity(lines.product, lines.age, len(product_ids),
                                            discontinued_after_days)
    quantity = (
        transactions["quantity"].iloc[lines.positions].to_numpy(dtype=np.float64)
        if "quantity" in transactions
        else np.ones(len(lines.positions))
    )
    arrays = {"order": _order_keys(transactions, lines), "customer": lines.customer,
              "product": lines.product, "age": lines.age, "quantity": quantity}
    customer_ids = lines.customer_ids
    del quantity, lines
    cells = line_cells(arrays, len(product_ids), half_life_days)
    return cells, customer_ids, product_ids, names, product_age, active


def _cell_values(cells: Cells, weighting: str, half_life_days: float | None) -> np.ndarray:
    """Purchase weight of each cell (float64, (n_cells,)) before the BM25/TF-IDF transform:
    decayed order count ("orders", "bm25", "tfidf"), 1 or the decay of the last purchase
    ("binary"), ``log1p`` of the decayed units, floored at 0 ("log1p_quantity")."""
    if weighting in ("orders", "bm25", "tfidf"):
        return cells.decayed
    if weighting == "binary":  # with a half-life: the decay of the last purchase
        return (
            np.ones(len(cells.rows))
            if half_life_days is None
            else np.power(0.5, cells.age / half_life_days)
        )
    return np.log1p(np.maximum(cells.decayed_q, 0.0))  # log1p_quantity


def _cell_matrices(
    cells: Cells, weighting: str, half_life_days: float | None, shape: tuple[int, int]
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """The three float32 CSR matrices of shape ``shape`` (n_customers, n_products) from
    ``_cells``: (purchase weights, order counts, days since the last purchase)."""
    rows, cols = cells.rows, cells.cols
    values = _cell_values(cells, weighting, half_life_days)
    order_counts = _csr(rows, cols, cells.orders, shape)
    days_since = _csr(rows, cols, cells.age, shape)
    weights = _csr(rows, cols, values, shape)
    return weights, order_counts, days_since


def _with_events(
    matrices: tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix],
    customer_ids: np.ndarray,
    product_ids: np.ndarray,
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    event_weights: dict[str, float],
    half_life_days: float | None,
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Add weighted events to the purchase weights (see :func:`_add_events`).

    ``matrices``: (weights, order counts, days since), CSR (n_customers, n_products).
    Customers seen only in events get empty purchase rows; rows are then re-sorted by id.
    Returns (weights, order counts, days since, customer ids), all with the same rows.
    """
    weights, order_counts, days_since = matrices
    weights, customer_ids, extra = _add_events(
        weights, customer_ids, product_ids, events, cutoff, event_weights, half_life_days
    )
    if not extra:
        return weights, order_counts, days_since, customer_ids
    empty = sp.csr_matrix((extra, len(product_ids)), dtype=np.float32)
    order_counts = sp.vstack([order_counts, empty], format="csr")
    days_since = sp.vstack([days_since, empty], format="csr")
    order = np.argsort(customer_ids, kind="stable")
    return weights[order], order_counts[order], days_since[order], customer_ids[order]


def _transform_weights(
    weights: sp.csr_matrix,
    weighting: str,
    bm25_k1: float,
    bm25_b: float,
    bm25_length_norm: np.ndarray | None,
) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """Apply the BM25 / TF-IDF transform of ``weighting`` (none for the others).

    Returns (float32 CSR, same shape, explicit zeros removed, indices sorted; BM25 length
    normalisation (n_products,) for ``"bm25"``, else None).
    """
    length_norm = None
    if weighting == "bm25":
        weights, length_norm = bm25_weight(weights, bm25_k1, bm25_b, bm25_length_norm)
    elif weighting == "tfidf":
        weights = tfidf_weight(weights)
    weights = sp.csr_matrix(weights, dtype=np.float32)
    weights.eliminate_zeros()
    weights.sort_indices()
    return weights, length_norm


def _product_activity(
    product_codes: np.ndarray,
    age: np.ndarray,
    n_products: int,
    discontinued_after_days: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Days since each product's last sale (float64 (n_products,), inf when never sold) and
    whether it is active (bool (n_products,): sold within ``discontinued_after_days``)."""
    product_age = np.full(n_products, np.inf)
    np.minimum.at(product_age, product_codes, age)
    active = (
        np.ones(n_products, dtype=bool)
        if discontinued_after_days is None
        else product_age <= discontinued_after_days
    )
    return product_age, active


def _last_product_names(transactions: pd.DataFrame, lines: _Lines) -> np.ndarray:
    """Last non-missing ``product_name`` of each product over the lines (timestamp order), as
    a str array (n_products,), "" when unknown."""
    names = np.full(len(lines.product_ids), "", dtype=object)
    if "product_name" in transactions:
        column = transactions["product_name"].astype("string")
        named = np.flatnonzero(column.isna().to_numpy()[lines.positions] == False)  # noqa: E712
        last = np.full(len(names), -1, dtype=np.int64)
        np.maximum.at(last, lines.product[named], named)
        has = last >= 0
        names[has] = column.iloc[lines.positions[last[has]]].to_numpy(dtype=object)
    return names.astype(str)


def matrix_key(settings: Mapping | None) -> str:
    """Canonical string of matrix settings: the key of a matrix cache."""
    return json.dumps(dict(settings or {}), sort_keys=True, default=str)


def cached_matrix(
    cache: dict,
    transactions: pd.DataFrame,
    cutoff,
    settings: Mapping | None = None,
    events: pd.DataFrame | None = None,
    **fixed,
) -> InteractionMatrix:
    """``build_interaction_matrix(transactions, cutoff, events=events, **fixed, **settings)``,
    built once per ``settings`` (:func:`matrix_key`) and kept in ``cache``.

    The one matrix cache of the recommenders: a cache serves one combination of
    transactions, cutoff, events and ``fixed`` arguments (e.g. a validation fold, the refit
    before the cutoff, or the new histories of ``with_history`` with ``fixed`` = the fitted
    catalogue and BM25 normalisation), under which the ``settings`` vary.
    """
    key = matrix_key(settings)
    if key not in cache:
        cache[key] = build_interaction_matrix(
            transactions, cutoff, events=events, **fixed, **dict(settings or {})
        )
    return cache[key]


def _csr(rows, cols, values, shape) -> sp.csr_matrix:
    m = sp.csr_matrix((np.asarray(values, dtype=np.float32), (rows, cols)), shape=shape)
    m.sort_indices()
    return m


def _add_events(weights, customer_ids, product_ids, events, cutoff, event_weights, half_life):
    """Add weighted events to ``weights``; customers seen only in events get new rows."""
    require_columns(
        events,
        ("customer_id", "timestamp", "event_type", "product_id"),
        "events",
        "product events need customer_id, timestamp, event_type and product_id.",
    )
    ev = events.loc[
        (events["timestamp"] < cutoff)
        & events["event_type"].isin(list(event_weights))
        & events["product_id"].notna()
        & events["customer_id"].notna()
    ]
    product, labels = _codes(ev["product_id"], sort=False)
    p = pd.Index(product_ids).get_indexer(labels)[product]
    known = p >= 0  # products never sold before the cutoff are not in the catalogue
    ev, p = ev.iloc[np.flatnonzero(known)], p[known]
    if ev.empty:
        return weights, customer_ids, 0
    customer, labels = _codes(ev["customer_id"], sort=False)
    row_of_label = pd.Index(customer_ids).get_indexer(labels)
    new_ids = np.unique(labels[row_of_label < 0])
    customer_ids = np.concatenate([customer_ids, new_ids.astype(str)])
    if len(new_ids):
        missing = row_of_label < 0
        row_of_label[missing] = (
            len(customer_ids) - len(new_ids) + np.searchsorted(new_ids, labels[missing])
        )
    c = row_of_label[customer]
    w = ev["event_type"].map(event_weights).to_numpy(dtype=np.float64)
    if half_life is not None:
        w = w * np.power(0.5, _day_index(ev["timestamp"], cutoff) / half_life)
    shape = (len(customer_ids), len(product_ids))
    base = weights
    if len(new_ids):
        base = sp.vstack([weights, sp.csr_matrix((len(new_ids), shape[1]))], format="csr")
    return base + _csr(c, p, w, shape), customer_ids, len(new_ids)
