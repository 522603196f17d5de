"""Offline evaluation of the recommenders on a time split, with validation-based tuning.

Protocol (all times in days, timestamps floored to days):

* holdout: models are fitted on purchases strictly before ``cutoff`` and recommend ``k``
  products to every customer who bought before the cutoff and in
  ``[cutoff, cutoff + holdout_days)``; the test set of a customer is the set of products bought
  in that window that exist in the pre-cutoff catalogue.
* two protocols: ``repurchase`` (already-bought products may be recommended and count as hits)
  and ``new_items`` (already-bought products are removed from the recommendations and from the
  test set; customers left without test products are dropped).
* hyper-parameters (and the hybrid weights, and which model is shipped) are chosen on
  validation windows before the cutoff, never on the holdout. Default: the two most recent
  91-day windows (rolling origin): fit before ``cutoff - 182 days``, evaluate on the next
  91 days; fit before ``cutoff - 91 days``, evaluate on ``[cutoff - 91 days, cutoff)``; the
  validation score of a setting is its mean NDCG@k over the windows.
* the chosen settings are refitted on everything before the cutoff and evaluated once on
  the holdout.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scoring._kernels.topn import topn_dense
from scoring.data.errors import DataError
from scoring.evaluation.ranking import ranking_metrics
from scoring.models.recommend.base import Recommender, _batches, rank_scores
from scoring.models.recommend.hybrid import normalise_scores
from scoring.models.recommend.matrix import InteractionMatrix, cached_matrix
from scoring.models.recommend.spec import fit_recommender, model_from_spec, spec_key

log = logging.getLogger(__name__)

PROTOCOLS: tuple[str, ...] = ("repurchase", "new_items")
MODELS: tuple[str, ...] = (
    "popularity",
    "buy_again",
    "als",
    "bpr",
    "item_knn_cosine",
    "item_knn_bm25",
    "hybrid",
)


def _grid(model: str, params: list[dict], matrices: list[dict] | None = None) -> list[dict]:
    matrices = matrices or [{}]
    return [{"model": model, "params": p, "matrix": m} for m in matrices for p in params]


DECAY = [{"half_life_days": None}, {"half_life_days": 90}]


def default_config() -> dict:
    """Grids and settings of :func:`evaluate_recommenders` (override any key via ``config``).

    ``num_threads``: threads for ALS / item-kNN (BPR always runs on one thread so that it is
    reproducible). Validation: ``validation_folds`` windows of ``validation_days`` days ending
    at the cutoff (None = ``holdout_days``), or explicit ``validation_windows`` as
    ``[(offset_days, horizon_days), ...]`` (fit before cutoff - offset, test on the next
    horizon days; horizon <= offset). ``max_validation_customers``: sample of validation
    customers (seeded). ``max_tuning_customers``: the validation grid is fitted on the
    purchases (and events) of at most this many customers (a seeded sample,
    ``hybrid_churn.stable_sample``, as the churn panel samples); the chosen settings are then
    refitted on every customer for the holdout. Shops with fewer customers, Online Retail II
    among them, tune on everyone. ``max_holdout_customers``: the holdout metrics and
    recommendations cover a seeded sample of at most this many of the customers with a test
    product (``n_customers`` in the metrics says how many); a mean of per-customer values in
    [0, 1] such as NDCG@k then has a standard error of at most 0.5 / sqrt(100,000) = 0.0016,
    and the models are still fitted on everyone.
    ``hybrid.components``: models blended per protocol ("collaborative"
    = the best of ``collaborative_candidates``); ``hybrid.weight_step``: grid step of the
    weights (all weight vectors on the simplex).
    """
    als = [
        {"factors": f, "alpha": a, "regularization": r, "iterations": 15}
        for f in (32, 64, 128)
        for a, r in ((1.0, 1.0), (5.0, 1.0))
    ]
    bpr = [
        {"factors": 64, "learning_rate": lr, "regularization": 0.01, "iterations": it}
        for lr, it in ((0.01, 100), (0.05, 50))
    ]
    knn_cos = [{"weighting": "cosine", "K": k} for k in (50, 100, 200)]
    knn_bm25 = [
        {"weighting": "bm25", "K": k, "bm25_k1": k1, "bm25_b": b}
        for k in (50, 100, 200)
        for k1, b in ((1.2, 0.75), (3.0, 0.9))
    ]
    return {
        "models": list(MODELS),
        "validation_days": 91,
        "validation_folds": 2,
        "discontinued_after_days": 90,
        "event_weights": None,
        "num_threads": 2,
        "max_validation_customers": 20_000,
        "max_tuning_customers": 100_000,
        "max_holdout_customers": 100_000,
        "grids": {
            "popularity": _grid("popularity", [{"window_days": w} for w in (14, 30, 90)]),
            "buy_again": _grid(
                "buy_again", [{"half_life_days": h} for h in (30.0, 90.0, 180.0, 365.0, None)]
            ),
            "als": _grid("als", als, DECAY),
            "bpr": _grid("bpr", bpr),
            "item_knn_cosine": _grid("item_knn", knn_cos, DECAY),
            "item_knn_bm25": _grid("item_knn", knn_bm25, DECAY),
        },
        "hybrid": {
            # "collaborative" = the best of collaborative_candidates on validation
            "components": {
                "repurchase": ["buy_again", "als", "item_knn_bm25", "popularity"],
                "new_items": ["als", "item_knn_bm25", "popularity"],
            },
            "collaborative_candidates": ["als", "item_knn_bm25", "item_knn_cosine", "bpr"],
            "weight_step": 0.1,
        },
    }


def quick_config() -> dict:
    """A smaller validation grid for the main job (``scoring run --recommender-grid quick``):
    one validation window instead of two, ALS at 64 factors (alpha 1 and 5), item-kNN with K
    50 and 200 (BM25 at its usual k1 = 1.2, b = 0.75), no BPR (single-threaded and never
    chosen on Online Retail II: ``benchmarks/results/run.json`` profiles it at ~30 s), hybrid
    weights on a 0.2 grid instead of 0.1; popularity and buy-again keep their full grids: 20
    settings instead of 40, each fitted once instead of twice. ``scoring evaluate`` and
    ``make bench`` run the full grid (:func:`default_config`).
    """
    als = [{"factors": 64, "alpha": a, "regularization": 1.0, "iterations": 15} for a in (1.0, 5.0)]
    knn_cos = [{"weighting": "cosine", "K": k} for k in (50, 200)]
    knn_bm25 = [{"weighting": "bm25", "K": k, "bm25_k1": 1.2, "bm25_b": 0.75} for k in (50, 200)]
    full_hybrid = default_config()["hybrid"]
    return {
        "models": [m for m in MODELS if m != "bpr"],
        "validation_folds": 1,
        "grids": {
            "als": _grid("als", als, DECAY),
            "item_knn_cosine": _grid("item_knn", knn_cos, DECAY),
            "item_knn_bm25": _grid("item_knn", knn_bm25, DECAY),
        },
        "hybrid": {
            "collaborative_candidates": [c for c in full_hybrid["collaborative_candidates"]
                                         if c != "bpr"],
            "weight_step": 0.2,
        },
    }


GRID_PRESETS = {"full": dict, "quick": quick_config}
"""Named overrides of :func:`default_config` (``--recommender-grid``)."""


def trimmed_config(
    models: list[str], settings_per_model: int = 1, weight_step: float = 0.25
) -> dict:
    """Overrides of :func:`default_config` for a fast smoke run (the notebooks under
    ``SCORING_NOTEBOOK_FAST=1``): only ``models``, each with the first ``settings_per_model``
    settings of its full grid; the hybrid, if among ``models``, picks its collaborative part
    among the listed models only and searches its weights on a ``weight_step`` grid.
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown or settings_per_model < 1 or not 0 < weight_step <= 1:
        raise DataError(
            f"trimmed_config: models must be among {MODELS} (unknown: {unknown}), "
            f"settings_per_model >= 1 (got {settings_per_model}) and 0 < weight_step <= 1 "
            f"(got {weight_step})."
        )
    full = default_config()
    return {
        "models": list(models),
        "grids": {
            name: full["grids"][name][:settings_per_model]
            for name in models
            if name in full["grids"]
        },
        "hybrid": {
            **full["hybrid"],
            "collaborative_candidates": [
                c for c in full["hybrid"]["collaborative_candidates"] if c in models
            ],
            "weight_step": weight_step,
        },
    }


