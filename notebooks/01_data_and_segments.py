# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Data and segments
#
# Online Retail II (UCI, CC BY 4.0) through the project's data layer: what was used and what was
# quarantined (and why), orders and revenue over time, RFM distributions and the marketing segments.
# All logic lives in `scoring`; this notebook only shows results.

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd

from scoring import pipeline
from scoring.data import load_dataset
from scoring.features.rfm import rfm_summary
from scoring.segments import build_segments, monthly_activity, segment_sizes

DATASET = os.environ.get("SCORING_NOTEBOOK_DATASET", "online-retail-ii")
shop = load_dataset(DATASET)

# %% [markdown]
# ## Row accounting: every input row is used or quarantined with a reason

# %%
report = pipeline.quality_report(shop)
print(pipeline.format_accounting(report))
assert report["rows_in"] == report["rows_used"] + sum(report["quarantined"].values())

# %%
pd.Series(report["quarantined"]).sort_values().plot.barh(title="Quarantined rows by reason")
plt.show()

# %% [markdown]
# ## Orders and revenue over time

# %%
monthly = monthly_activity(shop.transactions)
monthly.plot(subplots=True, figsize=(9, 6), title="Per month")
plt.show()
monthly.tail()

# %% [markdown]
# ## RFM (lifetimes' conventions, days) as of the last order

# %%
rfm = rfm_summary(shop.transactions, shop.as_of)
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
rfm["frequency"].clip(upper=30).plot.hist(bins=30, ax=axes[0], title="repeat purchase days (clipped at 30)")
rfm["recency"].plot.hist(bins=30, ax=axes[1], title="recency (days)")
rfm.loc[rfm["frequency"] > 0, "monetary_value"].clip(upper=2000).plot.hist(
    bins=30, ax=axes[2], title="mean repeat-day revenue (clipped)")
plt.tight_layout()
plt.show()
rfm.describe()

# %% [markdown]
# ## Segments

# %%
segments = build_segments(shop)
sizes = segment_sizes(segments)
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
pd.Series(sizes["lifecycle_stage"]).plot.bar(ax=axes[0], title="Lifecycle stage")
pd.Series(sizes["rfm_segment"]).plot.bar(ax=axes[1], title="RFM segment")
plt.tight_layout()
plt.show()
pd.crosstab(segments["rfm_segment"], segments["lifecycle_stage"], margins=True)

# %%
segments.groupby("rfm_segment", observed=True).agg(
    customers=("customer_id", "size"), revenue=("revenue", "sum"),
    median_orders=("n_orders", "median"),
    median_days_since_last_order=("days_since_last_order", "median"),
).sort_values("revenue", ascending=False)
