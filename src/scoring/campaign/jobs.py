"""The campaign loop's jobs, stage by stage (what ``scoring data synth --campaign`` and
``scoring campaign report | uplift | plan`` run): each reads a shop and the assignments,
computes the outcomes of the window, and writes its files as one set plus one MLflow run in
the experiment ``campaign-<dataset>``.

1. ``synth_campaign``: synthetic shop -> the project's scorer and offer policy -> arms ->
   simulated behaviour with potential outcomes (:mod:`.simulate`).
2. ``run_campaign_report``: outcomes (:mod:`.outcomes`) -> per-arm and per-segment effects,
   plain and variance-reduced (:mod:`.measure`) -> Qini of the targeting scores
   (:mod:`.qini`) -> power (:mod:`.power`) -> report.json, outcomes.parquet, plots/.
3. ``run_campaign_uplift``: outcomes -> uplift model chosen by cross-fitted Qini
   (:mod:`.uplift`) and redemption model (:mod:`.redemption`) -> out-of-fold predictions
   (uplift.parquet) -> registered ``uplift-model`` (:mod:`.registry`).
4. ``campaign_plan``: the detectable lift of a control share, the share a lift needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.data.errors import DataError
from scoring.outputs import OutputSet

from . import CONTROL_ARM, with_predicted_revenue
from .measure import ADJUSTMENT_COVARIATES, balance_checks, campaign_report
from .outcomes import campaign_outcomes

TARGETING_SCORES: tuple[str, ...] = ("churn_probability", "value_at_risk")
"""Scores the default policy targets with; the report draws their Qini curves."""


@dataclass
class CampaignResult:
    """What a campaign job wrote: ``report`` (JSON-ready), ``outputs`` (name -> path),
    ``run_id`` (MLflow, "none" without tracking), ``extra`` (job-specific)."""

    report: dict
    outputs: dict[str, Path] = field(default_factory=dict)
    run_id: str = "none"
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------ inputs
def read_assignments(path) -> tuple[pd.DataFrame, dict]:
    """The assignments and what is known about the campaign.

    ``path``: ``campaign.parquet`` (``scoring data synth --campaign``), the ``scores.parquet``
    of ``scoring run`` / ``scoring score`` (its ``ab_group`` is the arm, ``candidate_bonus``
    the policy bonus; the window starts the day after its ``campaign_summary.json``'s as-of
    date), or any Parquet / CSV with customer_id, arm (or ab_group) and bonus_amount. The
    metadata is ``campaign.json`` beside it ({} when absent). Refuses a file without those
    columns, with the fix."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such assignments file; pass the campaign.parquet written "
                        "by `scoring data synth --campaign`, the scores.parquet of `scoring "
                        "run`, or your own assignments export.")
    frame = (pd.read_csv(path, dtype={"customer_id": "string", "arm": "string"})
             if path.suffix.lower() == ".csv" else pd.read_parquet(path))
    frame = assignments_from_scores(frame)
    missing = [c for c in ("customer_id", "arm", "bonus_amount") if c not in frame]
    if missing:
        raise DataError(f"{path}: column(s) {missing} missing; the assignments need one row "
                        "per customer with customer_id, arm (or ab_group) and bonus_amount "
                        "(0 in control).")
    frame["customer_id"] = frame["customer_id"].astype("string")
    sidecar = path.with_name("campaign.json")
    meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    summary = path.with_name("campaign_summary.json")
    if not meta and summary.exists():  # the scores of a scoring run: the window follows it
        as_of = json.loads(summary.read_text()).get("as_of")
        if as_of:
            meta = {"start": str((pd.Timestamp(str(as_of)[:10]) + pd.Timedelta(days=1)).date())}
    return frame, meta


def assignments_from_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """A scores table (``scoring run``) as assignments: ``arm`` from ``ab_group``,
    ``policy_bonus`` from ``candidate_bonus``, ``predicted_revenue_90d`` from the scorer's
    predictions; a table that already has them is returned unchanged."""
    out = frame
    if "arm" not in out and "ab_group" in out:
        out = out.assign(arm=out["ab_group"].astype("string"))
    if "policy_bonus" not in out and "candidate_bonus" in out:
        out = out.assign(policy_bonus=pd.to_numeric(out["candidate_bonus"]).fillna(0.0))
    return with_predicted_revenue(out)


