"""The synthetic shop: reproducibility, canonical schema, internal consistency with its
truth table, and the known-truth check (lifetimes' BG/NBD recovers the generating
parameters)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data

from scoring.data import cleaning
from scoring.data.errors import DataError
from scoring.data.schema import (
    CUSTOMER_COLUMNS,
    DATETIME_COLUMNS,
    EVENT_COLUMNS,
    EVENT_TYPES,
    FLOAT_COLUMNS,
    STRING_COLUMNS,
    TRANSACTION_COLUMNS,
)
from scoring.data.synthetic import (
    GENERATOR_VERSION,
    PRODUCT_COLUMNS,
    TABLES,
    TRUTH_COLUMNS,
    SyntheticParams,
    generate_shop,
    read_shop,
    write_shop,
)


@pytest.fixture(scope="module")
def shop():
    return generate_shop(6000, seed=7)


@pytest.fixture(scope="module")
def purchases(shop):
    tx = shop.transactions
    return tx[(tx["quantity"] > 0) & ~tx["order_id"].str.startswith("C")]


def _assert_shops_equal(left, right):
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name))


def test_same_seed_gives_identical_tables():
    first = generate_shop(1500, seed=11)
    second = generate_shop(1500, seed=11)
    _assert_shops_equal(first, second)
    other = generate_shop(1500, seed=12)
    assert not first.transactions["amount"].equals(other.transactions["amount"])


def test_tables_have_canonical_columns_and_dtypes(shop):
    expected = {
        "transactions": TRANSACTION_COLUMNS,
        "customers": CUSTOMER_COLUMNS,
        "events": EVENT_COLUMNS,
        "products": PRODUCT_COLUMNS,
        "truth": TRUTH_COLUMNS,
    }
    for name, columns in expected.items():
        frame = getattr(shop, name)
        assert tuple(frame.columns) == columns, name
        for column in frame.columns:
            dtype = frame[column].dtype
            if column in STRING_COLUMNS:
                assert dtype == "string", (name, column, dtype)
            elif column in DATETIME_COLUMNS:
                assert dtype == "datetime64[ns]", (name, column, dtype)
            elif column in FLOAT_COLUMNS:
                assert dtype == "float64", (name, column, dtype)
    assert shop.customers["email_opt_in"].dtype == "boolean"
    assert shop.truth["first_purchase_at"].dtype == "datetime64[ns]"
    assert shop.truth["alive_at_cutoff"].dtype == bool
    assert shop.truth["orders_holdout"].dtype == np.int64
    tx = shop.transactions
    assert tx["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert tx[["customer_id", "order_id", "timestamp", "product_id", "amount"]].notna().all().all()
    assert tx["timestamp"].is_monotonic_increasing
    assert tx["product_id"].isin(shop.products["product_id"]).all()
    assert shop.products["product_id"].is_unique and shop.products["product_name"].is_unique
    assert shop.customers["customer_id"].is_unique
    assert shop.customers["customer_id"].equals(shop.truth["customer_id"])
    assert (
        shop.customers["email"].str.fullmatch(r"[a-z]+\.[a-z]+\.\d{7}@example\.(com|org|net)").all()
    )


def test_amount_is_exactly_quantity_times_unit_price(shop, purchases):
    tx = shop.transactions
    assert (tx["amount"] == tx["quantity"] * tx["unit_price"]).all()
    assert (tx["quantity"] == np.round(tx["quantity"])).all()
    assert (purchases["quantity"] >= 1).all() and (purchases["unit_price"] > 0).all()
    # each order's lines add up to a whole number of cents (the Gamma-Gamma order value)
    cents = purchases.groupby("order_id")["amount"].sum() * 100
    assert np.allclose(cents, np.round(cents), atol=1e-6)
    # no product twice in an order: the cleaning rules never see duplicate rows
    assert not purchases.duplicated(["order_id", "product_id"]).any()


def test_truth_matches_transactions(shop, purchases):
    truth = shop.truth.set_index("customer_id")
    buyers = truth[~truth["is_lead"]]
    day = purchases["timestamp"].dt.floor("D")
    holdout = purchases[day >= shop.cutoff]
    calibration = purchases[day < shop.cutoff]
    assert (holdout["timestamp"] < shop.end).all()

    def per_buyer(series):
        return series.reindex(buyers.index, fill_value=0)

    orders_holdout = per_buyer(holdout.groupby("customer_id")["order_id"].nunique())
    assert (orders_holdout == buyers["orders_holdout"]).all()
    days_holdout = per_buyer(holdout.assign(day=day).groupby("customer_id")["day"].nunique())
    assert (days_holdout == buyers["purchase_days_holdout"]).all()
    revenue = per_buyer(holdout.groupby("customer_id")["amount"].sum())
    np.testing.assert_allclose(revenue, buyers["revenue_holdout"], rtol=1e-9, atol=1e-9)
    orders_before = per_buyer(calibration.groupby("customer_id")["order_id"].nunique())
    assert (orders_before == buyers["orders_before_cutoff"]).all()
    assert (buyers["orders_before_cutoff"] >= 1).all()  # acquired before the cutoff
    first = purchases.groupby("customer_id")["timestamp"].min()
    assert (first.reindex(buyers.index) == buyers["first_purchase_at"]).all()
    assert (buyers["first_purchase_at"] >= shop.start).all()
    assert (buyers["first_purchase_at"] < shop.cutoff).all()
    # a customer who dropped out before the cutoff never buys again
    dead = buyers[~buyers["alive_at_cutoff"]]
    assert (dead["dropout_at"] < shop.cutoff).all()
    assert (dead["orders_holdout"] == 0).all()
    last = purchases.groupby("customer_id")["timestamp"].max()
    dropped = buyers[buyers["dropout_at"].notna()]
    assert (last.reindex(dropped.index) == dropped["dropout_at"]).all()
    profiles = shop.customers.set_index("customer_id")
    assert (profiles.loc[buyers.index, "signup_at"] <= buyers["first_purchase_at"]).all()


def test_leads_never_buy(shop):
    truth = shop.truth
    leads = truth.loc[truth["is_lead"], "customer_id"]
    assert len(leads) == round(len(truth) * shop.params.lead_share)
    assert not shop.transactions["customer_id"].isin(leads).any()
    lead_rows = truth[truth["is_lead"]]
    assert lead_rows["purchase_rate_per_day"].isna().all()
    assert lead_rows["first_purchase_at"].isna().all()
    assert (lead_rows[["orders_before_cutoff", "orders_holdout"]] == 0).all().all()
    assert shop.customers.loc[shop.customers["customer_id"].isin(leads), "signup_at"].notna().all()


def test_bgnbd_recovers_generating_parameters():
    """Known truth: lifetimes' BG/NBD fitted on the calibration period of a 10k-customer
    shop recovers r, alpha (per day), a, b within 25%."""
    shop = generate_shop(10_000, seed=3)
    tx = shop.transactions
    tx = tx[(tx["quantity"] > 0) & (tx["timestamp"] < shop.cutoff)]
    summary = summary_data_from_transaction_data(
        tx, "customer_id", "timestamp", freq="D", observation_period_end=shop.observation_end
    )
    assert len(summary) == (~shop.truth["is_lead"]).sum()
    model = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    for name in ("r", "alpha", "a", "b"):
        truth = getattr(shop.params, name)
        assert model.params_[name] == pytest.approx(truth, rel=0.25), name

    # with the true parameters, BG/NBD's conditional expectation matches the holdout
    model.params_ = pd.Series(
        {name: getattr(shop.params, name) for name in ("r", "alpha", "a", "b")}
    )
    expected = model.conditional_expected_number_of_purchases_up_to_time(
        shop.holdout_days, summary["frequency"], summary["recency"], summary["T"]
    )
    actual = shop.truth.set_index("customer_id").loc[summary.index, "purchase_days_holdout"]
    assert expected.sum() == pytest.approx(actual.sum(), rel=0.08)


def test_order_values_follow_gamma_gamma(shop, purchases):
    params = shop.params
    values = purchases.groupby("order_id").agg(
        customer_id=("customer_id", "first"), value=("amount", "sum")
    )
    nu = shop.truth.set_index("customer_id")["spend_nu"]
    # E[value | nu] = p / nu, and the population mean is p * v / (q - 1)
    ratio = values["value"] * nu.loc[values["customer_id"]].to_numpy() / params.p
    assert ratio.mean() == pytest.approx(1.0, abs=0.03)
    assert values["value"].mean() == pytest.approx(params.p * params.v / (params.q - 1), rel=0.1)


def test_cart_abandoners_exist(shop, purchases):
    carts = shop.events[shop.events["event_type"] == "cart_add"].sort_values("timestamp")
    orders = (
        purchases.groupby("order_id", as_index=False)
        .agg(customer_id=("customer_id", "first"), order_at=("timestamp", "first"))
        .sort_values("order_at")
    )
    matched = pd.merge_asof(
        carts,
        orders,
        left_on="timestamp",
        right_on="order_at",
        by="customer_id",
        direction="forward",
    )
    followed = (matched["order_at"] - matched["timestamp"]) <= pd.Timedelta(days=7)
    abandoned = ~followed
    assert abandoned.sum() > 0 and followed.sum() > 0
    assert 0.3 < abandoned.mean() < 0.95
    assert matched.loc[abandoned, "customer_id"].nunique() > 100


def test_events_use_schema_types(shop):
    events = shop.events
    assert set(events["event_type"].unique()) == set(EVENT_TYPES)
    has_product = events["event_type"].isin(["product_view", "cart_add"])
    assert events.loc[has_product, "product_id"].notna().all()
    assert events.loc[~has_product, "product_id"].isna().all()
    assert events["timestamp"].is_monotonic_increasing
    assert (events["timestamp"] < shop.end).all()
    assert not events.duplicated().any()
    assert events["customer_id"].isin(shop.customers["customer_id"]).all()
    emails = events[events["event_type"].isin(["email_open", "email_click"])]
    opted_in = shop.customers.loc[shop.customers["email_opt_in"], "customer_id"]
    assert emails["customer_id"].isin(opted_in).all()
    assert 2 < len(events) / len(shop.customers) < 20  # a few events per customer


def test_cancellations_and_returns_mirror_a_real_export(shop, purchases):
    tx = shop.transactions
    negative = tx[tx["quantity"] < 0]
    cancelled = negative[negative["order_id"].str.startswith("C")]
    returned = negative[~negative["order_id"].str.startswith("C")]
    assert len(cancelled) > 0 and len(returned) > 0
    assert (tx.loc[tx["order_id"].str.startswith("C"), "quantity"] < 0).all()
    # a cancellation mirrors every line of an existing order
    original = purchases.set_index(["order_id", "product_id"])["quantity"]
    key = pd.MultiIndex.from_arrays([cancelled["order_id"].str[1:], cancelled["product_id"]])
    assert (original.reindex(key).to_numpy() == -cancelled["quantity"].to_numpy()).all()
    assert not returned["order_id"].isin(purchases["order_id"]).any()

    # the data layer's quarantine rules catch exactly these rows, nothing else
    used, quarantine, report = cleaning.clean_transactions(tx, "synthetic")
    assert report["quarantined"]["cancellation"] == len(cancelled)
    assert report["quarantined"]["return"] == len(returned)
    assert report["rows_used"] == len(purchases)
    assert sum(report["quarantined"].values()) == len(negative)
    _, _, event_report = cleaning.clean_events(shop.events, "synthetic events")
    assert event_report["rows_used"] == len(shop.events)
    _, _, customer_report = cleaning.clean_customers(shop.customers, "synthetic customers")
    assert customer_report["rows_used"] == len(shop.customers)


def test_products_show_popularity_taste_and_repeat_buying(shop, purchases):
    share = purchases["product_id"].value_counts(normalize=True)
    assert share.iloc[0] < 0.05  # skewed, but no single product dominates
    assert share.iloc[:30].sum() > 30 * share.median()  # long tail
    day = purchases["timestamp"].dt.floor("D")
    first = day.groupby([purchases["customer_id"], purchases["product_id"]]).transform("min")
    assert 0.25 < (day > first).mean() < 0.55  # Online Retail II: about 37%
    # customers of the same taste cluster buy more alike than customers of different ones:
    # product mix of each cluster on even vs odd orders, overlap same vs different cluster
    cluster = shop.truth.set_index("customer_id")["taste_cluster"]
    row_cluster = cluster.loc[purchases["customer_id"]].to_numpy()
    even = (purchases["order_id"].str[-1].astype(int) % 2 == 0).to_numpy()
    mixes = []
    for half in (even, ~even):
        counts = pd.crosstab(row_cluster[half], purchases["product_id"].to_numpy()[half])
        mixes.append(counts.div(counts.sum(axis=1), axis=0))
    first_half, second_half = mixes[0].align(mixes[1], join="inner")
    overlap = np.minimum(first_half.to_numpy()[:, None, :], second_half.to_numpy()[None]).sum(2)
    same = np.diag(overlap).mean()
    different = overlap[~np.eye(len(overlap), dtype=bool)].mean()
    assert same > different + 0.1


def test_write_and_read_round_trip(tmp_path):
    shop = generate_shop(800, seed=5, lead_share=0.3, cancellation_rate=0.05)
    out = write_shop(shop, tmp_path / "shop")
    for name in TABLES:
        assert (out / f"{name}.parquet").exists()
    back = read_shop(out)
    _assert_shops_equal(shop, back)
    assert back.params == shop.params and back.seed == 5
    assert back.cutoff == shop.cutoff and back.holdout_days == shop.holdout_days
    assert back.generator_version == GENERATOR_VERSION
    (out / "synthetic.json").unlink()  # a cache from before versioning: detectable
    assert read_shop(out).generator_version == 0


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="SyntheticParams.r"):
        generate_shop(100, r=-1.0)
    with pytest.raises(ValueError, match="lead_share"):
        generate_shop(100, lead_share=1.5)
    with pytest.raises(TypeError, match="unknown parameter"):
        generate_shop(100, not_a_parameter=1)
    with pytest.raises(ValueError, match="cutoff"):
        generate_shop(100, start="2023-01-01", cutoff="2022-01-01")
    with pytest.raises(ValueError, match="acquisition_days"):
        generate_shop(100, acquisition_days=10_000)
    with pytest.raises(DataError, match="transactions.parquet"):
        read_shop(tmp_path)


def test_edge_sizes_and_custom_params():
    tiny = generate_shop(1, seed=0, lead_share=0.0)
    assert len(tiny.truth) == 1 and len(tiny.transactions) >= 1
    only_leads = generate_shop(20, seed=0, lead_share=1.0)
    assert only_leads.transactions.empty and only_leads.truth["is_lead"].all()
    assert tuple(only_leads.transactions.columns) == TRANSACTION_COLUMNS
    params = dataclasses.replace(SyntheticParams(), acquisition_days=84, return_rate=0.0)
    cohort = generate_shop(500, seed=1, params=params)
    first = cohort.truth["first_purchase_at"].dropna()
    assert (first < cohort.start + pd.Timedelta(days=84)).all()
    negative = cohort.transactions[cohort.transactions["quantity"] < 0]
    assert negative["order_id"].str.startswith("C").all()
