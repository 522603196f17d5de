"""LightGBM threads: the boosters do not depend on how many threads fit them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.data import DataError
from scoring.models.churn import LGBMChurnModel, build_rolling_origin_panel
from scoring.models.churn.lgbm import LGBMRevenueModel, lightgbm_threads


def test_threads_mapping():
    assert lightgbm_threads(3) == 3
    assert lightgbm_threads(-1) == 0  # OpenMP's default: every core or OMP_NUM_THREADS
    with pytest.raises(DataError, match="n_jobs"):
        lightgbm_threads(0)


def _without_threads(estimator) -> str:
    """The booster's model string without its ``[num_threads: N]`` parameter line."""
    lines = estimator.booster_.model_to_string().splitlines()
    return "\n".join(line for line in lines if not line.startswith("[num_threads"))


@pytest.fixture(scope="module")
def panel(online_retail_sample):
    tx = online_retail_sample(600, 3, "2011-09-01")
    return build_rolling_origin_panel(tx, pd.Timestamp("2011-09-01"), 90, btyd=True,
                                      max_origins=6)


@pytest.mark.parametrize("model_class", [LGBMChurnModel, LGBMRevenueModel])
def test_one_and_two_threads_fit_the_same_boosters(panel, model_class):
    fitted = {}
    for n_jobs in (1, 2):
        model = model_class(horizon_days=90, use_btyd=True, n_jobs=n_jobs,
                            n_estimators=30).fit(panel=panel)
        fitted[n_jobs] = model
    for one, two in zip(fitted[1].boosters_, fitted[2].boosters_, strict=True):
        assert _without_threads(one) == _without_threads(two)
    np.testing.assert_array_equal(fitted[1].oof_raw_.to_numpy(), fitted[2].oof_raw_.to_numpy())
