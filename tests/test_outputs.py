"""Job outputs (scoring.outputs): whole sets or nothing under SIGKILL, one job per folder,
unique temporary names, MLflow runs KILLED on SIGTERM/SIGINT, CSV formula escaping, strict
JSON; and the batch scoring command killed while it writes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring import outputs
from scoring.data.errors import DataError
from scoring.outputs import OutputSet, dumps, escape_formulas, write_csv, write_json, write_jsonl

SRC = Path(__file__).resolve().parents[1] / "src"


def python(script: Path, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    """``script`` in a child Python that imports this checkout's ``scoring``."""
    environment = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    return subprocess.Popen([sys.executable, str(script), *args], env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def restore(folder: Path, state: dict[str, bytes]) -> None:
    """Write a ``snapshot`` back."""
    for name, data in state.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def leftovers(out: Path) -> list[str]:
    """What the machinery left beside ``out`` (the lock file stays by design)."""
    return sorted(p.name for p in out.parent.iterdir()
                  if p.name.startswith(out.name + ".") and p.name != out.name + ".lock")


def strict_loads(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity."""
    def refuse(constant):
        raise ValueError(f"invalid JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


# --------------------------------------------------------------------------- kill test

WRITER = r'''
"""Writes an output set of several files, printing a marker (then sleeping PAUSE) before each
step, so that the test can SIGKILL it at a known point."""
import errno, sys, time
from scoring import outputs

out, version, pause, mode = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]


def mark(step):
    print(step, flush=True)
    time.sleep(pause)


if mode == "fallback":  # a file system without RENAME_EXCHANGE
    def refuse(first, second):
        raise OSError(errno.EINVAL, "RENAME_EXCHANGE refused")
    outputs._exchange = refuse


def paused(name):
    original = getattr(outputs, name)

    def wrapper(*args, **kwargs):
        mark("before " + name)
        result = original(*args, **kwargs)
        mark("after " + name)
        return result
    setattr(outputs, name, wrapper)


for name in ("_carry_over", "_exchange", "_move"):
    paused(name)
mark("start")
with outputs.OutputSet(out) as files:
    for part in range(4):
        mark(f"file {part}")
        files.write_json({"version": version, "part": part, "payload": "x" * 5000},
                         f"part{part}.json")
    mark("nested")
    files.path("evaluation/metrics.json").write_text(version)
    mark("written")
mark("done")
'''


def kill_at(script: Path, out: Path, marker: str, occurrence: int, delay: float, pause: float,
            mode: str) -> list[str]:
    """Run the writer (version "new") on ``out`` and SIGKILL it ``delay`` seconds after it
    printed ``marker`` for the ``occurrence``-th time; return the markers it printed."""
    proc = python(script, str(out), "new", str(pause), mode)
    seen, count = [], 0
    try:
        while True:
            line = proc.stdout.readline().strip()
            if not line:
                pytest.fail(f"writer ended before {marker!r}: {seen} {proc.stderr.read()}")
            seen.append(line)
            if line == marker:
                count += 1
                if count == occurrence:
                    break
        time.sleep(delay)
        proc.kill()
    finally:
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return seen


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_a_killed_job_leaves_the_old_set_or_the_new_set_never_a_mix(tmp_path, mode):
    """SIGKILL at every step of writing a set (before the first file, between files, during
    the carry-over, around the swap and its renames): the folder then holds the complete old
    set or the complete new one (with the user's own file), never a mix; the next job
    repairs and removes what the killed one left and succeeds."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    base = tmp_path / "base" / "out"
    base.parent.mkdir()
    done = python(script, str(base), "old", "0", mode)
    assert done.wait() == 0, done.stderr.read()
    (base / "notes.txt").write_text("the user's own notes")
    old = snapshot(base)
    reference = tmp_path / "reference" / "out"
    shutil.copytree(base, reference)
    done = python(script, str(reference), "new", "0", mode)
    assert done.wait() == 0, done.stderr.read()
    new = snapshot(reference)
    assert old.keys() == new.keys() and old != new
    assert b'"version": "new"' in new["part0.json"] and new["notes.txt"] == old["notes.txt"]

    pause = 0.03
    if mode == "exchange":
        markers = ["start", "file 0", "file 1", "file 2", "file 3", "nested", "written",
                   "before _carry_over", "after _carry_over", "before _exchange",
                   "after _exchange"]
        points = [(m, 1, d) for m in markers for d in (0.0, pause + 0.002)]
    else:  # the three renames of the fallback swap, and between them
        points = [("before _carry_over", 1, 0.0), ("before _exchange", 1, 0.0),
                  *[(m, n, d) for n in (1, 2, 3) for m in ("before _move", "after _move")
                    for d in (0.0, pause + 0.001)]]
    outcomes = []
    for index, (marker, occurrence, delay) in enumerate(points):
        out = tmp_path / f"case{index}" / "out"
        out.parent.mkdir()
        shutil.copytree(base, out)
        seen = kill_at(script, out, marker, occurrence, delay, pause, mode)
        if mode == "fallback" and not out.exists():
            # the instant between the fallback's 2nd and 3rd rename: no folder (never a mix)
            assert seen[-1] in ("after _move", "before _move"), seen
            outputs.recover(out)
        state = snapshot(out)
        assert state in (old, new), (marker, occurrence, delay, sorted(state))
        outcomes.append("new" if state == new else "old")
        # the next job repairs, cleans up the dead job's folders and succeeds
        again = python(script, str(out), "new", "0", mode)
        assert again.wait() == 0, again.stderr.read()
        assert snapshot(out) == new
        assert leftovers(out) == [], (marker, leftovers(out))
    # both outcomes happen: the kill points span the swap
    assert "old" in outcomes and "new" in outcomes, outcomes


# --------------------------------------------------------------------------- the output set


def test_the_set_replaces_what_it_writes_and_keeps_the_rest(tmp_path):
    out = tmp_path / "out"
    with OutputSet(out) as files:
        files.write_json({"v": 1}, "scores.json")
        files.write_json({"v": 1}, "evaluation/metrics.json")
        files.write_json({"v": 1}, "evaluation/old_only.json")
        files.path("plots").mkdir()
        (files.path("plots") / "a.png").write_bytes(b"png")
        assert files.final("scores.json") == out / "scores.json"
    (out / "notes.txt").write_text("mine")
    (out / "evaluation" / "notes.txt").write_text("mine too")
    with OutputSet(out, claims=["plots"]) as files:
        final = files.write_json({"v": 2}, "scores.json")
        evaluation = files.folder("evaluation")
        evaluation.claim("old_only.json")
        evaluation.write_json({"v": 2}, "metrics.json")
        assert not final.exists() or json.loads(final.read_text())["v"] == 1  # not yet swapped
    assert final == out / "scores.json" and json.loads(final.read_text()) == {"v": 2}
    assert sorted(snapshot(out)) == ["evaluation/metrics.json", "evaluation/notes.txt",
                                     "notes.txt", "scores.json"]
    assert (out / "notes.txt").read_text() == "mine"
    assert leftovers(out) == []


def test_a_failing_job_leaves_the_old_set_and_no_staging_folder(tmp_path):
    out = tmp_path / "out"
    with OutputSet(out) as files:
        files.write_json({"v": 1}, "a.json")
    before = snapshot(out)
    with pytest.raises(ZeroDivisionError), OutputSet(out) as files:
        files.write_json({"v": 2}, "a.json")
        files.write_json({"v": 2}, "b.json")
        1 / 0  # noqa: B018 - the job fails half-way
    assert snapshot(out) == before and leftovers(out) == []


def test_a_symlinked_out_keeps_its_link(tmp_path):
    (tmp_path / "real").mkdir()
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "real")
    with OutputSet(link) as files:
        files.write_json({"v": 1}, "a.json")
    assert link.is_symlink() and (tmp_path / "real" / "a.json").exists()


def test_out_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "scores.csv").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        OutputSet(tmp_path / "scores.csv").__enter__()
    assert (tmp_path / "scores.csv").read_text() == "x"


def test_two_sets_in_one_process_have_their_own_staging_folders(tmp_path):
    with OutputSet(tmp_path / "a") as first, OutputSet(tmp_path / "b") as second:
        assert first.staging != second.staging
        assert first.staging.name.startswith("a.staging-")
        first.write_json({"set": "a"}, "x.json")
        second.write_json({"set": "b"}, "x.json")
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"set": "a"}
    assert json.loads((tmp_path / "b" / "x.json").read_text()) == {"set": "b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "a.lock", "b", "b.lock"]


def test_concurrent_single_file_writes_never_share_a_temporary_file(tmp_path):
    """With the old fixed ``<name>.tmp`` one writer renamed or deleted the other's file and
    crashed; unique names let every write succeed, the last rename wins whole."""
    path = tmp_path / "summary.json"
    errors = []

    def writer(number: int) -> None:
        try:
            for round_ in range(30):
                write_json({"writer": number, "round": round_, "pad": "x" * 10000}, path)
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert strict_loads(path.read_text())["round"] == 29
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_second_set_on_the_same_folder_in_one_process_is_refused(tmp_path):
    with OutputSet(tmp_path / "out"):
        with pytest.raises(DataError, match=rf"another scoring job \(pid {os.getpid()}, "):
            OutputSet(tmp_path / "out").__enter__()


# --------------------------------------------------------------------------- lock

LOCKER = r'''
"""Holds an output set open for HOLD seconds; a DataError exits 2 like the CLI."""
import sys, time
from scoring.data.errors import DataError
from scoring.outputs import OutputSet

out, hold, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
try:
    with OutputSet(out) as files:
        print("locked", flush=True)
        files.write_json({"writer": name}, "who.json")
        time.sleep(hold)
except DataError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
'''


def test_a_second_job_on_the_same_out_fails_with_a_clear_message(tmp_path):
    script = tmp_path / "locker.py"
    script.write_text(LOCKER)
    out = tmp_path / "out"
    first = python(script, str(out), "60", "first")
    try:
        assert first.stdout.readline().strip() == "locked", first.stderr.read()
        second = python(script, str(out), "0", "second")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert f"another scoring job (pid {first.pid}, started at " in err
        assert f"is writing {out}; wait for it or choose another --out" in err
        assert "Traceback" not in err
    finally:
        first.kill()  # SIGKILL: the kernel releases the lock, the staging folder stays
        first.communicate()
    assert leftovers(out), "the killed job's staging folder"
    third = python(script, str(out), "0", "third")
    assert third.wait(timeout=60) == 0, third.stderr.read()
    assert json.loads((out / "who.json").read_text()) == {"writer": "third"}
    assert leftovers(out) == []


def test_a_second_job_can_wait_for_the_first(tmp_path):
    script = tmp_path / "locker.py"
    script.write_text(LOCKER)
    out = tmp_path / "out"
    first = python(script, str(out), "1.5", "first")
    assert first.stdout.readline().strip() == "locked"
    second = python(script, str(out), "0", "second", env={outputs.WAIT_ENV: "30"})
    assert second.wait(timeout=60) == 0, second.stderr.read()
    assert first.wait(timeout=60) == 0
    first.stdout.close(), first.stderr.close(), second.stdout.close(), second.stderr.close()
    assert json.loads((out / "who.json").read_text()) == {"writer": "second"}


# --------------------------------------------------------------------------- signals

SIGNALLED = r'''
"""A parent and a child MLflow run and an output set, open until a signal comes."""
import sys, time
import mlflow
from scoring import tracking
from scoring.outputs import OutputSet, handle_termination

out, experiment = sys.argv[1], sys.argv[2]
try:
    with handle_termination():
        tracking.experiment(experiment)
        with mlflow.start_run(run_name="parent") as parent:
            with mlflow.start_run(run_name="child", nested=True) as child:
                with OutputSet(out) as files:
                    files.write_json({"version": "new"}, "a.json")
                    print(parent.info.run_id, child.info.run_id, flush=True)
                    time.sleep(60)
except KeyboardInterrupt:
    sys.exit(130)
'''


def test_sigterm_and_sigint_end_the_mlflow_runs_killed(tmp_path):
    """SIGTERM exits 143 (SIGINT: KeyboardInterrupt, here exit 130) with every run that was
    active KILLED, not FAILED or RUNNING; the output set is discarded, the old one stays."""
    from mlflow.tracking import MlflowClient

    script = tmp_path / "signalled.py"
    script.write_text(SIGNALLED)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    client.search_experiments()  # creates the store once (schema migrations take seconds)
    jobs = {}
    for signum in (signal.SIGTERM, signal.SIGINT):  # both at once: MLflow imports are slow
        name = signal.Signals(signum).name
        folder = tmp_path / name
        (folder / "out").mkdir(parents=True)
        write_json({"version": "old"}, folder / "out" / "a.json")
        jobs[signum] = (folder, python(script, str(folder / "out"), name,
                                       env={"MLFLOW_TRACKING_URI": uri}))
    for signum, (folder, proc) in jobs.items():
        line = proc.stdout.readline().split()
        assert len(line) == 2, proc.stderr.read()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == (143 if signum == signal.SIGTERM else 130), err
        assert "Traceback" not in err
        assert [client.get_run(run_id).info.status for run_id in line] == ["KILLED", "KILLED"]
        assert snapshot(folder / "out") == {"a.json": b'{\n  "version": "old"\n}\n'}
        assert leftovers(folder / "out") == []


def test_handle_termination_restores_the_previous_handlers():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with outputs.handle_termination():
        assert signal.getsignal(signal.SIGTERM) not in before
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# --------------------------------------------------------------------------- CSV


def test_formula_cells_are_escaped_and_numbers_are_not(tmp_path):
    attacks = ['=HYPERLINK("http://evil","x")', "+1", "-cmd", "@SUM(1)", "\t=1", "\r=1"]
    frame = pd.DataFrame({
        "first_name": [*attacks, "Anna", "Jean-Luc", None],
        "city": pd.Series(["=1+2", "Paris", "-x", "Oslo", "Rome", "Nice", "Kiel", "Bonn", "Linz"],
                          dtype="string"),
        "tier": pd.Categorical(["@top"] * 9),
        "bonus": [-5.5, -1.0, 0.0, 2.0, 3.0, -7.25, 1.0, 2.0, 3.0],
        "orders": np.arange(-4, 5),
        "at": pd.date_range("2023-01-01", periods=9),
    })
    escaped = escape_formulas(frame)
    assert escaped["first_name"].tolist()[:6] == ["'" + a for a in attacks]
    assert escaped["first_name"].tolist()[6:8] == ["Anna", "Jean-Luc"]
    assert pd.isna(escaped["first_name"].iloc[8])
    assert escaped["city"].tolist()[:3] == ["'=1+2", "Paris", "'-x"]
    assert set(escaped["tier"]) == {"'@top"}
    for column in ("bonus", "orders", "at"):
        pd.testing.assert_series_equal(escaped[column], frame[column])
    assert frame["first_name"].iloc[0] == attacks[0]  # the input is not modified
    plain = pd.DataFrame({"name": ["Anna"], "value": [-1.0]})
    assert escape_formulas(plain) is plain

    write_csv(frame.assign(last_name=["Bob\r=HYPERLINK(1)", *["x"] * 8]),
              tmp_path / "scores.csv")
    back = pd.read_csv(tmp_path / "scores.csv", keep_default_na=False)
    assert len(back) == len(frame)  # a carriage return inside a cell does not end its row
    assert back["first_name"].tolist()[:6] == ["'" + a.replace("\r", "\n") for a in attacks]
    assert back["last_name"].iloc[0] == "Bob\n=HYPERLINK(1)"
    assert back["bonus"].tolist() == frame["bonus"].tolist()  # numbers, not "'-5.5"
    assert back["orders"].tolist() == list(range(-4, 5))
    raw = (tmp_path / "scores.csv").read_text()
    assert "\r" not in raw and ",=" not in raw and ",+" not in raw and ",@" not in raw
    assert "\n'-cmd," in raw and ',"Bob\n=HYPERLINK(1)"\n' in raw  # quoted, in its row


# --------------------------------------------------------------------------- JSON


def test_json_is_strict(tmp_path):
    data = {
        "nan": float("nan"), "inf": float("inf"), "-inf": -float("inf"),
        "np_float": np.float64(0.25), "np_nan": np.float32("nan"), "np_int": np.int64(7),
        "np_bool": np.bool_(True), "array": np.array([1.0, np.nan, np.inf]),
        "na": pd.NA, "nat": pd.NaT, "timestamp": pd.Timestamp("2023-06-30 12:30"),
        "date": pd.Timestamp("2023-06-30").date(), "timedelta": pd.Timedelta(days=1),
        "nested": {"list": [1, float("nan"), {"deep": [np.inf, pd.NA]}], np.int64(3): "key"},
        "tuple": (1, 2), "series": pd.Series([1.5, np.nan]),
    }
    path = write_json(data, tmp_path / "metrics.json")
    parsed = strict_loads(path.read_text())
    assert parsed == {
        "nan": None, "inf": None, "-inf": None, "np_float": 0.25, "np_nan": None, "np_int": 7,
        "np_bool": True, "array": [1.0, None, None], "na": None, "nat": None,
        "timestamp": "2023-06-30T12:30:00", "date": "2023-06-30", "timedelta": "P1DT0H0M0S",
        "nested": {"list": [1, None, {"deep": [None, None]}], "3": "key"},
        "tuple": [1, 2], "series": [1.5, None],
    }
    assert strict_loads(dumps(float("nan"))) is None
    with pytest.raises(ValueError):
        strict_loads('{"a": NaN}')  # the parser this test relies on does refuse NaN


def test_json_lines_are_strict(tmp_path):
    frame = pd.DataFrame({"id": ["1", "2"], "bonus": [np.nan, np.inf],
                          "at": [pd.Timestamp("2023-06-30"), pd.NaT],
                          "products": [[{"price": np.nan}], []]})
    write_jsonl(frame, tmp_path / "emails.jsonl")
    rows = [strict_loads(line) for line in (tmp_path / "emails.jsonl").read_text().splitlines()]
    assert rows[0]["bonus"] is None and rows[1]["bonus"] is None
    assert rows[0]["at"].startswith("2023-06-30T00:00:00") and rows[1]["at"] is None
    assert rows[0]["products"] == [{"price": None}]


# --------------------------------------------------------------------------- pipeline


def small_scores(first_names) -> pd.DataFrame:
    """A scores table with the columns the writers and the run statistics read."""
    n = len(first_names)
    return pd.DataFrame({
        "customer_id": [str(i) for i in range(n)], "first_name": first_names,
        "email": [f"c{i}@example.com" for i in range(n)],
        "n_orders": [1] * n, "churn_probability": [0.5] * n, "predicted_clv_12m": [-1.5] * n,
        "lifecycle_stage": ["active"] * n, "rfm_segment": ["champions"] * n,
        "value_tier": ["high"] * n, "offer_type": ["none"] * n, "email_subject": ["Hi"] * n,
        "bonus_amount": [0.0] * n, "discount_percent": [np.nan] * n, "control_group": [False] * n,
        "recommended_product_ids": [["p1", "p2"]] * n,
        "recommended_product_names": [["-Mug", "Cup"]] * n,
    })


def test_write_scores_escapes_the_csv_and_writes_strict_json(tmp_path):
    from scoring.pipeline import write_scores

    scores = small_scores(['=HYPERLINK("http://evil")', "Anna"])
    paths = write_scores(scores, {"bonus_total": np.float64("nan"), "n": np.int64(2)},
                         tmp_path / "out")
    assert set(paths) == {"scores", "scores_csv", "emails", "campaign_summary"}
    csv = pd.read_csv(paths["scores_csv"])
    assert csv["first_name"].tolist() == ["'=HYPERLINK(\"http://evil\")", "Anna"]
    assert csv["recommended_product_names"].tolist() == ["'-Mug|Cup"] * 2
    assert csv["predicted_clv_12m"].tolist() == [-1.5, -1.5]
    assert strict_loads(paths["campaign_summary"].read_text()) == {"bonus_total": None, "n": 2}
    # the Parquet file and the e-mails keep the data as it is
    assert pd.read_parquet(paths["scores"])["first_name"].iloc[0] == scores["first_name"].iloc[0]
    emails = [strict_loads(line) for line in paths["emails"].read_text().splitlines()]
    assert emails[0]["greeting_name"] == scores["first_name"].iloc[0]


def test_a_failed_write_ends_the_scoring_run_failed_and_keeps_the_old_set(tmp_path,
                                                                         monkeypatch):
    import mlflow

    from scoring import tracking
    from scoring.pipeline import write_and_log_scores

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.configure()
    out = tmp_path / "out"
    as_of = pd.Timestamp("2023-06-30")
    args = dict(dataset="tiny", input_hash="h", model_uri="models:/m/1", model_version="1",
                as_of=as_of, engine="pandas")
    write_and_log_scores(small_scores(["Anna"]), {"bonus_total": 0.0}, out, **args)
    before = snapshot(out)
    broken = small_scores(["Bob"]).assign(email=[object()])  # Parquet cannot store it
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's error type varies by version
        write_and_log_scores(broken, {"bonus_total": 0.0}, out, **args)
    assert snapshot(out) == before and leftovers(out) == []
    runs = mlflow.search_runs(experiment_names=["scoring-tiny"], output_format="list",
                              order_by=["attributes.start_time ASC"])
    assert [r.info.status for r in runs] == ["FINISHED", "FAILED"]
    assert "customers" in runs[0].data.metrics and not runs[1].data.metrics


# --------------------------------------------------------------------------- end to end

AS_OF = "2023-06-30"
SCORE_ARGS = ["score", "--dataset", "synthetic", "--synthetic-customers", "1500", "--seed", "3",
              "--as-of", AS_OF]


def staged_files(out: Path) -> int:
    """Files written so far into the staging folder of ``out`` (-1: no staging folder)."""
    staging = [p for p in out.parent.iterdir() if p.name.startswith(out.name + ".staging-")]
    if not staging:
        return -1
    try:
        return sum(1 for p in staging[0].rglob("*") if not p.name.startswith("."))
    except FileNotFoundError:  # swapped in (or cleaned up) while we looked
        return -1


@pytest.mark.slow
def test_the_score_command_killed_while_writing_leaves_a_whole_set(tmp_path, monkeypatch):
    """``scoring score`` killed (SIGKILL) at several points: before it locks, while it scores,
    after each file it writes; the folder holds the old set or the new one, whole, and the
    next run succeeds and cleans up."""
    import mlflow

    from scoring import tracking
    from scoring.data import load_dataset
    from scoring.registry import log_scorer
    from scoring.scorer import CustomerScorer

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.configure()
    shop = load_dataset("synthetic", n_customers=1500, seed=3, as_of=AS_OF)
    scorer = CustomerScorer().fit(shop)
    tracking.experiment("synthetic")
    with mlflow.start_run():
        log_scorer(scorer, {"churn_roc_auc": 0.8}, "synthetic")
    out = tmp_path / "out"
    old = {"scores.csv": b"old scores\n", "emails.jsonl": b"{}\n", "notes.txt": b"mine"}
    restore(out, old)
    cli = [sys.executable, "-m", "scoring", *SCORE_ARGS, "--out", str(out)]
    environment = {**os.environ, "PYTHONPATH": str(SRC)}
    new, outcomes = None, []
    # kill once the staging folder exists (scoring); once 2 and 4 files are staged; 20 ms
    # after the 4th (carry-over, fsync, swap); as soon as the new set is in place (MLflow
    # logging). Each from the old set.
    for files, delay in [(0, 0), (2, 0), (4, 0), (4, 0.02), ("swapped", 0)]:
        shutil.rmtree(out)
        restore(out, old)
        proc = subprocess.Popen(cli, env=environment, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if files == "swapped" and (out / "scores.parquet").exists():
                break
            if files != "swapped" and staged_files(out) >= files:
                break
            time.sleep(0.002)
        time.sleep(delay)
        proc.kill()
        proc.communicate()
        outputs.recover(out)  # what the next job does first (and the next kill point needs)
        state = snapshot(out)
        if state != old:
            new = new or state
            assert state == new, (files, delay)
            assert set(state) == {"scores.parquet", "scores.csv", "emails.jsonl",
                                  "campaign_summary.json", "notes.txt"}, (files, delay)
        outcomes.append("old" if state == old else "new")
    assert outcomes[:2] == ["old", "old"] and outcomes[-1] == "new", outcomes
    done = subprocess.run(cli, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    final = snapshot(out)
    assert final["notes.txt"] == b"mine" and final["scores.csv"] != old["scores.csv"]
    assert final == new  # the same input gives the same bytes
    assert leftovers(out) == []
