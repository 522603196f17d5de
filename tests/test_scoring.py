"""The scorer, its MLflow registration (champion rule) and the batch scoring job."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from scoring import tracking
from scoring.cli import main
from scoring.data import DataError, load_dataset
from scoring.pipeline import write_parquet
from scoring.registry import MODEL_NAME, log_scorer
from scoring.scorer import SCORE_COLUMNS, CustomerScorer

AS_OF = "2023-06-30"


@pytest.fixture(scope="module")
def synthetic_shop():
    return load_dataset("synthetic", n_customers=1500, seed=3, as_of=AS_OF)


@pytest.fixture(scope="module")
def fitted(synthetic_shop):
    scorer = CustomerScorer().fit(synthetic_shop)
    scores, summary = scorer.score(synthetic_shop)
    return scorer, scores, summary


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.configure()
    return tmp_path


def test_scores_table(fitted, synthetic_shop):
    _, scores, summary = fitted
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    assert scores["customer_id"].is_unique
    profiles = synthetic_shop.customers
    signed_up = profiles.loc[profiles["signup_at"] < pd.Timestamp(AS_OF) + pd.Timedelta(days=1)]
    known = set(signed_up["customer_id"]) | set(synthetic_shop.transactions["customer_id"])
    assert set(scores["customer_id"]) == known
    buyers = scores.loc[scores["n_orders"] > 0]
    assert buyers["churn_probability"].between(0, 1).all()
    assert (buyers["predicted_clv_12m"] >= 0).all() and buyers["p_alive"].between(0, 1).all()
    assert (buyers["expected_next_order_date"] > pd.Timestamp(AS_OF)).all()
    assert scores["recommended_product_ids"].map(len).eq(5).all()
    assert (scores["recommended_product_ids"].map(len)
            == scores["recommended_product_names"].map(len)).all()
    assert summary["customers"] == len(scores)
    assert scores["model_version"].nunique() == 1


def test_leads_get_welcome_offer_and_popular_products(fitted):
    scorer, scores, _ = fitted
    leads = scores.loc[scores["lifecycle_stage"] == "lead"]
    assert len(leads) > 50
    assert set(leads["offer_type"]) == {"welcome_discount"}
    popular = scorer.recommender_.recommend(["no-such-customer"], n=5)["product_id"].tolist()
    assert all(ids == popular for ids in leads["recommended_product_ids"])
    assert leads["first_name"].notna().all()  # profiles joined


def test_bonus_grows_with_risk_and_control_group_gets_none(fitted):
    _, scores, _ = fitted
    control = scores.loc[scores["control_group"]]
    assert 0.05 < len(control) / len(scores) < 0.15
    assert (control["bonus_amount"] == 0).all()
    treated = scores.loc[~scores["control_group"] & (scores["n_orders"] > 0)]
    with_bonus = treated.loc[treated["bonus_amount"] > 0]
    without = treated.loc[treated["bonus_amount"] == 0]
    policy = fitted[0].config.offers
    assert (with_bonus["churn_probability"] >= policy.min_churn_probability).all()
    assert (with_bonus["predicted_clv_12m"] >= policy.min_clv).all()
    assert with_bonus["value_at_risk"].median() > without["value_at_risk"].median()


def test_same_input_same_scores(fitted, synthetic_shop):
    scorer, scores, _ = fitted
    again, _ = CustomerScorer().fit(synthetic_shop).score(synthetic_shop)
    pd.testing.assert_frame_equal(scores, again)


def test_model_input_mismatch_is_refused(fitted):
    scorer, _, _ = fitted
    cdnow = load_dataset("cdnow-sample")
    with pytest.raises(DataError, match="lacks product_id"):
        scorer.check_input(cdnow.transactions.drop(columns=["product_id"]))
    with pytest.raises(DataError, match="catalogue"):
        # every column the model needs is there (CDNOW has no country: say it had one)
        scorer.check_input(cdnow.transactions.assign(product_id="X1"),
                           tuple(scorer.input_columns_))


def test_champion_moves_only_when_metrics_are_at_least_as_good(fitted, store):
    scorer, _, _ = fitted
    tracking.experiment("synthetic")
    with mlflow.start_run():
        first = log_scorer(scorer, {"churn_roc_auc": 0.80, "churn_brier": 0.17,
                                    "revenue_gini": 0.85}, "synthetic")
        worse = log_scorer(scorer, {"churn_roc_auc": 0.81, "churn_brier": 0.18,
                                    "revenue_gini": 0.86}, "synthetic")
        better = log_scorer(scorer, {"churn_roc_auc": 0.80, "churn_brier": 0.17,
                                     "revenue_gini": 0.87}, "synthetic")
        # a retrain whose metrics differ only by float noise (below the 6 stored decimals)
        # ties, and a tie is "at least as good"
        tie = log_scorer(scorer, {"churn_roc_auc": 0.80 - 1e-9, "churn_brier": 0.17 + 1e-9,
                                  "revenue_gini": 0.87}, "synthetic")
        other = log_scorer(scorer, {"churn_roc_auc": 0.99, "churn_brier": 0.01,
                                    "revenue_gini": 0.99}, "cdnow")
    assert first["champion"] and not worse["champion"] and better["champion"]
    assert tie["champion"], tie["reason"]
    assert "churn_brier" in worse["reason"]
    assert not other["champion"] and "synthetic" in other["reason"]
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == tie["version"]


def test_batch_scoring_job_is_byte_identical_and_logs_no_personal_data(fitted, store):
    scorer, _, _ = fitted
    tracking.experiment("synthetic")
    with mlflow.start_run():
        log_scorer(scorer, {"churn_roc_auc": 0.8}, "synthetic")
    args = ["score", "--dataset", "synthetic", "--synthetic-customers", "1500", "--seed", "3",
            "--as-of", AS_OF]
    assert main([*args, "--out", str(store / "a")]) == 0
    assert main([*args, "--out", str(store / "b")]) == 0
    for name in ("scores.parquet", "scores.csv", "emails.jsonl", "campaign_summary.json"):
        assert (store / "a" / name).read_bytes() == (store / "b" / name).read_bytes(), name
    emails = [json.loads(line) for line in (store / "a" / "emails.jsonl").read_text().splitlines()]
    assert emails[0]["greeting_name"] and len(emails[0]["products"]) == 5
    # MLflow holds no emails or names.
    client = MlflowClient()
    runs = mlflow.search_runs(experiment_names=["scoring-synthetic"], output_format="list")
    assert len(runs) == 2
    logged = json.dumps([{**r.data.params, **r.data.tags, **r.data.metrics} for r in runs])
    profiles = load_dataset("synthetic", n_customers=1500, seed=3).customers
    assert not any(email in logged for email in profiles["email"].head(200))
    assert not any(f'"{name}"' in logged for name in profiles["first_name"].head(200))
    assert runs[0].data.params["model_version"] == scorer.version_
    assert client.get_registered_model(MODEL_NAME)


def test_unknown_model_is_a_clear_error(store, capsys):
    code = main(["score", "--dataset", "cdnow-sample", "--model",
                 "models:/customer-scorer@champion", "--out", str(store / "x")])
    assert code == 2
    assert "scoring run" in capsys.readouterr().err


def test_failed_write_leaves_previous_output_intact(tmp_path):
    path = tmp_path / "scores.parquet"
    good = pd.DataFrame({"customer_id": ["1"], "value": [1.0]})
    write_parquet(good, path)
    before = path.read_bytes()
    unwritable = pd.DataFrame({"customer_id": ["1"], "value": [object()]})
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's error type varies by version
        write_parquet(unwritable, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_as_of_given_as_text_or_timestamp_gives_the_same_table(fitted, synthetic_shop):
    scorer, scores, _ = fitted
    from_text, _ = scorer.score(synthetic_shop, AS_OF)
    pd.testing.assert_frame_equal(from_text, scores)
    assert from_text["expected_next_order_date"].dtype == "datetime64[ns]"


def test_scoring_in_chunks_of_customers_gives_the_same_table(fitted, synthetic_shop):
    """The pandas engine scores customers in chunks (memory); any chunking gives the table
    one pass gives, because score_customers needs no population statistics."""
    scorer, scores, _ = fitted
    in_chunks, _ = scorer.score(synthetic_shop, customers_per_chunk=300)
    pd.testing.assert_frame_equal(in_chunks, scores)


def test_scoring_without_recommendations_changes_only_the_lists(fitted, synthetic_shop):
    """``with_recommendations=False`` (the out-of-time evaluation) gives every other column
    exactly, chunked or not, and empty recommendation lists."""
    scorer, _, _ = fitted
    full = scorer.score_customers_in_chunks(synthetic_shop.transactions, synthetic_shop.as_of,
                                            synthetic_shop.events)
    for per_chunk in (300, 10**6):
        bare = scorer.score_customers_in_chunks(
            synthetic_shop.transactions, synthetic_shop.as_of, synthetic_shop.events,
            per_chunk, with_recommendations=False)
        lists = ["recommended_product_ids", "recommended_product_names"]
        assert list(bare.columns) == list(full.columns)
        pd.testing.assert_frame_equal(  # chunks come in chunk order, not by customer
            bare.drop(columns=lists).sort_values("customer_id", ignore_index=True),
            full.drop(columns=lists).sort_values("customer_id", ignore_index=True))
        assert bare[lists].map(len).eq(0).all().all()
        assert full["recommended_product_ids"].map(len).gt(0).any()


def test_churn_comes_from_the_shipped_model(fitted, synthetic_shop):
    """churn_model="lgbm_hybrid" (default) scores churn with LightGBM, "btyd" with the
    transaction model's closed form; p_alive always comes from the transaction model."""
    from dataclasses import replace

    from scoring.scorer import ScoringConfig

    scorer, scores, _ = fitted
    assert scorer.churn_model_ is not None and scorer.churn_model_.uses_events_
    btyd_scorer = CustomerScorer(replace(ScoringConfig(), churn_model="btyd")).fit(synthetic_shop)
    assert btyd_scorer.churn_model_ is None
    btyd_scores, _ = btyd_scorer.score(synthetic_shop)
    buyers = scores["n_orders"] > 0
    pd.testing.assert_series_equal(btyd_scores["p_alive"], scores["p_alive"])
    assert not btyd_scores.loc[buyers, "churn_probability"].equals(
        scores.loc[buyers, "churn_probability"])
    without_events = replace(synthetic_shop, events=None)
    with pytest.raises(DataError, match="events"):
        scorer.score(without_events)


