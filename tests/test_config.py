"""One configuration tree: YAML round trip, the older flat files, unknown keys, flags over the
file, ``scoring config show``, paths from the working directory, config.yaml in MLflow."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scoring import tracking
from scoring.cli import main
from scoring.config import (
    EvaluationConfig,
    PathsConfig,
    ProjectConfig,
    activated,
    config_from_dict,
    config_to_dict,
    dumps_yaml,
    load_config,
    log_config,
)
from scoring.data import DataError, loaders
from scoring.offers import split_arms


def write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


def show(capsys, *argv) -> dict:
    assert main(["config", "show", *argv]) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_round_trip_through_yaml_and_json(tmp_path):
    config = load_config(None, {
        "paths": {"data_dir": str(tmp_path / "store")},
        "input": {"columns": "customer_id=Client,timestamp=Date",
                  "read": {"date_format": "%d/%m/%Y", "sheet": 2}},
        "scoring": {"budget": 1500, "churn_model": "btyd",
                    "offers": {"arms": {"control": 0.2, "a": 0.4, "b": 0.4},
                               "welcome_discount_percent": 15, "denominations": [10, 20]},
                    "segments": {"lapsed_days": 120}},
        "evaluation": {"horizon_days": 60, "cutoff": "2011-06-09", "n_folds": 3,
                       "churn_params": {"num_leaves": 15}},
        "tracking": {"tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"},
    })
    data = config_to_dict(config)
    json.dumps(data)  # plain types only
    assert config_from_dict(json.loads(json.dumps(data))) == config
    assert config_from_dict(yaml.safe_load(dumps_yaml(config))) == config
    assert config_from_dict(config_to_dict(ProjectConfig())) == ProjectConfig()
    # the values landed where they belong, as the dataclasses' types
    assert config.input.columns == {"customer_id": "Client", "timestamp": "Date"}
    assert config.input.read.sheet == "2"
    assert config.scoring.budget == 1500.0
    assert config.scoring.offers.arms == (("control", 0.2), ("a", 0.4), ("b", 0.4))
    assert config.scoring.segments.lapsed_days == 120
    assert config.scoring.churn_horizon_days == config.evaluation.horizon_days == 60
    assert config.paths.raw_dir == tmp_path / "store" / "raw"
    assert data["scoring"]["offers"]["arms"] == {"control": 0.2, "a": 0.4, "b": 0.4}


def test_churn_revenue_defaults_come_from_the_evaluation_config():
    from scoring.evaluation.churn_revenue import DEFAULT_CONFIG

    assert DEFAULT_CONFIG == EvaluationConfig().churn_revenue()
    assert ProjectConfig().evaluation.horizon_days == ProjectConfig().scoring.churn_horizon_days


def test_old_flat_yaml_still_loads(tmp_path, capsys):
    old = write_yaml(tmp_path / "old.yaml", {
        "columns": {"customer_id": "buyer", "timestamp": "when", "amount": "paid"},
        "customer_columns": {"customer_id": "id"},
        "date_format": "%d/%m/%Y",
        "max_bad_share": 0.05,
    })
    config = load_config(old)
    assert config.input.columns == {"customer_id": "buyer", "timestamp": "when",
                                    "amount": "paid"}
    assert config.input.customer_columns == {"customer_id": "id"}
    assert config.input.read.date_format == "%d/%m/%Y"
    assert config.input.read.max_bad_share == 0.05
    # every day <= 12: only the config's date format makes the file readable
    pd.DataFrame({"buyer": ["1", "1", "2"], "when": ["01/02/2020", "03/02/2020", "02/03/2020"],
                  "paid": ["10.5", "3", "7"]}).to_csv(tmp_path / "orders.csv", index=False)
    out = tmp_path / "out"
    argv = ["data", "check", "--transactions", str(tmp_path / "orders.csv"), "--out", str(out)]
    assert main(argv) == 2
    assert main([*argv, "--config", str(old)]) == 0
    report = json.loads((out / "quality_report.json").read_text())
    assert report["rows_used"] == 3


@pytest.mark.parametrize("data, named", [
    ({"bogus": 1}, "'bogus'"),
    ({"scoring": {"offers": {"bonus_rat": 0.2}}}, "scoring.offers: unknown key 'bonus_rat'"),
    ({"paths": {"data": "x"}}, "paths: unknown key 'data'"),
])
def test_unknown_key_exits_2_naming_it_and_the_known_ones(tmp_path, capsys, data, named):
    path = write_yaml(tmp_path / "bad.yaml", data)
    with pytest.raises(DataError, match="unknown key"):
        load_config(path)
    assert main(["config", "show", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert named in err and "known keys are" in err
    assert main(["data", "check", "--dataset", "cdnow-sample", "--config", str(path),
                 "--out", str(tmp_path / "o")]) == 2


@pytest.mark.parametrize("data, named", [
    ({"scoring": {"budget": "lots"}}, "scoring.budget"),
    ({"evaluation": {"seed": 1.5}}, "evaluation.seed"),
    ({"evaluation": {"plots": "yes"}}, "evaluation.plots"),
    ({"input": {"read": {"max_bad_share": 2}}}, "max_bad_share"),
    ({"scoring": {"offers": {"arms": {"control": 0.5, "treatment": 0.6}}}}, "arms"),
    ({"evaluation": {"horizon_days": 30}, "scoring": {"churn_horizon_days": 90}},
     "horizon_days"),
])
def test_wrong_values_are_refused_with_the_key(tmp_path, capsys, data, named):
    path = write_yaml(tmp_path / "bad.yaml", data)
    assert main(["config", "show", "--config", str(path)]) == 2
    assert named in capsys.readouterr().err


def test_flags_override_the_yaml(tmp_path, capsys):
    path = write_yaml(tmp_path / "c.yaml", {
        "input": {"read": {"date_format": "%d/%m/%Y", "timezone": "Europe/London"}},
        "scoring": {"budget": 100.0, "offers": {"arms": {"control": 0.3, "treatment": 0.7}}},
        "evaluation": {"horizon_days": 60, "seed": 7, "recommender_grid": "quick"},
    })
    from_file = show(capsys, "--config", str(path))
    assert from_file["scoring"]["budget"] == 100.0
    assert from_file["scoring"]["churn_horizon_days"] == 60
    assert from_file["evaluation"]["seed"] == 7
    flags = show(capsys, "--config", str(path), "--budget", "250", "--control-share", "0.2",
                 "--date-format", "%Y-%m-%d", "--horizon-days", "30", "--seed", "3",
                 "--recommender-grid", "full", "--cutoff", "2011-06-09")
    assert flags["scoring"]["budget"] == 250.0
    assert flags["scoring"]["offers"]["arms"] == dict(split_arms(0.2, ("treatment",)))
    assert flags["input"]["read"]["date_format"] == "%Y-%m-%d"
    assert flags["input"]["read"]["timezone"] == "Europe/London"  # not overridden: kept
    assert flags["evaluation"]["horizon_days"] == flags["scoring"]["churn_horizon_days"] == 30
    assert (flags["evaluation"]["seed"], flags["evaluation"]["recommender_grid"],
            flags["evaluation"]["cutoff"]) == (3, "full", "2011-06-09")


def test_run_command_uses_the_tree(tmp_path, monkeypatch):
    """cmd_run hands run_main the config tree's ScoringConfig, --budget applied over it."""
    from scoring import pipeline

    seen = {}

    def fake_run_main(shop, out, as_of, config, evaluate, recommender_grid, progress,
                      uplift_model=None):
        seen.update(config=config, grid=recommender_grid)
        raise DataError("stop here")

    monkeypatch.setattr(pipeline, "run_main", fake_run_main)
    path = write_yaml(tmp_path / "c.yaml", {"scoring": {"budget": 100.0, "min_customers": 20}})
    assert main(["run", "--dataset", "cdnow-sample", "--config", str(path),
                 "--budget", "300", "--out", str(tmp_path / "o")]) == 2
    assert (seen["config"].budget, seen["config"].min_customers) == (300.0, 20)
    assert seen["grid"] == "quick"


