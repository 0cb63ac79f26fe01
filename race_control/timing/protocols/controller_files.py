"""ChronoTrack controller files: ``TO~`` read files (``.csv``) and ``.mrk`` marker files.

A controller (Pro2 box) writes one ``<n>.csv`` of tag observations and one
``<n>.mrk`` of markers (gun presses, clock changes, power, settings) per session.
Timers copy them off after a race, so importing them is the fallback when the
live CTP01 stream failed, and the same files drive the demo simulator.

Layouts (docs/protocols/controller-files.md; field names after Tachyon's ``TagObservation``)::

    TO~seq~tag~timerCode~eventCode~epoch~readerMac~antenna~rssi~readerSeq~tagType[~readCount]
    controller,seq,kind,tagSeq,YYMMDDhhmmsscc,detail

Firmware varies: older boxes zero-pad every number (``TO~000001~009573~...``)
and some omit the read count (11 fields).  One bad row must not lose a race, so
parsing never raises for a row: it is quarantined as a ``FileRowError`` with its
line number; only an unreadable file raises ``ControllerFileError``.

``lap`` in the events is the tag's occurrence at the location (1, 2, ...; capped
at 999), as SimpleClient counts it; ``gator`` is the controller's antenna port.

Clocks (checked against the 2021 sample data, see tests): the ``TO~`` epoch and
the ``.mrk`` wall time are the *same* controller clock.  Each ``Gun`` marker's
time falls between the reads numbered ``tagSeq - 1`` and ``tagSeq`` when the
epoch is rendered in UTC, to the hundredth, so the 4th marker field is "the
sequence number the next read will get" and the epoch is the controller's local
wall clock counted as if it were UTC (the race's guns were at 08:00-09:00 that
way).  Hence ``tz="UTC"`` reproduces the controller's wall clock; a different
``tz`` is applied to reads *and* markers alike so gun and read stay comparable.
In ``TimeChange`` markers the detail is the clock value before the change and
``when`` the value after it (a box that booted with a dead clock logs
``..., 2021-05-08 07:13:40, 1980-01-01 00:01:28``: 88 s after a 1980 boot) [Inf].
"""

from __future__ import annotations

import calendar
import datetime as dt
import heapq
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import AnyStr, TypeVar
from zoneinfo import ZoneInfo

from race_control.timing.protocols.chronotrack_time import format_normal
from race_control.timing.protocols.errors import TimingInputError
from race_control.timing.protocols.events import GunTime, TagRead

__all__ = [
    "ControllerData",
    "ControllerFileError",
    "ControllerRead",
    "FileRowError",
    "Marker",
    "load_controller_dir",
    "load_controller_file",
    "marker_epoch",
    "parse_marker_line",
    "parse_markers",
    "parse_read_line",
    "parse_reads",
    "parse_stamp",
    "to_timing_events",
    "wall_time",
]

READ_SUFFIXES = (".csv",)
MARKER_SUFFIXES = (".mrk",)
MAX_LAP = 999  # CT01_33 lap field: at most 3 digits

_INT = re.compile(r"[+-]?\d{1,12}")
_EPOCH = re.compile(r"\d{1,12}(?:\.\d{1,6})?")
_HEX = re.compile(r"[0-9A-Fa-f]{1,12}")
_TAG = re.compile(r"[0-9A-Za-z]{1,16}")
_STAMP = re.compile(r"\d{14}")


_R = TypeVar("_R", "ControllerRead", "Marker")


class ControllerFileError(TimingInputError):
    """A controller file or folder cannot be read at all (missing, a directory, no permission)."""


@dataclass(frozen=True, slots=True)
class FileRowError:
    """A row that was skipped: where it is and why (shown to the operator, never fatal)."""

    path: str
    line_no: int
    reason: str
    line: str


@dataclass(frozen=True, slots=True)
class ControllerRead:
    """One ``TO~`` observation.  ``tag`` has leading zeros stripped (the bib); ``line`` is verbatim."""

    sequence: int
    tag: str
    timer_code: int
    event_code: int
    epoch: float
    reader_mac: str
    antenna: int
    rssi: int
    reader_seq: int
    tag_type: str
    read_count: int | None
    line: str
    path: str = ""
    line_no: int = 0

    @property
    def centis(self) -> int:
        """The epoch in exact hundredths (the files carry two decimals; floats would drift)."""
        return round(self.epoch * 100)


