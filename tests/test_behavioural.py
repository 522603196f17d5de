"""Behavioural features: hand example, no use of data at/after the cutoff, panel stacking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.data import load_dataset
from scoring.data.errors import DataError
from scoring.features.behavioural import (
    DEFAULT_EVENT_WINDOWS,
    behavioural_features,
    behavioural_features_panel,
)


def _lines(rows):
    frame = pd.DataFrame(
        rows,
        columns=[
            "customer_id",
            "order_id",
            "timestamp",
            "product_id",
            "quantity",
            "unit_price",
            "country",
        ],
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["customer_id"] = frame["customer_id"].astype("string")
    frame["order_id"] = frame["order_id"].astype("string")
    frame["product_id"] = frame["product_id"].astype("string")
    frame["country"] = frame["country"].astype("string")
    frame["amount"] = frame["quantity"] * frame["unit_price"]
    return frame


@pytest.fixture(scope="module")
def hand():
    transactions = _lines(
        [
            ("A", "O1", "2011-01-01 10:00", "P1", 1.0, 10.0, "United Kingdom"),
            ("A", "O1", "2011-01-01 10:00", "P2", 2.0, 5.0, "United Kingdom"),
            ("A", "O2", "2011-01-11 09:00", "P1", 3.0, 10.0, "United Kingdom"),
            ("A", "O3", "2011-01-31 23:59", "P3", 1.0, 50.0, "United Kingdom"),
            ("B", "O4", "2011-02-09 08:00", "P1", 1.0, 7.0, "France"),
            # at the cutoff (after midnight): must be ignored
            ("A", "O5", "2011-02-10 00:30", "P9", 100.0, 100.0, "Germany"),
            ("C", "O6", "2011-03-01 00:00", "P1", 1.0, 1.0, "France"),
        ]
    )
    returns = _lines(
        [
            ("A", "C1", "2011-01-12 12:00", "P1", -1.0, 10.0, "United Kingdom"),
            ("A", "C2", "2011-02-11 12:00", "P1", -5.0, 10.0, "United Kingdom"),
        ]
    )
    return transactions, returns


def test_hand_example(hand):
    transactions, returns = hand
    f = behavioural_features(transactions, "2011-02-10", returns=returns, horizon_days=30)
    assert f.index.tolist() == ["A", "B"]  # C's first order is after the cutoff
    a, b = f.loc["A"], f.loc["B"]
    assert a["n_orders"] == 3 and a["n_purchase_days"] == 3
    assert a["revenue_total"] == pytest.approx(100.0)
    # to the as-of day 2011-02-09 (features.activity: the one definition), not the cutoff
    assert a["days_since_last_order"] == 9 and a["tenure_days"] == 39
    assert a["orders_30d"] == 2 and a["revenue_30d"] == pytest.approx(80.0)
    assert a["orders_90d"] == 3 and a["orders_prev_30d"] == 1
    assert a["revenue_trend_30d"] == pytest.approx(np.log1p(80.0) - np.log1p(20.0))
    assert a["gap_mean_days"] == pytest.approx(15.0)
    assert a["gap_std_days"] == pytest.approx(5.0)
    assert a["gap_last_days"] == pytest.approx(20.0)
    assert a["recency_over_mean_gap"] == pytest.approx(10 / 15)
    assert a["lines_per_order"] == pytest.approx(4 / 3)
    assert a["units_per_order"] == pytest.approx(7 / 3)
    assert a["value_per_order"] == pytest.approx(100 / 3)
    assert a["max_order_value"] == pytest.approx(50.0)
    assert a["first_order_value"] == pytest.approx(20.0)
    assert a["n_products"] == 3 and a["products_per_order"] == pytest.approx(1.0)
    assert a["returned_value"] == pytest.approx(10.0)  # the return after the cutoff is ignored
    assert a["returned_value_share"] == pytest.approx(10 / 110)
    assert a["cancelled_order_share"] == pytest.approx(0.25)
    assert f["country"].tolist() == ["United Kingdom", "France"]
    assert b["days_since_last_order"] == 0 and b["tenure_days"] == 0
    assert np.isnan(b["gap_mean_days"]) and np.isnan(b["recency_over_mean_gap"])
    assert b["n_returned_lines"] == 0
    # the shop's data start after cutoff - 365 days: last year's window is unknown, not 0
    assert np.isnan(a["orders_same_window_last_year"])
    # relative features rank customers at this cutoff
    assert f["days_since_last_order_pct"].tolist() == [1.0, 0.5]


def _shift_after(transactions: pd.DataFrame, cutoff: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Copies of random rows moved to random times at/after the cutoff."""
    rng = np.random.default_rng(seed)
    extra = transactions.sample(n=min(500, len(transactions)), random_state=seed).copy()
    offsets = pd.to_timedelta(rng.integers(0, 400 * 24 * 60, len(extra)), unit="min")
    extra["timestamp"] = cutoff + offsets
    extra["amount"] = extra["amount"] * 3
    return pd.concat([transactions, extra], ignore_index=True)


