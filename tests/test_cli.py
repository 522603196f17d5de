"""The scoring command: --help everywhere, data check / segments / run outputs, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from scoring.cli import build_parser, main

COMMANDS = [[], ["run"], ["data"], ["data", "check"], ["data", "synth"], ["segments"]]


def subcommands(parser, prefix=()):
    """Every command path of the parser, found by walking its subparsers."""
    import argparse

    yield list(prefix)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommands(sub, (*prefix, name))


def test_every_command_has_help(capsys):
    paths = list(subcommands(build_parser()))
    assert len(paths) >= len(COMMANDS)
    for path in paths:
        with pytest.raises(SystemExit) as exit_:
            main([*path, "--help"])
        assert exit_.value.code == 0
        assert "usage: scoring" in capsys.readouterr().out


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "scoring", "--help"], capture_output=True,
                         text=True, check=True)
    assert "data" in out.stdout and "segments" in out.stdout


def test_data_check_writes_report_and_quarantine(tmp_path, capsys):
    assert main(["data", "check", "--dataset", "online-retail-ii", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "rows in" in printed and "missing_customer_id" in printed
    report = json.loads((tmp_path / "quality_report.json").read_text())
    assert report["rows_in"] == report["rows_used"] + sum(report["quarantined"].values())
    quarantine = pd.read_parquet(tmp_path / "quarantine.parquet")
    assert len(quarantine) == sum(report["quarantined"].values())
    assert quarantine["quarantine_reason"].value_counts().to_dict() == {
        k: v for k, v in report["quarantined"].items() if v}


def test_segments_command(tmp_path, capsys):
    assert main(["segments", "--dataset", "cdnow-sample", "--as-of", "1997-09-30",
                 "--out", str(tmp_path)]) == 0
    segments = pd.read_parquet(tmp_path / "segments.parquet")
    assert segments["customer_id"].is_unique
    assert segments["last_order_at"].max() < pd.Timestamp("1997-10-01")
    assert "lifecycle_stage" in capsys.readouterr().out


def test_bad_input_exits_2_with_the_message(tmp_path, capsys):
    code = main(["data", "check", "--transactions", str(tmp_path / "missing.csv"),
                 "--out", str(tmp_path)])
    assert code == 2
    assert "missing.csv" in capsys.readouterr().err


def test_transactions_with_column_mapping(tmp_path):
    frame = pd.DataFrame({"buyer": ["1", "1", "2"], "when": ["2020-01-01", "2020-03-01",
                                                             "2020-02-01"],
                          "paid": ["10.5", "3", "7"]})
    frame.to_csv(tmp_path / "orders.csv", index=False)
    out = tmp_path / "out"
    assert main(["data", "check", "--transactions", str(tmp_path / "orders.csv"), "--columns",
                 "customer_id=buyer,timestamp=when,amount=paid", "--out", str(out)]) == 0
    assert json.loads((out / "quality_report.json").read_text())["rows_used"] == 3


def test_recommender_grid_presets():
    """`scoring run` validates recommenders on the quick grid, `scoring evaluate` on the full
    one; both are overrides of the same default configuration."""
    from scoring.cli import build_parser
    from scoring.evaluation.recommend_eval import GRID_PRESETS, default_config

    parser = build_parser()
    assert parser.parse_args(["run"]).recommender_grid == "quick"
    assert parser.parse_args(["evaluate"]).recommender_grid == "full"

    def settings(preset: str) -> int:
        config = GRID_PRESETS[preset]()
        grids = {**default_config()["grids"], **config.get("grids", {})}
        models = config.get("models", default_config()["models"])
        return sum(len(grid) for name, grid in grids.items() if name in models)

    assert (settings("full"), settings("quick")) == (40, 20)
    assert GRID_PRESETS["quick"]()["validation_folds"] == 1
