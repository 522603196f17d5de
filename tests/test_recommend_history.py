"""Recommenders scoring later histories (``with_history``) on real and synthetic shops.

Models are fitted at FIT_CUTOFF and re-pointed at the purchases before HISTORY_CUTOFF, as the
batch scorer does when it scores a later as-of date with a model fitted earlier.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scoring.data import load_dataset
from scoring.data.errors import DataError
from scoring.models.recommend import (
    ALSRecommender,
    BPRRecommender,
    BuyAgainRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    build_interaction_matrix,
)
from scoring.models.recommend.hybrid import HybridRecommender
from scoring.models.recommend.matrix import bm25_weight, tfidf_weight
from scoring.models.recommend.spec import fit_recommender

FIT_CUTOFF = pd.Timestamp("2011-03-01")
HISTORY_CUTOFF = pd.Timestamp("2011-06-01")


@pytest.fixture(scope="module")
def transactions(online_retail_sample) -> pd.DataFrame:
    """Online Retail II, 700 sampled customers, purchases before HISTORY_CUTOFF."""
    return online_retail_sample(700, seed=11, end=HISTORY_CUTOFF)


@pytest.fixture(scope="module")
def matrix(transactions):
    return build_interaction_matrix(transactions, FIT_CUTOFF, weighting="bm25", half_life_days=90)


def all_models() -> dict[str, Recommender]:
    return {
        "popularity": PopularityRecommender(window_days=30),
        "buy_again": BuyAgainRecommender(half_life_days=90),
        "als": ALSRecommender(factors=16, iterations=5, num_threads=1, random_state=0),
        "bpr": BPRRecommender(factors=16, iterations=20, num_threads=1, random_state=0),
        "knn": ItemKNNRecommender(weighting="cosine", K=50),
        "hybrid": HybridRecommender(
            components={
                "buy_again": BuyAgainRecommender(),
                "knn": ItemKNNRecommender(weighting="bm25", K=50),
                "als": ALSRecommender(factors=8, iterations=3, random_state=0),
                "popularity": PopularityRecommender(window_days=30),
            },
            weights={"buy_again": 0.5, "knn": 0.2, "als": 0.2, "popularity": 0.1},
        ),
    }


@pytest.fixture(scope="module")
def fitted(matrix):
    return {name: model.fit(matrix) for name, model in all_models().items()}


@pytest.fixture(scope="module")
def updated(fitted, transactions):
    return {
        name: model.with_history(transactions, HISTORY_CUTOFF) for name, model in fitted.items()
    }


def _lists(recs: pd.DataFrame) -> pd.Series:
    return recs.groupby("customer_id", sort=False)["product_id"].agg(list)


# ---------------------------------------------------------------------------- matrix
def test_weightings_match_implicit_and_freeze_product_statistics(transactions):
    from implicit.nearest_neighbours import bm25_weight as implicit_bm25
    from implicit.nearest_neighbours import tfidf_weight as implicit_tfidf

    raw = build_interaction_matrix(transactions, FIT_CUTOFF).user_items
    ours, norm = bm25_weight(raw, 1.2, 0.75)
    theirs = sp.csr_matrix(implicit_bm25(raw.T, K1=1.2, B=0.75).T)
    assert abs(ours - theirs).max() == 0
    assert abs(tfidf_weight(raw) - sp.csr_matrix(implicit_tfidf(raw.T).T)).max() == 0
    # rows of a subset, weighted with the frozen product normalisation, are the full rows
    rows = np.arange(0, raw.shape[0], 5)
    subset, _ = bm25_weight(raw[rows], 1.2, 0.75, norm)
    assert abs(subset - ours[rows]).max() == 0


def test_history_matrix_uses_the_fitted_catalogue(transactions, matrix):
    extra = transactions.iloc[:3].assign(
        product_id="NEW-SKU",
        customer_id="NEW-CUSTOMER",
        timestamp=HISTORY_CUTOFF - pd.Timedelta(days=2),
    )
    later = build_interaction_matrix(
        pd.concat([transactions, extra], ignore_index=True),
        HISTORY_CUTOFF,
        catalogue=matrix.product_ids,
        bm25_length_norm=matrix.bm25_length_norm,
        **matrix.settings,
    )
    assert np.array_equal(later.product_ids, matrix.product_ids)
    assert "NEW-CUSTOMER" not in later.customer_ids  # only an unknown product: cold start
    assert later.n_customers > matrix.n_customers  # customers who first bought after the fit
    empty = build_interaction_matrix(
        transactions.iloc[:0],
        HISTORY_CUTOFF,
        catalogue=matrix.product_ids,
        bm25_length_norm=matrix.bm25_length_norm,
        **matrix.settings,
    )
    assert empty.shape == (0, matrix.n_products)


# ---------------------------------------------------------------------- consistency
@pytest.mark.parametrize("name", list(all_models()))
def test_same_history_recommends_exactly_the_fitted_model(fitted, transactions, name):
    model = fitted[name]
    same = model.with_history(transactions, FIT_CUTOFF)
    assert same.history_cutoff_ == model.cutoff_ == "2011-03-01"
    assert np.array_equal(same.customer_ids_, model.customer_ids_)
    ids = np.concatenate([model.customer_ids_, ["NOT-A-CUSTOMER"]])
    for flag in (False, True):
        expected = model.recommend(ids, n=10, filter_already_bought=flag)
        pd.testing.assert_frame_equal(
            same.recommend(ids, n=10, filter_already_bought=flag), expected
        )


@pytest.mark.parametrize("name", list(all_models()))
def test_item_side_is_kept(fitted, updated, name):
    model, later = fitted[name], updated[name]
    assert later.history_cutoff_ == "2011-06-01" and later.cutoff_ == "2011-03-01"
    assert later.product_ids_ is model.product_ids_
    assert later.active_products_ is model.active_products_
    assert later._cold_start_model() is model._cold_start_model() or name == "popularity"
    for attr in ("item_factors_", "similarity_", "scores_"):
        if hasattr(model, attr):
            assert getattr(later, attr) is getattr(model, attr)
    # the fitted model is untouched
    assert model.history_cutoff_ == "2011-03-01"
    assert model.bought_.shape[0] == len(model.customer_ids_)


# ------------------------------------------------------------------ partition invariance
@pytest.mark.parametrize("name", list(all_models()))
def test_recommendations_do_not_depend_on_the_other_customers(fitted, updated, transactions, name):
    model, full = fitted[name], updated[name]
    everyone = np.sort(transactions["customer_id"].unique().to_numpy(dtype=str))
    subset = np.random.default_rng(0).choice(everyone, size=120, replace=False)
    part = model.with_history(
        transactions.loc[transactions["customer_id"].isin(subset)], HISTORY_CUTOFF
    )
    for flag in (False, True):
        pd.testing.assert_frame_equal(
            part.recommend(subset, n=8, filter_already_bought=flag),
            full.recommend(subset, n=8, filter_already_bought=flag),
        )


# --------------------------------------------------------------------- new behaviour
def _bought_after_fit(transactions, model):
    """(customer, product) pairs first bought between the fit and the history cutoff by
    customers known at fit, for active products."""
    before = transactions.loc[transactions["timestamp"] < FIT_CUTOFF]
    after = transactions.loc[transactions["timestamp"] >= FIT_CUTOFF]
    pairs = after[["customer_id", "product_id"]].drop_duplicates()
    old = before[["customer_id", "product_id"]].drop_duplicates().assign(old=True)
    pairs = pairs.merge(old, how="left", on=["customer_id", "product_id"])
    pairs = pairs.loc[pairs["old"].isna() & pairs["customer_id"].isin(model.customer_ids_)]
    active = pd.Series(model.active_products_, index=model.product_ids_)
    return pairs.loc[pairs["product_id"].map(active).fillna(False).astype(bool)]


def test_a_purchase_after_the_fit_enters_the_buy_again_list(fitted, updated, transactions):
    model, later = fitted["buy_again"], updated["buy_again"]
    pairs = _bought_after_fit(transactions, model)
    assert len(pairs) > 100
    cols = pd.Index(model.product_ids_).get_indexer(pairs["product_id"].astype(str))
    old = model.score_products(pairs["customer_id"].astype(str))[np.arange(len(pairs)), cols]
    new = later.score_products(pairs["customer_id"].astype(str))[np.arange(len(pairs)), cols]
    assert (old == 0).all() and (new > 0).all()
    # a customer with few products: the new one is now in the list, and filtered when asked
    counts = np.diff(later.bought_.indptr)
    small = pd.Series(counts, index=later.customer_ids_).reindex(pairs["customer_id"].astype(str))
    pick = pairs.iloc[int(np.argmin(small.to_numpy()))]
    customer, product = str(pick["customer_id"]), str(pick["product_id"])
    n = int(small.min()) + 1
    assert product not in set(model.recommend([customer], n=n)["product_id"])
    assert product in set(later.recommend([customer], n=n)["product_id"])
    assert product not in set(
        later.recommend([customer], n=n, filter_already_bought=True)["product_id"]
    )


def _new_customers(transactions, model) -> np.ndarray:
    """Customers whose first purchase is after the fit and who bought a fitted product."""
    first = transactions.groupby("customer_id")["timestamp"].min()
    new = first.index[first >= FIT_CUTOFF]
    known_product = transactions["product_id"].isin(model.product_ids_)
    buyers = transactions.loc[known_product, "customer_id"].unique()
    return np.sort(new[new.isin(buyers)].to_numpy(dtype=str))


def test_new_customers_get_history_based_recommendations(fitted, updated, transactions):
    new = _new_customers(transactions, fitted["buy_again"])
    assert len(new) > 10
    popular = fitted["popularity"].recommend(new, n=10)
    for name in ("buy_again", "als", "knn", "hybrid"):
        model, later = fitted[name], updated[name]
        assert not np.isin(new, model.customer_ids_).any()
        pd.testing.assert_frame_equal(
            model.recommend(new, n=10), model.cold_start_.recommend(new, n=10)
        )
        recs = later.recommend(new, n=10)
        assert np.isin(new, later.customer_ids_).all()
        assert not _lists(recs).equals(_lists(popular)), name
        if name != "als":  # sparse evidence: the customers' own products score > 0
            assert (recs.groupby("customer_id")["score"].max() > 0).all(), name
    # buy again: the customers' own products first
    own = transactions.loc[transactions["customer_id"].isin(new)]
    top = updated["buy_again"].recommend(new, n=1)
    bought = own.groupby("customer_id")["product_id"].agg(set).reindex(top["customer_id"])
    assert all(p in s for p, s in zip(top["product_id"], bought, strict=True))


def test_bpr_keeps_fitted_factors_and_cold_starts_new_customers(fitted, updated, transactions):
    model, later = fitted["bpr"], updated["bpr"]
    assert np.array_equal(later.customer_ids_, model.customer_ids_)
    np.testing.assert_array_equal(later.user_factors_, model.user_factors_)
    assert later.bought_.nnz > model.bought_.nnz  # new purchases are filtered when asked
    new = _new_customers(transactions, model)
    assert np.isin(new, updated["buy_again"].customer_ids_).all()
    pd.testing.assert_frame_equal(later.recommend(new, n=5), model.cold_start_.recommend(new, n=5))


def test_als_user_factors_are_the_exact_least_squares_solve(updated, transactions):
    model = updated["als"]
    later = build_interaction_matrix(
        transactions,
        HISTORY_CUTOFF,
        catalogue=model.product_ids_,
        bm25_length_norm=model.item_length_norm_,
        **model.matrix_settings_,
    )
    assert np.array_equal(later.customer_ids, model.customer_ids_)
    Y = model.item_factors_.astype(np.float64)
    gram = Y.T @ Y + model.regularization * np.eye(Y.shape[1])
    for u in range(0, later.n_customers, 97):  # a reference solve of a few rows
        cells = later.user_items[u]
        c = model.alpha * cells.data.astype(np.float64)
        Yu = Y[cells.indices]
        x = np.linalg.solve(gram + Yu.T @ ((c - 1)[:, None] * Yu), Yu.T @ c)
        np.testing.assert_allclose(model.user_factors_[u], x, rtol=1e-3, atol=1e-4)


def test_unknown_products_and_empty_histories(fitted, transactions):
    for model in fitted.values():
        empty = model.with_history(transactions.iloc[:0], HISTORY_CUTOFF)
        assert len(empty.customer_ids_) == 0
        ids = model.customer_ids_[:5]
        pd.testing.assert_frame_equal(
            empty.recommend(ids, n=5), model._cold_start_model().recommend(ids, n=5)
        )
        only_new_products = transactions.iloc[:5].assign(product_id="NEW-SKU")
        assert len(model.with_history(only_new_products, HISTORY_CUTOFF).customer_ids_) == 0


def test_with_history_after_save_and_load(fitted, updated, transactions, tmp_path):
    for name in ("buy_again", "als", "hybrid"):
        path = fitted[name].save(tmp_path / name)
        loaded = Recommender.load(path)
        assert loaded.matrix_settings_ == fitted[name].matrix_settings_
        later = loaded.with_history(transactions, HISTORY_CUTOFF)
        ids = updated[name].customer_ids_
        pd.testing.assert_frame_equal(later.recommend(ids, n=5), updated[name].recommend(ids, n=5))
        later.save(tmp_path / f"{name}_later")  # the updated copy saves too


def test_models_without_matrix_settings_ask_for_a_refit(matrix, transactions):
    model = BuyAgainRecommender().fit(dataclasses.replace(matrix, settings={}))
    with pytest.raises(DataError, match="refit"):
        model.with_history(transactions, HISTORY_CUTOFF)


# ------------------------------------------------------------ synthetic shop with events
@pytest.fixture(scope="module")
def shop():
    return load_dataset("synthetic", n_customers=600, seed=5)


def test_spec_hybrid_with_events_and_decay(shop):
    """fit_recommender's matrices (events, decay, per-component settings) are re-used."""
    tx, events = shop.transactions, shop.events
    fit_cutoff = pd.Timestamp("2023-01-01")
    later_cutoff = pd.Timestamp("2023-07-01")
    spec = {
        "model": "hybrid",
        "weights": {"buy_again": 0.6, "knn": 0.3, "als": 0.1},
        "components": {
            "buy_again": {"model": "buy_again", "params": {"half_life_days": 120}},
            "knn": {
                "model": "item_knn",
                "params": {"weighting": "bm25", "K": 50},
                "matrix": {"weighting": "bm25", "half_life_days": 180},
            },
            "als": {
                "model": "als",
                "params": {"factors": 8, "iterations": 3},
                "matrix": {"weighting": "tfidf"},
            },
        },
    }
    model = fit_recommender(
        spec, tx, fit_cutoff, events=events, matrix_defaults={"discontinued_after_days": 120}
    )
    knn = model.components_["knn"]
    assert knn.matrix_settings_["half_life_days"] == 180
    assert knn.matrix_settings_["discontinued_after_days"] == 120
    assert knn.matrix_settings_["event_weights"] is not None
    ids = model.customer_ids_
    same = model.with_history(tx, fit_cutoff, events=events)
    pd.testing.assert_frame_equal(same.recommend(ids, n=10), model.recommend(ids, n=10))

    later = model.with_history(tx, later_cutoff, events=events)
    sample = later.customer_ids_[::5]
    part = model.with_history(
        tx.loc[tx["customer_id"].isin(sample)],
        later_cutoff,
        events=events.loc[events["customer_id"].isin(sample)],
    )
    pd.testing.assert_frame_equal(
        part.recommend(sample, n=10, filter_already_bought=True),
        later.recommend(sample, n=10, filter_already_bought=True),
    )
    # events count: customers seen only in events before the later cutoff are known
    without_events = model.with_history(tx, later_cutoff)
    assert len(later.customer_ids_) >= len(without_events.customer_ids_)
    # a model fitted without events ignores them
    plain = fit_recommender({"model": "buy_again"}, tx, fit_cutoff)
    a = plain.with_history(tx, later_cutoff, events=events)
    b = plain.with_history(tx, later_cutoff)
    assert np.array_equal(a.customer_ids_, b.customer_ids_)
