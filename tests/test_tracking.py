"""Tracking injected: the library runs without MLflow (``NullTracker``); with MLflow the runs
log their input as a dataset and the scorer as a model from code."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import warnings

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from scoring import tracking
from scoring.data import data_hash, load_dataset
from scoring.pipeline import register_scorer, run_evaluate, write_and_log_scores
from scoring.registry import MODEL_CODE, load_scorer, log_scorer
from scoring.scorer import CustomerScorer

NULL_TRACKER_SCRIPT = textwrap.dedent("""
    import json, sys
    import mlflow
    from scoring.data import load_dataset
    from scoring.evaluation.churn_revenue import log_churn_revenue_runs
    from scoring.evaluation.recommend_eval import evaluate_recommenders, log_recommender_runs
    from scoring.evaluation.scorer_eval import log_scorer_run
    from scoring.pipeline import register_scorer, run_evaluate, write_and_log_scores
    from scoring.tracking import NullTracker

    null = NullTracker()
    shop = load_dataset("cdnow-sample")
    result = run_evaluate(shop, "out", recommenders=False, tracker=null)
    out = {"run_id": result.run_id,
           "churn": log_churn_revenue_runs(result.churn_revenue, tracker=null),
           "scorer": log_scorer_run(result.scorer, tracker=null)}
    synthetic = load_dataset("synthetic", n_customers=300, seed=1, as_of="2023-06-30")
    config = {"models": ["popularity", "buy_again"],
              "grids": {"popularity": [{"model": "popularity", "params": {"window_days": 90}}],
                        "buy_again": [{"model": "buy_again",
                                       "params": {"half_life_days": 90}}]},
              "validation_days": 60, "validation_folds": 1, "num_threads": 1}
    recs = evaluate_recommenders(synthetic.transactions, "2023-04-01", 60, config=config)
    out["recommenders"] = log_recommender_runs(recs, tracker=null)
    scorer = result.scorer.scorer
    out["registration"] = register_scorer(scorer, shop, shop.as_of, result, tracker=null)
    scores, summary = scorer.score(shop, shop.as_of)
    written = write_and_log_scores(scores, summary, "scores", dataset=shop.name,
                                   input_hash="abc", model_uri="none", model_version="0",
                                   as_of=shop.as_of, engine="pandas", tracker=null)
    out["written"] = sorted(written)
    out["active_run"] = mlflow.active_run() is not None
    print(json.dumps(out))
