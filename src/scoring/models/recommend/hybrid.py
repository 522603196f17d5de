"""Hybrid: a weighted blend of recommenders (buy again + collaborative + recent popularity)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scoring.data.errors import DataError

from .base import Recommender
from .buy_again import BuyAgainRecommender
from .collaborative import ItemKNNRecommender
from .matrix import InteractionMatrix
from .popularity import PopularityColdStart, PopularityRecommender


def normalise_scores(scores: np.ndarray) -> np.ndarray:
    """Per-customer scaling to [0, 1]: negative scores -> 0, then divide by the row maximum.

    ``scores``: (n_customers, n_products). Rows without a positive score stay 0.
    """
    out = np.maximum(np.asarray(scores, dtype=np.float64), 0.0)
    top = out.max(axis=1, keepdims=True)
    top[top == 0] = 1.0
    return out / top


class HybridRecommender(PopularityColdStart, Recommender):
    """Score = sum_c weights[c] * normalise_scores(component c's scores).

    Each component's scores are scaled per customer to [0, 1] (negative -> 0, divided by the
    customer's best score) before blending, so weights are comparable across models. Slots
    with a zero blended score are filled by popularity. The weights are chosen on a
    validation window before the cutoff (see ``scoring.evaluation.recommend_eval``).

    Parameters
    ----------
    components : dict name -> Recommender, optional
        Unfitted templates (copied at fit). Default: buy again (180-day half-life) and BM25
        item-kNN.
    weights : dict name -> float, optional
        Blend weights (>= 0, not all 0); default equal weights.
    cold_start : PopularityRecommender, optional
        Answer for customers unknown to the model and fill of empty slots.

    Fitted attributes
    -----------------
    components_ : dict name -> fitted Recommender
    """

    spec_name = "hybrid"
    sparse_scores = True

    def __init__(
        self,
        components: Mapping[str, Recommender] | None = None,
        weights: Mapping[str, float] | None = None,
        cold_start: PopularityRecommender | None = None,
    ):
        self.components = components
        self.weights = weights
        self.cold_start = cold_start

    def _templates(self) -> dict[str, Recommender]:
        if self.components is None:
            return {
                "buy_again": BuyAgainRecommender(half_life_days=180.0),
                "collaborative": ItemKNNRecommender(weighting="bm25", K=100),
            }
        return dict(self.components)

    def _weights(self) -> dict[str, float]:
        names = list(self._templates())
        weights = (
            {n: 1.0 / len(names) for n in names} if self.weights is None else dict(self.weights)
        )
        unknown = set(weights) - set(names)
        if unknown or not names:
            raise DataError(
                f"HybridRecommender weights name component(s) {sorted(unknown)} that are not in "
                f"components {names}."
            )
        values = np.array([weights.get(n, 0.0) for n in names], dtype=float)
        if (values < 0).any() or values.sum() <= 0:
            raise DataError(f"HybridRecommender weights must be >= 0 and not all 0, got {weights}.")
        return {n: float(weights.get(n, 0.0)) for n in names}

    def fit(
        self,
        matrix: InteractionMatrix,
        component_matrices: Mapping[str, InteractionMatrix] | None = None,
        fitted_components: Mapping[str, Recommender] | None = None,
    ) -> HybridRecommender:
        """Fit every component (on ``component_matrices[name]`` when given, e.g. a matrix with
        a time decay for the collaborative part, else on ``matrix``); returns self.

        All matrices must share the catalogue (same transactions and cutoff).
        ``fitted_components``: name -> a model already fitted on that component's matrix with
        that component's parameters (e.g. the same setting evaluated on its own), used as it
        is instead of a second fit; DataError when its parameters, catalogue, cutoff or matrix
        settings differ.
        """
        self._component_matrices = dict(component_matrices or {})
        self._fitted_components = dict(fitted_components or {})
        try:
            return super().fit(matrix)
        finally:
            self._component_matrices = {}
            self._fitted_components = {}

    def _reused(self, name: str, template: Recommender, matrix: InteractionMatrix):
        """The given fitted model of component ``name`` (None when none was given), checked to
        be what fitting ``template`` on ``matrix`` would give."""
        model = self._fitted_components.get(name)
        if model is None:
            return None
        same = (type(model) is type(template)
                and repr(model.get_params()) == repr(template.get_params())
                and getattr(model, "cutoff_", None) == str(pd.Timestamp(matrix.cutoff).date())
                and getattr(model, "matrix_settings_", None) == dict(matrix.settings)
                and np.array_equal(getattr(model, "product_ids_", []), self.product_ids_))
        if not same:
            raise DataError(
                f"HybridRecommender: the fitted component {name!r} ({model!r}) was not fitted "
                f"with the component's parameters ({template!r}) on its matrix; fit it again.")
        return model

    def _fit(self, matrix: InteractionMatrix) -> None:
        weights = self._weights()
        fitted = {}
        for name, template in self._templates().items():
            if weights[name] == 0:
                continue
            m = self._component_matrices.get(name, matrix)
            if not np.array_equal(np.asarray(m.product_ids, dtype=str), self.product_ids_):
                raise DataError(
                    f"HybridRecommender: the matrix of component {name!r} has a different "
                    "catalogue; build all matrices from the same transactions and cutoff."
                )
            reused = self._reused(name, template, m)
            fitted[name] = reused if reused is not None else copy.deepcopy(template).fit(m)
        self.components_ = fitted

    def _set_user_state(self, matrix: InteractionMatrix) -> None:
        raise NotImplementedError("HybridRecommender updates its components in _apply_history")

    def _apply_history(self, matrix: InteractionMatrix, transactions, cutoff, events, cache):
        """Own rows from ``matrix`` (its fitted settings); each component's ``with_history``
        on its own fitted settings (matrices with equal settings are built once)."""
        self.customer_ids_ = np.asarray(matrix.customer_ids, dtype=str)
        self.bought_ = sp.csr_matrix(matrix.order_counts, dtype=np.float32)
        self.components_ = {
            name: model._with_history(transactions, cutoff, events, cache)
            for name, model in self.components_.items()
        }

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        ids = self.customer_ids_[rows]
        weights = self._weights()
        total = np.zeros((len(rows), len(self.product_ids_)))
        for name, model in self.components_.items():
            total += weights[name] * normalise_scores(model.score_products(ids))
        return total