@dataclass
class RecommenderEvaluation:
    """Result of :func:`evaluate_recommenders`.

    Attributes
    ----------
    metrics : {model: {protocol: {precision, recall, ndcg, map, hit_rate, coverage, n_customers}}}
        Holdout metrics at ``k``.
    recommendations : DataFrame
        customer_id, model, protocol, rank, product_id, score for the holdout customers
        (the ``max_holdout_customers`` sample in larger shops).
    chosen_params : {model: {protocol: spec}}
        The setting chosen on validation per model and protocol (a spec for
        :func:`scoring.models.recommend.spec.fit_recommender`: model, params, matrix settings;
        hybrids: weights and component specs).
    validation : list of dict
        One row per model x setting x protocol: model, protocol, spec (JSON), validation
        metrics, chosen (bool), fit_seconds.
    models : {model: {protocol: fitted Recommender}}
        Models refitted on everything before the cutoff with the chosen setting (the same
        object when both protocols chose the same setting).
    matrix_shape : (n_customers, n_products)
        Shape of the pre-cutoff matrix.
    shipped : {protocol: model}
        Model with the best validation NDCG@k per protocol (the one the project uses; refit it
        at scoring time with ``fit_recommender(evaluation.shipped_spec(protocol), ...)``).
    k, cutoff, validation_cutoffs, holdout_days, seed, config
        The settings used (``config``: the full config after overrides).
    timings : dict
        Wall seconds per stage.
    validation_metrics : {"model|protocol": metrics}
        Validation metrics (mean over windows) of each chosen setting.
    """

    metrics: dict
    recommendations: pd.DataFrame
    chosen_params: dict
    validation: list[dict]
    models: dict
    matrix_shape: tuple[int, int]
    shipped: dict
    k: int = 10
    cutoff: str = ""
    validation_cutoffs: list = field(default_factory=list)
    holdout_days: int = 0
    seed: int = 0
    config: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    validation_metrics: dict = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Holdout metrics as a table: one row per model and protocol, ``shipped`` flag."""
        rows = [
            {"model": m, "protocol": p, **vals, "shipped": self.shipped.get(p) == m}
            for m, by_protocol in self.metrics.items()
            for p, vals in by_protocol.items()
        ]
        return pd.DataFrame(rows)

    def shipped_spec(self, protocol: str) -> dict:
        """Spec of the shipped model of a protocol (refit it with ``fit_recommender``)."""
        return self.chosen_params[self.shipped[protocol]][protocol]


# ----------------------------------------------------------------------------- test sets
@dataclass
class _Split:
    matrix: InteractionMatrix
    customers: np.ndarray  # (m,) str, customers with a test product (repurchase)
    rows: np.ndarray  # (m,) rows of customers in the matrix
    relevant: dict  # protocol -> csr (m, n_products)
    keep: dict  # protocol -> bool (m,), customers evaluated in the protocol


def _test_sets(
    transactions: pd.DataFrame,
    matrix: InteractionMatrix,
    start: pd.Timestamp,
    days: int,
    max_customers: int | None = None,
    seed: int = 0,
) -> _Split:
    end = start + pd.Timedelta(days=days)
    window = transactions.loc[
        (transactions["timestamp"] >= start)
        & (transactions["timestamp"] < end)
        & transactions["product_id"].notna()
    ]
    rows = matrix.customer_index(window["customer_id"].to_numpy())
    cols = matrix.product_index(window["product_id"].to_numpy())
    ok = (rows >= 0) & (cols >= 0)
    relevant = sp.csr_matrix(
        (np.ones(ok.sum(), dtype=np.float32), (rows[ok], cols[ok])), shape=matrix.shape
    )
    relevant.data[:] = 1.0
    test_rows = np.flatnonzero(np.diff(relevant.indptr) > 0)
    if len(test_rows) == 0:
        raise DataError(
            f"no customer bought before {start.date()} and in [{start.date()}, {end.date()}) a "
            "product of the pre-cutoff catalogue; choose another cutoff or a longer window."
        )
    if max_customers is not None and len(test_rows) > max_customers:
        rng = np.random.default_rng(seed)
        test_rows = np.sort(rng.choice(test_rows, size=max_customers, replace=False))
    rel = relevant[test_rows]
    bought = matrix.order_counts[test_rows].copy()
    bought.data[:] = 1.0
    new = sp.csr_matrix(rel - rel.multiply(bought))
    new.eliminate_zeros()
    return _Split(
        matrix=matrix,
        customers=matrix.customer_ids[test_rows],
        rows=test_rows,
        relevant={"repurchase": rel, "new_items": new},
        keep={
            "repurchase": np.ones(len(test_rows), dtype=bool),
            "new_items": np.diff(new.indptr) > 0,
        },
    )


def _to_indices(recs: pd.DataFrame, customers: np.ndarray, product_ids: np.ndarray, k: int):
    out = np.full((len(customers), k), -1, dtype=np.int64)
    row = pd.Index(customers).get_indexer(recs["customer_id"].to_numpy(dtype=str))
    col = pd.Index(product_ids).get_indexer(recs["product_id"].to_numpy(dtype=str))
    out[row, recs["rank"].to_numpy() - 1] = col
    return out


def _metrics(idx: np.ndarray, split: _Split, protocol: str, k: int) -> dict:
    keep = split.keep[protocol]
    return ranking_metrics(
        idx[keep], split.relevant[protocol][keep], k, catalogue_size=split.matrix.n_products
    )


def _evaluate_model(model: Recommender, split: _Split, k: int) -> tuple[dict, dict]:
    """Metrics per protocol and the recommendation frames, via ``model.recommend``."""
    metrics, frames = {}, {}
    for protocol in PROTOCOLS:
        metrics[protocol], frames[protocol] = _recommend_and_score(model, split, protocol, k)
    return metrics, frames


def _recommend_and_score(
    model: Recommender, split: _Split, protocol: str, k: int
) -> tuple[dict, pd.DataFrame]:
    """``model.recommend`` for the customers kept in ``protocol`` (already-bought products
    filtered for "new_items") and its metrics at k. Output: (metrics, recommendation frame:
    customer_id, rank, product_id, score, ...)."""
    customers = split.customers[split.keep[protocol]]
    recs = model.recommend(customers, n=k, filter_already_bought=protocol == "new_items")
    idx = np.full((len(split.customers), k), -1, dtype=np.int64)
    idx[split.keep[protocol]] = _to_indices(recs, customers, split.matrix.product_ids, k)
    return _metrics(idx, split, protocol, k), recs


def _evaluate_scores(
    model: Recommender, split: _Split, k: int, blend_protocols: tuple[str, ...] = ()
) -> tuple[dict, dict]:
    """Validation metrics per protocol from one scoring pass (same ranking rule as
    ``recommend``: ``rank_scores`` with the model's popularity fill), and the normalised
    scores (float32, active columns) of the protocols in ``blend_protocols``."""
    matrix = split.matrix
    fill = model._fill_key() if model.sparse_scores else None
    active_cols = np.flatnonzero(matrix.active_products)
    idx = {p: np.full((len(split.customers), k), -1, dtype=np.int64) for p in PROTOCOLS}
    blocks: dict = {p: [] for p in blend_protocols}
    for sl in _batches(len(split.customers), matrix.n_products):
        scores = model.score_products(split.customers[sl])
        bought = matrix.order_counts[split.rows[sl]]
        for p in PROTOCOLS:
            exclude = bought if p == "new_items" else None
            idx[p][sl] = rank_scores(
                scores, k, active=matrix.active_products, exclude=exclude, fill_key=fill
            )[0]
        if blend_protocols:
            norm = normalise_scores(scores)[:, active_cols].astype(np.float32)
            for p in blend_protocols:
                blocks[p].append(norm[split.keep[p][sl]])
    metrics = {p: _metrics(idx[p], split, p, k) for p in PROTOCOLS}
    return metrics, {p: np.concatenate(b) for p, b in blocks.items()}


def _with_runtime(spec: dict, num_threads: int, seed: int) -> dict:
    """Add threads / seeds to a grid spec (not part of the tuned setting)."""
    spec = copy.deepcopy(spec)
    params = spec.setdefault("params", {})
    if spec["model"] in ("als", "item_knn"):
        params.setdefault("num_threads", num_threads)
    if spec["model"] == "bpr":
        params["num_threads"] = 1  # Hogwild with more threads is not reproducible
    if spec["model"] in ("als", "bpr"):
        params.setdefault("random_state", seed)
    return spec


def _weight_grid(n: int, step: float) -> list[tuple[float, ...]]:
    """All weight vectors of length n on the simplex with the given step (sum 1)."""
    units = int(round(1.0 / step))
    out = []
    for combo in itertools.product(range(units + 1), repeat=n):
        if sum(combo) == units:
            out.append(tuple(c / units for c in combo))
    return out


def _validation_windows(cfg: Mapping, holdout_days: int) -> list[tuple[int, int]]:
    """(offset_days, horizon_days) per validation window: fit before cutoff - offset, test on
    [cutoff - offset, cutoff - offset + horizon). Windows must end at or before the cutoff."""
    windows = cfg.get("validation_windows")
    if not windows:
        days = int(cfg.get("validation_days") or holdout_days)
        windows = [(days * f, days) for f in range(int(cfg.get("validation_folds", 1)), 0, -1)]
    out = []
    for offset, horizon in windows:
        if not 0 < horizon <= offset:
            raise DataError(
                f"validation window (offset {offset}, horizon {horizon} days) must satisfy "
                "0 < horizon <= offset so that it ends before the cutoff (no holdout leak)."
            )
        out.append((int(offset), int(horizon)))
    return out


def _mean_metrics(per_window: list[dict]) -> dict:
    """Mean of each metric over validation windows (n_customers summed)."""
    out = {}
    for key in per_window[0]:
        values = [m[key] for m in per_window]
        out[key] = int(sum(values)) if key == "n_customers" else float(np.nanmean(values))
    return out


class _BlendGrid:
    """Fast evaluation of weighted blends of normalised component scores on one split.

    Same ranking rule as HybridRecommender (positive blended score first, popularity fill,
    inactive and excluded products never recommended), on the active columns only.
    """

    def __init__(self, split: _Split, protocol: str, fill: np.ndarray, k: int):
        self.split, self.protocol, self.k = split, protocol, k
        self.keep = split.keep[protocol]
        matrix = split.matrix
        self.active_cols = np.flatnonzero(matrix.active_products)
        self.fill = fill[self.active_cols].astype(np.float32)
        self.exclude = None
        if protocol == "new_items":
            bought = matrix.order_counts[split.rows[self.keep]][:, self.active_cols].tocsr()
            rows = np.repeat(np.arange(bought.shape[0]), np.diff(bought.indptr))
            self.exclude = rows * len(self.active_cols) + bought.indices  # flat cell indices
        self.stack: dict[str, np.ndarray] = {}
        self._buffers: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, name: str, normalised: np.ndarray) -> None:
        """Component scores, normalised, float32, shape (kept customers, active products)."""
        self.stack[name] = normalised

    def metrics(self, weights: Mapping[str, float]) -> dict:
        first = next(iter(self.stack.values()))
        if self._buffers is None:
            self._buffers = (np.empty_like(first), np.empty_like(first))
        blend, part = self._buffers
        blend.fill(0.0)
        for name, w in weights.items():
            if w:
                np.multiply(self.stack[name], np.float32(w), out=part)
                blend += part
        np.copyto(blend, np.broadcast_to(self.fill, blend.shape), where=blend <= 0)
        if self.exclude is not None:
            blend.ravel()[self.exclude] = -np.inf
        idx, _ = topn_dense(blend, self.k)
        full = np.where(idx >= 0, self.active_cols[np.maximum(idx, 0)], -1)
        return ranking_metrics(
            full,
            self.split.relevant[self.protocol][self.keep],
            self.k,
            catalogue_size=self.split.matrix.n_products,
        )


# -------------------------------------------------------------------------------- main
def evaluate_recommenders(
    transactions: pd.DataFrame,
    cutoff,
    holdout_days: int,
    events: pd.DataFrame | None = None,
    k: int = 10,
    config: Mapping | None = None,
    seed: int = 0,
) -> RecommenderEvaluation:
    """Tune on validation window(s) before the cutoff, refit before the cutoff, report the
    holdout metrics.

    Parameters
    ----------
    transactions : DataFrame
        Canonical purchase lines (customer_id, order_id, timestamp, product_id, ...).
    cutoff : str or Timestamp
        Models see purchases strictly before it; the holdout is ``[cutoff, cutoff+holdout_days)``.
    holdout_days : int
        Length of the holdout window in days.
    events : DataFrame, optional
        Canonical events; product views / cart additions enter the matrix with
        ``config["event_weights"]``.
    k : int
        Recommendations per customer (metrics at k).
    config : mapping, optional
        Overrides of :func:`default_config` (models, grids, validation_days /
        validation_windows, num_threads, hybrid, ...). ``grids`` is merged per model.
    seed : int
        Seed of the models and of the customer sampling.

    Returns
    -------
    RecommenderEvaluation
    """
    t_start = time.perf_counter()
    # 1. config
    cfg, models = _resolve_config(config, k)
    cutoff = pd.Timestamp(cutoff).normalize()
    windows = _validation_windows(cfg, holdout_days)
    ctx = _Context(transactions, events, cfg, models, k, seed, _matrix_defaults(cfg))
    timings: dict = {}
    # 2. validation windows and their matrices (on a sample of customers in large shops)
    tune_ctx = _tuning_context(ctx)
    tuning = _start_tuning(tune_ctx, cutoff, windows)
    # 3. validation grid per model
    _tune_models(tune_ctx, tuning, timings)
    # 4. hybrid weights
    if "hybrid" in models:
        t0 = time.perf_counter()
        for protocol in PROTOCOLS:
            _tune_hybrid(tune_ctx, tuning, protocol)
        timings["validation_hybrid"] = round(time.perf_counter() - t0, 2)
    tuning.grids.clear()  # frees the component score stacks before the holdout refit
    shipped = _shipped_models(models, tuning.best_val)
    # 5. refit on everything before the cutoff, holdout evaluation
    t0 = time.perf_counter()
    holdout = _evaluate_holdout(ctx, cutoff, holdout_days, tuning.chosen)
    timings["holdout"] = round(time.perf_counter() - t0, 2)
    timings["total"] = round(time.perf_counter() - t_start, 2)
    # 6. recommendations and metrics
    return RecommenderEvaluation(
        metrics=holdout.metrics,
        recommendations=holdout.recommendations,
        chosen_params=tuning.chosen,
        validation=tuning.rows,
        models=holdout.models,
        matrix_shape=tuple(holdout.matrix.shape),
        shipped=shipped,
        k=k,
        cutoff=str(cutoff.date()),
        validation_cutoffs=[str(f["start"].date()) for f in tuning.folds],
        holdout_days=int(holdout_days),
        seed=seed,
        config=cfg,
        timings=timings,
        validation_metrics={f"{m}|{p}": v for (m, p), v in tuning.best_val.items()},
    )


@dataclass
class _Context:
    """Inputs and settings shared by every step of :func:`evaluate_recommenders`."""

    transactions: pd.DataFrame  # canonical purchase lines
    events: pd.DataFrame | None  # canonical events (or None)
    cfg: dict  # default_config() after the overrides
    models: list[str]  # models to evaluate, in MODELS order
    k: int  # recommendations per customer
    seed: int  # seed of the models and of the validation customer sample
    matrix_defaults: dict  # matrix settings every spec starts from


@dataclass
class _Tuning:
    """State of the validation search (filled model by model, then the hybrid)."""

    folds: list[dict]  # per window: start (Timestamp), cache (matrix cache), split (_Split)
    grids: dict  # (fold index, protocol) -> _BlendGrid; empty without the hybrid
    blend_names: dict  # protocol -> hybrid component names (may include "collaborative")
    candidates: list[str]  # evaluated models that may stand for "collaborative"
    chosen: dict = field(default_factory=dict)  # {model: {protocol: spec}}
    best_val: dict = field(default_factory=dict)  # {(model, protocol): validation metrics}
    rows: list[dict] = field(default_factory=list)  # validation grid, one row per setting


@dataclass
class _Holdout:
    """Refit-before-cutoff results on the holdout window."""

    matrix: InteractionMatrix  # pre-cutoff matrix, (n_customers, n_products)
    models: dict  # {model: {protocol: fitted Recommender}} (shared when the spec is shared)
    metrics: dict  # {model: {protocol: metrics at k}}
    recommendations: pd.DataFrame  # _REC_COLUMNS, one row per customer x model x protocol x rank


_REC_COLUMNS = ["customer_id", "model", "protocol", "rank", "product_id", "score"]


def _resolve_config(config: Mapping | None, k: int) -> tuple[dict, list[str]]:
    """Merge ``config`` into :func:`default_config` and check it.

    Input: the overrides (``grids`` and ``hybrid`` are merged key by key, other keys replace)
    and ``k``. Output: the full config and the models to evaluate, in ``MODELS`` order.
    Raises DataError on unknown models or ``k < 1``.
    """
    cfg = default_config()
    for key, value in dict(config or {}).items():
        if key in ("grids", "hybrid"):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    unknown = sorted(set(cfg["models"]) - set(MODELS))
    if unknown:
        raise DataError(f"config models {unknown} are not among {MODELS}.")
    models = [m for m in MODELS if m in cfg["models"]]
    if k < 1:
        raise DataError(f"k={k} must be >= 1.")
    return cfg, models


def _matrix_defaults(cfg: Mapping) -> dict:
    """Matrix settings of the config (``discontinued_after_days`` in days, event weights)."""
    return {
        "discontinued_after_days": cfg["discontinued_after_days"],
        "event_weights": cfg["event_weights"],
    }


def _tuning_context(ctx: _Context) -> _Context:
    """``ctx`` with the purchases and events of at most ``max_tuning_customers`` customers (a
    seeded sample of the ids, ``hybrid_churn.stable_sample``); ``ctx`` itself when the shop
    has no more customers than that."""
    from scoring.models.hybrid_churn import stable_sample

    limit = ctx.cfg.get("max_tuning_customers")
    customers = ctx.transactions["customer_id"]
    if limit is None or customers.nunique() <= int(limit):
        return ctx
    sample = stable_sample(customers, int(limit), ctx.seed)
    log.info("recommender validation grid on %d sampled customers", len(sample))
    events = ctx.events
    if events is not None:
        events = events.loc[events["customer_id"].isin(sample)]
    return replace(ctx, transactions=ctx.transactions.loc[customers.isin(sample)],
                   events=events)


def _start_tuning(
    ctx: _Context, cutoff: pd.Timestamp, windows: list[tuple[int, int]]
) -> _Tuning:
    """Build the validation folds and the (empty) hybrid blend grids.

    Input: ``windows`` as (offset_days, horizon_days) before ``cutoff`` (a day). Output: a
    :class:`_Tuning` with one fold per window (fit start = cutoff - offset, its matrix cache
    and its test split of at most ``max_validation_customers`` seeded customers) and, when the
    hybrid is evaluated, one :class:`_BlendGrid` per fold and protocol.
    """
    folds = []
    for offset, horizon in windows:
        start = cutoff - pd.Timedelta(days=offset)
        cache: dict = {}
        matrix = cached_matrix(cache, ctx.transactions, start, ctx.matrix_defaults, ctx.events)
        split = _test_sets(
            ctx.transactions, matrix, start, horizon, ctx.cfg["max_validation_customers"],
            ctx.seed,
        )
        folds.append({"start": start, "cache": cache, "split": split})
    hybrid_cfg = ctx.cfg["hybrid"]
    grids: dict = {}
    if "hybrid" in ctx.models:
        for i, fold in enumerate(folds):
            fill = _default_fill(fold["split"].matrix)
            for p in PROTOCOLS:
                grids[(i, p)] = _BlendGrid(fold["split"], p, fill, ctx.k)
    return _Tuning(
        folds=folds,
        grids=grids,
        blend_names={p: list(hybrid_cfg["components"].get(p, [])) for p in PROTOCOLS},
        candidates=[c for c in hybrid_cfg["collaborative_candidates"] if c in ctx.models],
    )


def _needs_blend(tuning: _Tuning, name: str, protocol: str) -> bool:
    """Whether the validation scores of model ``name`` feed the hybrid grid of ``protocol``."""
    names = tuning.blend_names[protocol]
    return name in names or ("collaborative" in names and name in tuning.candidates)


def _tune_models(ctx: _Context, tuning: _Tuning, timings: dict) -> None:
    """Validation grid of every non-hybrid model, in ``ctx.models`` order.

    Fills ``tuning`` (see :func:`_tune_model`) and ``timings["validation_<model>"]`` (wall
    seconds, 2 decimals).
    """
    for name in ctx.models:
        if name == "hybrid":
            continue
        t0 = time.perf_counter()
        _tune_model(ctx, tuning, name)
        timings[f"validation_{name}"] = round(time.perf_counter() - t0, 2)
        log.info("validation %s: %.1fs", name, timings[f"validation_{name}"])


def _tune_model(ctx: _Context, tuning: _Tuning, name: str) -> None:
    """Validate every setting of ``cfg["grids"][name]`` and choose one per protocol.

    Per protocol: the setting with the best mean validation NDCG@k (first on ties) goes to
    ``tuning.chosen[name][protocol]`` and its metrics to ``tuning.best_val``; every setting
    adds a row to ``tuning.rows``; the chosen setting's normalised scores (float32, (kept
    customers, active products) per fold) go to the hybrid grids that need them.
    """
    results = []
    for spec in ctx.cfg["grids"][name]:
        spec = _with_runtime(spec, ctx.cfg["num_threads"], ctx.seed)
        blend_protocols = tuple(
            p for p in PROTOCOLS if tuning.grids and _needs_blend(tuning, name, p)
        )
        results.append(_validate_setting(ctx, tuning.folds, spec, blend_protocols))
    for protocol in PROTOCOLS:
        best = int(np.nanargmax([r[2][protocol]["ndcg"] for r in results]))
        spec, blocks, metrics, _ = results[best]
        tuning.chosen.setdefault(name, {})[protocol] = spec
        tuning.best_val[(name, protocol)] = metrics[protocol]
        tuning.rows.extend(
            _grid_row(name, protocol, spec_key(s), mets[protocol], i == best, round(secs, 3))
            for i, (s, _, mets, secs) in enumerate(results)
        )
        if tuning.grids and _needs_blend(tuning, name, protocol):
            for i, block in enumerate(blocks):
                tuning.grids[(i, protocol)].add(name, block[protocol])


def _validate_setting(
    ctx: _Context, folds: list[dict], spec: dict, blend_protocols: tuple[str, ...]
) -> tuple[dict, list[dict], dict, float]:
    """Fit one setting on each fold and score the fold's validation customers.

    Output: (spec, blocks, metrics, seconds): ``blocks`` per fold {protocol: normalised
    scores, float32 (kept customers, active products)} for ``blend_protocols``; ``metrics``
    {protocol: metrics at k, mean over folds (n_customers summed)}; ``seconds``: total fit
    wall time over the folds.
    """
    blocks, per_window, seconds = [], [], 0.0
    for fold in folds:
        f0 = time.perf_counter()
        model = fit_recommender(
            spec,
            ctx.transactions,
            fold["start"],
            ctx.events,
            ctx.matrix_defaults,
            _cache=fold["cache"],
        )
        seconds += time.perf_counter() - f0
        mets, block = _evaluate_scores(model, fold["split"], ctx.k, blend_protocols)
        per_window.append(mets)
        blocks.append(block)
    metrics = {p: _mean_metrics([w[p] for w in per_window]) for p in PROTOCOLS}
    return spec, blocks, metrics, seconds


def _grid_row(
    model: str, protocol: str, spec: str, metrics: Mapping, chosen: bool, fit_seconds: float
) -> dict:
    """One validation grid row: model, protocol, spec (JSON), val_<metric>..., chosen,
    fit_seconds (wall seconds)."""
    return {
        "model": model,
        "protocol": protocol,
        "spec": spec,
        **{f"val_{m}": v for m, v in metrics.items()},
        "chosen": chosen,
        "fit_seconds": fit_seconds,
    }


def _hybrid_components(tuning: _Tuning, protocol: str) -> list[str]:
    """Validated components of the hybrid for ``protocol``, in config order, without
    duplicates ("collaborative" = the candidate with the best validation NDCG@k)."""
    best_val = tuning.best_val
    names = []
    for n in tuning.blend_names[protocol]:
        if n == "collaborative":
            scored = [c for c in tuning.candidates if (c, protocol) in best_val]
            if scored:
                names.append(max(scored, key=lambda c: best_val[(c, protocol)]["ndcg"]))
        elif (n, protocol) in best_val:
            names.append(n)
    return list(dict.fromkeys(names))


def _tune_hybrid(ctx: _Context, tuning: _Tuning, protocol: str) -> None:
    """Search the hybrid weights of ``protocol`` on the simplex grid (``weight_step``).

    Each weight vector is scored by the blend grids (mean over folds); the best by validation
    NDCG@k (first on ties) becomes ``tuning.chosen["hybrid"][protocol]`` (non-zero weights and
    the chosen component specs). Every vector adds a row to ``tuning.rows``. No components:
    nothing is chosen.
    """
    names = _hybrid_components(tuning, protocol)
    if not names:
        return
    results = []
    for weights in _weight_grid(len(names), ctx.cfg["hybrid"]["weight_step"]):
        w = dict(zip(names, weights, strict=True))
        per_window = [tuning.grids[(i, protocol)].metrics(w) for i in range(len(tuning.folds))]
        results.append((w, _mean_metrics(per_window)))
    best = int(np.nanargmax([r[1]["ndcg"] for r in results]))
    weights = {n: w for n, w in results[best][0].items() if w > 0}
    tuning.chosen.setdefault("hybrid", {})[protocol] = {
        "model": "hybrid",
        "weights": weights,
        "components": {n: tuning.chosen[n][protocol] for n in weights},
    }
    tuning.best_val[("hybrid", protocol)] = results[best][1]
    tuning.rows.extend(
        _grid_row("hybrid", protocol, json.dumps({"weights": w}), mets, i == best, 0.0)
        for i, (w, mets) in enumerate(results)
    )


def _shipped_models(models: list[str], best_val: Mapping) -> dict:
    """{protocol: model with the best validation NDCG@k} (NaN counts as -1; first on ties)."""
    shipped = {}
    for protocol in PROTOCOLS:
        scored = [m for m in models if (m, protocol) in best_val]
        shipped[protocol] = max(
            scored, key=lambda m: np.nan_to_num(best_val[(m, protocol)]["ndcg"], nan=-1.0)
        )
    return shipped


def _evaluate_holdout(
    ctx: _Context, cutoff: pd.Timestamp, holdout_days: int, chosen: Mapping
) -> _Holdout:
    """Refit each chosen spec on everything before ``cutoff`` (once per distinct spec) and
    evaluate it on ``[cutoff, cutoff + holdout_days)`` (days) for its protocol.

    Output: a :class:`_Holdout` (models, metrics, recommendations in model x protocol order).
    """
    fit_cache: dict = {}
    fit_matrix = cached_matrix(fit_cache, ctx.transactions, cutoff, ctx.matrix_defaults,
                               ctx.events)
    split = _test_sets(ctx.transactions, fit_matrix, cutoff, holdout_days,
                       ctx.cfg["max_holdout_customers"], ctx.seed)
    fitted_models: dict = {}
    by_spec: dict = {}
    metrics: dict = {}
    frames = []
    for name in ctx.models:
        for protocol in PROTOCOLS:
            if protocol not in chosen.get(name, {}):
                continue
            spec = chosen[name][protocol]
            key = spec_key(spec)
            if key not in by_spec:
                by_spec[key] = fit_recommender(
                    spec, ctx.transactions, cutoff, ctx.events, ctx.matrix_defaults,
                    _cache=fit_cache, _fitted=by_spec,  # the hybrid reuses its components
                )
            model = by_spec[key]
            fitted_models.setdefault(name, {})[protocol] = model
            mets, recs = _recommend_and_score(model, split, protocol, ctx.k)
            metrics.setdefault(name, {})[protocol] = mets
            # categorical labels (one byte a row, not a string): at 1M customers the frame
            # holds tens of millions of rows
            frames.append(recs.assign(
                model=pd.Categorical([name] * len(recs), categories=list(ctx.models)),
                protocol=pd.Categorical([protocol] * len(recs), categories=list(PROTOCOLS))))
    recommendations = (
        pd.concat(frames, ignore_index=True)[_REC_COLUMNS]
        if frames
        else pd.DataFrame(columns=_REC_COLUMNS)
    )
    return _Holdout(fit_matrix, fitted_models, metrics, recommendations)


def fitted_recommender_metrics(
    model: Recommender,
    transactions: pd.DataFrame,
    cutoff,
    holdout_days: int,
    k: int = 10,
    events: pd.DataFrame | None = None,
    seed: int = 0,
    max_customers: int | None = None,
) -> dict:
    """Holdout metrics at ``k`` of a recommender already fitted before ``cutoff`` (the
    shipped scorer's, ``scorer_eval``), per protocol, by the protocol of the module docstring.

    The test customers and products come from the matrix of ``transactions`` before
    ``cutoff`` built with the model's own matrix settings (its catalogue); at most
    ``max_customers`` of them (default: ``max_holdout_customers`` of :func:`default_config`;
    a sample seeded by ``seed``, the one :func:`evaluate_recommenders` draws from the same
    matrix). Output: {protocol: ranking metrics at k}. Raises DataError when nobody bought in
    the window.
    """
    if max_customers is None:
        max_customers = default_config()["max_holdout_customers"]
    cutoff = pd.Timestamp(cutoff).normalize()
    matrix = cached_matrix({}, transactions, cutoff, getattr(model, "matrix_settings_", None),
                           events)
    split = _test_sets(transactions, matrix, cutoff, holdout_days, max_customers, seed)
    return {p: _recommend_and_score(model, split, p, k)[0] for p in PROTOCOLS}


def _default_fill(matrix: InteractionMatrix) -> np.ndarray:
    """The popularity fill a HybridRecommender with default cold start uses."""
    return model_from_spec({"model": "popularity", "params": {}}).fit(matrix)._fill_key()


# ------------------------------------------------------------------------------ MLflow
def _flat_params(spec: Mapping, prefix: str = "") -> dict:
    """Nested spec -> flat {"a.b.c": value} params (None logged as "None")."""
    out = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat_params(value, f"{name}."))
        else:
            out[name] = "None" if value is None else value
    return out


_LOGGED_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")


def log_recommender_runs(
    evaluation: RecommenderEvaluation, hybrid_runs_per_protocol: int = 10, tracker=None
) -> dict[str, str]:
    """Log the evaluation as nested runs under the active run of ``tracker`` (a
    ``scoring.tracking.Tracker``; default MLflow, which needs an active run;
    ``NullTracker()`` logs nothing and needs none).

    * one child run per model x validation setting (params of the setting, validation metrics
      per protocol such as ``val_ndcg_at_10_repurchase``, tag ``chosen=true`` on the chosen
      setting(s) and ``chosen_<protocol>``); for the hybrid only the best
      ``hybrid_runs_per_protocol`` weight settings per protocol (the full grid is the
      ``validation_grid.csv`` artifact of the parent run);
    * one child run per final model (refitted before the cutoff) with the holdout metrics
      (``ndcg_at_10_repurchase``, ``coverage_at_10_new_items``, ...), tag ``shipped_<protocol>``
      and the fitted model(s) saved as ``.npz`` artifacts under ``model/``.

    Nothing personal is logged (no customer ids). Returns {run name: run id} of the children.
    """
    from scoring.tracking import current_tracker

    tracker = current_tracker(tracker)
    if tracker.active_run() is None:
        raise RuntimeError("log_recommender_runs needs an active MLflow run (the parent run).")
    grid = pd.DataFrame(evaluation.validation)
    _log_parent(tracker, evaluation, grid)
    run_ids: dict[str, str] = {}
    if not grid.empty:
        run_ids |= _log_validation_runs(tracker, grid, evaluation.k, hybrid_runs_per_protocol)
    run_ids |= _log_final_runs(tracker, evaluation)
    return run_ids


def _log_child(
    tracker, name: str, tags: dict, params: dict, metrics: dict, artifacts=()
) -> str:
    """One nested run: params as strings, metrics as floats, ``artifacts`` (paths) under
    ``model/``. Returns its run id."""
    with tracker.start_run(name, tags=tags, nested=True) as run:
        tracker.log_params({key: str(value) for key, value in params.items()})
        tracker.log_metrics({key: float(value) for key, value in metrics.items()})
        for path in artifacts:
            tracker.log_artifact(path, artifact_path="model")
        return run.info.run_id


def _log_parent(tracker, evaluation: RecommenderEvaluation, grid: pd.DataFrame) -> None:
    """On the parent run: the full validation grid as ``validation_grid.csv`` and the
    ``reco_*`` params (cutoffs, holdout days, k, matrix shape, shipped model per protocol)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "validation_grid.csv"
        grid.to_csv(path, index=False)
        tracker.log_artifact(path)
    tracker.log_params(
        {
            "reco_cutoff": evaluation.cutoff,
            "reco_validation_cutoffs": ",".join(evaluation.validation_cutoffs),
            "reco_holdout_days": evaluation.holdout_days,
            "reco_k": evaluation.k,
            "reco_matrix_shape": f"{evaluation.matrix_shape[0]}x{evaluation.matrix_shape[1]}",
            **{f"reco_shipped_{p}": m for p, m in evaluation.shipped.items()},
        }
    )


def _logged_grid(grid: pd.DataFrame, hybrid_runs_per_protocol: int) -> pd.DataFrame:
    """The validation rows that get a run: all settings of the models, and the best
    ``hybrid_runs_per_protocol`` hybrid weight vectors per protocol (by val_ndcg, stable)."""
    keep = []
    for (model, _protocol), rows in grid.groupby(["model", "protocol"], sort=False):
        if model == "hybrid":
            rows = rows.sort_values("val_ndcg", ascending=False, kind="stable").head(
                hybrid_runs_per_protocol
            )
        keep.append(rows)
    return pd.concat(keep)


def _log_validation_runs(
    tracker, grid: pd.DataFrame, k: int, hybrid_runs_per_protocol: int
) -> dict[str, str]:
    """One run ``val-<model>-<i>`` per (model, spec) of the logged grid, with the metrics of
    both protocols. Returns {run name: run id}."""
    run_ids: dict[str, str] = {}
    grid = _logged_grid(grid, hybrid_runs_per_protocol)
    for (model, spec), rows in grid.groupby(["model", "spec"], sort=False):
        name = f"val-{model}-{len(run_ids)}"
        tags = {
            "stage": "recommender_validation",
            "model": model,
            "chosen": str(bool(rows["chosen"].any())).lower(),
            **{
                f"chosen_{p}": str(bool(c)).lower()
                for p, c in zip(rows["protocol"], rows["chosen"], strict=True)
            },
        }
        metrics = _validation_run_metrics(rows, k)
        run_ids[name] = _log_child(tracker, name, tags, _flat_params(json.loads(spec)), metrics)
    return run_ids


def _validation_run_metrics(rows: pd.DataFrame, k: int) -> dict:
    """Validation metrics of one setting: ``val_<metric>_at_<k>_<protocol>`` (non-missing
    ones) and ``val_n_customers_<protocol>``, for its rows (one per protocol)."""
    metrics = {}
    for row in rows.to_dict("records"):
        p = row["protocol"]
        metrics |= {
            f"val_{m}_at_{k}_{p}": row[f"val_{m}"]
            for m in _LOGGED_METRICS
            if pd.notna(row[f"val_{m}"])
        }
        metrics[f"val_n_customers_{p}"] = row["val_n_customers"]
    return metrics


def _log_final_runs(tracker, evaluation: RecommenderEvaluation) -> dict[str, str]:
    """One run ``final-<model>`` per model: chosen specs (``<protocol>.`` params), holdout
    metrics of both protocols, ``shipped_<protocol>`` tags, fitted models as ``.npz``
    artifacts. Returns {run name: run id}."""
    k = evaluation.k
    run_ids: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model, by_protocol in evaluation.metrics.items():
            name = f"final-{model}"
            tags = {
                "stage": "recommender_holdout",
                "model": model,
                **{f"shipped_{p}": str(m == model).lower() for p, m in evaluation.shipped.items()},
            }
            params = {}
            for protocol, spec in evaluation.chosen_params.get(model, {}).items():
                params |= _flat_params(spec, f"{protocol}.")
            metrics = {}
            for protocol, vals in by_protocol.items():
                metrics |= {
                    f"{m}_at_{k}_{protocol}": vals[m] for m in _LOGGED_METRICS if pd.notna(vals[m])
                }
                metrics[f"n_customers_{protocol}"] = vals["n_customers"]
            paths = _save_fitted(evaluation.models.get(model, {}), model, Path(tmp))
            run_ids[name] = _log_child(tracker, name, tags, params, metrics, paths)
    return run_ids


def _save_fitted(fitted_models: Mapping, model: str, directory: Path) -> list:
    """Save each distinct fitted model of ``{protocol: model}`` once, as
    ``<model>_<protocols joined by _>.npz`` in ``directory``. Returns the saved paths."""
    paths, saved = [], set()
    for fitted in fitted_models.values():
        if id(fitted) not in saved:
            saved.add(id(fitted))
            protocols = "_".join(p for p, f in fitted_models.items() if f is fitted)
            paths.append(fitted.save(directory / f"{model}_{protocols}.npz"))
    return paths
