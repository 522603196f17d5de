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

from ._memory import release_memory
from .data import ShopData, data_hash
from .data.cleaning import QUARANTINE_RULES
from .data.errors import DataError
from .data.loaders import paths as data_paths
from .outputs import (  # noqa: F401 - the writers are part of this module's interface
    OutputFolder,
    OutputSet,
    dumps,
    escape_formulas,
    write_csv,
    write_json,
    write_jsonl,
    write_parquet,
)
from .segments import SegmentConfig, build_segments, segment_sizes
from .selection import ModelSelection
from .timeframe import ScoringMoment

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
    """Segments of every known customer as of the as-of day ``as_of`` (last day of data;
    date-like or ``ScoringMoment``; default: the data's as-of)."""
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
    return Path(out) if out is not None else data_paths().processed_dir / dataset


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


def run_main(shop: ShopData, out: str | Path | None = None, as_of=None,
             config: ScoringConfig | None = None, evaluate: bool = True,
             register: bool = True, recommender_grid: str = "quick",
             progress=None, uplift_model: str | None = None) -> RunResult:
    """The main job (``make run``), stage by stage: data check, segments, out-of-time
    evaluation on the latest window that ends on the as-of date (``latest_window``: it never
    reads a day after it), the scorer built from the evaluation's ``ModelSelection`` and
    refitted on everything up to the as-of date, registration (champion rule on the evaluated
    scorer's metrics), scoring of every customer, offers. Outputs under ``out`` (default
    ``data/processed/<dataset>/``) are swapped in as one set when the job succeeds.
    ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``; default
    ``shop.as_of``). ``uplift_model``: URI of a registered ``uplift-model``: bonuses by its
    predicted incremental profit (``uplift_stage``) instead of the response assumption."""
    from .scorer import CustomerScorer, ScoringConfig

    out = output_dir(shop.name, out)
    moment = ScoringMoment.of(as_of if as_of is not None else shop.as_of)
    base = config or ScoringConfig()
    bar = _Steps(progress, ["data check", "segments", "evaluation", "refit and register",
                            "scoring"])
    with OutputSet(out) as files:  # check, segments, evaluation/, scores, summary together
        report = quality_report(shop)
        outputs = write_check(shop, report, files)
        bar.next()
        segments = segments_stage(shop, moment, base.segments)
        outputs["segments"] = files.write_parquet(segments, "segments.parquet")
        bar.next()
        evaluation = None
        if evaluate:
            evaluation = run_evaluate(
                shop, out / "evaluation", cutoff=latest_window(moment, base.churn_horizon_days),
                recommender_grid=recommender_grid, into=files.folder("evaluation"),
                config=base, from_scratch_lgbm=False)
            outputs.update({f"evaluation_{k}": v for k, v in evaluation.outputs.items()})
        bar.next()
        selection = evaluation.selection if evaluation else ModelSelection()
        scorer = CustomerScorer(selection.apply(base)).fit(shop, moment)
        registration = register_scorer(scorer, shop, moment, evaluation) if register else {}
        bar.next()
        scores, campaign = scorer.score(shop, moment)
        scores, campaign = uplift_stage(shop, moment, scores, campaign, uplift_model,
                                        scorer.config)
        outputs.update(write_scores(scores, campaign, files))
        bar.next()
        bar.close()
        summary = run_summary(shop, moment, scores, segments, evaluation, registration, campaign)
        outputs["summary"] = files.write_json(summary, "summary.json")
    return RunResult(report=report, segments=segments, outputs=outputs, summary=summary)


