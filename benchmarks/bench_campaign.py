"""The campaign loop's targets on a simulated retention campaign with potential-outcome truth.

Usage: python benchmarks/bench_campaign.py [--customers 20000] [--seeds 50]
           [--allocation-seeds 5] [--shop-seed 0] [--out benchmarks/results/campaign.json]

One synthetic shop (``generate_shop(customers, seed=shop_seed)``) is scored once with the
project's scorer and offer policy (``simulate.score_for_campaign``). Then, for every seed
``s`` in ``0..seeds-1``, a new campaign is drawn: a fresh hash split
(``CampaignConfig(salt=f"campaign-{s}")``, default arms control 20 % / bonus_50 40 % /
bonus_100 40 %, 90-day window from the shop's cutoff) and ``simulate_campaign(..., seed=s)``.
Outcomes come from the simulated transactions (``outcomes.campaign_outcomes``); they must
equal the truth's potential outcome of each customer's own arm (asserted).

(a) Measurement. Per treatment arm and outcome (``revenue`` in the window per customer,
currency, and ``converted``, a rate): the plain estimate (difference of means, Welch
interval) and the variance-reduced one (Lin regression adjustment, HC2, on
``measure.ADJUSTMENT_COVARIATES``: pre-period revenue and orders and the scorer's
pre-campaign predictions, "CUPAC"), both from ``measure.arm_effects``. The estimand is the
sample average treatment effect over all campaign customers, ``mean(Y_i(a) - Y_i(control))``
from the truth (the estimand of the difference in means under complete randomisation);
coverage of the 95 % interval is also reported for the average over the arm's comparison
population (control + arm customers). Targets: coverage >= 90 % of the campaigns for both
estimators; the adjusted interval at least 20 % shorter (mean width ratio adjusted / plain
<= 0.8).

(b) Allocation, on the first ``allocation-seeds`` campaigns. The campaign customers are
split by a stable hash (salt ``bench-campaign-split``) into a fit half and an evaluation
half. ``uplift.UpliftModel()`` with the library's defaults is fitted on the fit half (the
arm, the known randomisation shares; y = the window's orders when the model values orders
(``value_column``, the default: predicted incremental revenue = incremental orders x the
scorer's expected order value), else the window's revenue; the cross-fitted Qini that picks
the learner scores revenue). Features: ``uplift.uplift_features`` of the outcomes frame after
``uplift.with_derived_features`` (the assignments carry the scorer's PREDICTION_COLUMNS).
On the evaluation half, the options of a customer are the treatment arms, with face value
``bonus_multiplier * policy_bonus``. Truth: effect of option a = ``revenue_if_a -
revenue_if_control``; cost = its face value if the customer would order under a
(``orders_if_a > 0``: the bonus is paid when redeemed), else 0.

Rules at budgets of 5, 10, 20, 30 and 50 % of the evaluation half's total full policy bonus;
unless stated otherwise the budget caps the FACE value of the bonuses handed out (what
``scoring run --uplift-model`` does, ``registry.allocate_with_uplift``):

* ``uplift``: ``allocate_by_uplift`` with the predicted effects and expected cost = face x
  predicted redemption (ranking), budget at face value; the redemption probability of arm a
  is a LightGBM classifier of ``converted`` fitted on the fit half's customers of arm a
  (same features);
* ``uplift_expected_budget``: the same, but the budget charged the expected cost (the
  ``allocate_by_uplift`` default; it hands out more face value than the budget);
* ``uplift_face_value``: the same predicted effects with redemption 1;
* ``value_at_risk``: today's rule (``allocate_by_value_at_risk``, full policy bonus);
* ``oracle`` (realised-effect oracle, what the issue asks): ``allocate_by_uplift`` with the
  campaign's realised individual effects and redemptions (it knows whose dice came up: an
  ex-post bound no model can reach);
* ``oracle_expected`` (expected-effect oracle): ``allocate_by_uplift`` with each customer's
  *expected* effect and redemption probability, the mean over the other simulated campaigns
  (same shop and bonuses, other seeds): knows the effect model, not the dice of the
  evaluated campaign (the best any model of x could know).

Reported: true incremental profit (true effect - true cost, currency) and true spend of every
rule at every budget, the ratios uplift / value_at_risk at the same face budget and at equal
true spend, uplift / oracle and uplift / oracle_expected (headline budget 20 %; targets
>= 1.5 and >= 0.7, the latter literally against the realised-effect oracle), personas of
the funded customers at the headline budget, rank correlations of the predicted with the
true and the expected effects, and the Qini coefficients (``qini.qini_coefficient``,
revenue, per arm vs control, normalised and in currency) of the uplift model's predictions,
churn_probability, value_at_risk, the true and the expected individual effects on the
evaluation half.

Writes ``--out`` (strict JSON) with the machine and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.campaign import CONTROL_ARM, allocate, measure, outcomes, qini, simulate, uplift
from scoring.data.synthetic import generate_shop
from scoring.offers.arms import stable_unit_hash
from scoring.outputs import write_json

HERE = Path(__file__).resolve().parent
COVARIATES = measure.ADJUSTMENT_COVARIATES  # pre-period behaviour + the scorer's predictions
OUTCOMES = ("revenue", "converted")
BUDGET_SHARES = (0.05, 0.10, 0.20, 0.30, 0.50)
HEADLINE_SHARE = 0.20
SPLIT_SALT = "bench-campaign-split"
RULES = ("uplift", "uplift_expected_budget", "uplift_face_value", "value_at_risk", "oracle",
         "oracle_expected")
RATIOS = (("uplift", "value_at_risk"), ("uplift", "oracle"), ("uplift", "oracle_expected"),
          ("uplift_expected_budget", "value_at_risk"), ("oracle_expected", "oracle"))
TARGETS = {"coverage": 0.90, "width_ratio": 0.80, "uplift_over_var": 1.5,
           "uplift_over_oracle": 0.70}


# --------------------------------------------------------------------------- one campaign


def run_campaign(shop, scores: pd.DataFrame, seed: int):
    """Simulate campaign ``seed``; returns (config, campaign, outcomes frame, truth aligned
    with the outcomes rows)."""
    config = simulate.CampaignConfig(salt=f"campaign-{seed}")
    assignments = simulate.assign_campaign(scores, config)
    campaign = simulate.simulate_campaign(shop, assignments, config, seed=seed)
    out = outcomes.campaign_outcomes(campaign.assignments, campaign.transactions,
                                     campaign.start, config.days)
    truth = campaign.truth.set_index("customer_id").loc[pd.Index(out["customer_id"])]
    truth = truth.reset_index()
    check_outcomes(out, truth, config)
    return config, campaign, out, truth


def check_outcomes(out: pd.DataFrame, truth: pd.DataFrame, config) -> None:
    """The measured outcomes equal the potential outcome of each customer's own arm."""
    arm = out["arm"].astype(str).to_numpy()
    own_orders = np.zeros(len(out), dtype=np.int64)
    own_revenue = np.zeros(len(out))
    for name in config.arm_names:
        rows = arm == name
        own_orders[rows] = truth[f"orders_if_{name}"].to_numpy(np.int64)[rows]
        own_revenue[rows] = truth[f"revenue_if_{name}"].to_numpy(float)[rows]
    bad_orders = int((out["orders"].to_numpy() != own_orders).sum())
    bad_revenue = int((~np.isclose(out["revenue"].to_numpy(), own_revenue, atol=0.005,
                                   rtol=0)).sum())
    if bad_orders or bad_revenue:
        raise AssertionError(
            f"outcomes disagree with the truth of the customer's own arm: {bad_orders} "
            f"customers' orders, {bad_revenue} customers' revenue")