def window(meta: dict, start=None, days: int | None = None) -> tuple[pd.Timestamp, int]:
    """The campaign window: ``start``/``days`` when given, else from ``campaign.json``."""
    start = start if start is not None else meta.get("start")
    days = days if days is not None else meta.get("days")
    if start is None or days is None:
        raise DataError("the campaign window is unknown: pass --start YYYY-MM-DD and --days N "
                        "(no campaign.json beside the assignments says them).")
    return pd.Timestamp(start).normalize(), int(days)


def arm_shares(meta: dict, assignments: pd.DataFrame) -> dict[str, float]:
    """Randomisation share per arm: the planned shares (:func:`planned_shares`), else the
    observed arm counts."""
    planned = planned_shares(meta, assignments)
    if planned:
        return planned
    counts = assignments["arm"].astype(str).value_counts(normalize=True)
    return {str(k): float(v) for k, v in counts.items()}


def planned_shares(meta: dict, assignments: pd.DataFrame) -> dict[str, float] | None:
    """The planned share per arm for the sample-ratio check: ``campaign.json``'s arms, else
    the offer policy's arms of the active config when their names match (the scores of a
    ``scoring run``), else None (no check)."""
    if meta.get("arms"):
        return {a["name"]: float(a["share"]) for a in meta["arms"]}
    from scoring.config import active

    arms = dict(active().scoring.offers.arms)
    return arms if set(assignments["arm"].astype(str)) <= set(arms) else None


def arm_multipliers(meta: dict, assignments: pd.DataFrame, control_arm: str) -> dict:
    """Bonus multiplier per treatment arm: ``campaign.json``'s, else the median ratio of
    ``bonus_amount`` to ``policy_bonus`` in the arm (1 without ``policy_bonus``)."""
    if meta.get("arms"):
        return {a["name"]: float(a["bonus_multiplier"]) for a in meta["arms"]
                if a["name"] != control_arm}
    out = {}
    for arm, rows in assignments.groupby(assignments["arm"].astype(str)):
        if arm == control_arm:
            continue
        if "policy_bonus" in rows and (rows["policy_bonus"] > 0).any():
            ratio = rows["bonus_amount"] / rows["policy_bonus"].where(rows["policy_bonus"] > 0)
            out[arm] = float(np.nanmedian(ratio))
        else:
            out[arm] = 1.0
    return out


# ------------------------------------------------------------------------------ 1. synth
def synth_campaign(n_customers: int, seed: int, out, config=None) -> dict:
    """Synthetic shop + simulated campaign written to ``out`` (``simulate.write_campaign``);
    returns the sizes and the true average effect per arm (revenue per customer)."""
    from scoring.data import synthetic

    from .simulate import (
        CampaignConfig,
        assign_campaign,
        score_for_campaign,
        simulate_campaign,
        write_campaign,
    )

    config = config or CampaignConfig()
    shop = synthetic.generate_shop(n_customers=n_customers, seed=seed)
    scores = score_for_campaign(shop)
    assignments = assign_campaign(scores, config, start=shop.cutoff)
    campaign = simulate_campaign(shop, assignments, config, seed=seed)
    write_campaign(campaign, out)
    truth = campaign.truth.dropna(subset=["campaign_arm"])
    control = truth[f"revenue_if_{config.control_arm}"]
    effects = {a: float((truth[f"revenue_if_{a}"] - control).mean())
               for a in config.arm_names if a != config.control_arm}
    return {"out": str(out), "customers": n_customers, "campaign_customers": len(truth),
            "start": campaign.metadata["start"], "days": config.days,
            "arms": campaign.assignments["arm"].astype(str).value_counts().to_dict(),
            "true_revenue_effect_per_customer": effects}


# ------------------------------------------------------------------------------ 2. report
def qini_table(outcomes: pd.DataFrame, scores: dict[str, np.ndarray], control_arm: str,
               outcome: str = "revenue") -> tuple[dict, dict]:
    """Qini curves and normalised coefficients of ``scores`` (name -> (n,) score, higher =
    target first) for ``outcome``, treated = any treatment arm. Returns (curves, coefs)."""
    from .qini import qini_coefficient, qini_curve

    y = outcomes[outcome].to_numpy(float)
    treated = outcomes["arm"].astype(str).ne(control_arm).to_numpy()
    curves, coefs = {}, {}
    for name, score in scores.items():
        curves[name] = qini_curve(y, treated, score)
        coefs[name] = float(qini_coefficient(y, treated, score))
    return curves, coefs


