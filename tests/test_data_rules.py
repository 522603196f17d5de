"""Real-export classes of silent wrong answers: each gives the right numbers or a clear error.

Small inline fixtures, several variants per class: cancellations, duplicates over all source
columns, blank required cells, far-future timestamps, column guessing, command-line dates,
evaluation windows the data cannot fill, the scorer's input check, raw text in quarantine.
"""

from __future__ import annotations

import pandas as pd
import pytest

from scoring.cli import main
from scoring.data import DataError, load_files
from scoring.data.options import LoadOptions, parse_cli_date

NOW = pd.Timestamp("2026-11-30")


def lines(n: int = 40, **columns) -> pd.DataFrame:
    """``n`` distinct order lines of 10 customers over 2011, overridable column by column."""
    frame = pd.DataFrame({
        "Invoice": [f"{1000 + i}" for i in range(n)],
        "StockCode": [f"P{i % 7}" for i in range(n)],
        "Quantity": [1 + i % 3 for i in range(n)],
        "InvoiceDate": [(pd.Timestamp("2011-01-03 10:00") + pd.Timedelta(days=7 * i))
                        .strftime("%Y-%m-%d %H:%M") for i in range(n)],
        "Price": [2.5 + i % 4 for i in range(n)],
        "Customer ID": [str(100 + i % 10) for i in range(n)],
        "Country": ["United Kingdom"] * n,
    })
    for name, values in columns.items():
        frame[name] = values
    return frame


def load(frame: pd.DataFrame, tmp_path, name: str = "shop.csv", **kwargs):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    kwargs.setdefault("now", NOW)
    return load_files(path, **kwargs)


def reasons(shop) -> dict[str, int]:
    report = shop.reports["transactions"]
    assert report["rows_used"] + sum(report["quarantined"].values()) == report["rows_in"]
    return {k: v for k, v in report["quarantined"].items() if v}


# ----------------------------------------------------------------------- cancellations


@pytest.mark.parametrize("prefix", ["CN-", "C", "c", "CX"])
def test_orders_numbered_with_a_c_prefix_are_orders(tmp_path, prefix):
    frame = lines(Invoice=[f"{prefix}{1000 + i}" for i in range(40)])
    shop = load(frame, tmp_path)
    assert reasons(shop) == {}
    assert len(shop.transactions) == 40


def test_cancellation_is_the_prefix_and_a_non_positive_quantity(tmp_path):
    invoices = [f"{1000 + i}" for i in range(40)]
    quantity = [1 + i % 3 for i in range(40)]
    invoices[3], quantity[3] = "C1003", -2  # a cancellation
    invoices[4], quantity[4] = "c1004", -1  # lower case too
    invoices[5], quantity[5] = "C1005", 2  # C with a positive quantity: an order
    quantity[6] = -1  # a negative line without the prefix: a return
    shop = load(lines(Invoice=invoices, Quantity=quantity), tmp_path)
    assert reasons(shop) == {"cancellation": 2, "return": 1}
    assert "C1005" in set(shop.transactions["order_id"])


def test_cancellation_prefix_is_configurable_and_can_be_off(tmp_path):
    invoices = [f"{1000 + i}" for i in range(40)]
    quantity = [1 + i % 3 for i in range(40)]
    invoices[3], quantity[3] = "R-1003", -2
    invoices[4], quantity[4] = "C1004", -1
    custom = load(lines(Invoice=invoices, Quantity=quantity), tmp_path,
                  options=LoadOptions(cancellation_prefix="R-"))
    assert reasons(custom) == {"cancellation": 1, "return": 1}
    off = load(lines(Invoice=invoices, Quantity=quantity), tmp_path,
               options=LoadOptions(cancellation_prefix=""))
    assert reasons(off) == {"return": 2}


# ----------------------------------------------------------------------- duplicates


def test_lines_that_differ_in_an_unmapped_column_are_not_duplicates(tmp_path):
    frame = lines()
    frame.loc[1] = frame.loc[0]
    frame["Line"] = range(len(frame))  # the export's line number: not a canonical column
    shop = load(frame, tmp_path)
    assert reasons(shop) == {}
    frame.loc[2] = frame.loc[0]  # a true copy, line number included
    assert reasons(load(frame, tmp_path)) == {"duplicate_row": 1}


@pytest.mark.parametrize("name", ["shop.csv", "shop.parquet"])
def test_exact_copies_are_duplicates_in_every_format(tmp_path, name):
    frame = lines()
    frame = pd.concat([frame, frame.iloc[[0, 5, 5]]], ignore_index=True)
    assert reasons(load(frame, tmp_path, name)) == {"duplicate_row": 3}


# ----------------------------------------------------------------------- blank cells


