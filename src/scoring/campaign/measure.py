"""Per-arm campaign effects with confidence intervals, plain and variance-reduced, by segment.

Design: a randomised A/B/n test with one control arm, analysed by intention to treat (every
customer counts in the arm the stable hash assigned). Each treatment arm is compared with
control on the control + that-arm subset only (the other arms play no part).

Estimators
----------
- **Plain** (``method="welch"``): difference of arm means, treated - control, with the Welch
  (unequal-variance) standard error ``sqrt(s_t^2/n_t + s_c^2/n_c)``, Welch-Satterthwaite
  degrees of freedom, t-based interval and two-sided p-value (computed with
  :class:`statsmodels.stats.weightstats.CompareMeans`, ``usevar="unequal"``; identical to
  ``scipy.stats.ttest_ind(equal_var=False)``). This equals OLS of the outcome on a treatment
  dummy with HC2 standard errors, up to the degrees of freedom.
- **Adjusted** (``method="lin"``, the one reported as ``adjusted``): regression adjustment of
  Lin (2013): OLS of the outcome on ``[1, d, Xc, d * Xc]`` where ``d`` is the treatment dummy
  and ``Xc`` the pre-period covariates centred on the control + arm subset; the coefficient
  of ``d`` is the effect, with HC2 robust standard errors (statsmodels) and a t interval on
  the residual degrees of freedom. Consistent under randomisation whatever the outcome
  model, never less precise asymptotically than the plain difference.
- **CUPED** (``method="cuped"``, offered, not the default): ``Y - Xc @ theta`` with ``theta``
  the pooled least-squares slope ``cov(Y, X) / var(X)`` (multivariate for several
  covariates) on the control + arm subset, then Welch as above.

Multiple comparisons (arms x outcomes x segments) are not corrected: read the p-values and
intervals of many cells as exploratory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from scoring.data.errors import DataError, examples, require_columns

from . import CONTROL_ARM

__all__ = ["arm_effects", "campaign_report", "churn_decile", "REPORT_OUTCOMES"]

REPORT_OUTCOMES: tuple[str, ...] = ("converted", "orders", "revenue", "net_revenue")
_METHODS = ("lin", "cuped")
_NAN_RESULT = {"effect": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan,
               "p_value": math.nan, "df": math.nan}


# ---------------------------------------------------------------------------------------
# Two-group estimators on arrays (control + one arm)
# ---------------------------------------------------------------------------------------

ADJUSTMENT_COVARIATES: tuple[str, ...] = (
    "pre_revenue", "pre_orders", "predicted_revenue_90d", "expected_orders_90d", "p_alive",
    "churn_probability",
)
"""Pre-campaign covariates of the adjusted estimate (those present are used): behaviour in the
pre-period and the scorer's predictions made before the assignment (regression adjustment
on predictions, "CUPAC"); being fixed before randomisation, they cannot absorb the effect."""


def _welch(y_t: np.ndarray, y_c: np.ndarray, alpha: float) -> dict:
    """Difference of means ``mean(y_t) - mean(y_c)`` with the Welch standard error, t interval
    (Welch-Satterthwaite df) and two-sided p-value. NaN where not estimable (an arm with
    fewer than 2 customers, or zero variance in both arms)."""
    out = dict(_NAN_RESULT)
    if len(y_t) and len(y_c):
        out["effect"] = float(np.mean(y_t) - np.mean(y_c))
    if len(y_t) < 2 or len(y_c) < 2:
        return out
    cm = CompareMeans(DescrStatsW(y_t), DescrStatsW(y_c))
    se = float(cm.std_meandiff_separatevar)
    if not np.isfinite(se) or se <= 0:
        return out
    _, p_value, df = cm.ttest_ind(alternative="two-sided", usevar="unequal")
    low, high = cm.tconfint_diff(alpha=alpha, alternative="two-sided", usevar="unequal")
    out.update(se=se, ci_low=float(low), ci_high=float(high), p_value=float(p_value),
               df=float(df))
    return out


def _usable_covariates(X: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Column mask of covariates that vary within both groups and are not a linear
    combination of the covariates before them within either group (a covariate constant
    within an arm is collinear with that arm's intercept in the interacted model; e.g.
    ``predicted_revenue_90d`` equal to a multiple of ``expected_orders_90d``). Kept in the
    given order."""
    keep = np.zeros(X.shape[1], dtype=bool)
    groups = [X[d], X[~d]]
    if X.shape[1] == 0 or min(len(g) for g in groups) < 2:
        return keep
    for j in range(X.shape[1]):
        trial = keep.copy()
        trial[j] = True
        keep[j] = all(_full_rank(g[:, trial]) for g in groups)
    return keep