def register_scorer(scorer, shop: ShopData, as_of, evaluation: EvaluationResult | None,
                    tracker=None) -> dict:
    """Log the fitted scorer to MLflow and register it; the champion rule compares the
    evaluated scorer's headline metrics (``registry.log_scorer``). The fit run's input is
    the shop as a dataset (context "training", ``tracking.log_shop_input``). ``tracker``:
    default MLflow; ``NullTracker()`` logs and registers nothing. ``as_of``: the as-of day
    the scorer was fitted on (date-like or ``ScoringMoment``)."""
    from . import tracking

    as_of = ScoringMoment.of(as_of)
    tracker = tracking.current_tracker(tracker)
    config = scorer.config
    digest = data_hash(shop)
    tracker.experiment(shop.name)
    with tracker.start_run(f"scorer as of {as_of}",
                           tags=tracking.run_tags(shop.name, digest, job="fit")):
        tracking.log_shop_input(tracker, shop, "training", digest=digest)
        tracker.log_params({"as_of": str(as_of),
                           "transaction_model": config.transaction_model,
                           "churn_model": config.churn_model,
                           "horizon_days": config.churn_horizon_days,
                           "recommender": json.dumps(config.recommender_spec,
                                                     sort_keys=True)[:500]})
        from .config import log_config  # the effective config tree -> config.yaml

        log_config(scoring=config, tracker=tracker)
        headline = evaluation.metrics["headline"] if evaluation else {}
        if evaluation is not None:
            scorer_metrics = evaluation.metrics["scorer"]
            tracker.log_params({"evaluation_cutoff": scorer_metrics["cutoff"],
                                "evaluation_n_customers": scorer_metrics["n_customers"]})
            tracker.log_metrics({k: v for k, v in headline.items() if pd.notna(v)})
            tracker.set_tag("evaluation_run_id", evaluation.run_id)
        return tracker.log_scorer(scorer, headline, shop.name)


def evaluation_summary(evaluation: EvaluationResult | None) -> dict | None:
    """The ``evaluation`` block of summary.json: the window, the customers measured and the
    shipped scorer's metrics (with the recommenders')."""
    if evaluation is None:
        return None
    scorer = evaluation.metrics["scorer"]
    return {"cutoff": scorer["cutoff"], "horizon_days": scorer["horizon_days"],
            "window_end": str((pd.Timestamp(scorer["cutoff"])
                               + pd.Timedelta(days=scorer["horizon_days"] - 1)).date()),
            "n_customers": scorer["n_customers"], "churn_rate": scorer["churn_rate"],
            "model": evaluation.selection.to_dict(), "metrics": evaluation.metrics["headline"],
            "run_id": evaluation.run_id}


def run_summary(shop: ShopData, as_of, scores: pd.DataFrame, segments: pd.DataFrame,
                evaluation: EvaluationResult | None, registration: dict,
                campaign: dict) -> dict:
    """summary.json of the main job (``as_of``: the as-of day, date-like or
    ``ScoringMoment``)."""
    return {
        "dataset": shop.name, "as_of": str(ScoringMoment.of(as_of)), "customers": len(scores),
        "accounting": {k: shop.reports["transactions"][k]
                       for k in ("rows_in", "rows_used", "quarantined")},
        "segment_sizes": segment_sizes(segments),
        "evaluation": evaluation_summary(evaluation),
        "model": registration,
        "campaign": {k: campaign[k] for k in ("customers_per_offer_type",
                                              "customers_per_value_tier", "bonus_total",
                                              "budget", "expected_revenue_retained",
                                              "control_group_size", "customers_with_bonus")
                     if k in campaign},
    }


def uplift_stage(shop: ShopData, moment, scores: pd.DataFrame, campaign: dict,
                 model_uri: str | None, config) -> tuple[pd.DataFrame, dict]:
    """Bonuses from a past campaign's learnt response (``campaign.registry``), or the scores
    unchanged without ``model_uri``: each eligible customer's option with the largest
    predicted incremental revenue minus expected bonus cost, funded by profit per bonus unit
    within ``config.budget``; adds ``expected_incremental_revenue`` (currency; also the
    ``expected_revenue_retained`` the summary totals) and the summary's ``uplift`` block."""
    if not model_uri:
        return scores, campaign
    from .campaign.outcomes import period_totals
    from .campaign.registry import allocate_with_uplift, load_uplift_model
    from .offers.policy import lead_mask
    from .offers.summary import campaign_summary

    bundle = load_uplift_model(model_uri)
    (pre,) = period_totals(shop.transactions, scores["customer_id"],
                           [moment.cutoff - pd.Timedelta(days=365), moment.cutoff])
    scores, uplift = allocate_with_uplift(scores, pre, bundle, config.budget)
    scores["expected_revenue_retained"] = scores["expected_incremental_revenue"]
    is_lead = lead_mask(scores)
    clv = pd.to_numeric(scores["predicted_clv_12m"]).fillna(0.0).to_numpy()
    summary = {k: v for k, v in campaign.items() if k in ("as_of", "model_version")}
    summary.update(campaign_summary(scores, is_lead, clv, config.budget, config.offers))
    summary["uplift"] = {"model_uri": model_uri, **uplift}
    return scores, summary


