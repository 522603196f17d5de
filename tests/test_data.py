"""Data layer: built-in datasets, row accounting, bad input gives clear errors."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from scoring.data import DataError, load_dataset, load_files
from scoring.data.cleaning import QUARANTINE_RULES, customer_id_to_string
from scoring.data.loaders import ONLINE_RETAIL_FILE, ONLINE_RETAIL_MD5

GOOD = pd.DataFrame({
    "Invoice": ["1", "1", "2", "C3", "4", "5", "6", "6", "7", "8"],
    "StockCode": ["85048", "79323P", "85048", "85048", "POST", "85048", "79323P", "79323P", "85048", "85048"],
    "Description": ["a", "b", "a", "a", "postage", "a", "b", "b", "a", "a"],
    "Quantity": [1, 2, 1, -1, 1, 0, 3, 3, 1, 1],
    "InvoiceDate": ["2011-01-01 10:00", "2011-01-01 10:00", "2011-02-01 09:00",
                    "2011-02-02 09:00", "2011-02-03 09:00", "2011-02-04 09:00",
                    "2011-03-01 12:00", "2011-03-01 12:00", "2011-03-02 12:00",
                    "2011-03-03 12:00"],
    "Price": [2.5, 1.0, 2.5, 2.5, 5.0, 2.5, 1.0, 1.0, 0.0, 2.5],
    "Customer ID": [1.0, 1.0, 2.0, 2.0, 1.0, 2.0, 3.0, 3.0, 3.0, None],
    "Country": ["UK"] * 10,
})
EXPECTED_REASONS = {"cancellation": 1, "non_product_code": 1, "return": 1, "duplicate_row": 1,
                    "non_positive_price": 1, "missing_customer_id": 1}


@pytest.fixture(scope="module")
def online_retail():
    return load_dataset("online-retail-ii")


def write(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_bundled_file_is_the_documented_one():
    digest = hashlib.md5(ONLINE_RETAIL_FILE.read_bytes()).hexdigest()
    assert digest == ONLINE_RETAIL_MD5


def test_online_retail_accounting_adds_up(online_retail):
    report = online_retail.reports["transactions"]
    assert report["rows_in"] == 1_067_370
    assert report["rows_used"] + sum(report["quarantined"].values()) == report["rows_in"]
    assert report["rows_used"] == len(online_retail.transactions)
    assert sum(report["quarantined"].values()) == len(online_retail.quarantine)
    assert report["quarantined"]["missing_customer_id"] == 243_007
    assert set(report["quarantined"]) == set(QUARANTINE_RULES)


def test_online_retail_canonical_form(online_retail):
    tx = online_retail.transactions
    assert tx["customer_id"].dtype == "string"
    assert tx["customer_id"].str.fullmatch(r"\d+").all()  # "12346", never "12346.0"
    assert "12346" in set(tx["customer_id"])
    assert (tx["amount"] > 0).all() and (tx["quantity"] > 0).all()
    assert (tx["amount"] == tx["quantity"] * tx["unit_price"]).all()
    assert not tx["order_id"].str.startswith("C").any()
    assert not tx["product_id"].str.upper().isin(["POST", "DOT", "M", "BANK CHARGES"]).any()
    assert pd.api.types.is_datetime64_ns_dtype(tx["timestamp"])


def test_cancellations_and_returns_stay_available(online_retail):
    returns = online_retail.returns
    assert len(returns) > 10_000
    assert set(returns["quarantine_reason"]) <= {"cancellation", "return"}


def test_cdnow_datasets_have_published_customer_counts():
    assert load_dataset("cdnow-sample").transactions["customer_id"].nunique() == 2357
    cdnow = load_dataset("cdnow")
    assert cdnow.transactions["customer_id"].nunique() == 23570
    assert not cdnow.has_products


def test_every_rule_fires_once_and_counts_add_up(tmp_path):
    shop = load_files(write(GOOD, tmp_path / "shop.csv"))
    report = shop.reports["transactions"]
    assert {k: v for k, v in report["quarantined"].items() if v} == EXPECTED_REASONS
    assert report["rows_used"] == 4
    assert report["rows_in"] == len(GOOD)
    assert set(shop.transactions["customer_id"]) == {"1", "2", "3"}


def test_as_of_quarantines_the_future(tmp_path):
    shop = load_files(write(GOOD, tmp_path / "shop.csv"), as_of="2011-01-31")
    report = shop.reports["transactions"]
    assert report["quarantined"]["after_as_of"] >= 1
    assert shop.transactions["timestamp"].max() < pd.Timestamp("2011-02-01")
    assert report["rows_used"] + sum(report["quarantined"].values()) == report["rows_in"]


def test_parquet_excel_and_column_mapping(tmp_path):
    renamed = GOOD.rename(columns={"Customer ID": "buyer", "InvoiceDate": "when"})
    renamed.to_parquet(tmp_path / "shop.parquet")
    shop = load_files(tmp_path / "shop.parquet", columns="customer_id=buyer,timestamp=when")
    assert shop.reports["transactions"]["rows_used"] == 4
    GOOD.to_excel(tmp_path / "shop.xlsx", index=False)
    assert load_files(tmp_path / "shop.xlsx").reports["transactions"]["rows_used"] == 4


def test_amount_only_input(tmp_path):
    frame = pd.DataFrame({"customer": ["a", "a", "b"], "date": ["2020-01-01", "2020-02-01",
                                                               "2020-01-05"],
                          "revenue": [10.0, 20.0, 5.0]})
    shop = load_files(write(frame, tmp_path / "x.csv"))
    assert shop.transactions["amount"].tolist() == [10.0, 20.0, 5.0]
    assert shop.transactions["order_id"].nunique() == 3


def test_customer_id_float_to_string():
    ids = customer_id_to_string(pd.Series([12346.0, None, 7.0]))
    assert ids.tolist()[0] == "12346" and pd.isna(ids[1]) and ids[2] == "7"
    assert customer_id_to_string(pd.Series(["12346.0", " x1 ", ""])).tolist()[:2] == ["12346", "x1"]


# ----------------------------------------------------------------- bad input: clear errors


def test_file_not_found(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv.*not found"):
        load_files(tmp_path / "nope.csv")


def test_unsupported_format(tmp_path):
    path = tmp_path / "shop.json"
    path.write_text("{}")
    with pytest.raises(DataError, match=r"shop\.json.*unsupported format '\.json'.*CSV, Parquet or Excel"):
        load_files(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv.*empty"):
        load_files(path)
    path.write_text("Customer ID,InvoiceDate,Price,Quantity\n")
    with pytest.raises(DataError, match=r"header .* but no rows"):
        load_files(path)


def test_missing_required_column_lists_expected_and_found(tmp_path):
    frame = GOOD.drop(columns=["Customer ID"])
    with pytest.raises(DataError) as err:
        load_files(write(frame, tmp_path / "shop.csv"))
    message = str(err.value)
    assert "customer_id" in message and "found: Invoice, StockCode" in message
    assert "--columns" in message and "shop.csv" in message


def test_missing_money_columns(tmp_path):
    frame = GOOD.drop(columns=["Price"])
    with pytest.raises(DataError, match=r"needs an 'amount' column, or both 'quantity' and 'unit_price'"):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_mapping_to_a_column_that_does_not_exist(tmp_path):
    with pytest.raises(DataError, match=r"maps 'customer_id' to 'Client'.*found: Invoice"):
        load_files(write(GOOD, tmp_path / "shop.csv"), columns="customer_id=Client")


def test_non_numeric_quantity_names_column_values_and_count(tmp_path):
    frame = GOOD.copy()
    frame["Quantity"] = frame["Quantity"].astype(str)
    frame.loc[[0, 2, 6], "Quantity"] = ["one", "two", "lots"]
    with pytest.raises(DataError) as err:
        load_files(write(frame, tmp_path / "shop.csv"))
    message = str(err.value)
    assert "column 'quantity'" in message and "3 of 10" in message
    assert "'one'" in message and "shop.csv" in message


def test_non_numeric_price(tmp_path):
    frame = GOOD.copy()
    frame["Price"] = "n/a"
    with pytest.raises(DataError, match=r"column 'unit_price'.*10 of 10 values are not numbers.*'n/a'"):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_all_timestamps_unparsable(tmp_path):
    frame = GOOD.copy()
    frame["InvoiceDate"] = "yesterday"
    with pytest.raises(DataError, match=r"column 'timestamp'.*none of the 10 timestamps.*'yesterday'"):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_mixed_date_formats(tmp_path):
    frame = GOOD.copy()
    frame.loc[:4, "InvoiceDate"] = ["13/01/2011 10:00", "14/01/2011 10:00", "15/02/2011 09:00",
                                    "16/02/2011 09:00", "17/02/2011 09:00"]
    with pytest.raises(DataError, match=r"5 of 10 timestamps do not match.*mixed formats"):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_impossible_dates(tmp_path):
    frame = GOOD.copy()
    frame.loc[[1, 3], "InvoiceDate"] = ["1899-01-01 10:00", "2311-01-01 10:00"]
    with pytest.raises(DataError, match=r"2 impossible dates.*1899-01-01"):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_day_first_dates_are_read(tmp_path):
    frame = GOOD.copy()
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"]).dt.strftime("%d/%m/%Y %H:%M")
    shop = load_files(write(frame, tmp_path / "shop.csv"))
    assert shop.transactions["timestamp"].min() == pd.Timestamp("2011-01-01 10:00")


def test_few_unparsable_timestamps_are_quarantined(tmp_path):
    frame = pd.concat([GOOD.iloc[:3]] * 40, ignore_index=True)
    frame["Invoice"] = [str(i) for i in range(len(frame))]
    frame.loc[5, "InvoiceDate"] = "garbage"
    shop = load_files(write(frame, tmp_path / "shop.csv"))
    assert shop.reports["transactions"]["quarantined"]["unparsable_timestamp"] == 1


def test_all_rows_quarantined_is_an_error(tmp_path):
    frame = GOOD.assign(**{"Customer ID": None})
    with pytest.raises(DataError, match=r"no usable transactions: all 10 rows were quarantined"):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_too_few_customers_for_modelling(tmp_path):
    from scoring.data import require_customers

    shop = load_files(write(GOOD, tmp_path / "shop.csv"))
    with pytest.raises(DataError, match=r"only 3 customers.*needs at least 50"):
        require_customers(shop, 50)


def test_unknown_dataset():
    with pytest.raises(DataError, match=r"unknown dataset 'nope'.*online-retail-ii"):
        load_dataset("nope")


def test_customers_and_events_tables(tmp_path):
    customers = pd.DataFrame({"customer_id": ["1", "2", "9", "9", None],
                              "email": ["a@x", "b@x", "c@x", "c@x", "d@x"],
                              "first_name": ["Ann", "Bob", "Cy", "Cy", "Di"],
                              "signup_at": ["2010-12-01"] * 5,
                              "email_opt_in": ["yes", "no", "1", "1", "0"]})
    events = pd.DataFrame({"customer_id": ["1", "9", "9", "2"],
                           "timestamp": ["2011-03-01", "2011-03-02", "2011-03-02", "2011-03-03"],
                           "event_type": ["email_open", "cart_add", "cart_add", "teleport"]})
    shop = load_files(write(GOOD, tmp_path / "t.csv"), customers=write(customers, tmp_path / "c.csv"),
                      events=write(events, tmp_path / "e.csv"))
    assert shop.reports["customers"]["quarantined"] == {"missing_customer_id": 1,
                                                        "duplicate_customer_id": 1}
    assert shop.reports["events"]["quarantined"]["unknown_event_type"] == 1
    assert shop.reports["events"]["quarantined"]["duplicate_row"] == 1
    assert shop.customers["email_opt_in"].tolist() == [True, False, True]
