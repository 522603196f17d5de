"""The campaign loop from the command line, end to end on a simulated campaign with known
truth: data synth --campaign -> campaign report -> campaign uplift (registered in MLflow) ->
run --uplift-model (bonuses by predicted incremental profit) -> campaign plan; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from scoring import tracking
from scoring.cli import main


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """One simulated campaign and its report, uplift model and next allocation."""
    root = tmp_path_factory.mktemp("campaign")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    tracking.configure()
    shop = root / "shop"
    assert main(["data", "synth", "--customers", "4000", "--seed", "5", "--campaign",
                 "--out", str(shop)]) == 0
    data = ["--assignments", str(shop / "campaign.parquet"),
            "--transactions", str(shop / "transactions.parquet")]
    assert main(["campaign", "uplift", *data, "--folds", "3", "--out", str(root / "uplift")]) == 0
    assert main(["campaign", "report", *data, "--uplift-predictions",
                 str(root / "uplift" / "uplift.parquet"), "--out", str(root / "report")]) == 0
    assert main(["run", "--transactions", str(shop / "transactions.parquet"),
                 "--as-of", "2023-09-28", "--skip-evaluation", "--budget", "2000",
                 "--uplift-model", "models:/uplift-model@current", "--out", str(root / "next")]) == 0
    yield root
    mp.undo()


def test_synth_campaign_writes_assignments_and_potential_outcomes(loop):
    shop = loop / "shop"
    meta = json.loads((shop / "campaign.json").read_text())
    assert meta["start"] == "2023-07-01" and meta["days"] == 90 and meta["min_bonus"] == 10.0
    assignments = pd.read_parquet(shop / "campaign.parquet")
    truth = pd.read_parquet(shop / "truth.parquet")
    shares = assignments["arm"].value_counts(normalize=True)
    assert abs(shares["control"] - 0.2) < 0.03
    for arm in ("control", "bonus_50", "bonus_100"):
        assert truth.loc[truth["campaign_arm"].notna(), f"revenue_if_{arm}"].notna().all()


def test_report_measures_every_arm_with_intervals_and_variance_reduction(loop):
    report = json.loads((loop / "report" / "report.json").read_text())
    assert report["window"] == {"start": "2023-07-01", "days": 90}
    arms = {entry["arm"]: entry for entry in report["overall"]}
    assert set(arms) == {"control", "bonus_50", "bonus_100"}
    revenue = arms["bonus_100"]["outcomes"]["revenue"]
    assert revenue["plain"]["ci_low"] < revenue["plain"]["effect"] < revenue["plain"]["ci_high"]
    assert revenue["ci_width_reduction"] > 0.1  # pre-period behaviour predicts revenue
    assert {"value_tier", "lifecycle_stage", "offer_type", "churn_decile"} <= set(
        report["segments"])
    assert set(report["qini_revenue"]) == {"churn_probability", "value_at_risk", "uplift_model"}
    assert report["power"]["minimum_detectable_conversion_lift"] > 0
    plots = {p.name for p in (loop / "report" / "plots").iterdir()}
    assert {"arm_effects_revenue.png", "qini_revenue.png", "uplift_by_churn_decile.png"} <= plots
    outcomes = pd.read_parquet(loop / "report" / "outcomes.parquet")
    assert len(outcomes) == report["customers"]


def test_report_agrees_with_the_truth_of_each_customers_own_arm(loop):
    outcomes = pd.read_parquet(loop / "report" / "outcomes.parquet").set_index("customer_id")
    truth = pd.read_parquet(loop / "shop" / "truth.parquet").set_index("customer_id")
    truth = truth.loc[outcomes.index]
    own = np.array([truth.at[c, f"orders_if_{a}"] for c, a in
                    zip(outcomes.index[:300], outcomes["arm"][:300], strict=True)])
    np.testing.assert_array_equal(outcomes["orders"].to_numpy()[:300], own)


def test_uplift_model_is_registered_and_tracked(loop):
    client = mlflow.tracking.MlflowClient()
    version = client.get_model_version_by_alias("uplift-model", "current")
    assert version.tags["arms"] == "bonus_100,bonus_50"
    requirements = mlflow.pyfunc.get_model_dependencies(f"models:/uplift-model/{version.version}")
    pinned = Path(requirements).read_text().split()
    assert any(line.startswith("causalml==") for line in pinned), pinned
    predictions = pd.read_parquet(loop / "uplift" / "uplift.parquet")
    assert {"predicted_incremental_revenue_bonus_50", "predicted_incremental_revenue_bonus_100",
            "best_arm"} <= set(predictions.columns)
    assert predictions["predicted_incremental_revenue"].notna().all()
    runs = mlflow.search_runs(experiment_names=["campaign-transactions"])
    assert {"campaign-report", "campaign-uplift"} <= set(runs["tags.job"])


def test_next_allocation_follows_the_uplift_model_within_the_budget(loop):
    scores = pd.read_parquet(loop / "next" / "scores.parquet")
    summary = json.loads((loop / "next" / "campaign_summary.json").read_text())
    retention = scores.loc[scores["lifecycle_stage"] != "lead", "bonus_amount"]
    assert 0 < retention.sum() <= 2000 + 1e-6
    assert summary["uplift"]["model_uri"] == "models:/uplift-model@current"
    funded = scores["bonus_reason"] == "uplift_allocation"
    assert funded.any() and (scores.loc[funded, "expected_incremental_revenue"] > 0).all()
    assert (scores.loc[~funded, "expected_incremental_revenue"] == 0).all()
    # the control group keeps measuring: no bonus there
    assert (scores.loc[scores["control_group"], "bonus_amount"] == 0).all()


def test_plan_prints_the_detectable_lift_and_refuses_an_impossible_one(capsys):
    assert main(["campaign", "plan", "--customers", "50000", "--baseline-rate", "0.3",
                 "--lift", "0.02"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert 0 < plan["required_control_share"] <= 0.5
    assert plan["minimum_detectable_lift"] > 0
    assert main(["campaign", "plan", "--customers", "500", "--baseline-rate", "0.3",
                 "--lift", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "smallest detectable lift" in err and "Traceback" not in err


def test_bad_campaign_inputs_exit_2_with_the_fix(loop, tmp_path, capsys):
    shop = loop / "shop"
    bad = pd.read_parquet(shop / "campaign.parquet").drop(columns="arm")
    bad.to_parquet(tmp_path / "campaign.parquet")
    assert main(["campaign", "report", "--assignments", str(tmp_path / "campaign.parquet"),
                 "--transactions", str(shop / "transactions.parquet"), "--start", "2023-07-01",
                 "--days", "90", "--out", str(tmp_path / "r")]) == 2
    assert "arm" in capsys.readouterr().err
    # a window the data does not reach yet
    assert main(["campaign", "report", "--assignments", str(shop / "campaign.parquet"),
                 "--transactions", str(shop / "transactions.parquet"), "--start", "2025-01-01",
                 "--out", str(tmp_path / "r")]) == 2
    assert "does not reach the window" in capsys.readouterr().err
    # no window known: no campaign.json and no --start
    pd.read_parquet(shop / "campaign.parquet").to_parquet(tmp_path / "campaign.parquet")
    assert main(["campaign", "report", "--assignments", str(tmp_path / "campaign.parquet"),
                 "--transactions", str(shop / "transactions.parquet"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "--start" in capsys.readouterr().err


@pytest.mark.slow
def test_a_a_check_on_real_data_finds_no_effect_and_flags_the_chance_imbalance(tmp_path,
                                                                              monkeypatch):
    """Online Retail II had no campaign: the stable-hash arms of a `scoring run` as of
    2011-09-08 are an A/A test of the next 90 days. The adjusted intervals cover 0; the plain
    revenue difference is pulled by a few very large wholesale customers that the hash put in
    the treatment arm, which the pre-campaign balance check reports."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.configure()
    assert main(["run", "--dataset", "online-retail-ii", "--as-of", "2011-09-08",
                 "--skip-evaluation", "--out", str(tmp_path / "run")]) == 0
    assert main(["campaign", "report", "--assignments", str(tmp_path / "run" / "scores.parquet"),
                 "--dataset", "online-retail-ii", "--days", "90",
                 "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["window"] == {"start": "2011-09-09", "days": 90}
    treatment = next(e for e in report["overall"] if e["arm"] == "treatment")
    for outcome in ("converted", "revenue"):
        adjusted = treatment["outcomes"][outcome]["adjusted"]
        assert adjusted["ci_low"] < 0 < adjusted["ci_high"], outcome
    assert not report["checks"]["sample_ratio"]["mismatch"]
    assert any("pre-campaign imbalance" in w for w in report["checks"]["warnings"])
