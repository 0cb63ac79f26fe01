"""CTP01 data lines (``CT01_33~seq~location~tag~time~lap~readerid~gator``): reading and writing.

Both ends of CTP01 live here so they cannot drift apart: the server
(``ctp01.Ctp01Server``) parses what a client sends, the replay client
(``ctp01_client.Ctp01Client``) writes what the real SimpleClient would.  The two
apply different field rules on purpose.  The server accepts anything it can
split on ``~`` without losing a read (``field_ok``: latin-1 without separators or
line breaks), because a read from a real race must not be dropped over a
cosmetic quirk; the client only writes what the CTFF01 table allows
(``check_location``/``check_observation``), because Tachyon-like peers drop the
link over a stray character.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

from race_control.timing.protocols.chronotrack_time import (
    TimeFormatError,
    detect_time_format,
    parse_ct_time,
    placed_on_day,
)
from race_control.timing.protocols.errors import TimingInputError
from race_control.timing.protocols.events import GunTime, NewLocation, TagRead

__all__ = [
    "DATA_FORMAT",
    "TAGEVENT_FORMAT",
    "TAGEVENT_FORMATS",
    "check_location",
    "check_observation",
    "field_ok",
    "format_data_line",
    "is_safe",
    "parse_data_line",
    "safe_text",
    "uint",
]

TAGEVENT_FORMAT = "CT01_33"  # what we request and what the replay client starts with
# CTff_ss with separator nibble 3 (tilde) and variable width: the only data lines we can split on "~"
DATA_FORMAT = re.compile(r"CT[0-9A-F]{2}_3[0-7]", re.IGNORECASE)
_DATA_LAYOUT = "format~seq~location~tag~time~lap~readerid~gator"  # CTFF01 rev 2, authoritative
# CTff_ss: first nibble of ss = separator, second = 3 (CRLF, variable width); fixed width is not offered
TAGEVENT_FORMATS = re.compile(r"CT\d\d_([1-6])3")
_SEPARATORS = {"1": ",", "2": ";", "3": "~", "4": "|", "5": "\t", "6": " "}

_FIELD_FORBIDDEN = ("~", "\r", "\n", "\x00")
_LOCATION = re.compile(r"[\x20-\x7d]{1,16}")  # printable ASCII; ',', ';', '|' are excluded below
_TAG = re.compile(r"[0-9A-Za-z_-]{1,8}")
_READER = re.compile(r"[0-9A-Za-z]{0,6}")
_UNSAFE = re.compile(r"[^\x20-\x7d]")  # anything but printable ASCII without '~'
_OTHER_SEPARATORS = re.compile(r"[,;|]")  # separators of the other CTff_ss formats


# ---------------------------------------------------------------------------------- field rules
def field_ok(text: str) -> bool:
    """Non-empty latin-1 text that cannot break a ``~`` line (what the server sends or accepts)."""
    if not text or any(c in text for c in _FIELD_FORBIDDEN):
        return False
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def uint(text: str, *, empty: int | None = None) -> int | None:
    """Non-negative decimal integer (surrounding blanks tolerated), else None."""
    s = text.strip()
    if not s:
        return empty
    if not s.isascii() or not s.isdigit() or len(s) > 12:
        return None
    return int(s)


def safe_text(text: str, limit: int = 64) -> str:
    """Peer-supplied text echoed back (``err~<cmd>``): printable ASCII, no separator, bounded."""
    return _UNSAFE.sub("?", text)[:limit]


def is_safe(text: str) -> bool:
    """Printable ASCII without ``~``: what a client may send as a user name or password."""
    return not _UNSAFE.search(text)


def check_location(location: str) -> None:
    """Raise ``TimingInputError`` (a ``ValueError``) unless ``location`` fits the CTP01 location field (1-16 chars, no , ; ~ |)."""
    if (
        not _LOCATION.fullmatch(location)
        or location != location.strip()
        or _OTHER_SEPARATORS.search(location)
    ):
        raise TimingInputError(f"invalid CTP01 location {location!r} (1-16 printable chars, no , ; ~ |)")


def check_observation(
    location: str, tag: str, time: str | dt.datetime, lap: int = 0, reader_id: str = "", gator: int = 0
) -> None:
    """Raise ``TimingInputError`` (a ``ValueError``) unless the fields make a valid CT01_33 line (so bad input fails early)."""
    check_location(location)
    if not _TAG.fullmatch(tag):
        raise TimingInputError(f"invalid tag {tag!r} (1-8 letters/digits)")
    if isinstance(time, str) and (
        not time or _UNSAFE.search(time) or _OTHER_SEPARATORS.search(time) or " " in time
    ):
        raise TimingInputError(f"invalid time text {time!r}")
    if not 0 <= lap <= 999 or not 0 <= gator <= 99:
        raise TimingInputError(f"lap must be 0..999 and gator 0..99, got {lap}, {gator}")
    if not _READER.fullmatch(reader_id):
        raise TimingInputError(f"invalid reader id {reader_id!r} (up to 6 letters/digits)")


# ---------------------------------------------------------------------------------- writing
def format_data_line(
    fmt: str, seq: int, location: str, tag: str, time_text: str, lap: int, reader_id: str, gator: int
) -> str:
    """One data line in the negotiated ``tagevent-format`` (its 6th character picks the separator)."""
    fields = (fmt, seq, location, tag, time_text, lap, reader_id, gator)
    return _SEPARATORS[fmt[5]].join(str(f) for f in fields)


# ---------------------------------------------------------------------------------- reading
def parse_data_line(
    raw: str,
    fields: list[str],
    *,
    time_format: str,
    tz: ZoneInfo,
    reference_date: dt.date,
    near: float | Callable[[], float] | None = None,
) -> TagRead | GunTime | NewLocation | str:
    """A data line already split on ``~`` → its event, or the reason it is bad.

    ``near`` (a clock on the same axis: the PC's now, or the previous read of a recording)
    places a bare time of day on the day nearest to it, so a race run across midnight
    keeps its order and its elapsed times (``chronotrack_time.nearest_day``).

    ``newlocation`` is returned before lap, gator and time are looked at: its seq
    is the location's index, not a read, and clients fill the other fields loosely.
    """
    if len(fields) != 8:
        return f"data line has {len(fields)} fields, expected 8 ({_DATA_LAYOUT})"
    _fmt, seq_text, loc, tag, time_text, lap_text, reader, gator_text = fields
    seq = uint(seq_text)
    if seq is None:
        return f"sequence number {seq_text!r} is not a number"
    if not loc.strip():
        return "empty location"
    if not tag.strip():
        return "empty tag"
    kind = tag.strip().lower()
    if kind == "newlocation":
        return NewLocation(loc, seq, raw)
    lap, gator = uint(lap_text, empty=0), uint(gator_text, empty=0)
    if lap is None or gator is None:
        return f"lap {lap_text!r} / gator {gator_text!r} must be numbers"
    clock, problem = _parse_time(time_text, time_format, tz, reference_date, near)
    if clock is None:
        return f"bad time: {problem}"
    if kind == "guntime":
        return GunTime(loc, seq, time_text, clock, reader, raw)
    return TagRead(loc, seq, tag, time_text, clock, lap, reader, gator, raw)


def _parse_time(
    text: str,
    time_format: str,
    tz: ZoneInfo,
    reference_date: dt.date,
    near: float | Callable[[], float] | None,
) -> tuple[float | None, str]:
    """Configured format first; if the client ignored time-format, accept any valid format."""
    kw = {"reference_date": reference_date, "tz": tz}
    fmt = time_format
    try:
        clock = parse_ct_time(text, fmt, **kw)
    except TimeFormatError as exc:
        other = detect_time_format(text)
        if other is None or other == time_format:
            return None, str(exc)
        fmt = other
        try:
            clock = parse_ct_time(text, fmt, **kw)
        except TimeFormatError as exc2:
            return None, str(exc2)
    return placed_on_day(clock, text, fmt, near), ""
