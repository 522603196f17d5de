"""Collaborative filtering wrapping implicit's CPU models: ALS, BPR, item-kNN.

implicit is only used to fit; the fitted state is kept as plain arrays (factors, item-item
similarity) so models save to ``.npz`` without pickle and score whole batches of customers
with vectorised array code. BLAS is limited to one thread around fits (threadpoolctl) and
implicit gets ``num_threads`` explicitly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from scoring._kernels.topn import topn_dense
from scoring.data.errors import DataError

from .base import Recommender, _batches, string_array
from .matrix import InteractionMatrix, _as_str_array
from .popularity import PopularityColdStart, PopularityRecommender

KNN_WEIGHTINGS: tuple[str, ...] = ("cosine", "bm25", "tfidf")


def _fit_quietly(model, user_items: sp.csr_matrix) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        model.fit(user_items, show_progress=False)


class _SimilarItemsMixin:
    """``similar_items`` from a dense item-to-item similarity of a batch of products."""

    def _item_similarity_rows(self, cols: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def similar_items(self, product_ids, n: int = 10) -> pd.DataFrame:
        """Item-to-item neighbours (cross-sell) of each product, best first.

        Returns a DataFrame with columns product_id, rank (1..n), similar_product_id,
        similar_product_name, score (similarity). Only active products are returned, never the
        product itself; products unknown to the model raise DataError.
        """
        self._check_fitted()
        ids = _as_str_array(product_ids)
        cols = pd.Index(self.product_ids_).get_indexer(ids)
        if (cols < 0).any():
            unknown = ids[cols < 0]
            raise DataError(
                f"similar_items: {len(unknown)} product id(s) not in the fitted catalogue "
                f"(e.g. {list(unknown[:5])}); only products sold before the cutoff "
                f"{self.cutoff_} have neighbours."
            )
        idx = np.full((len(cols), n), -1, dtype=np.int64)
        top = np.full((len(cols), n), -np.inf)
        for sl in _batches(len(cols), len(self.product_ids_)):
            sim = np.asarray(self._item_similarity_rows(cols[sl]), dtype=np.float64)
            sim[:, ~self.active_products_] = -np.inf
            sim[np.arange(sim.shape[0]), cols[sl]] = -np.inf
            i, t = topn_dense(sim, n)
            idx[sl, : i.shape[1]], top[sl, : i.shape[1]] = i, t
        valid = idx >= 0
        return pd.DataFrame(
            {
                "product_id": pd.array(np.repeat(ids, n)[valid.ravel()], dtype="string"),
                "rank": np.tile(np.arange(1, n + 1), len(ids))[valid.ravel()],
                "similar_product_id": string_array(idx[valid], self.product_ids_),
                "similar_product_name": string_array(idx[valid], self.product_names_),
                "score": top[valid],
            }
        )


class _MatrixFactorization(PopularityColdStart, _SimilarItemsMixin, Recommender):
    """Scores = user_factors_ @ item_factors_.T; top-n with implicit's multithreaded topk.

    Fitted attributes: user_factors_ (n_customers, d), item_factors_ (n_products, d), float32.
    """

    def _fit_implicit(self, model_class, matrix: InteractionMatrix, **params):
        """An implicit model (``model_class``) with the shared parameters and ``params``,
        fitted on the matrix weights with BLAS on one thread."""
        with threadpool_limits(1, "blas"):
            model = model_class(
                factors=self.factors,
                regularization=self.regularization,
                iterations=self.iterations,
                num_threads=self.num_threads,
                random_state=self.random_state,
                **params,
            )
            _fit_quietly(model, sp.csr_matrix(matrix.user_items, dtype=np.float32))
        return model

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[rows] @ self.item_factors_.T

    def _recommend_rows(self, rows, n, filter_already_bought):
        from implicit.cpu.topk import topk

        n_eff = min(n, len(self.product_ids_))
        inactive = np.flatnonzero(~self.active_products_).astype(np.int32)
        out_idx = np.full((len(rows), n), -1, dtype=np.int64)
        out_score = np.full((len(rows), n), -np.inf)
        step = 65536
        for start in range(0, len(rows), step):
            r = rows[start : start + step]
            bought = self.bought_[r] if filter_already_bought else None
            with threadpool_limits(1, "blas"):  # implicit threads x BLAS threads: very slow
                idx, score = topk(
                    self.item_factors_,
                    np.ascontiguousarray(self.user_factors_[r]),
                    n_eff,
                    filter_query_items=bought,
                    filter_items=inactive if len(inactive) else None,
                    num_threads=self.num_threads,
                )
            score = score.astype(np.float64)
            bad = score <= -1e38  # implicit marks filtered slots with -FLT_MAX
            idx = np.where(bad, -1, idx)
            score[bad] = -np.inf
            out_idx[start : start + len(r), :n_eff] = idx
            out_score[start : start + len(r), :n_eff] = score
        return out_idx, out_score

    def _item_similarity_rows(self, cols: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(self.item_factors_, axis=1)
        norms[norms == 0] = 1e-10
        unit = self.item_factors_ / norms[:, None]
        return unit[cols] @ unit.T


class ALSRecommender(_MatrixFactorization):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) via ``implicit.cpu.als``.

    Confidence of a bought cell = alpha * weight, of the other cells 1 (implicit's
    convention: it scales the matrix by alpha). After implicit's sweeps the user factors are
    solved exactly against the final item factors (see ``_set_user_state``), the same solve
    that :meth:`with_history` applies to later histories.

    Parameters
    ----------
    factors : int
        Latent dimensions.
    regularization : float
        L2 penalty.
    alpha : float
        Confidence scale of the matrix weights.
    iterations : int
        ALS sweeps.
    num_threads : int
        Threads for implicit (fit and top-n); ALS is deterministic for any value.
    random_state : int
        Seed of the factor initialisation.
    cold_start : PopularityRecommender, optional
        Template of the answer for unknown customers.
    """

    spec_name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        num_threads: int = 1,
        random_state: int = 0,
        cold_start: PopularityRecommender | None = None,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.num_threads = num_threads
        self.random_state = random_state
        self.cold_start = cold_start

    def _fit(self, matrix: InteractionMatrix) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        model = self._fit_implicit(AlternatingLeastSquares, matrix, alpha=self.alpha)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        # implicit's last sweep leaves the user factors of the previous item factors (and
        # conjugate-gradient approximations): solve them exactly against the final item
        # factors, the same solve as with_history, so both give the same recommendations
        self._set_user_state(matrix)

    def _set_user_state(self, matrix: InteractionMatrix) -> None:
        """User factors = exact ALS least-squares solve of each row against the item factors.

        Row u: ``(Y'Y + reg I + Y' (C_u - I) Y) x_u = Y' C_u p_u`` with confidences
        ``alpha * weight`` (implicit's ``recalculate_user``, Cholesky per row in C on
        ``num_threads`` threads, BLAS limited to one thread): each row only reads its own
        cells and the fitted item factors, so any subset of customers gets the same factors.
        Shape (n_customers, factors), float32; rows without cells are 0.
        """
        from implicit.cpu.als import AlternatingLeastSquares

        user_items = sp.csr_matrix(matrix.user_items, dtype=np.float32)
        n_rows, d = user_items.shape[0], self.item_factors_.shape[1]
        if n_rows == 0:
            self.user_factors_ = np.zeros((0, d), dtype=np.float32)
            return
        model = AlternatingLeastSquares(
            factors=d,
            regularization=self.regularization,
            alpha=self.alpha,
            num_threads=self.num_threads,
            random_state=self.random_state,
        )
        model.item_factors = self.item_factors_
        with threadpool_limits(1, "blas"):
            factors = model.recalculate_user(np.arange(n_rows), user_items)
        self.user_factors_ = np.ascontiguousarray(factors, dtype=np.float32)