@pytest.mark.parametrize("column", ["Price", "InvoiceDate", "Quantity"])
def test_mostly_blank_required_column_refuses_the_file(tmp_path, column):
    frame = lines()
    frame[column] = frame[column].astype(object)
    frame.loc[: 29, column] = None  # 75% blank
    with pytest.raises(DataError, match=rf"column '{column[:4]}.*blank \(30\).*--max-bad-share"):
        load(frame, tmp_path, columns=None)


def test_a_few_blank_cells_are_quarantined_with_their_own_reason(tmp_path):
    frame = lines(200)
    frame["Price"] = frame["Price"].astype(object)
    frame.loc[3, "Price"] = None
    frame.loc[4, "InvoiceDate"] = None
    shop = load(frame, tmp_path, options=LoadOptions(max_bad_share=0.02))
    assert reasons(shop) == {"missing_number": 1, "missing_timestamp": 1}


def test_max_bad_share_lets_a_mostly_blank_file_through_on_request(tmp_path):
    frame = lines()
    frame["Price"] = frame["Price"].astype(object)
    frame.loc[: 29, "Price"] = None
    shop = load(frame, tmp_path, options=LoadOptions(max_bad_share=0.8))
    assert reasons(shop) == {"missing_number": 30}


def test_amount_only_file_with_blank_amounts(tmp_path):
    frame = lines().drop(columns=["Price", "Quantity"]).assign(Amount=[5.0] * 40)
    frame["Amount"] = frame["Amount"].astype(object)
    frame.loc[: 9, "Amount"] = ""
    with pytest.raises(DataError, match="amount"):
        load(frame, tmp_path)


# ----------------------------------------------------------------------- raw values


def test_quarantine_keeps_the_raw_text_of_unreadable_fields(tmp_path):
    frame = lines(200)
    frame["Price"] = frame["Price"].astype(str)
    frame.loc[7, "Price"] = "twelve"
    frame.loc[8, "InvoiceDate"] = "not a date"
    shop = load(frame, tmp_path, options=LoadOptions(max_bad_share=0.02))
    quarantine = shop.quarantine.set_index("source_row")
    assert quarantine.loc[7, "quarantine_reason"] == "unparsable_number"
    assert quarantine.loc[7, "raw_unit_price"] == "twelve"
    assert quarantine.loc[8, "quarantine_reason"] == "unparsable_timestamp"
    assert quarantine.loc[8, "raw_timestamp"] == "not a date"


# ----------------------------------------------------------------------- future timestamps


@pytest.mark.parametrize("typo", ["2099-01-01 10:00", "2031-05-04 10:00", "2201-01-01 10:00"])
def test_a_mistyped_future_date_is_quarantined_and_does_not_move_the_as_of(tmp_path, typo):
    frame = lines()
    frame.loc[5, "InvoiceDate"] = typo
    shop = load(frame, tmp_path)
    assert reasons(shop) == {"future_timestamp": 1}
    assert shop.as_of == pd.Timestamp(frame["InvoiceDate"].drop(5).max())
    assert any("future_timestamp" in w for w in shop.warnings)


def test_timestamps_after_today_are_future(tmp_path):
    frame = lines()
    shop = load(frame, tmp_path, now=pd.Timestamp("2011-06-01"))
    assert reasons(shop)["future_timestamp"] == (pd.to_datetime(frame["InvoiceDate"])
                                                 > pd.Timestamp("2011-06-01 23:59:59")).sum()


# ----------------------------------------------------------------------- columns


def test_a_names_column_is_never_taken_as_the_customer_id(tmp_path):
    frame = lines().rename(columns={"Customer ID": "Client Number"})
    frame["Customer"] = ["Alice Smith", "Bob Jones", "Jean-Luc O'Neil", "Zoë Kraft"] * 10
    with pytest.raises(DataError, match="several columns could be.*customer_id"):
        load(frame, tmp_path)
    only_names = frame.drop(columns=["Client Number"])
    with pytest.raises(DataError, match="look like person names"):
        load(only_names, tmp_path)
    mapped = load(frame, tmp_path, columns="customer_id=Client Number")
    assert mapped.transactions["customer_id"].nunique() == 10


@pytest.mark.parametrize("name", ["Client ID", "client_number", "Kunden-Nr", "Member No",
                                  "user id", "CustomerNumber"])
def test_customer_id_columns_under_other_names_are_recognised(tmp_path, name):
    frame = lines().rename(columns={"Customer ID": name})
    assert load(frame, tmp_path).transactions["customer_id"].nunique() == 10


def test_the_exact_canonical_name_wins_over_an_alias(tmp_path):
    frame = lines()
    frame["Customer"] = ["Alice Smith"] * 40
    assert load(frame, tmp_path).transactions["customer_id"].nunique() == 10


