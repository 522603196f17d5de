"""One configuration tree for every command: dataclasses, one YAML file, command-line overrides.

``ProjectConfig`` holds five sections, each a frozen dataclass:

- ``paths`` (``PathsConfig``): data_dir, raw_dir, interim_dir, processed_dir, mlruns_dir.
  Defaults are resolved against the working directory (``./data``, ``./data/raw``, ...,
  ``./mlruns``), never against the installed package; relative paths in the YAML are too.
- ``input`` (``InputConfig``): column mappings of the shop's files and the reading options
  (``read``: ``scoring.data.options.LoadOptions``).
- ``scoring`` (``scoring.scorer.ScoringConfig``, with its ``segments`` and ``offers``).
- ``evaluation`` (``EvaluationConfig``): the one horizon, seed, cutoff, recommender grid and
  the churn / revenue evaluation settings (``evaluate_churn_revenue``'s ``config``).
- ``tracking`` (``TrackingConfig``): the MLflow tracking URI.

``load_config(path, overrides)`` reads the YAML (sections as above; ``offers:`` and
``segments:`` inside ``scoring:``; the flat keys of the older input-only files, ``columns:``,
``customer_columns:``, ``event_columns:`` and the reading options such as ``date_format:``,
still load into ``input``), then applies ``overrides`` (the same shape; the command line's
flags), each layer with ``dataclasses.replace`` section by section. Unknown keys and values of
the wrong type are a ``DataError`` naming the key. ``config_to_dict`` / ``config_from_dict``
convert to and from plain (JSON / YAML) types; ``log_config`` logs the tree to the active
MLflow run as ``config.yaml``.

The CLI makes the loaded tree the *active* one while a command runs (``activated``): the data
loaders take their folders from its ``paths`` and MLflow its ``tracking`` URI from it. Without
an active tree (Python use, tests) the defaults follow the current working directory.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import functools
import os
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .data.errors import DataError
from .data.options import LoadOptions

if TYPE_CHECKING:  # the scorer (LightGBM, scikit-learn) is imported when a tree is built
    from .scorer import ScoringConfig

SECTIONS: tuple[str, ...] = ("paths", "input", "scoring", "evaluation", "tracking")
INPUT_KEYS: tuple[str, ...] = ("columns", "customer_columns", "event_columns")
READ_KEYS: tuple[str, ...] = tuple(f.name for f in fields(LoadOptions))
"""Top-level keys of the older input-only YAML files, loaded into ``input`` (``read``)."""


def _absolute(path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


_SUBDIRS = {"raw_dir": "raw", "interim_dir": "interim", "processed_dir": "processed"}


@dataclass(frozen=True)
class PathsConfig:
    """Folders of the project's data and MLflow store (absolute once built).

    Attributes:
        data_dir: root of the data folders; default ``<working directory>/data``.
        raw_dir: input datasets (``online_retail_II.parquet``); default ``<data_dir>/raw``.
            The bundled Online Retail II file is looked for here, then (only when the package
            runs from a source checkout) in the checkout's ``data/raw``.
        interim_dir: caches (the synthetic shop); default ``<data_dir>/interim``.
        processed_dir: outputs of the jobs when no ``--out`` is given, one folder per
            dataset; default ``<data_dir>/processed``.
        mlruns_dir: MLflow's SQLite store and artifacts when no tracking URI is set;
            default ``<working directory>/mlruns``.

    Relative paths are taken relative to the working directory when the object is built.
    """

    data_dir: Path = field(default_factory=lambda: Path("data"))
    raw_dir: Path | None = None
    interim_dir: Path | None = None
    processed_dir: Path | None = None
    mlruns_dir: Path = field(default_factory=lambda: Path("mlruns"))

    def __post_init__(self) -> None:
        data_dir = _absolute(self.data_dir)
        object.__setattr__(self, "data_dir", data_dir)
        for name, folder in _SUBDIRS.items():
            value = getattr(self, name)
            object.__setattr__(self, name,
                               data_dir / folder if value is None else _absolute(value))
        object.__setattr__(self, "mlruns_dir", _absolute(self.mlruns_dir))

    def with_changes(self, **changes) -> PathsConfig:
        """``replace``, except that a sub-folder still at its default under the old
        ``data_dir`` follows a new ``data_dir``."""
        if "data_dir" in changes:
            for name, folder in _SUBDIRS.items():
                if name not in changes and getattr(self, name) == self.data_dir / folder:
                    changes[name] = None
        return replace(self, **changes)


@dataclass(frozen=True)
class InputConfig:
    """How a shop's files are mapped and read (``--transactions`` and friends).

    Attributes:
        columns: canonical name -> column of the transactions file (``--columns``); None
            matches the columns by name and known aliases.
        customer_columns, event_columns: the same for ``--customers`` and ``--events``.
        read: reading and cleaning options (``LoadOptions``: encoding, sheet, header_row,
            delimiter, date_format, decimal, timezone, max_bad_share, cancellation_prefix,
            future_gap_days); the matching flags override them.
    """

    columns: dict[str, str] | None = None
    customer_columns: dict[str, str] | None = None
    event_columns: dict[str, str] | None = None
    read: LoadOptions = field(default_factory=LoadOptions)


CHURN_REVENUE_KEYS: tuple[str, ...] = (
    "paretonbd", "n_folds", "step_days", "max_origins", "min_history_days", "min_origins",
    "n_jobs", "plots", "churn_params", "revenue_params", "max_training_customers",
    "from_scratch_lgbm")
"""The fields of ``EvaluationConfig`` that are ``evaluate_churn_revenue``'s settings."""


