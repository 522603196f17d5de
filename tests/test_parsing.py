"""scoring.data.parsing: one format per column, inferred from all values, or a clear error."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.data import cleaning, parsing
from scoring.data.errors import DataError
from scoring.data.parsing import (
    Parsed,
    future_timestamps,
    parse_dates,
    parse_ids,
    parse_numbers,
)

T = pd.Timestamp


def text(values) -> pd.Series:
    """A text column as the CSV reader gives it (``string`` dtype, <NA> for empty)."""
    return pd.Series(values, dtype="string")


def dates(values, **kwargs) -> Parsed:
    return parse_dates(text(values), "ts", "orders.csv", **kwargs)


def stamps(parsed: Parsed) -> list:
    return [None if pd.isna(v) else v for v in parsed.values]


def error(call, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    return str(info.value)


def assert_names_source_and_column(message: str, column: str = "ts") -> None:
    assert "orders.csv" in message and f"column {column!r}" in message


@pytest.fixture
def small_slices(monkeypatch):
    """Read text in slices of 3 rows (sampled on 2), to exercise evidence across slices
    and the path that does not dictionary-encode."""
    monkeypatch.setattr(cleaning, "CHUNK_ROWS", 3)
    monkeypatch.setattr(parsing, "_SAMPLE_ROWS", 2)


# ------------------------------------------------------------------------ day/month order


AMBIGUOUS = ["01/03/2011 08:26", "05/04/2011 10:00", "12/11/2011 17:45", None]


def test_ambiguous_day_month_is_refused_with_the_fix():
    message = error(dates, AMBIGUOUS)
    assert_names_source_and_column(message)
    assert "ambiguous" in message
    assert "'01/03/2011 08:26'" in message and "3 read differently" in message
    assert "--date-format '%d/%m/%Y %H:%M'" in message
    assert "--date-format '%m/%d/%Y %H:%M'" in message and "date_format" in message


@pytest.mark.parametrize(
    ("date_format", "expected"),
    [("%d/%m/%Y %H:%M", T("2011-03-01 08:26")), ("%m/%d/%Y %H:%M", T("2011-01-03 08:26"))],
)
def test_ambiguous_day_month_is_read_with_the_given_format(date_format, expected):
    parsed = dates(AMBIGUOUS, date_format=date_format)
    assert parsed.values.iloc[0] == expected
    assert parsed.detected == date_format
    assert parsed.blank.tolist() == [False, False, False, True]
    assert not parsed.bad.any()


@pytest.mark.parametrize("sep", ["/", "-", "."])
@pytest.mark.parametrize("year", ["2011", "11"])
@pytest.mark.parametrize("time", ["", " 14:30", " 14:30:15"])
def test_day_first_from_one_day_above_12(sep, year, time):
    values = [f"01{sep}03{sep}{year}{time}", f"13{sep}02{sep}{year}{time}", f"5{sep}6{sep}{year}"]
    parsed = dates(values)
    clock = pd.Timedelta(time.strip() + (":00" if time.count(":") == 1 else "") or "0s")
    assert stamps(parsed)[:2] == [T("2011-03-01") + clock, T("2011-02-13") + clock]
    assert stamps(parsed)[2] == T("2011-06-05")
    year_code = "%Y" if len(year) == 4 else "%y"
    assert parsed.detected.startswith(f"%d{sep}%m{sep}{year_code}")


@pytest.mark.parametrize("sep", ["/", "-", "."])
def test_month_first_from_one_second_field_above_12(sep):
    parsed = dates([f"02{sep}13{sep}2011", f"03{sep}01{sep}2011", f"12{sep}31{sep}2010"])
    assert stamps(parsed) == [T("2011-02-13"), T("2011-03-01"), T("2010-12-31")]
    assert parsed.detected == f"%m{sep}%d{sep}%Y"


def test_evidence_in_the_last_slice_decides_for_the_whole_column(small_slices):
    values = ["01/02/2011 10:00"] * 7 + ["02/01/2011 10:00", "25/12/2011 10:00"]
    parsed = dates(values)
    assert parsed.values.iloc[0] == T("2011-02-01 10:00")
    assert parsed.values.iloc[7] == T("2011-01-02 10:00")
    assert parsed.values.iloc[8] == T("2011-12-25 10:00")


def test_same_results_in_small_and_large_slices(monkeypatch):
    values = ["1/2/2011 1:05 PM", "12/31/2011 12:00 AM", None, " 3/4/2011 9:00 am ", "x"] * 20
    whole = dates(values, max_bad_share=0.5)
    monkeypatch.setattr(cleaning, "CHUNK_ROWS", 7)
    monkeypatch.setattr(parsing, "_SAMPLE_ROWS", 3)
    sliced = dates(values, max_bad_share=0.5)
    pd.testing.assert_series_equal(whole.values, sliced.values)
    assert (whole.bad == sliced.bad).all() and (whole.blank == sliced.blank).all()
    assert whole.bad.sum() == 20 and whole.blank.sum() == 20


def test_am_pm():
    parsed = dates(["02/13/2011 12:05 AM", "02/13/2011 12:05 PM", "02/13/2011 1:30 p.m."])
    assert stamps(parsed) == [T("2011-02-13 00:05"), T("2011-02-13 12:05"), T("2011-02-13 13:30")]
    assert parsed.detected == "%m/%d/%Y %I:%M %p"


def test_am_pm_with_an_impossible_hour_is_bad():
    parsed = dates(["02/13/2011 1:30 PM"] * 200 + ["02/13/2011 13:30 PM"])
    assert parsed.bad.tolist() == [False] * 200 + [True]


def test_mixed_day_month_orders_are_refused():
    message = error(dates, ["13/02/2011", "02/13/2011", "01/01/2011"])
    assert_names_source_and_column(message)
    assert "mixes day/month orders" in message
    assert "'13/02/2011'" in message and "'02/13/2011'" in message


def test_day_equal_to_month_everywhere_is_not_ambiguous():
    parsed = dates(["01/01/2011", "12/12/2011 10:00", "05/05/2011"])
    assert stamps(parsed) == [T("2011-01-01"), T("2011-12-12 10:00"), T("2011-05-05")]


def test_impossible_calendar_dates_are_bad_not_evidence():
    values = ["13/02/2011"] * 200 + ["31/02/2011", "32/01/2011"]
    parsed = dates(values)
    assert parsed.bad.tolist() == [False] * 200 + [True, True]
    assert parsed.detected == "%d/%m/%Y"


def test_two_digit_years_pivot_at_69():
    parsed = dates(["13/02/11", "13/02/99"], max_bad_share=1.0)
    assert stamps(parsed) == [T("2011-02-13"), T("1999-02-13")]


# ---------------------------------------------------------------------------------- ISO 8601


def test_iso_variants_in_one_column():
    values = ["2011-06-09", "2011-06-09 14:30", "2011-06-09T14:30:05", "2011-06-09T14:30:05.25"]
    parsed = dates(values)
    assert stamps(parsed) == [
        T("2011-06-09"),
        T("2011-06-09 14:30"),
        T("2011-06-09 14:30:05"),
        T("2011-06-09 14:30:05.250"),
    ]
    assert parsed.detected == "ISO8601"
    assert parsed.values.dtype == "datetime64[ns]"


@pytest.mark.parametrize("offset", ["Z", "+00:00", "+0000", " UTC"])
def test_iso_utc_designators(offset):
    parsed = dates([f"2011-06-09T14:30:00{offset}"])
    assert stamps(parsed) == [T("2011-06-09 14:30")]
    assert parsed.detected == "ISO8601 with UTC offsets -> UTC"


def test_iso_summer_and_winter_offsets_to_utc():
    parsed = dates(
        ["2011-06-09T14:30:00+01:00", "2011-01-09T14:30:00+00:00", "2011-03-01T08:00-0500"]
    )
    assert stamps(parsed) == [T("2011-06-09 13:30"), T("2011-01-09 14:30"), T("2011-03-01 13:00")]
    assert any("+01:00" in w and "-05:00" in w for w in parsed.warnings)


def test_iso_offsets_to_europe_london():
    parsed = dates(
        ["2011-06-09T14:30:00+01:00", "2011-01-09T14:30:00Z", "2011-06-09T13:30:00Z"],
        timezone="Europe/London",
    )
    assert stamps(parsed) == [T("2011-06-09 14:30"), T("2011-01-09 14:30"), T("2011-06-09 14:30")]
    assert parsed.detected == "ISO8601 with UTC offsets -> Europe/London"


def test_iso_mixed_offset_and_plain_values():
    parsed = dates(["2011-06-09T14:30:00+02:00", "2011-06-09 14:30:00"], timezone="Europe/London")
    # with an offset: converted to London time (13:30); without: already London time
    assert stamps(parsed) == [T("2011-06-09 13:30"), T("2011-06-09 14:30")]
    assert "without offset taken as Europe/London" in parsed.detected
    assert any("no UTC offset" in w for w in parsed.warnings)


def test_iso_8601_as_date_format_reads_offsets_too():
    parsed = dates(["2011-06-09T14:30:00+01:00", "2011-06-09"], date_format="ISO8601")
    assert stamps(parsed) == [T("2011-06-09 13:30"), T("2011-06-09")]


def test_exact_format_with_offsets_is_converted():
    parsed = dates(["2011-06-09 14:30 +0100"], date_format="%Y-%m-%d %H:%M %z")
    assert stamps(parsed) == [T("2011-06-09 13:30")]


def test_year_first_with_slashes():
    assert stamps(dates(["2011/06/09 14:30"])) == [T("2011-06-09 14:30")]


def test_compact_dates():
    parsed = dates(["20110609", "20111231"])
    assert stamps(parsed) == [T("2011-06-09"), T("2011-12-31")]
    assert parsed.detected == "%Y%m%d"
    numeric = parse_dates(pd.Series([20110609, 20111231]), "ts")
    assert stamps(numeric) == [T("2011-06-09"), T("2011-12-31")]


def _twelve_hour(t: datetime) -> str:
    return f"{(t.hour % 12) or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


DATE_WRITERS = {
    # name: (writer, resolution kept)
    "%d/%m/%Y %H:%M": (lambda t: t.strftime("%d/%m/%Y %H:%M"), "min"),
    "%m/%d/%Y %H:%M:%S": (lambda t: t.strftime("%m/%d/%Y %H:%M:%S"), "s"),
    "%d.%m.%Y": (lambda t: t.strftime("%d.%m.%Y"), "D"),
    "%d-%m-%y %H:%M": (lambda t: t.strftime("%d-%m-%y %H:%M"), "min"),
    "m/d/Y I:M p unpadded": (lambda t: f"{t.month}/{t.day}/{t.year} {_twelve_hour(t)}", "min"),
    "ISO T": (lambda t: t.strftime("%Y-%m-%dT%H:%M:%S"), "s"),
    "ISO fraction Z": (lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%fZ"), "us"),
    "%Y/%m/%d": (lambda t: t.strftime("%Y/%m/%d"), "D"),
    "%Y%m%d": (lambda t: t.strftime("%Y%m%d"), "D"),
}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.datetimes(datetime(1990, 1, 2), datetime(2068, 12, 30)), min_size=1, max_size=30),
    st.sampled_from(sorted(DATE_WRITERS)),
)
def test_formatted_dates_read_back(moments, layout):
    write, resolution = DATE_WRITERS[layout]
    moments = [*moments, datetime(2010, 12, 25, 13, 45, 30, 123456)]  # day > 12: evidence
    parsed = dates([write(t) for t in moments])
    expected = pd.Series(pd.to_datetime(moments)).dt.floor(resolution).astype("datetime64[ns]")
    pd.testing.assert_series_equal(parsed.values, expected, check_names=False)
    assert not parsed.bad.any()


def test_epoch_numbers_are_utc_instants():
    parsed = dates(["1307629800"], timezone="Europe/London")
    assert stamps(parsed) == [T("2011-06-09 15:30")]
    numeric = parse_dates(pd.Series([1307629800]), "ts", timezone="Europe/London")
    assert stamps(numeric) == [T("2011-06-09 15:30")]


def test_object_column_with_tz_aware_timestamps():
    values = pd.Series([T("2011-06-09 15:30", tz="Europe/Paris"), T("2011-01-09 15:30", tz="UTC")])
    assert stamps(parse_dates(values.astype(object), "ts")) == [
        T("2011-06-09 13:30"),
        T("2011-01-09 15:30"),
    ]


# ------------------------------------------------------------------------ datetime input


def test_tz_aware_datetimes_are_converted_then_naive():
    aware = pd.Series(pd.to_datetime(["2011-06-09 15:30", "2011-01-09 15:30"]))
    aware = aware.dt.tz_localize("Europe/Paris")
    parsed = parse_dates(aware, "ts")
    assert stamps(parsed) == [T("2011-06-09 13:30"), T("2011-01-09 14:30")]
    london = parse_dates(aware, "ts", timezone="Europe/London")
    assert stamps(london) == [T("2011-06-09 14:30"), T("2011-01-09 14:30")]
    assert london.values.dtype == "datetime64[ns]"


def test_naive_datetimes_are_kept_as_nanoseconds():
    naive = pd.Series(pd.to_datetime(["2011-06-09 15:30", None]).as_unit("us"))
    parsed = parse_dates(naive, "ts")
    assert parsed.values.dtype == "datetime64[ns]"
    assert parsed.blank.tolist() == [False, True] and not parsed.bad.any()


def test_datetimes_out_of_range_are_refused():
    message = error(parse_dates, pd.Series(pd.to_datetime(["1980-01-01", "2011-01-01"])), "ts")
    assert "impossible dates" in message and "1980" in message
    one_typo = pd.Series(pd.to_datetime(["2011-01-01"] * 200 + ["2300-01-01"]).as_unit("us"))
    parsed = parse_dates(one_typo, "ts")
    assert parsed.bad[-1] and parsed.values.dtype == "datetime64[ns]"  # beyond datetime64[ns]


def test_object_column_with_timestamps():
    values = pd.Series([T("2011-06-09 14:30"), "2011-06-10 10:00", None], dtype=object)
    assert stamps(parse_dates(values, "ts")) == [T("2011-06-09 14:30"), T("2011-06-10 10:00"), None]


def test_unknown_timezone_is_named():
    message = error(dates, ["2011-06-09"], timezone="Europe/Londn")
    assert "'Europe/Londn'" in message and "timezone" in message


# -------------------------------------------------------------------------------- epochs


def test_epoch_seconds_and_milliseconds_as_text():
    seconds = dates(["1307629800", "1307629801.5"])
    assert stamps(seconds) == [T("2011-06-09 14:30"), T("2011-06-09 14:30:01.5")]
    assert seconds.detected == "epoch seconds"
    millis = dates(["1307629800123", "1307629801000"])
    assert stamps(millis) == [T("2011-06-09 14:30:00.123"), T("2011-06-09 14:30:01")]
    assert millis.detected == "epoch milliseconds"


def test_epoch_numbers_as_numbers():
    parsed = parse_dates(pd.Series([1307629800, 1307629860]), "ts")
    assert stamps(parsed) == [T("2011-06-09 14:30"), T("2011-06-09 14:31")]
    millis = parse_dates(pd.Series([1307629800000.0, np.nan]), "ts")
    assert stamps(millis) == [T("2011-06-09 14:30"), None]
    assert millis.detected == "epoch milliseconds" and millis.blank.tolist() == [False, True]


@pytest.mark.parametrize(
    "values", [["12345", "99"], ["40703", "40704"], ["1307629800", "1307629800000"]]
)
def test_epoch_numbers_of_unknown_unit_are_refused(values):
    message = error(dates, values)
    assert_names_source_and_column(message)
    assert "epoch numbers of unknown unit" in message and repr(values[0]) in message


def test_numeric_epochs_of_unknown_unit_are_refused():
    message = error(parse_dates, pd.Series([40703.0, 40704.0]), "ts")
    assert "unknown unit" in message and "40703" in message


# ------------------------------------------------------------- unreadable, blank, impossible


def test_a_few_unreadable_values_are_bad_and_reported():
    values = ["2011-06-09 10:00"] * 300 + ["not a date", "", "  ", None, "NaT"]
    parsed = dates(values)
    assert parsed.bad.sum() == 1 and parsed.bad[300]
    assert parsed.blank.sum() == 4 and parsed.blank[301:].all()
    assert pd.isna(parsed.values.iloc[300])
    assert any("'not a date'" in w for w in parsed.warnings)


def test_too_many_unreadable_values_are_refused():
    values = ["2011-06-09"] * 20 + ["soon", "later"] + [None] * 50
    message = error(dates, values)
    assert_names_source_and_column(message)
    assert "2 of 22 values could not be read" in message
    assert "'soon'" in message and "--date-format" in message


def test_blanks_are_not_counted_as_bad():
    parsed = dates(["2011-06-09"] + [None] * 99)
    assert parsed.blank.sum() == 99 and not parsed.bad.any()
    empty = dates([None, ""])
    assert empty.blank.all() and empty.detected == "empty"


def test_two_formats_in_one_column_are_refused():
    message = error(dates, ["2011-06-09"] * 5 + ["13/06/2011"] * 4)
    assert "mixes date formats" in message and "'13/06/2011'" in message


def test_nothing_readable_is_refused():
    message = error(dates, ["June 9th", "yesterday"])
    assert "none of the 2 values could be read as a date" in message and "'June 9th'" in message


@pytest.mark.parametrize(
    "values",
    [
        ["2011-06-09", "1850-01-01"],
        ["02/14/2011", "01/13/1899"],
        ["2011-06-09", "2150-01-01", "2150-02-01"],
        ["1307629800", "0"],
    ],
)
def test_impossible_dates_are_refused(values):
    message = error(dates, values)
    assert_names_source_and_column(message)
    assert "impossible dates" in message or "unknown unit" in message
    assert repr(values[-1]) in message


def test_a_few_dates_before_1990_are_bad():
    parsed = dates(["2011-06-09"] * 200 + ["1899-12-30"])
    assert parsed.bad.tolist() == [False] * 200 + [True]
    assert any("'1899-12-30'" in w and "before 1990" in w for w in parsed.warnings)


def test_a_mistyped_year_after_2100_is_kept_for_the_future_rule():
    parsed = dates(["2011-06-09 10:00"] * 40 + ["2201-01-01 10:00"])
    assert parsed.values.iloc[-1] == T("2201-01-01 10:00") and not parsed.bad.any()
    assert any("after 2100" in w for w in parsed.warnings)
    assert future_timestamps(parsed.values, now="2011-12-31")[-1]


def test_impossible_datetimes():
    few = pd.Series(pd.to_datetime(["2011-01-01"] * 200 + ["1980-01-01", "2201-01-01"]))
    parsed = parse_dates(few, "ts")
    assert parsed.bad.tolist() == [False] * 200 + [True, False]
    assert parsed.values.iloc[-1] == T("2201-01-01") and pd.isna(parsed.values.iloc[-2])
    far = pd.Series(pd.to_datetime(["2011-01-01", "2500-01-01"] * 100).as_unit("us"))
    assert "impossible dates" in error(parse_dates, far, "ts")


# ------------------------------------------------------------------------ future timestamps


LOG = pd.Series(pd.date_range("2009-12-01", "2011-12-09 12:00", periods=20_000))


def with_rows(*values) -> pd.Series:
    return pd.concat([LOG, pd.Series(pd.to_datetime(list(values)))], ignore_index=True)


def test_a_mistyped_2099_is_flagged():
    flagged = future_timestamps(with_rows("2099-06-09"), now="2150-01-01")
    assert np.flatnonzero(flagged).tolist() == [len(LOG)]


def test_a_2031_row_in_a_2011_log_is_flagged_even_when_now_is_later():
    flagged = future_timestamps(with_rows("2031-06-09 10:00", None), now="2040-01-01")
    assert np.flatnonzero(flagged).tolist() == [len(LOG)]


def test_a_log_without_outliers_has_nothing_flagged():
    assert not future_timestamps(LOG, now="2011-12-09").any()
    assert not future_timestamps(LOG).any()


def test_a_growing_shop_is_never_flagged():
    days = np.arange(3 * 365)
    rows_per_day = np.floor(1.003**days).astype(int)  # 1 row a day, 27 a day after 3 years
    ts = pd.Series(T("2009-01-01") + pd.to_timedelta(np.repeat(days, rows_per_day), unit="D"))
    assert not future_timestamps(ts, now="2030-01-01").any()


def test_a_last_stretch_far_beyond_the_percentile_with_few_rows_is_not_flagged():
    # 20,000 rows until 2011, then one order a month for three years: the last ones are
    # years after the 99.9th percentile (+365 days) but never after a year of silence
    trickle = pd.Series(pd.date_range("2012-01-15", "2014-12-15", freq="MS"))
    ts = pd.concat([LOG, trickle], ignore_index=True)
    assert ts.iloc[-1] > ts.quantile(0.999) + pd.Timedelta(days=365)
    assert not future_timestamps(ts, now="2030-01-01").any()


def test_timestamps_after_an_injected_now_are_flagged():
    flagged = future_timestamps(LOG, now="2011-06-30 18:00")
    assert flagged.sum() == (LOG > T("2011-06-30 18:00")).sum() > 0
    # a date without a time means the end of that day
    whole_day = future_timestamps(LOG, now="2011-06-30")
    assert whole_day.sum() == (LOG >= T("2011-07-01")).sum()


def test_default_now_is_the_end_of_today():
    today = pd.Timestamp.now().normalize()
    ts = pd.Series(
        [today - pd.Timedelta(days=1), today + pd.Timedelta(hours=23), today + pd.Timedelta(days=2)]
    )
    assert future_timestamps(ts).tolist() == [False, False, True]


def test_nat_is_never_flagged():
    ts = pd.Series(pd.to_datetime([None, "2011-01-01", None]))
    assert future_timestamps(ts, now="2011-01-02").tolist() == [False, False, False]


# ------------------------------------------------------------------------------------ numbers


def numbers(values, **kwargs) -> Parsed:
    return parse_numbers(text(values), "price", "orders.csv", **kwargs)


def floats(parsed: Parsed) -> list:
    return [None if np.isnan(v) else v for v in parsed.values]


@pytest.mark.parametrize(
    ("other", "expected_1000", "decimal"),
    [
        ("2,5", 1.0, ","),
        ("1.234,56", 1.0, ","),
        ("0,500", 1.0, ","),
        ("1.000.000", 1.0, ","),
        ("3.50", 1000.0, "."),
        ("1,234.56", 1000.0, "."),
        ("1,000,000", 1000.0, "."),
        (".5", 1000.0, "."),
    ],
)
def test_lone_separator_with_three_digits_is_resolved_by_the_column(other, expected_1000, decimal):
    parsed = numbers(["1,000", other, "7"])
    assert parsed.values.iloc[0] == expected_1000
    assert parsed.values.iloc[2] == 7.0
    assert parsed.detected.startswith(f"decimal '{decimal}'")


def test_dot_thousands_resolved_by_comma_decimals():
    assert floats(numbers(["1.000", "2,5"])) == [1000.0, 2.5]
    assert floats(numbers(["1.000", "3.50"])) == [1.0, 3.5]


@pytest.mark.parametrize("values", [["1,000", "2,000", "15"], ["1.000"], ["1,500", "1.250"]])
def test_whole_column_ambiguous_is_refused(values):
    message = error(numbers, values)
    assert_names_source_and_column(message, "price")
    assert "ambiguous" in message and repr(values[0]) in message
    assert (
        "--decimal ," in message and "--decimal ." in message and "decimal in the config" in message
    )


def test_decimal_given_forces_it():
    assert floats(numbers(["1,000", "1.000", "2,5"], decimal=",")) == [1.0, 1000.0, 2.5]
    assert floats(numbers(["1,000", "1.000"], decimal=".")) == [1000.0, 1.0]
    forced = numbers(["1,000"] * 200 + ["1.234,56"], decimal=".")
    assert forced.bad.tolist() == [False] * 200 + [True]


def test_bad_decimal_option():
    assert "decimal must be" in error(numbers, ["1"], decimal=";")


def test_mixed_conventions_are_refused():
    message = error(numbers, ["1.5", "2,5", "3"])
    assert "mixes decimal separators" in message and "'1.5'" in message and "'2,5'" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("£12.50", 12.5),
        ("12.50 €", 12.5),
        ("$ 1,234.50", 1234.5),
        ("EUR 1.234,50", 1234.5),
        ("1 234,50", 1234.5),
        ("1\u00a0234,50", 1234.5),
        ("1\u202f234,50 €", 1234.5),
        ("1\u2009234,50", 1234.5),
        ("1'234.50", 1234.5),
        ("12.50 USD", 12.5),
        ("GBP12.50", 12.5),
        ("¥1,200.00", 1200.0),
        ("  7  ", 7.0),
    ],
)
def test_currency_and_spaces_are_stripped(value, expected):
    assert numbers([value]).values.iloc[0] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("(12.50)", -12.5),
        ("12.50-", -12.5),
        ("-12.50", -12.5),
        ("+12.50", 12.5),
        ("-€12.50", -12.5),
        ("€-12.50", -12.5),
        ("(£1,234.50)", -1234.5),
        ("1.5e3", 1500.0),
    ],
)
def test_signs_and_accounting_negatives(value, expected):
    assert numbers([value, "0.25"]).values.iloc[0] == expected


@pytest.mark.parametrize(
    "value", ["inf", "-inf", "Infinity", "NaN", "nan", "(12.50", "--5", "1e999"]
)
def test_non_finite_and_malformed_text_is_bad(value):
    parsed = numbers(["1.5"] * 200 + [value])
    assert parsed.bad.tolist() == [False] * 200 + [True]
    assert np.isnan(parsed.values.iloc[-1])


def test_too_many_bad_numbers_are_refused_with_count_examples_and_fix():
    message = error(numbers, ["1.5", "inf", "Infinity", "n/a", None])
    assert_names_source_and_column(message, "price")
    assert "3 of 4 values are not numbers" in message
    assert "'inf'" in message and "'Infinity'" in message and "--decimal" in message


def test_blank_numbers():
    parsed = numbers(["1.5", None, "", "  "])
    assert parsed.blank.tolist() == [False, True, True, True] and not parsed.bad.any()


def test_numeric_input():
    parsed = parse_numbers(pd.Series([1.5, np.nan] + [2.0] * 200 + [np.inf]), "price")
    assert parsed.blank[1] and parsed.bad[-1] and parsed.bad.sum() == 1
    assert np.isnan(parsed.values.iloc[-1]) and parsed.values.dtype == "float64"
    ints = parse_numbers(pd.Series([1, 2], dtype="int64"), "qty")
    assert ints.values.dtype == "float64" and floats(ints) == [1.0, 2.0]
    nullable = parse_numbers(pd.Series([1.5, None], dtype="Float64"), "price")
    assert nullable.blank.tolist() == [False, True] and not nullable.bad.any()
    message = error(parse_numbers, pd.Series([np.inf, -np.inf, 1.0]), "price", "orders.csv")
    assert "2 of 3 values are not numbers" in message


def test_mixed_currencies_are_warned_about():
    parsed = numbers(["£12.50", "$3.00", "4.00 USD"])
    assert any("GBP, USD" in w for w in parsed.warnings)
    assert not numbers(["$12.50", "3.00 USD"]).warnings


def test_numbers_across_slices(small_slices):
    parsed = numbers(["1.000"] * 7 + ["2,5"])
    assert floats(parsed) == [1000.0] * 7 + [2.5]


def _formatted(cents: int, decimal: str, grouping: str, currency: str, negative: str) -> str:
    whole, fraction = divmod(abs(cents), 100)
    digits = f"{whole:,}".replace(",", grouping) if grouping else str(whole)
    body = f"{digits}{decimal}{fraction:02d}"
    if currency:
        body = f"{currency}{body}" if currency in "£$€¥" else f"{body} {currency}"
    if cents >= 0:
        return body
    return {"-": f"-{body}", "()": f"({body})", "trailing": f"{body}-"}[negative]


@st.composite
def number_columns(draw):
    decimal = draw(st.sampled_from([".", ","]))
    thousands = [",", "", " ", "'", "\u00a0"] if decimal == "." else [".", "", " ", "\u202f"]
    magnitude = st.sampled_from([10**2, 10**5, 10**8, 10**11, 10**14])
    cents = draw(st.lists(magnitude.flatmap(lambda m: st.integers(-m, m)), min_size=1, max_size=30))
    grouping = draw(st.sampled_from(thousands))
    currency = draw(st.sampled_from(["", "£", "$", "€", "¥", "EUR", "USD", "GBP"]))
    negative = draw(st.sampled_from(["-", "()", "trailing"]))
    column = [_formatted(c, decimal, grouping, currency, negative) for c in cents]
    return cents, decimal, column


@settings(max_examples=200, deadline=None)
@given(number_columns())
def test_formatted_numbers_read_back(case):
    cents, decimal, column = case
    expected = [c / 100 for c in cents]
    assert numbers(column).values.tolist() == expected  # two decimals: never ambiguous
    assert numbers(column, decimal=decimal).values.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=20),
    st.sampled_from([".", ","]),
)
def test_whole_numbers_with_thousands_read_back_when_decimal_is_given(values, decimal):
    grouping = "," if decimal == "." else "."
    column = [f"{v:,}".replace(",", grouping) for v in values]
    assert numbers(column, decimal=decimal).values.tolist() == [float(v) for v in values]


# ---------------------------------------------------------------------------------------- ids


def ids(values) -> Parsed:
    return parse_ids(values, "customer_id", "orders.csv")


def test_text_ids():
    parsed = ids(
        text(
            [
                " 12346.0 ",
                "12347.00",
                "nan",
                "",
                None,
                "None",
                "null",
                "NA",
                "n/a",
                "-",
                "A12",
                "007",
            ]
        )
    )
    assert parsed.values.tolist() == ["12346", "12347"] + [pd.NA] * 8 + ["A12", "007"]
    assert parsed.blank.tolist() == [False, False] + [True] * 8 + [False, False]
    assert parsed.values.dtype == "string" and not parsed.bad.any()


def test_clean_text_ids_are_not_copied():
    clean = text(["12346", "A12", None])
    assert parse_ids(clean, "customer_id").values is clean


def test_ids_of_other_text_dtypes_become_string():
    assert ids(pd.Series(["1", None], dtype="str")).values.dtype == "string"
    assert ids(pd.Series([12346.0, "A1", None], dtype=object)).values.tolist() == [
        "12346",
        "A1",
        pd.NA,
    ]


def test_float_ids():
    parsed = ids(pd.Series([12346.0, np.nan, 2.0**53, -5.0]))
    assert parsed.values.tolist() == ["12346", pd.NA, "9007199254740992", "-5"]
    assert parsed.blank.tolist() == [False, True, False, False]


@pytest.mark.parametrize("value", [1.5e19, 2.0**53 + 2, 12346.5, np.inf])
def test_float_ids_that_lost_precision_are_refused(value):
    message = error(ids, pd.Series([12346.0, value, np.nan]))
    assert_names_source_and_column(message, "customer_id")
    assert "1 ids were stored as floating-point numbers and lost precision" in message
    assert repr(float(value)) in message and "as text" in message


def test_ids_in_scientific_notation_are_refused():
    message = error(ids, text(["1.23457E+15", "12346"]))
    assert "lost precision" in message and "'1.23457E+15'" in message
    assert ids(text(["3e8", "4f2"])).values.tolist() == ["3e8", "4f2"]  # hex-like ids are fine


def test_integer_ids():
    big = pd.Series(np.array([2**64 - 1, 12346], dtype="uint64"))
    assert ids(big).values.tolist() == ["18446744073709551615", "12346"]
    nullable = ids(pd.Series([12346, None], dtype="Int64"))
    assert nullable.values.tolist() == ["12346", pd.NA] and nullable.blank.tolist() == [False, True]
    assert ids(pd.Series([-1, 2**63 - 1])).values.tolist() == ["-1", str(2**63 - 1)]


def test_text_ids_across_slices(monkeypatch):
    monkeypatch.setattr(cleaning, "CHUNK_ROWS", 2)
    parsed = ids(text(["1.0", "2", " 3 ", None, "nan"]))
    assert parsed.values.tolist() == ["1", "2", "3", pd.NA, pd.NA]


# ------------------------------------------------------------------------- error messages


def test_error_messages_match_the_house_style():
    """file, column, examples, count and the fix, for each kind of refusal."""
    cases = [
        (dates, AMBIGUOUS, {}, r"3 read differently.*'01/03/2011 08:26'.*--date-format"),
        (dates, ["x"] * 5 + ["2011-01-01"] * 5, {}, r"5 of 10 values.*'x'.*--date-format"),
        (numbers, ["1,000"], {}, r"1 values.*'1,000'.*--decimal"),
        (numbers, ["x", "y", "1"], {}, r"2 of 3 values.*'x', 'y'.*--decimal"),
    ]
    for call, values, kwargs, pattern in cases:
        message = error(call, values, **kwargs)
        assert "orders.csv" in message
        assert re.search(pattern, message), message
