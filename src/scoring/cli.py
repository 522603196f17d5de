"""The ``scoring`` command (also ``python -m scoring``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from tqdm.auto import tqdm

from . import pipeline
from .config import ProjectConfig, activated, dumps_yaml
from .config import load_config as load_project_config
from .console import format_run_summary
from .data import DATASETS, DataError, load_dataset, load_files
from .data.options import parse_cli_date
from .outputs import dumps, handle_termination


class CommandDefault(str):
    """A flag's default that the --config YAML may override (a flag given on the command
    line always wins); compares equal to the plain string."""


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
    group.add_argument("--config", metavar="YAML", help=CONFIG_HELP)
    group.add_argument("--synthetic-customers", type=int, default=5000, metavar="N",
                       help="size of the synthetic dataset (default 5000)")
    group.add_argument("--seed", type=int, default=None,
                       help="random seed (default evaluation.seed of --config, else 0)")
    if as_of:
        group.add_argument("--as-of", metavar="DATE", default=None,
                           help="scoring moment, YYYY-MM-DD: later rows are quarantined "
                                "(default: the last order)")
    add_reading_options(parser)


CONFIG_HELP = ("YAML config (scoring config show prints every key): sections paths, input, "
               "scoring (with offers, segments), evaluation, tracking; the older flat keys "
               "columns, customer_columns, event_columns and the reading options below (e.g. "
               "date_format: \"%%d/%%m/%%Y\") still load into input. Flags override it")


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """--encoding, --sheet, ...: the ``input.read`` fields of the config tree."""
    reading = parser.add_argument_group(
        "reading your files (default: detected; ambiguous cases are refused with a message "
        "naming the option)")
    reading.add_argument("--encoding", metavar="NAME",
                         help="text encoding of CSV files, e.g. utf-8, cp1252, latin-1, utf-16")
    reading.add_argument("--sheet", metavar="NAME",
                         help="Excel sheet name or 1-based number (default: every sheet with "
                              "the same header)")
    reading.add_argument("--header-row", type=int, metavar="N",
                         help="1-based row of the header (default: detected)")
    reading.add_argument("--delimiter", metavar="CHAR", help="CSV delimiter (default: sniffed)")
    reading.add_argument("--date-format", metavar="FORMAT",
                         help="timestamp format, e.g. %%d/%%m/%%Y %%H:%%M (needed when day and "
                              "month cannot be told apart)")
    reading.add_argument("--decimal", choices=(".", ","),
                         help="decimal separator of number columns (default: inferred per "
                              "column)")
    reading.add_argument("--timezone", metavar="TZ",
                         help="IANA time zone that timestamps with a UTC offset are converted "
                              "to (default UTC)")
    reading.add_argument("--max-bad-share", type=float, metavar="SHARE",
                         help="share of blank or unreadable values a required column may have "
                              "before the file is refused (default 0.01)")
    reading.add_argument("--cancellation-prefix", metavar="PREFIX",
                         help="order ids starting with PREFIX with a quantity <= 0 are "
                              "cancellations (default C; \"\" turns the rule off)")


READING_OPTIONS = ("encoding", "sheet", "header_row", "delimiter", "date_format", "decimal",
                   "timezone", "max_bad_share", "cancellation_prefix")


def add_shipped_only(command) -> None:
    """``--shipped-only`` of run / evaluate / config show (``evaluation.candidates: false``);
    ``command``: a parser or an argument group."""
    command.add_argument("--shipped-only", action="store_const", const=True, default=None,
                         help="evaluate only the scorer built from the configured parts "
                              "(evaluation.candidates: false): no candidates, baselines or "
                              "recommender grid; its own recommendations are measured")


def config_overrides(args: argparse.Namespace) -> dict:
    """The flags given on the command line as overrides of the config tree (same nested
    shape as the YAML); flags not given are absent, so the YAML's values stand."""
    def given(name: str):
        value = getattr(args, name, None)
        return None if isinstance(value, CommandDefault) else value

    read = {k: given(k) for k in READING_OPTIONS if given(k) is not None}
    inputs = {"read": read} if read else {}
    if given("columns"):
        inputs["columns"] = given("columns")
    scoring: dict = {}
    if given("budget") is not None:
        scoring["budget"] = given("budget")
    if given("control_share") is not None:
        from .offers import split_arms

        try:
            scoring["offers"] = {"arms": split_arms(given("control_share"), ("treatment",))}
        except ValueError as exc:
            raise DataError(f"--control-share: {exc}") from exc
    evaluation: dict = {}
    for flag, key in (("holdout_days", "horizon_days"), ("seed", "seed"),
                      ("recommender_grid", "recommender_grid")):
        if given(flag) is not None:
            evaluation[key] = given(flag)
    if given("cutoff") is not None:
        evaluation["cutoff"] = str(parse_cli_date(given("cutoff"), "--cutoff").date())
    if given("shipped_only"):
        evaluation["candidates"] = False
    sections = {"input": inputs, "scoring": scoring, "evaluation": evaluation}
    return {name: values for name, values in sections.items() if values}