@pytest.mark.parametrize("names", [("Client ID", "User ID"), ("Revenue", "Total"),
                                   ("Order Date", "Date")])
def test_several_candidates_for_a_required_column_are_refused(tmp_path, names):
    frame = lines()
    if names[0] == "Client ID":
        frame = frame.drop(columns=["Customer ID"])
    if names[0] == "Revenue":
        frame = frame.drop(columns=["Price"])
    if names[0] == "Order Date":
        frame = frame.drop(columns=["InvoiceDate"])
    frame[names[0]] = frame["Quantity"] if names[0] == "Revenue" else lines()[
        "Customer ID" if names[0] == "Client ID" else "InvoiceDate"]
    frame[names[1]] = frame[names[0]]
    with pytest.raises(DataError, match="several columns could be.*--columns"):
        load(frame, tmp_path)


@pytest.mark.parametrize("second", ["Price", "price", " Price "])
def test_duplicate_column_names_are_refused(tmp_path, second):
    path = tmp_path / "dup.csv"
    frame = lines()
    frame.to_csv(path, index=False)
    text = path.read_text().splitlines()
    text[0] += f",{second}"
    path.write_text("\n".join([text[0]] + [row + ",9.99" for row in text[1:]]) + "\n")
    with pytest.raises(DataError, match="(?i)more than once|duplicate"):
        load_files(path, now=NOW)


def test_duplicate_column_names_in_a_dataframe_input_are_refused(tmp_path):
    from scoring.data.columns import match_columns

    frame = pd.DataFrame([[1, 2, 3]], columns=["Customer ID", "Price", "PRICE"])
    with pytest.raises(DataError, match="more than once"):
        match_columns(frame, {}, ("customer_id", "unit_price"), ("customer_id",), "x")


# ----------------------------------------------------------------------- command-line dates


@pytest.mark.parametrize("text", ["09/06/2011", "2011-13-45", "2011-02-30", "June 9 2011",
                                  "20110609", "2011-06-09T00:00+02:00", "2011-06-09Z", ""])
def test_cli_dates_are_iso_only(text):
    with pytest.raises(DataError, match="--as-of"):
        parse_cli_date(text, "--as-of")


@pytest.mark.parametrize("text", ["2011-06-09", "2011-06-09T14:30", "2011-06-09 14:30:00"])
def test_cli_iso_dates_are_read(text):
    assert parse_cli_date(text, "--as-of").date() == pd.Timestamp("2011-06-09").date()


