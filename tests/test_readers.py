"""read_export: delimited text (dialect, encodings, title blocks), workbooks, duplicates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest

from scoring.data import DataError, io
from scoring.data.loaders import ONLINE_RETAIL_FILE
from scoring.data.readers import RawTable, read_export

STRING = pd.StringDtype("pyarrow")


def old_reader(path, sep=None) -> pd.DataFrame:
    """The reader ``io.read_table`` used before ``read_export`` (pandas' python engine)."""
    return pd.read_csv(
        path, sep=sep, engine="python", dtype=str, keep_default_na=False, na_values=[""]
    )


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(STRING)


def write_bytes(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def write_text(path, text: str, encoding: str = "utf-8") -> str:
    return write_bytes(path, text.encode(encoding))


def workbook(path, sheets: dict[str, list[list]]) -> str:
    """An .xlsx file with one sheet per entry (rows of cell values), built with openpyxl."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return str(path)


SHOP_ROWS = [
    ["Invoice", "Customer ID", "InvoiceDate", "Price", "Quantity"],
    ["536365", 17850, dt.datetime(2010, 12, 1, 8, 26), 2.55, 6],
    ["536366", 17850.0, dt.datetime(2010, 12, 1, 8, 28), 1.85, 6],
]


# ------------------------------------------------------------------------- delimited text


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_and_quoted_newlines(tmp_path, delimiter):
    d = delimiter
    text = (
        f"Invoice{d}Description{d}Price\n"
        f'1{d}"two{d} lines\nwith ""quotes"""{d}2.50\n'
        f"2{d}plain{d}3\n"
        f'3{d}"{d}"{d}\n'
    )
    table = read_export(write_text(tmp_path / "shop.csv", text))
    assert isinstance(table, RawTable)
    assert table.meta["delimiter"] == d and table.meta["delimiter_source"] == "sniffed"
    frame = table.frame
    assert list(frame.columns) == ["Invoice", "Description", "Price"]
    assert (frame.dtypes == STRING).all()
    assert frame["Description"].tolist() == [f'two{d} lines\nwith "quotes"', "plain", d]
    assert frame["Price"].tolist()[:2] == ["2.50", "3"] and pd.isna(frame["Price"][2])
    assert table.part is None and table.part_names == []


def test_tsv_suffix_means_tab(tmp_path):
    # Commas in the values would win a sniff; the suffix decides.
    text = "a\tb\n1,5\t2,5,3\n4,5\t5,5,6\n"
    table = read_export(write_text(tmp_path / "shop.tsv", text))
    assert table.meta["delimiter"] == "\t" and table.meta["delimiter_source"] == "suffix"
    assert table.frame["b"].tolist() == ["2,5,3", "5,5,6"]


def test_decimal_commas_with_semicolons(tmp_path):
    text = "Customer;Price;Amount\nA;1,50;3,00\nB;2,00;4,50\n"
    table = read_export(write_text(tmp_path / "shop.csv", text))
    assert table.meta["delimiter"] == ";"
    assert table.frame["Price"].tolist() == ["1,50", "2,00"]


def test_forced_delimiter(tmp_path):
    path = write_text(tmp_path / "shop.csv", "a;b,c\n1;2,3\n")
    assert list(read_export(path, delimiter=",").frame.columns) == ["a;b", "c"]
    assert list(read_export(path, delimiter="semicolon").frame.columns) == ["a", "b,c"]
    with pytest.raises(DataError, match=r"shop\.csv.*--delimiter must be one character"):
        read_export(path, delimiter=";;")


@pytest.mark.parametrize("hint, d", [("sep=;", ";"), ("sep=,", ","), ("sep=\t", "\t"),
                                     ('"sep=|"', "|")])  # fmt: skip
def test_excel_sep_line(tmp_path, hint, d):
    # Values hold another candidate delimiter; the hint decides and is not a row.
    o = ";" if d == "," else ","
    text = f"{hint}\nName{d}Price\nA{o}B{d}1{o}5\nC{o}D{d}2{o}5\n"
    table = read_export(write_text(tmp_path / "shop.csv", text))
    assert table.meta["delimiter"] == d and table.meta["delimiter_source"] == "sep-line"
    assert list(table.frame.columns) == ["Name", "Price"]
    assert table.frame["Name"].tolist() == [f"A{o}B", f"C{o}D"]
    assert table.meta["header_row"] == 2 and table.meta["warnings"] == []


def test_single_quote_char_when_needed(tmp_path):
    text = "id,name\n1,'Smith, John'\n2,'Doe, Jane'\n"
    table = read_export(write_text(tmp_path / "shop.csv", text))
    assert table.meta["quotechar"] == "'"
    assert table.frame["name"].tolist() == ["Smith, John", "Doe, Jane"]


def test_only_empty_cells_are_missing(tmp_path):
    text = 'id,value\n1,NA\n2,n/a\n3,-\n4,\n5,""\n6, \n7,null\n'
    frame = read_export(write_text(tmp_path / "shop.csv", text)).frame
    values = frame["value"].tolist()
    assert values[:3] == ["NA", "n/a", "-"] and values[5:] == [" ", "null"]
    assert pd.isna(values[3]) and pd.isna(values[4])


def test_rows_with_wrong_field_count(tmp_path):
    text = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n"
    with pytest.raises(DataError) as err:
        read_export(write_text(tmp_path / "shop.csv", text))
    message = str(err.value)
    assert "shop.csv" in message and "2 row(s)" in message and "3 fields" in message
    assert "'4,5' (2 fields)" in message and "--delimiter" in message


def test_blank_lines_are_skipped(tmp_path):
    text = "\n\na,b\n1,2\n\n   \n3,4\n"
    table = read_export(write_text(tmp_path / "shop.csv", text))
    assert table.frame["a"].tolist() == ["1", "3"]
    assert table.meta["header_row"] == 3 and table.meta["warnings"] == []


# ------------------------------------------------------------------------------ encodings


def test_utf8_bom_is_not_part_of_the_first_name(tmp_path):
    path = write_bytes(tmp_path / "shop.csv", b"\xef\xbb\xbfCustomer ID,Price\n1,2\n")
    table = read_export(path)
    assert list(table.frame.columns) == ["Customer ID", "Price"]
    assert table.meta["encoding"] == "utf-8" and table.meta["encoding_source"] == "bom"


@pytest.mark.parametrize("codec, name", [("utf-16", "utf-16-le"), ("utf-32", "utf-32-le")])
def test_utf16_and_utf32_with_bom(tmp_path, codec, name):
    text = "Name;City;Price\nZoë;Köln;£5\nRenée;Zürich;3\n"
    table = read_export(write_text(tmp_path / "shop.csv", text, codec))
    assert table.meta["encoding"] == name and table.meta["encoding_source"] == "bom"
    assert table.frame["City"].tolist() == ["Köln", "Zürich"]
    assert table.frame["Price"].tolist() == ["£5", "3"]


def test_utf16_big_endian_with_bom(tmp_path):
    data = b"\xfe\xff" + "a,b\né,2\n".encode("utf-16-be")
    table = read_export(write_bytes(tmp_path / "shop.csv", data))
    assert table.meta["encoding"] == "utf-16-be"
    assert table.frame["a"].tolist() == ["é"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom(tmp_path, codec):
    text = "Sales report\n\nName\tCity\nZoë\tKöln\nAnn\tParis\n"
    table = read_export(write_text(tmp_path / "shop.txt", text, codec))
    assert table.meta["encoding"] == codec and table.meta["encoding_source"] == "nul-pattern"
    assert table.frame["City"].tolist() == ["Köln", "Paris"]
    assert table.meta["header_row"] == 3


def test_cp1252_is_detected_with_a_warning(tmp_path):
    text = "Customer,Description,Price\n1,Café crème,£5.00\n2,Noël €,3\n"
    table = read_export(write_text(tmp_path / "shop.csv", text, "cp1252"))
    assert table.frame["Description"].tolist() == ["Café crème", "Noël €"]
    assert table.frame["Price"].tolist() == ["£5.00", "3"]
    assert table.meta["encoding"] == "cp1252" and table.meta["encoding_source"] == "detected"
    assert "read as cp1252 (detected); pass --encoding" in table.meta["warnings"][0]


def test_latin1_file(tmp_path):
    text = "Kunde;Stadt;Betrag\n1;München;12,50 £\n2;Düsseldorf;3\n3;Zoë;4\n"
    table = read_export(write_text(tmp_path / "shop.csv", text, "latin-1"))
    assert table.frame["Stadt"].tolist() == ["München", "Düsseldorf", "Zoë"]
    assert table.frame["Betrag"][0] == "12,50 £"
    assert table.meta["encoding_source"] == "detected"


def test_non_utf8_bytes_after_the_sample(tmp_path):
    # 100 KB of ASCII first: the sample looks like UTF-8, pyarrow finds the cp1252 bytes.
    lines = "".join(f"{i},plain\n" for i in range(12_000))
    text = "id,name\n" + lines + "99999,Café £\n"
    table = read_export(write_text(tmp_path / "shop.csv", text, "cp1252"))
    assert table.frame["name"].iloc[-1] == "Café £"
    assert len(table.frame) == 12_001
    assert table.meta["encoding"] == "cp1252"
    assert any("not UTF-8 after its first lines" in w for w in table.meta["warnings"])


def test_mixed_encodings_are_refused(tmp_path):
    head = "id,name\n1,Zoë\n".encode() + "".join(f"{i},x\n" for i in range(12_000)).encode()
    path = write_bytes(tmp_path / "shop.csv", head + "2,Café\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"shop\.csv.*mixes encodings.*UTF-8 up to byte offset"):
        read_export(path)


def test_forced_encoding(tmp_path):
    # cp1252 bytes that are valid UTF-8 too: only forcing gives the intended text.
    path = write_text(tmp_path / "shop.csv", "name\nÃ©\n", "cp1252")
    assert read_export(path).frame["name"][0] == "é"
    table = read_export(path, encoding="cp1252")
    assert table.frame["name"][0] == "Ã©"
    assert table.meta["encoding_source"] == "forced" and table.meta["warnings"] == []
    utf16 = write_text(tmp_path / "u.csv", "a,b\nx,é\n", "utf-16")
    assert read_export(utf16, encoding="UTF-16").frame["b"][0] == "é"


def test_undecodable_bytes_with_a_forced_encoding(tmp_path):
    path = write_text(tmp_path / "shop.csv", "Customer,Price\n1,£5\n", "cp1252")
    with pytest.raises(DataError) as err:
        read_export(path, encoding="utf-8")
    message = str(err.value)
    assert "shop.csv" in message and "offset 17" in message and "\\xa3" in message
    assert "--encoding cp1252" in message and "re-export it as UTF-8" in message
    with pytest.raises(DataError, match=r"shop\.csv.*unknown encoding 'klingon'"):
        read_export(path, encoding="klingon")


def test_undecodable_bytes_after_the_sample_with_a_forced_encoding(tmp_path):
    rows = "".join(f"{i},x\n" for i in range(20_000))
    path = write_bytes(tmp_path / "shop.csv", b"a,b\n" + rows.encode() + b"1,\x81\n")
    with pytest.raises(DataError) as err:
        read_export(path, encoding="cp1252")
    assert f"offset {4 + len(rows) + 2:,}" in str(err.value)
    assert "shop.csv" in str(err.value) and "--encoding" in str(err.value)


# ------------------------------------------------------------------------------ header row


def title_block(d: str, padded: bool) -> str:
    """A report header above the table; ``padded``: title lines carry the table's width
    of delimiters (as Excel writes them)."""
    pad = d * 2 if padded else ""
    return (
        f"Sales report{pad}\nExported 2011-12-10{pad}\n{pad}\n"
        f"Invoice{d}Customer ID{d}Price\n536365{d}17850{d}2.55\n536366{d}{d}1.85\n"
    )


@pytest.mark.parametrize("d", [",", ";", "\t"])
@pytest.mark.parametrize("padded", [False, True])
def test_title_block_above_the_header(tmp_path, d, padded):
    table = read_export(write_text(tmp_path / "report.csv", title_block(d, padded)))
    assert table.meta["delimiter"] == d
    assert list(table.frame.columns) == ["Invoice", "Customer ID", "Price"]
    assert table.frame["Invoice"].tolist() == ["536365", "536366"]
    assert pd.isna(table.frame["Customer ID"][1])
    assert table.meta["header_row"] == 4 and table.meta["header_source"] == "detected"
    assert "line 4" in table.meta["warnings"][0] and "'Sales report'" in table.meta["warnings"][0]


def test_header_row_forced(tmp_path):
    text = "Report 2011\nInvoice,Price\n1,2\nsecond header,x\n3,4\n"
    path = write_text(tmp_path / "shop.csv", text)
    assert read_export(path).meta["header_row"] == 2
    table = read_export(path, header_row=4)
    assert list(table.frame.columns) == ["second header", "x"]
    assert table.frame["x"].tolist() == ["4"] and table.meta["header_source"] == "forced"
    with pytest.raises(DataError, match=r"shop\.csv.*--header-row 9"):
        read_export(path, header_row=9)
    with pytest.raises(DataError, match=r"shop\.csv.*--header-row must be a row number"):
        read_export(path, header_row=0)


def test_numeric_first_row_is_still_the_header(tmp_path):
    # No title lines: the first row is the header even if it is numbers (years).
    text = "2009,2010,2011\n1,2,3\n"
    table = read_export(write_text(tmp_path / "shop.csv", text))
    assert list(table.frame.columns) == ["2009", "2010", "2011"]
    assert table.meta["header_source"] == "first-row" and table.meta["warnings"] == []


def test_unnamed_column_keeps_the_first_row(tmp_path):
    # A header with an empty name (a written index) is not "full": the first row stays.
    text = ",name,city\n0,alice,paris\n1,bob,rome\n"
    frame = read_export(write_text(tmp_path / "shop.csv", text)).frame
    assert list(frame.columns) == ["Unnamed: 0", "name", "city"]
    assert frame["name"].tolist() == ["alice", "bob"]


# -------------------------------------------------------------------------------- excel


def test_excel_cells_as_text(tmp_path):
    rows = SHOP_ROWS + [
        ["536367", None, dt.date(2010, 12, 2), 0.1, True],
        ["536368", "A12", dt.datetime(2010, 12, 1, 8, 26, 0, 500_000), 1e-5, ""],
        ["536369", 12346, dt.datetime(2010, 12, 1, 8, 25, 59, 999_999), 2.0**60, "n/a"],
    ]
    table = read_export(workbook(tmp_path / "shop.xlsx", {"Data": rows}))
    frame = table.frame
    assert (frame.dtypes == STRING).all()
    assert frame["Customer ID"].tolist()[:2] == ["17850", "17850"]
    assert pd.isna(frame["Customer ID"][2]) and frame["Customer ID"][3:].tolist() == [
        "A12",
        "12346",
    ]
    assert frame["InvoiceDate"].tolist() == [
        "2010-12-01 08:26:00",
        "2010-12-01 08:28:00",
        "2010-12-02 00:00:00",
        "2010-12-01 08:26:00.500",
        "2010-12-01 08:26:00",
    ]
    assert frame["Price"].tolist() == ["2.55", "1.85", "0.1", "1e-05", "1.152921504606847e+18"]
    assert frame["Quantity"].tolist()[:3] == ["6", "6", "TRUE"]
    assert pd.isna(frame["Quantity"][3]) and frame["Quantity"][4] == "n/a"
    assert table.part is None and table.part_names == ["Data"]
    assert table.meta["format"] == "excel" and table.meta["sheets_read"] == ["Data"]


def test_excel_title_block_and_forced_header_row(tmp_path):
    rows = [["Sales report"], ["Exported", dt.datetime(2011, 12, 10)], []] + SHOP_ROWS
    path = workbook(tmp_path / "report.xlsx", {"Report": rows})
    table = read_export(path)
    assert list(table.frame.columns) == SHOP_ROWS[0]
    assert table.frame["Invoice"].tolist() == ["536365", "536366"]
    assert table.meta["header_row"] == 4 and "row 4" in table.meta["warnings"][0]
    forced = read_export(path, header_row=5)
    assert list(forced.frame.columns)[:2] == ["536365", "17850"]
    assert forced.meta["header_source"] == "forced" and len(forced.frame) == 1


def test_excel_sheets_with_the_same_header_are_stacked(tmp_path):
    second = [[" invoice ", "Customer ID", "InvoiceDate", "PRICE", "Quantity"]] + [
        ["537000", 12346, dt.datetime(2011, 1, 5, 10, 0), 3.0, 1]
    ]
    path = workbook(
        tmp_path / "shop.xlsx",
        {
            "Cover": [["Online shop export"], ["Generated 2011-12-10"]],
            "Year 2009-2010": SHOP_ROWS,
            "Notes": [],
            "Year 2010-2011": [["Orders of 2010-2011"], []] + second,
        },
    )
    table = read_export(path)
    assert table.frame["Invoice"].tolist() == ["536365", "536366", "537000"]
    assert table.frame["Price"].tolist() == ["2.55", "1.85", "3"]
    assert table.part_names == ["Year 2009-2010", "Year 2010-2011"]
    assert table.part.tolist() == [0, 0, 1]
    assert table.meta["sheets_read"] == table.part_names
    assert set(table.meta["sheets_skipped"]) == {"Cover", "Notes"}
    assert table.meta["sheets_skipped"]["Notes"] == "empty"
    assert table.meta["header_rows"] == {"Year 2009-2010": 1, "Year 2010-2011": 3}
    assert any("'Cover' skipped" in w for w in table.meta["warnings"])


def test_excel_sheets_with_different_tables_are_refused(tmp_path):
    path = workbook(
        tmp_path / "shop.xlsx",
        {"Orders": SHOP_ROWS, "Customers": [["Customer ID", "Country"], [17850, "UK"]]},
    )
    with pytest.raises(DataError) as err:
        read_export(path)
    message = str(err.value)
    assert "shop.xlsx" in message and "--sheet NAME" in message
    assert "'Orders' (row 1): Invoice, Customer ID" in message
    assert "'Customers' (row 1): Customer ID, Country" in message
    by_name = read_export(path, sheet="Customers")
    assert by_name.frame["Country"].tolist() == ["UK"] and by_name.part_names == ["Customers"]
    by_index = read_export(path, sheet="1")
    assert list(by_index.frame.columns) == SHOP_ROWS[0]
    assert read_export(path, sheet=2).part_names == ["Customers"]
    with pytest.raises(DataError) as err:
        read_export(path, sheet="Returns")
    message = str(err.value)
    assert "shop.xlsx" in message and "no sheet 'Returns'" in message
    assert "1: 'Orders', 2: 'Customers'" in message and "--sheet" in message


def test_excel_empty_and_header_only(tmp_path):
    path = workbook(tmp_path / "empty.xlsx", {"Sheet1": []})
    with pytest.raises(DataError, match=r"empty\.xlsx.*no header and no rows"):
        read_export(path)
    path = workbook(tmp_path / "header.xlsx", {"Sheet1": [SHOP_ROWS[0]]})
    with pytest.raises(DataError, match=r"header\.xlsx.*has a header \(Invoice, .*\) but no rows"):
        read_export(path)


def test_excel_duplicate_columns(tmp_path):
    path = workbook(tmp_path / "shop.xlsx", {"Data": [["Price", "Qty", "price "], [1, 2, 3]]})
    with pytest.raises(DataError) as err:
        read_export(path)
    message = str(err.value)
    assert "shop.xlsx, sheet 'Data'" in message and "'Price' and 'price'" in message
    assert "columns 1 and 3" in message and "rename them in the export" in message


def test_xls_needs_an_engine(tmp_path):
    pytest.importorskip("openpyxl")
    try:
        import xlrd  # noqa: F401

        pytest.skip("xlrd is installed")
    except ImportError:
        pass
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
    with pytest.raises(DataError, match=r"shop\.xls.*needs the xlrd package.*save it as \.xlsx"):
        read_export(write_bytes(tmp_path / "shop.xls", data))


def test_text_file_with_an_excel_suffix(tmp_path):
    table = read_export(write_text(tmp_path / "export.xls", "a\tb\n1\t2\n"))
    assert table.frame["b"].tolist() == ["2"] and table.meta["format"] == "csv"
    assert "text file despite its Excel suffix" in table.meta["warnings"][0]
    html = write_text(tmp_path / "page.xls", "<html><table><tr><td>1</td></tr></table></html>")
    with pytest.raises(DataError, match=r"page\.xls.*web page.*save .* as \.xlsx or CSV"):
        read_export(html)
    html = write_text(tmp_path / "page.csv", "<!DOCTYPE html><html><body>Login</body></html>")
    with pytest.raises(DataError, match=r"page\.csv.*web page"):
        read_export(html)


def test_workbook_with_a_csv_suffix(tmp_path):
    path = workbook(tmp_path / "shop.xlsx", {"Data": SHOP_ROWS})
    renamed = tmp_path / "shop.csv"
    renamed.write_bytes(open(path, "rb").read())
    table = read_export(renamed)
    assert table.meta["format"] == "excel" and "Excel workbook" in table.meta["warnings"][0]


# ----------------------------------------------------------------------- column names


@pytest.mark.parametrize(
    "header, described",
    [
        ("Price,Qty,Price", "'Price' and 'Price' (columns 1 and 3)"),
        ("Price,Qty, price ", "'Price' and 'price' (columns 1 and 3)"),
        ("a,Customer  ID,customer id", "'Customer  ID' and 'customer id' (columns 2 and 3)"),
    ],
)
def test_duplicate_column_names_are_refused(tmp_path, header, described):
    with pytest.raises(DataError) as err:
        read_export(write_text(tmp_path / "shop.csv", header + "\n1,2,3\n"))
    message = str(err.value)
    assert "shop.csv" in message and described in message
    assert "rename them in the export" in message


def test_names_are_stripped(tmp_path):
    text = "\ufeff  Customer ID ,\tPrice\t, Qty\n1,2,3\n"
    frame = read_export(write_text(tmp_path / "shop.csv", text)).frame
    assert list(frame.columns) == ["Customer ID", "Price", "Qty"]


def test_parquet_as_stored(tmp_path):
    frame = pd.DataFrame({" Price ": [1.5, 2.0], "Customer ID": [1, 2]})
    frame.to_parquet(tmp_path / "shop.parquet")
    table = read_export(tmp_path / "shop.parquet")
    assert list(table.frame.columns) == ["Price", "Customer ID"]
    assert table.frame["Price"].dtype == np.float64 and table.meta["format"] == "parquet"
    pd.DataFrame({"a": [1], "A ": [2]}).to_parquet(tmp_path / "dup.parquet")
    with pytest.raises(DataError, match=r"dup\.parquet.*duplicate column names"):
        read_export(tmp_path / "dup.parquet")


# ----------------------------------------------------------------------- missing, empty


def test_missing_unsupported_empty(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: transactions file not found \(working dir"):
        read_export(tmp_path / "nope.csv")
    (tmp_path / "shop.json").write_text("{}")
    with pytest.raises(DataError, match=r"unsupported format '\.json'.*CSV, Parquet or Excel"):
        read_export(tmp_path / "shop.json")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: the customers file is empty \(0 bytes\)"):
        read_export(tmp_path / "empty.csv", "customers")
    for content in ("\n\n", "\ufeff", "\ufeff\n  \n"):
        (tmp_path / "blank.csv").write_text(content)
        with pytest.raises(DataError, match=r"blank\.csv: the transactions file has no header"):
            read_export(tmp_path / "blank.csv")
    (tmp_path / "header.csv").write_text("Customer ID,Price\n")
    with pytest.raises(DataError, match=r"has a header \(Customer ID, Price\) but no rows"):
        read_export(tmp_path / "header.csv")


def test_read_table_returns_the_frame(tmp_path):
    path = write_text(tmp_path / "shop.csv", "a;b\n1;2\n")
    frame = io.read_table(path, "customers")
    assert list(frame.columns) == ["a", "b"] and frame["b"].dtype == STRING
    assert list(io.read_table(path, delimiter=",").columns) == ["a;b"]


# -------------------------------------------------------------- same values as before


@pytest.mark.parametrize(
    "text",
    [
        "a,b,c\n1,2,3\n4,,6\n",
        'id;text;price\n1;"semi;colon";1,5\n2;"line\nbreak";2\n3;"""quoted""";\n',
        "id\tname\n1\tNA\n2\tn/a\n3\t-\n",
        "x|y\n1|2\r\n3|4\r\n",
        "\ufeffCustomer ID,Description\n12346.0,Café\n,\n",
        'a,b\n"",1\n" ",2\n',
        "a,b,\n1,2,\n3,4,\n",
        "a,b\n1, x \n2,y",
    ],
)
def test_same_values_as_the_old_reader(tmp_path, text):
    path = write_text(tmp_path / "shop.csv", text)
    new = read_export(path).frame
    old = as_strings(old_reader(path))
    old.columns = [c.replace("\ufeff", "").strip() for c in old.columns]
    pd.testing.assert_frame_equal(new, old)


def test_same_values_as_the_old_reader_on_online_retail(tmp_path):
    sample = pd.read_parquet(ONLINE_RETAIL_FILE).head(2000)
    path = tmp_path / "online_retail.csv"
    sample.to_csv(path, index=False)
    new = read_export(path).frame
    pd.testing.assert_frame_equal(new, as_strings(old_reader(path)))
    assert new["Customer ID"][0] == "13085.0" and len(new) == 2000