def test_config_show_is_a_valid_config_file(tmp_path, capsys):
    printed = show(capsys, "--budget", "42")
    assert printed["scoring"]["budget"] == 42.0
    assert list(printed) == ["paths", "input", "scoring", "evaluation", "tracking"]
    again = write_yaml(tmp_path / "again.yaml", printed)
    assert load_config(again) == load_config(None, {"scoring": {"budget": 42.0}})


def test_paths_follow_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.paths == PathsConfig(tmp_path / "data", tmp_path / "data" / "raw",
                                       tmp_path / "data" / "interim",
                                       tmp_path / "data" / "processed", tmp_path / "mlruns")
    assert loaders.DATA_DIR == tmp_path / "data"
    assert loaders.RAW_DIR == tmp_path / "data" / "raw"
    assert tracking.MLRUNS_DIR == tmp_path / "mlruns"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    from scoring.pipeline import output_dir

    assert output_dir("shop") == tmp_path / "data" / "processed" / "shop"
    # relative paths in the YAML are relative to the working directory; sub-folders follow
    moved = load_config(write_yaml(tmp_path / "c.yaml", {"paths": {"data_dir": "store",
                                                                   "mlruns_dir": "runs"}}))
    assert moved.paths.processed_dir == tmp_path / "store" / "processed"
    with activated(moved):
        assert loaders.DATA_DIR == tmp_path / "store"
        assert tracking.MLRUNS_DIR == tmp_path / "runs"
        assert output_dir("shop") == tmp_path / "store" / "processed" / "shop"
    assert loaders.DATA_DIR == tmp_path / "data"  # restored: follows the working directory


