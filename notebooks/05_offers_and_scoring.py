# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Offers and the scoring table
#
# What the marketing team receives: per customer value, churn risk, segment, offer type, a
# risk-scaled bonus and recommended products. The scorer is fitted on everything up to the as-of
# date (`scoring.scorer.CustomerScorer`); the offer policy (`scoring.offers.OfferPolicy`) turns its
# outputs into letters. `scoring run` does the same and registers the scorer in MLflow.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scoring.data import load_dataset
from scoring.offers import budget_curve
from scoring.pipeline import email_payloads
from scoring.scorer import CustomerScorer

shop = load_dataset("online-retail-ii")
scorer = CustomerScorer().fit(shop)
scores, campaign = scorer.score(shop)
scores.head()

# %% [markdown]
# ## Value tiers: whoever talks to a customer sees their importance

# %%
scores.groupby("value_tier", observed=True).agg(
    customers=("customer_id", "size"), min_clv=("predicted_clv_12m", "min"),
    total_clv=("predicted_clv_12m", "sum"), mean_churn=("churn_probability", "mean"))

# %% [markdown]
# ## The bonus grows with the risk of losing the customer and with their value

# %%
treated = scores.loc[~scores["control_group"]]
fig, ax = plt.subplots(figsize=(8, 5))
points = ax.scatter(treated["churn_probability"], treated["bonus_amount"],
                    c=np.log10(treated["predicted_clv_12m"].clip(lower=1)), s=8, cmap="viridis")
fig.colorbar(points, label="log10 predicted CLV (12 months)")
ax.set_xlabel("churn probability (no order in 90 days)")
ax.set_ylabel("bonus amount")
plt.show()

# %% [markdown]
# ## Budget curve: spend against expected revenue retained (response assumption in the README)

# %%
budgets = np.linspace(0, campaign["bonus_total"], 21)
curve = budget_curve(scores, scorer.config.offers, budgets)
ax = curve.plot(x="spent", y="expected_revenue_retained", marker="o", legend=False)
ax.set_xlabel("bonus budget spent")
ax.set_ylabel("expected revenue retained")
plt.show()
curve.iloc[::5]

# %% [markdown]
# ## Offer types per segment

# %%
pd.crosstab(scores["rfm_segment"], scores["offer_type"])

# %% [markdown]
# ## A few letters

# %%
examples = scores.loc[scores["bonus_amount"] > 0].groupby("offer_type").head(1)
for letter in email_payloads(examples).to_dict("records"):
    products = ", ".join(p["name"] for p in letter["products"][:3])
    print(f"[{letter['offer_type']}] Dear {letter['greeting_name']}: {letter['subject']} - "
          f"bonus {letter['bonus_amount']:.0f}; picked for you: {products}")

# %%
pd.Series(campaign["customers_per_offer_type"]).plot.bar(title="customers per offer type")
plt.show()
{k: campaign[k] for k in ("bonus_total", "expected_revenue_retained", "control_group_size")}