@pytest.mark.parametrize(
    "dataset, cutoff", [("cdnow-sample", "1997-10-01"), ("synthetic", "2023-07-01")]
)
def test_rows_at_or_after_the_cutoff_change_nothing(dataset, cutoff):
    shop = load_dataset(dataset, n_customers=400, seed=3)
    cutoff = pd.Timestamp(cutoff)
    tx = shop.transactions
    before = tx.loc[tx["timestamp"] < cutoff]
    events = shop.events
    kwargs = {
        "returns": shop.returns if not shop.quarantine.empty else None,
        "customers": shop.customers,
        "horizon_days": 182,
    }
    reference = behavioural_features(
        before,
        cutoff,
        events=None if events is None else events.loc[events["timestamp"] < cutoff],
        **kwargs,
    )
    with_future = behavioural_features(_shift_after(tx, cutoff, 0), cutoff, events=events, **kwargs)
    pd.testing.assert_frame_equal(reference, with_future)
    if dataset == "synthetic":
        # events and profile columns are present
        assert {
            "site_visit_30d",
            "days_since_last_email_open",
            "email_opt_in",
            "days_since_signup",
            "gender",
        } <= set(reference.columns)
    else:
        # no products, no country: the columns degrade to NaN / absent
        assert reference["n_products"].isna().all()
        assert "country" not in reference


def test_panel_stacks_single_cutoffs():
    shop = load_dataset("cdnow-sample")
    cutoffs = ["1997-06-01", "1997-08-01"]
    panel = behavioural_features_panel(shop.transactions, cutoffs, horizon_days=90)
    assert panel.index.names == ["origin", "customer_id"]
    for cutoff in cutoffs:
        single = behavioural_features(shop.transactions, cutoff, horizon_days=90)
        pd.testing.assert_frame_equal(panel.xs(pd.Timestamp(cutoff), level="origin"), single)


def test_clear_errors(hand):
    transactions, _ = hand
    with pytest.raises(DataError, match="no order before the cutoff"):
        behavioural_features(transactions, "2000-01-01")
    with pytest.raises(DataError, match="missing column"):
        behavioural_features(transactions.drop(columns="amount"), "2011-02-10")
    with pytest.raises(DataError, match="not a date"):
        behavioural_features(transactions, "not a date")


def _naive_event_features(features: pd.DataFrame, events: pd.DataFrame, cutoff) -> pd.DataFrame:
    """Reference for the event columns: pandas groupby over one indicator table."""
    events = events.dropna(subset=["customer_id", "event_type", "timestamp"])
    day = events["timestamp"].dt.floor("D")
    events = events.loc[day < cutoff]
    age = ((cutoff - day.loc[events.index]) // pd.Timedelta(days=1)).astype("float64")
    out = pd.DataFrame(index=features.index)
    recency = {}
    for kind in sorted(events["event_type"].astype(str).unique()):
        is_type = events["event_type"] == kind
        for w in DEFAULT_EVENT_WINDOWS:
            hits = events.loc[is_type & (age <= w)].groupby("customer_id").size()
            out[f"{kind}_{w}d"] = hits.reindex(features.index).fillna(0).astype("float64")
        last = age[is_type].groupby(events.loc[is_type, "customer_id"]).min()
        recency[f"days_since_last_{kind}"] = last.reindex(features.index).astype("float64")
    for column, values in recency.items():
        out[column] = values
    return out


@pytest.mark.parametrize("order", ["time", "shuffled"])
def test_event_features_match_a_groupby_reference(order):
    """The event counts and recencies (integer codes, bincount per column) equal a pandas
    groupby of the events, with the events in time order (prefix) or shuffled (mask), rows
    without customer or type dropped, and no column for a type seen only after the cutoff."""
    shop = load_dataset("synthetic", n_customers=600, seed=5)
    events = shop.events.copy()
    if order == "shuffled":
        events = events.sample(frac=1.0, random_state=1)
    events.iloc[:3, events.columns.get_loc("customer_id")] = pd.NA
    events.iloc[3:5, events.columns.get_loc("event_type")] = pd.NA
    late = events.iloc[:2].copy()
    late["customer_id"] = events["customer_id"].dropna().iloc[0]
    late["event_type"] = "teleport"
    late["timestamp"] = pd.Timestamp("2030-01-01")
    events = pd.concat([events, late])
    for cutoff in (pd.Timestamp("2023-03-01"), pd.Timestamp("2023-07-01")):
        features = behavioural_features(shop.transactions, cutoff, events=events)
        expected = _naive_event_features(features, events, cutoff)
        assert "days_since_last_teleport" not in features
        pd.testing.assert_frame_equal(features[expected.columns], expected, check_names=False)
        assert [c for c in features if c in expected] == list(expected.columns)  # same order