class BPRRecommender(_MatrixFactorization):
    """Bayesian Personalized Ranking (Rendle et al. 2009) via ``implicit.cpu.bpr``.

    BPR is fitted by SGD over sampled (customer, bought, not bought) triples: with
    ``num_threads=1`` and a fixed ``random_state`` the factors are identical between runs
    (more threads run Hogwild updates, which are not reproducible).

    Parameters
    ----------
    factors : int
        Latent dimensions (implicit adds one item-bias column).
    learning_rate, regularization : float
        SGD step and L2 penalty.
    iterations : int
        Epochs over the interactions.
    num_threads : int
        Threads for fit and top-n (1 = reproducible).
    random_state : int
        Seed of the initialisation and of the sampling.
    cold_start : PopularityRecommender, optional
    """

    spec_name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        num_threads: int = 1,
        random_state: int = 0,
        cold_start: PopularityRecommender | None = None,
    ):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.num_threads = num_threads
        self.random_state = random_state
        self.cold_start = cold_start

    def _fit(self, matrix: InteractionMatrix) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = self._fit_implicit(
            BayesianPersonalizedRanking, matrix, learning_rate=self.learning_rate
        )
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _apply_history(self, matrix: InteractionMatrix, transactions, cutoff, events, cache):
        """BPR user factors come from SGD over the whole fit, with no exact per-customer
        update: customers known at fit keep their fitted factors (their new purchases still
        update ``bought_``, i.e. what ``filter_already_bought`` leaves out); customers new
        since the fit are left out of ``customer_ids_`` and get the cold-start answer."""
        fitted_rows = pd.Index(self.customer_ids_).get_indexer(matrix.customer_ids)
        keep = fitted_rows >= 0
        self.customer_ids_ = np.asarray(matrix.customer_ids, dtype=str)[keep]
        self.bought_ = sp.csr_matrix(matrix.order_counts, dtype=np.float32)[np.flatnonzero(keep)]
        self.user_factors_ = np.ascontiguousarray(self.user_factors_[fitted_rows[keep]])


