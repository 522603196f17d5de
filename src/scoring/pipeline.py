"""The whole data flow, wired in one place and read top to bottom.

Stages are pure functions from DataFrames to DataFrames; only ``write_*`` functions and the
``run_*`` entry points touch the disk, each job through one ``outputs.OutputSet``: its files
appear in the output folder together or not at all, one job per folder. Entry points:

- ``run_check``: load -> quality report (+ quarantine) -> files.
- ``run_segments``: load -> segments -> files.
- ``run_evaluate``: out-of-time evaluation of every model, tracked in MLflow.
- ``run_main``: the main job (``make run``): data check, segments, evaluation, refit,
  registration, scoring, offers, outputs.
- ``run_score``: the batch scoring job with a registered model.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .data import ShopData, data_hash
from .data.cleaning import QUARANTINE_RULES
from .data.errors import DataError
from .data.loaders import DATA_DIR
from .outputs import (  # noqa: F401 - the writers are part of this module's interface
    OutputFolder,
    OutputSet,
    escape_formulas,
    write_csv,
    write_json,
    write_jsonl,
    write_parquet,
)
from .segments import SegmentConfig, build_segments, segment_sizes

if TYPE_CHECKING:  # the scorer (LightGBM, scikit-learn) is imported by the jobs that fit it
    from .scorer import ScoringConfig

# --------------------------------------------------------------------------- stages


def quality_report(shop: ShopData) -> dict:
    """Row accounting of every table plus what the used transactions hold."""
    tx = shop.transactions
    report = dict(shop.reports["transactions"])
    returns = shop.returns
    report.update({
        "dataset": shop.name,
        "source": shop.source,
        "data_hash": data_hash(shop),
        "customers": int(tx["customer_id"].nunique()),
        "orders": int(tx["order_id"].nunique()),
        "products": int(tx["product_id"].nunique()) if shop.has_products else 0,
        "first_order_at": str(tx["timestamp"].min()),
        "last_order_at": str(tx["timestamp"].max()),
        "revenue": round(float(tx["amount"].sum()), 2),
        "cancelled_or_returned_revenue": round(float(returns["amount"].abs().sum()), 2)
        if len(returns) else 0.0,
        "rules": list(QUARANTINE_RULES),
        "tables": {k: v for k, v in shop.reports.items() if k != "transactions"},
    })
    assert report["rows_used"] + sum(report["quarantined"].values()) == report["rows_in"]
    return report


def format_accounting(report: dict) -> str:
    """The accounting table as text (what ``scoring data check`` prints)."""
    width = max(len(k) for k in report["quarantined"]) + 2
    lines = [f"{'rows in':<{width}}{report['rows_in']:>12,}"]
    for reason, count in report["quarantined"].items():
        share = count / max(report["rows_in"], 1)
        lines.append(f"  {reason:<{width - 2}}{-count:>12,}  ({share:6.2%})")
    lines.append(f"{'rows used':<{width}}{report['rows_used']:>12,}")
    for table, sub in report.get("tables", {}).items():
        quarantined = sum(sub["quarantined"].values())
        lines.append(f"{table + ' rows':<{width}}{sub['rows_in']:>12,}  used "
                     f"{sub['rows_used']:,}, quarantined {quarantined:,} {sub['quarantined']}")
    lines.append(
        f"{report['customers']:,} customers, {report['orders']:,} orders, "
        f"{report['products']:,} products, {report['first_order_at'][:10]} .. "
        f"{report['last_order_at'][:10]}, revenue {report['revenue']:,.2f}"
    )
    return "\n".join(lines)


def segments_stage(shop: ShopData, as_of=None, config: SegmentConfig = SegmentConfig()
                   ) -> pd.DataFrame:
    """Segments of every known customer as of ``as_of`` (default: the data's as-of)."""
    return build_segments(shop, as_of=as_of, config=config)


def email_payloads(scores: pd.DataFrame) -> pd.DataFrame:
    """One personalised e-mail payload per customer (for the JSON Lines export)."""
    greeting = scores["first_name"].astype("string").fillna("there")
    products = [
        [{"product_id": pid, "name": name} for pid, name in zip(ids, names, strict=False)]
        for ids, names in zip(scores["recommended_product_ids"],
                              scores["recommended_product_names"], strict=True)
    ]
    return pd.DataFrame({
        "customer_id": scores["customer_id"],
        "email": scores["email"],
        "greeting_name": greeting,
        "lifecycle_stage": scores["lifecycle_stage"],
        "rfm_segment": scores["rfm_segment"],
        "value_tier": scores["value_tier"],
        "offer_type": scores["offer_type"],
        "subject": scores.get("email_subject"),
        "bonus_amount": scores["bonus_amount"],
        "discount_percent": scores.get("discount_percent"),
        "control_group": scores["control_group"],
        "products": products,
    })


def scoring_statistics(scores: pd.DataFrame, summary: dict) -> dict[str, float]:
    """Aggregate statistics of a scoring run (no personal data): what MLflow gets."""
    buyers = scores["n_orders"] > 0
    return {
        "customers": float(len(scores)),
        "buyers": float(buyers.sum()),
        "leads": float((~buyers).sum()),
        "mean_churn_probability": float(scores.loc[buyers, "churn_probability"].mean()),
        "total_predicted_clv_12m": float(scores["predicted_clv_12m"].sum()),
        "bonus_total": float(summary.get("bonus_total", 0.0)),
        "customers_with_bonus": float(summary.get("customers_with_bonus", 0)),
        "expected_revenue_retained": float(summary.get("expected_revenue_retained", 0.0)),
        "control_group_size": float(summary.get("control_group_size", 0)),
    }


# --------------------------------------------------------------------------- outputs


def output_dir(dataset: str, out: str | Path | None = None) -> Path:
    """``out`` or ``data/processed/<dataset>`` (not created: the job's ``OutputSet`` creates
    it with the complete set of files)."""
    return Path(out) if out is not None else DATA_DIR / "processed" / dataset


def _output_set(out: str | Path | OutputSet | OutputFolder):
    """``out`` itself when it is an open output set (or a folder of one: its owner commits),
    else a new ``OutputSet`` for the folder ``out``."""
    if isinstance(out, (OutputSet, OutputFolder)):
        return contextlib.nullcontext(out)
    return OutputSet(out)


def write_scores(scores: pd.DataFrame, summary: dict,
                 out: str | Path | OutputSet | OutputFolder) -> dict[str, Path]:
    """scores.parquet, scores.csv (text cells escaped against formula injection),
    emails.jsonl and campaign_summary.json, as one set: into ``out``'s open output set, or
    swapped into the folder ``out`` together (a job killed half-way leaves the previous set
    whole)."""
    flat = scores.assign(
        recommended_product_ids=scores["recommended_product_ids"].map("|".join),
        recommended_product_names=scores["recommended_product_names"].map("|".join))
    with _output_set(out) as files:
        return {
            "scores": files.write_parquet(scores, "scores.parquet"),
            "scores_csv": files.write_csv(flat, "scores.csv"),
            "emails": files.write_jsonl(email_payloads(scores), "emails.jsonl"),
            "campaign_summary": files.write_json(summary, "campaign_summary.json"),
        }


def write_check(shop: ShopData, report: dict,
                out: str | Path | OutputSet | OutputFolder) -> dict[str, Path]:
    """quality_report.json and quarantine.parquet, as one set (like ``write_scores``)."""
    quarantine = shop.quarantine.copy()
    for column in quarantine.columns:
        if quarantine[column].dtype == object:
            quarantine[column] = quarantine[column].astype("string")
    with _output_set(out) as files:
        return {
            "quality_report": files.write_json(report, "quality_report.json"),
            "quarantine": files.write_parquet(quarantine, "quarantine.parquet"),
        }


# --------------------------------------------------------------------------- entry points


@dataclass
class RunResult:
    report: dict
    segments: pd.DataFrame | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


CANONICAL_TABLES: tuple[str, ...] = ("transactions", "events", "customers")
"""Cleaned tables ``scoring data check --write-canonical`` writes to ``DIR/canonical/``."""


def run_check(shop: ShopData, out: str | Path, write_canonical: bool = False) -> RunResult:
    """Quality report and quarantine (and the canonical tables) of ``shop``, swapped into
    ``out`` as one set."""
    report = quality_report(shop)
    with OutputSet(output_dir(shop.name, out)) as files:
        outputs = write_check(shop, report, files)
        if write_canonical:
            outputs.update(write_canonical_tables(shop, files.folder("canonical")))
    return RunResult(report=report, outputs=outputs)


def write_canonical_tables(shop: ShopData, directory: Path | OutputFolder) -> dict[str, Path]:
    """The data layer's cleaned tables as Parquet (``<table>.parquet``), for engines that read
    files on shared storage (``scoring score --engine spark --canonical DIR``): one set, into
    an open output set's folder or swapped into the folder ``directory``. The folder is the
    job's own: a table absent this time does not leave an older file behind."""
    with _output_set(directory) as files:
        files.claim(*(f"{name}.parquet" for name in CANONICAL_TABLES))
        outputs = {}
        for name in CANONICAL_TABLES:
            table = getattr(shop, name)
            if table is not None and len(table):
                outputs[f"canonical_{name}"] = files.write_parquet(table, f"{name}.parquet")
        return outputs


def file_hash(paths) -> str:
    """SHA-256 (first 16 hex digits) of the bytes of files, in order (input hash of a run
    that never loads its input into pandas)."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def run_segments(shop: ShopData, out: str | Path | None, as_of=None,
                 config: SegmentConfig = SegmentConfig()) -> RunResult:
    with OutputSet(output_dir(shop.name, out)) as files:
        segments = segments_stage(shop, as_of, config)
        path = files.write_parquet(segments, "segments.parquet")
    return RunResult(report=shop.reports["transactions"], segments=segments,
                     outputs={"segments": path}, summary=segment_sizes(segments))


def scoring_config_from_evaluation(evaluation: EvaluationResult | None,
                                   base: ScoringConfig | None = None) -> ScoringConfig:
    """The scorer ships what the evaluation chose on data before its cutoff: the churn model
    (the LightGBM hybrid when it won the validation origin, else the BTYD model), the
    transaction model behind the shipped revenue model and the shipped repurchase
    recommender."""
    from .scorer import ScoringConfig

    base = base or ScoringConfig()
    if evaluation is None:
        return base
    shipped = evaluation.metrics.get("shipped", {})
    transaction_model = "paretonbd" if "paretonbd" in str(shipped.get("revenue", "")) else "bgnbd"
    churn_model = "lgbm_hybrid" if str(shipped.get("churn", "")).startswith("lgbm_hybrid") else "btyd"
    changes = {"transaction_model": transaction_model, "churn_model": churn_model}
    if evaluation.recommenders is not None:
        changes["recommender_spec"] = evaluation.recommenders.shipped_spec("repurchase")
    return replace(base, **changes)


def run_main(shop: ShopData, out: str | Path | None = None, as_of=None,
             config: ScoringConfig | None = None, evaluate: bool = True,
             register: bool = True, recommender_grid: str = "quick",
             progress=None) -> RunResult:
    """The main job (``make run``): data check, segments, out-of-time evaluation (tracked),
    refit on everything up to the as-of date, registration, scoring of every customer, offers,
    outputs under ``out`` (default ``data/processed/<dataset>/``), swapped in as one set when
    the job succeeds (entries of ``out`` the job does not write are kept)."""
    import mlflow

    from . import tracking
    from .registry import log_scorer
    from .scorer import CustomerScorer, ScoringConfig

    out = output_dir(shop.name, out)
    as_of = pd.Timestamp(as_of if as_of is not None else shop.as_of).normalize()
    steps = ["data check", "segments", "evaluation", "refit and register", "scoring"]
    bar = progress(total=len(steps)) if progress else None

    def step(name: str) -> None:
        if bar is not None:
            bar.set_description(name)
            bar.update(1)

    # one set: check, segments, evaluation/, scores and summary appear together
    with OutputSet(out) as files:
        report = quality_report(shop)
        outputs = write_check(shop, report, files)
        step("data check")
        base = config or ScoringConfig()
        segments = segments_stage(shop, as_of, base.segments)
        outputs["segments"] = files.write_parquet(segments, "segments.parquet")
        step("segments")
        evaluation = (run_evaluate(shop, out / "evaluation", recommender_grid=recommender_grid,
                                   into=files.folder("evaluation"))
                      if evaluate else None)
        if evaluation is not None:
            outputs.update({f"evaluation_{k}": v for k, v in evaluation.outputs.items()})
        step("evaluation")
        config = scoring_config_from_evaluation(evaluation, base)
        scorer = CustomerScorer(config).fit(shop, as_of)
        registration = {}
        if register:
            tracking.experiment(shop.name)
            with mlflow.start_run(run_name=f"scorer as of {as_of.date()}",
                                  tags=tracking.run_tags(shop.name, data_hash(shop), job="fit")):
                mlflow.log_params({"as_of": str(as_of.date()), "transaction_model":
                                   config.transaction_model, "recommender":
                                   json.dumps(config.recommender_spec, sort_keys=True)[:500]})
                headline = evaluation.metrics["headline"] if evaluation else {}
                if evaluation is not None:
                    mlflow.log_metrics(headline)
                    mlflow.set_tag("evaluation_run_id", evaluation.run_id)
                registration = log_scorer(scorer, headline, shop.name)
        step("refit and register")
        scores, campaign = scorer.score(shop, as_of)
        outputs.update(write_scores(scores, campaign, files))
        step("scoring")
        if bar is not None:
            bar.close()
        summary = {
            "dataset": shop.name, "as_of": str(as_of.date()), "customers": len(scores),
            "segment_sizes": segment_sizes(segments),
            "evaluation": evaluation.metrics["headline"] if evaluation else None,
            "model": registration,
            "campaign": {k: campaign[k] for k in ("customers_per_offer_type",
                                                  "customers_per_value_tier", "bonus_total",
                                                  "budget", "expected_revenue_retained",
                                                  "control_group_size") if k in campaign},
        }
        outputs["summary"] = files.write_json(summary, "summary.json")
    return RunResult(report=report, segments=segments, outputs=outputs, summary=summary)


def run_score(shop: ShopData, model_uri: str, out: str | Path, as_of=None,
              engine: str = "pandas", spark_master: str | None = None) -> RunResult:
    """Batch scoring job: load a registered scorer, score every customer, write the set
    atomically, log the run (input hash, row counts, summary statistics; no personal data) to
    MLflow. ``out`` is locked from the start: a second job on it fails at once, not after
    scoring."""

    from . import tracking
    from .registry import load_scorer

    with OutputSet(out) as files:
        tracking.configure()
        scorer = load_scorer(model_uri)
        as_of = pd.Timestamp(as_of if as_of is not None else shop.as_of).normalize()
        scorer.check_input(shop.transactions, shop.input_columns)
        if engine == "spark":
            from .spark_engine import score_with_spark

            scores, summary = score_with_spark(scorer, shop, as_of, master=spark_master)
        elif engine == "pandas":
            scores, summary = scorer.score(shop, as_of)
        else:
            raise ValueError(f"engine must be pandas or spark, got {engine!r}")
        report = shop.reports.get("transactions", {})
        rows = {"rows_in": float(report.get("rows_in", len(shop.transactions))),
                "rows_used": float(report.get("rows_used", len(shop.transactions)))}
        outputs = write_and_log_scores(scores, summary, files, dataset=shop.name,
                                       input_hash=data_hash(shop), model_uri=model_uri,
                                       model_version=scorer.version_, as_of=as_of,
                                       engine=engine, metrics=rows)
    return RunResult(report=report, outputs=outputs, summary=summary)


def write_and_log_scores(scores: pd.DataFrame, summary: dict, out: str | Path | OutputSet,
                         dataset: str, input_hash: str, model_uri: str, model_version: str,
                         as_of, engine: str, params: dict | None = None,
                         metrics: dict | None = None) -> dict[str, Path]:
    """The batch job's outputs (one set, swapped into the folder ``out``, or committed in the
    open ``OutputSet`` ``out``) and its MLflow run in experiment ``scoring-<dataset>``: input
    hash, model, as-of, engine, summary statistics; no personal data. The run's metrics are
    logged once the files are in place; a failed write ends the run FAILED (and the previous
    set stays)."""
    import mlflow

    from . import tracking

    with _output_set(out) as files:
        tracking.experiment(f"scoring-{dataset}")
        with mlflow.start_run(run_name=f"score {as_of.date()}",
                              tags=tracking.run_tags(dataset, input_hash, job="score",
                                                     engine=engine)):
            mlflow.log_params({"model_uri": model_uri, "model_version": model_version,
                               "as_of": str(as_of.date()), "engine": engine, **(params or {})})
            outputs = write_scores(scores, summary, files)
            if isinstance(files, OutputSet):
                files.commit()
            mlflow.log_metrics({**(metrics or {}), **scoring_statistics(scores, summary)})
    return outputs


def run_score_canonical(canonical_dir: str | Path, model_uri: str, out: str | Path, as_of,
                        spark_master: str | None = None) -> RunResult:
    """Batch scoring on Spark of cleaned canonical tables on shared storage (written by
    ``scoring data check --write-canonical``): the driver never loads the order lines
    (``spark_engine.score_parquet_with_spark``). Writes and logs like ``run_score``."""

    from . import tracking
    from .registry import load_scorer
    from .spark_engine import score_parquet_with_spark

    directory = Path(canonical_dir)
    paths = {name: directory / f"{name}.parquet" for name in CANONICAL_TABLES}
    if not paths["transactions"].exists():
        raise DataError(
            f"{directory}: no transactions.parquet. Write the cleaned tables with `scoring data "
            "check --dataset ... (or --transactions ...) --out DIR --write-canonical` and pass "
            "--canonical DIR/canonical.")
    if as_of is None:
        raise DataError("--canonical needs --as-of DATE (the scoring moment): the driver does "
                        "not read the order lines to find the last one.")
    with OutputSet(out) as files:
        tracking.configure()
        scorer = load_scorer(model_uri)
        as_of = pd.Timestamp(as_of).normalize()
        present = {name: path for name, path in paths.items() if path.exists()}
        scores, summary = score_parquet_with_spark(
            scorer, present["transactions"], as_of, events_path=present.get("events"),
            customers_path=present.get("customers"), master=spark_master)
        outputs = write_and_log_scores(scores, summary, files, dataset=directory.name,
                                       input_hash=file_hash(present.values()),
                                       model_uri=model_uri, model_version=scorer.version_,
                                       as_of=as_of, engine="spark",
                                       params={"input": "canonical parquet"})
    return RunResult(report={}, outputs=outputs, summary=summary)


# --------------------------------------------------------------------------- evaluation


@dataclass
class EvaluationResult:
    metrics: dict
    predictions: pd.DataFrame
    recommendations: pd.DataFrame | None
    churn_revenue: object
    recommenders: object | None
    outputs: dict[str, Path]
    run_id: str


def shipped_metrics(metrics: dict) -> dict[str, float]:
    """The headline holdout metrics of the shipped models (parent run, champion rule)."""
    shipped = metrics.get("shipped", {})
    churn = metrics["churn"][shipped["churn"]]
    revenue = metrics["revenue"][shipped["revenue"]]
    out = {"churn_roc_auc": churn["roc_auc"], "churn_brier": churn["brier"],
           "revenue_gini": revenue["normalized_gini"],
           "revenue_total_ratio": revenue["total_ratio"],
           "revenue_decile_mape": revenue["decile_mape"]}
    for protocol, model in metrics.get("recommenders", {}).get("shipped", {}).items():
        values = metrics["recommenders"]["metrics"][model][protocol]
        out[f"ndcg_at_10_{protocol}"] = values["ndcg"]
        out[f"coverage_at_10_{protocol}"] = values["coverage"]
    return {k: float(v) for k, v in out.items()}


def run_evaluate(shop: ShopData, out: str | Path | None = None, cutoff=None,
                 holdout_days: int | None = None, seed: int = 0,
                 recommenders: bool = True, recommender_grid: str = "full",
                 progress=None, *, into: OutputSet | OutputFolder | None = None
                 ) -> EvaluationResult:
    """Out-of-time evaluation of every model (fit before the cutoff, measure after), tracked
    in MLflow: a parent run per call, a child run per model. Writes predictions.parquet,
    recommendations.parquet, metrics.json and plots/ under ``out`` as one set (swapped in
    before the parent run ends; a failed write ends it FAILED). ``into``: an open output set
    (or a folder of one, e.g. ``evaluation/`` of ``run_main``'s set) to write into instead;
    its owner commits it, ``out`` then only names it. ``recommender_grid``: a name in
    ``recommend_eval.GRID_PRESETS`` ("full" or "quick")."""
    import mlflow

    from . import tracking
    from .data import require_customers
    from .data.loaders import DATASETS
    from .evaluation.churn_revenue import evaluate_churn_revenue, log_churn_revenue_runs

    defaults = DATASETS.get(shop.name)
    cutoff = pd.Timestamp(cutoff or (defaults.cutoff if defaults else _default_cutoff(shop)))
    holdout_days = int(holdout_days or (defaults.holdout_days if defaults else 182))
    require_customers(shop, 50, "out-of-time evaluation")
    check_evaluation_window(shop, cutoff, holdout_days)
    out = output_dir(shop.name, out) if out is not None else output_dir(shop.name) / "evaluation"
    with (contextlib.nullcontext(into) if into is not None else OutputSet(out)) as files:
        # the evaluation's own files: an older file it did not write this time goes
        files.claim("predictions.parquet", "metrics.json", "recommendations.parquet", "plots")
        tracking.experiment(shop.name)
        steps = ["churn and revenue models", "recommenders", "outputs"]
        bar = progress(total=len(steps)) if progress else None
        with mlflow.start_run(run_name=f"evaluate {cutoff.date()} +{holdout_days}d",
                              tags=tracking.run_tags(shop.name, data_hash(shop),
                                                     job="evaluate")) as parent:
            mlflow.log_params({"dataset": shop.name, "cutoff": str(cutoff.date()),
                               "holdout_days": holdout_days, "seed": seed})
            if bar is not None:
                bar.set_description(steps[0])
            churn = evaluate_churn_revenue(shop, cutoff, holdout_days, seed=seed)
            log_churn_revenue_runs(churn)
            metrics = dict(churn.metrics)
            if bar is not None:
                bar.update(1)
                bar.set_description(steps[1])
            recs = None
            if recommenders and shop.has_products:
                from .evaluation.recommend_eval import (
                    GRID_PRESETS,
                    evaluate_recommenders,
                    log_recommender_runs,
                )

                if recommender_grid not in GRID_PRESETS:
                    raise DataError(f"recommender_grid {recommender_grid!r} is not one of "
                                    f"{sorted(GRID_PRESETS)}")
                recs = evaluate_recommenders(shop.transactions, cutoff, holdout_days,
                                             events=shop.events, seed=seed,
                                             config=GRID_PRESETS[recommender_grid]())
                log_recommender_runs(recs)
                mlflow.log_param("recommender_grid", recommender_grid)
                metrics["recommenders"] = {"grid": recommender_grid,
                                           "k": recs.k, "matrix_shape": list(recs.matrix_shape),
                                           "metrics": recs.metrics, "shipped": recs.shipped,
                                           "chosen_params": recs.chosen_params}
            if bar is not None:
                bar.update(1)
                bar.set_description(steps[2])
            headline = shipped_metrics(metrics)
            metrics["headline"] = headline
            outputs = {
                "predictions": files.write_parquet(churn.predictions, "predictions.parquet"),
                "metrics": files.write_json(metrics, "metrics.json"),
            }
            if recs is not None:
                outputs["recommendations"] = files.write_parquet(recs.recommendations,
                                                                 "recommendations.parquet")
            plots = files.path("plots")
            plots.mkdir(exist_ok=True)
            for name, figure in churn.figures.items():
                figure.savefig(plots / f"{name}.png", dpi=110, bbox_inches="tight")
            outputs["plots"] = files.final("plots")
            mlflow.log_metrics(headline)
            mlflow.log_artifact(str(files.path("metrics.json")))
            mlflow.log_artifacts(str(plots), artifact_path="plots")
            if isinstance(files, OutputSet):
                files.commit()
            run_id = parent.info.run_id
            if bar is not None:
                bar.update(1)
                bar.close()
    return EvaluationResult(metrics=metrics, predictions=churn.predictions,
                            recommendations=recs.recommendations if recs else None,
                            churn_revenue=churn, recommenders=recs, outputs=outputs,
                            run_id=run_id)


def _default_cutoff(shop: ShopData) -> pd.Timestamp:
    """For a shop without defaults: the holdout is the last 182 days of data."""
    return (shop.transactions["timestamp"].max().normalize() - pd.Timedelta(days=181))


MIN_CALIBRATION_DAYS = 90
"""Days of order history an out-of-time evaluation needs before its cutoff: the churn models
learn on rolling origins 28 days apart inside it."""
MIN_EVALUATION_CUSTOMERS = 50


def check_evaluation_window(shop: ShopData, cutoff: pd.Timestamp, holdout_days: int) -> None:
    """Refuse an evaluation window the data cannot fill, instead of metrics of nothing.

    The holdout ``[cutoff, cutoff + holdout_days)`` must end on or before the last used
    order's day (a shorter holdout would silently change what the labels mean); at least
    ``MIN_EVALUATION_CUSTOMERS`` customers must have an order before the cutoff, over at least
    ``MIN_CALIBRATION_DAYS`` days. Raises DataError naming the window, the data's span and
    the cutoff that would fit.
    """
    if holdout_days < 1:
        raise DataError(f"--holdout-days must be at least 1, got {holdout_days}")
    timestamps = shop.transactions["timestamp"]
    first, last = timestamps.min().normalize(), timestamps.max().normalize()
    cutoff = pd.Timestamp(cutoff).normalize()
    holdout_end = cutoff + pd.Timedelta(days=holdout_days - 1)
    latest = last - pd.Timedelta(days=holdout_days - 1)
    span = f"the orders span {first.date()} .. {last.date()}"
    source = shop.source.get("file", shop.name)
    if holdout_end > last:
        raise DataError(
            f"{source}: the holdout {cutoff.date()} .. {holdout_end.date()} ({holdout_days} "
            f"days) ends after the last order ({span}), so it would be shorter than asked and "
            f"its labels would mean something else. Use --cutoff {latest.date()} or earlier, "
            "or a shorter --holdout-days.")
    before = timestamps < cutoff
    customers = shop.transactions.loc[before, "customer_id"].nunique()
    history = (cutoff - first).days
    if customers < MIN_EVALUATION_CUSTOMERS or history < MIN_CALIBRATION_DAYS:
        earliest = first + pd.Timedelta(days=MIN_CALIBRATION_DAYS)
        fix = (f"Use a cutoff between {earliest.date()} and {latest.date()}"
               if earliest <= latest else
               f"The data is too short for a {holdout_days}-day holdout: it needs "
               f"{MIN_CALIBRATION_DAYS + holdout_days} days of orders (use a shorter "
               "--holdout-days or a longer order history)")
        raise DataError(
            f"{source}: not enough history before the cutoff {cutoff.date()} ({span}): "
            f"{customers:,} customers over {max(history, 0)} days, the evaluation needs at "
            f"least {MIN_EVALUATION_CUSTOMERS} customers over {MIN_CALIBRATION_DAYS} days. "
            f"{fix}.")
