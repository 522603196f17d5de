"""MLflow set-up: a SQLite backend and artifact store inside ``mlruns/``.

Recent MLflow refuses the plain file store, so tracking goes to ``sqlite:///mlruns/mlflow.db``
with artifacts under ``mlruns/artifacts``. ``MLFLOW_TRACKING_URI`` overrides the location (tests
use a temporary directory). Tags on every run: dataset, data hash, git commit. Personal data
(emails, names) is never logged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow

from . import config as _config
from .data import loaders as _loaders
from .data.loaders import SOURCE_ROOT as PROJECT_ROOT  # git commit of the code (None: cwd's)


def __getattr__(name: str):
    if name == "MLRUNS_DIR":  # the configured paths.mlruns_dir (default ./mlruns)
        return _loaders.paths().mlruns_dir
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def tracking_uri() -> str:
    """The tracking URI in force: ``MLFLOW_TRACKING_URI`` or the project's SQLite store."""
    return _config.tracking_uri()  # tracking.tracking_uri, MLFLOW_TRACKING_URI, mlruns_dir


def artifact_root() -> Path:
    """Where artifacts go: beside the SQLite file of the tracking URI."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
    return _loaders.paths().mlruns_dir / "artifacts"


def configure() -> str:
    """Point MLflow at the project's store (creating it) and return the URI."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment(name: str) -> str:
    """Get or create the experiment ``name`` (one per dataset) with artifacts in mlruns/."""
    configure()
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        mlflow.set_experiment(experiment_id=found.experiment_id)
        return found.experiment_id
    location = artifact_root() / name
    location.mkdir(parents=True, exist_ok=True)
    experiment_id = mlflow.create_experiment(name, artifact_location=location.as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def git_commit() -> str:
    """The current git commit of the project, or 'unknown' outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def run_tags(dataset: str, data_hash: str, **extra: str) -> dict[str, str]:
    """Tags every run carries."""
    return {"dataset": dataset, "data_hash": data_hash, "git_commit": git_commit(),
            **{k: str(v) for k, v in extra.items()}}


# --------------------------------------------------------------------------- trackers
#
# Library functions (the ``log_*`` functions of ``scoring.evaluation``, the pipeline's
# ``run_evaluate``, ``register_scorer``, ``write_and_log_scores``) take ``tracker=None``: the
# default is ``current_tracker()``, MLflow in this store; ``NullTracker()`` logs nothing, so they
# run in a notebook or a test without an MLflow run and without creating ``mlruns/``.


class Tracker:
    """What the project logs, whatever records it. ``start_run`` returns a context manager
    whose value has ``.info.run_id`` and ``.info.experiment_id``."""

    def experiment(self, name: str) -> str:
        """Select (creating) the experiment ``name`` for the runs that follow; its id."""
        raise NotImplementedError

    def active_run(self):
        """The run logged into now (None: none, where the tracker needs one)."""
        raise NotImplementedError

    def start_run(self, name: str, tags: dict | None = None, nested: bool = False):
        raise NotImplementedError

    def log_params(self, params: dict) -> None:
        raise NotImplementedError

    def log_metrics(self, metrics: dict) -> None:
        raise NotImplementedError

    def set_tag(self, key: str, value) -> None:
        raise NotImplementedError

    def log_dict(self, dictionary: dict, artifact_file: str) -> None:
        raise NotImplementedError

    def log_figure(self, figure, artifact_file: str) -> None:
        raise NotImplementedError

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        raise NotImplementedError

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        raise NotImplementedError

    def log_input(self, frame_summary, name: str, context: str, *, source: str | None = None,
                  digest: str | None = None) -> None:
        """Log the run's input as a dataset: ``frame_summary`` is a small non-personal table
        (e.g. ``daily_orders``; None: name, source and digest only), never the order lines.
        ``context``: "training", "evaluation" or "scoring"."""
        raise NotImplementedError

    def log_scorer(self, scorer, metrics: dict[str, float], dataset: str,
                   register: bool = True) -> dict:
        """Log (and register) the fitted scorer as a model: ``registry.log_scorer``'s dict."""
        raise NotImplementedError

    def log_uplift_model(self, bundle, example, register: bool = True) -> dict:
        """Log (and register) a campaign's uplift model: ``campaign.registry.log_uplift_model``'s
        dict ({"model_uri", "version"})."""
        raise NotImplementedError


class NullRunInfo:
    run_id = "none"
    experiment_id = "none"
    run_name = "none"


class NullRun:
    """The run of a ``NullTracker``: ``info.run_id`` is "none"."""

    info = NullRunInfo()

    def __enter__(self) -> NullRun:
        return self

    def __exit__(self, *exc) -> bool:
        return False


class NullTracker(Tracker):
    """Logs nothing: no MLflow run, no store, no files."""

    def experiment(self, name: str) -> str:
        return "none"

    def active_run(self) -> NullRun:
        return NullRun()

    def start_run(self, name: str, tags: dict | None = None, nested: bool = False) -> NullRun:
        return NullRun()

    def log_params(self, params: dict) -> None:
        pass

    def log_metrics(self, metrics: dict) -> None:
        pass

    def set_tag(self, key: str, value) -> None:
        pass

    def log_dict(self, dictionary: dict, artifact_file: str) -> None:
        pass

    def log_figure(self, figure, artifact_file: str) -> None:
        pass

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_input(self, frame_summary, name: str, context: str, *, source: str | None = None,
                  digest: str | None = None) -> None:
        pass

    def log_scorer(self, scorer, metrics: dict[str, float], dataset: str,
                   register: bool = True) -> dict:
        return {"model_uri": None, "version": None, "champion": False,
                "reason": "not logged (no tracker)"}

    def log_uplift_model(self, bundle, example, register: bool = True) -> dict:
        return {"model_uri": None, "version": None}


class MlflowTracker(Tracker):
    """MLflow's fluent API in the store of ``configure()`` (nested runs go to the parent's
    experiment)."""

    def experiment(self, name: str) -> str:
        return experiment(name)

    def active_run(self):
        return mlflow.active_run()

    def start_run(self, name: str, tags: dict | None = None, nested: bool = False):
        parent = mlflow.active_run() if nested else None
        return mlflow.start_run(run_name=name, tags=tags, nested=nested,
                                experiment_id=parent.info.experiment_id if parent else None)

    def log_params(self, params: dict) -> None:
        mlflow.log_params(params)

    def log_metrics(self, metrics: dict) -> None:
        mlflow.log_metrics({key: float(value) for key, value in metrics.items()})

    def set_tag(self, key: str, value) -> None:
        mlflow.set_tag(key, value)

    def log_dict(self, dictionary: dict, artifact_file: str) -> None:
        mlflow.log_dict(dictionary, artifact_file)

    def log_figure(self, figure, artifact_file: str) -> None:
        mlflow.log_figure(figure, artifact_file)

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        mlflow.log_artifact(str(local_path), artifact_path=artifact_path)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        mlflow.log_artifacts(str(local_dir), artifact_path=artifact_path)

    def log_input(self, frame_summary, name: str, context: str, *, source: str | None = None,
                  digest: str | None = None) -> None:
        """An MLflow dataset (the UI's Dataset column): ``mlflow.data.from_pandas`` on the
        summary, or a ``MetaDataset`` (name, source, digest) without one."""
        import warnings

        import mlflow.data
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource

        origin = LocalArtifactDatasetSource(str(source or name))
        with warnings.catch_warnings():  # a model-schema hint, moot for a logged table
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            if frame_summary is None:
                dataset = MetaDataset(origin, name=name, digest=digest)
            else:
                dataset = mlflow.data.from_pandas(frame_summary, source=origin, name=name,
                                                  digest=digest)
            mlflow.log_input(dataset, context=context)

    def log_scorer(self, scorer, metrics: dict[str, float], dataset: str,
                   register: bool = True) -> dict:
        from .registry import log_scorer

        return log_scorer(scorer, metrics, dataset, register=register)

    def log_uplift_model(self, bundle, example, register: bool = True) -> dict:
        from .campaign.registry import log_uplift_model

        return log_uplift_model(bundle, example, register=register)


_DEFAULT_TRACKER = MlflowTracker()


def current_tracker(tracker: Tracker | None = None) -> Tracker:
    """``tracker`` if given, else the default: MLflow (the pipeline's jobs track there)."""
    return tracker if tracker is not None else _DEFAULT_TRACKER


def daily_orders(transactions):
    """The non-personal summary logged as a run's input dataset: one row per day with
    ``date``, ``orders`` (distinct orders) and ``revenue`` (no ids, no order lines)."""
    import pandas as pd

    day = transactions["timestamp"].dt.normalize().rename("date")
    grouped = transactions.groupby(day, sort=True)
    return pd.DataFrame({"orders": grouped["order_id"].nunique().astype("int64"),
                         "revenue": grouped["amount"].sum().astype("float64")}).reset_index()


def log_shop_input(tracker: Tracker, shop, context: str, digest: str | None = None) -> None:
    """Log ``shop``'s input as a dataset of the active run: name = dataset name, source = its
    file (or name), digest = ``data_hash(shop)``, data = ``daily_orders`` of its order
    lines."""
    if isinstance(tracker, NullTracker):
        return
    from .data import data_hash

    tracker.log_input(daily_orders(shop.transactions), shop.name, context,
                      source=str(shop.source.get("file", shop.name)),
                      digest=digest or data_hash(shop))