class ItemKNNRecommender(PopularityColdStart, _SimilarItemsMixin, Recommender):
    """Item-item nearest neighbours via implicit (cosine, BM25 or TF-IDF similarity).

    Score of product j for customer u = sum_i weight(u, i) * similarity(i, j) over the
    customer's products i, keeping the ``K`` nearest neighbours of each product (the product
    itself included, so bought products score high unless filtered). Slots without a neighbour
    are filled by popularity (score 0).

    Parameters
    ----------
    weighting : {"cosine", "bm25", "tfidf"}
        Similarity: cosine of the product columns, or cosine-like after BM25 / TF-IDF weighting
        of the product x customer matrix (implicit's BM25Recommender / TFIDFRecommender).
    K : int
        Neighbours kept per product.
    bm25_k1, bm25_b : float
        BM25 parameters (weighting="bm25").
    num_threads : int
        Threads for implicit's similarity computation.
    cold_start : PopularityRecommender, optional

    Fitted attributes
    -----------------
    similarity_ : csr_matrix float32 (n_products, n_products), row i = neighbours of i
    user_items_ : csr_matrix float32 (n_customers, n_products), the fitted weights
    """

    spec_name = "item_knn"
    sparse_scores = True

    def __init__(
        self,
        weighting: str = "cosine",
        K: int = 100,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        num_threads: int = 1,
        cold_start: PopularityRecommender | None = None,
    ):
        self.weighting = weighting
        self.K = K
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.num_threads = num_threads
        self.cold_start = cold_start

    def _fit(self, matrix: InteractionMatrix) -> None:
        from implicit.nearest_neighbours import (
            BM25Recommender,
            CosineRecommender,
            TFIDFRecommender,
        )

        if self.weighting not in KNN_WEIGHTINGS:
            raise DataError(f"weighting={self.weighting!r} is not one of {KNN_WEIGHTINGS}.")
        user_items = sp.csr_matrix(matrix.user_items, dtype=np.float32)
        with threadpool_limits(1, "blas"):
            if self.weighting == "cosine":
                model = CosineRecommender(K=self.K, num_threads=self.num_threads)
            elif self.weighting == "tfidf":
                model = TFIDFRecommender(K=self.K, num_threads=self.num_threads)
            else:
                model = BM25Recommender(
                    K=self.K, K1=self.bm25_k1, B=self.bm25_b, num_threads=self.num_threads
                )
            _fit_quietly(model, user_items)
        similarity = sp.csr_matrix(model.similarity, dtype=np.float32)
        similarity.sort_indices()
        self.similarity_ = similarity
        self.user_items_ = user_items

    def _set_user_state(self, matrix: InteractionMatrix) -> None:
        """The customers' weighted rows (n_customers, n_products), scored against similarity_."""
        self.user_items_ = sp.csr_matrix(matrix.user_items, dtype=np.float32)

    _has_sparse_scores = True

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.user_items_[rows] @ self.similarity_).toarray()

    def _sparse_score_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        return self.user_items_[rows] @ self.similarity_

    def _item_similarity_rows(self, cols: np.ndarray) -> np.ndarray:
        sim = self.similarity_[cols].toarray().astype(np.float64)
        sim[sim <= 0] = -np.inf  # beyond the K neighbours: no evidence
        return sim

    def explain(self, recommendations: pd.DataFrame) -> pd.DataFrame:
        """Add the reason of each recommendation: see :func:`explain_recommendations`."""
        return explain_recommendations(self, recommendations)


