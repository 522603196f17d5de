"""Recommender specs: a JSON-able description of a model and the matrix it is fitted on.

A spec is what :func:`scoring.evaluation.recommend_eval.evaluate_recommenders` chooses on the
validation window (``RecommenderEvaluation.specs``); :func:`fit_recommender` refits it on any
shop and cutoff, e.g. at scoring time::

    {"model": "als", "params": {"factors": 64, "alpha": 1.0},
     "matrix": {"weighting": "orders", "half_life_days": 90}}
    {"model": "hybrid", "weights": {"buy_again": 0.6, "collaborative": 0.3, "popularity": 0.1},
     "components": {"buy_again": {...spec...}, "collaborative": {...}, "popularity": {...}}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pandas as pd

from scoring.data.errors import DataError

from .base import Recommender, registered_models
from .hybrid import HybridRecommender
from .matrix import InteractionMatrix, cached_matrix


def model_from_spec(spec: Mapping) -> Recommender:
    """Unfitted model of a spec (hybrid: with unfitted components)."""
    kind = spec.get("model")
    classes = registered_models()  # spec name -> class (``Recommender.spec_name``)
    if kind not in classes:
        raise DataError(f"spec model {kind!r} is not one of {sorted(classes)}.")
    if kind == HybridRecommender.spec_name:
        components = {n: model_from_spec(s) for n, s in spec["components"].items()}
        return HybridRecommender(components=components, weights=dict(spec["weights"]))
    return classes[kind](**dict(spec.get("params", {})))


def spec_key(spec: Mapping) -> str:
    """A spec as canonical JSON (sorted keys): equal keys, equal models."""
    return json.dumps(spec, sort_keys=True, default=str)


def fit_recommender(
    spec: Mapping,
    transactions: pd.DataFrame,
    cutoff,
    events: pd.DataFrame | None = None,
    matrix_defaults: Mapping | None = None,
    _cache: dict | None = None,
    _fitted: Mapping[str, Recommender] | None = None,
) -> Recommender:
    """Build the matrices a spec needs (purchases before ``cutoff``) and fit the model.

    ``matrix_defaults`` (e.g. ``{"discontinued_after_days": 90}``) apply under each spec's
    own ``matrix`` settings. ``_cache``: a :func:`~.matrix.cached_matrix` cache shared by
    calls with the same transactions, cutoff and events (e.g. a validation grid).
    ``_fitted``: {:func:`spec_key`: model} already fitted by such calls; a hybrid uses the
    ones among its components instead of fitting them again (the evaluation's holdout fits
    ALS on a 1M-customer shop once, not once more inside the hybrid).
    """
    cache = {} if _cache is None else _cache
    defaults = dict(matrix_defaults or {})

    def matrix_for(settings: Mapping | None) -> InteractionMatrix:
        merged = {**defaults, **dict(settings or {})}
        return cached_matrix(cache, transactions, cutoff, merged, events)

    model = model_from_spec(spec)
    if spec["model"] == "hybrid":
        mats = {n: matrix_for(s.get("matrix")) for n, s in spec["components"].items()}
        base = matrix_for(spec.get("matrix"))
        fitted = {n: _fitted[spec_key(s)] for n, s in spec["components"].items()
                  if _fitted and spec_key(s) in _fitted}
        return model.fit(base, component_matrices=mats, fitted_components=fitted)
    return model.fit(matrix_for(spec.get("matrix")))
