"""Common machinery of the recommenders: id mapping, batched top-n, cold start, persistence.

Every recommender follows one interface::

    model.fit(matrix: InteractionMatrix) -> model
    model.recommend(customer_ids, n=10, filter_already_bought=False) -> DataFrame
        columns customer_id (string), rank (int, 1..n), product_id (string), score (float)
    model.save(path); Recommender.load(path)
    model.with_history(transactions, cutoff, events=None) -> copy scoring later histories

Customers not in the fitted matrix (leads, new customers) get the popularity answer of the
model's ``cold_start_`` recommender. Inactive (discontinued) products are never recommended.
"""

from __future__ import annotations

import copy
import inspect
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scoring._kernels.topn import topn_cells, topn_dense
from scoring.data.errors import DataError

from .matrix import InteractionMatrix, _as_str_array, cached_matrix

FORMAT_VERSION = 1
_MAX_BATCH_CELLS = 2**23
"""Dense score cells per batch (rows x products), ~32 MB of float32."""

_REGISTRY: dict[str, type[Recommender]] = {}
"""The one registry of recommender classes: spec name (``Recommender.spec_name``, the
``"model"`` of a spec) -> class, filled as the classes are defined (the package imports them
all). Specs name a class by its spec name, saved models by its class name."""


def registered_models() -> dict[str, type[Recommender]]:
    """Spec name -> class of every concrete recommender (a copy of the registry)."""
    return dict(_REGISTRY)


def recommender_class(name: str) -> type[Recommender]:
    """The registered class of a spec name (``"als"``) or a class name (``"ALSRecommender"``,
    as saved models record it); DataError for an unknown name."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    for cls in _REGISTRY.values():
        if cls.__name__ == name:
            return cls
    raise DataError(f"recommender {name!r} is not one of {sorted(_REGISTRY)}.")


def string_array(codes: np.ndarray, labels: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``labels[codes]`` as a pandas "string" array, built by arrow (fast for millions)."""
    import pyarrow as pa

    decoded = pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(codes, dtype=np.int32)), pa.array(np.asarray(labels, dtype=str))
    ).dictionary_decode()
    return pd.array(decoded, dtype="string")


def mask_rows(scores: np.ndarray, pattern: sp.csr_matrix, value: float = -np.inf) -> None:
    """Set ``scores[i, j] = value`` in place for every stored cell (i, j) of ``pattern``."""
    if pattern.nnz:
        rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
        scores[rows, pattern.indices] = value


