"""Recommenders on real Online Retail II data: matrix, models, persistence, evaluation, MLflow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.data.errors import DataError
from scoring.evaluation.recommend_eval import (
    RecommenderEvaluation,
    default_config,
    evaluate_recommenders,
    fitted_recommender_metrics,
    log_recommender_runs,
)
from scoring.models.recommend import (
    ALSRecommender,
    BPRRecommender,
    BuyAgainRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    build_interaction_matrix,
    explain_recommendations,
)
from scoring.models.recommend.hybrid import HybridRecommender
from scoring.models.recommend.matrix import cached_matrix
from scoring.models.recommend.spec import fit_recommender, model_from_spec

CUTOFF = pd.Timestamp("2011-03-01")


@pytest.fixture(scope="module")
def transactions(online_retail_sample) -> pd.DataFrame:
    """Online Retail II, 700 sampled customers, up to 2011-06-01 (fast but real)."""
    return online_retail_sample(700, seed=7, end="2011-06-01")


@pytest.fixture(scope="module")
def matrix(transactions):
    return build_interaction_matrix(transactions, CUTOFF)


@pytest.fixture(scope="module")
def customers(matrix):
    return matrix.customer_ids[::3][:150]


# ------------------------------------------------------------------------------ matrix
def test_matrix_counts_orders_per_product(transactions, matrix):
    before = transactions[transactions["timestamp"] < CUTOFF]
    expected = before.groupby(["customer_id", "product_id"])["order_id"].nunique()
    assert matrix.shape == (before["customer_id"].nunique(), before["product_id"].nunique())
    assert matrix.user_items.dtype == np.float32
    assert matrix.user_items.nnz == len(expected)
    rows = matrix.customer_index(expected.index.get_level_values(0).to_numpy())
    cols = matrix.product_index(expected.index.get_level_values(1).to_numpy())
    values = np.asarray(matrix.user_items[rows, cols]).ravel()
    np.testing.assert_allclose(values, expected.to_numpy())
    np.testing.assert_allclose(np.asarray(matrix.order_counts[rows, cols]).ravel(), values)
    # ids sorted, string arrays
    assert (np.sort(matrix.customer_ids) == matrix.customer_ids).all()
    assert matrix.product_names[matrix.product_index("85123A")[0]] != ""


def test_matrix_days_since_last_purchase_and_discontinued(transactions, matrix):
    before = transactions[transactions["timestamp"] < CUTOFF]
    last_sale = before.groupby("product_id")["timestamp"].max().dt.normalize()
    days = ((CUTOFF - last_sale) / pd.Timedelta(days=1)).to_numpy()
    cols = matrix.product_index(last_sale.index.to_numpy())
    np.testing.assert_allclose(matrix.product_days_since_last_sale[cols], days)
    np.testing.assert_array_equal(matrix.active_products[cols], days <= 90)
    assert 0 < matrix.active_products.sum() < matrix.n_products
    assert matrix.days_since_last_purchase.data.min() >= 1

    everything = build_interaction_matrix(transactions, CUTOFF, discontinued_after_days=None)
    assert everything.active_products.all()


def test_matrix_weightings_and_time_decay(transactions, matrix):
    before = transactions[transactions["timestamp"] < CUTOFF]
    binary = build_interaction_matrix(transactions, CUTOFF, weighting="binary")
    assert set(np.unique(binary.user_items.data)) == {1.0}

    logq = build_interaction_matrix(transactions, CUTOFF, weighting="log1p_quantity")
    qty = before.groupby(["customer_id", "product_id"])["quantity"].sum()
    r = logq.customer_index(qty.index.get_level_values(0).to_numpy())
    c = logq.product_index(qty.index.get_level_values(1).to_numpy())
    np.testing.assert_allclose(
        np.asarray(logq.user_items[r, c]).ravel(), np.log1p(qty.to_numpy()), rtol=1e-5
    )

    decayed = build_interaction_matrix(transactions, CUTOFF, half_life_days=30)
    orders = before.assign(day=before["timestamp"].dt.normalize()).drop_duplicates(
        ["customer_id", "product_id", "order_id"]
    )
    orders = orders.assign(w=0.5 ** (((CUTOFF - orders["day"]) / pd.Timedelta(days=1)) / 30))
    expected = orders.groupby(["customer_id", "product_id"])["w"].sum()
    r = decayed.customer_index(expected.index.get_level_values(0).to_numpy())
    c = decayed.product_index(expected.index.get_level_values(1).to_numpy())
    np.testing.assert_allclose(
        np.asarray(decayed.user_items[r, c]).ravel(), expected.to_numpy(), rtol=1e-5
    )
    # the purchase pattern does not change with the weighting
    assert (decayed.order_counts != matrix.order_counts).nnz == 0

    for weighting in ("bm25", "tfidf"):
        weighted = build_interaction_matrix(transactions, CUTOFF, weighting=weighting)
        assert weighted.shape == matrix.shape
        assert weighted.user_items.nnz == matrix.user_items.nnz
        assert (weighted.user_items.data > 0).all()

    with pytest.raises(DataError, match="weighting"):
        build_interaction_matrix(transactions, CUTOFF, weighting="clicks")


def test_matrix_guards_non_products_and_missing_products(transactions, matrix):
    extra = transactions.iloc[:3].copy()
    extra["product_id"] = pd.array(["POST", "BANK CHARGES", "gift_0001_20"], dtype="string")
    with_fees = pd.concat([transactions, extra], ignore_index=True)
    guarded = build_interaction_matrix(with_fees, CUTOFF)
    assert guarded.shape == matrix.shape
    assert not {"POST", "BANK CHARGES", "gift_0001_20"} & set(guarded.product_ids)

    no_products = transactions.assign(product_id=pd.array([pd.NA] * len(transactions), "string"))
    with pytest.raises(DataError, match="product_id"):
        build_interaction_matrix(no_products, CUTOFF)
    with pytest.raises(DataError, match="product_id"):
        build_interaction_matrix(transactions.drop(columns="product_id"), CUTOFF)


def test_events_add_weighted_interactions(transactions, matrix):
    customer = matrix.customer_ids[0]
    bought = matrix.product_ids[matrix.order_counts[0].indices[0]]
    not_bought = matrix.product_ids[
        np.setdiff1d(np.arange(matrix.n_products), matrix.order_counts[0].indices)[0]
    ]
    day = CUTOFF - pd.Timedelta(days=3)
    events = pd.DataFrame(
        {
            "customer_id": [customer, customer, customer, "lead-1", customer, customer],
            "timestamp": [day, day, day, day, CUTOFF + pd.Timedelta(days=1), day],
            "event_type": [
                "product_view",
                "cart_add",
                "product_view",
                "product_view",
                "cart_add",
                "email_open",
            ],
            "product_id": [not_bought, not_bought, bought, bought, not_bought, bought],
        }
    ).astype({"customer_id": "string", "product_id": "string", "event_type": "string"})
    events.loc[len(events)] = [customer, day, "product_view", "NOT-IN-CATALOGUE"]
    weights = {"product_view": 0.1, "cart_add": 0.5}
    with_events = build_interaction_matrix(
        transactions, CUTOFF, events=events, event_weights=weights
    )
    r = with_events.customer_index(customer)[0]
    nb, b = with_events.product_index([not_bought, bought])
    assert with_events.user_items[r, nb] == pytest.approx(0.6)  # view + cart add, later one ignored
    assert with_events.user_items[r, b] == pytest.approx(matrix.user_items[0, b] + 0.1)
    # events are not purchases: "already bought" is unchanged
    assert with_events.order_counts[r, nb] == 0
    # a lead seen only in events gets a row, with no purchases
    lead = with_events.customer_index("lead-1")[0]
    assert lead >= 0 and with_events.order_counts[lead].nnz == 0
    assert with_events.user_items[lead, b] == pytest.approx(0.1)
    assert with_events.n_customers == matrix.n_customers + 1
    assert (np.sort(with_events.customer_ids) == with_events.customer_ids).all()


# ------------------------------------------------------------------------------ models
def all_models():
    return {
        "popularity": PopularityRecommender(window_days=30),
        "buy_again": BuyAgainRecommender(half_life_days=90),
        "als": ALSRecommender(factors=16, iterations=5, num_threads=1, random_state=0),
        "bpr": BPRRecommender(factors=16, iterations=20, num_threads=1, random_state=0),
        "knn_cosine": ItemKNNRecommender(weighting="cosine", K=50),
        "knn_bm25": ItemKNNRecommender(weighting="bm25", K=50),
        "hybrid": HybridRecommender(
            components={
                "buy_again": BuyAgainRecommender(),
                "knn": ItemKNNRecommender(weighting="bm25", K=50),
                "popularity": PopularityRecommender(window_days=30),
            },
            weights={"buy_again": 0.6, "knn": 0.3, "popularity": 0.1},
        ),
    }


@pytest.fixture(scope="module")
def fitted(matrix):
    return {name: model.fit(matrix) for name, model in all_models().items()}


@pytest.mark.parametrize("name", list(all_models()))
def test_models_recommend_valid_products(fitted, matrix, customers, name):
    model = fitted[name]
    recs = model.recommend(customers, n=10)
    assert list(recs.columns) == ["customer_id", "rank", "product_id", "score"]
    assert len(recs) == 10 * len(customers)
    assert recs["customer_id"].unique().tolist() == list(customers)
    ranks = recs.groupby("customer_id")["rank"].agg(list)
    assert all(r == list(range(1, 11)) for r in ranks)
    assert not recs.duplicated(["customer_id", "product_id"]).any()
    # scores are non-increasing within a customer
    assert (recs.groupby("customer_id")["score"].diff().dropna() <= 1e-9).all()
    # only active (not discontinued) products
    cols = matrix.product_index(recs["product_id"].to_numpy())
    assert (cols >= 0).all() and matrix.active_products[cols].all()


@pytest.mark.parametrize("name", list(all_models()))
def test_filter_already_bought(fitted, matrix, customers, name):
    recs = fitted[name].recommend(customers, n=10, filter_already_bought=True)
    rows = matrix.customer_index(recs["customer_id"].to_numpy())
    cols = matrix.product_index(recs["product_id"].to_numpy())
    assert (np.asarray(matrix.order_counts[rows, cols]).ravel() == 0).all()
    assert len(recs) == 10 * len(customers)


@pytest.mark.parametrize("name", list(all_models()))
def test_cold_start_customers_get_popularity(fitted, matrix, name):
    model = fitted[name]
    # the cold-start answer: 90-day popularity by default, the model itself for popularity
    window = model.window_days if isinstance(model, PopularityRecommender) else 90
    popular = PopularityRecommender(window).fit(matrix).recommend(["new-customer"], n=5)
    recs = model.recommend(["new-customer", matrix.customer_ids[0], "lead-2"], n=5)
    for cid in ("new-customer", "lead-2"):
        got = recs.loc[recs["customer_id"] == cid, "product_id"].tolist()
        assert got == popular["product_id"].tolist()


def test_buy_again_ranks_own_products_then_fills(fitted, matrix):
    model = fitted["buy_again"]
    row = int(np.argmax(np.diff(matrix.order_counts.indptr) == 2))  # a customer with 2 products
    cid = matrix.customer_ids[row]
    recs = model.recommend([cid], n=5)
    own = set(matrix.product_ids[matrix.order_counts[row].indices])
    active_own = {p for p in own if matrix.active_products[matrix.product_index(p)[0]]}
    assert set(recs["product_id"].head(len(active_own))) == active_own
    assert (recs["score"].iloc[len(active_own) :] == 0).all()  # popularity fill


def test_popularity_per_group_and_leads(transactions, matrix):
    groups = transactions.groupby("customer_id")["country"].last()
    leads = pd.Series(["France"], index=["lead-fr"])
    model = PopularityRecommender(window_days=90, customer_groups=pd.concat([groups, leads])).fit(
        matrix
    )
    french = groups[groups == "France"].index.intersection(matrix.customer_ids)[:2]
    recs = model.recommend([*french, "lead-fr", "unknown"], n=5)
    lists = recs.groupby("customer_id", sort=False)["product_id"].agg(list)
    assert lists[french[0]] == lists[french[1]] == lists["lead-fr"]
    overall = PopularityRecommender(window_days=90).fit(matrix).recommend(["x"], n=5)
    assert lists["unknown"] == overall["product_id"].tolist()
    assert lists["lead-fr"] != lists["unknown"]


def test_bpr_and_als_are_reproducible(matrix):
    first = BPRRecommender(factors=16, iterations=10, num_threads=1, random_state=3).fit(matrix)
    second = BPRRecommender(factors=16, iterations=10, num_threads=1, random_state=3).fit(matrix)
    np.testing.assert_array_equal(first.item_factors_, second.item_factors_)
    np.testing.assert_array_equal(first.user_factors_, second.user_factors_)
    als1 = ALSRecommender(factors=16, iterations=3, num_threads=2, random_state=1).fit(matrix)
    als2 = ALSRecommender(factors=16, iterations=3, num_threads=2, random_state=1).fit(matrix)
    np.testing.assert_allclose(als1.item_factors_, als2.item_factors_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(all_models()))
def test_save_load_round_trip(fitted, customers, tmp_path, name):
    model = fitted[name]
    path = model.save(tmp_path / f"{name}.npz")
    loaded = Recommender.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params().keys() == model.get_params().keys()
    ids = [*customers[:20], "cold-start"]
    for flag in (False, True):
        pd.testing.assert_frame_equal(
            loaded.recommend(ids, n=7, filter_already_bought=flag),
            model.recommend(ids, n=7, filter_already_bought=flag),
        )
    with pytest.raises(DataError):
        ALSRecommender.load(path) if name != "als" else BPRRecommender.load(path)


def test_popularity_with_groups_round_trip(transactions, matrix, tmp_path):
    groups = transactions.groupby("customer_id")["country"].last()
    model = PopularityRecommender(customer_groups=groups).fit(matrix)
    loaded = Recommender.load(model.save(tmp_path / "pop"))
    ids = list(matrix.customer_ids[:30])
    pd.testing.assert_frame_equal(loaded.recommend(ids, 5), model.recommend(ids, 5))


def test_similar_items_and_explanations(fitted, matrix, customers):
    knn, als = fitted["knn_bm25"], fitted["als"]
    product = matrix.product_ids[np.argmax(matrix.order_counts.getnnz(axis=0))]
    for model in (knn, als):
        sim = model.similar_items(product, n=5)
        assert list(sim.columns) == [
            "product_id",
            "rank",
            "similar_product_id",
            "similar_product_name",
            "score",
        ]
        assert 0 < len(sim) <= 5 and (sim["similar_product_id"] != product).all()
        assert (sim["score"].diff().dropna() <= 1e-9).all()
    batch = knn.similar_items([product, matrix.product_ids[0]], n=3)
    assert batch["product_id"].iloc[0] == product
    with pytest.raises(DataError, match="not in the fitted catalogue"):
        knn.similar_items("NO-SUCH-PRODUCT")

    recs = knn.recommend([*customers[:30], "cold"], n=5, filter_already_bought=True)
    explained = explain_recommendations(knn, recs)
    personal = explained[(explained["score"] > 0) & (explained["customer_id"] != "cold")]
    assert len(personal) > 0
    assert personal["because_product_id"].notna().all()
    # the reason is a product the customer bought before, with the largest contribution
    first = personal.iloc[0]
    row = matrix.customer_index(first["customer_id"])[0]
    j = matrix.product_index(first["product_id"])[0]
    contrib = matrix.user_items[row].multiply(knn.similarity_[:, j].T).toarray().ravel()
    assert matrix.product_ids[np.argmax(contrib)] == first["because_product_id"]
    assert personal["reason"].str.startswith("bought together with ").all()
    assert (explained.loc[explained["customer_id"] == "cold", "reason"] == "popular product").all()


def test_hybrid_needs_matching_catalogue(transactions, matrix):
    other = build_interaction_matrix(transactions, CUTOFF - pd.Timedelta(days=60))
    model = HybridRecommender(
        components={"a": BuyAgainRecommender(), "b": PopularityRecommender()},
        weights={"a": 0.5, "b": 0.5},
    )
    with pytest.raises(DataError, match="catalogue"):
        model.fit(matrix, component_matrices={"b": other})
    with pytest.raises(DataError, match="weights"):
        HybridRecommender(components={"a": BuyAgainRecommender()}, weights={"x": 1.0}).fit(matrix)


def test_fit_recommender_from_spec(transactions, matrix, customers):
    spec = {
        "model": "hybrid",
        "weights": {"buy_again": 0.7, "als": 0.3},
        "components": {
            "buy_again": {"model": "buy_again", "params": {"half_life_days": 180.0}},
            "als": {
                "model": "als",
                "params": {"factors": 8, "iterations": 3, "random_state": 0},
                "matrix": {"half_life_days": 90},
            },
        },
    }
    model = fit_recommender(spec, transactions, CUTOFF)
    assert isinstance(model, HybridRecommender)
    assert set(model.components_) == {"buy_again", "als"}
    assert model.components_["als"].user_factors_.shape == (matrix.n_customers, 8)
    recs = model.recommend(customers[:10], n=5)
    assert len(recs) == 50


def test_hybrid_reuses_components_fitted_alone(transactions, matrix, customers):
    """``fit_recommender(..., _fitted=...)``: a hybrid takes the components already fitted
    with the same spec (the evaluation's holdout fits ALS once) and recommends what fitting
    them again gives; a model fitted otherwise is refused, not blended."""
    from scoring.models.recommend.spec import spec_key

    als = {"model": "als", "params": {"factors": 8, "iterations": 3, "random_state": 0,
                                      "num_threads": 1},
           "matrix": {"half_life_days": 90}}
    knn = {"model": "item_knn", "params": {"weighting": "bm25", "K": 20}}
    spec = {"model": "hybrid", "weights": {"als": 0.5, "knn": 0.5},
            "components": {"als": als, "knn": knn}}
    cache: dict = {}
    alone = {spec_key(s): fit_recommender(s, transactions, CUTOFF, _cache=cache)
             for s in (als, knn)}
    shared = fit_recommender(spec, transactions, CUTOFF, _cache=cache, _fitted=alone)
    assert shared.components_["als"] is alone[spec_key(als)]
    assert shared.components_["knn"] is alone[spec_key(knn)]
    fresh = fit_recommender(spec, transactions, CUTOFF)
    assert fresh.components_["als"] is not alone[spec_key(als)]
    pd.testing.assert_frame_equal(shared.recommend(customers[:50], n=10),
                                  fresh.recommend(customers[:50], n=10))
    other = HybridRecommender(components={"als": model_from_spec(als)}, weights={"als": 1.0})
    decayed = cached_matrix(cache, transactions, CUTOFF, {"half_life_days": 90})
    with pytest.raises(DataError, match="fitted component 'als'"):  # other parameters
        other.fit(matrix, component_matrices={"als": decayed},
                  fitted_components={"als": fit_recommender(
                      {**als, "params": {**als["params"], "factors": 4}}, transactions,
                      CUTOFF, _cache=cache)})
    with pytest.raises(DataError, match="fitted component 'als'"):  # another matrix
        other.fit(matrix, component_matrices={"als": decayed},
                  fitted_components={"als": fit_recommender({**als, "matrix": {}},
                                                            transactions, CUTOFF)})


# -------------------------------------------------------------------------- evaluation
@pytest.fixture(scope="module")
def evaluation(transactions) -> RecommenderEvaluation:
    grids = {
        "popularity": [{"model": "popularity", "params": {"window_days": w}} for w in (30, 90)],
        "buy_again": [{"model": "buy_again", "params": {"half_life_days": h}} for h in (90, None)],
        "als": [
            {"model": "als", "params": {"factors": f, "iterations": 3}, "matrix": m}
            for f in (8, 16)
            for m in ({}, {"half_life_days": 90})
        ],
        "item_knn_bm25": [
            {"model": "item_knn", "params": {"weighting": "bm25", "K": k}} for k in (20, 50)
        ],
    }
    config = {
        "models": ["popularity", "buy_again", "als", "item_knn_bm25", "hybrid"],
        "grids": grids,
        "validation_days": 60,
        "validation_folds": 1,
        "num_threads": 1,
        "hybrid": {"weight_step": 0.25},
    }
    return evaluate_recommenders(transactions, CUTOFF, holdout_days=60, k=10, config=config)


def test_evaluate_recommenders_end_to_end(evaluation, transactions, matrix):
    ev = evaluation
    assert ev.matrix_shape == matrix.shape
    assert ev.validation_cutoffs == ["2010-12-31"]
    assert set(ev.metrics) == {"popularity", "buy_again", "als", "item_knn_bm25", "hybrid"}
    for by_protocol in ev.metrics.values():
        assert set(by_protocol) == {"repurchase", "new_items"}
        for m in by_protocol.values():
            assert set(m) == {
                "precision",
                "recall",
                "ndcg",
                "map",
                "hit_rate",
                "coverage",
                "n_customers",
            }
            assert 0 <= m["ndcg"] <= 1 and 0 < m["coverage"] <= 1
    # test customers: bought before the cutoff and in the holdout
    before = set(transactions.loc[transactions["timestamp"] < CUTOFF, "customer_id"])
    holdout = transactions[
        (transactions["timestamp"] >= CUTOFF)
        & (transactions["timestamp"] < CUTOFF + pd.Timedelta(days=60))
        & transactions["product_id"].isin(matrix.product_ids)
    ]
    n_test = len(before & set(holdout["customer_id"]))
    assert ev.metrics["popularity"]["repurchase"]["n_customers"] == n_test
    assert ev.metrics["popularity"]["new_items"]["n_customers"] <= n_test
    # buy again: nothing of its own to recommend in new_items -> popularity answer
    assert (
        ev.metrics["buy_again"]["repurchase"]["ndcg"]
        > ev.metrics["popularity"]["repurchase"]["ndcg"]
    )

    recs = ev.recommendations
    assert list(recs.columns) == ["customer_id", "model", "protocol", "rank", "product_id", "score"]
    assert recs["rank"].max() == 10
    new = recs[recs["protocol"] == "new_items"]
    rows = matrix.customer_index(new["customer_id"].to_numpy())
    cols = matrix.product_index(new["product_id"].to_numpy())
    assert (np.asarray(matrix.order_counts[rows, cols]).ravel() == 0).all()

    # choices come from the validation grid, the shipped model is the best on validation
    grid = pd.DataFrame(ev.validation)
    assert {"model", "protocol", "spec", "val_ndcg", "chosen"} <= set(grid.columns)
    chosen = grid[grid["chosen"]]
    assert chosen.groupby(["model", "protocol"]).size().eq(1).all()
    for protocol, model in ev.shipped.items():
        best = chosen[chosen["protocol"] == protocol].sort_values("val_ndcg").iloc[-1]
        assert best["model"] == model
        assert ev.shipped_spec(protocol)["model"] in (
            "popularity",
            "buy_again",
            "als",
            "item_knn",
            "hybrid",
        )
    hybrid = ev.chosen_params["hybrid"]["repurchase"]
    assert abs(sum(hybrid["weights"].values()) - 1) < 1e-9
    assert isinstance(ev.models["hybrid"]["repurchase"], HybridRecommender)
    summary = ev.summary()
    assert summary["shipped"].sum() == 2


def test_hybrid_validation_blend_matches_the_model(evaluation, transactions):
    """The fast blend grid ranks exactly like a fitted HybridRecommender."""
    from scoring.evaluation.recommend_eval import _evaluate_model, _test_sets

    start = pd.Timestamp(evaluation.validation_cutoffs[0])
    for protocol in ("repurchase", "new_items"):
        spec = evaluation.chosen_params["hybrid"][protocol]
        model = fit_recommender(spec, transactions, start)
        split = _test_sets(transactions, build_interaction_matrix(transactions, start), start, 60)
        metrics = _evaluate_model(model, split, 10)[0][protocol]
        expected = evaluation.validation_metrics[f"hybrid|{protocol}"]
        assert metrics["ndcg"] == pytest.approx(expected["ndcg"], abs=2e-3)
        assert metrics["n_customers"] == expected["n_customers"]


def test_evaluation_rejects_leaky_windows(transactions):
    with pytest.raises(DataError, match="ends before the cutoff"):
        evaluate_recommenders(
            transactions,
            CUTOFF,
            60,
            config={"models": ["popularity"], "validation_windows": [(30, 60)]},
        )
    with pytest.raises(DataError, match="models"):
        evaluate_recommenders(transactions, CUTOFF, 60, config={"models": ["magic"]})


def test_default_config_grid_sizes():
    from scoring.evaluation.recommend_eval import _validation_windows

    assert _validation_windows(default_config(), 182) == [(182, 91), (91, 91)]
    assert _validation_windows({"validation_days": None}, 60) == [(60, 60)]
    grids = default_config()["grids"]
    assert len(grids["als"]) == 12  # factors {32, 64, 128} x 2 alpha/reg x 2 decays
    assert {g["params"]["K"] for g in grids["item_knn_bm25"]} == {50, 100, 200}


def test_log_recommender_runs_to_sqlite(evaluation, tmp_path):
    import mlflow

    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        _check_logged_runs(mlflow, evaluation, tmp_path)
    finally:
        mlflow.set_tracking_uri(previous_uri)


def _check_logged_runs(mlflow, evaluation, tmp_path):
    mlflow.set_experiment("recommenders-test")
    with mlflow.start_run(run_name="parent") as parent:
        run_ids = log_recommender_runs(evaluation, hybrid_runs_per_protocol=3)
    client = mlflow.tracking.MlflowClient()
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == len(run_ids)
    finals = [r for r in children if r.data.tags.get("stage") == "recommender_holdout"]
    assert {r.data.tags["model"] for r in finals} == set(evaluation.metrics)
    hybrid = next(r for r in finals if r.data.tags["model"] == "hybrid")
    assert hybrid.data.metrics["ndcg_at_10_repurchase"] == pytest.approx(
        evaluation.metrics["hybrid"]["repurchase"]["ndcg"]
    )
    assert "coverage_at_10_new_items" in hybrid.data.metrics
    shipped = [r for r in finals if r.data.tags["shipped_repurchase"] == "true"]
    assert [r.data.tags["model"] for r in shipped] == [evaluation.shipped["repurchase"]]
    artifacts = [a.path for a in client.list_artifacts(hybrid.info.run_id, "model")]
    assert artifacts and all(a.endswith(".npz") for a in artifacts)
    local = client.download_artifacts(hybrid.info.run_id, artifacts[0], str(tmp_path))
    assert isinstance(Recommender.load(local), HybridRecommender)

    validation = [r for r in children if r.data.tags.get("stage") == "recommender_validation"]
    chosen = [r for r in validation if r.data.tags["chosen"] == "true"]
    assert {r.data.tags["model"] for r in chosen} == set(evaluation.metrics)
    als_runs = [r for r in validation if r.data.tags["model"] == "als"]
    assert len(als_runs) == 4
    assert all("val_ndcg_at_10_repurchase" in r.data.metrics for r in als_runs)
    parent_artifacts = [a.path for a in client.list_artifacts(parent.info.run_id)]
    assert "validation_grid.csv" in parent_artifacts
    # nothing personal: no customer id among the logged params and tags
    customer_ids = set(evaluation.recommendations["customer_id"].astype(str))
    for run in children:
        logged = {str(v) for v in [*run.data.params.values(), *run.data.tags.values()]}
        assert not logged & customer_ids

    with pytest.raises(RuntimeError, match="active MLflow run"):
        log_recommender_runs(evaluation)


SMALL_GRID = {"models": ["popularity", "buy_again"], "validation_days": 60,
              "validation_folds": 1, "num_threads": 1,
              "grids": {"popularity": [{"model": "popularity", "params": {"window_days": 90}}],
                        "buy_again": [{"model": "buy_again",
                                       "params": {"half_life_days": None}}]}}
"""Two one-setting models: an evaluation in seconds, for the sampling rules."""


def test_validation_grid_is_fitted_on_a_customer_sample_in_large_shops(transactions):
    """``max_tuning_customers``: the grid sees a seeded sample of customers; the holdout
    refit and its metrics still cover every customer."""
    from scoring.models.hybrid_churn import stable_sample

    config = SMALL_GRID
    everyone = evaluate_recommenders(transactions, CUTOFF, 60, config=config)
    n = transactions["customer_id"].nunique()
    sampled = evaluate_recommenders(transactions, CUTOFF, 60,
                                    config={**config, "max_tuning_customers": n // 3})
    validated = pd.DataFrame(sampled.validation)["val_n_customers"].max()
    sample = stable_sample(transactions["customer_id"], n // 3)
    start = pd.Timestamp(CUTOFF) - pd.Timedelta(days=60)
    window = transactions.loc[(transactions["timestamp"] >= start)
                              & (transactions["timestamp"] < pd.Timestamp(CUTOFF))]
    assert 0 < validated <= window["customer_id"].isin(sample).sum()
    assert validated < pd.DataFrame(everyone.validation)["val_n_customers"].max()
    assert sampled.matrix_shape == everyone.matrix_shape  # the holdout: every customer
    assert sampled.metrics == everyone.metrics


def test_holdout_metrics_cover_a_seeded_sample_in_large_shops(transactions):
    """``max_holdout_customers``: the models are fitted on everyone; the holdout metrics and
    recommendations cover a seeded sample of the test customers, the same in both protocols
    and from run to run, and the scorer's own recommender is measured on it alike."""
    config = SMALL_GRID
    everyone = evaluate_recommenders(transactions, CUTOFF, 60, config=config)
    n_test = everyone.metrics["buy_again"]["repurchase"]["n_customers"]
    limit = n_test // 2
    sampled, again = (evaluate_recommenders(transactions, CUTOFF, 60,
                                            config={**config, "max_holdout_customers": limit})
                      for _ in range(2))
    assert sampled.metrics["buy_again"]["repurchase"]["n_customers"] == limit
    assert sampled.metrics["buy_again"]["new_items"]["n_customers"] <= limit
    assert sampled.metrics == again.metrics
    pd.testing.assert_frame_equal(sampled.recommendations, again.recommendations)
    shown = sampled.recommendations["customer_id"].astype(str)
    everyone_ids = set(everyone.recommendations["customer_id"].astype(str))
    assert shown.nunique() == limit and set(shown) <= everyone_ids
    assert sampled.matrix_shape == everyone.matrix_shape
    # the shipped scorer's recommender is measured on the same sample of the same matrix
    model = sampled.models["buy_again"]["repurchase"]
    assert fitted_recommender_metrics(model, transactions, CUTOFF, 60,
                                      max_customers=limit) == {
        p: sampled.metrics["buy_again"][p] for p in ("repurchase", "new_items")}
    # the sample's NDCG is an estimate of everyone's, not another quantity
    assert abs(sampled.metrics["buy_again"]["repurchase"]["ndcg"]
               - everyone.metrics["buy_again"]["repurchase"]["ndcg"]) < 0.15


def test_dictionary_codes_of_a_chunked_column_match_factorize():
    """The matrix's Arrow encodings equal pandas' factorize: on a column of several chunks
    with missing values (one combined dictionary, -1 for missing), with or without labels,
    and ranked to the sorted labels of the rows in use (``_codes_at``)."""
    import pyarrow as pa

    from scoring.models.recommend.matrix import _codes_at, _dictionary_codes

    rng = np.random.default_rng(0)
    values = rng.choice(["b7", "a1", "c3", "a10", "z"], size=300).astype(object)
    values[rng.choice(300, 20, replace=False)] = None
    chunks = [values[:100], values[100:101], values[101:250], values[250:]]
    column = pd.Series(pd.arrays.ArrowStringArray(
        pa.chunked_array([pa.array(c, type=pa.large_string()) for c in chunks])))
    codes, labels = _dictionary_codes(column)
    assert codes.dtype == np.int32 and (codes == -1).sum() == 20
    decoded = np.where(codes >= 0, labels[np.maximum(codes, 0)], None)
    assert list(decoded) == list(values)
    no_labels, none = _dictionary_codes(column, labels=False)
    assert none is None and np.array_equal(no_labels, codes)
    assert _dictionary_codes(pd.Series(values, dtype=object)) is None
    rows = np.flatnonzero(pd.notna(values))[::2]
    ranked, kept = _codes_at(column, rows)
    expected_codes, expected_labels = pd.factorize(pd.Series(values[rows]), sort=True)
    assert np.array_equal(ranked, expected_codes) and list(kept) == list(expected_labels)
