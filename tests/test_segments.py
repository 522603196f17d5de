"""RFM scores, named segments, lifecycle stages and flags."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.data import load_dataset
from scoring.data.schema import ShopData
from scoring.segments import (
    DEFAULT_RFM_SEGMENTS,
    LIFECYCLE_STAGES,
    RFM_SEGMENTS,
    SegmentConfig,
    build_segments,
    lifecycle_stage,
    quantile_scores,
    rfm_segment,
)


def test_every_rf_pair_has_exactly_one_segment():
    for r, fm in itertools.product(range(1, 6), range(1, 6)):
        matches = [name for name, (rl, rh), (fl, fh) in DEFAULT_RFM_SEGMENTS
                   if rl <= r <= rh and fl <= fm <= fh]
        assert len(matches) >= 1, (r, fm)
    pairs = pd.DataFrame(list(itertools.product(range(1, 6), range(1, 6))), columns=["r", "fm"])
    names = rfm_segment(pairs["r"], pairs["fm"])
    assert set(names) == set(RFM_SEGMENTS)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=200))
def test_quantile_scores_ties_equal_and_monotone(values):
    series = pd.Series(values, dtype="float64")
    scores = quantile_scores(series)
    assert scores.between(1, 5).all()
    assert (scores.groupby(series).nunique() == 1).all()  # ties: one score per value
    order = series.sort_values().index
    assert scores[order].is_monotonic_increasing


def test_lifecycle_rules():
    n_orders = pd.Series([0, 1, 2, 3, 7, 1, 5])
    days = pd.Series([None, 10, 10, 10, 179, 180, 400])
    stages = lifecycle_stage(n_orders, days).tolist()
    assert stages == ["lead", "first_time", "second_order", "loyal", "loyal", "lapsed", "sleeping"]


@pytest.fixture(scope="module")
def online_retail_segments():
    return build_segments(load_dataset("online-retail-ii"))


def test_online_retail_segments(online_retail_segments):
    seg = online_retail_segments
    assert seg["customer_id"].is_unique and len(seg) == 5852
    assert seg["lifecycle_stage"].notna().all()
    assert set(seg["lifecycle_stage"]) <= set(LIFECYCLE_STAGES) - {"lead"}  # no profiles
    assert set(seg["rfm_segment"]) == set(RFM_SEGMENTS)
    assert "cart_abandoner" not in seg  # no events table: the flag does not appear
    champions = seg.loc[seg["rfm_segment"] == "champions"]
    lost = seg.loc[seg["rfm_segment"] == "lost"]
    assert champions["revenue"].median() > 5 * lost["revenue"].median()
    assert champions["days_since_last_order"].max() < lost["days_since_last_order"].min()


def test_as_of_changes_the_picture():
    shop = load_dataset("online-retail-ii", as_of="2011-06-08")
    seg = build_segments(shop)
    assert len(seg) == 4941
    assert seg["last_order_at"].max() < pd.Timestamp("2011-06-09")


def small_shop_with_profiles_and_events() -> ShopData:
    tx = pd.DataFrame({
        "customer_id": pd.Series(["a", "b", "b", "c", "c", "c", "d"], dtype="string"),
        "order_id": pd.Series(["1", "2", "3", "4", "5", "6", "7"], dtype="string"),
        "timestamp": pd.to_datetime(["2021-05-20", "2021-05-01", "2021-05-25", "2021-03-01",
                                     "2021-04-01", "2021-05-28", "2020-01-01"]),
        "amount": [10.0, 20, 20, 5, 5, 5, 100],
    })
    customers = pd.DataFrame({"customer_id": pd.Series(list("abcde"), dtype="string"),
                              "signup_at": pd.to_datetime(["2021-01-01"] * 5),
                              "email_opt_in": pd.array([True, True, False, True, True])})
    events = pd.DataFrame({
        "customer_id": pd.Series(["a", "b", "e", "a", "b"], dtype="string"),
        "timestamp": pd.to_datetime(["2021-05-25", "2021-05-20", "2021-05-29", "2021-05-26",
                                     "2021-05-27"]),
        "event_type": ["cart_add", "checkout_start", "cart_add", "email_click", "email_open"],
    })
    return ShopData(name="tiny", transactions=tx, customers=customers, events=events,
                    as_of=pd.Timestamp("2021-05-31"))


def test_leads_cart_abandoners_and_engagement():
    seg = build_segments(small_shop_with_profiles_and_events()).set_index("customer_id")
    assert seg.loc["e", "lifecycle_stage"] == "lead" and seg.loc["e", "n_orders"] == 0
    assert seg.loc["c", "lifecycle_stage"] == "loyal"
    assert seg.loc["d", "lifecycle_stage"] == "sleeping"
    # a: cart on 05-25, no order after it -> abandoner; b: checkout 05-20, ordered 05-25.
    assert bool(seg.loc["a", "cart_abandoner"]) and not bool(seg.loc["b", "cart_abandoner"])
    assert bool(seg.loc["e", "cart_abandoner"])
    assert seg.loc["a", "email_engagement"] == "clicker"
    assert seg.loc["b", "email_engagement"] == "reader"
    assert seg.loc["d", "email_engagement"] == "passive"  # opted in, no email events
    assert pd.isna(seg.loc["c", "email_engagement"])  # opted out, never emailed
    assert seg.loc["e", "email_engagement"] == "passive"


def test_thresholds_are_configurable():
    shop = small_shop_with_profiles_and_events()
    seg = build_segments(shop, config=SegmentConfig(sleeping_days=10_000, lapsed_days=300))
    assert seg.set_index("customer_id").loc["d", "lifecycle_stage"] == "lapsed"