def _full_rank(X: np.ndarray) -> bool:
    """``[1, X]`` (n, k+1) has rank k+1 (columns standardised first; tolerance 1e-8)."""
    sd = X.std(axis=0)
    if np.any(sd <= 0):
        return False
    Z = np.column_stack([np.ones(len(X)), (X - X.mean(axis=0)) / sd])
    s = np.linalg.svd(Z, compute_uv=False)
    return bool(s[-1] > 1e-8 * s[0])


def _lin(y: np.ndarray, d: np.ndarray, X: np.ndarray, alpha: float) -> dict:
    """Lin (2013) regression adjustment: OLS of ``y`` (n,) on ``[1, d, Xc, d*Xc]`` with ``Xc``
    the centred covariates (n, k), HC2 standard errors, t interval on the residual df.
    Without usable covariates this is the treatment-dummy regression (HC2 = Welch SE)."""
    out = dict(_NAN_RESULT)
    n_t, n_c = int(d.sum()), int((~d).sum())
    if n_t and n_c:
        out["effect"] = float(y[d].mean() - y[~d].mean())
    X = X[:, _usable_covariates(X, d)]
    k = X.shape[1]
    if n_t < k + 2 or n_c < k + 2:
        return out
    Xc = X - X.mean(axis=0)
    dd = d.astype(float)[:, None]
    design = np.column_stack([np.ones(len(y)), dd, Xc, dd * Xc])
    with np.errstate(divide="ignore", invalid="ignore"):
        res = sm.OLS(y, design).fit(cov_type="HC2", use_t=True)
        se = float(res.bse[1])
    out["effect"] = float(res.params[1])
    if not np.isfinite(se) or se <= 0:
        return out
    low, high = res.conf_int(alpha=alpha)[1]
    out.update(se=se, ci_low=float(low), ci_high=float(high), p_value=float(res.pvalues[1]),
               df=float(res.df_resid))
    return out


def _cuped(y: np.ndarray, d: np.ndarray, X: np.ndarray, alpha: float) -> dict:
    """CUPED: ``y - Xc @ theta`` with the pooled least-squares ``theta`` (k,) of the centred
    outcome on the centred covariates (``cov(Y, X) / var(X)`` for one covariate), then
    Welch on the adjusted outcome."""
    X = X[:, X.std(axis=0) > 0] if X.shape[1] else X
    if X.shape[1]:
        Xc = X - X.mean(axis=0)
        theta, *_ = np.linalg.lstsq(Xc, y - y.mean(), rcond=None)
        y = y - Xc @ theta
    return _welch(y[d], y[~d], alpha)


# ---------------------------------------------------------------------------------------
# Arm effects
# ---------------------------------------------------------------------------------------

def _check_frame(outcomes: pd.DataFrame, columns: Sequence[str], control_arm: str,
                 alpha: float) -> None:
    require_columns(outcomes, ("arm", *columns), "outcomes",
                    "build them with scoring.campaign.outcomes.campaign_outcomes.")
    if not 0 < alpha < 1:
        raise DataError(f"alpha must be in (0, 1) (got {alpha!r}).")
    for col in columns:
        values = outcomes[col]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise DataError(f"outcomes, column {col!r}: must be numeric or bool (dtype "
                            f"{values.dtype}), e.g. {examples(values.head())}.")
        bad = values.isna()
        if bad.any():
            raise DataError(
                f"outcomes, column {col!r}: {int(bad.sum())} missing value(s) (rows "
                f"{examples(outcomes.index[bad])}); outcomes and covariates must be complete "
                "(campaign_outcomes fills 0 for customers without purchases).")
    if outcomes["arm"].isna().any():
        raise DataError(f"outcomes, column 'arm': {int(outcomes['arm'].isna().sum())} "
                        "customer(s) without an arm; every customer needs the assigned arm.")
    arms = set(outcomes["arm"].astype(str))
    if control_arm not in arms:
        raise DataError(f"outcomes, column 'arm': control arm {control_arm!r} not found among "
                        f"{examples(sorted(arms), 10)}; pass control_arm= with its name.")