""")


def test_library_runs_without_mlflow_with_a_null_tracker(tmp_path):
    """A plain Python process (a notebook): the evaluation, the three log_* functions, the
    registration and the scoring run's logging, all with ``NullTracker()``: no run, no
    store, no mlruns/ folder."""
    store = tmp_path / "store"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}
    done = subprocess.run([sys.executable, "-c", NULL_TRACKER_SCRIPT], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["run_id"] == "none" and out["scorer"] == "none"
    assert out["churn"] and set(out["churn"]) == {"none"}
    assert out["recommenders"] and set(out["recommenders"].values()) == {"none"}
    assert out["registration"]["model_uri"] is None and not out["registration"]["champion"]
    assert out["written"] == ["campaign_summary", "emails", "scores", "scores_csv"]
    assert not out["active_run"]
    assert (tmp_path / "out" / "metrics.json").exists()  # the evaluation's files are written
    assert not store.exists()
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()


def test_null_tracker_run_is_a_context_manager():
    null = tracking.NullTracker()
    with null.start_run("x", tags={"a": "b"}, nested=True) as run:
        null.log_params({"a": 1})
        null.log_metrics({"m": 1.0})
        null.log_dict({"a": 1}, "a.json")
        null.log_input(pd.DataFrame({"a": [1]}), "name", "training", digest="d")
        null.set_tag("k", "v")
    assert run.info.run_id == "none" and null.experiment("any") == "none"
    assert isinstance(tracking.current_tracker(), tracking.MlflowTracker)
    assert tracking.current_tracker(null) is null


def test_daily_orders_holds_no_ids():
    shop = load_dataset("cdnow-sample")
    daily = tracking.daily_orders(shop.transactions)
    assert list(daily.columns) == ["date", "orders", "revenue"]
    assert daily["date"].is_unique and daily["date"].is_monotonic_increasing
    assert daily["orders"].sum() == shop.transactions.groupby(
        shop.transactions["timestamp"].dt.normalize())["order_id"].nunique().sum()
    assert daily["revenue"].sum() == pytest.approx(shop.transactions["amount"].sum())


# --------------------------------------------------------------------------- with MLflow


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """``run_evaluate`` with the default tracker (MLflow) in a temporary store."""
    root = tmp_path_factory.mktemp("tracked")
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        tracking.configure()
        shop = load_dataset("cdnow-sample")
        result = run_evaluate(shop, root / "evaluation", recommenders=False)
        yield shop, result, root
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


def _datasets(run_id: str) -> list:
    return MlflowClient().get_run(run_id).inputs.dataset_inputs


def _context(dataset_input) -> str:
    return {tag.key: tag.value for tag in dataset_input.tags}["mlflow.data.context"]


def test_evaluation_run_logs_its_input_as_a_dataset(tracked):
    shop, result, _ = tracked
    inputs = _datasets(result.run_id)
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert (dataset.name, dataset.digest) == ("cdnow-sample", data_hash(shop))
    assert _context(inputs[0]) == "evaluation"
    assert dataset.source == json.dumps({"uri": shop.source["file"]})
    columns = [c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]]
    assert columns == ["date", "orders", "revenue"]  # the per-day aggregate, no ids
    assert json.loads(dataset.profile)["num_rows"] == len(tracking.daily_orders(
        shop.transactions))
    # the child runs are there as before
    children = MlflowClient().search_runs(
        [MlflowClient().get_run(result.run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert "scorer" in {r.info.run_name for r in children} and len(children) > 3


def test_fit_and_scoring_runs_log_their_input_as_a_dataset(tracked):
    shop, result, root = tracked
    scorer = result.scorer.scorer
    registration = register_scorer(scorer, shop, shop.as_of, result)
    fit_run = MlflowClient().get_model_version(
        "customer-scorer", registration["version"]).run_id
    inputs = _datasets(fit_run)
    assert len(inputs) == 1 and _context(inputs[0]) == "training"
    assert (inputs[0].dataset.name, inputs[0].dataset.digest) == (shop.name, data_hash(shop))

    scores, summary = scorer.score(shop, shop.as_of)
    write_and_log_scores(scores, summary, root / "scores", dataset=shop.name,
                         input_hash="0123abcd", model_uri=registration["model_uri"],
                         model_version=scorer.version_, as_of=shop.as_of, engine="pandas")
    run = mlflow.search_runs(experiment_names=[f"scoring-{shop.name}"], output_format="list")
    assert len(run) == 1
    inputs = run[0].inputs.dataset_inputs
    assert len(inputs) == 1 and _context(inputs[0]) == "scoring"
    assert (inputs[0].dataset.name, inputs[0].dataset.digest) == (shop.name, "0123abcd")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_scorer_is_logged_as_a_model_from_code_without_cloudpickle(tracked):
    shop, result, _ = tracked
    scorer = result.scorer.scorer
    handler = _Records()
    logger = logging.getLogger("mlflow")
    logger.addHandler(handler)
    try:
        tracking.experiment(shop.name)
        with warnings.catch_warnings(record=True) as caught, mlflow.start_run():
            warnings.simplefilter("always")
            info = log_scorer(scorer, {}, shop.name, register=False)
    finally:
        logger.removeHandler(handler)
    said = [str(w.message) for w in caught] + handler.messages
    assert not [m for m in said if "cloudpickle" in m.lower() or "models-from-code" in m
                or "models from code" in m.lower()], said
    # the input example (dated before the scorer's as-of) passes MLflow's serving check
    assert not [m for m in said if "Failed to validate serving input example" in m], said

    flavor = mlflow.models.get_model_info(info["model_uri"]).flavors["python_function"]
    assert flavor["model_code_path"].endswith(MODEL_CODE.name)
    assert "python_model" not in flavor  # no cloudpickled wrapper

    loaded = load_scorer(info["model_uri"])
    assert isinstance(loaded, CustomerScorer) and loaded.version_ == scorer.version_
    lines = shop.transactions[list(scorer.input_columns_)].head(400)
    scores = mlflow.pyfunc.load_model(info["model_uri"]).predict(
        lines, params={"as_of": str(shop.as_of.date())})
    assert 0 < len(scores) and set(scores["customer_id"]) <= set(lines["customer_id"])
    assert scores["churn_probability"].between(0, 1).all()