def run_score(shop: ShopData, model_uri: str, out: str | Path, as_of=None,
              engine: str = "pandas", spark_master: str | None = None,
              uplift_model: str | None = None) -> RunResult:
    """Batch scoring job: load a registered scorer, score every customer, write the set
    atomically, log the run (input hash, row counts, summary statistics; no personal data) to
    MLflow. ``out`` is locked from the start: a second job on it fails at once, not after
    scoring. ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``;
    default ``shop.as_of``)."""

    from . import tracking
    from .registry import load_scorer

    with OutputSet(out) as files:
        tracking.configure()
        scorer = load_scorer(model_uri)
        moment = ScoringMoment.of(as_of if as_of is not None else shop.as_of)
        scorer.check_input(shop.transactions, shop.input_columns)
        if engine == "spark":
            from .spark_engine import score_with_spark

            scores, summary = score_with_spark(scorer, shop, moment, master=spark_master)
        elif engine == "pandas":
            scores, summary = scorer.score(shop, moment)
        else:
            raise ValueError(f"engine must be pandas or spark, got {engine!r}")
        scores, summary = uplift_stage(shop, moment, scores, summary, uplift_model,
                                       scorer.config)
        report = shop.reports.get("transactions", {})
        rows = {"rows_in": float(report.get("rows_in", len(shop.transactions))),
                "rows_used": float(report.get("rows_used", len(shop.transactions)))}
        outputs = write_and_log_scores(scores, summary, files, dataset=shop.name,
                                       input_hash=data_hash(shop), model_uri=model_uri,
                                       model_version=scorer.version_, as_of=moment,
                                       engine=engine, metrics=rows)
    return RunResult(report=report, outputs=outputs, summary=summary)


def write_and_log_scores(scores: pd.DataFrame, summary: dict, out: str | Path | OutputSet,
                         dataset: str, input_hash: str, model_uri: str, model_version: str,
                         as_of, engine: str, params: dict | None = None,
                         metrics: dict | None = None, tracker=None) -> dict[str, Path]:
    """The batch job's outputs (one set, swapped into the folder ``out``, or committed in the
    open ``OutputSet`` ``out``) and its MLflow run in experiment ``scoring-<dataset>``: input
    hash, model, as-of, engine, summary statistics; no personal data. The run's metrics are
    logged once the files are in place; a failed write ends the run FAILED (and the previous
    set stays). The input is logged as a dataset (name ``dataset``, digest ``input_hash``,
    context "scoring"; no rows). ``as_of``: the as-of day scored (date-like or
    ``ScoringMoment``). ``tracker``: default MLflow; ``NullTracker()`` logs nothing."""
    from . import tracking

    as_of = ScoringMoment.of(as_of)
    tracker = tracking.current_tracker(tracker)
    with _output_set(out) as files:
        tracker.experiment(f"scoring-{dataset}")
        with tracker.start_run(f"score {as_of}",
                               tags=tracking.run_tags(dataset, input_hash, job="score",
                                                      engine=engine)):
            tracker.log_input(None, dataset, "scoring", digest=input_hash)
            tracker.log_params({"model_uri": model_uri, "model_version": model_version,
                                "as_of": str(as_of), "engine": engine,
                                **(params or {})})
            outputs = write_scores(scores, summary, files)
            if isinstance(files, OutputSet):
                files.commit()
            tracker.log_metrics({**(metrics or {}), **scoring_statistics(scores, summary)})
    return outputs


def run_score_canonical(canonical_dir: str | Path, model_uri: str, out: str | Path, as_of,
                        spark_master: str | None = None) -> RunResult:
    """Batch scoring on Spark of cleaned canonical tables on shared storage (written by
    ``scoring data check --write-canonical``): the driver never loads the order lines
    (``spark_engine.score_parquet_with_spark``). Writes and logs like ``run_score``.
    ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``; required)."""

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
        as_of = ScoringMoment.of(as_of)
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
    """What ``run_evaluate`` measured. ``selection``: the scorer's parts chosen before the
    cutoff; ``scorer``: the evaluation of the scorer built from it (``scorer_eval``), whose
    metrics are the headline; ``recommenders``: the recommender evaluation without its fitted
    models (``models`` is empty: they are logged to MLflow as artifacts)."""

    metrics: dict
    predictions: pd.DataFrame
    recommendations: pd.DataFrame | None
    churn_revenue: object
    recommenders: object | None
    outputs: dict[str, Path]
    run_id: str
    selection: ModelSelection = field(default_factory=ModelSelection)
    scorer: object | None = None