@dataclass(frozen=True, slots=True)
class Marker:
    """One ``.mrk`` row.  ``value`` is the detail parsed as a stamp (``TimeChange``), else ``None``."""

    controller: str
    seq: int
    kind: str
    value: dt.datetime | None
    tag_seq: int
    when: dt.datetime
    detail: str
    line: str
    path: str = ""
    line_no: int = 0

    @property
    def is_gun(self) -> bool:
        return self.kind == "Gun"

    @property
    def centis(self) -> int:
        """``marker_epoch`` in hundredths, as ``ControllerRead.centis`` (the two sort together)."""
        return round(marker_epoch(self) * 100)


@dataclass(slots=True)
class ControllerData:
    """Everything read from one folder or file; ``errors`` holds the quarantined rows."""

    reads: list[ControllerRead] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    errors: list[FileRowError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def extend(self, other: ControllerData) -> None:
        self.reads.extend(other.reads)
        self.markers.extend(other.markers)
        self.errors.extend(other.errors)
        self.files.extend(other.files)


def _int(text: str, name: str) -> int:
    t = text.strip()
    if not _INT.fullmatch(t):
        raise TimingInputError(f"{name} is not an integer: {text!r}")
    return int(t)


def strip_zeros(tag: str) -> str:
    """``009573`` → ``9573`` (older firmware pads tags); ``0`` stays ``0``."""
    return tag.lstrip("0") or "0"


def parse_read_line(line: str) -> ControllerRead:
    """Parse one ``TO~`` line (11 or 12 fields).  Raises ``TimingInputError`` (a ``ValueError``) with the reason."""
    text = line.strip()
    parts = text.split("~")
    if parts[0] != "TO":
        raise TimingInputError("not a TO~ observation line")
    if len(parts) not in (11, 12):
        raise TimingInputError(f"expected 11 or 12 fields, got {len(parts)}")
    tag = parts[2].strip()
    if not _TAG.fullmatch(tag):
        raise TimingInputError(f"bad tag {parts[2]!r}")
    epoch_text = parts[5].strip()
    if not _EPOCH.fullmatch(epoch_text):
        raise TimingInputError(f"bad epoch time {parts[5]!r}")
    epoch = float(epoch_text)
    if not math.isfinite(epoch) or epoch <= 0:
        raise TimingInputError(f"epoch time out of range: {parts[5]!r}")
    mac = parts[6].strip()
    if not _HEX.fullmatch(mac):
        raise TimingInputError(f"bad reader MAC {parts[6]!r}")
    sequence = _int(parts[1], "sequence")
    if sequence < 0:
        raise TimingInputError(f"negative sequence {sequence}")
    read_count = _int(parts[11], "read count") if len(parts) == 12 else None
    return ControllerRead(
        sequence=sequence,
        tag=strip_zeros(tag),
        timer_code=_int(parts[3], "timer code"),
        event_code=_int(parts[4], "event code"),
        epoch=epoch,
        reader_mac=mac.upper(),
        antenna=_int(parts[7], "antenna"),
        rssi=_int(parts[8], "rssi"),
        reader_seq=_int(parts[9], "reader sequence"),
        tag_type=parts[10].strip(),
        read_count=read_count,
        line=text,
    )


def parse_stamp(text: str) -> dt.datetime:
    """``YYMMDDhhmmsscc`` → naive datetime (years 70-99 are 19xx: clocks reset to 1980)."""
    t = text.strip()
    if not _STAMP.fullmatch(t):
        raise TimingInputError(f"bad YYMMDDhhmmsscc stamp {text!r}")
    yy = int(t[0:2])
    year = 1900 + yy if yy >= 70 else 2000 + yy
    try:
        return dt.datetime(
            year, int(t[2:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]), int(t[10:12]), int(t[12:14]) * 10_000
        )
    except ValueError as exc:
        raise TimingInputError(f"invalid stamp {text!r}: {exc}") from exc


def parse_marker_line(line: str) -> Marker:
    """Parse one ``.mrk`` line.  Raises ``TimingInputError`` (a ``ValueError``) with the reason."""
    text = line.strip()
    parts = text.split(",", 5)
    if len(parts) != 6:
        raise TimingInputError(f"expected 6 comma-separated fields, got {len(parts)}")
    controller, kind, detail = parts[0].strip(), parts[2].strip(), parts[5].strip()
    if not controller:
        raise TimingInputError("empty controller id")
    if not kind:
        raise TimingInputError("empty marker kind")
    value = parse_stamp(detail) if _STAMP.fullmatch(detail) else None
    return Marker(
        controller=controller,
        seq=_int(parts[1], "marker sequence"),
        kind=kind,
        value=value,
        tag_seq=_int(parts[3], "tag sequence"),
        when=parse_stamp(parts[4]),
        detail=detail,
        line=text,
    )


PIECE = 1 << 20  # characters (bytes of a file) split into lines at once (``_lines``, ``_read_text``)
Text = str | list[str]  # a file's text, or its pieces each ending after a ``\n`` (``_read_text``)


def _cut(text: AnyStr, start: int = 0) -> Iterator[AnyStr]:
    """``text`` (a ``str`` or the ``bytes`` of a file) from ``start`` in pieces of about ``PIECE``,
    each cut after a newline: one C call over a million-row file's whole text holds the GIL for
    tens of ms."""
    newline = "\n" if isinstance(text, str) else b"\n"
    while start < len(text):
        cut = text.find(newline, start + PIECE)  # type: ignore[arg-type]
        end = len(text) if cut < 0 else cut + 1
        yield text[start:end]
        start = end


def _pieces(text: Text) -> Iterator[str]:
    """``text`` in ``_cut``'s pieces (a list from ``_read_text`` is that already)."""
    return iter(text) if isinstance(text, list) else _cut(text)


def _lines(text: Text) -> Iterator[tuple[int, str]]:
    """The non-blank lines with their numbers.  Split a piece of ``PIECE`` characters (cut after
    a ``\n``) at a time: one ``splitlines`` of a million-row file holds the GIL ~0.15 s."""
    no = 0
    for piece in _pieces(text):
        for raw in piece.splitlines():
            no += 1
            if raw.strip():
                yield no, raw


def parse_reads(text: Text, path: str = "") -> tuple[list[ControllerRead], list[FileRowError]]:
    """All ``TO~`` rows of a file's text; blank lines are skipped, bad rows reported."""
    reads: list[ControllerRead] = []
    errors: list[FileRowError] = []
    for no, raw in _lines(text):
        try:
            rec = parse_read_line(raw)
        except ValueError as exc:
            errors.append(FileRowError(path, no, str(exc), raw.strip()))
            continue
        reads.append(_located(rec, path, no))
    return reads, errors


def parse_markers(text: Text, path: str = "") -> tuple[list[Marker], list[FileRowError]]:
    """All ``.mrk`` rows of a file's text; blank lines are skipped, bad rows reported."""
    markers: list[Marker] = []
    errors: list[FileRowError] = []
    for no, raw in _lines(text):
        try:
            rec = parse_marker_line(raw)
        except ValueError as exc:
            errors.append(FileRowError(path, no, str(exc), raw.strip()))
            continue
        markers.append(_located(rec, path, no))
    return markers, errors


def _located(rec: _R, path: str, no: int) -> _R:
    """Copy a frozen record with its file position filled in."""
    return replace(rec, path=path, line_no=no)


def _read_text(path: Path) -> list[str]:
    """The file's text (latin-1, NULs and a UTF-8 BOM dropped) in pieces of about ``PIECE`` bytes,
    each cut after a ``\n``: decoding a million-row file (~80 MB) into one string is one C call
    of 40-60 ms, from the import's executor thread a stall of the event loop (issue #13)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ControllerFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # skipped, not cut off (a copy of the file)
    return [piece.replace(b"\x00", b"").decode("latin-1") for piece in _cut(data, bom)]


def load_controller_file(path: str | Path) -> ControllerData:
    """One ``.csv`` (reads) or ``.mrk`` (markers) file."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in READ_SUFFIXES + MARKER_SUFFIXES:
        raise ControllerFileError(f"{p}: not a controller file (expected .csv or .mrk)")
    text = _read_text(p)
    out = ControllerData(files=[p])
    if suffix in READ_SUFFIXES:
        out.reads, out.errors = parse_reads(text, str(p))
    else:
        out.markers, out.errors = parse_markers(text, str(p))
    return out


def load_controller_dir(path: str | Path) -> ControllerData:
    """Every ``.csv`` and ``.mrk`` of a controller folder, files in name order (``.ati`` is ignored)."""
    p = Path(path)
    if not p.is_dir():
        raise ControllerFileError(f"{p}: not a folder")
    try:
        wanted = READ_SUFFIXES + MARKER_SUFFIXES
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in wanted)
    except OSError as exc:
        raise ControllerFileError(f"cannot list {p}: {exc.strerror or exc}") from exc
    out = ControllerData()
    for f in files:
        out.extend(load_controller_file(f))
    return out


