"""Shared test data."""

from __future__ import annotations

import os

# one LightGBM thread per pytest-xdist worker (the models use every core by default, n_jobs=-1
# -> OpenMP's default): two workers on two cores would otherwise run four spinning threads.
# Set before any test module imports lightgbm; subprocesses (CLI tests) inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import pytest

from scoring.data import load_dataset


@pytest.fixture(scope="session")
def online_retail_sample():
    """``online_retail_sample(n_customers, seed, end)``: see ``_online_retail_sample``."""
    return _online_retail_sample


def _online_retail_sample(n_customers: int, seed: int, end) -> pd.DataFrame:
    """Online Retail II purchase lines of ``n_customers`` customers drawn with ``seed``,
    before ``end``: small but real data for the recommender tests."""
    tx = load_dataset("online-retail-ii").transactions
    customers = np.sort(tx["customer_id"].unique().to_numpy(dtype=str))
    sample = np.random.default_rng(seed).choice(customers, size=n_customers, replace=False)
    keep = tx["customer_id"].isin(sample) & (tx["timestamp"] < pd.Timestamp(end))
    return tx.loc[keep].reset_index(drop=True)
