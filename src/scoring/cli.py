"""The ``scoring`` command (also ``python -m scoring``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm.auto import tqdm

from . import pipeline
from .data import DATASETS, DataError, load_dataset, load_files
from .data.io import load_config
from .segments import SegmentConfig


def add_data_options(parser: argparse.ArgumentParser, as_of: bool = True) -> None:
    """--dataset or --transactions (with --columns, --customers, --events, --config)."""
    group = parser.add_argument_group("input (a built-in dataset or your shop's files)")
    group.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                       help="built-in dataset (default online-retail-ii unless --transactions)")
    group.add_argument("--transactions", metavar="PATH",
                       help="your shop's order lines: CSV, Parquet or Excel")
    group.add_argument("--columns", metavar="MAPPING",
                       help='column mapping, e.g. "customer_id=Customer ID,timestamp=InvoiceDate"')
    group.add_argument("--customers", metavar="PATH", help="optional customer profiles file")
    group.add_argument("--events", metavar="PATH",
                       help="optional events file (email_open, email_click, site_visit, ...)")
    group.add_argument("--config", metavar="YAML",
                       help="YAML config: columns, customer_columns, event_columns, date_format")
    group.add_argument("--synthetic-customers", type=int, default=5000, metavar="N",
                       help="size of the synthetic dataset (default 5000)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if as_of:
        group.add_argument("--as-of", metavar="DATE", default=None,
                           help="scoring moment: later rows are quarantined (default: last order)")


def load_shop(args: argparse.Namespace):
    """Load the data the options name."""
    as_of = getattr(args, "as_of", None)
    if args.transactions:
        if args.dataset:
            raise DataError("give either --dataset or --transactions, not both")
        config = load_config(args.config)
        return load_files(
            args.transactions,
            columns=args.columns or config.get("columns"),
            customers=args.customers,
            events=args.events,
            customer_columns=config.get("customer_columns"),
            event_columns=config.get("event_columns"),
            as_of=as_of,
            date_format=config.get("date_format"),
        )
    return load_dataset(args.dataset or "online-retail-ii", as_of=as_of,
                        n_customers=args.synthetic_customers, seed=args.seed)


def cmd_data_check(args) -> int:
    shop = load_shop(args)
    result = pipeline.run_check(shop, args.out, write_canonical=args.write_canonical)
    print(pipeline.format_accounting(result.report))
    for name, path in result.outputs.items():
        print(f"{name}: {path}")
    return 0


def cmd_data_synth(args) -> int:
    from .data import synthetic

    shop = synthetic.generate_shop(n_customers=args.customers, seed=args.seed)
    synthetic.write_shop(shop, Path(args.out))
    sizes = {name: len(getattr(shop, name)) for name in
             ("transactions", "customers", "events", "products", "truth")}
    print(json.dumps({"out": args.out, **sizes}, indent=2))
    return 0


def cmd_segments(args) -> int:
    shop = load_shop(args)
    result = pipeline.run_segments(shop, args.out, as_of=args.as_of, config=SegmentConfig())
    print(json.dumps(result.summary, indent=2))
    print(f"segments: {result.outputs['segments']}")
    return 0


def cmd_run(args) -> int:
    from dataclasses import replace

    from .scorer import ScoringConfig

    shop = load_shop(args)
    config = ScoringConfig()
    offers = config.offers
    if args.control_share is not None:
        from .offers import split_arms

        offers = replace(offers, arms=split_arms(args.control_share, ("treatment",)))
    config = replace(config, budget=args.budget, offers=offers)
    result = pipeline.run_main(shop, args.out, as_of=args.as_of, config=config,
                               evaluate=not args.skip_evaluation,
                               recommender_grid=args.recommender_grid, progress=tqdm)
    print(pipeline.format_accounting(result.report))
    print(json.dumps(result.summary, indent=2, default=str))
    for name, path in result.outputs.items():
        print(f"{name}: {path}")
    return 0


def cmd_evaluate(args) -> int:
    shop = load_shop(args)
    result = pipeline.run_evaluate(shop, args.out, cutoff=args.cutoff,
                                   holdout_days=args.holdout_days, seed=args.seed,
                                   recommenders=not args.skip_recommenders,
                                   recommender_grid=args.recommender_grid, progress=tqdm)
    print(json.dumps(result.metrics["headline"], indent=2))
    for name, path in result.outputs.items():
        print(f"{name}: {path}")
    print(f"MLflow parent run: {result.run_id} (make ui to browse)")
    return 0


def cmd_score(args) -> int:
    if args.canonical:
        if args.engine != "spark" or args.transactions or args.dataset:
            raise DataError("--canonical DIR is the Spark engine's input: use it with "
                            "--engine spark and without --dataset / --transactions")
        result = pipeline.run_score_canonical(args.canonical, args.model, args.out,
                                              as_of=args.as_of, spark_master=args.spark_master)
    else:
        shop = load_shop(args)
        result = pipeline.run_score(shop, args.model, args.out, as_of=args.as_of,
                                    engine=args.engine, spark_master=args.spark_master)
    summary = {k: result.summary[k] for k in ("as_of", "customers", "model_version",
                                              "customers_per_offer_type", "bonus_total",
                                              "expected_revenue_retained") if k in result.summary}
    print(json.dumps(summary, indent=2))
    for name, path in result.outputs.items():
        print(f"{name}: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scoring",
        description="Customer scoring for online shops: data checks, segments, churn, CLV, "
                    "recommendations and offers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="the main job on a dataset (make run)",
                              description="Data check, segments, out-of-time evaluation (tracked in "
                                          "MLflow), refit on everything up to the as-of date, "
                                          "registration of the scorer, scoring of every "
                                          "customer and offers; writes "
                                          "data/processed/<dataset>/ unless --out.")
    add_data_options(run)
    run.add_argument("--out", metavar="DIR", help="output folder")
    run.add_argument("--budget", type=float, default=None, metavar="AMOUNT",
                     help="cap on the total of all retention bonuses (shop currency)")
    run.add_argument("--control-share", type=float, default=None, metavar="SHARE",
                     help="share of customers held out as control group (default 0.1)")
    run.add_argument("--skip-evaluation", action="store_true",
                     help="refit and score without the out-of-time evaluation")
    run.add_argument("--recommender-grid", choices=("quick", "full"), default="quick",
                     help="recommender validation grid of the evaluation: quick (default, 21 "
                          "settings, one validation window) or full (40 settings, two windows; "
                          "what scoring evaluate runs)")
    run.set_defaults(func=cmd_run)

    evaluate = commands.add_parser(
        "evaluate", help="out-of-time evaluation of every model, tracked in MLflow",
        description="Fit everything before the cutoff, measure on [cutoff, cutoff + holdout "
                    "days); write predictions.parquet, recommendations.parquet, metrics.json "
                    "and plots/; one MLflow parent run with a child run per model.")
    add_data_options(evaluate, as_of=False)
    evaluate.add_argument("--cutoff", metavar="DATE", default=None,
                          help="scoring moment (default per dataset, e.g. 2011-06-09)")
    evaluate.add_argument("--holdout-days", type=int, default=None, metavar="N",
                          help="holdout length in days (default per dataset, e.g. 182)")
    evaluate.add_argument("--skip-recommenders", action="store_true",
                          help="evaluate churn and revenue models only")
    evaluate.add_argument("--recommender-grid", choices=("quick", "full"), default="full",
                          help="recommender validation grid: full (default) or quick")
    evaluate.add_argument("--out", metavar="DIR", help="output folder")
    evaluate.set_defaults(func=cmd_evaluate)

    data = commands.add_parser("data", help="data checks and the synthetic shop",
                               description="Data layer commands.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    check = data_commands.add_parser(
        "check", help="row accounting and quarantine of a dataset",
        description="Print the accounting table; write DIR/quality_report.json and "
                    "DIR/quarantine.parquet.")
    add_data_options(check)
    check.add_argument("--out", metavar="DIR", required=True, help="output folder")
    check.add_argument("--write-canonical", action="store_true",
                       help="also write the cleaned tables to DIR/canonical/*.parquet (input of "
                            "scoring score --engine spark --canonical DIR/canonical)")
    check.set_defaults(func=cmd_data_check)
    synth = data_commands.add_parser(
        "synth", help="generate the synthetic shop with known truth",
        description="Write transactions, customers, events, products and truth as Parquet.")
    synth.add_argument("--customers", type=int, default=10000, help="number of customers")
    synth.add_argument("--seed", type=int, default=0, help="random seed")
    synth.add_argument("--out", metavar="DIR", required=True, help="output folder")
    synth.set_defaults(func=cmd_data_synth)

    segments = commands.add_parser(
        "segments", help="RFM and lifecycle segments",
        description="Write DIR/segments.parquet (one row per customer) and print sizes.")
    add_data_options(segments)
    segments.add_argument("--out", metavar="DIR", help="output folder")
    segments.set_defaults(func=cmd_segments)

    score = commands.add_parser(
        "score", help="batch scoring with a registered model",
        description="Load a registered scorer, score every customer as of a date and write "
                    "scores.parquet, scores.csv, emails.jsonl and campaign_summary.json "
                    "atomically. Only load models from the project's own registry: loading a "
                    "model runs pickled code.")
    add_data_options(score)
    score.add_argument("--model", default="models:/customer-scorer@champion",
                       help="model URI (default models:/customer-scorer@champion)")
    score.add_argument("--out", metavar="DIR", required=True, help="output folder")
    score.add_argument("--engine", choices=["pandas", "spark"], default="pandas",
                       help="pandas (one machine) or spark (pyspark; local or a cluster)")
    score.add_argument("--spark-master", metavar="URL", default=None,
                       help="Spark master, e.g. local[2] or spark://host:7077 (default local[*])")
    score.add_argument("--canonical", metavar="DIR", default=None,
                       help="Spark engine: read the cleaned tables written by scoring data check "
                            "--write-canonical from DIR (shared storage) instead of loading the "
                            "input on the driver; needs --as-of")
    score.set_defaults(func=cmd_score)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