def marker_epoch(marker: Marker) -> float:
    """A marker's wall time on the reads' epoch axis (the same clock counted as UTC, see module doc)."""
    return calendar.timegm(marker.when.timetuple()) + marker.when.microsecond / 1_000_000


def wall_time(centis: int, zone: ZoneInfo) -> dt.datetime:
    """Hundredths on the controller epoch → naive wall-clock time in ``zone`` (see module doc)."""
    secs, cs = divmod(centis, 100)
    return (dt.datetime.fromtimestamp(secs, dt.UTC).astimezone(zone).replace(tzinfo=None)) + dt.timedelta(
        milliseconds=cs * 10
    )


SORT_CHUNK = 20_000  # items per sort: one C sort holds the GIL throughout, however long it is


def _time_ordered(guns: list[Marker], reads: list[ControllerRead]) -> Iterator[Marker | ControllerRead]:
    """Guns and reads by time, a gun before a read of the same hundredth, each kind in file
    order.  Sorted in chunks of ``SORT_CHUNK`` by one integer key, then merged: a single sort of
    a million (time, kind, index) tuples holds the GIL for a second — from the import's executor
    thread that is a stall of the event loop — while a chunk takes a few ms and the merge is
    Python that lets the loop in."""
    width = max(len(guns), len(reads)) + 1  # key = (centis * 2 + kind) * width + index: unique
    keyed = chain(
        ((m.centis * 2 * width + i, m) for i, m in enumerate(guns)),
        (((r.centis * 2 + 1) * width + i, r) for i, r in enumerate(reads)),
    )
    first = itemgetter(0)
    chunks = []
    while chunk := sorted(islice(keyed, SORT_CHUNK), key=first):
        chunks.append(chunk)
    # merged from iterators, not the lists: each list is freed when its iterator runs out (20,000
    # pairs at a time); the lists themselves held by the merge were all freed at once when it ended,
    # a million pairs in one C call (~80 ms of the GIL)
    return map(itemgetter(1), heapq.merge(*map(iter, chunks), key=first))


