# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · BTYD models and customer lifetime value
#
# BG/NBD, Pareto/NBD and Gamma-Gamma (`scoring.models.btyd`, `scoring.models.gamma_gamma`):
# fitted on the weighted unique (frequency, recency, T) rows, in days. First the paper check on
# CDNOW, then Online Retail II: P(alive), the churn probability P(no order in the next H days) and
# why 1 - P(alive) is the wrong churn score, and CLV.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import roc_auc_score

from scoring.data import load_dataset
from scoring.evaluation.plots import holdout_by_frequency, p_alive_heatmap
from scoring.features.rfm import calibration_and_holdout
from scoring.models.btyd import BetaGeoModel, ParetoNBDModel, p_alive_matrix
from scoring.models.gamma_gamma import GammaGammaModel, customer_lifetime_value

# %% [markdown]
# ## Paper check: CDNOW sample, calibration until 1997-09-30

# %%
cdnow = calibration_and_holdout(load_dataset("cdnow-sample").transactions, "1997-10-01", 273)
bgnbd = BetaGeoModel().fit(cdnow)
pareto = ParetoNBDModel().fit(cdnow)
spend = GammaGammaModel().fit(cdnow)
def per_week(params, keys):
    return {k: v * 7 if k in keys else v for k, v in params.items()}


pd.DataFrame({
    "ours (per week)": {**{f"bgnbd_{k}": v for k, v in per_week(bgnbd.params_, {"alpha"}).items()},
                        **{f"pareto_{k}": v for k, v in per_week(pareto.params_, {"alpha", "beta"}).items()},
                        **{f"gg_{k}": v for k, v in spend.params_.items()}},
    "published": {"bgnbd_r": 0.243, "bgnbd_alpha": 4.414, "bgnbd_a": 0.793, "bgnbd_b": 2.426,
                  "pareto_r": 0.553, "pareto_alpha": 10.58, "pareto_s": 0.606, "pareto_beta": 11.67,
                  "gg_p": 6.25, "gg_q": 3.74, "gg_v": 15.44},
}).round(3)

# %% [markdown]
# ## Expected vs actual holdout purchase days by calibration frequency

# %%
expected = {"BG/NBD": bgnbd.expected_orders(cdnow, 273)}
holdout_by_frequency(cdnow["frequency"], cdnow["frequency_holdout"], expected, max_frequency=7)

# %% [markdown]
# ## Online Retail II: P(alive) by frequency and recency (BG/NBD, cutoff 2011-06-09)

# %%
retail = calibration_and_holdout(load_dataset("online-retail-ii").transactions, "2011-06-09", 182)
model = BetaGeoModel().fit(retail)
T = retail["T"].max()
matrix = p_alive_matrix(model, T, max_frequency=29)
p_alive_heatmap(matrix, title=f"BG/NBD P(alive) for a customer with T = {T:.0f} days")

# %% [markdown]
# ## Churn: P(no order in the next 182 days), not 1 - P(alive)
#
# A one-time buyer has P(alive) = 1 under BG/NBD (they can only drop out after a repeat purchase),
# so 1 - P(alive) calls every one-time buyer safe.

# %%
churned = retail["frequency_holdout"] == 0
scores = {"1 - P(alive)": 1 - model.p_alive(retail),
          "BG/NBD P(no order in 182 days)": model.prob_no_order(retail, 182),
          "Pareto/NBD P(no order in 182 days)": ParetoNBDModel().fit(retail).prob_no_order(retail, 182),
          "days since last purchase": retail["T"] - retail["recency"]}
pd.Series({name: roc_auc_score(churned, s) for name, s in scores.items()}, name="ROC-AUC").round(3)

# %% [markdown]
# ## CLV: 12 months, 1% monthly discount rate

# %%
spend = GammaGammaModel().fit(retail)
retail["clv_12m"] = customer_lifetime_value(model, spend, retail, months=12, monthly_discount_rate=0.01)
retail["clv_12m"].clip(upper=retail["clv_12m"].quantile(0.99)).plot.hist(bins=50, title="predicted CLV, 12 months (clipped at p99)")
plt.show()
retail["clv_12m"].describe().round(1)