@dataclass(frozen=True)
class EvaluationConfig:
    """The out-of-time evaluation (``scoring evaluate`` and the evaluation inside ``run``).

    Attributes:
        horizon_days: the one horizon: the holdout window ``[cutoff, cutoff + N days)`` and the
            scorer's churn horizon (``scoring.churn_horizon_days``, which it always equals;
            None takes the scorer's, 90 by default). ``--horizon-days``.
        cutoff: ``YYYY-MM-DD`` of ``scoring evaluate``; None: the dataset's default split.
            ``--cutoff``.
        seed: random seed of the models and samples (and of the synthetic shop). ``--seed``.
        recommender_grid: recommender validation grid, ``quick`` or ``full``; None: the
            command's default (``run``: quick, ``evaluate``: full). ``--recommender-grid``.
        candidates: compare every churn/revenue candidate and baseline and run the
            recommender grid beside the shipped scorer, which is built from what they choose
            (default). False (``--shipped-only``): evaluate only the scorer built from the
            configured parts (``scoring.transaction_model``, ``churn_model``,
            ``recommender_spec``), its recommendations included: the fast loop for a data
            scientist who has chosen and iterates on the rest.
        paretonbd, n_folds, step_days, max_origins, min_history_days, min_origins, n_jobs,
            plots, churn_params, revenue_params, max_training_customers (the rolling-origin
            training panel holds a seeded sample of this many customers, like the scorer's
            ``lgbm_training_customers``; every customer is still scored at the cutoff),
            from_scratch_lgbm (also fit the research comparison ``lgbm``: LightGBM without
            the BTYD features, which the scorer cannot ship; ``scoring run`` leaves it out):
            settings of the churn and revenue evaluation
            (``scoring.evaluation.churn_revenue.evaluate_churn_revenue``; its
            ``DEFAULT_CONFIG`` is ``EvaluationConfig().churn_revenue()``).
    """

    horizon_days: int | None = None
    cutoff: str | None = None
    seed: int = 0
    recommender_grid: str | None = None
    candidates: bool = True
    paretonbd: bool = True
    n_folds: int = 5
    step_days: int = 28
    max_origins: int = 26
    min_history_days: int = 90
    min_origins: int = 3
    n_jobs: int = -1
    plots: bool = True
    churn_params: dict = field(default_factory=dict)
    revenue_params: dict = field(default_factory=dict)
    max_training_customers: int = 100_000
    from_scratch_lgbm: bool = True

    def churn_revenue(self) -> dict:
        """The ``config`` of ``evaluate_churn_revenue`` (a fresh copy)."""
        return {key: copy.deepcopy(getattr(self, key)) for key in CHURN_REVENUE_KEYS}


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow.

    Attributes:
        tracking_uri: where runs and models go; None: the ``MLFLOW_TRACKING_URI``
            environment variable, else ``sqlite:///<paths.mlruns_dir>/mlflow.db`` (artifacts
            beside it).
    """

    tracking_uri: str | None = None

    def uri(self, paths: PathsConfig) -> str:
        """The URI in force for these settings."""
        return (self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
                or f"sqlite:///{paths.mlruns_dir / 'mlflow.db'}")


def _default_scoring() -> ScoringConfig:
    from .scorer import ScoringConfig

    return ScoringConfig()


@dataclass(frozen=True)
class ProjectConfig:
    """The whole configuration: ``paths``, ``input``, ``scoring``, ``evaluation``,
    ``tracking`` (see the module docstring). ``evaluation.horizon_days`` None is filled from
    ``scoring.churn_horizon_days``; two different values are refused (one horizon)."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    input: InputConfig = field(default_factory=InputConfig)
    scoring: ScoringConfig = field(default_factory=_default_scoring)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def __post_init__(self) -> None:
        horizon = self.scoring.churn_horizon_days
        if self.evaluation.horizon_days is None:
            object.__setattr__(self, "evaluation", replace(self.evaluation, horizon_days=horizon))
        elif self.evaluation.horizon_days != horizon:
            raise DataError(
                f"evaluation.horizon_days ({self.evaluation.horizon_days}) differs from "
                f"scoring.churn_horizon_days ({horizon}): the evaluation measures the scorer at "
                "its own horizon; give one of them (or the same value)")


