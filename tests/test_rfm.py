"""rfm_summary and calibration_and_holdout equal lifetimes' on random inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

from scoring.data import load_dataset
from scoring.features.rfm import calibration_and_holdout, rfm_summary

START = pd.Timestamp("2020-01-01")


# Id forms that take each path of rfm's customer keys: short ids read from the Arrow buffers,
# ids spread too wide to share an int64 with the day (dense codes), long / non-ASCII ids and
# non-Arrow storage (hash factorization).
ID_FORMS = {
    "short": ("c{}", "string"),
    "numeric": ("{}", "str"),
    "wide": ("~~~~~~{}", "string"),  # with "!"-prefixed ids below: > 62 bits apart
    "long": ("customer-{:012d}", "string"),
    "unicode": ("kü{}", "string"),
    "object": ("c{}", object),
}


@st.composite
def transaction_logs(draw, max_rows: int = 60):
    """Random logs at day resolution: several lines per day allowed, ids as strings."""
    n = draw(st.integers(1, max_rows))
    customers = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 120), min_size=n, max_size=n))
    amounts = draw(st.lists(st.floats(0.01, 500, allow_nan=False), min_size=n, max_size=n))
    form, dtype = ID_FORMS[draw(st.sampled_from(sorted(ID_FORMS)))]
    ids = [form.format(c) if c % 3 or form[0] != "~" else f"!{c}" for c in customers]
    return pd.DataFrame({
        "customer_id": pd.Series(ids, dtype=dtype),
        "timestamp": START + pd.to_timedelta(days, unit="D"),
        "amount": amounts,
    })


def lifetimes_summary(log: pd.DataFrame, end) -> pd.DataFrame:
    theirs = summary_data_from_transaction_data(log, "customer_id", "timestamp", "amount",
                                                observation_period_end=end)
    theirs.index = theirs.index.astype("string")
    return theirs.sort_index()


@settings(max_examples=150, deadline=None)
@given(log=transaction_logs(), end_day=st.integers(0, 130))
def test_rfm_summary_equals_lifetimes(log, end_day):
    end = START + pd.Timedelta(days=end_day)
    if (log["timestamp"] > end).all():
        return  # lifetimes has nothing to summarise
    ours = rfm_summary(log, end)
    pd.testing.assert_frame_equal(ours, lifetimes_summary(log, end), check_names=False,
                                  check_index_type=False, rtol=1e-9)


@settings(max_examples=150, deadline=None)
@given(log=transaction_logs(), cutoff_day=st.integers(1, 100), holdout=st.integers(1, 40))
def test_calibration_and_holdout_equals_lifetimes(log, cutoff_day, holdout):
    # lifetimes' holdout monetary value is a mean per line, ours per purchase day: compare on
    # logs with one line per customer and day, where both definitions agree.
    log = log.drop_duplicates(["customer_id", "timestamp"])
    cutoff = START + pd.Timedelta(days=cutoff_day)
    end = cutoff + pd.Timedelta(days=holdout - 1)
    in_holdout = (log["timestamp"] >= cutoff) & (log["timestamp"] <= end)
    if not (log["timestamp"] < cutoff).any() or not in_holdout.any():
        return  # lifetimes raises on an empty calibration or holdout
    theirs = calibration_and_holdout_data(log, "customer_id", "timestamp",
                                          calibration_period_end=cutoff - pd.Timedelta(days=1),
                                          observation_period_end=end,
                                          monetary_value_col="amount")
    theirs.index = theirs.index.astype("string")
    theirs = theirs.sort_index()
    ours = calibration_and_holdout(log, cutoff, holdout)
    mapping = {"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T",
               "monetary_value_cal": "monetary_value"}
    for their_column, our_column in mapping.items():
        np.testing.assert_allclose(ours[our_column], theirs[their_column], rtol=1e-9)
    for column in ("frequency_holdout", "monetary_value_holdout", "duration_holdout"):
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-9)


def test_online_retail_split_convention():
    """Holdout = [cutoff, cutoff + 182 days); calibration = every day before the cutoff."""
    tx = load_dataset("online-retail-ii").transactions
    cal = calibration_and_holdout(tx, "2011-06-09", 182)
    before = tx.loc[tx["timestamp"] < "2011-06-09"]
    assert len(cal) == before["customer_id"].nunique() == 4941
    window = tx.loc[(tx["timestamp"] >= "2011-06-09") & (tx["timestamp"] < "2011-12-08")]
    active = window.loc[window["customer_id"].isin(before["customer_id"])]
    assert np.isclose(cal["revenue_holdout"].sum(), active["amount"].sum())
    assert (cal["frequency_holdout"] > 0).sum() == active["customer_id"].nunique()
    assert round(float((cal["frequency_holdout"] == 0).mean()), 3) == 0.481  # churn rate


def test_intraday_purchases_on_the_last_calibration_day_stay_in_calibration():
    log = pd.DataFrame({"customer_id": pd.Series(["a", "a", "a"], dtype="string"),
                        "timestamp": pd.to_datetime(["2020-01-01 09:00", "2020-01-09 15:30",
                                                     "2020-01-12 10:00"]),
                        "amount": [10.0, 20.0, 30.0], "order_id": ["1", "2", "3"]})
    cal = calibration_and_holdout(log, "2020-01-10", 5)
    assert cal.loc["a", "frequency"] == 1 and cal.loc["a", "recency"] == 8
    assert cal.loc["a", "frequency_holdout"] == 1 and cal.loc["a", "revenue_holdout"] == 30.0


def test_no_purchase_before_the_end_gives_an_empty_table_not_an_index_error():
    from scoring.data import DataError
    from scoring.evaluation.churn_revenue import evaluate_churn_revenue

    shop = load_dataset("cdnow-sample")
    assert rfm_summary(shop.transactions, "1990-01-01").empty
    assert calibration_and_holdout(shop.transactions, "1990-01-01", 90).empty
    with pytest.raises(DataError, match="no customer has an order before the cutoff"):
        evaluate_churn_revenue(shop, "1990-01-01", 90)
