"""Implicit-feedback product recommenders (popularity, buy again, ALS, BPR, item-kNN, hybrid).

Typical use::

    from scoring.models.recommend import build_interaction_matrix, ItemKNNRecommender
    matrix = build_interaction_matrix(shop.transactions, cutoff="2011-06-09")
    model = ItemKNNRecommender(weighting="bm25", K=100).fit(matrix)
    top10 = model.recommend(customer_ids, n=10, filter_already_bought=True)
    # later: same fitted model, customers' histories up to the scoring day
    later = model.with_history(transactions, cutoff=as_of + pd.Timedelta(days=1))
"""

from scoring._kernels.topn import topn_dense

from .base import Recommender, load_recommender, recommender_class, registered_models
from .buy_again import BuyAgainRecommender
from .collaborative import (
    ALSRecommender,
    BPRRecommender,
    ItemKNNRecommender,
    explain_recommendations,
)
from .hybrid import HybridRecommender
from .matrix import InteractionMatrix, build_interaction_matrix, product_names
from .popularity import PopularityRecommender

__all__ = [
    "ALSRecommender",
    "BPRRecommender",
    "BuyAgainRecommender",
    "HybridRecommender",
    "InteractionMatrix",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "Recommender",
    "build_interaction_matrix",
    "explain_recommendations",
    "load_recommender",
    "product_names",
    "recommender_class",
    "registered_models",
    "topn_dense",
]