def shipped_metrics(metrics: dict) -> dict[str, float]:
    """The headline holdout metrics (parent run, champion rule, summary.json): the shipped
    scorer's churn and revenue metrics at its horizon, and the shipped recommenders' (from
    the grid's holdout refit, or the scorer's own when no grid ran: ``--shipped-only``)."""
    from .evaluation.scorer_eval import headline, recommendation_headline

    out = headline(metrics["scorer"])
    out.update(recommendation_headline(metrics["scorer"]))
    for protocol, model in metrics.get("recommenders", {}).get("shipped", {}).items():
        values = metrics["recommenders"]["metrics"][model][protocol]
        out[f"ndcg_at_10_{protocol}"] = float(values["ndcg"])
        out[f"coverage_at_10_{protocol}"] = float(values["coverage"])
    return out


def evaluation_window(shop: ShopData, cutoff=None, horizon_days: int | None = None,
                      config: ScoringConfig | None = None) -> tuple[pd.Timestamp, int]:
    """(cutoff, horizon_days) of an evaluation: the horizon is the scorer's
    (``config.churn_horizon_days``, 90 by default) unless given; the cutoff is the given one,
    else the dataset's default, else the latest window that ends on the last order's day.
    ``cutoff``: the cutoff day (first day of the window; date-like or ``ScoringMoment``); the
    returned one is a midnight Timestamp."""
    from .data.loaders import DATASETS
    from .scorer import ScoringConfig

    horizon = int(horizon_days or (config or ScoringConfig()).churn_horizon_days)
    if cutoff is None:
        defaults = DATASETS.get(shop.name)
        cutoff = defaults.cutoff if defaults else _default_cutoff(shop, horizon)
    return ScoringMoment.from_cutoff(cutoff).cutoff, horizon


def latest_window(as_of, horizon_days: int) -> pd.Timestamp:
    """The cutoff of the latest evaluation window that ends on the as-of day ``as_of``
    (date-like or ``ScoringMoment``): ``as_of - horizon_days + 1 day``, i.e. the window
    ``[cutoff - horizon_days, cutoff)`` of the moment's cutoff (``scoring run --as-of D``
    never reads after D)."""
    return ScoringMoment.of(as_of).cutoff - pd.Timedelta(days=int(horizon_days))


