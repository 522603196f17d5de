"""Ranking metrics with their standard definitions, vectorised over customers.

Inputs are a padded array of recommended item indices, shape (n_customers, >= k), -1 for an
empty slot, and a CSR matrix of relevant (test) items, shape (n_customers, n_items); row u of
both belongs to the same customer. Customers whose test set is empty are left out of the means
(the metrics are undefined for them) and counted apart.

Definitions (k = cut-off, hit_r = 1 if the item at rank r is relevant, |T| = test set size):
    precision@k = sum_r hit_r / k                 (k, not min(k, |T|): implicit's precision_at_k
                                                   divides by min(k, |T|) and is not precision)
    recall@k    = sum_r hit_r / |T|
    NDCG@k      = DCG / IDCG, DCG = sum_r hit_r / log2(r + 1),
                  IDCG = sum_{r <= min(k, |T|)} 1 / log2(r + 1)        (binary gains)
    AP@k        = sum_r precision@r * hit_r / min(k, |T|);  MAP@k = mean of AP@k
    hit rate@k  = 1 if any hit_r else 0
    coverage    = distinct recommended items / catalogue size (over all customers given)

:func:`ranking_metrics_frame` does the same from DataFrames of ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scoring.data.errors import DataError

METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")


def _check(
    recommended: np.ndarray, relevant: sp.spmatrix, k: int
) -> tuple[np.ndarray, sp.csr_matrix]:
    recommended = np.asarray(recommended)
    if recommended.ndim != 2:
        raise DataError(
            f"recommended must be a 2-d array (customers x ranks), got shape {recommended.shape}."
        )
    if k < 1:
        raise DataError(f"k={k} must be >= 1.")
    relevant = sp.csr_matrix(relevant)
    if relevant.shape[0] != recommended.shape[0]:
        raise DataError(
            f"recommended has {recommended.shape[0]} rows but relevant has {relevant.shape[0]}; "
            "row u of both must be the same customer."
        )
    return recommended[:, :k].astype(np.int64, copy=False), relevant


def hits_at_k(recommended: np.ndarray, relevant: sp.spmatrix, k: int = 10) -> np.ndarray:
    """Boolean hits, shape (n_customers, k): is the item at rank r in the test set.

    ``recommended``: int array (n_customers, >= k), -1 for empty slots; a row shorter than k is
    padded with misses. ``relevant``: sparse (n_customers, n_items), nonzero = relevant.
    """
    rec, rel = _check(recommended, relevant, k)
    n, width = rec.shape
    hits = np.zeros((n, k), dtype=bool)
    if width == 0 or rel.nnz == 0:
        return hits
    rel_keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(rel.indptr)) * rel.shape[1] + (
        rel.indices.astype(np.int64)
    )
    valid = rec >= 0
    rec_keys = np.arange(n, dtype=np.int64)[:, None] * rel.shape[1] + rec
    found = np.isin(rec_keys, rel_keys) & valid
    hits[:, :width] = found
    return hits


def per_customer_metrics(
    recommended: np.ndarray, relevant: sp.spmatrix, k: int = 10
) -> pd.DataFrame:
    """Precision, recall, NDCG, AP and hit at k per customer (rows in input order).

    Customers with an empty test set get NaN. Returns a DataFrame with columns precision,
    recall, ndcg, ap, hit_rate, n_relevant, shape (n_customers, 6).
    """
    hits = hits_at_k(recommended, relevant, k)
    rel = sp.csr_matrix(relevant)
    n_rel = np.diff(rel.indptr).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_hits = hits.sum(axis=1)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = hits @ discounts
        ideal = np.concatenate([[0.0], np.cumsum(discounts)])
        idcg = ideal[np.minimum(n_rel, k).astype(np.int64)]
        precision_at_r = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
        ap = (precision_at_r * hits).sum(axis=1) / np.minimum(n_rel, k)
        out = pd.DataFrame(
            {
                "precision": n_hits / k,
                "recall": n_hits / n_rel,
                "ndcg": dcg / idcg,
                "ap": ap,
                "hit_rate": (n_hits > 0).astype(np.float64),
                "n_relevant": n_rel,
            }
        )
    out.loc[n_rel == 0, ["precision", "recall", "ndcg", "ap", "hit_rate"]] = np.nan
    return out


def catalogue_coverage(recommended: np.ndarray, catalogue_size: int, k: int | None = None) -> float:
    """Distinct recommended items (first k ranks) / catalogue size."""
    if catalogue_size <= 0:
        raise DataError(f"catalogue_size={catalogue_size} must be > 0.")
    rec = np.asarray(recommended)
    if k is not None:
        rec = rec[:, :k]
    items = np.unique(rec[rec >= 0])
    return float(len(items) / catalogue_size)


def ranking_metrics(
    recommended: np.ndarray,
    relevant: sp.spmatrix,
    k: int = 10,
    catalogue_size: int | None = None,
) -> dict[str, float]:
    """Mean precision, recall, NDCG, MAP, hit rate at k, catalogue coverage, n_customers.

    Means are over customers with a non-empty test set (``n_customers``); coverage counts the
    items recommended to those customers. ``catalogue_size`` defaults to ``relevant.shape[1]``.
    """
    per = per_customer_metrics(recommended, relevant, k)
    keep = per["n_relevant"].to_numpy() > 0
    rec = np.asarray(recommended)[keep]
    size = relevant.shape[1] if catalogue_size is None else catalogue_size
    if not keep.any():
        return {m: float("nan") for m in METRICS} | {"n_customers": 0}
    per = per.loc[keep]
    return {
        "precision": float(per["precision"].mean()),
        "recall": float(per["recall"].mean()),
        "ndcg": float(per["ndcg"].mean()),
        "map": float(per["ap"].mean()),
        "hit_rate": float(per["hit_rate"].mean()),
        "coverage": catalogue_coverage(rec, size, k),
        "n_customers": int(keep.sum()),
    }


def precision_at_k(recommended, relevant, k: int = 10) -> float:
    """Mean of hits / k over customers with a non-empty test set."""
    return ranking_metrics(recommended, relevant, k)["precision"]


def recall_at_k(recommended, relevant, k: int = 10) -> float:
    """Mean of hits / |test| over customers with a non-empty test set."""
    return ranking_metrics(recommended, relevant, k)["recall"]


def ndcg_at_k(recommended, relevant, k: int = 10) -> float:
    """Mean NDCG@k with binary gains, IDCG over min(k, |test|) positions."""
    return ranking_metrics(recommended, relevant, k)["ndcg"]


def map_at_k(recommended, relevant, k: int = 10) -> float:
    """Mean AP@k, AP denominator min(k, |test|)."""
    return ranking_metrics(recommended, relevant, k)["map"]


def hit_rate_at_k(recommended, relevant, k: int = 10) -> float:
    """Share of customers with at least one hit in the first k."""
    return ranking_metrics(recommended, relevant, k)["hit_rate"]


def to_padded(
    recommendations: pd.DataFrame,
    customer_ids: np.ndarray,
    product_ids: np.ndarray,
    k: int,
) -> np.ndarray:
    """Padded (len(customer_ids), k) array of product positions from a long DataFrame.

    ``recommendations`` has columns customer_id, rank (1-based), product_id. Products not in
    ``product_ids`` are kept as misses (index len(product_ids)), empty slots are -1.
    """
    out = np.full((len(customer_ids), k), -1, dtype=np.int64)
    if recommendations.empty:
        return out
    rec = recommendations.loc[recommendations["rank"] <= k]
    row = pd.Index(np.asarray(customer_ids, dtype=str)).get_indexer(
        rec["customer_id"].astype(str).to_numpy(dtype=str)
    )
    col = pd.Index(np.asarray(product_ids, dtype=str)).get_indexer(
        rec["product_id"].astype(str).to_numpy(dtype=str)
    )
    col = np.where(col < 0, len(product_ids), col)
    ok = row >= 0
    out[row[ok], rec["rank"].to_numpy(dtype=np.int64)[ok] - 1] = col[ok]
    return out


def relevance_matrix(
    test: pd.DataFrame, customer_ids: np.ndarray, product_ids: np.ndarray
) -> sp.csr_matrix:
    """Binary CSR (len(customer_ids), len(product_ids) + 1) of test pairs (customer_id,
    product_id); the last column collects products outside ``product_ids``."""
    row = pd.Index(np.asarray(customer_ids, dtype=str)).get_indexer(
        test["customer_id"].astype(str).to_numpy(dtype=str)
    )
    col = pd.Index(np.asarray(product_ids, dtype=str)).get_indexer(
        test["product_id"].astype(str).to_numpy(dtype=str)
    )
    col = np.where(col < 0, len(product_ids), col)
    ok = row >= 0
    m = sp.csr_matrix(
        (np.ones(ok.sum(), dtype=np.float32), (row[ok], col[ok])),
        shape=(len(customer_ids), len(product_ids) + 1),
    )
    m.data[:] = 1.0  # duplicates summed: back to binary
    return m


def ranking_metrics_frame(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    catalogue_size: int | None = None,
) -> dict[str, float]:
    """:func:`ranking_metrics` from DataFrames.

    ``recommendations``: customer_id, rank (1-based), product_id. ``test``: customer_id,
    product_id (relevant pairs; duplicates ignored). Evaluated customers = those in ``test``;
    one without recommendations scores 0. ``catalogue_size`` defaults to the number of distinct
    products in both frames.
    """
    customers = np.unique(test["customer_id"].astype(str).to_numpy(dtype=str))
    products = np.unique(
        np.concatenate(
            [
                test["product_id"].astype(str).to_numpy(dtype=str),
                recommendations["product_id"].astype(str).to_numpy(dtype=str),
            ]
        )
    )
    padded = to_padded(recommendations, customers, products, k)
    relevant = relevance_matrix(test, customers, products)
    size = len(products) if catalogue_size is None else catalogue_size
    return ranking_metrics(padded, relevant, k, catalogue_size=size)