def project_config(args: argparse.Namespace) -> ProjectConfig:
    """The effective config tree of a command: defaults, --config YAML, flags."""
    if getattr(args, "project", None) is None:
        args.project = load_project_config(getattr(args, "config", None),
                                           config_overrides(args))
    return args.project


@contextlib.contextmanager
def configured(args: argparse.Namespace):
    """Load the command's config tree (commands with --config) and make it the active one
    (data folders, MLflow URI) while the command runs."""
    if not hasattr(args, "config"):
        yield None
        return
    with activated(project_config(args)) as project:
        yield project


def load_shop(args: argparse.Namespace):
    """Load the data the options name; print what the loading had to warn about."""
    as_of = parse_cli_date(getattr(args, "as_of", None), "--as-of")
    project = project_config(args)
    if args.transactions:
        if args.dataset:
            raise DataError("give either --dataset or --transactions, not both")
        shop = load_files(
            args.transactions,
            columns=project.input.columns,
            customers=args.customers,
            events=args.events,
            customer_columns=project.input.customer_columns,
            event_columns=project.input.event_columns,
            as_of=as_of,
            options=project.input.read,
        )
    else:
        shop = load_dataset(args.dataset or "online-retail-ii", as_of=as_of,
                            n_customers=args.synthetic_customers,
                            seed=project.evaluation.seed)
    for warning in shop.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return shop


def cmd_data_check(args) -> int:
    shop = load_shop(args)
    result = pipeline.run_check(shop, args.out, write_canonical=args.write_canonical)
    print(pipeline.format_accounting(result.report))
    for name, path in result.outputs.items():
        print(f"{name}: {path}")
    return 0


def cmd_data_synth(args) -> int:
    from .data import synthetic

    if args.campaign or args.campaign_config:
        from .campaign.jobs import synth_campaign
        from .campaign.simulate import CampaignConfig

        try:
            config = (CampaignConfig.from_yaml(args.campaign_config) if args.campaign_config
                      else CampaignConfig())
        except (ValueError, OSError) as error:
            raise DataError(f"--campaign-config {args.campaign_config}: {error}") from error
        print(dumps(synth_campaign(args.customers, args.seed, Path(args.out), config)))
        return 0
    shop = synthetic.generate_shop(n_customers=args.customers, seed=args.seed)
    synthetic.write_shop(shop, Path(args.out))
    sizes = {name: len(getattr(shop, name)) for name in
             ("transactions", "customers", "events", "products", "truth")}
    print(dumps({"out": args.out, **sizes}))
    return 0


def cmd_segments(args) -> int:
    shop = load_shop(args)
    result = pipeline.run_segments(shop, args.out, as_of=shop.as_of,
                                   config=project_config(args).scoring.segments)
    print(dumps(result.summary))
    print(f"segments: {result.outputs['segments']}")
    return 0


def cmd_run(args) -> int:
    shop = load_shop(args)
    project = project_config(args)  # scoring: --config's, with --budget / --control-share
    result = pipeline.run_main(shop, args.out, as_of=shop.as_of, config=project.scoring,
                               evaluate=not args.skip_evaluation,
                               recommender_grid=(project.evaluation.recommender_grid
                                                 or str(args.recommender_grid)),
                               progress=tqdm, uplift_model=args.uplift_model)
    print(format_run_summary(result.summary, result.outputs))
    print(f"  full summary: {result.outputs['summary']}")
    return 0