def to_timing_events(
    reads: Iterable[ControllerRead],
    markers: Iterable[Marker],
    location: str,
    tz: str | ZoneInfo,
    reference_date: dt.date,
) -> list[TagRead | GunTime]:
    """Reads and ``Gun`` markers as ``TagRead``/``GunTime`` events, as a live CTP01 stream would give them.

    Events are ordered by time (a gun before a read of the same hundredth) and
    numbered 1..n, exactly as ``Ctp01Client``/the simulator number the same data,
    so importing a file after a live stream dedupes on (location, seq) instead
    of doubling.  A folder may hold several sessions whose sequences restart,
    which is another reason not to reuse the controller's own numbers.
    ``clock`` is wall-clock seconds since local midnight of ``reference_date``;
    ``time_text`` the same clock as CTP01 ``normal`` ``HH:MM:SS.hh`` (hours run past 24).
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    midnight = dt.datetime.combine(reference_date, dt.time())
    guns = [m for m in markers if m.is_gun]
    reads = reads if isinstance(reads, list) else list(reads)
    out: list[TagRead | GunTime] = []
    seen: dict[str, int] = {}
    for seq, rec in enumerate(_time_ordered(guns, reads), start=1):
        centis = rec.centis
        delta = wall_time(centis, zone) - midnight
        local_centis = delta.days * 8_640_000 + delta.seconds * 100 + delta.microseconds // 10_000
        clock = local_centis / 100
        text = format_normal(local_centis)
        if isinstance(rec, Marker):
            out.append(GunTime(location, seq, text, clock, reader_id=rec.controller, line=rec.line))
        else:
            seen[rec.tag] = lap = seen.get(rec.tag, 0) + 1
            out.append(
                TagRead(
                    location,
                    seq,
                    rec.tag,
                    text,
                    clock,
                    lap=min(lap, MAX_LAP),
                    reader_id=rec.reader_mac,
                    gator=rec.antenna,
                    line=rec.line,
                )
            )
    return out