def potential(truth: pd.DataFrame, outcome: str, name: str) -> np.ndarray:
    if outcome == "revenue":
        return truth[f"revenue_if_{name}"].to_numpy(float)
    return truth[f"orders_if_{name}"].to_numpy(np.int64) > 0  # converted


# --------------------------------------------------------------------------- (a) measurement


def measurement(out: pd.DataFrame, truth: pd.DataFrame, config) -> list[dict]:
    """One row per (arm, outcome, method): estimate, interval, true effects, coverage."""
    arm = out["arm"].astype(str).to_numpy()
    rows = []
    for outcome in OUTCOMES:
        y0 = potential(truth, outcome, CONTROL_ARM).astype(float)
        estimates = {
            "welch": measure.arm_effects(out, outcome).set_index("arm"),
            "lin": measure.arm_effects(out, outcome, covariates=COVARIATES).set_index("arm"),
        }
        for name in config.arm_names:
            if name == CONTROL_ARM:
                continue
            effect_i = potential(truth, outcome, name).astype(float) - y0
            sate = float(effect_i.mean())
            comparison = float(effect_i[(arm == name) | (arm == CONTROL_ARM)].mean())
            for method, table in estimates.items():
                e = table.loc[name]
                low, high = float(e["ci_low"]), float(e["ci_high"])
                rows.append({
                    "arm": name, "outcome": outcome, "method": method,
                    "effect": float(e["effect"]), "ci_low": low, "ci_high": high,
                    "width": high - low, "true_sate": sate, "true_comparison": comparison,
                    "covers_sate": bool(low <= sate <= high),
                    "covers_comparison": bool(low <= comparison <= high),
                })
    return rows


