# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Product recommendations
#
# Implicit-feedback recommenders on Online Retail II, evaluated out of time (fit before the cutoff,
# measured on the products each customer bought in the 182 days after it). Hyperparameters are
# chosen on a validation window before the cutoff, never on the holdout. Metrics use their standard
# definitions (`scoring.evaluation.ranking`). The full grid runs in `scoring evaluate`; with
# `SCORING_NOTEBOOK_FAST=1` (the test suite) this notebook uses a one-setting grid.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from scoring.data import load_dataset
from scoring.evaluation.recommend_eval import evaluate_recommenders, trimmed_config
from scoring.models.recommend import (
    build_interaction_matrix,
    explain_recommendations,
    product_names,
)

FAST = os.environ.get("SCORING_NOTEBOOK_FAST") == "1"
CUTOFF, HOLDOUT_DAYS = "2011-06-09", 182
shop = load_dataset("online-retail-ii")

# %% [markdown]
# ## The customer × product matrix (orders containing the product, before the cutoff)

# %%
matrix = build_interaction_matrix(shop.transactions, CUTOFF)
counts = matrix.order_counts
print(f"{matrix.n_customers:,} customers x {matrix.n_products:,} products, "
      f"{counts.nnz:,} non-zero cells ({counts.nnz / np.prod(counts.shape):.2%} dense), "
      f"{matrix.active_products.sum():,} products still sold in the last 90 days")
fig, axes = plt.subplots(1, 2, figsize=(11, 3))
axes[0].hist(np.diff(counts.indptr), bins=50, log=True)
axes[0].set_title("distinct products per customer")
axes[1].hist(np.asarray((counts > 0).sum(axis=0)).ravel(), bins=50, log=True)
axes[1].set_title("distinct buyers per product")
plt.show()

# %% [markdown]
# ## Model comparison (NDCG@10, holdout)

# %%
config = trimmed_config(["popularity", "buy_again", "item_knn_bm25", "als"]) if FAST else None
evaluation = evaluate_recommenders(shop.transactions, CUTOFF, HOLDOUT_DAYS, config=config)
summary = evaluation.summary()
summary.pivot(index="model", columns="protocol", values=["ndcg", "precision", "recall", "coverage"]).round(3)

# %%
ax = summary.pivot(index="model", columns="protocol", values="ndcg").plot.barh(figsize=(8, 4))
ax.set_xlabel("NDCG@10 on the holdout")
plt.show()
print("shipped:", evaluation.shipped)

# %% [markdown]
# ## Recommendations for a few real customers, with product names

# %%
names = product_names(shop.transactions)
customers = evaluation.recommendations["customer_id"].drop_duplicates().head(3).tolist()
before = shop.transactions.loc[shop.transactions["timestamp"] < CUTOFF]
for customer in customers:
    history = (before.loc[before["customer_id"] == customer, "product_id"]
               .value_counts().head(5).index.map(names))
    shipped = evaluation.shipped["repurchase"]
    recs = evaluation.recommendations.query(
        "customer_id == @customer and model == @shipped and protocol == 'repurchase'")
    print(f"customer {customer}: most bought {list(history)}")
    print("  recommended:", list(recs["product_id"].map(names).head(5)))

# %% [markdown]
# ## Why item-kNN recommends a product (cross-sell reasons) and similar items

# %%
knn = evaluation.models["item_knn_bm25"]["new_items"]
recs = knn.recommend(customers[:2], n=5, filter_already_bought=True)
explain_recommendations(knn, recs).assign(product_name=lambda d: d["product_id"].map(names))[
    ["customer_id", "rank", "product_name", "reason"]]

# %%
top_product = before["product_id"].value_counts().index[0]
print("customers who bought", names[top_product], "also bought:")
knn.similar_items([top_product], n=5)[["rank", "similar_product_name", "score"]]

# %% [markdown]
# ## Cold start: a new customer or a lead gets recent popular products

# %%
knn.recommend(["a-brand-new-customer"], n=5).assign(product_name=lambda d: d["product_id"].map(names))