def test_later_as_of_recommends_from_the_customers_later_history():
    """A model fitted mid-history scores a later as-of on the later input: customers who first
    bought after the fit get buy-again recommendations from their own purchases, not the
    popularity list of unknown customers."""
    shop = load_dataset("synthetic", n_customers=1500, seed=3)
    fitted_as_of = "2023-01-31"  # the synthetic shop acquires customers until mid-2023
    scorer = CustomerScorer().fit(shop, fitted_as_of)
    scores, _ = scorer.score(shop, AS_OF)
    tx = shop.transactions.loc[shop.transactions["timestamp"] < pd.Timestamp(AS_OF)]
    first_order = tx.groupby("customer_id")["timestamp"].min()
    new_buyers = first_order.index[first_order >= pd.Timestamp(fitted_as_of)
                                   + pd.Timedelta(days=1)]
    assert len(new_buyers) > 20
    recs = scores.set_index("customer_id").loc[new_buyers, "recommended_product_ids"].explode()
    bought = tx.loc[tx["customer_id"].isin(new_buyers), ["customer_id", "product_id"]]
    pairs = pd.MultiIndex.from_frame(bought.astype(str).drop_duplicates())
    own = pd.MultiIndex.from_arrays([recs.index.astype(str), recs.astype(str)]).isin(pairs)
    share_with_own_product = pd.Series(own, index=recs.index).groupby(level=0).any().mean()
    # a few bought only products launched after the fit (not in the fitted catalogue): they
    # get popularity like any customer without known history
    assert share_with_own_product > 0.95
    stale = scorer._recommendations(new_buyers)[0]  # the fit-time histories: all popularity
    assert len({tuple(items) for items in stale}) == 1


