"""Ranking metrics: hand-computed examples and sklearn's ndcg_score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score

from scoring.data.errors import DataError
from scoring.evaluation.ranking import (
    catalogue_coverage,
    hit_rate_at_k,
    hits_at_k,
    map_at_k,
    ndcg_at_k,
    per_customer_metrics,
    precision_at_k,
    ranking_metrics,
    ranking_metrics_frame,
    recall_at_k,
)


def relevant_matrix(sets: list[set[int]], n_items: int) -> sp.csr_matrix:
    rows = [u for u, s in enumerate(sets) for _ in s]
    cols = [i for s in sets for i in sorted(s)]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), n_items))


# customer 0: hits at ranks 1 and 3, |T| = 3
# customer 1: hit at rank 2 only, |T| = 1
# customer 2: no hit, |T| = 2
RECOMMENDED = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3]])
RELEVANT = relevant_matrix([{0, 2, 9}, {5}, {8, 9}], 10)


def test_hits_mark_relevant_positions():
    hits = hits_at_k(RECOMMENDED, RELEVANT, k=4)
    expected = np.array(
        [[True, False, True, False], [False, True, False, False], [False, False, False, False]]
    )
    np.testing.assert_array_equal(hits, expected)


def test_hand_computed_metrics_at_3():
    k = 3
    per = per_customer_metrics(RECOMMENDED, RELEVANT, k)
    # precision = hits / k
    np.testing.assert_allclose(per["precision"], [2 / 3, 1 / 3, 0.0])
    # recall = hits / |T|
    np.testing.assert_allclose(per["recall"], [2 / 3, 1.0, 0.0])
    # NDCG: DCG / IDCG over min(k, |T|) positions, binary gains
    d = 1 / np.log2(np.arange(2, 5))
    ndcg0 = (d[0] + d[2]) / (d[0] + d[1] + d[2])
    ndcg1 = d[1] / d[0]
    np.testing.assert_allclose(per["ndcg"], [ndcg0, ndcg1, 0.0])
    # AP@k: sum of precision@r at hits / min(k, |T|)
    ap0 = (1 / 1 + 2 / 3) / 3
    ap1 = (1 / 2) / 1
    np.testing.assert_allclose(per["ap"], [ap0, ap1, 0.0])
    np.testing.assert_allclose(per["hit_rate"], [1.0, 1.0, 0.0])

    metrics = ranking_metrics(RECOMMENDED, RELEVANT, k, catalogue_size=10)
    assert metrics["precision"] == pytest.approx((2 / 3 + 1 / 3) / 3)
    assert metrics["recall"] == pytest.approx((2 / 3 + 1) / 3)
    assert metrics["ndcg"] == pytest.approx((ndcg0 + ndcg1) / 3)
    assert metrics["map"] == pytest.approx((ap0 + ap1) / 3)
    assert metrics["hit_rate"] == pytest.approx(2 / 3)
    # ranks 1..3 of the three customers: items {0, 1, 2, 4, 5, 6} of 10
    assert metrics["coverage"] == pytest.approx(0.6)
    assert metrics["n_customers"] == 3
    assert precision_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx(metrics["precision"])
    assert recall_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx(metrics["recall"])
    assert ndcg_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx(metrics["ndcg"])
    assert map_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx(metrics["map"])
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx(metrics["hit_rate"])


def test_precision_divides_by_k_not_by_test_size():
    """implicit's precision_at_k divides by min(k, |T|); ours is hits / k."""
    recommended = np.array([[3, 0, 1, 2, 4]])
    relevant = relevant_matrix([{3}], 5)
    assert precision_at_k(recommended, relevant, k=5) == pytest.approx(1 / 5)
    assert recall_at_k(recommended, relevant, k=5) == pytest.approx(1.0)
    assert ndcg_at_k(recommended, relevant, k=5) == pytest.approx(1.0)
    assert map_at_k(recommended, relevant, k=5) == pytest.approx(1.0)