def rank_scores(
    scores: np.ndarray,
    n: int,
    active: np.ndarray | None = None,
    exclude: sp.csr_matrix | None = None,
    fill_key: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n of a dense score block, the ranking rule of every recommender.

    ``scores`` (m, n_items); ``active`` bool (n_items,) recommendable products; ``exclude`` CSR
    (m, n_items) of products to leave out (already bought); ``fill_key`` (n_items,) values
    below 0 ranking the products without a positive score (popularity fill: sparse models).
    Returns (indices, scores) (m, n), -1 / -inf for empty slots; filled slots score 0.
    """
    scores = np.asarray(scores)
    dtype = np.float32 if scores.dtype == np.float32 else np.float64
    if fill_key is not None:
        scores = np.where(scores > 0, scores, fill_key.astype(dtype)[None, :])
    else:
        scores = scores.astype(dtype, copy=True)
    if active is not None:
        scores[:, ~active] = -np.inf
    if exclude is not None:
        mask_rows(scores, exclude)
    idx, top = topn_dense(scores, n)
    if fill_key is not None:
        top = np.where(top > 0, top, np.where(np.isfinite(top), 0.0, top))
    out_idx = np.full((scores.shape[0], n), -1, dtype=np.int64)
    out_top = np.full((scores.shape[0], n), -np.inf)
    out_idx[:, : idx.shape[1]], out_top[:, : idx.shape[1]] = idx, top
    return out_idx, out_top


def rank_sparse(
    scores: sp.csr_matrix,
    n: int,
    active: np.ndarray,
    fill_order: np.ndarray,
    exclude: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n of a sparse score block (sparse models), same rule as :func:`rank_scores`.

    Stored positive scores of active, not excluded products come first (score descending,
    then column); remaining slots take the products of ``fill_order`` (active products by
    decreasing popularity) that are not already listed or excluded, with score 0.
    Vectorised over rows: sort of the stored cells, then one (m, L) candidate block for the
    fill, L = 2n + the largest number of excluded products of a row.
    """
    scores = sp.csr_matrix(scores)
    m = scores.shape[0]
    row_of = np.repeat(np.arange(m), np.diff(scores.indptr))
    keep = (scores.data > 0) & active[scores.indices]
    if exclude is not None and exclude.nnz:
        ex_rows = np.repeat(np.arange(m), np.diff(exclude.indptr))
        n_items = scores.shape[1]
        keep &= ~np.isin(
            row_of.astype(np.int64) * n_items + scores.indices,
            ex_rows.astype(np.int64) * n_items + exclude.indices,
        )
    idx, out, counts = topn_cells(
        row_of[keep], scores.indices[keep], scores.data[keep], m, n
    )
    have = np.minimum(counts, n)
    need = n - have
    if not need.any() or len(fill_order) == 0:
        return idx, out
    n_excluded = 0 if exclude is None else int(np.diff(exclude.indptr).max(initial=0))
    width = min(len(fill_order), 2 * n + n_excluded)
    candidates = fill_order[:width]
    slot = np.full(scores.shape[1], -1, dtype=np.int64)
    slot[candidates] = np.arange(width)
    blocked = np.zeros((m, width), dtype=bool)
    listed = idx >= 0
    pos = slot[np.where(listed, idx, 0)]
    hit = listed & (pos >= 0)
    blocked[np.nonzero(hit)[0], pos[hit]] = True
    if exclude is not None and exclude.nnz:
        pos = slot[exclude.indices]
        blocked[ex_rows[pos >= 0], pos[pos >= 0]] = True
    free = ~blocked
    rank_free = np.cumsum(free, axis=1)  # 1-based rank among free candidates
    take = free & (rank_free <= need[:, None])
    r, c = np.nonzero(take)
    target = have[r] + rank_free[r, c] - 1
    idx[r, target] = candidates[c]
    out[r, target] = 0.0
    return idx, out


def _batches(n_rows: int, n_items: int):
    size = max(1, min(n_rows, _MAX_BATCH_CELLS // max(n_items, 1)))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


class Recommender:
    """Base class; subclasses implement ``_fit`` and ``_score_rows`` (or ``_recommend_rows``).

    Fitted attributes (all models)
    ------------------------------
    customer_ids_ : ndarray of str, shape (n_customers,)
    product_ids_ : ndarray of str, shape (n_products,)
    product_names_ : ndarray of str, shape (n_products,)
    active_products_ : ndarray of bool, shape (n_products,)  recommendable products
    bought_ : csr_matrix float32 (n_customers, n_products)  orders per product before the
        history cutoff
    cutoff_ : str  ISO day of the fit matrix cutoff (the catalogue and item-side state)
    history_cutoff_ : str  ISO day of the customer histories (``cutoff_`` unless the model
        comes from :meth:`with_history`)
    matrix_settings_ : dict  the builder arguments of the fitted matrix (weighting, half-life,
        event weights, discontinued rule, BM25 parameters), re-used by :meth:`with_history`
    item_length_norm_ : ndarray float32 (n_products,) or None  frozen BM25 product
        normalisation of the fitted matrix (``weighting="bm25"`` only)
    cold_start_ : PopularityRecommender  answer for unknown customers and the fill of sparse
        models (not set on PopularityRecommender itself)

    Customer side vs item side: ``customer_ids_``, ``bought_`` and each model's per-customer
    state (buy-again scores, kNN user rows, ALS/BPR user factors) describe the customers'
    histories; everything else (catalogue, active products, item factors, similarities,
    popularity, hybrid weights) is item side and only changes with a refit.
    """

    spec_name: ClassVar[str | None] = None
    """Name of the model in specs (``{"model": "als", ...}``); classes with one are registered
    (:func:`registered_models`)."""

    sparse_scores: ClassVar[bool] = False
    """True when a zero score means "no evidence": such slots are filled by popularity."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("spec_name")
        if name:
            _REGISTRY[name] = cls

    # ----------------------------------------------------------------------------- params
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Recommender:
        for key, value in params.items():
            if key not in self._param_names():
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(
            f"{k}={v!r}" for k, v in self.get_params().items() if not isinstance(v, pd.Series)
        )
        return f"{type(self).__name__}({args})"

    # -------------------------------------------------------------------------------- fit
    def fit(self, matrix: InteractionMatrix) -> Recommender:
        """Fit on an :class:`InteractionMatrix`; returns self."""
        if not isinstance(matrix, InteractionMatrix):
            raise DataError(
                f"{type(self).__name__}.fit expects an InteractionMatrix (from "
                f"build_interaction_matrix), got {type(matrix).__name__}."
            )
        if matrix.n_products == 0:
            raise DataError("the interaction matrix has no products; nothing to recommend.")
        self.customer_ids_ = np.asarray(matrix.customer_ids, dtype=str)
        self.product_ids_ = np.asarray(matrix.product_ids, dtype=str)
        self.product_names_ = np.asarray(matrix.product_names, dtype=str)
        self.active_products_ = np.asarray(matrix.active_products, dtype=bool)
        self.bought_ = sp.csr_matrix(matrix.order_counts, dtype=np.float32)
        self.cutoff_ = str(pd.Timestamp(matrix.cutoff).date())
        self.history_cutoff_ = self.cutoff_
        self.matrix_settings_ = dict(matrix.settings)
        self.item_length_norm_ = (
            None
            if matrix.bm25_length_norm is None
            else np.asarray(matrix.bm25_length_norm, dtype=np.float32)
        )
        self._fit_cold_start(matrix)
        self._fit(matrix)
        self._customer_index = None
        return self

    # ----------------------------------------------------------------------- with_history
    def with_history(self, transactions: pd.DataFrame, cutoff, events=None) -> Recommender:
        """A copy of the fitted model whose customers and histories come from ``transactions``.

        Parameters
        ----------
        transactions : DataFrame
            Canonical purchase lines (customer_id, order_id, timestamp, product_id, quantity);
            only lines strictly before ``cutoff`` are used.
        cutoff : str or Timestamp
            Day of the new histories, e.g. ``as_of + 1 day`` when scoring as of ``as_of``.
            Ages (time decay, buy-again recency) are counted in days to this cutoff.
        events : DataFrame, optional
            Canonical events; used only when the model was fitted with events (same event
            weights).

        Returns
        -------
        Recommender of the same class. Its customer side (``customer_ids_``, ``bought_``,
        per-customer state) is rebuilt from the new histories with the fitted matrix settings
        (``matrix_settings_``: weighting, half-life, event weights; BM25 with the frozen
        product normalisation) on the fitted catalogue: products unknown to the model are
        ignored, customers without a line of a known product get the cold-start answer, as
        do customers absent from ``transactions``. The item side (catalogue, active
        products, item factors, similarities, popularity, hybrid weights) is shared with
        ``self`` unchanged, so the discontinued-product rule stays that of the fit.

        A customer's recommendations depend only on the customer's own lines (and the
        fitted model), never on which other customers are in ``transactions``; with the
        fit's transactions and cutoff the copy recommends exactly what ``self`` does.
        Per model: buy-again and item-kNN read the new rows; ALS solves the user factors of
        the new rows exactly against the fitted item factors; BPR keeps the fitted user
        factors (customers new since the fit get the cold-start answer); popularity only
        updates ``bought_`` (for ``filter_already_bought``); hybrid: every component's
        ``with_history``.
        """
        return self._with_history(transactions, cutoff, events, {})

    def _with_history(self, transactions, cutoff, events, cache: dict) -> Recommender:
        self._check_fitted()
        settings = getattr(self, "matrix_settings_", None)
        if not settings:
            raise DataError(
                f"{type(self).__name__}.with_history: the model does not record the settings "
                "of the matrix it was fitted on (saved before with_history existed, or fitted on "
                "a hand-made InteractionMatrix); refit it with build_interaction_matrix / "
                "fit_recommender."
            )
        matrix = self._history_matrix(transactions, cutoff, events, cache)
        model = copy.copy(self)
        model._apply_history(matrix, transactions, cutoff, events, cache)
        model.history_cutoff_ = str(pd.Timestamp(matrix.cutoff).date())
        model._customer_index = None
        return model

    def _history_matrix(self, transactions, cutoff, events, cache: dict) -> InteractionMatrix:
        """The new histories as a matrix on the fitted catalogue (cached per settings)."""
        settings = dict(self.matrix_settings_)
        if settings.get("event_weights") is None:  # fitted without events
            events = None
        return cached_matrix(
            cache,
            transactions,
            cutoff,
            settings,
            events,
            catalogue=self.product_ids_,
            bm25_length_norm=self.item_length_norm_,
        )

    def _apply_history(self, matrix: InteractionMatrix, transactions, cutoff, events, cache):
        """Replace the customer side of this (copied) model by the rows of ``matrix``."""
        self.customer_ids_ = np.asarray(matrix.customer_ids, dtype=str)
        self.bought_ = sp.csr_matrix(matrix.order_counts, dtype=np.float32)
        self._set_user_state(matrix)

    def _set_user_state(self, matrix: InteractionMatrix) -> None:
        """Per-customer fitted state from a matrix (same rows as ``customer_ids_``)."""
        raise NotImplementedError

    def _fit_cold_start(self, matrix: InteractionMatrix) -> None:
        """Fit ``cold_start_``, the answer for unknown customers: models inherit it from
        ``popularity.PopularityColdStart`` (popularity answers for itself)."""
        raise NotImplementedError

    def _cold_start_model(self):
        return self.cold_start_

    def _fit(self, matrix: InteractionMatrix) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "product_ids_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(matrix) first.")

    # -------------------------------------------------------------------------- recommend
    def customer_rows(self, customer_ids) -> np.ndarray:
        """Row of each customer in the fitted matrix, -1 when unknown."""
        self._check_fitted()
        if getattr(self, "_customer_index", None) is None:
            self._customer_index = pd.Index(self.customer_ids_)
        return self._customer_index.get_indexer(_as_str_array(customer_ids))

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Dense scores, shape (len(rows), n_products), for known customer rows."""
        raise NotImplementedError

    _has_sparse_scores: ClassVar[bool] = False
    """True when ``_sparse_score_rows`` exists and is cheaper than the dense path."""

    def _sparse_score_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """Scores as CSR (len(rows), n_products), zeros not stored (sparse models)."""
        raise NotImplementedError

    def _fill_key(self) -> np.ndarray:
        """Popularity order in [-1, -0.5) used to fill slots without evidence."""
        pop = self._cold_start_model().scores_
        span = pop.max() - pop.min()
        return -1.0 + 0.5 * ((pop - pop.min()) / span if span > 0 else np.zeros_like(pop))

    def _recommend_rows(
        self, rows: np.ndarray, n: int, filter_already_bought: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (indices, scores), shape (len(rows), n), -1 / -inf for empty slots.

        Batches of customers are ranked independently (numpy / scipy release the GIL), on
        ``num_threads`` threads when the model has that parameter.
        """
        out_idx = np.full((len(rows), n), -1, dtype=np.int64)
        out_score = np.full((len(rows), n), -np.inf)
        fill = self._fill_key() if self.sparse_scores else None
        n_items = len(self.product_ids_)
        if self.sparse_scores and self._has_sparse_scores:
            order = np.argsort(-fill, kind="stable")
            fill_order = order[self.active_products_[order]]
            base = np.where(self.active_products_, fill, -np.inf).astype(np.float32)

        def work(sl: slice) -> None:
            exclude = self.bought_[rows[sl]] if filter_already_bought else None
            if not (self.sparse_scores and self._has_sparse_scores):
                out_idx[sl], out_score[sl] = rank_scores(
                    self._score_rows(rows[sl]),
                    n,
                    active=self.active_products_,
                    exclude=exclude,
                    fill_key=fill,
                )
                return
            block = self._sparse_score_rows(rows[sl])
            if block.nnz <= 0.02 * block.shape[0] * n_items:  # few cells: sort them
                out_idx[sl], out_score[sl] = rank_sparse(
                    block, n, self.active_products_, fill_order, exclude=exclude
                )
                return
            # many cells: dense block pre-filled with the popularity key
            dense = np.repeat(base[None, :], block.shape[0], axis=0)
            r = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            ok = (block.data > 0) & self.active_products_[block.indices]
            dense[r[ok], block.indices[ok]] = block.data[ok]
            if exclude is not None:
                mask_rows(dense, exclude)
            idx, top = topn_dense(dense, n)
            out_idx[sl, : idx.shape[1]] = idx
            out_score[sl, : idx.shape[1]] = np.where(
                top > 0, top, np.where(np.isfinite(top), 0.0, top)
            )

        batches = list(_batches(len(rows), n_items))
        threads = max(1, int(getattr(self, "num_threads", 1) or 1))
        if threads == 1 or len(batches) == 1:
            for sl in batches:
                work(sl)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(work, batches))
        return out_idx, out_score

    def recommend(self, customer_ids, n: int = 10, filter_already_bought: bool = False):
        """Top-n products per customer.

        Parameters
        ----------
        customer_ids : array-like of str
            Customers to score; unknown ones get the cold-start (popularity) answer.
        n : int
            Products per customer.
        filter_already_bought : bool
            Leave out products the customer bought before the (history) cutoff.

        Returns
        -------
        DataFrame with columns customer_id, rank (1..n), product_id, score; one row per
        recommendation, customers in input order, best first. ``score`` is the model's score
        (0 for slots filled by popularity in sparse models; popularity for cold-start rows).
        """
        self._check_fitted()
        if n < 1:
            raise DataError(f"n={n} must be >= 1.")
        ids = _as_str_array(customer_ids)
        rows = self.customer_rows(ids)
        idx = np.full((len(ids), n), -1, dtype=np.int64)
        score = np.full((len(ids), n), -np.inf)
        known = rows >= 0
        if known.any():
            idx[known], score[known] = self._recommend_rows(rows[known], n, filter_already_bought)
        if (~known).any():
            idx[~known], score[~known] = self._cold_start_model()._cold_rows(ids[~known], n)
        return self._frame(ids, idx, score)

    def _frame(self, ids: np.ndarray, idx: np.ndarray, score: np.ndarray) -> pd.DataFrame:
        valid = idx >= 0
        n = idx.shape[1]
        customer_codes = np.repeat(np.arange(len(ids)), n)[valid.ravel()]
        return pd.DataFrame(
            {
                "customer_id": string_array(customer_codes, ids),
                "rank": np.tile(np.arange(1, n + 1), len(ids))[valid.ravel()],
                "product_id": string_array(idx[valid], self.product_ids_),
                "score": score[valid].astype(np.float64),
            }
        )

    def score_products(self, customer_ids) -> np.ndarray:
        """Dense scores (len(customer_ids), n_products) for known customers (for blending).

        Unknown customers get the cold-start popularity scores.
        """
        self._check_fitted()
        rows = self.customer_rows(customer_ids)
        out = np.empty((len(rows), len(self.product_ids_)), dtype=np.float64)
        known = rows >= 0
        if known.any():
            out[known] = self._score_rows(rows[known])
        if (~known).any():
            out[~known] = self._cold_start_model().scores_[None, :]
        return out

    # ------------------------------------------------------------------------ persistence
    def save(self, path) -> Path:
        """Write parameters and fitted state to one ``.npz`` file (no pickle); returns path."""
        self._check_fitted()
        path = Path(path)
        if path.suffix != ".npz":
            path = (
                path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
            )
        arrays: dict[str, np.ndarray] = {}
        meta = {"format": FORMAT_VERSION, "model": _encode(self, "m", arrays)}
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path) -> Recommender:
        """Load a model written by :meth:`save` (any recommender class)."""
        path = Path(path)
        if not path.exists() and path.with_suffix(".npz").exists():
            path = path.with_suffix(".npz")
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            if meta.get("format") != FORMAT_VERSION:
                raise DataError(f"{path}: model file format {meta.get('format')} is not supported.")
            model = _decode(meta["model"], "m", data)
        if not isinstance(model, cls):
            raise DataError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}.")
        return model


def load_recommender(path) -> Recommender:
    """Load any recommender saved with ``save``."""
    return Recommender.load(path)


def _fitted_names(model: Recommender) -> list[str]:
    return sorted(k for k in vars(model) if k.endswith("_") and not k.startswith("_"))


def _encode(value, key: str, arrays: dict) -> dict:
    if isinstance(value, Recommender):
        return {
            "kind": "model",
            "class": type(value).__name__,
            "params": {
                k: _encode(v, f"{key}.p.{k}", arrays) for k, v in value.get_params().items()
            },
            "fitted": {
                k: _encode(getattr(value, k), f"{key}.f.{k}", arrays) for k in _fitted_names(value)
            },
        }
    if sp.issparse(value):
        csr = sp.csr_matrix(value)
        arrays[f"{key}.data"], arrays[f"{key}.indices"] = csr.data, csr.indices
        arrays[f"{key}.indptr"] = csr.indptr
        return {"kind": "csr", "shape": list(csr.shape)}
    if isinstance(value, pd.Series):
        arrays[f"{key}.index"] = np.asarray(value.index.astype(str), dtype=str)
        arrays[f"{key}.values"] = np.asarray(value.astype(str), dtype=str)
        return {"kind": "series", "name": value.name}
    if isinstance(value, np.ndarray):
        arrays[key] = value.astype(str) if value.dtype == object else value
        return {"kind": "array"}
    if isinstance(value, dict) and any(
        isinstance(v, Recommender | np.ndarray | pd.Series) or sp.issparse(v)
        for v in value.values()
    ):
        return {
            "kind": "dict",
            "items": {str(k): _encode(v, f"{key}.{k}", arrays) for k, v in value.items()},
        }
    if isinstance(value, np.generic):
        value = value.item()
    json.dumps(value)  # raises TypeError for anything we cannot store safely
    return {"kind": "json", "value": value}


def _decode(spec: dict, key: str, data):
    kind = spec["kind"]
    if kind == "model":
        cls = recommender_class(spec["class"])
        params = {k: _decode(v, f"{key}.p.{k}", data) for k, v in spec["params"].items()}
        model = cls(**params)
        for name, sub in spec["fitted"].items():
            setattr(model, name, _decode(sub, f"{key}.f.{name}", data))
        model._customer_index = None
        return model
    if kind == "csr":
        return sp.csr_matrix(
            (data[f"{key}.data"], data[f"{key}.indices"], data[f"{key}.indptr"]),
            shape=tuple(spec["shape"]),
        )
    if kind == "series":
        return pd.Series(
            data[f"{key}.values"], index=data[f"{key}.index"], name=spec["name"], dtype="string"
        )
    if kind == "array":
        return data[key]
    if kind == "dict":
        return {k: _decode(v, f"{key}.{k}", data) for k, v in spec["items"].items()}
    return spec["value"]
