# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Churn probability and revenue: LightGBM, BTYD and baselines, out of time
#
# `scoring.evaluation.churn_revenue.evaluate_churn_revenue` fits everything before the cutoff
# (LightGBM on behavioural features stacked over rolling origins, calibrated on data it was not
# fitted on; BTYD; baselines) and measures on the holdout. The project's `scoring evaluate` runs the
# same function and tracks it in MLflow. With `SCORING_NOTEBOOK_FAST=1` (the test suite) it runs on
# the CDNOW sample; otherwise on Online Retail II (cutoff 2011-06-09, 182 days).

# %%
# %matplotlib inline
import os

import pandas as pd
from IPython.display import display

from scoring.data import load_dataset
from scoring.evaluation.churn_revenue import evaluate_churn_revenue
from scoring.features.behavioural import behavioural_features

FAST = os.environ.get("SCORING_NOTEBOOK_FAST") == "1"
DATASET = "cdnow-sample" if FAST else "online-retail-ii"
shop = load_dataset(DATASET)

# %% [markdown]
# ## Behavioural features as of the cutoff (nothing at or after it is used)

# %%
evaluation = evaluate_churn_revenue(shop, cutoff=None, holdout_days=None)
cutoff = evaluation.metrics["cutoff"]
features = behavioural_features(shop.transactions, cutoff, returns=shop.returns)
print(f"{len(features):,} customers x {features.shape[1]} features as of {cutoff}")
features.describe().T.head(20)

# %% [markdown]
# ## Churn: ROC-AUC, Brier and calibration per model (holdout)

# %%
churn = pd.DataFrame(evaluation.metrics["churn"]).T.sort_values("roc_auc", ascending=False)
churn[["roc_auc", "pr_auc", "brier", "log_loss", "ece"]].round(3)

# %%
for name in ("churn_roc", "churn_calibration", "churn_gains"):
    display(evaluation.figures[name])

# %% [markdown]
# ## Revenue in the holdout window: Gini, totals and deciles

# %%
revenue = pd.DataFrame(evaluation.metrics["revenue"]).T.sort_values("normalized_gini", ascending=False)
revenue[["normalized_gini", "spearman", "mae", "total_ratio", "decile_mape"]].round(3)

# %%
display(evaluation.figures["revenue_deciles"])
print("shipped:", evaluation.metrics["shipped"])

# %% [markdown]
# ## Does the hybrid (BTYD outputs as features) help? Top LightGBM features

# %%
lgbm = evaluation.metrics.get("lgbm", {})
pd.DataFrame({name: pd.Series(info.get("churn_top_features", {})) for name, info in lgbm.items()
              if isinstance(info, dict)}).round(0)