def test_pyfunc_model_scores_order_lines_with_event_rows(fitted, synthetic_shop, store):
    """The registered pyfunc takes one table: order lines plus event rows marked by
    ``event_type``; it scores like the scorer (leads and profiles aside, which it lacks)."""
    scorer, scores, _ = fitted
    tracking.experiment("synthetic")
    with mlflow.start_run():
        info = log_scorer(scorer, {}, "synthetic", register=False)
    model = mlflow.pyfunc.load_model(info["model_uri"])
    # the serving environment gets what unpickling the scorer imports, pinned
    requirements = mlflow.pyfunc.get_model_dependencies(info["model_uri"])
    pinned = Path(requirements).read_text().split()
    for package in ("lightgbm", "implicit", "pandas", "scoring"):
        assert any(line.startswith(f"{package}==") for line in pinned), (package, pinned)
    columns = ["customer_id", "order_id", "timestamp", "amount", "quantity", "country",
               "product_id"]
    events = synthetic_shop.events[["customer_id", "timestamp", "event_type", "product_id"]]
    combined = pd.concat([synthetic_shop.transactions[columns], events], ignore_index=True)
    out = model.predict(combined, params={"as_of": AS_OF}).set_index("customer_id")
    buyers = scores.loc[scores["n_orders"] > 0].set_index("customer_id")
    pd.testing.assert_series_equal(out.loc[buyers.index, "churn_probability"],
                                   buyers["churn_probability"])
    assert (out.loc[buyers.index, "recommended_product_ids"]
            == buyers["recommended_product_ids"].astype(str)).all()
    with pytest.raises(DataError, match="events"):
        model.predict(synthetic_shop.transactions[columns], params={"as_of": AS_OF})