def cmd_evaluate(args) -> int:
    shop = load_shop(args)
    evaluation = project_config(args).evaluation
    result = pipeline.run_evaluate(shop, args.out,
                                   cutoff=parse_cli_date(evaluation.cutoff, "--cutoff"),
                                   holdout_days=evaluation.horizon_days, seed=evaluation.seed,
                                   recommenders=not args.skip_recommenders,
                                   recommender_grid=(evaluation.recommender_grid
                                                     or str(args.recommender_grid)),
                                   progress=tqdm, config=project_config(args).scoring)
    print(dumps(result.metrics["headline"]))
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
                                              as_of=parse_cli_date(args.as_of, "--as-of"),
                                              spark_master=args.spark_master)
    else:
        shop = load_shop(args)
        result = pipeline.run_score(shop, args.model, args.out, as_of=shop.as_of,
                                    engine=args.engine, spark_master=args.spark_master,
                                    uplift_model=args.uplift_model)
    summary = {k: result.summary[k] for k in ("as_of", "customers", "model_version",
                                              "customers_per_offer_type", "bonus_total",
                                              "expected_revenue_retained") if k in result.summary}
    print(dumps(summary))
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
    run.add_argument("--recommender-grid", choices=("quick", "full"),
                     default=CommandDefault("quick"),
                     help="recommender validation grid of the evaluation: quick (default, 20 "
                          "settings, one validation window) or full (40 settings, two windows; "
                          "what scoring evaluate runs)")
    run.add_argument("--uplift-model", metavar="URI", default=None,
                     help="registered uplift model (scoring campaign uplift), e.g. "
                          "models:/uplift-model@current: bonuses by its predicted "
                          "incremental revenue minus bonus cost per bonus unit, within "
                          "--budget; writes expected_incremental_revenue. Without it the "
                          "response assumption of the offer policy is used")
    add_shipped_only(run)
    run.set_defaults(func=cmd_run)

    evaluate = commands.add_parser(
        "evaluate", help="out-of-time evaluation of every model, tracked in MLflow",
        description="Fit every candidate, baseline and recommender and the shipped scorer "
                    "before the cutoff, measure them on [cutoff, cutoff + horizon days); write "
                    "predictions.parquet, recommendations.parquet, metrics.json and plots/; "
                    "one MLflow parent run with a child run per model (the scorer's is "
                    "'scorer').")
    add_data_options(evaluate, as_of=False)
    evaluate.add_argument("--cutoff", metavar="DATE", default=None,
                          help="scoring moment (default per dataset, e.g. 2011-06-09)")
    evaluate.add_argument("--horizon-days", "--holdout-days", dest="holdout_days", type=int,
                          default=None, metavar="N",
                          help="the one horizon of the evaluation: the holdout window "
                               "[cutoff, cutoff + N days) and the scorer's churn horizon "
                               "(default 90, what the scorer ships)")
    evaluate.add_argument("--skip-recommenders", action="store_true",
                          help="evaluate churn and revenue models only")
    evaluate.add_argument("--recommender-grid", choices=("quick", "full"),
                          default=CommandDefault("full"),
                          help="recommender validation grid: full (default) or quick")
    evaluate.add_argument("--out", metavar="DIR", help="output folder")
    add_shipped_only(evaluate)
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
    synth.add_argument("--campaign", action="store_true",
                       help="also simulate a retention campaign at the cutoff: the project's "
                            "scorer and offer policy assign offers, arms are randomised "
                            "(control 20%%, bonus_50, bonus_100), behaviour in the window "
                            "follows known heterogeneous effects; writes campaign.parquet, "
                            "campaign.json and the potential outcomes in truth.parquet")
    synth.add_argument("--campaign-config", metavar="YAML", default=None,
                       help="campaign arms, window and effects (implies --campaign); keys of "
                            "scoring.campaign.simulate.CampaignConfig")
    synth.set_defaults(func=cmd_data_synth)
    add_campaign_commands(commands)

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
    score.add_argument("--uplift-model", metavar="URI", default=None,
                       help="registered uplift model (scoring campaign uplift), e.g. "
                            "models:/uplift-model@current: bonuses by its predicted "
                            "incremental revenue minus bonus cost per bonus unit, within "
                            "--budget; writes expected_incremental_revenue. Without it the "
                            "response assumption of the offer policy is used")
    score.set_defaults(func=cmd_score)

    config = commands.add_parser(
        "config", help="the configuration tree (--config YAML and flags)",
        description="One configuration tree for every command: paths, input, scoring "
                    "(offers, segments), evaluation, tracking.")
    config_commands = config.add_subparsers(dest="config_command", required=True,
                                            metavar="COMMAND")
    show = config_commands.add_parser(
        "show", help="print the effective configuration as YAML",
        description="Print the configuration in force (defaults, then the --config YAML, "
                    "then the flags) as YAML: a valid --config file, and what every run logs "
                    "to MLflow as config.yaml.")
    show.add_argument("--config", metavar="YAML", help=CONFIG_HELP)
    show.add_argument("--columns", metavar="MAPPING",
                      help='column mapping, e.g. "customer_id=Customer ID,timestamp=InvoiceDate"')
    add_reading_options(show)
    flags = show.add_argument_group("flags of run / evaluate")
    flags.add_argument("--budget", type=float, default=None, metavar="AMOUNT",
                       help="cap on the total of all retention bonuses (scoring.budget)")
    flags.add_argument("--control-share", type=float, default=None, metavar="SHARE",
                       help="share of customers held out as control group "
                            "(scoring.offers.arms)")
    flags.add_argument("--horizon-days", "--holdout-days", dest="holdout_days", type=int,
                       default=None, metavar="N",
                       help="the one horizon (evaluation.horizon_days = "
                            "scoring.churn_horizon_days)")
    flags.add_argument("--cutoff", metavar="DATE", default=None,
                       help="evaluation cutoff, YYYY-MM-DD (evaluation.cutoff)")
    flags.add_argument("--seed", type=int, default=None, help="random seed (evaluation.seed)")
    flags.add_argument("--recommender-grid", choices=("quick", "full"), default=None,
                       help="recommender validation grid (evaluation.recommender_grid)")
    add_shipped_only(flags)
    show.set_defaults(func=cmd_config_show)
    return parser


