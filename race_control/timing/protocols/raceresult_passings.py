"""RACE RESULT passing records and decoder clocks, and the sequence scheme built on them.

A decoder reports a passing as ``PassingNo;Bib/TranspCode;Date;Time;...`` (four
fields before protocol 1.6, twenty since; docs/protocols/raceresult.md#passing-records).  This module
turns one into a ``Passing`` and the decoder's date and time into our clock axis
(seconds since local midnight of the reference date, as for CTP01, see
``ct_time``), so the state machine in ``raceresult`` only decides what to do
with a passing.  Nothing here raises for decoder input: a bad record becomes the
reason it is bad.

PassingNo restarts at 1 in every decoder file, so the file number goes into the
sequence: ``seq = FileNumber * FILE_STRIDE + PassingNo`` (``encode_seq``).  Reads
of different files never collide, a stored cursor decodes back to (file,
PassingNo), and ``divmod(seq, FILE_STRIDE)`` shows both in any dump.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from race_control.timing.protocols.chronotrack_time import pc_clock

__all__ = [
    "FILE_STRIDE",
    "MAX_FILE",
    "TRIGGER_PREFIX",
    "Passing",
    "decode_seq",
    "decoder_clock",
    "encode_seq",
    "number",
    "parse_passing",
    "pc_clock",
]

FILE_STRIDE = 10_000_000  # PassingNo per file stays far below; seq fits SQLite's int64
MAX_FILE = 10**11
TRIGGER_PREFIX = "99999"  # tag prefix of trigger/marker passings → gun times
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?")


def encode_seq(file_number: int, passing_no: int) -> int:
    return file_number * FILE_STRIDE + passing_no


def decode_seq(seq: int) -> tuple[int, int]:
    """seq → (file number, PassingNo)."""
    return divmod(seq, FILE_STRIDE)


def number(text: str) -> int | None:
    """A non-negative decimal field (blanks tolerated, at most 15 digits), else None."""
    s = text.strip()
    return int(s) if s.isascii() and s.isdigit() and len(s) <= 15 else None


@dataclass(frozen=True, slots=True)
class Passing:
    no: int
    tag: str
    date: str
    time: str
    clock: float
    file: int | None
    box_name: str
    box_id: str
    loop: int


def parse_passing(fields: list[str], reference_date: dt.date) -> Passing | str:
    """A passing record (short pre-1.6 or 20-field) → ``Passing``, else the reason it is bad."""
    if len(fields) < 4:
        return f"passing record has {len(fields)} fields, expected at least 4 (No;Bib;Date;Time)"
    no = number(fields[0])
    if no is None or not 1 <= no < FILE_STRIDE:
        return f"PassingNo {fields[0]!r} is not a number in 1..{FILE_STRIDE - 1}"
    tag = fields[1].strip()
    if not tag:
        return "empty Bib/TranspCode"
    clock = decoder_clock(fields[2], fields[3], reference_date)
    if clock is None:
        return f"bad date/time {fields[2]!r} {fields[3]!r} (expected YYYY-MM-DD;HH:MM:SS.mmm)"
    file = None
    if len(fields) >= 18 and fields[17].strip():
        file = number(fields[17])
        if file is None or file >= MAX_FILE:
            return f"FileNumber {fields[17]!r} is not a number"
    box_name = fields[16].strip() if len(fields) >= 17 else ""
    box_id = fields[19].strip() if len(fields) >= 20 else ""
    loop = number(fields[10]) if len(fields) >= 11 else None
    return Passing(no, tag, fields[2].strip(), fields[3].strip(), clock, file, box_name, box_id, loop or 0)


def decoder_clock(date_text: str, time_text: str, reference_date: dt.date) -> float | None:
    """Seconds since local midnight of the reference date (CTP01's axis).

    ``0000-00-0N`` is a decoder without GPS date: N days after the reference day.
    """
    d, t = _DATE.fullmatch(date_text.strip()), _TIME.fullmatch(time_text.strip())
    if not d or not t:
        return None
    h, m, s = int(t[1]), int(t[2]), int(t[3])
    if h > 23 or m > 59 or s > 59:
        return None
    secs = h * 3600 + m * 60 + s + int((t[4] or "0").ljust(6, "0")) / 1_000_000
    year, month, day = int(d[1]), int(d[2]), int(d[3])
    if year == 0 and month == 0:
        return day * 86400 + secs
    try:
        days = (dt.date(year, month, day) - reference_date).days
    except ValueError:
        return None
    return days * 86400 + secs
