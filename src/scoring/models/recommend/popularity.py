"""Popularity: the products with the most distinct recent buyers (overall or per group)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scoring._kernels.topn import topn_dense
from scoring.data.errors import DataError

from .base import Recommender
from .matrix import InteractionMatrix, _as_str_array


class PopularityColdStart:
    """Mixin of the recommenders that answer unknown customers (and fill the empty slots of
    sparse models) with a popularity model: ``cold_start_`` is the ``cold_start`` template
    (default ``PopularityRecommender()``) fitted on the same matrix."""

    def _fit_cold_start(self, matrix: InteractionMatrix) -> None:
        template = getattr(self, "cold_start", None) or PopularityRecommender()
        cold = copy.deepcopy(template).fit(matrix)
        # only the product-level state is needed to answer unknown customers: drop the
        # per-customer arrays so they are not stored twice
        cold.customer_ids_ = np.array([], dtype=str)
        cold.bought_ = sp.csr_matrix((0, matrix.n_products), dtype=np.float32)
        self.cold_start_ = cold


class PopularityRecommender(Recommender):
    """Most popular products: distinct buyers in the last ``window_days`` before the cutoff.

    The cold-start answer for leads and new customers, and the fill of sparse models.

    Parameters
    ----------
    window_days : float
        Look-back window in days; a customer counts as a buyer of a product when the last
        purchase of it is at most ``window_days`` days before the cutoff. Ties (and products
        without recent buyers) are ordered by all-time distinct buyers.
    customer_groups : pd.Series, optional
        Group (e.g. country or segment) per customer id (index: customer_id). When given,
        a customer in a group gets the group's popularity (distinct recent buyers in the
        group, ties by overall popularity), including customers unknown to the matrix (leads).

    Fitted attributes
    -----------------
    scores_ : ndarray float64 (n_products,)  overall popularity (recent buyers + tie-break in [0, 1))
    group_labels_ : ndarray of str (n_groups,)
    group_scores_ : ndarray float64 (n_groups, n_products)
    group_customer_ids_, group_customer_codes_ : the customer -> group map (codes into group_labels_)
    """

    spec_name = "popularity"

    def __init__(self, window_days: float = 90, customer_groups: pd.Series | None = None):
        self.window_days = window_days
        self.customer_groups = customer_groups

    def _cold_start_model(self):
        return self

    def _fit_cold_start(self, matrix: InteractionMatrix) -> None:
        pass

    def _set_user_state(self, matrix: InteractionMatrix) -> None:
        """Popularity is item side: new histories only change ``bought_`` (filtering)."""

    def _fit(self, matrix: InteractionMatrix) -> None:
        if not self.window_days > 0:
            raise DataError(f"window_days={self.window_days!r} must be > 0 (days).")
        days = matrix.days_since_last_purchase
        recent = days.copy()
        recent.data = (recent.data <= self.window_days).astype(np.float64)
        recent.eliminate_zeros()
        recent_buyers = np.asarray(recent.sum(axis=0)).ravel()
        all_buyers = np.diff(sp.csc_matrix(days).indptr).astype(np.float64)
        self.scores_ = recent_buyers + all_buyers / (all_buyers.max() + 1.0)

        self.group_labels_ = np.array([], dtype=str)
        self.group_scores_ = np.zeros((0, matrix.n_products))
        self.group_customer_ids_ = np.array([], dtype=str)
        self.group_customer_codes_ = np.array([], dtype=np.int64)
        if self.customer_groups is None:
            return
        groups = pd.Series(self.customer_groups).dropna()
        groups = groups[~pd.Index(_as_str_array(groups.index.to_numpy())).duplicated()]
        if groups.empty:
            return
        ids = _as_str_array(groups.index.to_numpy())
        codes, labels = pd.factorize(pd.Series(groups.to_numpy()).astype(str), sort=True)
        self.group_labels_ = np.asarray(labels, dtype=str)
        self.group_customer_ids_ = ids
        self.group_customer_codes_ = codes.astype(np.int64)
        # group x customer indicator for the customers of the matrix
        g = pd.Series(codes, index=ids).reindex(matrix.customer_ids).to_numpy()
        ok = ~np.isnan(g)
        indicator = sp.csr_matrix(
            (np.ones(ok.sum()), (g[ok].astype(np.int64), np.flatnonzero(ok))),
            shape=(len(labels), matrix.n_customers),
        )
        group_recent = np.asarray((indicator @ recent).todense())
        self.group_scores_ = group_recent + self.scores_[None, :] / (self.scores_.max() + 1.0)

    def _group_codes(self, customer_ids: np.ndarray) -> np.ndarray:
        """Group code per customer id, -1 when it has no group."""
        if len(self.group_customer_ids_) == 0:
            return np.full(len(customer_ids), -1, dtype=np.int64)
        pos = pd.Index(self.group_customer_ids_).get_indexer(customer_ids)
        return np.where(pos >= 0, self.group_customer_codes_[np.maximum(pos, 0)], -1)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        codes = self._group_codes(self.customer_ids_[rows])
        table = np.vstack([self.group_scores_, self.scores_[None, :]])
        return table[np.where(codes >= 0, codes, len(self.group_labels_))]

    def _cold_rows(self, customer_ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n per customer without filtering: one list per group (last: overall)."""
        table = np.vstack([self.group_scores_, self.scores_[None, :]])
        table[:, ~self.active_products_] = -np.inf
        idx, top = topn_dense(table, n)
        codes = self._group_codes(customer_ids)
        pick = np.where(codes >= 0, codes, len(self.group_labels_))
        out_idx = np.full((len(customer_ids), n), -1, dtype=np.int64)
        out_top = np.full((len(customer_ids), n), -np.inf)
        out_idx[:, : idx.shape[1]], out_top[:, : idx.shape[1]] = idx[pick], top[pick]
        return out_idx, out_top

    def _recommend_rows(self, rows, n, filter_already_bought):
        if not filter_already_bought:
            return self._cold_rows(self.customer_ids_[rows], n)
        return super()._recommend_rows(rows, n, filter_already_bought)
