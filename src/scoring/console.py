"""What the commands print: short, readable summaries (the full JSON stays in the files)."""

from __future__ import annotations

from pathlib import Path


def _share(count: int, total: int) -> str:
    return f"{count:,} ({count / total:.1%})" if total else f"{count:,}"


def _number(value, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:.{digits}f}"


def format_run_summary(summary: dict, outputs: dict[str, Path]) -> str:
    """The main job's summary as a few lines of text: accounting, segment sizes, the shipped
    models' metrics with their window, the campaign totals and where the files are.

    ``summary``: ``pipeline.run_summary``'s dict; ``outputs``: name -> path of the files."""
    lines = [f"{summary['dataset']} as of {summary['as_of']}: {summary['customers']:,} "
             "customers scored"]
    accounting = summary.get("accounting")
    if accounting:
        rows_in = accounting["rows_in"]
        set_aside = {k: v for k, v in accounting["quarantined"].items() if v}
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(set_aside.items(),
                                                           key=lambda kv: -kv[1]))
        lines.append(f"  data: {rows_in:,} rows in, {_share(accounting['rows_used'], rows_in)} "
                     f"used; set aside: {shown or 'none'}")
    stages = summary.get("segment_sizes", {}).get("lifecycle_stage", {})
    if stages:
        lines.append("  lifecycle: " + ", ".join(f"{k} {v:,}" for k, v in stages.items() if v))
    lines += _evaluation_lines(summary.get("evaluation"))
    model = summary.get("model") or {}
    if model:
        champion = "champion" if model.get("champion") else "not champion"
        lines.append(f"  registered: customer-scorer version {model.get('version', '?')} "
                     f"({champion}: {model.get('reason', '')})")
    lines += _campaign_lines(summary.get("campaign") or {})
    folder = _common_folder(outputs)
    if folder is not None:
        lines.append(f"  files: {folder}/ ({', '.join(sorted(_names(outputs, folder)))})")
    return "\n".join(lines)


def _evaluation_lines(block: dict | None) -> list[str]:
    if not block:
        return ["  evaluation: skipped"]
    metrics = block["metrics"]
    model = block.get("model", {})
    lines = [f"  evaluation: window {block['cutoff']} .. {block['window_end']} "
             f"({block['horizon_days']} days), {block['n_customers']:,} customers, churn rate "
             f"{_number(block.get('churn_rate'), 3)}",
             f"    shipped scorer ({model.get('churn_model', '?')} churn, "
             f"{model.get('transaction_model', '?')}): churn ROC-AUC "
             f"{_number(metrics.get('churn_roc_auc'))}, Brier {_number(metrics.get('churn_brier'))}"
             f"; revenue Gini {_number(metrics.get('revenue_gini'))}, total ratio "
             f"{_number(metrics.get('revenue_total_ratio'))}"]
    ndcg = {k.removeprefix("ndcg_at_10_"): v for k, v in metrics.items()
            if k.startswith("ndcg_at_10_")}
    if ndcg:
        lines.append("    recommender NDCG@10: " + ", ".join(
            f"{protocol} {_number(value)}" for protocol, value in ndcg.items()))
    return lines


def _campaign_lines(campaign: dict) -> list[str]:
    if not campaign:
        return []
    offers = campaign.get("customers_per_offer_type", {})
    lines = ["  campaign: " + ", ".join(f"{k} {v:,}" for k, v in offers.items() if v)]
    bonus = campaign.get("bonus_total")
    uplift = campaign.get("uplift")
    if uplift:
        lines.append(f"    bonuses {bonus:,.0f} to {uplift['customers_with_bonus']:,} customers by "
                     f"the uplift model ({uplift['model_uri']}): expected incremental revenue "
                     f"{uplift['expected_incremental_revenue']:,.0f}, profit after expected "
                     f"bonus cost {uplift['expected_incremental_profit']:,.0f}; control group "
                     f"{campaign.get('control_group_size', 0):,}")
    elif bonus is not None:
        lines.append(f"    bonuses {bonus:,.0f} to {campaign.get('customers_with_bonus', 0):,} "
                     f"customers, expected revenue retained "
                     f"{campaign.get('expected_revenue_retained', 0):,.0f}; control group "
                     f"{campaign.get('control_group_size', 0):,}")
    return lines


def _common_folder(outputs: dict[str, Path]) -> Path | None:
    paths = [Path(p) for p in outputs.values()]
    if not paths:
        return None
    folder = paths[0].parent
    while not all(folder == p or folder in p.parents for p in paths):
        folder = folder.parent
    return folder


def _names(outputs: dict[str, Path], folder: Path) -> set[str]:
    return {Path(p).relative_to(folder).parts[0] for p in outputs.values()}


def _interval(block: dict | None, digits: int = 2) -> str:
    if not block or block.get("effect") is None:
        return "n/a"
    low, high = block.get("ci_low"), block.get("ci_high")
    text = f"{block['effect']:+,.{digits}f}"
    if low is not None and high is not None:
        text += f" [{low:+,.{digits}f}, {high:+,.{digits}f}]"
    if block.get("p_value") is not None:
        text += f" p={block['p_value']:.3g}"
    return text


def format_campaign_report(report: dict) -> str:
    """A few readable lines of ``scoring campaign report`` (the JSON stays in report.json):
    per treatment arm the revenue and conversion effects vs control with 95 % intervals
    (plain and adjusted), bonus cost and net incremental revenue; the detectable lift; Qini."""
    window = report.get("window", {})
    lines = [f"campaign {window.get('start')} +{window.get('days')} days: "
             f"{report['customers']:,} customers, arms {', '.join(report['arms'])}"]
    control = next(e for e in report["overall"] if e["arm"] == report["control_arm"])
    lines.append(f"  {control['arm']}: {control['customers']:,} customers, conversion "
                 f"{_number(control['outcomes']['converted']['mean'])}, revenue per customer "
                 f"{control['outcomes']['revenue']['mean']:,.2f}")
    for entry in report["overall"]:
        if entry["arm"] == report["control_arm"]:
            continue
        revenue, converted = entry["outcomes"]["revenue"], entry["outcomes"]["converted"]
        net = entry.get("net_incremental_revenue") or {}
        lines += [
            f"  {entry['arm']}: {entry['customers']:,} customers, bonus cost "
            f"{entry['bonus_cost']['total'] or 0:,.0f}",
            f"    revenue per customer vs control: plain {_interval(revenue.get('plain'))}; "
            f"adjusted {_interval(revenue.get('adjusted'))} (interval "
            f"{100 * (revenue.get('ci_width_reduction') or 0):.0f}% narrower)",
            f"    conversion vs control: adjusted {_interval(converted.get('adjusted'), 4)}",
            f"    net incremental revenue ({net.get('basis', 'n/a')}): "
            f"{_interval(net.get('total'), 0)}"]
    for warning in (report.get("checks") or {}).get("warnings", []):
        lines.append(f"  WARNING: {warning}")
    power = report.get("power") or {}
    if power:
        lines.append(f"  detectable at 80% power: conversion "
                     f"+{power['minimum_detectable_conversion_lift']:.4f}, revenue per customer "
                     f"+{power['minimum_detectable_revenue_lift']:,.2f}")
    if report.get("qini_revenue"):
        lines.append("  Qini (revenue): " + ", ".join(
            f"{k} {_number(v)}" for k, v in report["qini_revenue"].items()))
    return "\n".join(lines)