def run_evaluate(shop: ShopData, out: str | Path | None = None, cutoff=None,
                 holdout_days: int | None = None, seed: int = 0,
                 recommenders: bool = True, recommender_grid: str = "full",
                 progress=None, *, into: OutputSet | OutputFolder | None = None,
                 config: ScoringConfig | None = None, tracker=None,
                 from_scratch_lgbm: bool | None = None,
                 candidates: bool | None = None) -> EvaluationResult:
    """Out-of-time evaluation (fit before the cutoff, measure after), tracked in MLflow: a
    parent run per call, a child run per model. Every candidate and baseline, the
    recommenders, and the scorer built from what was chosen before the cutoff
    (``ModelSelection``), all at one horizon: ``holdout_days`` if given, else the scorer's
    ``config.churn_horizon_days`` (90); the scorer is fitted for that horizon. Writes
    predictions.parquet, recommendations.parquet, metrics.json and plots/ under ``out`` as one
    set (or into the open set ``into``). ``recommender_grid``: a name in
    ``recommend_eval.GRID_PRESETS`` ("full" or "quick"). The parent run's input is the shop
    as a dataset (context "evaluation"). ``tracker``: default MLflow; ``NullTracker()`` logs
    nothing (``run_id`` "none"). ``from_scratch_lgbm``: fit the research comparison ``lgbm``
    (default: ``evaluation.from_scratch_lgbm`` of the config; ``run`` passes False).
    ``candidates``: False evaluates only the scorer built from ``config``'s parts, its
    recommendations included (default: ``evaluation.candidates`` of the config;
    ``--shipped-only``)."""
    from . import tracking
    from .config import active as active_config
    from .data import require_customers
    from .scorer import ScoringConfig

    tracker = tracking.current_tracker(tracker)
    if candidates is None:
        candidates = active_config().evaluation.candidates
    cutoff, horizon = evaluation_window(shop, cutoff, holdout_days, config)
    config = replace(config or ScoringConfig(), churn_horizon_days=horizon)
    require_customers(shop, 50, "out-of-time evaluation")
    check_evaluation_window(shop, cutoff, horizon)
    out = output_dir(shop.name, out) if out is not None else output_dir(shop.name) / "evaluation"
    bar = _Steps(progress, ["churn and revenue models", "recommenders", "shipped scorer",
                            "outputs"])
    with (contextlib.nullcontext(into) if into is not None else OutputSet(out)) as files:
        # the evaluation's own files: an older file it did not write this time goes
        files.claim("predictions.parquet", "metrics.json", "recommendations.parquet", "plots")
        tracker.experiment(shop.name)
        digest = data_hash(shop)
        with tracker.start_run(f"evaluate {cutoff.date()} +{horizon}d",
                               tags=tracking.run_tags(shop.name, digest,
                                                      job="evaluate")) as parent:
            tracking.log_shop_input(tracker, shop, "evaluation", digest=digest)
            tracker.log_params({"dataset": shop.name, "cutoff": str(cutoff.date()),
                                "horizon_days": horizon, "seed": seed})
            from .config import log_config  # the effective config tree -> config.yaml

            log_config(scoring=config, tracker=tracker, evaluation={
                "horizon_days": horizon, "seed": seed, "cutoff": str(cutoff.date()),
                "recommender_grid": recommender_grid, "candidates": candidates})
            if candidates:
                result = _evaluate_models(shop, cutoff, horizon, seed, config, recommenders,
                                          recommender_grid, bar, tracker, from_scratch_lgbm)
            else:
                result = _evaluate_shipped(shop, cutoff, config, recommenders, bar, tracker)
            bar.next()
            result.outputs = _write_evaluation(files, result)
            tracker.log_metrics(result.metrics["headline"])
            tracker.log_params({"n_customers": result.metrics["scorer"]["n_customers"],
                                "selection": dumps(result.selection.to_dict())[:500]})
            tracker.log_artifact(files.path("metrics.json"))
            tracker.log_artifacts(files.path("plots"), artifact_path="plots")
            if isinstance(files, OutputSet):
                files.commit()
            result.run_id = parent.info.run_id
            bar.close()
    return result