def test_bundled_dataset_from_the_repo_root_and_from_elsewhere(tmp_path, monkeypatch, capsys):
    here = loaders.online_retail_file(must_exist=True)
    assert here.is_file() and here.name == "online_retail_II.parquet"
    monkeypatch.chdir(tmp_path)
    # a source checkout falls back to its own copy ...
    assert loaders.online_retail_file(must_exist=True) == here
    # ... an installed package does not: the error says where it looked and what to set
    monkeypatch.setattr(loaders, "SOURCE_ROOT", None)
    assert main(["data", "check", "--dataset", "online-retail-ii", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "data" / "raw" / "online_retail_II.parquet") in err
    assert "paths.raw_dir" in err
    # the config's raw_dir is where it is then found
    raw = tmp_path / "elsewhere"
    raw.mkdir()
    (raw / "online_retail_II.parquet").symlink_to(here)
    config = load_config(None, {"paths": {"raw_dir": str(raw)}})
    with activated(config):
        assert loaders.online_retail_file(must_exist=True) == raw / "online_retail_II.parquet"


def test_tracking_uri_from_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/env.db")
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/env.db"
    config = load_config(None, {"tracking": {"tracking_uri": f"sqlite:///{tmp_path}/cfg.db"}})
    with activated(config):
        assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/cfg.db"
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/env.db"


def test_effective_config_is_logged_to_mlflow(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    config = load_config(None, {"scoring": {"budget": 900.0}, "evaluation": {"seed": 5}})
    tracking.experiment("config-test")
    with activated(config), mlflow.start_run() as run:
        refit = replace(config.scoring, churn_model="btyd")  # what the run really used
        logged = log_config(scoring=refit, evaluation={"cutoff": "2011-06-09"})
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                               artifact_path="config.yaml",
                                               dst_path=str(tmp_path / "dl"))
    stored = yaml.safe_load(Path(path).read_text())
    assert stored == logged
    back = config_from_dict(stored)
    assert back.scoring == refit and back.scoring.budget == 900.0
    assert (back.evaluation.seed, back.evaluation.cutoff) == (5, "2011-06-09")
    assert log_config(config) == config_to_dict(config)  # no active run: nothing logged


@pytest.mark.slow
def test_evaluate_logs_its_config_to_the_parent_run(tmp_path, monkeypatch, capsys):
    """The pipeline's parent run carries config.yaml: the YAML's and the flags' values, and
    the window the run used."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    path = write_yaml(tmp_path / "c.yaml", {"evaluation": {"n_folds": 3, "plots": False}})
    assert main(["evaluate", "--dataset", "cdnow-sample", "--skip-recommenders", "--config",
                 str(path), "--horizon-days", "60", "--out", str(tmp_path / "out")]) == 0
    run_id = capsys.readouterr().out.split("MLflow parent run: ")[1].split()[0]
    stored = yaml.safe_load(Path(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="config.yaml", dst_path=str(tmp_path / "dl"))).read_text())
    assert stored["evaluation"]["n_folds"] == 3 and stored["evaluation"]["plots"] is False
    assert stored["evaluation"]["horizon_days"] == stored["scoring"]["churn_horizon_days"] == 60
    assert stored["evaluation"]["cutoff"] == "1997-10-01"