# ------------------------------------------------------------------------ type conversion

@functools.cache
def _hints(cls) -> dict[str, Any]:
    if cls is ProjectConfig:
        from .scorer import ScoringConfig

        return typing.get_type_hints(cls, localns={"ScoringConfig": ScoringConfig})
    return typing.get_type_hints(cls)


def _unwrap_optional(hint) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _element_hint(hint) -> Any:
    """X of ``tuple[X, ...]`` (also inside ``| None``), else None."""
    hint = _unwrap_optional(hint)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _is_pair(hint) -> bool:
    args = typing.get_args(hint)
    return typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is not Ellipsis


def _describe(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _deep_tuple(value):
    if isinstance(value, list | tuple):
        return tuple(_deep_tuple(v) for v in value)
    return value


def _convert(hint, value, where: str):
    """``value`` (from YAML / JSON) as the type ``hint``; DataError naming ``where``."""
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            with contextlib.suppress(DataError):
                return _convert(option, value, where)
        raise DataError(f"{where}: expected {_describe(hint)}, got {value!r}")
    if hint is type(None):
        if value is not None:
            raise DataError(f"{where}: must be empty (null), got {value!r}")
        return None
    if is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return _construct(hint, value, where)
    if origin is tuple or hint is tuple:
        element = _element_hint(hint)
        if isinstance(value, Mapping) and element is not None and _is_pair(element):
            value = list(value.items())  # {control: 0.1, treatment: 0.9} -> pairs
        if not isinstance(value, list | tuple):
            raise DataError(f"{where}: expected a list, got {value!r}")
        if element is not None:
            return tuple(_convert(element, v, f"{where}[{i}]") for i, v in enumerate(value))
        if args:
            if len(value) != len(args):
                raise DataError(f"{where}: expected {len(args)} values, got {value!r}")
            return tuple(_convert(a, v, f"{where}[{i}]")
                         for i, (a, v) in enumerate(zip(args, value, strict=True)))
        return _deep_tuple(value)
    if origin is dict or hint is dict:
        if isinstance(value, str) and args == (str, str):  # "customer_id=Customer ID,..."
            from .data.io import parse_column_mapping

            return parse_column_mapping(value)
        if not isinstance(value, Mapping):
            raise DataError(f"{where}: expected a mapping (key: value), got {value!r}")
        if args == (str, str):
            return {str(k): str(v) for k, v in value.items()}
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise DataError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataError(f"{where}: expected a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, _dt.date):  # YAML reads 2011-06-09 as a date
            return value.isoformat()
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise DataError(f"{where}: expected text, got {value!r}")
        return str(value)
    if hint is Path:
        if not isinstance(value, str | Path):
            raise DataError(f"{where}: expected a path, got {value!r}")
        return _absolute(value)
    return value


def _known(cls) -> list[str]:
    return [f.name for f in fields(cls) if f.init]


def _check_keys(cls, data, where: str) -> None:
    if not isinstance(data, Mapping):
        raise DataError(f"{where}: expected a mapping of {', '.join(_known(cls))}; "
                        f"got {data!r}")
    known = _known(cls)
    for key in data:
        if key not in known:
            raise DataError(f"{where}: unknown key {key!r}; known keys are "
                            f"{', '.join(known)}")


def _construct(cls, data, where: str):
    """A new ``cls`` from a mapping of its fields (elements of tuples, e.g. offer rules)."""
    _check_keys(cls, data, where)
    hints = _hints(cls)
    values = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{where}: {exc}") from exc


def _apply(base, data, where: str):
    """``base`` with the fields in ``data`` changed (``dataclasses.replace``), nested
    dataclass fields changed the same way, field by field."""
    _check_keys(type(base), data, where)
    hints = _hints(type(base))
    values = {}
    for key, value in data.items():
        current = getattr(base, key)
        if is_dataclass(current) and isinstance(value, Mapping):
            values[key] = _apply(current, value, f"{where}.{key}")
        else:
            values[key] = _convert(hints[key], value, f"{where}.{key}")
    if not values:
        return base
    try:
        if isinstance(base, PathsConfig):
            return base.with_changes(**values)
        return replace(base, **values)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{where}: {exc}") from exc


def _plain(value, hint=Any):
    """JSON / YAML-ready: dataclasses -> dicts, tuples -> lists (pairs -> a mapping when the
    field is a tuple of pairs, e.g. ``arms``), paths -> strings."""
    if is_dataclass(value) and not isinstance(value, type):
        hints = _hints(type(value))
        return {f.name: _plain(getattr(value, f.name), hints.get(f.name, Any))
                for f in fields(value) if f.init}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        element = _element_hint(hint)
        if (element is not None and _is_pair(element)
                and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str)
                        for v in value)
                and len({v[0] for v in value}) == len(value)):
            return {k: _plain(v, typing.get_args(element)[1]) for k, v in value}
        return [_plain(v, element if element is not None else Any) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        return value.item()
    return value


# ------------------------------------------------------------------------ public functions


def _legacy_input(data: dict) -> dict:
    """Move the flat keys of the older input-only files (``columns:``, ``date_format:``, ...)
    into ``input:`` / ``input.read:``; a key given both ways is refused."""
    data = dict(data)
    flat_input = {k: data.pop(k) for k in INPUT_KEYS if k in data}
    flat_read = {k: data.pop(k) for k in READ_KEYS if k in data}
    if not (flat_input or flat_read):
        return data
    section = data.get("input") or {}
    if not isinstance(section, Mapping):
        raise DataError(f"input: expected a mapping of {', '.join(_known(InputConfig))}; "
                        f"got {section!r}")
    section = dict(section)
    read = dict(section.get("read") or {})
    for key, value in flat_input.items():
        if key in section:
            raise DataError(f"{key}: given both at the top level and under input:; keep one")
        section[key] = value
    for key, value in flat_read.items():
        if key in read:
            raise DataError(f"{key}: given both at the top level and under input.read:; "
                            "keep one")
        read[key] = value
    if read:
        section["read"] = read
    data["input"] = section
    return data


def _one_horizon(data: dict, where: str) -> dict:
    """In one layer (file or flags), ``evaluation.horizon_days`` and
    ``scoring.churn_horizon_days`` are one setting: one given sets both."""
    evaluation = data.get("evaluation")
    scoring = data.get("scoring")
    given_eval = evaluation.get("horizon_days") if isinstance(evaluation, Mapping) else None
    given_score = scoring.get("churn_horizon_days") if isinstance(scoring, Mapping) else None
    if given_eval is not None and given_score is not None and given_eval != given_score:
        raise DataError(
            f"{where}: evaluation.horizon_days ({given_eval}) differs from "
            f"scoring.churn_horizon_days ({given_score}); the evaluation measures the scorer at "
            "its own horizon: give one of them")
    horizon = given_eval if given_eval is not None else given_score
    if horizon is None:
        return data
    data = dict(data)
    if isinstance(evaluation, Mapping | None):
        data["evaluation"] = {**(evaluation or {}), "horizon_days": horizon}
    if isinstance(scoring, Mapping | None):
        data["scoring"] = {**(scoring or {}), "churn_horizon_days": horizon}
    return data


def _layer(config: ProjectConfig, data: Mapping | None, where: str) -> ProjectConfig:
    if not data:
        return config
    if not isinstance(data, Mapping):
        raise DataError(f"{where}: expected a mapping of sections ({', '.join(SECTIONS)}), "
                        f"got {data!r}")
    data = _one_horizon(_legacy_input(dict(data)), where)
    for key in data:
        if key not in SECTIONS:
            raise DataError(
                f"{where}: unknown key {key!r}; known keys are the sections "
                f"{', '.join(SECTIONS)} and, at the top level as in older files, "
                f"{', '.join(INPUT_KEYS + READ_KEYS)}")
    values = {}
    for key in SECTIONS:
        if key in data and data[key] is not None:
            values[key] = _apply(getattr(config, key), data[key], f"{where}: {key}")
    try:
        return replace(config, **values)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{where}: {exc}") from exc


def read_yaml(path: str | Path) -> dict:
    """The mapping of a YAML config file (DataError when missing, unreadable or not a
    mapping)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable YAML file ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise DataError(f"{path}: a config file is a mapping of sections "
                        f"({', '.join(SECTIONS)}), got {type(data).__name__}")
    return dict(data)


def load_config(path: str | Path | None = None, overrides: Mapping | None = None
                ) -> ProjectConfig:
    """The effective configuration: defaults, then the YAML file at ``path`` (if any), then
    ``overrides`` (the same nested shape, e.g. ``{"scoring": {"budget": 500.0}}``; the
    command line's flags). Raises DataError for an unknown key (naming it and the known
    ones), a value of the wrong type, or values the dataclasses refuse."""
    config = ProjectConfig()
    if path is not None:
        config = _layer(config, read_yaml(path), str(path))
    return _layer(config, overrides, "command line")


def config_to_dict(config: ProjectConfig) -> dict:
    """The tree as plain types (dicts, lists, strings, numbers, None): JSON / YAML-ready."""
    return _plain(config)


def config_from_dict(data: Mapping) -> ProjectConfig:
    """The inverse of ``config_to_dict`` (also any partial mapping, over the defaults)."""
    return _layer(ProjectConfig(), data, "config")


class _Dumper(yaml.SafeDumper):
    """``yaml.safe_dump``'s dumper, with short lists (scalars, or lists of scalars) on one
    line."""


def _depth(value) -> int:
    """Nesting depth of lists (a dict anywhere counts as deep)."""
    if isinstance(value, dict):
        return 99
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _represent_list(dumper: yaml.SafeDumper, data: list):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data,
                                     flow_style=_depth(data) <= 2)


_Dumper.add_representer(list, _represent_list)


def dumps_yaml(config: ProjectConfig) -> str:
    """The tree as YAML (safe types only), in field order."""
    return yaml.dump(config_to_dict(config), Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True, default_flow_style=False)


# ------------------------------------------------------------------------ the active tree

_ACTIVE: ProjectConfig | None = None


def active() -> ProjectConfig:
    """The tree of the running command (``activated``), else the defaults (working
    directory)."""
    return _ACTIVE if _ACTIVE is not None else ProjectConfig()


@contextlib.contextmanager
def activated(config: ProjectConfig) -> Iterator[ProjectConfig]:
    """Make ``config`` the active tree (paths of the data loaders, MLflow URI) for the
    duration of the block; the previous state comes back afterwards."""
    global _ACTIVE
    from .data import loaders

    previous, previous_paths = _ACTIVE, loaders.set_paths(config.paths)
    _ACTIVE = config
    try:
        yield config
    finally:
        _ACTIVE = previous
        loaders.set_paths(previous_paths)


def tracking_uri() -> str:
    """The MLflow tracking URI in force: the active tree's ``tracking.tracking_uri``, else
    ``MLFLOW_TRACKING_URI``, else ``sqlite:///<paths.mlruns_dir>/mlflow.db``."""
    from .data import loaders

    tracking = _ACTIVE.tracking if _ACTIVE is not None else TrackingConfig()
    return tracking.uri(loaders.paths())


def log_config(config: ProjectConfig | None = None, *, scoring: ScoringConfig | None = None,
               evaluation: Mapping | None = None, tracker=None) -> dict:
    """Log the effective configuration to the active MLflow run as the artifact
    ``config.yaml`` and return it as a dict. ``config``: default the active tree;
    ``scoring``: the ScoringConfig the run really used (e.g. the evaluated or refitted
    scorer's), replacing the tree's; ``evaluation``: fields of the evaluation the run used
    (horizon_days, cutoff, seed, recommender_grid). ``tracker``: a
    ``scoring.tracking.Tracker`` to log with (its ``log_dict``); None: MLflow's active run,
    and nothing is logged without one."""
    config = config or active()
    if scoring is not None or evaluation:
        new_scoring = scoring if scoring is not None else config.scoring
        new_evaluation = replace(config.evaluation, **dict(evaluation or {}))
        horizon = new_scoring.churn_horizon_days
        if new_evaluation.horizon_days != horizon:
            if scoring is not None:
                new_evaluation = replace(new_evaluation, horizon_days=horizon)
            else:
                new_scoring = replace(new_scoring, churn_horizon_days=new_evaluation.horizon_days)
        config = replace(config, scoring=new_scoring, evaluation=new_evaluation)
    data = config_to_dict(config)
    if tracker is not None:
        tracker.log_dict(data, "config.yaml")
    else:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.log_dict(data, "config.yaml")
    return data