def _arm_rows(frame: pd.DataFrame, outcome: str, control_arm: str, arms: Sequence[str],
              covariates: Sequence[str], alpha: float, method: str) -> list[dict]:
    """One dict per arm (control first): n, mean and, for treatment arms, the plain (no
    covariates) or adjusted (``method``) effect vs control."""
    arm = frame["arm"].astype(str).to_numpy()
    y_all = frame[outcome].to_numpy(dtype=float)
    X_all = frame[list(covariates)].to_numpy(dtype=float) if covariates else None
    is_c = arm == control_arm
    y_c = y_all[is_c]
    control_mean = float(y_c.mean()) if len(y_c) else math.nan
    rows = [{"arm": control_arm, "n": int(is_c.sum()), "mean": control_mean, **_NAN_RESULT,
             "relative_lift": math.nan, "method": "reference"}]
    for name in arms:
        if name == control_arm:
            continue
        is_t = arm == name
        n_t = int(is_t.sum())
        sub = is_t | is_c
        if not covariates:
            res, label = _welch(y_all[is_t], y_c, alpha), "welch"
        else:
            y, d, X = y_all[sub], is_t[sub], X_all[sub]
            if method == "lin":
                res, label = _lin(y, d, X, alpha), "lin_hc2"
            else:
                res, label = _cuped(y, d, X, alpha), "cuped_welch"
        lift = (res["effect"] / control_mean
                if np.isfinite(control_mean) and control_mean != 0 else math.nan)
        rows.append({"arm": name, "n": n_t,
                     "mean": float(y_all[is_t].mean()) if n_t else math.nan,
                     **res, "relative_lift": lift, "method": label})
    return rows


def arm_effects(
    outcomes: pd.DataFrame,
    outcome: str,
    control_arm: str = CONTROL_ARM,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    method: str = "lin",
) -> pd.DataFrame:
    """Effect of every treatment arm on ``outcome`` versus control, intention to treat.

    Without ``covariates`` the estimate is the plain difference of means (treated - control)
    with Welch (unequal-variance) standard errors, Welch-Satterthwaite df and a t interval
    (statsmodels ``CompareMeans.ttest_ind(usevar="unequal")``; same numbers as
    ``scipy.stats.ttest_ind(equal_var=False)``). With ``covariates`` (pre-period, e.g.
    ``pre_revenue``) the estimate is variance-reduced: ``method="lin"`` (default) is Lin's
    (2013) interacted regression adjustment with HC2 robust standard errors;
    ``method="cuped"`` is CUPED with a pooled theta followed by Welch. Each arm is compared
    with control on the control + that-arm subset.

    Parameters
    ----------
    outcomes:
        Per-customer table, shape ``(n_customers, ...)``, with ``arm``, ``outcome`` and the
        covariates (as built by :func:`scoring.campaign.outcomes.campaign_outcomes`).
    outcome:
        Column to compare: bool (rate) or numeric (e.g. orders, revenue in currency).
    control_arm, covariates, alpha:
        Control arm name; covariate columns; the interval is ``1 - alpha``.
    method:
        ``"lin"`` or ``"cuped"`` (only used with covariates).

    Returns
    -------
    pandas.DataFrame
        One row per arm, control first (reference row: effect columns NaN), then the other
        arms sorted by name. Columns: ``arm``, ``n`` (customers), ``mean`` (outcome units per
        customer), ``effect`` (difference of means vs control, outcome units), ``se``,
        ``ci_low``, ``ci_high``, ``p_value`` (two-sided), ``relative_lift`` (effect / control
        mean), ``method`` (``reference``, ``welch``, ``lin_hc2`` or ``cuped_welch``), ``df``.
        NaN where not estimable (fewer than 2 customers in an arm, zero variance).
    """
    if method not in _METHODS:
        raise DataError(f"method must be one of {_METHODS} (got {method!r}).")
    covariates = tuple(covariates)
    _check_frame(outcomes, (outcome, *covariates), control_arm, alpha)
    arms = sorted(set(outcomes["arm"].astype(str)))
    rows = _arm_rows(outcomes, outcome, control_arm, arms, covariates, alpha, method)
    columns = ["arm", "n", "mean", "effect", "se", "ci_low", "ci_high", "p_value",
               "relative_lift", "method", "df"]
    return pd.DataFrame(rows)[columns]


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def churn_decile(churn_probability: pd.Series) -> pd.Series:
    """Decile 1..10 (10 = highest churn probability) of ``churn_probability`` over the given
    population: ``ceil(10 * average rank / n)``, so tied customers share a decile. NaN stays
    missing (``Int64`` dtype)."""
    pct = pd.to_numeric(churn_probability, errors="coerce").rank(method="average", pct=True)
    return np.ceil(pct * 10).clip(1, 10).astype("Int64")


