"""ChronoTrack time parsing and clock/elapsed formatting."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from race_control.timing.protocols.chronotrack_time import (
    TIME_FORMATS,
    TimeFormatError,
    detect_time_format,
    format_clock,
    format_elapsed,
    nearest_day,
    parse_ct_time,
    time_of_day,
)

UTC = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
DAY = dt.date(2008, 10, 16)  # the spec's example day
T = 14 * 3600 + 2 * 60 + 15.31  # 14:02:15.31, the spec's example time


def parse(text: str, fmt: str, tz: ZoneInfo = UTC, day: dt.date = DAY) -> float:
    return parse_ct_time(text, fmt, reference_date=day, tz=tz)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:02:15.31", T),
        ("08:19:28.84", 8 * 3600 + 19 * 60 + 28.84),
        ("102:12:32.37", 102 * 3600 + 12 * 60 + 32.37),  # CTFF01: past 24 h
        ("14:02:15", 50535.0),
        ("14:02:15.3", 50535.3),
        ("14:02:15.319", 50535.319),
        ("14:02:15,31", T),
        (" 7:05:01.5 ", 7 * 3600 + 5 * 60 + 1.5),
        ("0:00:00.00", 0.0),
    ],
)
def test_normal(text: str, expected: float) -> None:
    assert parse(text, "normal") == pytest.approx(expected, abs=1e-9)
    assert parse(text, "normal", tz=NY, day=dt.date(2030, 1, 1)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("text", "fmt", "problem"),
    [
        ("", "normal", "not a normal time"),
        ("14:02", "normal", "not a normal time"),
        ("14:60:00", "normal", "out of range"),
        ("14:02:61.00", "normal", "out of range"),
        ("14:02:15.3141", "normal", "not a normal time"),
        ("-1:00:00", "normal", "not a normal time"),
        ("1224165735.31", "normal", "not a normal time"),
        ("2008-10-16", "iso", "not an ISO time"),
        ("2008-13-16T14:02:15", "iso", "invalid ISO"),
        ("2008-02-30T14:02:15", "iso", "invalid ISO"),
        ("0000-01-01T00:00:00", "iso", "invalid ISO"),
        ("2008-10-16T14:02:15+25:00", "iso", "offset"),
        ("14:02:15.31", "iso", "not an ISO time"),
        ("abc", "unix", "not a unix time"),
        ("1e9", "unix", "not a unix time"),
        ("-5", "unix", "not a unix time"),
        ("999999999999", "unix", "out of range"),
        ("nan", "unix", "not a unix time"),
        ("43455310ms", "msecs", "not a msecs time"),
        ("-1", "msecs", "not a msecs time"),
        ("999999999999999", "msecs", "out of range"),
        ("14:02:15.31", "bogus", "unknown time format"),
    ],
)
def test_bad_input_names_the_problem(text: str, fmt: str, problem: str) -> None:
    with pytest.raises(TimeFormatError, match=problem):
        parse(text, fmt)


def test_time_format_error_is_value_error() -> None:
    assert issubclass(TimeFormatError, ValueError)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2008-10-16T14:02:15.31", UTC, T),
        ("2008-10-16T14:02:15.31", NY, T),  # no offset: local, whatever the zone
        ("2008-10-16 14:02:15.31", UTC, T),
        ("2008-10-17T00:30:00", UTC, 86400 + 1800.0),  # next day
        ("2008-10-15T23:00:00", UTC, -3600.0),  # day before
        ("2008-10-16T18:02:15.31Z", NY, T),  # EDT = UTC-4
        ("2008-10-16T18:02:15.31z", NY, T),
        ("2008-10-16T20:02:15.31+02:00", UTC, 18 * 3600 + 2 * 60 + 15.31),
        ("2008-10-16T20:02:15.31+0200", UTC, 18 * 3600 + 2 * 60 + 15.31),
        ("2008-10-16T14:02:15.310000", UTC, T),
        ("2008-10-16T14:02:15", UTC, 50535.0),
    ],
)
def test_iso(text: str, tz: ZoneInfo, expected: float) -> None:
    assert parse(text, "iso", tz=tz) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("1224165735.31", UTC, T),  # the spec's example is the wall-clock time read as UTC
        ("1224165735.31", LA, T - 7 * 3600),  # PDT
        ("1224165735", UTC, 50535.0),
        ("1224252135.31", UTC, 86400 + T),  # next day
        ("1224079335.31", UTC, T - 86400),  # day before
    ],
)
def test_unix(text: str, tz: ZoneInfo, expected: float) -> None:
    assert parse(text, "unix", tz=tz) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50535310", T),  # milliseconds since midnight (our documented choice)
        ("43455310", 12 * 3600 + 4 * 60 + 15.31),  # the spec's own (inconsistent) example
        ("0", 0.0),
        ("367952370", 102 * 3600 + 12 * 60 + 32.37),  # past 24 h still time of day
        ("1224165735310", T),  # > 10^11: epoch milliseconds
        ("50535310.5", 50535.3105),
    ],
)
def test_msecs(text: str, expected: float) -> None:
    assert parse(text, "msecs") == pytest.approx(expected, abs=1e-6)


def test_epoch_times_are_wall_clock_on_a_dst_day() -> None:
    """2021-03-14 in New York skips 02:00-03:00: 14:00 EDT is still clock 14 h, not 13 h."""
    day = dt.date(2021, 3, 14)
    instant = dt.datetime(2021, 3, 14, 14, 0, tzinfo=NY).timestamp()
    assert parse(f"{instant:.2f}", "unix", tz=NY, day=day) == pytest.approx(14 * 3600)
    assert parse("2021-03-14T14:00:00", "iso", tz=NY, day=day) == 14 * 3600
    assert parse("14:00:00.00", "normal", tz=NY, day=day) == 14 * 3600


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("14:02:15.31", "normal"),
        ("102:12:32.37", "normal"),
        ("2008-10-16T14:02:15.31", "iso"),
        ("1224165735.31", "unix"),
        ("1224165735", "unix"),
        ("50535310", "msecs"),
        ("1224165735310", "msecs"),
        ("hello", None),
        ("", None),
    ],
)
def test_detect_time_format(text: str, fmt: str | None) -> None:
    assert detect_time_format(text) == fmt


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (T, "14:02:15.31"),
        (0.0, "0:00:00.00"),
        (102 * 3600 + 12 * 60 + 32.37, "102:12:32.37"),
        (59.999, "0:00:59.99"),  # truncated: the clock had not reached 1:00 yet
        (-1.5, "-0:00:01.50"),
        (-0.001, "0:00:00.00"),
        (0.1 + 0.2, "0:00:00.30"),
    ],
)
def test_format_clock(seconds: float, text: str) -> None:
    assert format_clock(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "decimals", "text"),
    [
        (59.0, 0, "0:59"),
        (59.2, 0, "1:00"),  # rounded up, the road-race rule
        (3599.0, 0, "59:59"),
        (3600.0, 0, "1:00:00"),
        (7784.3, 0, "2:09:45"),
        (7784.31, 1, "2:09:44.4"),
        (12.0, 1, "0:12.0"),
        (0.1 + 0.2, 1, "0:00.3"),  # float noise does not round up
        (59.0000000001, 0, "0:59"),
        (0.0, 0, "0:00"),
        (-5.0, 0, "-0:05"),
        (90061.0, 0, "25:01:01"),
        (1.234, 3, "0:01.234"),
        (1.2344, 3, "0:01.234"),  # below a millisecond is noise: reads carry at most ms
    ],
)
def test_format_elapsed(seconds: float, decimals: int, text: str) -> None:
    assert format_elapsed(seconds, decimals) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1537.0, "25:37"),  # exact seconds stay
        (1537.001, "25:38"),  # any fraction rounds UP (USATF / World Athletics)
        (1537.01, "25:38"),
        (1537.4, "25:38"),
        (1537.999, "25:38"),
        (0.001, "0:01"),
        (59.5, "1:00"),
        (3599.2, "1:00:00"),  # crossing the hour switches to H:MM:SS
        (3600.001, "1:00:01"),
        (1537.0000000001, "25:37"),  # float noise is not a fraction
        (1536.9999999999, "25:37"),
        (33937.37 - 32400.37, "25:37"),  # 09:25:37.37 - 09:00:00.37 as floats: 1537.0000000000036
        (33938.36 - 32400.37, "25:38"),  # 1537.99
    ],
)
def test_format_elapsed_rounds_whole_seconds_up(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


def test_format_elapsed_default_has_no_decimals() -> None:
    assert format_elapsed(61.5) == "1:02"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_formatting_non_finite_raises(bad: float) -> None:
    with pytest.raises(ValueError):
        format_clock(bad)
    with pytest.raises(ValueError):
        format_elapsed(bad)


def test_format_elapsed_rejects_bad_decimals() -> None:
    with pytest.raises(ValueError):
        format_elapsed(1.0, 4)


@given(st.integers(0, 999), st.integers(0, 59), st.integers(0, 59), st.integers(0, 99))
def test_normal_round_trips_through_format_clock(h: int, m: int, s: int, cs: int) -> None:
    text = f"{h}:{m:02d}:{s:02d}.{cs:02d}"
    assert format_clock(parse(text, "normal")) == text


@given(st.text(max_size=40), st.sampled_from(TIME_FORMATS))
def test_parse_only_ever_raises_time_format_error(text: str, fmt: str) -> None:
    try:
        value = parse(text, fmt, tz=NY)
    except TimeFormatError:
        return
    assert math.isfinite(value)


@given(st.integers(0, 4_000_000_000), st.integers(0, 99), st.sampled_from([UTC, NY, LA]))
def test_unix_and_iso_agree(seconds: int, cs: int, tz: ZoneInfo) -> None:
    """The same instant as epoch seconds and as local ISO text lands on the same clock."""
    wall = dt.datetime.fromtimestamp(seconds, tz).replace(tzinfo=None)
    day = wall.date() - dt.timedelta(days=1)
    from_unix = parse(f"{seconds}.{cs:02d}", "unix", tz=tz, day=day)
    from_iso = parse(f"{wall:%Y-%m-%dT%H:%M:%S}.{cs:02d}", "iso", tz=tz, day=day)
    assert from_unix == pytest.approx(from_iso, abs=1e-6)
    assert 86400 <= from_unix < 2 * 86400


@pytest.mark.parametrize(
    ("text", "fmt", "bare"),
    [
        ("23:59:59.99", "normal", True),
        ("0:00:00", "normal", True),
        ("24:00:00.00", "normal", False),  # hours past 24 already say which day
        ("102:12:32.37", "normal", False),
        ("86399999", "msecs", True),
        ("86400000", "msecs", False),
        ("2008-10-16T14:02:15.31", "iso", False),
        ("1224165735.31", "unix", False),
    ],
)
def test_time_of_day(text: str, fmt: str, bare: bool) -> None:
    assert time_of_day(text, fmt) is bare


@pytest.mark.parametrize(
    ("clock", "near", "expected"),
    [
        (300.0, 86_000.0, 86_700.0),  # 00:05 read at 23:53: the next day
        (84_600.0, 600.0, -1_800.0),  # 23:30 read at 00:10: the day before
        (72_000.0, 3_600.0, -14_400.0),  # 20:00 read at 01:00: five hours ago
        (64_800.0, 3_600.0, 64_800.0),  # 18:00 at 01:00: seven hours either way is not near
        (47_640.0, 4_440.0, 47_640.0),  # 13:14 at 01:14: a replay of a morning race stays put
        (84_600.0, 80_000.0, 84_600.0),  # the same day
        (300.0, 4 * 86_400.0, 300.0),  # days away: not ours to guess
        (300.0, -3 * 86_400.0, 300.0),
    ],
)
def test_nearest_day(clock: float, near: float, expected: float) -> None:
    assert nearest_day(clock, near) == expected