def add_campaign_commands(commands) -> None:
    """``scoring campaign report | uplift | plan``: measure, learn, plan."""
    campaign = commands.add_parser(
        "campaign", help="measure what the offers did, learn who responds, plan the next test",
        description="The campaign loop: assign with scoring run, send, come back after N days "
                    "with the new orders, then report (per-arm effects with intervals), "
                    "uplift (who responds; registers models:/uplift-model@current) and plan.")
    sub = campaign.add_subparsers(dest="campaign_command", required=True, metavar="COMMAND")
    for name, func, text in (
            ("report", cmd_campaign_report,
             "per arm, segment and risk decile: conversion, orders, revenue, bonus cost and net "
             "incremental revenue vs control with 95%% intervals (Welch and regression-adjusted "
             "on pre-campaign behaviour), Qini curves, the detectable lift; writes "
             "report.json, outcomes.parquet and plots/, and an MLflow run"),
            ("uplift", cmd_campaign_uplift,
             "fit meta-learners (T/X/DR on LightGBM, causalml) chosen by cross-fitted Qini on "
             "the campaign, write out-of-fold predicted incremental revenue (uplift.parquet) "
             "and register models:/uplift-model@current for scoring run/score --uplift-model")):
        command = sub.add_parser(name, help=text.split(";")[0],
                                 description=text)
        add_data_options(command, as_of=False)
        command.add_argument("--assignments", metavar="PATH", required=True,
                             help="campaign.parquet (customer_id, arm, bonus_amount, scores); "
                                  "campaign.json beside it gives the window")
        command.add_argument("--start", metavar="DATE", default=None,
                             help="first day of the campaign window, YYYY-MM-DD")
        command.add_argument("--days", type=int, default=None, metavar="N",
                             help="length of the window in days")
        command.add_argument("--control-arm", default=None,
                             help="name of the control arm (default campaign.json's, control)")
        command.add_argument("--out", metavar="DIR", required=True, help="output folder")
        command.set_defaults(func=func)
        if name == "report":
            command.add_argument("--uplift-predictions", metavar="PATH", default=None,
                                 help="uplift.parquet of scoring campaign uplift: adds the "
                                      "model's Qini curve")
            command.add_argument("--alpha", type=float, default=0.05,
                                 help="1 - confidence level of the intervals (0.05)")
        else:
            command.add_argument("--learner", choices=("auto", "t", "x", "dr"), default="auto",
                                 help="meta-learner (auto: best cross-fitted Qini)")
            command.add_argument("--folds", type=int, default=5, help="cross-fitting folds")
    plan = sub.add_parser(
        "plan", help="the smallest lift a campaign can detect and the control share a lift "
                     "needs",
        description="Power of a two-arm comparison of conversion rates (statsmodels, 80%% "
                    "power, two-sided): the smallest absolute lift the control share detects "
                    "and, with --lift, the control share that lift needs.")
    plan.add_argument("--customers", type=int, required=True, help="customers in the campaign")
    plan.add_argument("--baseline-rate", type=float, required=True,
                      help="conversion rate without the offer, e.g. 0.25")
    plan.add_argument("--lift", type=float, default=None,
                      help="absolute lift to detect, e.g. 0.02 (2 points)")
    plan.add_argument("--control-share", type=float, default=0.2, help="control share (0.2)")
    plan.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    plan.add_argument("--power", type=float, default=0.8, help="power (0.8)")
    plan.set_defaults(func=cmd_campaign_plan)