def _num(value):
    """Plain JSON number: ``None`` for NaN / inf / missing, int for integers."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def _estimate(row: dict) -> dict:
    return {key: _num(row[key]) for key in
            ("effect", "se", "ci_low", "ci_high", "p_value", "relative_lift")} | {
        "method": row["method"]}


def _width(row: dict) -> float:
    return row["ci_high"] - row["ci_low"]


def _arm_block(frame: pd.DataFrame, arms: Sequence[str], control_arm: str,
               covariates: Sequence[str], alpha: float, min_cell: int) -> list[dict]:
    """Report entries of every arm (control first) on ``frame`` (the population or a cell)."""
    per_outcome = {}
    for outcome in REPORT_OUTCOMES:
        plain = _arm_rows(frame, outcome, control_arm, arms, (), alpha, "lin")
        adjusted = (_arm_rows(frame, outcome, control_arm, arms, covariates, alpha, "lin")
                    if covariates else None)
        per_outcome[outcome] = (plain, adjusted)

    arm = frame["arm"].astype(str).to_numpy()
    bonus = frame["bonus_cost"].to_numpy(dtype=float)
    converted = frame["converted"].to_numpy(dtype=bool)
    n_c = int((arm == control_arm).sum())
    entries = []
    for i, name in enumerate([control_arm, *[a for a in arms if a != control_arm]]):
        mask = arm == name
        n = int(mask.sum())
        entry: dict = {
            "arm": name, "customers": n, "control": name == control_arm,
            "bonus_cost": {
                "total": _num(bonus[mask].sum()),
                "per_customer": _num(bonus[mask].mean()) if n else None,
                "redeemed": int((mask & converted & (bonus > 0)).sum()),
            },
            "outcomes": {},
        }
        if name != control_arm:
            entry["small_cell"] = bool(n < min_cell or n_c < min_cell)
        for outcome, (plain, adjusted) in per_outcome.items():
            p_row = plain[i]
            block = {"mean": _num(p_row["mean"])}
            if name != control_arm:
                a_row = adjusted[i] if adjusted is not None else None
                block["control_mean"] = _num(plain[0]["mean"])
                block["plain"] = _estimate(p_row)
                block["adjusted"] = _estimate(a_row) if a_row is not None else None
                reduction = (1 - _width(a_row) / _width(p_row)
                             if a_row is not None and _width(p_row) > 0 else math.nan)
                block["ci_width_reduction"] = _num(reduction)
            entry["outcomes"][outcome] = block
        if name != control_arm:
            net = entry["outcomes"]["net_revenue"]
            use_adjusted = net["adjusted"] is not None and net["adjusted"]["se"] is not None
            basis = net["adjusted"] if use_adjusted else net["plain"]

            def scaled(value, n=n):
                return None if value is None else value * n

            entry["net_incremental_revenue"] = {
                "basis": "adjusted" if use_adjusted else "plain",
                "method": basis["method"],
                "per_customer": {k: basis[k] for k in ("effect", "ci_low", "ci_high",
                                                       "p_value")},
                "total": {"effect": scaled(basis["effect"]),
                          "ci_low": scaled(basis["ci_low"]),
                          "ci_high": scaled(basis["ci_high"])},
                "treated_customers": n,
            }
        entries.append(entry)
    return entries


def _notes(covariates: Sequence[str], alpha: float, min_cell: int,
           skipped: Sequence[str]) -> list[str]:
    conf = f"{100 * (1 - alpha):g} %"
    notes = [
        "Randomised A/B/n test: customers were assigned to arms by a stable hash of their id "
        "(with a salt), independent of their outcomes; arms are comparable by design.",
        "Intention to treat: every customer counts in the assigned arm whether or not the "
        "e-mail was opened or the bonus redeemed; effects are effects of the assignment.",
        "Each treatment arm is compared with control on the control + that-arm customers.",
        f"Plain: difference of means (treated - control) with Welch (unequal-variance) standard "
        f"errors, Welch-Satterthwaite df, {conf} t intervals, two-sided p-values.",
        "Adjusted: Lin (2013) regression adjustment, OLS of the outcome on the arm dummy, the "
        f"centred pre-period covariates {list(covariates)} and their interactions with the "
        "dummy, HC2 robust standard errors, t intervals on the residual df."
        if covariates else "Adjusted: not computed (no pre-period covariates available).",
        "ci_width_reduction = 1 - adjusted interval width / plain interval width.",
        "converted is a rate (share of customers with an order in the window); orders per "
        "customer; revenue is gross (positive lines) in currency; net_revenue = revenue - "
        "bonus_cost (bonus counted when a treated customer converted).",
        "Net incremental revenue vs control: effect on net_revenue per customer (adjusted when "
        "available) and that times the arm's customers for the total (interval scaled alike).",
        f"Segments: effects within each cell; cells with fewer than {min_cell} customers in "
        "control or in an arm are flagged small_cell (wide, unstable intervals). churn_decile "
        "is the decile (10 = highest) of churn_probability over the campaign population.",
        "Multiple comparisons (arms x outcomes x segments) are not corrected: treat individual "
        "significant cells as exploratory.",
    ]
    if skipped:
        notes.append(f"Segment columns not in the data, skipped: {list(skipped)}.")
    return notes


def campaign_report(
    outcomes: pd.DataFrame,
    *,
    control_arm: str = CONTROL_ARM,
    covariates: Sequence[str] = ADJUSTMENT_COVARIATES,
    segments: Sequence[str] = ("value_tier", "lifecycle_stage", "offer_type", "churn_decile"),
    alpha: float = 0.05,
    min_cell: int = 30,
) -> dict:
    """The measurement of a campaign as a strictly JSON-serialisable dict.

    Parameters
    ----------
    outcomes:
        Per-customer outcomes (:func:`scoring.campaign.outcomes.campaign_outcomes`), shape
        ``(n_customers, ...)``: ``arm``, ``converted``, ``orders``, ``revenue``,
        ``net_revenue``, ``bonus_cost`` and the covariates / segment columns.
    covariates:
        Pre-campaign covariates of the adjusted estimate (default
        :data:`ADJUSTMENT_COVARIATES`); those absent, not numeric or with a missing value are
        left out and listed in ``covariates_skipped``.
    segments:
        Segment columns; ``churn_decile`` is derived from ``churn_probability`` when absent.
        Absent columns are skipped (listed in the notes).
    alpha, min_cell:
        Intervals are ``1 - alpha``; a cell with fewer than ``min_cell`` customers in control
        or in an arm is flagged ``small_cell`` with a ``warning``.

    Returns
    -------
    dict
        ``control_arm``, ``alpha``, ``customers``, ``arms`` (list of arm names), ``covariates``
        (used), ``overall`` (list per arm, control first: ``customers``, ``bonus_cost``
        {total, per_customer, redeemed}, ``outcomes`` {outcome: {mean, control_mean, plain,
        adjusted, ci_width_reduction}}, ``net_incremental_revenue`` {basis, per_customer,
        total}), ``segments`` {column: [{value, customers, small_cell, warning, arms: [...]}]},
        ``notes``. Numbers are plain int / float; NaN is ``None``.
    """
    wanted = covariates
    covariates = tuple(c for c in wanted if c in outcomes.columns
                       and pd.api.types.is_numeric_dtype(outcomes[c])
                       and outcomes[c].notna().all())
    covariates_skipped = [c for c in wanted if c not in covariates]
    _check_frame(outcomes, (*REPORT_OUTCOMES, "bonus_cost", *covariates), control_arm, alpha)
    frame = outcomes.reset_index(drop=True)
    if "churn_decile" in segments and "churn_decile" not in frame.columns \
            and "churn_probability" in frame.columns:
        frame = frame.assign(churn_decile=churn_decile(frame["churn_probability"]))
    arms = sorted(set(frame["arm"].astype(str)))
    treatment_arms = [a for a in arms if a != control_arm]

    report: dict = {
        "control_arm": control_arm,
        "alpha": float(alpha),
        "customers": int(len(frame)),
        "arms": [control_arm, *treatment_arms],
        "covariates": list(covariates),
        "covariates_skipped": covariates_skipped,
        "outcomes": list(REPORT_OUTCOMES),
        "overall": _arm_block(frame, arms, control_arm, covariates, alpha, min_cell),
        "segments": {},
    }
    skipped = []
    for column in segments:
        if column not in frame.columns:
            skipped.append(column)
            continue
        key = frame[column]
        cells = []
        for value, cell in frame.groupby(key, sort=True, dropna=True, observed=True):
            entries = _arm_block(cell, arms, control_arm, covariates, alpha, min_cell)
            small = [f"{e['arm']} ({e['customers']})" for e in entries
                     if e["customers"] < min_cell]
            warning = (f"{column}={value}: fewer than {min_cell} customers in "
                       f"{', '.join(small)}; the effects of this cell are unreliable "
                       "(wide intervals, unstable estimates)." if small else None)
            cells.append({
                "value": _num(value) if isinstance(value, (int, float, np.number)) else str(value),
                "customers": int(len(cell)),
                "small_cell": bool(small),
                "warning": warning,
                "arms": entries,
            })
        report["segments"][column] = cells
    report["segments_skipped"] = skipped
    report["notes"] = _notes(covariates, alpha, min_cell, skipped)
    return report


# ---------------------------------------------------------------------------------------
# Trust checks: sample ratio and pre-campaign balance
# ---------------------------------------------------------------------------------------

SRM_P_VALUE = 0.001
"""A sample ratio mismatch is flagged below this chi-square p-value (the usual A/B-test
threshold: with the right shares a false alarm is 1 in 1000 campaigns)."""
IMBALANCE_SMD = 0.1
"""Pre-campaign imbalance is flagged above this absolute standardised mean difference."""


def balance_checks(outcomes: pd.DataFrame, covariates: Sequence[str],
                   control_arm: str = CONTROL_ARM,
                   shares: Mapping[str, float] | None = None) -> dict:
    """Can the randomisation be trusted? JSON-ready dict with ``sample_ratio`` (observed
    customers per arm against the planned ``shares``: chi-square p-value from
    ``scipy.stats.chisquare``, ``mismatch`` below :data:`SRM_P_VALUE`; None without shares)
    and ``pre_period`` (per covariate and treatment arm: control and arm means, the
    standardised mean difference ``(m_a - m_c) / sqrt((v_a + v_c) / 2)``, ``imbalanced``
    above :data:`IMBALANCE_SMD`), and ``warnings`` (strings, empty when all is well).

    A mismatch means the assignment or the data lost customers selectively: no estimate of
    the campaign can be trusted. Imbalance happens by chance with heavy-tailed covariates
    (a few very large customers): the plain difference of means then carries it, the
    adjusted estimate corrects for it."""
    from scipy.stats import chisquare

    arm = outcomes["arm"].astype(str)
    counts = arm.value_counts()
    warnings_: list[str] = []
    ratio = None
    if shares:
        names = [a for a in shares if shares[a] > 0]
        observed = np.array([int(counts.get(a, 0)) for a in names], dtype=float)
        planned = np.array([shares[a] for a in names], dtype=float)
        expected = planned / planned.sum() * observed.sum()
        p_value = float(chisquare(observed, expected).pvalue) if len(names) > 1 else 1.0
        ratio = {"observed": {a: int(o) for a, o in zip(names, observed, strict=True)},
                 "expected": {a: float(e) for a, e in zip(names, expected, strict=True)},
                 "p_value": p_value, "mismatch": p_value < SRM_P_VALUE}
        if ratio["mismatch"]:
            warnings_.append(
                f"sample ratio mismatch: customers per arm {ratio['observed']} against planned "
                f"shares {dict(shares)} (chi-square p={p_value:.2g}); customers were lost or "
                "moved selectively, so no estimate of this campaign can be trusted: check the "
                "assignment export and the send.")
    rows = []
    control = outcomes.loc[arm.eq(control_arm)]
    for name in sorted(set(arm) - {control_arm}):
        treated = outcomes.loc[arm.eq(name)]
        for column in covariates:
            c = control[column].to_numpy(float)
            t = treated[column].to_numpy(float)
            pooled = np.sqrt((t.var(ddof=1) + c.var(ddof=1)) / 2) if min(len(t), len(c)) > 1 \
                else np.nan
            smd = (t.mean() - c.mean()) / pooled if pooled and pooled > 0 else 0.0
            rows.append({"arm": name, "covariate": column, "control_mean": _num(c.mean()),
                         "arm_mean": _num(t.mean()), "smd": _num(smd),
                         "imbalanced": bool(abs(smd) > IMBALANCE_SMD)})
    flagged = [r for r in rows if r["imbalanced"]]
    if flagged:
        warnings_.append(
            "pre-campaign imbalance: " + ", ".join(
                f"{r['covariate']} in {r['arm']} (standardised difference {r['smd']:+.2f})"
                for r in flagged)
            + "; the plain difference of means carries this chance imbalance, read the "
            "adjusted estimate.")
    return {"sample_ratio": ratio, "pre_period": rows, "warnings": warnings_}
