"""MLflow set-up: a SQLite backend and artifact store inside ``mlruns/``.

Recent MLflow refuses the plain file store, so tracking goes to ``sqlite:///mlruns/mlflow.db``
with artifacts under ``mlruns/artifacts``. ``MLFLOW_TRACKING_URI`` overrides the location (tests
use a temporary directory). Tags on every run: dataset, data hash, git commit. Personal data
(emails, names) is never logged.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mlflow

from .data.loaders import PROJECT_ROOT

MLRUNS_DIR = PROJECT_ROOT / "mlruns"


def tracking_uri() -> str:
    """The tracking URI in force: ``MLFLOW_TRACKING_URI`` or the project's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"


def artifact_root() -> Path:
    """Where artifacts go: beside the SQLite file of the tracking URI."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
    return MLRUNS_DIR / "artifacts"


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