def power_check(outcomes: pd.DataFrame, control_arm: str, alpha: float) -> dict:
    """The smallest lift this campaign could detect (80 % power): conversion (absolute rate)
    and revenue per customer (currency), for its size and control share."""
    from .power import minimum_detectable_effect, minimum_detectable_effect_continuous

    n = len(outcomes)
    control = outcomes["arm"].astype(str).eq(control_arm)
    share = float(control.mean())
    base = float(outcomes.loc[control, "converted"].mean())
    std = float(outcomes.loc[control, "revenue"].std(ddof=1))
    return {"customers": n, "control_share": share, "alpha": alpha, "power": 0.8,
            "control_conversion_rate": base, "control_revenue_std": std,
            "minimum_detectable_conversion_lift": float(
                minimum_detectable_effect(n, share, base, alpha=alpha)),
            "minimum_detectable_revenue_lift": float(
                minimum_detectable_effect_continuous(n, share, std, alpha=alpha))}


def _report_figures(outcomes: pd.DataFrame, curves: dict, coefs: dict, control_arm: str,
                    alpha: float) -> dict:
    from .measure import arm_effects
    from .plots import arm_effects_figure, qini_curves_figure, uplift_by_decile_figure
    from .qini import uplift_by_quantile

    figures = {}
    for outcome, unit in (("revenue", "currency per customer"), ("converted", "rate")):
        plain = arm_effects(outcomes, outcome, control_arm, alpha=alpha)
        adjusted = arm_effects(outcomes, outcome, control_arm, alpha=alpha,
                               covariates=ADJUSTMENT_COVARIATES)
        figures[f"arm_effects_{outcome}"] = arm_effects_figure(plain, adjusted,
                                                               outcome=outcome, unit=unit)
    if "churn_probability" in outcomes:
        treated = outcomes["arm"].astype(str).ne(control_arm).to_numpy()
        table = uplift_by_quantile(outcomes["revenue"].to_numpy(float), treated,
                                   outcomes["churn_probability"].to_numpy(float), q=10,
                                   alpha=alpha)
        figures["uplift_by_churn_decile"] = uplift_by_decile_figure(
            table, score_name="churn_probability", outcome="revenue")
    figures["qini_revenue"] = qini_curves_figure(curves, coefficients=coefs)
    return figures


def run_campaign_report(shop, assignments: pd.DataFrame, meta: dict, out, *, start=None,
                        days: int | None = None, alpha: float = 0.05,
                        uplift_predictions: pd.DataFrame | None = None,
                        control_arm: str | None = None, tracker=None) -> CampaignResult:
    """Measure a campaign (module docstring, stage 2). ``uplift_predictions``: the
    ``uplift.parquet`` of ``run_campaign_uplift`` (out-of-fold, so fair to draw) to add the
    uplift model's Qini curve."""
    from scoring import tracking

    control_arm = control_arm or meta.get("control_arm", CONTROL_ARM)
    start, days = window(meta, start, days)
    outcomes = campaign_outcomes(assignments, shop.transactions, start, days,
                                 control_arm=control_arm)
    report = campaign_report(outcomes, control_arm=control_arm, alpha=alpha)
    scores = {name: outcomes[name].to_numpy(float) for name in TARGETING_SCORES
              if name in outcomes}
    if uplift_predictions is not None:
        pred = uplift_predictions.set_index("customer_id")["predicted_incremental_revenue"]
        scores["uplift_model"] = pred.reindex(outcomes["customer_id"]).to_numpy(float)
    curves, coefs = qini_table(outcomes, scores, control_arm)
    report.update(window={"start": str(start.date()), "days": days},
                  qini_revenue=coefs, power=power_check(outcomes, control_arm, alpha),
                  dataset=shop.name,
                  checks=balance_checks(outcomes, report["covariates"], control_arm,
                                        planned_shares(meta, outcomes)))
    report["notes"] = [*report["checks"]["warnings"], *report["notes"]]
    figures = _report_figures(outcomes, curves, coefs, control_arm, alpha)
    tracker = tracking.current_tracker(tracker)
    with OutputSet(out) as files:
        outputs = {"report": files.write_json(report, "report.json"),
                   "outcomes": files.write_parquet(outcomes, "outcomes.parquet")}
        plots = files.path("plots")
        plots.mkdir(exist_ok=True)
        for name, figure in figures.items():
            figure.savefig(plots / f"{name}.png", dpi=110, bbox_inches="tight")
        outputs["plots"] = files.final("plots")
        run_id = _log_report(tracker, shop, report, files, start, days)
        files.commit()
    return CampaignResult(report=report, outputs=outputs, run_id=run_id)


