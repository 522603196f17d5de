"""The scoring moment: as-of day, cutoff, observation end, windows (scoring.timeframe)."""

from __future__ import annotations

import dataclasses
import datetime

import numpy as np
import pandas as pd
import pytest

from scoring.data.errors import DataError
from scoring.timeframe import ScoringMoment

DAY = pd.Timestamp("2023-06-30")


@pytest.mark.parametrize("value", [
    "2023-06-30",
    pd.Timestamp("2023-06-30"),
    datetime.datetime(2023, 6, 30),
    datetime.date(2023, 6, 30),
    np.datetime64("2023-06-30"),
    pd.Timestamp("2023-06-30").as_unit("s"),
])
def test_of_accepts_date_likes(value):
    moment = ScoringMoment.of(value)
    assert moment.as_of == DAY
    assert moment.as_of.unit == "ns"
    assert str(moment) == "2023-06-30"


@pytest.mark.parametrize("value", [
    "2023-06-30 23:59:59",
    pd.Timestamp("2023-06-30 13:45:10.123456789"),
    datetime.datetime(2023, 6, 30, 0, 0, 1),
])
def test_time_of_day_is_floored(value):
    moment = ScoringMoment.of(value)
    assert moment.as_of == DAY
    assert moment == ScoringMoment.of("2023-06-30")


def test_of_returns_a_moment_as_is_and_direct_construction_normalizes():
    moment = ScoringMoment.of("2023-06-30")
    assert ScoringMoment.of(moment) is moment
    assert ScoringMoment.from_cutoff(moment) is moment
    assert ScoringMoment("2023-06-30 08:00") == moment
    assert ScoringMoment(DAY).as_of.unit == "ns"


def test_from_cutoff_is_the_day_before():
    moment = ScoringMoment.from_cutoff("2023-07-01")
    assert moment.as_of == DAY
    assert moment.cutoff == pd.Timestamp("2023-07-01")
    assert ScoringMoment.from_cutoff(pd.Timestamp("2023-07-01 18:00")) == moment
    assert ScoringMoment.from_cutoff("2024-03-01").as_of == pd.Timestamp("2024-02-29")


def test_cutoff_observation_end_end_of_day():
    moment = ScoringMoment.of("2023-12-31")
    assert moment.cutoff == pd.Timestamp("2024-01-01")
    assert moment.observation_end == moment.as_of == pd.Timestamp("2023-12-31")
    assert moment.end_of_day == pd.Timestamp("2023-12-31 23:59:59.999999999")
    assert moment.end_of_day < moment.cutoff
    assert moment.cutoff - moment.end_of_day == pd.Timedelta(nanoseconds=1)
    # rows up to as_of: timestamp <= end_of_day <=> timestamp < cutoff
    times = pd.Series(pd.to_datetime(["2023-12-31 00:00:00", "2023-12-31 23:59:59",
                                      "2024-01-01 00:00:00"]))
    assert ((times <= moment.end_of_day) == (times < moment.cutoff)).all()


def test_window():
    moment = ScoringMoment.of("2023-06-30")
    start, end = moment.window(90)
    assert start == moment.cutoff == pd.Timestamp("2023-07-01")
    assert end == pd.Timestamp("2023-09-29")
    assert (end - start).days == 90
    assert moment.window(1) == (pd.Timestamp("2023-07-01"), pd.Timestamp("2023-07-02"))
    for bad in (0, -3, 1.5):
        with pytest.raises(DataError, match="horizon_days"):
            moment.window(bad)


def test_equality_and_hash():
    a = ScoringMoment.of("2023-06-30")
    b = ScoringMoment.from_cutoff(datetime.date(2023, 7, 1))
    c = ScoringMoment.of("2023-07-01")
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert {a: 1}[b] == 1


def test_frozen():
    moment = ScoringMoment.of("2023-06-30")
    with pytest.raises(dataclasses.FrozenInstanceError):
        moment.as_of = pd.Timestamp("2023-07-01")


@pytest.mark.parametrize("value", [
    pd.Timestamp("2023-06-30", tz="UTC"),
    "2023-06-30T00:00:00+02:00",
    datetime.datetime(2023, 6, 30, tzinfo=datetime.UTC),
])
def test_tz_aware_input_is_refused(value):
    with pytest.raises(DataError, match="time zone"):
        ScoringMoment.of(value)
    with pytest.raises(DataError, match="time zone"):
        ScoringMoment.from_cutoff(value)


@pytest.mark.parametrize("value", [None, "not a date", "", pd.NaT, 20230630, True])
def test_non_dates_are_refused(value):
    with pytest.raises(DataError):
        ScoringMoment.of(value)