def test_input_check_compares_what_the_model_needs_with_what_the_file_had(fitted,
                                                                          synthetic_shop):
    """The cleaned table has every canonical column (absent optional ones empty): the check
    must look at the file's own columns, and name each one the model needs but the file
    lacks, whichever it is."""
    scorer, _, _ = fitted
    had = synthetic_shop.input_columns
    assert set(scorer.input_columns_) <= set(had)
    scorer.check_input(synthetic_shop.transactions, had)
    for column in scorer.input_columns_:
        without = tuple(c for c in had if c != column)
        with pytest.raises(DataError, match=rf"lacks {column}, which model"):
            scorer.check_input(synthetic_shop.transactions, without)


def test_score_command_names_a_missing_column_of_the_file(fitted, synthetic_shop, store,
                                                          tmp_path, capsys):
    scorer, _, _ = fitted
    tracking.experiment("synthetic")
    with mlflow.start_run():
        log_scorer(scorer, {"churn_roc_auc": 0.8}, "synthetic")
    needed = [c for c in ("country", "product_id") if c in scorer.input_columns_]
    assert needed, "the fixture's model should need country or product ids"
    tx = synthetic_shop.transactions.head(5000)
    for column in needed:
        path = tmp_path / f"without_{column}.csv"
        tx.drop(columns=[column]).to_csv(path, index=False)
        code = main(["score", "--model", f"models:/{MODEL_NAME}@champion", "--transactions",
                     str(path), "--as-of", AS_OF, "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and f"lacks {column}" in err and "Traceback" not in err