@pytest.mark.parametrize("argv", [
    ["data", "check", "--as-of", "09/06/2011"],
    ["data", "check", "--as-of", "2011-13-45"],
    ["data", "check", "--as-of", "2011-06-01T00:00+02:00"],
    ["evaluate", "--cutoff", "2011-13-45"],
    ["evaluate", "--cutoff", "2011-06-01T00:00+02:00"],
])
def test_bad_cli_dates_exit_2_without_traceback(tmp_path, capsys, argv):
    path = tmp_path / "shop.csv"
    lines().to_csv(path, index=False)
    code = main([*argv, "--transactions", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and ("YYYY-MM-DD" in err or "offset" in err)


# ----------------------------------------------------------------------- evaluation windows


def many_customers(frame: pd.DataFrame, n: int = 60) -> pd.DataFrame:
    return frame.assign(**{"Customer ID": [str(100 + i % n) for i in range(len(frame))]})


def test_evaluate_with_a_cutoff_after_the_data_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    path = tmp_path / "shop.csv"
    many_customers(lines(400)).to_csv(path, index=False)
    for cutoff in ("2030-01-01", "2019-01-01"):
        code = main(["evaluate", "--transactions", str(path), "--cutoff", cutoff,
                     "--skip-recommenders", "--out", str(tmp_path / "out")])
        assert code == 2
        assert "ends after the last order" in capsys.readouterr().err


@pytest.mark.parametrize("when", ["one day", "cutoff before the data"])
def test_evaluate_without_history_before_the_cutoff_exits_2(tmp_path, capsys, monkeypatch,
                                                             when):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    frame = many_customers(lines(400))
    extra = []
    if when == "one day":
        frame["InvoiceDate"] = "2011-03-01 10:00"
    else:
        extra = ["--cutoff", "2010-01-01", "--holdout-days", "30"]
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    code = main(["evaluate", "--transactions", str(path), "--skip-recommenders", *extra,
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "not enough history" in err and "Traceback" not in err


# ----------------------------------------------------------------------- end to end, by class


def test_every_sheet_of_a_workbook_is_read_and_accounted(tmp_path):
    first, second = lines(40), lines(30)
    second["Invoice"] = [f"{2000 + i}" for i in range(30)]
    second.loc[3, "Quantity"], second.loc[3, "Invoice"] = -1, "C2003"
    path = tmp_path / "shop.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"Sales report": ["exported 2011-12-10"]}).to_excel(
            writer, sheet_name="Cover", index=False)
        first.to_excel(writer, sheet_name="Year 1", index=False)
        second.to_excel(writer, sheet_name="Year 2", index=False)
    shop = load_files(path, now=NOW)
    report = shop.reports["transactions"]
    assert report["rows_in"] == 70 and reasons(shop) == {"cancellation": 1}
    assert report["parts"]["Year 1"]["rows_in"] == 40
    assert report["parts"]["Year 2"]["quarantined"]["cancellation"] == 1
    assert shop.quarantine["source_sheet"].tolist() == ["Year 2"]
    assert any("Cover" in w for w in shop.warnings)
    only = load_files(path, options=LoadOptions(sheet="Year 2"), now=NOW)
    assert only.reports["transactions"]["rows_in"] == 30


def test_offsets_among_plain_timestamps_are_converted(tmp_path):
    frame = lines()
    frame.loc[0, "InvoiceDate"] = "2011-01-03T10:00:00+01:00"
    frame.loc[1, "InvoiceDate"] = "2011-01-10T10:00:00Z"
    shop = load(frame, tmp_path)
    assert reasons(shop) == {}
    times = shop.transactions.set_index("order_id")["timestamp"]
    assert times["1000"] == pd.Timestamp("2011-01-03 09:00")
    assert times["1001"] == pd.Timestamp("2011-01-10 10:00")
    london = load(frame, tmp_path, options=LoadOptions(timezone="Europe/London"))
    assert london.transactions.set_index("order_id")["timestamp"]["1000"] == pd.Timestamp(
        "2011-01-03 09:00")


@pytest.mark.parametrize("text", ["inf", "Infinity", "-inf", "NaN"])
def test_non_finite_numbers_are_never_revenue(tmp_path, text):
    frame = lines(200)
    frame["Price"] = frame["Price"].astype(str)
    frame.loc[9, "Price"] = text
    shop = load(frame, tmp_path, options=LoadOptions(max_bad_share=0.02))
    assert reasons(shop) == {"unparsable_number": 1}
    assert shop.quarantine["raw_unit_price"].dropna().tolist() == [text]
    assert pd.Series(shop.transactions["amount"]).map(float).apply(pd.notna).all()


@pytest.mark.parametrize("ids", [[1.5e19, 2.5e19], [2.0**60, 3.0**40], [12.5, 13.5]])
def test_float_ids_that_lost_precision_exit_2(tmp_path, capsys, ids):
    frame = lines()
    frame["Customer ID"] = (ids * 20)[:40]
    path = tmp_path / "shop.parquet"
    frame.to_parquet(path, index=False)
    code = main(["data", "check", "--transactions", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "float" in err


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16", "utf-8-sig"])
def test_exports_in_other_encodings_read_the_same(tmp_path, capsys, encoding):
    frame = lines(200)
    frame["Country"] = ["España", "Österreich", "United Kingdom", "Côte d'Ivoire"] * 50
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False, encoding=encoding)
    code = main(["data", "check", "--transactions", str(path), "--out", str(tmp_path / "o")])
    assert code == 0, capsys.readouterr().err
    shop = load_files(path, now=NOW)
    assert set(shop.transactions["country"]) == set(frame["Country"])


def test_a_sep_line_and_semicolons_with_decimal_commas(tmp_path):
    frame = lines()
    frame["Price"] = [f"{p:.2f}".replace(".", ",") for p in frame["Price"]]
    path = tmp_path / "shop.csv"
    path.write_text("sep=;\n" + frame.to_csv(index=False, sep=";"))
    shop = load_files(path, now=NOW)
    assert shop.transactions["unit_price"].tolist() == lines()["Price"].tolist()


def test_require_unique_ids_names_the_table_the_count_and_the_repeats():
    import pandas as pd

    from scoring.data.errors import require_unique_ids

    require_unique_ids(pd.Series(["a", "b"], dtype="string"), "scores", "fix it.")
    with pytest.raises(DataError, match=r"scores, column 'customer_id': 1 missing id"):
        require_unique_ids(pd.Series(["a", None], dtype="string"), "scores", "fix it.")
    with pytest.raises(DataError, match=r"2 id\(s\) appear more than once \(5 rows\).*'a'.*fix"):
        require_unique_ids(pd.Series(["a", "a", "b", "b", "b", "c"]), "scores", "fix it.")
