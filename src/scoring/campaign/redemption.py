"""Probability that an offered bonus is redeemed (paid), per customer and treatment arm.

A bonus costs money only when the customer orders with it, so the allocation charges
``bonus * P(redeem)``. The campaign's outcomes give that probability directly: a treated
customer who converted in the window redeemed (``outcomes.bonus_cost``). One LightGBM
classifier on the treated rows, with the arm's bonus multiplier as a feature, predicts it for
every arm; it shares :class:`~scoring.campaign.uplift.UpliftModel`'s feature design.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import CONTROL_ARM
from .uplift import (
    feature_matrix,
    fitted_categories,
    uplift_features,
    with_derived_features,
)


class RedemptionModel(BaseEstimator):
    """``P(convert | x, treated in arm a)`` for every treatment arm.

    Parameters: LightGBM's ``n_estimators``, ``learning_rate``, ``num_leaves``,
    ``min_child_samples``, ``random_state``; ``control_arm``; ``features`` (default: the
    :func:`~scoring.campaign.uplift.uplift_features` present).
    Fitted: ``arms_`` (treatment arm names, sorted), ``multipliers_`` {arm: bonus multiplier},
    ``feature_names_``, ``categories_``, ``model_``.
    """

    def __init__(self, n_estimators: int = 100, learning_rate: float = 0.05,
                 num_leaves: int = 15, min_child_samples: int = 50, random_state: int = 0,
                 control_arm: str = CONTROL_ARM, features: Sequence[str] | None = None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.control_arm = control_arm
        self.features = features

    def _design(self, X: pd.DataFrame, multiplier: np.ndarray) -> pd.DataFrame:
        """The uplift model's feature matrix plus the arm's ``bonus_multiplier``."""
        design = feature_matrix(with_derived_features(X), self.feature_names_, self.categories_)
        return design.assign(bonus_multiplier=multiplier)

    def fit(self, X: pd.DataFrame, arm, converted, multipliers: Mapping[str, float]
            ) -> RedemptionModel:
        """``X``: (n, features) outcomes table; ``arm``: (n,) arm names; ``converted``: (n,)
        bool (any order in the window); ``multipliers``: bonus multiplier per arm name."""
        from lightgbm import LGBMClassifier

        arm = np.asarray(arm, dtype=object).astype(str)
        treated = arm != self.control_arm
        if treated.sum() == 0:
            raise ValueError("RedemptionModel: no treated customer to learn redemption from")
        self.arms_ = sorted(set(arm[treated]))
        self.multipliers_ = {a: float(multipliers[a]) for a in self.arms_}
        X = with_derived_features(X)
        self.feature_names_ = list(self.features or uplift_features(X))
        self.categories_ = fitted_categories(X, self.feature_names_)
        rows = X.loc[treated]
        m = np.array([self.multipliers_[a] for a in arm[treated]])
        self.model_ = LGBMClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            random_state=self.random_state, n_jobs=1, verbose=-1,
        ).fit(self._design(rows, m), np.asarray(converted, dtype=bool)[treated])
        return self

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """(n, arms) probabilities in [0, 1], index of ``X``, one column per arm."""
        check_is_fitted(self, "model_")
        columns = {}
        for a in self.arms_:
            design = self._design(X, np.full(len(X), self.multipliers_[a]))
            columns[a] = self.model_.predict_proba(design)[:, 1]
        return pd.DataFrame(columns, index=X.index)