def explain_recommendations(
    model: ItemKNNRecommender, recommendations: pd.DataFrame
) -> pd.DataFrame:
    """Reason per recommendation of an item-kNN model: the already-bought product that
    contributed most to the score (max over i of weight(u, i) * similarity(i, j)).

    ``recommendations``: output of ``model.recommend`` (customer_id, product_id, ...).
    Returns a copy with columns because_product_id, because_product_name and reason
    ("bought together with <name>", or "bought before" when the top contributor is the
    recommended product itself); <NA> / "popular product" for rows without a contributing
    product (popularity fill, cold start). Vectorised over all rows.
    """
    if not isinstance(model, ItemKNNRecommender):
        raise DataError(
            f"explain_recommendations needs an ItemKNNRecommender, got {type(model).__name__}."
        )
    model._check_fitted()
    out = recommendations.copy()
    rows = model.customer_rows(out["customer_id"].to_numpy())
    cols = pd.Index(model.product_ids_).get_indexer(_as_str_array(out["product_id"].to_numpy()))
    ok = np.flatnonzero((rows >= 0) & (cols >= 0))
    because = np.full(len(out), -1, dtype=np.int64)
    if len(ok):
        # pair p: contributions weight(u_p, i) * similarity(i, j_p) over products i
        contrib = model.user_items_[rows[ok]].multiply(model.similarity_.T.tocsr()[cols[ok]])
        contrib = sp.csr_matrix(contrib)
        contrib.eliminate_zeros()
        contrib.sort_indices()
        has = np.diff(contrib.indptr) > 0
        if has.any():
            starts = contrib.indptr[:-1][has]
            row_max = np.maximum.reduceat(contrib.data, starts)
            pair_of_cell = np.repeat(np.arange(contrib.shape[0]), np.diff(contrib.indptr))
            full_max = np.full(contrib.shape[0], np.nan)
            full_max[has] = row_max
            is_max = contrib.data == full_max[pair_of_cell]
            # first (lowest product index) maximal cell per pair
            first = np.full(contrib.shape[0], -1, dtype=np.int64)
            cells = np.flatnonzero(is_max)[::-1]
            first[pair_of_cell[cells]] = contrib.indices[cells]
            because[ok] = first
    found = because >= 0
    ids = np.where(found, model.product_ids_[np.maximum(because, 0)], None)
    names = np.where(found, model.product_names_[np.maximum(because, 0)], None)
    out["because_product_id"] = pd.array(ids, dtype="string")
    out["because_product_name"] = pd.array(names, dtype="string")
    itself = found & (because == cols)
    reason = np.where(found, "bought together with " + names.astype(str), "popular product")
    out["reason"] = pd.array(np.where(itself, "bought before", reason), dtype="string")
    return out
