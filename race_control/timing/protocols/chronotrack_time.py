"""ChronoTrack time strings → a float ``clock`` (seconds since local midnight).

Every ChronoTrack stream carries *local wall-clock* time, usually without a date
(``normal``) and never with a trustworthy zone (even ``iso`` is local; see
docs/protocols/ctp01.md#time-formats).  So all four CTP01 time formats are mapped
onto one axis: seconds since local midnight of a *reference date* (the race day).
A read after midnight lands above 86400, one from the day before is negative,
and ``normal`` times past 24 h (``102:12:32.37``) keep working.

A bare time of day (``normal`` under 24 h, ``msecs`` under a day) does not say which
day it is: a New Year's Eve race started at 23:30 has its finishers at ``00:05:00``.
``nearest_day`` moves such a clock by a whole day when that lands it within six hours of
a known point on the axis: the PC's clock for a live read (``pc_clock``), the previous
line for a recording.

The axis is *wall-clock* seconds, not elapsed SI seconds: ``iso``/``unix`` times
are converted to local wall-clock time in the configured zone and then measured
from midnight as naive times, so ``14:02:15.31`` means the same in every format
even on a DST-change day.  (Races crossing a 2-3 am DST switch are not worth
the extra complexity; finish - gun from the same source stays correct otherwise.)

Choices where the spec contradicts itself (documented because they matter):

* ``msecs`` is *milliseconds since local midnight* (``14:02:15.31`` → ``50535310``),
  the definition the spec's text and third-party docs use; the spec's example
  ``43455310`` does not match its own 14:02:15.31.  A value above 10^11 cannot be
  a time of day (that would be > 27 000 h), so it is read as *epoch* milliseconds.
* ``unix`` is real epoch seconds, converted to wall-clock in the configured zone.
  The spec's example treats the local time as UTC; with ``tz=UTC`` that example
  gives back 14:02:15.31.  Check against the device before trusting it.
* ``iso`` without an offset is local; a trailing ``Z``/offset is honoured by
  converting to the configured zone.

The way back (``format_normal``, ``render_time``) writes the same formats for the
replay side: the simulator's CTP01 client and the controller-file importer.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

from race_control.timing.protocols.errors import TimingInputError

__all__ = [
    "TIME_FORMATS",
    "TimeFormatError",
    "detect_time_format",
    "format_clock",
    "format_elapsed",
    "format_normal",
    "nearest_day",
    "parse_ct_time",
    "pc_clock",
    "placed_on_day",
    "render_time",
    "time_of_day",
]

TIME_FORMATS = ("normal", "iso", "unix", "msecs")

EPOCH_MS_THRESHOLD = 10**11  # msecs values above this are epoch milliseconds
DAY = 86400.0
NEAR_MIDNIGHT = 6 * 3600.0  # how near a read moved to the next or previous day must land

_NORMAL = re.compile(r"(\d{1,4}):(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?")
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_UNIX = re.compile(r"(\d{1,12})(?:[.,](\d{1,6}))?")
_MSECS = re.compile(r"(\d{1,15})(?:[.,](\d{1,3}))?")


class TimeFormatError(TimingInputError):
    """A time string does not fit the format it was supposed to be in (a ``ValueError`` too)."""


def _micros(frac: str | None) -> int:
    """Fraction digits ("31", "5", "123456") → microseconds."""
    if not frac:
        return 0
    return int(frac.ljust(6, "0")[:6])


def _since_midnight(wall: dt.datetime, reference_date: dt.date) -> float:
    """Naive local wall-clock datetime → wall-clock seconds since midnight of reference_date."""
    delta = wall - dt.datetime.combine(reference_date, dt.time())
    return (delta.days * 86400 + delta.seconds) + delta.microseconds / 1_000_000


def _from_epoch(seconds: int, micros: int, reference_date: dt.date, tz: ZoneInfo) -> float:
    try:
        instant = dt.datetime.fromtimestamp(seconds, dt.UTC) + dt.timedelta(microseconds=micros)
        wall = instant.astimezone(tz).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError) as exc:
        raise TimeFormatError(f"epoch time out of range: {seconds}") from exc
    return _since_midnight(wall, reference_date)


def parse_ct_time(text: str, fmt: str, *, reference_date: dt.date, tz: ZoneInfo) -> float:
    """Parse a ChronoTrack time in format ``fmt`` into seconds since local midnight of ``reference_date``.

    ``fmt`` is one of ``normal``, ``iso``, ``unix``, ``msecs`` (the CTP01
    ``time-format`` values).  Raises ``TimeFormatError`` naming the problem.
    """
    s = text.strip()
    if fmt == "normal":
        m = _NORMAL.fullmatch(s)
        if not m:
            raise TimeFormatError(f"not a normal time (H:MM:SS.hh): {text!r}")
        h, mi, sec = int(m[1]), int(m[2]), int(m[3])
        if mi > 59 or sec > 59:
            raise TimeFormatError(f"minutes/seconds out of range: {text!r}")
        frac = m[4] or ""
        total_ms = (h * 3600 + mi * 60 + sec) * 1000 + (int(frac.ljust(3, "0")) if frac else 0)
        return total_ms / 1000
    if fmt == "iso":
        m = _ISO.fullmatch(s)
        if not m:
            raise TimeFormatError(f"not an ISO time (YYYY-MM-DDTHH:MM:SS.hh): {text!r}")
        try:
            wall = dt.datetime(
                int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), _micros(m[7])
            )
        except ValueError as exc:
            raise TimeFormatError(f"invalid ISO date/time {text!r}: {exc}") from exc
        zone = m[8]
        if zone:
            if zone.upper() == "Z":
                offset = dt.timedelta(0)
            else:
                digits = zone[1:].replace(":", "")
                hours, minutes = int(digits[:2]), int(digits[2:] or 0)
                if hours > 23 or minutes > 59:
                    raise TimeFormatError(f"invalid UTC offset in {text!r}")
                offset = dt.timedelta(hours=hours, minutes=minutes) * (-1 if zone[0] == "-" else 1)
            try:
                wall = wall.replace(tzinfo=dt.timezone(offset)).astimezone(tz).replace(tzinfo=None)
            except (OverflowError, ValueError) as exc:
                raise TimeFormatError(f"ISO time out of range: {text!r}") from exc
        return _since_midnight(wall, reference_date)
    if fmt == "unix":
        m = _UNIX.fullmatch(s)
        if not m:
            raise TimeFormatError(f"not a unix time (epoch seconds): {text!r}")
        return _from_epoch(int(m[1]), _micros(m[2]), reference_date, tz)
    if fmt == "msecs":
        m = _MSECS.fullmatch(s)
        if not m:
            raise TimeFormatError(f"not a msecs time (milliseconds): {text!r}")
        ms = int(m[1])
        if ms > EPOCH_MS_THRESHOLD:
            return _from_epoch(ms // 1000, (ms % 1000) * 1000, reference_date, tz)
        sub_ms = int(m[2].ljust(3, "0")) if m[2] else 0  # thousandths of a millisecond
        return (ms * 1000 + sub_ms) / 1_000_000
    raise TimeFormatError(f"unknown time format {fmt!r} (expected one of {', '.join(TIME_FORMATS)})")


def time_of_day(text: str, fmt: str) -> bool:
    """``text`` (which parsed in ``fmt``) is a bare time of day, with no day in it: ``normal``
    under 24 hours, or ``msecs`` under one day (a larger msecs value is epoch or a later day)."""
    s = text.strip()
    if fmt == "normal":
        m = _NORMAL.fullmatch(s)
        return m is not None and int(m[1]) < 24
    if fmt == "msecs":
        m = _MSECS.fullmatch(s)
        return m is not None and int(m[1]) < DAY * 1000
    return False


def nearest_day(clock: float, near: float, within: float = NEAR_MIDNIGHT) -> float:
    """A time-of-day ``clock`` moved by one whole day when that puts it within ``within`` seconds
    of ``near`` (same axis): a read at 00:05 while the PC says 23:59 of the reference day is
    the next day's, a gun at 23:30 sent at 00:10 the day before.  Only times near midnight
    move: 13:14 sent at 01:14 stays 13:14 (a replay of a morning race, a late rewind)."""
    for moved in (clock - DAY, clock + DAY):
        if abs(moved - near) < within:
            return moved
    return clock


def placed_on_day(clock: float, text: str, fmt: str, near: float | Callable[[], float] | None) -> float:
    """``clock`` (``text`` parsed in ``fmt``) moved to the day nearest ``near`` when it is a bare
    time of day; ``near`` may be a function, called only then (the PC's clock of a live line)."""
    if near is None or not time_of_day(text, fmt):
        return clock
    return nearest_day(clock, near() if callable(near) else near)


def pc_clock(epoch: float, tz: ZoneInfo, reference_date: dt.date) -> float:
    """The PC's clock at ``epoch`` (Unix time) on the same axis, to compare with a source's."""
    wall = dt.datetime.fromtimestamp(epoch, tz).replace(tzinfo=None)
    return _since_midnight(wall, reference_date)


def detect_time_format(text: str) -> str | None:
    """Guess which CTP01 time format ``text`` is in, or ``None``.

    Used as a fallback when a client ignores our ``time-format`` request (the spec
    says the setting only applies to variable-width formats), so reads are not
    lost over a setting mismatch.  Plain integers ≤ 10^9 are taken as msecs.
    """
    s = text.strip()
    if _NORMAL.fullmatch(s):
        return "normal"
    if _ISO.fullmatch(s):
        return "iso"
    if _MSECS.fullmatch(s) and "." not in s and "," not in s:
        return "msecs" if int(s) <= 10**9 or int(s) > EPOCH_MS_THRESHOLD else "unix"
    if _UNIX.fullmatch(s):
        return "unix"
    return None


def _check_finite(seconds: float) -> None:
    if not math.isfinite(seconds):
        raise TimingInputError(f"cannot format non-finite time {seconds!r}")


def format_clock(seconds: float) -> str:
    """Clock value → ``H:MM:SS.hh`` (hours may exceed 23; truncated to hundredths).

    Truncation, not rounding: a clock reading of 14:02:15.319 was not yet .32.
    """
    _check_finite(seconds)
    cs = math.floor(abs(seconds) * 100 + 1e-6)  # 1e-6 absorbs float noise (…4.99999)
    sign = "-" if seconds < 0 and cs else ""
    h, rem = divmod(cs, 360000)
    m, rem = divmod(rem, 6000)
    s, hund = divmod(rem, 100)
    return f"{sign}{h}:{m:02d}:{s:02d}.{hund:02d}"


def format_elapsed(seconds: float, decimals: int = 0) -> str:
    """Elapsed time → ``H:MM:SS`` (or ``M:SS`` under an hour), optionally with decimals.

    The one formatter of every elapsed time a screen shows (finisher time, chip and gun
    time, leaderboards).  Fractions are *rounded up* to the shown precision, the road-race
    convention (World Athletics / USATF: 2:09:44.3 is published as 2:09:45; 25:37.00 stays
    25:37), so a display never shows a runner faster than the official result.

    Reads carry at most milliseconds, so the value is first rounded to the millisecond and
    only then rounded up: a difference of two clocks such as ``1537.0000000001`` is float
    noise and stays 25:37, not 25:38.  ``decimals`` is 0-3.
    """
    _check_finite(seconds)
    if not 0 <= decimals <= 3:
        raise TimingInputError(f"decimals must be 0..3, got {decimals}")
    scale = 10**decimals
    millis = round(abs(seconds) * 1000)  # what the reads carry; the rest is float noise
    step = 1000 // scale
    units = -(-millis // step)  # ceiling in integers: no second float rounding
    sign = "-" if seconds < 0 and units else ""
    whole, frac = divmod(units, scale)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    tail = f".{frac:0{decimals}d}" if decimals else ""
    if h:
        return f"{sign}{h}:{m:02d}:{s:02d}{tail}"
    return f"{sign}{m}:{s:02d}{tail}"


def format_normal(centis: int) -> str:
    """Hundredths of a second since midnight → CTP01 ``normal`` ``HH:MM:SS.hh`` (hours may exceed 23)."""
    sign = "-" if centis < 0 else ""
    h, rem = divmod(abs(centis), 360_000)
    m, rem = divmod(rem, 6_000)
    s, cs = divmod(rem, 100)
    return f"{sign}{h:02d}:{m:02d}:{s:02d}.{cs:02d}"


def render_time(when: dt.datetime, fmt: str) -> str:
    """A naive local wall-clock time in a CTP01 ``time-format`` (truncated to hundredths).

    ``unix`` counts the wall clock as UTC, as the spec's example does (and as the
    2021 controllers' own epoch does); ``msecs`` is milliseconds since midnight.
    """
    centis_of_day = ((when.hour * 60 + when.minute) * 60 + when.second) * 100 + when.microsecond // 10_000
    if fmt == "iso":
        return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 10_000:02d}"
    if fmt == "unix":
        return f"{calendar.timegm(when.timetuple())}.{when.microsecond // 10_000:02d}"
    if fmt == "msecs":
        return str(centis_of_day * 10)
    return format_normal(centis_of_day)