def summarise_measurement(rows: list[dict], n_seeds: int) -> list[dict]:
    frame = pd.DataFrame(rows)
    cells = []
    for (arm, outcome), cell in frame.groupby(["arm", "outcome"], sort=True):
        welch = cell[cell["method"] == "welch"].sort_values("seed")
        lin = cell[cell["method"] == "lin"].sort_values("seed")
        ratio = lin["width"].to_numpy() / welch["width"].to_numpy()
        entry = {"arm": arm, "outcome": outcome, "campaigns": n_seeds,
                 "true_sate_mean": float(welch["true_sate"].mean()),
                 "true_sate_sd": float(welch["true_sate"].std(ddof=1)) if n_seeds > 1 else None}
        for method, part in (("welch", welch), ("lin", lin)):
            errors = part["effect"] - part["true_sate"]
            entry[method] = {
                "coverage_sate": float(part["covers_sate"].mean()),
                "covered_sate": int(part["covers_sate"].sum()),
                "coverage_comparison": float(part["covers_comparison"].mean()),
                "mean_effect": float(part["effect"].mean()),
                "bias_vs_sate": float(errors.mean()),
                "rmse_vs_sate": float(np.sqrt((errors ** 2).mean())),
                "mean_width": float(part["width"].mean()),
            }
        entry["width_ratio_lin_over_welch"] = {
            "mean": float(ratio.mean()), "min": float(ratio.min()), "max": float(ratio.max())}
        entry["width_reduction_mean"] = float(1 - ratio.mean())
        entry["targets_met"] = {
            "coverage_welch": entry["welch"]["coverage_sate"] >= TARGETS["coverage"],
            "coverage_lin": entry["lin"]["coverage_sate"] >= TARGETS["coverage"],
            "width_reduction_20pct": ratio.mean() <= TARGETS["width_ratio"],
        }
        cells.append(entry)
    return cells


# --------------------------------------------------------------------------- (b) allocation


def _design(frame: pd.DataFrame, features: list[str], categories: dict) -> pd.DataFrame:
    out = {}
    for c in features:
        if c in categories:
            labels = frame[c].astype(object).astype(str).where(frame[c].notna())
            out[c] = pd.Categorical(labels, categories=categories[c])
        else:
            out[c] = pd.to_numeric(frame[c]).astype(float).to_numpy()
    return pd.DataFrame(out, index=frame.index)


def redemption_model(fit: pd.DataFrame, evaluate: pd.DataFrame, features: list[str],
                     arms: list[str]) -> np.ndarray:
    """(n_eval, arms) predicted probability of converting (redeeming) under each arm: a
    LightGBM classifier of ``converted`` per arm on the fit half's customers of that arm."""
    from lightgbm import LGBMClassifier

    categories = {c: sorted(fit[c].dropna().astype(str).unique().tolist())
                  for c in features if c in uplift.CATEGORICAL_FEATURES}
    x_eval = _design(evaluate, features, categories)
    out = np.zeros((len(evaluate), len(arms)))
    for j, name in enumerate(arms):
        rows = fit[fit["arm"].astype(str) == name]
        clf = LGBMClassifier(n_estimators=150, learning_rate=0.05, num_leaves=7,
                             min_child_samples=100, random_state=0, n_jobs=1, verbose=-1)
        clf.fit(_design(rows, features, categories), rows["converted"].astype(int))
        out[:, j] = clf.predict_proba(x_eval)[:, 1]
    return out


