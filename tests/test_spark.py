"""The Spark engine gives the pandas engine's scoring table, in memory, from Parquet and via
the CLI (synthetic shop, local[2]; one SparkSession for the module)."""

from __future__ import annotations

import json
import shutil

import mlflow
import pandas as pd
import pytest

from scoring import tracking
from scoring.cli import main
from scoring.data import DataError, load_dataset
from scoring.registry import log_scorer
from scoring.scorer import CustomerScorer

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        shutil.which("java") is None,
        reason="the Spark engine needs Java (java not found on the PATH)",
    ),
]

N_CUSTOMERS = 1500
SEED = 1
AS_OF = "2023-06-30"  # mid-history: later orders, events and sign-ups must be left out
MASTER = "local[2]"
FAST_START = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
"""Quick JIT and a simple GC: about 10 s less JVM start-up and warm-up for these small jobs."""


@pytest.fixture(scope="module")
def spark():
    from scoring.spark_engine import spark_session

    session = spark_session(MASTER, FAST_START)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def shop():
    return load_dataset("synthetic", n_customers=N_CUSTOMERS, seed=SEED)


@pytest.fixture(scope="module")
def scorer(shop):
    return CustomerScorer().fit(shop, AS_OF)


@pytest.fixture(scope="module")
def pandas_result(scorer, shop):
    return scorer.score(shop, AS_OF)


def assert_same_scores(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=0)


def test_spark_engine_equals_pandas_engine(spark, scorer, shop, pandas_result):
    from scoring.spark_engine import score_with_spark

    expected, expected_summary = pandas_result
    assert shop.events is not None and len(shop.events)  # the cogroup path
    assert (shop.transactions["timestamp"] > pd.Timestamp(AS_OF) + pd.Timedelta(days=1)).any()
    got, summary = score_with_spark(scorer, shop, AS_OF, master=MASTER, n_buckets=5)
    assert_same_scores(got, expected)
    assert summary == expected_summary
    assert (got["lifecycle_stage"] == "lead").any()  # finalize ran on the driver
    assert got["cart_abandoner"].any() and got["email_engagement"].notna().any()
    assert not spark.sparkContext._jsc.sc().isStopped()  # the caller's session is left running


def test_shop_without_products_events_or_countries(spark):
    """CDNOW: empty recommendation lists, no events (groupBy path), country all <NA>."""
    from scoring.spark_engine import score_with_spark

    cdnow = load_dataset("cdnow-sample")
    fitted = CustomerScorer().fit(cdnow, "1997-09-30")
    expected, expected_summary = fitted.score(cdnow, "1997-09-30")
    got, summary = score_with_spark(fitted, cdnow, "1997-09-30", master=MASTER)
    assert_same_scores(got, expected)
    assert summary == expected_summary
    assert got["recommended_product_ids"].map(len).eq(0).all()


def test_parquet_input_equals_pandas_engine(spark, scorer, shop, pandas_result, tmp_path):
    """Transactions as a folder of three files whose size order is not their name order
    (Spark reads the largest first): rows keep pandas' order, so sums are bit-identical."""
    from scoring.spark_engine import score_parquet_with_spark

    folder = tmp_path / "transactions"
    folder.mkdir()
    tx = shop.transactions
    cuts = [0, len(tx) // 6, len(tx) // 3, len(tx)]  # sizes 1/6, 1/6, 2/3
    for number, (start, stop) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        tx.iloc[start:stop].to_parquet(folder / f"part-{number}.parquet", index=False)
    paths = {"transactions": folder}
    for table in ("events", "customers"):
        paths[table] = tmp_path / f"{table}.parquet"
        getattr(shop, table).to_parquet(paths[table], index=False)
    got, summary = score_parquet_with_spark(
        scorer, paths["transactions"], AS_OF, events_path=paths["events"],
        customers_path=paths["customers"], master=MASTER, n_buckets=3,
    )  # fmt: skip
    pd.testing.assert_frame_equal(got, pandas_result[0], check_exact=True)
    assert summary == pandas_result[1]


def test_parquet_input_without_amount_is_refused(spark, scorer, shop, tmp_path):
    from scoring.spark_engine import score_parquet_with_spark

    path = tmp_path / "transactions.parquet"
    shop.transactions.drop(columns=["amount"]).to_parquet(path, index=False)
    with pytest.raises(DataError, match="amount"):
        score_parquet_with_spark(scorer, path, AS_OF, master=MASTER)


def test_cli_spark_engine_writes_the_pandas_engine_files(spark, shop, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.configure()
    fitted = CustomerScorer().fit(shop)
    tracking.experiment("synthetic")  # not the experiment id a previous test left active
    with mlflow.start_run():
        model_uri = log_scorer(fitted, {}, "synthetic")["model_uri"]
    outputs = {}
    for engine in ("pandas", "spark"):
        outputs[engine] = tmp_path / engine
        code = main(
            [
                "score",
                "--dataset",
                "synthetic",
                "--synthetic-customers",
                str(N_CUSTOMERS),
                "--seed",
                str(SEED),
                "--engine",
                engine,
                "--spark-master",
                MASTER,
                "--model",
                model_uri,
                "--out",
                str(outputs[engine]),
            ]
        )
        assert code == 0
    assert_same_scores(
        pd.read_parquet(outputs["spark"] / "scores.parquet"),
        pd.read_parquet(outputs["pandas"] / "scores.parquet"),
    )
    for name in ("campaign_summary.json", "emails.jsonl", "scores.csv"):
        assert (outputs["spark"] / name).read_bytes() == (outputs["pandas"] / name).read_bytes()
    summary = json.loads((outputs["spark"] / "campaign_summary.json").read_text())
    assert summary["customers"] == N_CUSTOMERS

    # cleaned tables on shared storage: the driver never loads the order lines
    data = ["--dataset", "synthetic", "--synthetic-customers", str(N_CUSTOMERS),
            "--seed", str(SEED)]
    assert main(["data", "check", *data, "--out", str(tmp_path / "check"),
                 "--write-canonical"]) == 0
    canonical = tmp_path / "check" / "canonical"
    assert (canonical / "transactions.parquet").exists()
    assert main(["score", "--canonical", str(canonical), "--engine", "spark",
                 "--spark-master", MASTER, "--model", model_uri, "--as-of", summary["as_of"],
                 "--out", str(tmp_path / "canonical_scores")]) == 0
    assert_same_scores(
        pd.read_parquet(tmp_path / "canonical_scores" / "scores.parquet"),
        pd.read_parquet(outputs["pandas"] / "scores.parquet"),
    )
    assert main(["score", "--canonical", str(canonical), "--model", model_uri,
                 "--out", str(tmp_path / "refused")]) == 2  # the pandas engine has --dataset