def headline_metrics(report: dict) -> dict[str, float]:
    """Flat MLflow metrics of a report: per treatment arm, the revenue effect (plain and
    adjusted) with its interval, the conversion effect and the net incremental revenue."""
    metrics = {}
    for entry in report["overall"]:
        arm = entry["arm"]
        if arm == report["control_arm"]:
            continue
        for outcome in ("revenue", "converted"):
            block = entry["outcomes"][outcome]
            for kind in ("plain", "adjusted"):
                for key in ("effect", "ci_low", "ci_high", "p_value"):
                    value = (block.get(kind) or {}).get(key)
                    if value is not None:
                        metrics[f"{arm}.{outcome}.{kind}.{key}"] = value
        net = entry.get("net_incremental_revenue") or {}
        if net.get("total") is not None:
            total = net["total"]
            metrics[f"{arm}.net_incremental_revenue"] = (
                total.get("effect") if isinstance(total, dict) else total)
    return {k: float(v) for k, v in metrics.items() if v is not None}


def _log_report(tracker, shop, report: dict, files, start, days: int) -> str:
    from scoring import tracking

    tracker.experiment(f"campaign-{shop.name}")
    with tracker.start_run(f"campaign report {start.date()} +{days}d",
                           tags={"job": "campaign-report", "dataset": shop.name}) as run:
        tracking.log_shop_input(tracker, shop, "campaign-outcomes")
        tracker.log_params({"start": str(start.date()), "days": days,
                            "customers": report["customers"], "arms": ",".join(report["arms"]),
                            "control_arm": report["control_arm"], "alpha": report["alpha"]})
        tracker.log_metrics(headline_metrics(report))
        tracker.log_metrics({f"qini.{k}": v for k, v in report["qini_revenue"].items()})
        tracker.log_artifact(files.path("report.json"))
        tracker.log_artifacts(files.path("plots"), artifact_path="plots")
        return run.info.run_id


# ------------------------------------------------------------------------------ 3. uplift
def run_campaign_uplift(shop, assignments: pd.DataFrame, meta: dict, out, *, start=None,
                        days: int | None = None, learner: str = "auto", n_folds: int = 5,
                        seed: int = 0, register: bool = True, control_arm: str | None = None,
                        tracker=None) -> CampaignResult:
    """Learn who responds (module docstring, stage 3); writes uplift.parquet (out-of-fold
    predicted incremental revenue per arm, the best arm and its prediction) and
    uplift_metrics.json, and registers the bundle as ``uplift-model``."""
    from scoring import tracking

    from .redemption import RedemptionModel
    from .registry import UpliftBundle
    from .uplift import UpliftModel, with_derived_features

    control_arm = control_arm or meta.get("control_arm", CONTROL_ARM)
    start, days = window(meta, start, days)
    outcomes = campaign_outcomes(assignments, shop.transactions, start, days,
                                 control_arm=control_arm)
    outcomes = with_derived_features(outcomes)  # the model's derived features, logged too
    model = UpliftModel(learner=learner, n_folds=n_folds, random_state=seed,
                        control_arm=control_arm)
    # the default design learns incremental ORDERS and values them at the scorer's expected
    # order value (model.value_column); without that column it learns revenue directly. The
    # learner is chosen by the cross-fitted Qini on revenue either way.
    if model.value_column is not None and model.value_column not in outcomes:
        model.set_params(value_column=None)
    target = "revenue" if model.value_column is None else "orders"
    model.fit(outcomes, outcomes["arm"], outcomes[target].astype(float),
              arm_shares=arm_shares(meta, outcomes), revenue=outcomes["revenue"])
    multipliers = arm_multipliers(meta, outcomes, control_arm)
    redemption = RedemptionModel(random_state=seed, control_arm=control_arm).fit(
        outcomes, outcomes["arm"], outcomes["converted"], multipliers)
    min_bonus = float(meta.get("min_bonus", 0.0))  # the campaign's learning floor
    predictions = _oof_table(outcomes, model)
    metrics = {"learner": model.learner_, "cv_qini": model.cv_qini_, "arms": model.arms_,
               "outcome": target, "value_column": model.value_column,
               "customers": len(outcomes), "features": model.feature_names_,
               "fit_seconds": model.fit_seconds_}
    bundle = UpliftBundle(uplift=model, redemption=redemption, multipliers=multipliers,
                          control_arm=control_arm, min_bonus=min_bonus,
                          campaign={**meta, "start": str(start.date()), "days": days},
                          metrics=metrics)
    tracker = tracking.current_tracker(tracker)
    with OutputSet(out) as files:
        outputs = {"uplift": files.write_parquet(predictions, "uplift.parquet"),
                   "metrics": files.write_json(metrics, "uplift_metrics.json")}
        registration = _log_uplift(tracker, shop, bundle, outcomes, files, register)
        files.commit()
    return CampaignResult(report=metrics, outputs=outputs, run_id=registration.pop("run_id"),
                          extra={"registration": registration, "bundle": bundle})