class _Steps:
    """A progress bar over named steps (or nothing)."""

    def __init__(self, progress, names: list[str]):
        self.names, self.done = names, 0
        self.bar = progress(total=len(names)) if progress else None
        self._describe()

    def _describe(self) -> None:
        if self.bar is not None and self.done < len(self.names):
            self.bar.set_description(self.names[self.done])

    def next(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        self._describe()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _evaluate_models(shop: ShopData, cutoff, horizon: int, seed: int, config: ScoringConfig,
                     recommenders: bool, recommender_grid: str, bar: _Steps, tracker=None,
                     from_scratch_lgbm: bool | None = None) -> EvaluationResult:
    """Candidates and baselines, recommenders, then the scorer built from the selection."""
    from .config import active as active_config  # the evaluation: section of --config
    from .evaluation.churn_revenue import evaluate_churn_revenue, log_churn_revenue_runs
    from .evaluation.scorer_eval import evaluate_scorer, log_scorer_run

    settings = active_config().evaluation.churn_revenue()
    if from_scratch_lgbm is not None:
        settings["from_scratch_lgbm"] = from_scratch_lgbm
    churn = evaluate_churn_revenue(shop, cutoff, horizon, seed=seed, config=settings)
    log_churn_revenue_runs(churn, tracker=tracker)
    metrics = dict(churn.metrics)
    bar.next()
    release_memory()  # what the candidates' panel freed, before the recommender grid
    selection = churn.selection
    recs = None
    if recommenders and shop.has_products:
        recs = _evaluate_recommenders(shop, cutoff, horizon, seed, recommender_grid, tracker)
        metrics["recommenders"] = {"grid": recommender_grid, "k": recs.k,
                                   "matrix_shape": list(recs.matrix_shape),
                                   "metrics": recs.metrics, "shipped": recs.shipped,
                                   "chosen_params": recs.chosen_params}
        selection = selection.with_recommender(
            recs.shipped_spec("repurchase"),
            f"{recs.shipped['repurchase']}: best NDCG@{recs.k} on the validation windows")
    bar.next()
    release_memory()  # what the candidates and the grid freed, before the scorer's fit
    scorer = evaluate_scorer(shop, cutoff, selection.apply(config))
    log_scorer_run(scorer, tracker=tracker)
    metrics["scorer"] = scorer.metrics
    metrics["selection"] = selection.to_dict()
    metrics["headline"] = shipped_metrics(metrics)
    predictions = churn.predictions.merge(
        scorer.predictions[["customer_id", "churn_probability", "predicted_revenue"]].rename(
            columns={"churn_probability": "churn__scorer",
                     "predicted_revenue": "revenue__scorer"}), on="customer_id", how="left")
    # the shipped prediction is the scorer's
    predictions["churn_probability"] = predictions["churn__scorer"]
    predictions["predicted_revenue"] = predictions["revenue__scorer"]
    return EvaluationResult(metrics=metrics, predictions=predictions,
                            recommendations=recs.recommendations if recs else None,
                            churn_revenue=churn, recommenders=recs, outputs={}, run_id="",
                            selection=selection, scorer=scorer)


def _evaluate_shipped(shop: ShopData, cutoff, config: ScoringConfig, recommenders: bool,
                      bar: _Steps, tracker=None) -> EvaluationResult:
    """Only the scorer built from ``config``'s parts (``ModelSelection.configured``), its own
    recommendations measured at k = 10 (``recommenders``); no candidates, baselines or grid."""
    from .evaluation.scorer_eval import evaluate_scorer, log_scorer_run

    bar.next()
    bar.next()
    selection = ModelSelection.configured(config)
    k = 10 if recommenders and shop.has_products else None
    scorer = evaluate_scorer(shop, cutoff, selection.apply(config), recommendations_k=k)
    log_scorer_run(scorer, tracker=tracker)
    metrics = {"scorer": scorer.metrics, "selection": selection.to_dict(),
               "candidates": False}
    metrics["headline"] = shipped_metrics(metrics)
    return EvaluationResult(metrics=metrics, predictions=scorer.predictions,
                            recommendations=None, churn_revenue=None, recommenders=None,
                            outputs={}, run_id="", selection=selection, scorer=scorer)


def _evaluate_recommenders(shop: ShopData, cutoff, horizon: int, seed: int, grid: str,
                           tracker=None):
    from . import tracking
    from .evaluation.recommend_eval import (
        GRID_PRESETS,
        evaluate_recommenders,
        log_recommender_runs,
    )

    if grid not in GRID_PRESETS:
        raise DataError(f"recommender_grid {grid!r} is not one of {sorted(GRID_PRESETS)}")
    recs = evaluate_recommenders(shop.transactions, cutoff, horizon, events=shop.events,
                                 seed=seed, config=GRID_PRESETS[grid]())
    tracker = tracking.current_tracker(tracker)
    log_recommender_runs(recs, tracker=tracker)
    tracker.log_params({"recommender_grid": grid})
    # the fitted models are logged (final-<model> runs' .npz artifacts); nothing below uses
    # them, and the scorer's fit that follows needs their memory (factors and histories of
    # every customer; at 200k customers they pickle to about 0.5 GB)
    return replace(recs, models={})


def _write_evaluation(files, result: EvaluationResult) -> dict[str, Path]:
    """predictions.parquet, metrics.json, recommendations.parquet and plots/ into ``files``."""
    outputs = {
        "predictions": files.write_parquet(result.predictions, "predictions.parquet"),
        "metrics": files.write_json(result.metrics, "metrics.json"),
    }
    if result.recommendations is not None:
        outputs["recommendations"] = files.write_parquet(result.recommendations,
                                                         "recommendations.parquet")
    plots = files.path("plots")
    plots.mkdir(exist_ok=True)
    figures = result.churn_revenue.figures if result.churn_revenue is not None else {}
    for name, figure in figures.items():
        figure.savefig(plots / f"{name}.png", dpi=110, bbox_inches="tight")
    outputs["plots"] = files.final("plots")
    return outputs


def _default_cutoff(shop: ShopData, horizon_days: int) -> pd.Timestamp:
    """For a shop without defaults: the window is the last ``horizon_days`` days of data."""
    return latest_window(shop.transactions["timestamp"].max(), horizon_days)


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