def allocation(out: pd.DataFrame, truth: pd.DataFrame, config, seed: int,
               expected: dict | None) -> dict:
    """Fit on one half of campaign ``seed``, allocate on the other, score against the truth.
    ``expected``: {"effect", "redeemed"} (n, arms) leave-one-out means over the other
    campaigns (rows of ``out``, arms sorted by name), or None."""
    frame = uplift.with_derived_features(out)  # the assignments carry PREDICTION_COLUMNS
    frame = frame.join(truth[["persona"] + [c for c in truth.columns if c.startswith(
        ("orders_if_", "revenue_if_"))]])
    in_fit = stable_unit_hash(frame["customer_id"], salt=SPLIT_SALT) < 0.5
    fit, ev = frame[in_fit].reset_index(drop=True), frame[~in_fit].reset_index(drop=True)

    features = uplift.uplift_features(frame)
    shares = {a.name: a.share for a in config.arms}
    t0 = time.perf_counter()
    model = uplift.UpliftModel(random_state=0, features=features)  # the library's defaults
    # the learners fit orders when the model values them (value_column), else revenue; the
    # cross-fitted Qini that picks the learner scores revenue, the allocation's currency
    target = "revenue" if model.value_column is None else "orders"
    model.fit(fit, fit["arm"].astype(str), fit[target].astype(float), arm_shares=shares,
              revenue=fit["revenue"])
    fit_seconds = time.perf_counter() - t0
    arms = list(model.arms_)
    predicted = model.predict(ev)[arms].to_numpy()
    redemption = redemption_model(fit, ev, features, arms)

    multiplier = {a.name: a.bonus_multiplier for a in config.arms}
    bonus = np.column_stack([multiplier[a] * ev["policy_bonus"].to_numpy(float) for a in arms])
    y0 = ev[f"revenue_if_{CONTROL_ARM}"].to_numpy(float)
    true_effect = np.column_stack([ev[f"revenue_if_{a}"].to_numpy(float) - y0 for a in arms])
    redeemed = np.column_stack([ev[f"orders_if_{a}"].to_numpy(np.int64) > 0 for a in arms])
    true_cost = bonus * redeemed
    full = int(np.argmax([multiplier[a] for a in arms]))  # the full policy bonus option
    ids = ev["customer_id"].to_numpy(dtype=object)
    var = ev["value_at_risk"].to_numpy(float)
    policy_bonus = ev["policy_bonus"].to_numpy(float)
    total_bonus = float(policy_bonus.sum())

    # every rule's budget caps the bonuses' FACE value (what `scoring run --uplift-model`
    # does, registry.allocate_with_uplift), except uplift_expected_budget (charged the
    # expected cost, the allocate_by_uplift default: it can hand out more face value)
    rules = {
        "uplift": lambda b: allocate.allocate_by_uplift(
            ids, predicted, bonus, b, redemption=redemption, budget_basis="face"),
        "uplift_expected_budget": lambda b: allocate.allocate_by_uplift(
            ids, predicted, bonus, b, redemption=redemption, budget_basis="expected"),
        "uplift_face_value": lambda b: allocate.allocate_by_uplift(ids, predicted, bonus, b,
                                                                   budget_basis="face"),
        "value_at_risk": lambda b: allocate.allocate_by_value_at_risk(ids, var, policy_bonus, b,
                                                                      option=full),
        # realised-effect oracle: knows every customer's individual effect and redemption in
        # this campaign (its cost = face x redeemed), budget at face value
        "oracle": lambda b: allocate.allocate_by_uplift(
            ids, true_effect, bonus, b, redemption=redeemed.astype(float), budget_basis="face"),
    }
    if expected is not None:
        in_ev = ~in_fit
        exp_effect, exp_red = expected["effect"][in_ev], expected["redeemed"][in_ev]
        rules["oracle_expected"] = lambda b: allocate.allocate_by_uplift(
            ids, exp_effect, bonus, b, redemption=exp_red, budget_basis="face")
    budgets = [share * total_bonus for share in BUDGET_SHARES]
    curve = allocate.budget_curve(budgets, rules, true_effect, true_cost)
    curve["budget_share"] = np.tile(BUDGET_SHARES, len(rules))
    # value at risk on a fine budget grid: its profit at the uplift rule's true spend
    fine = allocate.budget_curve(np.linspace(0.0, 1.0, 201) * total_bonus,
                                 {"value_at_risk": rules["value_at_risk"]}, true_effect,
                                 true_cost)
    per_budget = []
    for share in BUDGET_SHARES:
        at = curve[curve["budget_share"] == share].set_index("rule")
        profit = at["true_incremental_profit"]
        entry = {"budget_share": share, "budget": float(share * total_bonus)}
        for rule in rules:
            entry[rule] = {"true_incremental_profit": float(profit[rule]),
                           "spent": float(at.loc[rule, "spent"]),
                           "customers_with_bonus": int(at.loc[rule, "customers_with_bonus"])}
        entry["ratios"] = {f"{a}/{b}": ratio(profit[a], profit[b])
                           for a, b in RATIOS if a in rules and b in rules}
        spent = at.loc["uplift", "spent"]
        var_same_spend = float(np.interp(spent, fine["spent"], fine["true_incremental_profit"]))
        entry["value_at_risk_profit_at_uplift_spend"] = var_same_spend
        entry["ratios"]["uplift/value_at_risk_at_equal_spend"] = ratio(profit["uplift"],
                                                                      var_same_spend)
        per_budget.append(entry)

    # who each rule funds at the headline budget, and what they bring
    headline = HEADLINE_SHARE * total_bonus
    persona = ev["persona"].astype(str).to_numpy()
    funded = {}
    for rule, fn in rules.items():
        option = fn(headline)["option"].to_numpy()
        has = option >= 0
        rows = np.flatnonzero(has)
        gain = true_effect[rows, option[has]] - true_cost[rows, option[has]]
        by = pd.DataFrame({"persona": persona[has], "profit": gain,
                           "full": option[has] == full})
        funded[rule] = {
            p: {"customers": int(len(g)), "true_incremental_profit": float(g["profit"].sum()),
                "full_bonus_share": float(g["full"].mean())}
            for p, g in by.groupby("persona", sort=True)
        }

    # Qini on the evaluation half (revenue, each arm vs control)
    qini_out = {}
    arm_eval = ev["arm"].astype(str).to_numpy()
    for j, name in enumerate(arms):
        rows = (arm_eval == name) | (arm_eval == CONTROL_ARM)
        y = ev["revenue"].to_numpy(float)[rows]
        treated = arm_eval[rows] == name
        scores_by = {
            "uplift_model": predicted[rows, j],
            "churn_probability": ev["churn_probability"].to_numpy(float)[rows],
            "value_at_risk": var[rows],
            "true_effect": true_effect[rows, j],
        }
        if expected is not None:
            scores_by["expected_effect"] = exp_effect[rows, j]
        qini_out[name] = {
            s: {"normalized": float(qini.qini_coefficient(y, treated, v)),
                "currency": float(qini.qini_coefficient(y, treated, v, normalize=False))}
            for s, v in scores_by.items()
        }

    # how well the model ranks: rank correlation with the true and the expected effects
    def spearman(a, b):
        return float(pd.Series(a).corr(pd.Series(b), method="spearman"))

    rank_corr = {name: {"true_effect": spearman(predicted[:, j], true_effect[:, j])}
                 for j, name in enumerate(arms)}
    if expected is not None:
        for j, name in enumerate(arms):
            rank_corr[name]["expected_effect"] = spearman(predicted[:, j], exp_effect[:, j])
            rank_corr[name]["expected_vs_true"] = spearman(exp_effect[:, j], true_effect[:, j])
    return {
        "seed": seed,
        "fit_customers": int(len(fit)),
        "evaluation_customers": int(len(ev)),
        "features": features,
        "learner": model.learner_,
        "model_params": {k: v for k, v in model.get_params().items() if k != "features"},
        "cv_qini": model.cv_qini_,
        "fit_seconds": round(fit_seconds, 1),
        "arms": arms,
        "full_bonus_option": arms[full],
        "total_policy_bonus": total_bonus,
        "mean_predicted_effect": {a: float(predicted[:, j].mean()) for j, a in enumerate(arms)},
        "mean_true_effect": {a: float(true_effect[:, j].mean()) for j, a in enumerate(arms)},
        "mean_predicted_redemption": {a: float(redemption[:, j].mean())
                                      for j, a in enumerate(arms)},
        "true_redemption_rate": {a: float(redeemed[:, j].mean()) for j, a in enumerate(arms)},
        "spearman_predicted_effect": rank_corr,
        "budgets": per_budget,
        "funded_by_persona_at_headline": funded,
        "qini_evaluation_half": qini_out,
    }


