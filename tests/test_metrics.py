"""Churn and revenue metrics on hand-computed examples and against scikit-learn / scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from scoring.data.errors import DataError
from scoring.evaluation import metrics as m


@pytest.fixture(scope="module")
def noisy_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    # rounded scores so there are many ties
    p = np.round(np.clip(0.3 * y + rng.uniform(0, 0.7, 500), 0, 1), 1)
    return y, p


def test_roc_auc_hand_example():
    # pairs (churner, non-churner): (0.35 > 0.1), (0.35 < 0.4), (0.8 > 0.1), (0.8 > 0.4)
    assert m.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # a tie between a churner and a non-churner counts one half
    assert m.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert np.isnan(m.roc_auc([1, 1], [0.2, 0.3]))


def test_ranking_metrics_match_sklearn_with_ties(noisy_scores):
    y, p = noisy_scores
    assert m.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m.pr_auc(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)


def test_pr_auc_hand_example():
    # sorted by score: 1 (P=1, R=1/2), 0, 1 (P=2/3, R=1) -> 1/2 * 1 + 1/2 * 2/3
    assert m.pr_auc([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 1 / 3)


def test_brier_and_log_loss(noisy_scores):
    assert m.brier([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)
    assert m.log_loss([0, 1], [0.2, 0.6]) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    y, p = noisy_scores
    assert m.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    q = np.clip(p, 0.01, 0.99)
    assert m.log_loss(y, q) == pytest.approx(skm.log_loss(y, q))
    # probabilities of 0 and 1 are clipped, not infinite
    assert np.isfinite(m.log_loss([1, 0], [0.0, 1.0]))


def test_expected_calibration_error_hand_example():
    # bins [0, .1): p .05, y 0 -> .05 * 1; [.1, .2): p .15 (x2), mean y .5 -> .35 * 2;
    # [.9, 1]: p .95, y 1 -> .05 * 1; total (.05 + .7 + .05) / 4
    p = [0.05, 0.15, 0.15, 0.95]
    y = [0, 0, 1, 1]
    assert m.expected_calibration_error(y, p) == pytest.approx(0.2)
    # a probability of exactly 1 falls in the last bin
    assert m.expected_calibration_error([1], [1.0]) == pytest.approx(0.0)
    table = m.calibration_table(y, p)
    assert table["n"].tolist() == [1, 2, 1]


def test_churn_metrics_keys(noisy_scores):
    y, p = noisy_scores
    out = m.churn_metrics(y, p)
    assert set(out) == {
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "mean_predicted",
        "churn_rate",
    }
    assert out["churn_rate"] == pytest.approx(y.mean())


def test_normalized_gini_hand_examples():
    actual = [1.0, 0.0, 2.0]
    # predicted order: actual 1, 0, 2 -> captured 1/3, 1/3, 1 -> 5/9 - 2/3 = -1/9;
    # best order 2, 1, 0 -> 2/3, 1, 1 -> 8/9 - 2/3 = 2/9
    assert m.normalized_gini(actual, [3.0, 2.0, 1.0]) == pytest.approx(-0.5)
    assert m.normalized_gini(actual, actual) == pytest.approx(1.0)
    assert m.normalized_gini([0, 0, 1, 3], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1.0)
    # constant predictions carry no ranking: 0, whatever the input order
    assert m.normalized_gini([5.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]) == pytest.approx(0.0)
    assert np.isnan(m.normalized_gini([0.0, 0.0], [1.0, 2.0]))


def test_gini_is_scale_free_and_tie_fair():
    rng = np.random.default_rng(1)
    actual = rng.gamma(0.5, 100, 300) * (rng.uniform(size=300) < 0.6)
    predicted = actual + rng.normal(0, 50, 300)
    assert m.normalized_gini(actual, predicted) == pytest.approx(
        m.normalized_gini(actual, 10 * predicted + 3)
    )
    # ties: the result does not depend on the input order
    tied = np.round(predicted, -2)
    order = rng.permutation(300)
    assert m.normalized_gini(actual, tied) == pytest.approx(
        m.normalized_gini(actual[order], tied[order])
    )


def test_revenue_metrics_hand_examples():
    actual = np.arange(1.0, 21.0)
    predicted = 1.1 * actual
    assert m.decile_mape(actual, predicted) == pytest.approx(0.1)
    assert m.total_ratio(actual, predicted) == pytest.approx(1.1)
    assert m.mae([1.0, 2.0], [2.0, 0.0]) == pytest.approx(1.5)
    table = m.decile_table(actual, predicted)
    assert table["n"].tolist() == [2] * 10
    # decile 1 holds the highest predictions
    assert table.loc[1, "actual"] == pytest.approx(39.0)
    rng = np.random.default_rng(2)
    a, p = rng.gamma(1, 10, 100), rng.gamma(1, 10, 100)
    assert m.spearman(a, p) == pytest.approx(stats.spearmanr(a, p).statistic)
    out = m.revenue_metrics(actual, predicted)
    assert set(out) == {
        "normalized_gini",
        "spearman",
        "mae",
        "total_ratio",
        "decile_mape",
        "total_predicted",
        "total_actual",
    }


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(DataError, match="one value per customer"):
        m.roc_auc([0, 1], [0.5])
    with pytest.raises(DataError, match="missing or infinite"):
        m.brier([0, 1], [0.5, np.nan])
    with pytest.raises(DataError, match="0/1"):
        m.brier([0, 2], [0.5, 0.5])
    with pytest.raises(DataError, match="empty"):
        m.normalized_gini([], [])
