"""The evaluation's rolling-origin panel trains on a seeded sample of customers on a large
shop (bounded time and memory) and still scores every customer at the cutoff."""

from __future__ import annotations

import pandas as pd
import pytest

from scoring.data import load_dataset
from scoring.evaluation.churn_revenue import evaluate_churn_revenue
from scoring.models.churn.panel import build_rolling_origin_panel, build_sampled_panel
from scoring.models.hybrid_churn import stable_sample

CUTOFF = pd.Timestamp("2011-09-11")


@pytest.fixture(scope="module")
def shop():
    return load_dataset("online-retail-ii")


@pytest.mark.slow
def test_sampled_panel_trains_on_the_sample_and_scores_everyone_exactly(shop):
    common = dict(events=shop.events, customers=shop.customers, btyd=True)
    full = build_rolling_origin_panel(shop.transactions, CUTOFF, 90, **common)
    sample = stable_sample(shop.transactions["customer_id"], 1500, seed=0)
    part = build_sampled_panel(shop.transactions, CUTOFF, 90, sample, **common)
    # the cutoff rows (what is scored) are the full panel's, to the last bit
    pd.testing.assert_frame_equal(full.at_cutoff(), part.at_cutoff())
    features, labels = part.training()
    customers = features.index.get_level_values("customer_id")
    assert customers.isin(sample).all() and customers.nunique() <= 1500
    assert part.origins == full.origins and part.label_horizon_days == 90
    assert labels.index.equals(features.index)
    # a training row of a sampled customer equals the full panel's row at that origin
    shared = features.index.intersection(full.training()[0].index)[:500]
    pd.testing.assert_series_equal(labels.loc[shared, "churned"],
                                   full.training()[1].loc[shared, "churned"])


@pytest.mark.slow
def test_evaluation_with_a_training_sample_predicts_every_customer(shop):
    small = evaluate_churn_revenue(shop, CUTOFF, 90, seed=0,
                                   config={"max_training_customers": 1500, "plots": False,
                                           "paretonbd": False})
    n = small.metrics["n_customers"]
    assert len(small.predictions) == n and small.predictions["churn__lgbm_hybrid"].notna().all()
    assert any("seeded sample of 1,500" in note for note in small.metrics["notes"])
    assert small.metrics["churn"]["lgbm_hybrid"]["roc_auc"] > 0.7