def f3(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def ratio(a: float, b: float) -> float | None:
    """a / b when b > 0 (a ratio to a loss or to nothing is not meaningful), else None."""
    return float(a / b) if b > 0 else None


def summarise_allocation(runs: list[dict]) -> dict:
    rules = [r for r in RULES if r in runs[0]["budgets"][0]]
    per_budget = []
    for i, share in enumerate(BUDGET_SHARES):
        entry = {"budget_share": share}
        for rule in rules:
            entry[f"{rule}_profit_mean"] = float(np.mean(
                [r["budgets"][i][rule]["true_incremental_profit"] for r in runs]))
            entry[f"{rule}_spent_mean"] = float(np.mean(
                [r["budgets"][i][rule]["spent"] for r in runs]))
        entry["value_at_risk_profit_at_uplift_spend_mean"] = float(np.mean(
            [r["budgets"][i]["value_at_risk_profit_at_uplift_spend"] for r in runs]))
        entry["ratio_of_means"] = {
            f"{a}/{b}": ratio(entry[f"{a}_profit_mean"], entry[f"{b}_profit_mean"])
            for a, b in RATIOS if a in rules and b in rules}
        entry["ratio_of_means"]["uplift/value_at_risk_at_equal_spend"] = ratio(
            entry["uplift_profit_mean"], entry["value_at_risk_profit_at_uplift_spend_mean"])
        entry["ratios_per_campaign"] = {
            key: [r["budgets"][i]["ratios"][key] for r in runs]
            for key in runs[0]["budgets"][i]["ratios"]}
        per_budget.append(entry)
    head = next(e for e in per_budget if e["budget_share"] == HEADLINE_SHARE)
    over_var = head["ratio_of_means"]["uplift/value_at_risk"]
    over_oracle = head["ratio_of_means"]["uplift/oracle"]
    qini_mean = {}
    for name in runs[0]["qini_evaluation_half"]:
        qini_mean[name] = {
            s: float(np.mean([r["qini_evaluation_half"][name][s]["normalized"] for r in runs]))
            for s in runs[0]["qini_evaluation_half"][name]
        }
    return {
        "campaigns": len(runs),
        "headline_budget_share": HEADLINE_SHARE,
        "headline": {
            "uplift_over_value_at_risk": over_var,
            "uplift_over_oracle": over_oracle,
            "uplift_over_oracle_expected": head["ratio_of_means"].get("uplift/oracle_expected"),
            "uplift_over_value_at_risk_at_equal_spend":
                head["ratio_of_means"]["uplift/value_at_risk_at_equal_spend"],
            "per_campaign": head["ratios_per_campaign"],
            "target_uplift_over_value_at_risk_met": (over_var is not None
                                                     and over_var >= TARGETS["uplift_over_var"]),
            "target_uplift_over_oracle_met": (over_oracle is not None
                                              and over_oracle >= TARGETS["uplift_over_oracle"]),
        },
        "per_budget": per_budget,
        "qini_normalized_mean": qini_mean,
        "learners": [r["learner"] for r in runs],
    }


# --------------------------------------------------------------------------- main


def print_tables(result: dict) -> None:
    print("\n(a) 95% interval coverage of the true SATE, and interval width")
    print(f"{'arm':<10} {'outcome':<10} {'cov welch':>9} {'cov lin':>8} {'width welch':>12} "
          f"{'width lin':>10} {'ratio':>6}")
    for c in result["measurement"]["cells"]:
        print(f"{c['arm']:<10} {c['outcome']:<10} {c['welch']['coverage_sate']:>9.2f} "
              f"{c['lin']['coverage_sate']:>8.2f} {c['welch']['mean_width']:>12.4f} "
              f"{c['lin']['mean_width']:>10.4f} {c['width_ratio_lin_over_welch']['mean']:>6.3f}")
    alloc = result.get("allocation")
    if not alloc:
        return

    def f(v, width=8):
        return f"{v:>{width}.2f}" if v is not None else f"{'n/a':>{width}}"

    rules = [r for r in RULES if f"{r}_profit_mean" in alloc["per_budget"][0]]
    short = {"uplift": "uplift", "uplift_expected_budget": "upl_eb", "uplift_face_value": "upl_fv",
             "value_at_risk": "VaR", "oracle": "oracle", "oracle_expected": "orc_exp"}
    print(f"\n(b) true incremental profit (mean over {alloc['campaigns']} campaigns, evaluation "
          "half, currency; spent = true bonus paid)")
    print(f"{'budget':>6} " + " ".join(f"{short[r]:>8}" for r in rules)
          + f" {'upl/VaR':>8} {'=spend':>7} {'upl/orc':>8} {'upl/oexp':>8}")
    for e in alloc["per_budget"]:
        q = e["ratio_of_means"]
        print(f"{e['budget_share']:>6.0%} "
              + " ".join(f"{e[f'{r}_profit_mean']:>8.0f}" for r in rules)
              + f" {f(q['uplift/value_at_risk'])} {f(q['uplift/value_at_risk_at_equal_spend'], 7)}"
              f" {f(q['uplift/oracle'])} {f(q.get('uplift/oracle_expected'))}")
        print(f"{'spent':>6} " + " ".join(f"{e[f'{r}_spent_mean']:>8.0f}" for r in rules))
    print("\nQini (normalised, revenue, evaluation half, mean over campaigns)")
    for name, q in alloc["qini_normalized_mean"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in q.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--allocation-seeds", type=int, default=5)
    parser.add_argument("--shop-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "campaign.json")
    args = parser.parse_args()
    started = time.perf_counter()

    t0 = time.perf_counter()
    shop = generate_shop(n_customers=args.customers, seed=args.shop_seed)
    scores = simulate.score_for_campaign(shop)
    score_seconds = time.perf_counter() - t0
    print(f"shop of {args.customers:,} customers generated and scored in {score_seconds:.0f} s",
          flush=True)

    # every campaign: measurement; the individual effects and redemptions are summed over
    # campaigns for the ex-ante ("expected") oracle of the allocation
    rows, kept, personas, ids = [], {}, None, None
    effect_sum = redeemed_sum = None
    n_campaigns = max(args.seeds, args.allocation_seeds)
    for seed in range(n_campaigns):
        t0 = time.perf_counter()
        config, campaign, out, truth = run_campaign(shop, scores, seed)
        treatment = sorted(a for a in config.arm_names if a != CONTROL_ARM)
        if ids is None:
            ids = out["customer_id"].to_numpy()
            personas = truth["persona"].astype(str).value_counts().sort_index().to_dict()
        elif not np.array_equal(ids, out["customer_id"].to_numpy()):
            raise AssertionError("the campaigns do not hold the same customers in the same order")
        y0 = truth[f"revenue_if_{CONTROL_ARM}"].to_numpy(float)
        effect = np.column_stack([truth[f"revenue_if_{a}"].to_numpy(float) - y0
                                  for a in treatment])
        redeemed = np.column_stack([truth[f"orders_if_{a}"].to_numpy(np.int64) > 0
                                    for a in treatment]).astype(float)
        effect_sum = effect if effect_sum is None else effect_sum + effect
        redeemed_sum = redeemed if redeemed_sum is None else redeemed_sum + redeemed
        if seed < args.seeds:
            for row in measurement(out, truth, config):
                rows.append({"seed": seed, **row})
        if seed < args.allocation_seeds:
            kept[seed] = (config, out, truth, effect, redeemed)
        print(f"campaign {seed}: {len(out):,} customers, outcomes checked, measured "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)

    alloc_runs = []
    for seed, (config, out, truth, effect, redeemed) in kept.items():
        t0 = time.perf_counter()
        expected = None
        if n_campaigns >= 3:  # leave this campaign out: the dice of the evaluated campaign
            expected = {"effect": (effect_sum - effect) / (n_campaigns - 1),
                        "redeemed": (redeemed_sum - redeemed) / (n_campaigns - 1)}
        run = allocation(out, truth, config, seed, expected)
        alloc_runs.append(run)
        ratios = next(b for b in run["budgets"] if b["budget_share"] == HEADLINE_SHARE)["ratios"]
        print(f"allocation {seed} ({run['learner']}-learner, fit {run['fit_seconds']:.0f} s): at "
              f"{HEADLINE_SHARE:.0%} uplift/VaR {f3(ratios['uplift/value_at_risk'])}, "
              f"uplift/oracle {f3(ratios['uplift/oracle'])}, uplift/expected oracle "
              f"{f3(ratios.get('uplift/oracle_expected'))} ({time.perf_counter() - t0:.1f} s)",
              flush=True)

    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "customers": args.customers,
        "shop_seed": args.shop_seed,
        "campaign_customers": int(len(out)),
        "personas_campaign_0": personas,
        "config": simulate.CampaignConfig(salt="campaign-<seed>").to_dict(),
        "estimand": "sample average treatment effect over all campaign customers, "
                    "mean(Y_i(arm) - Y_i(control)) from the truth; revenue in currency per "
                    "customer (gross, window), converted as a rate; 'comparison' = the same "
                    "average over the control + arm customers of the campaign",
        "targets": TARGETS,
        "measurement": {
            "campaigns": args.seeds,
            "covariates": list(COVARIATES),
            "cells": summarise_measurement(rows, args.seeds) if rows else [],
            "per_campaign": rows,
        },
        "allocation": summarise_allocation(alloc_runs) if alloc_runs else None,
        "allocation_runs": alloc_runs,
        "notes": [
            "uplift model: UpliftModel() with the library defaults (see allocation_runs[*]."
            "model_params); features: uplift.uplift_features of the outcomes frame after "
            "uplift.with_derived_features (the assignments carry the scorer's "
            "PREDICTION_COLUMNS); adjustment covariates of (a): measure.ADJUSTMENT_COVARIATES.",
            "every rule's budget caps the FACE value of the bonuses (as `scoring run "
            "--uplift-model` does); uplift: expected cost = face x predicted redemption "
            "(LightGBM classifier of converted per arm on the fit half) ranks the options; "
            "uplift_expected_budget: the same, budget charged the expected cost (the "
            "allocate_by_uplift default, hands out more face value than the budget); "
            "uplift_face_value: redemption 1.",
            "oracle = REALISED-effect oracle (what the issue asks): the campaign's realised "
            "individual effects and redemptions (knows which customers' dice came up), an "
            "ex-post bound. oracle_expected = EXPECTED-effect oracle: each customer's expected "
            "effect and redemption probability, the mean over the OTHER simulated campaigns "
            "(same shop and bonuses, other seeds): knows the simulation's effect model but not "
            "the dice of the evaluated campaign (sleeping-dog status is drawn per seed, so it "
            "is averaged too): the best any model of the features could do.",
            "uplift/value_at_risk_at_equal_spend: the uplift rule's profit over the "
            "value-at-risk rule's profit at the same true spend (value-at-risk curve on a grid "
            "of 201 budgets, interpolated).",
            "ratios are None where the denominator profit is <= 0.",
        ],
        "score_seconds": round(score_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "lightgbm": version("lightgbm"),
            "causalml": version("causalml"),
            "statsmodels": version("statsmodels"),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(result, args.out)
    print_tables(result)
    print(f"\nwrote {args.out} in {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