def test_padding_and_short_lists_count_as_misses():
    recommended = np.array([[2, -1, -1]])
    relevant = relevant_matrix([{2, 7}], 10)
    per = per_customer_metrics(recommended, relevant, k=3)
    assert per["precision"].iloc[0] == pytest.approx(1 / 3)
    assert per["recall"].iloc[0] == pytest.approx(1 / 2)
    d = 1 / np.log2(np.arange(2, 4))
    assert per["ndcg"].iloc[0] == pytest.approx(d[0] / (d[0] + d[1]))
    # fewer columns than k: padded with misses
    assert ndcg_at_k(np.array([[2]]), relevant, k=3) == pytest.approx(d[0] / (d[0] + d[1]))


def test_customers_without_test_items_are_left_out():
    recommended = np.array([[0, 1], [0, 1]])
    relevant = relevant_matrix([{0}, set()], 3)
    per = per_customer_metrics(recommended, relevant, k=2)
    assert per["ndcg"].isna().tolist() == [False, True]
    metrics = ranking_metrics(recommended, relevant, k=2)
    assert metrics["n_customers"] == 1
    assert metrics["ndcg"] == pytest.approx(1.0)
    assert metrics["precision"] == pytest.approx(0.5)


@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_ndcg_matches_sklearn(k):
    rng = np.random.default_rng(42)
    n_customers, n_items = 40, 25
    relevant = sp.random(n_customers, n_items, density=0.15, random_state=1, format="csr")
    relevant.data[:] = 1.0
    has = np.diff(relevant.indptr) > 0
    # a full ranking per customer; sklearn needs scores with no ties
    ranking = np.argsort(rng.random((n_customers, n_items)), axis=1)
    y_score = np.empty((n_customers, n_items))
    np.put_along_axis(y_score, ranking, np.arange(n_items, 0, -1, dtype=float), axis=1)
    expected = ndcg_score(relevant.toarray()[has], y_score[has], k=k)
    assert ndcg_at_k(ranking, relevant, k=k) == pytest.approx(expected)


def test_coverage_counts_distinct_items():
    recommended = np.array([[0, 1, -1], [1, 2, 3]])
    assert catalogue_coverage(recommended, catalogue_size=8) == pytest.approx(4 / 8)
    assert catalogue_coverage(recommended, catalogue_size=8, k=1) == pytest.approx(2 / 8)
    with pytest.raises(DataError):
        catalogue_coverage(recommended, catalogue_size=0)


def test_frame_version_matches_arrays():
    recs = pd.DataFrame(
        {
            "customer_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            "rank": [1, 2, 3] * 3,
            "product_id": ["p0", "p1", "p2", "p4", "p5", "p6", "p0", "p1", "p2"],
        }
    )
    test = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c", "c", "d"],
            "product_id": ["p0", "p2", "p9", "p5", "p8", "p9", "p0"],
        }
    )
    metrics = ranking_metrics_frame(recs, test, k=3, catalogue_size=10)
    expected = ranking_metrics(RECOMMENDED, RELEVANT, k=3, catalogue_size=10)
    # customer d has no recommendations: all misses
    assert metrics["n_customers"] == 4
    for name in ("precision", "recall", "ndcg", "map", "hit_rate"):
        assert metrics[name] == pytest.approx(expected[name] * 3 / 4)
    assert metrics["coverage"] == pytest.approx(expected["coverage"])


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(DataError, match="rows"):
        ranking_metrics(np.zeros((2, 3), dtype=int), sp.csr_matrix((3, 5)), k=3)
    with pytest.raises(DataError, match="2-d"):
        ranking_metrics(np.zeros(3, dtype=int), sp.csr_matrix((3, 5)), k=3)
    with pytest.raises(DataError, match="k=0"):
        ranking_metrics(np.zeros((3, 3), dtype=int), sp.csr_matrix((3, 5)), k=0)
