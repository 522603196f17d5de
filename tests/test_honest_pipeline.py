"""The evaluation measures exactly what ships, at the horizon it ships, and the main job never
reads a day after its as-of date."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from scoring import pipeline, tracking
from scoring.data import load_dataset
from scoring.data.schema import ShopData
from scoring.scorer import CustomerScorer, ScoringConfig
from scoring.selection import ModelSelection

AS_OF = pd.Timestamp("1998-03-31")


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.configure()
    return tmp_path


@pytest.fixture(scope="module")
def cdnow():
    return load_dataset("cdnow-sample")


@pytest.mark.slow
def test_the_scorer_fitted_before_the_cutoff_gives_the_evaluations_shipped_prediction(
        cdnow, store):
    evaluation = pipeline.run_evaluate(cdnow, store / "evaluation", recommenders=False)
    scorer_metrics = evaluation.metrics["scorer"]
    cutoff = pd.Timestamp(scorer_metrics["cutoff"])
    assert scorer_metrics["horizon_days"] == ScoringConfig().churn_horizon_days == 90
    assert evaluation.metrics["holdout_days"] == 90  # candidates at the same horizon
    # the headline is the scorer's, not a candidate's
    assert evaluation.metrics["headline"]["churn_roc_auc"] == pytest.approx(
        scorer_metrics["churn"]["roc_auc"])
    # an independent refit on the days before the cutoff
    before = cdnow.transactions.loc[cdnow.transactions["timestamp"] < cutoff]
    history = ShopData(name=cdnow.name, transactions=before, input_columns=cdnow.input_columns)
    config = evaluation.selection.apply(ScoringConfig())
    scorer = CustomerScorer(config).fit(history, cutoff - pd.Timedelta(days=1))
    mine = scorer.score_customers(before, cutoff - pd.Timedelta(days=1))
    shipped = evaluation.predictions.set_index("customer_id")["churn_probability"]
    mine = mine.set_index("customer_id")["churn_probability"].reindex(shipped.index)
    assert len(shipped) == scorer_metrics["n_customers"] > 0
    np.testing.assert_array_equal(mine.to_numpy(), shipped.to_numpy())
    written = pd.read_parquet(store / "evaluation" / "predictions.parquet")
    np.testing.assert_array_equal(written["churn_probability"].to_numpy(), shipped.to_numpy())
    metrics = json.loads((store / "evaluation" / "metrics.json").read_text())
    assert metrics["selection"]["churn_model"] == evaluation.selection.churn_model


def _scramble_after(shop: ShopData, as_of: pd.Timestamp, seed: int) -> ShopData:
    """The same shop with every order line after ``as_of`` replaced by other values."""
    tx = shop.transactions.copy()
    after = tx["timestamp"] >= as_of + pd.Timedelta(days=1)
    rng = np.random.default_rng(seed)
    tx.loc[after, "amount"] = rng.uniform(1, 500, after.sum())
    tx.loc[after, "customer_id"] = rng.choice(tx["customer_id"].unique(), after.sum())
    return dataclasses.replace(shop, transactions=tx)


@pytest.mark.slow
def test_run_as_of_d_evaluates_the_latest_window_ending_on_d_and_never_reads_after_it(
        cdnow, store):
    runs = []
    for seed in (1, 2):
        shop = _scramble_after(cdnow, AS_OF, seed)
        result = pipeline.run_main(shop, store / f"out{seed}", as_of=AS_OF, register=False)
        runs.append(result)
    block = runs[0].summary["evaluation"]
    assert block["window_end"] == str(AS_OF.date())
    assert block["cutoff"] == str((AS_OF - pd.Timedelta(days=89)).date())
    assert block["horizon_days"] == 90 and block["n_customers"] > 0
    assert set(block["metrics"]) >= {"churn_roc_auc", "churn_brier", "revenue_gini"}
    assert runs[0].summary["evaluation"]["metrics"] == runs[1].summary["evaluation"]["metrics"]
    for name in ("scores.parquet", "segments.parquet"):
        first = pd.read_parquet(store / "out1" / name)
        second = pd.read_parquet(store / "out2" / name)
        pd.testing.assert_frame_equal(first, second)


def test_too_little_history_before_the_latest_window_is_refused(cdnow, store):
    from scoring.data import DataError

    with pytest.raises(DataError, match="not enough history"):
        pipeline.run_main(cdnow, store / "out", as_of="1997-04-15", register=False)


def test_the_selection_is_a_typed_object_applied_without_names():
    selection = ModelSelection(transaction_model="paretonbd", churn_model="btyd",
                               recommender_spec={"model": "popularity"})
    config = selection.apply(ScoringConfig())
    assert (config.transaction_model, config.churn_model) == ("paretonbd", "btyd")
    assert config.recommender_spec == {"model": "popularity"}
    assert ModelSelection().apply(ScoringConfig()).churn_model == "lgbm_hybrid"


@pytest.mark.parametrize("as_of", ["1997-06-30", "1998-03-31"])
def test_recency_and_tenure_have_one_definition(cdnow, as_of):
    """Segments, behavioural features and the scorer give the same days for the same order
    (they were 0 / 159 and 1 / 160 before)."""
    from scoring.features.behavioural import behavioural_features
    from scoring.segments import customer_activity

    as_of = pd.Timestamp(as_of)
    segments = customer_activity(cdnow.transactions, as_of)
    features = behavioural_features(cdnow.transactions, as_of + pd.Timedelta(days=1))
    for column in ("days_since_last_order", "tenure_days"):
        np.testing.assert_array_equal(
            features[column].reindex(segments.index).to_numpy(dtype="int64"),
            segments[column].to_numpy(dtype="int64"))
    last_day = segments["last_order_at"].dt.normalize() == as_of.normalize()
    assert (segments.loc[last_day, "days_since_last_order"] == 0).all()


def test_shipped_only_evaluates_the_configured_scorer_and_its_recommendations(store, capsys):
    """``--shipped-only`` (``evaluation.candidates: false``): no candidate, baseline or grid;
    the configured scorer is evaluated, its own recommendations included, and the shipped
    prediction is still the scorer's."""
    from scoring.cli import main
    from scoring.evaluation.recommend_eval import fitted_recommender_metrics
    from scoring.evaluation.scorer_eval import history_before

    shop = load_dataset("synthetic", n_customers=1200, seed=5)
    config = ScoringConfig(recommender_spec={"model": "popularity",
                                             "params": {"window_days": 30}})
    evaluation = pipeline.run_evaluate(shop, store / "evaluation", config=config,
                                       candidates=False)
    metrics = evaluation.metrics
    assert metrics["candidates"] is False
    assert "recommenders" not in metrics and "churn" not in metrics
    assert evaluation.selection == ModelSelection.configured(config)
    assert evaluation.selection.recommender_spec == config.recommender_spec
    assert set(evaluation.predictions.columns) == {
        "customer_id", "churn_probability", "predicted_revenue", "churned", "revenue_holdout"}
    # the scorer's own recommendations, measured like any recommender's holdout
    cutoff = pd.Timestamp(metrics["scorer"]["cutoff"])
    recommender = evaluation.scorer.scorer.recommender_
    again = fitted_recommender_metrics(recommender, shop.transactions, cutoff, 90,
                                       events=history_before(shop, cutoff).events)
    assert metrics["scorer"]["recommendations"] == again
    headline = metrics["headline"]
    assert headline["ndcg_at_10_repurchase"] == again["repurchase"]["ndcg"]
    assert headline["churn_roc_auc"] == metrics["scorer"]["churn"]["roc_auc"]
    written = json.loads((store / "evaluation" / "metrics.json").read_text())
    assert written["selection"]["reasons"]["churn"].startswith("configured")
    # the flag reaches the config tree
    capsys.readouterr()
    assert main(["config", "show", "--shipped-only"]) == 0
    assert "candidates: false" in capsys.readouterr().out


@pytest.mark.slow
def test_the_evaluation_logs_the_fitted_recommenders_and_then_lets_them_go(store):
    """The pipeline's recommender evaluation keeps its metrics, lists and chosen settings but
    not its fitted models (the scorer's fit that follows needs the memory): they are in
    MLflow, one .npz per model in its ``final-<model>`` run."""
    from mlflow.tracking import MlflowClient

    shop = load_dataset("synthetic", n_customers=600, seed=5)
    evaluation = pipeline.run_evaluate(shop, store / "evaluation", recommender_grid="quick",
                                       from_scratch_lgbm=False)
    recs = evaluation.recommenders
    assert recs.models == {}
    assert recs.metrics and not recs.recommendations.empty
    shipped = recs.shipped["repurchase"]
    assert evaluation.selection.recommender_spec == recs.shipped_spec("repurchase")
    client = MlflowClient()
    final = client.search_runs(
        [client.get_run(evaluation.run_id).info.experiment_id],
        f"tags.mlflow.runName = 'final-{shipped}'")
    assert len(final) == 1
    artifacts = [a.path for a in client.list_artifacts(final[0].info.run_id, "model")]
    assert any(path.endswith(".npz") for path in artifacts), artifacts
