"""Buy again: the customer's own products, by purchase frequency and recency."""

from __future__ import annotations

import numpy as np

from scoring.data.errors import DataError

from .base import Recommender
from .matrix import InteractionMatrix
from .popularity import PopularityColdStart, PopularityRecommender


class BuyAgainRecommender(PopularityColdStart, Recommender):
    """Score of a bought product = orders containing it x 0.5 ** (days since last / half-life).

    Slots the customer's own history cannot fill (few products bought, or
    ``filter_already_bought=True``) are filled by popularity (score 0 in the output).

    Parameters
    ----------
    half_life_days : float or None
        Recency half-life in days; None ranks by order count only (ties: most recent first).
    cold_start : PopularityRecommender, optional
        Template for the popularity fill and cold-start answer (default: 90-day popularity).

    Fitted attributes
    -----------------
    scores_matrix_ : csr_matrix float32 (n_customers, n_products)  buy-again score per bought cell
    """

    spec_name = "buy_again"
    sparse_scores = True

    def __init__(
        self,
        half_life_days: float | None = 90.0,
        cold_start: PopularityRecommender | None = None,
    ):
        self.half_life_days = half_life_days
        self.cold_start = cold_start

    def _fit(self, matrix: InteractionMatrix) -> None:
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise DataError(f"half_life_days={self.half_life_days!r} must be > 0 (days) or None.")
        self._set_user_state(matrix)

    def _set_user_state(self, matrix: InteractionMatrix) -> None:
        """Buy-again score of every bought cell of ``matrix`` (days to its cutoff)."""
        counts = matrix.order_counts.tocsr()
        days = matrix.days_since_last_purchase.tocsr()
        if not (
            np.array_equal(counts.indptr, days.indptr)
            and np.array_equal(counts.indices, days.indices)
        ):
            raise DataError(
                "order_counts and days_since_last_purchase must share one sparsity pattern."
            )
        scores = counts.astype(np.float64, copy=True)
        if self.half_life_days is None:
            # order count first, recency as a tie-break below one order
            scores.data = scores.data + 0.5 / (1.0 + days.data)
        else:
            scores.data = scores.data * np.power(0.5, days.data / self.half_life_days)
        self.scores_matrix_ = scores.astype(np.float32)

    _has_sparse_scores = True

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.scores_matrix_[rows].toarray()

    def _sparse_score_rows(self, rows: np.ndarray):
        return self.scores_matrix_[rows]