def _campaign_inputs(args):
    from .campaign.jobs import read_assignments

    shop = load_shop(args)
    assignments, meta = read_assignments(args.assignments)
    start = parse_cli_date(args.start, "--start")
    return shop, assignments, meta, start


def cmd_campaign_report(args) -> int:
    from .campaign.jobs import run_campaign_report
    from .console import format_campaign_report

    shop, assignments, meta, start = _campaign_inputs(args)
    predictions = None
    if args.uplift_predictions:
        import pandas as pd

        predictions = pd.read_parquet(args.uplift_predictions)
    result = run_campaign_report(shop, assignments, meta, Path(args.out), start=start,
                                 days=args.days, alpha=args.alpha,
                                 uplift_predictions=predictions, control_arm=args.control_arm)
    print(format_campaign_report(result.report))
    for name, path in result.outputs.items():
        print(f"{name}: {path}")
    print(f"MLflow run: {result.run_id}")
    return 0


def cmd_campaign_uplift(args) -> int:
    from .campaign.jobs import run_campaign_uplift

    shop, assignments, meta, start = _campaign_inputs(args)
    result = run_campaign_uplift(shop, assignments, meta, Path(args.out), start=start,
                                 days=args.days, learner=args.learner, n_folds=args.folds,
                                 seed=project_config(args).evaluation.seed,
                                 control_arm=args.control_arm)
    print(dumps({k: result.report[k] for k in ("learner", "cv_qini", "arms", "customers")}))
    for name, path in result.outputs.items():
        print(f"{name}: {path}")
    print(f"model: {result.extra['registration'].get('model_uri')} (alias current); "
          f"MLflow run: {result.run_id}")
    return 0


def cmd_campaign_plan(args) -> int:
    from .campaign.jobs import campaign_plan

    print(dumps(campaign_plan(args.customers, args.baseline_rate, args.lift,
                              control_share=args.control_share, alpha=args.alpha,
                              power=args.power)))
    return 0


def cmd_config_show(args) -> int:
    project = project_config(args)
    print(dumps_yaml(project), end="")
    print(f"# MLflow tracking URI in force: {project.tracking.uri(project.paths)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM/SIGINT end the job's MLflow runs as KILLED (not stuck RUNNING) and exit
    # without a traceback; output sets are swapped in whole or not at all (outputs.OutputSet).
    with handle_termination():
        try:
            with configured(args):  # --config YAML + flags -> the active config tree
                return args.func(args)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted: the previous outputs are intact", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
