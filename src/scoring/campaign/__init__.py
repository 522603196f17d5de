"""The campaign loop: assign -> send -> measure -> learn -> allocate the next budget.

Modules
-------
- :mod:`.simulate`: a retention campaign with known truth on the synthetic shop (arms,
  heterogeneous effects, potential outcomes for every customer and arm).
- :mod:`.outcomes`: per-customer outcomes of a campaign window from transactions (orders,
  revenue, conversion, bonus cost) and pre-campaign behaviour (covariates).
- :mod:`.measure`: per-arm effects with 95 % intervals (plain and variance-reduced), by
  segment; :mod:`.power`: detectable lift and control share; :mod:`.qini`: uplift / Qini
  curves; :mod:`.plots`: figures.
- :mod:`.uplift`: meta-learners on LightGBM (causalml), cross-fitted, chosen by Qini;
  :mod:`.allocate`: budget allocation by predicted incremental profit (and the rules it is
  compared with: value at risk, oracle).

Data contract (column names shared by every module)
---------------------------------------------------
Assignments (``campaign.parquet``), one row per customer in the campaign:

- ``customer_id`` (string), ``arm`` (string: ``control`` or a treatment arm name such as
  ``bonus_50``), ``bonus_multiplier`` (float, share of the policy bonus the arm gives; 0 in
  control), ``policy_bonus`` (float, currency: the full risk-scaled bonus of the offer policy),
  ``bonus_amount`` (float, currency: what the customer was offered, 0 in control),
  ``offer_type`` (string), the scores used to assign: ``churn_probability``,
  ``predicted_clv_12m``, ``value_at_risk`` (currency), ``value_tier``, ``lifecycle_stage``, and
  the scorer's other pre-campaign predictions (:data:`PREDICTION_COLUMNS`: ``p_alive``,
  ``expected_orders_90d``, ``expected_order_value``, ``predicted_revenue_90d`` = their
  product, ``days_since_last_order``, ``n_orders``): covariates of the variance-reduced
  estimate and features of the uplift model. Measurement needs only customer_id, arm and
  bonus_amount; the other columns are used when present.
- A sidecar ``campaign.json``: ``start`` (ISO date, first day of the window), ``days``,
  ``arms`` ([{name, share, bonus_multiplier}]), ``control_arm``, ``salt``, ``seed``.

Outcomes (``campaign.outcomes.campaign_outcomes``), the assignments plus:

- ``orders`` (int), ``revenue`` (float, currency, gross), ``converted`` (bool: any order) in
  the window ``[start, start + days)``;
- ``pre_orders`` and ``pre_revenue``: the same over the ``pre_days`` (365) before ``start``;
- ``treated`` (bool: arm is not control), ``bonus_cost`` (currency: ``bonus_amount`` when the
  treated customer converted (redeemed), else 0), ``net_revenue`` = revenue - bonus_cost.

Truth of a simulated campaign (added to the synthetic shop's truth, one row per customer):
``campaign_arm``, ``persona`` and, for every arm ``a`` (control included, which is the
untreated outcome), ``orders_if_<a>`` and ``revenue_if_<a>`` in the window.

Statistics are intention to treat: a customer counts in the arm the stable hash assigned,
whether or not the e-mail was opened or the bonus redeemed.
"""

PREDICTION_COLUMNS: tuple[str, ...] = (
    "p_alive", "expected_orders_90d", "expected_order_value", "predicted_revenue_90d",
    "days_since_last_order", "n_orders",
)
ASSIGNMENT_COLUMNS: tuple[str, ...] = (
    "customer_id", "arm", "bonus_multiplier", "policy_bonus", "bonus_amount", "offer_type",
    "churn_probability", "predicted_clv_12m", "value_at_risk", "value_tier", "lifecycle_stage",
    *PREDICTION_COLUMNS,
)
OUTCOME_COLUMNS: tuple[str, ...] = (
    "orders", "revenue", "converted", "pre_orders", "pre_revenue", "treated", "bonus_cost",
    "net_revenue",
)
CONTROL_ARM = "control"



def with_predicted_revenue(frame):
    """``frame`` (a scores / assignments DataFrame) with ``predicted_revenue_90d =
    expected_orders_90d * expected_order_value`` (currency) when it lacks the column and has
    both inputs; otherwise ``frame`` itself. The one definition of that column."""
    import pandas as pd

    if "predicted_revenue_90d" in frame.columns or not {
            "expected_orders_90d", "expected_order_value"} <= set(frame.columns):
        return frame
    orders = pd.to_numeric(frame["expected_orders_90d"], errors="coerce").astype(float)
    value = pd.to_numeric(frame["expected_order_value"], errors="coerce").astype(float)
    return frame.assign(predicted_revenue_90d=orders * value)


__all__ = ["ASSIGNMENT_COLUMNS", "OUTCOME_COLUMNS", "CONTROL_ARM", "PREDICTION_COLUMNS",
           "with_predicted_revenue"]
