"""Data layer: built-in datasets, row accounting, bad input gives clear errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scoring.data import DataError, cleaning, io, load_dataset, load_files
from scoring.data.cleaning import QUARANTINE_RULES, customer_id_to_string
from scoring.data.loaders import ONLINE_RETAIL_COLUMNS, ONLINE_RETAIL_FILE, ONLINE_RETAIL_MD5
from scoring.data.schema import TRANSACTION_COLUMNS, TRANSACTION_REQUIRED

GOOD = pd.DataFrame(
    {
        "Invoice": ["1", "1", "2", "C3", "4", "5", "6", "6", "7", "8"],
        "StockCode": [
            "85048",
            "79323P",
            "85048",
            "85048",
            "POST",
            "85048",
            "79323P",
            "79323P",
            "85048",
            "85048",
        ],
        "Description": ["a", "b", "a", "a", "postage", "a", "b", "b", "a", "a"],
        "Quantity": [1, 2, 1, -1, 1, 0, 3, 3, 1, 1],
        "InvoiceDate": [
            "2011-01-01 10:00",
            "2011-01-01 10:00",
            "2011-02-01 09:00",
            "2011-02-02 09:00",
            "2011-02-03 09:00",
            "2011-02-04 09:00",
            "2011-03-01 12:00",
            "2011-03-01 12:00",
            "2011-03-02 12:00",
            "2011-03-03 12:00",
        ],
        "Price": [2.5, 1.0, 2.5, 2.5, 5.0, 2.5, 1.0, 1.0, 0.0, 2.5],
        "Customer ID": [1.0, 1.0, 2.0, 2.0, 1.0, 2.0, 3.0, 3.0, 3.0, None],
        "Country": ["UK"] * 10,
    }
)
EXPECTED_REASONS = {
    "cancellation": 1,
    "non_product_code": 1,
    "return": 1,
    "duplicate_row": 1,
    "non_positive_price": 1,
    "missing_customer_id": 1,
}


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
    frame = pd.DataFrame(
        {
            "customer": ["a", "a", "b"],
            "date": ["2020-01-01", "2020-02-01", "2020-01-05"],
            "revenue": [10.0, 20.0, 5.0],
        }
    )
    shop = load_files(write(frame, tmp_path / "x.csv"))
    # the lines come out in time order (cleaning.in_time_order)
    assert shop.transactions["amount"].tolist() == [10.0, 5.0, 20.0]
    assert shop.transactions["order_id"].nunique() == 3


def test_lines_and_events_come_out_in_time_order_and_history_is_a_slice(tmp_path):
    """The loaders sort order lines and events stably by time (same-moment lines keep their
    file order), so the history before a moment is a slice (``rows_before``), equal to the
    boolean mask's rows; an unsorted frame built by hand still gets the mask's rows."""
    import numpy as np

    from scoring.data.schema import rows_before

    frame = pd.DataFrame({
        "customer": ["a", "b", "a", "c", "b", "c"],
        "invoice": ["1", "2", "3", "4", "5", "6"],
        "date": ["2020-03-01", "2020-01-05", "2020-01-05", "2020-02-01", "2020-01-01",
                 "2020-01-05"],
        "revenue": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    events = pd.DataFrame({"customer_id": ["a", "b", "a"],
                           "timestamp": ["2020-02-02", "2020-01-02", "2020-01-03"],
                           "event_type": ["email_open", "email_open", "email_click"]})
    shop = load_files(write(frame, tmp_path / "x.csv"),
                      events=write(events, tmp_path / "events.csv"))
    tx = shop.transactions
    assert tx["order_id"].tolist() == ["5", "2", "3", "6", "4", "1"]  # stable on ties
    assert tx.index.equals(pd.RangeIndex(len(tx)))
    assert shop.events["timestamp"].is_monotonic_increasing
    assert shop.reports["transactions"]["rows_used"] == 6
    for end in ["2019-12-31", "2020-01-05", "2020-01-05 00:00:01", "2020-02-01", "2021-01-01"]:
        expected = tx.loc[tx["timestamp"] < pd.Timestamp(end)]
        before = rows_before(tx, end)
        pd.testing.assert_frame_equal(before, expected)
        if 0 < len(before) < len(tx):
            assert np.shares_memory(before["amount"].to_numpy(), tx["amount"].to_numpy())
        shuffled = tx.iloc[::-1]
        pd.testing.assert_frame_equal(rows_before(shuffled, end),
                                      shuffled.loc[shuffled["timestamp"] < pd.Timestamp(end)])


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
    with pytest.raises(
        DataError, match=r"shop\.json.*unsupported format '\.json'.*CSV, Parquet or Excel"
    ):
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
    with pytest.raises(
        DataError, match=r"needs an 'amount' column, or both 'quantity' and 'unit_price'"
    ):
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
    assert "column 'Quantity (as quantity)'" in message and "3 of 10" in message
    assert "'one'" in message and "shop.csv" in message


def test_non_numeric_price(tmp_path):
    frame = GOOD.copy()
    frame["Price"] = "n/a"
    with pytest.raises(
        DataError, match=r"column 'Price \(as unit_price\)'.*10 of 10 values are not numbers.*'n/a'"
    ):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_all_timestamps_unparsable(tmp_path):
    frame = GOOD.copy()
    frame["InvoiceDate"] = "yesterday"
    with pytest.raises(
        DataError, match=r"column 'InvoiceDate \(as timestamp\)'.*none of the 10 values.*'yesterday'"
    ):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_mixed_date_formats(tmp_path):
    frame = GOOD.copy()
    frame.loc[:4, "InvoiceDate"] = [
        "13/01/2011 10:00",
        "14/01/2011 10:00",
        "15/02/2011 09:00",
        "16/02/2011 09:00",
        "17/02/2011 09:00",
    ]
    with pytest.raises(DataError, match=r"5 of 10 values could not be read.*mixes date formats"):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_impossible_dates(tmp_path):
    frame = GOOD.copy()
    frame.loc[[1, 3], "InvoiceDate"] = ["1899-01-01 10:00", "2311-01-01 10:00"]
    with pytest.raises(DataError, match=r"2 impossible dates.*1899-01-01"):
        load_files(write(frame, tmp_path / "shop.csv"))


def test_day_first_dates_are_read(tmp_path):
    frame = GOOD.copy()
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"]).dt.strftime("%d/%m/%Y %H:%M")
    # Every day is 12 or less: day-first or month-first cannot be told, so it must be said.
    with pytest.raises(DataError, match="--date-format"):
        load_files(write(frame, tmp_path / "shop.csv"))
    shop = load_files(write(frame, tmp_path / "shop.csv"), date_format="%d/%m/%Y %H:%M")
    assert shop.transactions["timestamp"].min() == pd.Timestamp("2011-01-01 10:00")
    frame.loc[9, "InvoiceDate"] = "13/03/2011 12:00"  # one day above 12 settles the order
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
    customers = pd.DataFrame(
        {
            "customer_id": ["1", "2", "9", "9", None],
            "email": ["a@x", "b@x", "c@x", "c@x", "d@x"],
            "first_name": ["Ann", "Bob", "Cy", "Cy", "Di"],
            "signup_at": ["2010-12-01"] * 5,
            "email_opt_in": ["yes", "no", "1", "1", "0"],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["1", "9", "9", "2"],
            "timestamp": ["2011-03-01", "2011-03-02", "2011-03-02", "2011-03-03"],
            "event_type": ["email_open", "cart_add", "cart_add", "teleport"],
        }
    )
    shop = load_files(
        write(GOOD, tmp_path / "t.csv"),
        customers=write(customers, tmp_path / "c.csv"),
        events=write(events, tmp_path / "e.csv"),
    )
    assert shop.reports["customers"]["quarantined"] == {
        "missing_customer_id": 1,
        "duplicate_customer_id": 1,
    }
    assert shop.reports["events"]["quarantined"]["unknown_event_type"] == 1
    assert shop.reports["events"]["quarantined"]["duplicate_row"] == 1
    assert shop.customers["email_opt_in"].tolist() == [True, False, True]


# --------------------------------------------------------------------------------------
# Memory-lean cleaning: hashed duplicate detection, copy-free string clean-up, consuming
# cleaners and the column-wise Parquet reader give exactly the results of the plain pandas
# operations they replace.


@pytest.fixture(scope="module")
def retail_raw():
    """200k raw Online Retail II lines in canonical names (real values: blanks, NaN ids,
    cancellations, exact duplicate lines)."""
    raw = pd.read_parquet(ONLINE_RETAIL_FILE).iloc[:200_000]
    return io.map_columns(
        raw, ONLINE_RETAIL_COLUMNS, TRANSACTION_COLUMNS, TRANSACTION_REQUIRED, "online retail"
    )


@pytest.mark.parametrize("hash_bits", [64, 3, 0])
def test_duplicated_rows_matches_pandas_on_real_data(retail_raw, hash_bits):
    # 3 and 0 bits: most (or all) rows collide; the exact check must sort them out.
    expected = retail_raw.duplicated(keep="first").to_numpy()
    assert expected.sum() > 1000
    got = cleaning.duplicated_rows(retail_raw, hash_bits=hash_bits)
    np.testing.assert_array_equal(got, expected)


def test_forced_hash_collision_never_quarantines_distinct_rows():
    distinct = pd.DataFrame({"customer_id": ["1", "2", "3", "1"], "amount": [1.0, 1.0, 1.0, 2.0]})
    assert (cleaning.row_hashes(distinct, bits=0) == 0).all()  # every row collides
    assert not cleaning.duplicated_rows(distinct, hash_bits=0).any()
    copies = pd.concat([distinct, distinct.iloc[[2]]], ignore_index=True)
    assert cleaning.duplicated_rows(copies, hash_bits=0).tolist() == [False] * 4 + [True]


@pytest.mark.parametrize("hash_bits", [64, 1])
def test_missing_values_count_as_duplicates_exactly_as_pandas(hash_bits):
    nat = pd.NaT
    number = np.array([np.nan, np.nan, np.nan, 0.0, -0.0, np.nan, -0.0, float("nan")])
    number[5] = -np.abs(number[5])  # a NaN with another bit pattern is still NaN to pandas
    frame = pd.DataFrame(
        {
            "text": pd.array(["a", None, None, "a", "", None, "a", "b"], dtype="string"),
            "str_nan": pd.Series(["x", None, None, "x", "x", np.nan, "x", "x"], dtype="str"),
            "number": number,
            "when": pd.to_datetime(
                ["2011-01-01", None, None, "2011-01-01", "2011-01-01", nat, "2011-01-01", None]
            ),
            "count": pd.array([1, None, None, 1, 1, None, 1, 2], dtype="Int64"),
            "flag": [True, False, False, True, True, False, True, True],
            "mixed": pd.Series([1, None, None, 1, "1", np.nan, 1, 1], dtype=object),
            "kind": pd.Categorical(["u", None, None, "u", "u", None, "u", "v"]),
            "zoned": pd.to_datetime(["2011-01-01"] * 8).tz_localize("Europe/London"),
        }
    )
    assert frame["number"].to_numpy().view(np.uint64)[5] != number.view(np.uint64)[1]
    expected = frame.duplicated(keep="first").to_numpy()
    assert expected.tolist() == [False, False, True, False, False, True, True, False]
    np.testing.assert_array_equal(cleaning.duplicated_rows(frame, hash_bits=hash_bits), expected)
    for column in frame.columns:
        single = frame[[column]]
        np.testing.assert_array_equal(
            cleaning.duplicated_rows(single, hash_bits=hash_bits),
            single.duplicated(keep="first").to_numpy(),
            err_msg=column,
        )


def test_value_hashes_agree_across_arrow_chunks():
    # The same strings in different Arrow chunks (and slices) hash alike.
    chunked = pa.chunked_array([["a", None, "b"], ["b", "a", None, "c"]], type=pa.large_string())
    values = pd.Series(pd.arrays.ArrowStringArray(chunked))
    hashes = cleaning.value_hashes(values, np.empty(len(values), np.uint64), chunk_rows=2)
    assert hashes[0] == hashes[4] and hashes[2] == hashes[3] and hashes[1] == hashes[5]
    assert len({hashes[0], hashes[1], hashes[2], hashes[6]}) == 4


def test_map_chunks_returns_input_when_clean_and_transform_otherwise():
    clean = pd.Series(["12346", "x1", "7"] * 5, dtype="string")
    assert cleaning.map_chunks(clean, cleaning._stripped, chunk_rows=4) is clean
    messy = pd.Series(["12346.0", " x1 ", "", None, "nan", "7"] * 3, index=range(10, 28))
    expected = cleaning._stripped(messy)
    got = cleaning.map_chunks(messy, cleaning._stripped, chunk_rows=4)
    pd.testing.assert_series_equal(got, expected)
    mask = cleaning.mask_chunks(messy.astype("string"), lambda s: s.str.startswith("1"), 4)
    assert mask.tolist() == messy.astype("string").str.startswith("1").fillna(False).tolist()


def test_consuming_cleaners_give_the_same_tables(retail_raw):
    expected = cleaning.clean_transactions(retail_raw.copy(), "retail", as_of="2010-06-30")
    owned = retail_raw.copy()
    got = cleaning.clean_transactions(owned, "retail", as_of="2010-06-30", consume=True)
    assert owned.shape[1] == 0  # the input's columns were released
    assert got[2] == expected[2]
    assert got[2]["quarantined"]["duplicate_row"] > 0
    pd.testing.assert_frame_equal(got[0], expected[0])
    pd.testing.assert_frame_equal(got[1], expected[1])


def test_cleaning_chunked_columns_from_the_parquet_reader(tmp_path, retail_raw):
    # Written in 7 row groups: the reader keeps one Arrow chunk per row group, and the
    # chunk-by-chunk filters give the same tables as the plain whole-file read.
    path = tmp_path / "retail.parquet"
    retail_raw.iloc[:70_000].to_parquet(path, index=False, row_group_size=10_000)
    plain = pd.read_parquet(path)
    for column in plain.columns:
        if pd.api.types.is_string_dtype(plain[column]):
            plain[column] = plain[column].astype("string")
    lean = io.read_parquet_by_column(path)
    pd.testing.assert_frame_equal(lean, plain)
    assert lean["product_name"].array.__arrow_array__().num_chunks == 7
    expected = cleaning.clean_transactions(plain, "retail")
    got = cleaning.clean_transactions(lean, "retail", consume=True)
    assert got[2] == expected[2]
    pd.testing.assert_frame_equal(got[0], expected[0])
    pd.testing.assert_frame_equal(got[1], expected[1])


def test_consuming_event_cleaner_keeps_results(tmp_path):
    events = pd.DataFrame(
        {
            "customer_id": ["1", "9", "9", "2", None, "3"],
            "timestamp": pd.to_datetime(
                ["2011-03-01", "2011-03-02", "2011-03-02", "2011-03-03", "2011-03-04", "2011-03-05"]
            ),
            "event_type": [
                "email_open",
                " Cart_Add",
                " Cart_Add",
                "teleport",
                "site_visit",
                "site_visit",
            ],
        }
    )
    expected = cleaning.clean_events(events.copy(), as_of="2011-03-04")
    got = cleaning.clean_events(events.copy(), as_of="2011-03-04", consume=True)
    assert got[2] == expected[2]
    assert got[2]["quarantined"] == {
        "unparsable_timestamp": 0,
        "missing_timestamp": 0,
        "future_timestamp": 0,
        "missing_customer_id": 1,
        "unknown_event_type": 1,
        "duplicate_row": 1,
        "after_as_of": 1,
    }
    pd.testing.assert_frame_equal(got[0], expected[0])
    pd.testing.assert_frame_equal(got[1], expected[1])
    assert got[0]["event_type"].tolist() == ["email_open", "cart_add"]


def test_string_columns_come_out_of_the_loaders_in_one_chunk():
    """Arrow string columns of several chunks are combined once (a take over chunks copies
    the whole column first); the values, dtype and other columns do not change, and the
    loaders' tables have one chunk per string column."""
    chunks = [["a", None, "b"], ["c"], [], ["d", "e"]]
    frame = pd.DataFrame({
        "large": pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.large_string())),
        "small": pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.string())),
        "number": np.arange(6.0),
    })
    before = frame.copy(deep=True)
    out = cleaning.contiguous_strings(frame)
    pd.testing.assert_frame_equal(out, before)
    for column in ("large", "small"):
        assert out[column].array.__arrow_array__().num_chunks == 1
    shop = load_dataset("synthetic", n_customers=300, seed=1)
    for table in (shop.transactions, shop.events):
        for column in table:
            if isinstance(table[column].dtype, pd.StringDtype):
                assert table[column].array.__arrow_array__().num_chunks <= 1, column