def _oof_table(outcomes: pd.DataFrame, model) -> pd.DataFrame:
    """One row per customer: arm, out-of-fold predicted incremental revenue per treatment arm
    (``predicted_incremental_revenue_<arm>``, currency: with ``value_column`` the incremental
    orders times the expected order value), the best arm and its prediction."""
    effect = model.oof_effect_ if model.oof_effect_ is not None else model.predict(outcomes)
    table = pd.DataFrame({"customer_id": outcomes["customer_id"].astype("string"),
                          "arm": outcomes["arm"].astype("string")})
    for a in model.arms_:
        table[f"predicted_incremental_revenue_{a}"] = effect[a].to_numpy()
    best = effect.to_numpy().argmax(axis=1)
    table["best_arm"] = pd.Series(np.asarray(model.arms_, dtype=object)[best], dtype="string")
    table["predicted_incremental_revenue"] = effect.to_numpy().max(axis=1)
    return table


def _log_uplift(tracker, shop, bundle, outcomes: pd.DataFrame, files, register: bool) -> dict:
    from scoring import tracking

    tracker.experiment(f"campaign-{shop.name}")
    with tracker.start_run(f"campaign uplift {bundle.campaign['start']}",
                           tags={"job": "campaign-uplift", "dataset": shop.name}) as run:
        tracking.log_shop_input(tracker, shop, "campaign-outcomes")
        tracker.log_params({"learner": bundle.uplift.learner_, "n_folds": bundle.uplift.n_folds,
                            "arms": ",".join(bundle.arms), "start": bundle.campaign["start"],
                            "days": bundle.campaign["days"], "min_bonus": bundle.min_bonus})
        tracker.log_metrics({f"cv_qini.{k}": v for k, v in bundle.uplift.cv_qini_.items()})
        tracker.log_artifact(files.path("uplift_metrics.json"))
        example = outcomes[bundle.uplift.feature_names_ + ["policy_bonus"]].head(5)
        example = example.loc[:, ~example.columns.duplicated()].reset_index(drop=True)
        registration = tracker.log_uplift_model(bundle, example, register=register)
        return {**registration, "run_id": run.info.run_id}


# ------------------------------------------------------------------------------ 4. plan
def campaign_plan(n_customers: int, baseline_rate: float, lift: float | None = None,
                  control_share: float = 0.2, alpha: float = 0.05, power: float = 0.8) -> dict:
    """What a campaign of ``n_customers`` can measure on conversion: the smallest absolute
    lift its ``control_share`` detects and, for ``lift``, the control share it needs."""
    from .power import minimum_detectable_effect, required_control_share

    try:
        return _plan(n_customers, baseline_rate, lift, control_share, alpha, power,
                     minimum_detectable_effect, required_control_share)
    except ValueError as error:
        raise DataError(f"campaign plan: {error}") from error


def _plan(n_customers, baseline_rate, lift, control_share, alpha, power,
          minimum_detectable_effect, required_control_share) -> dict:
    plan = {"customers": n_customers, "baseline_conversion_rate": baseline_rate,
            "alpha": alpha, "power": power, "control_share": control_share,
            "minimum_detectable_lift": float(minimum_detectable_effect(
                n_customers, control_share, baseline_rate, alpha=alpha, power=power))}
    if lift is not None:
        plan["lift"] = lift
        plan["required_control_share"] = float(required_control_share(
            n_customers, baseline_rate, lift, alpha=alpha, power=power))
    return plan
