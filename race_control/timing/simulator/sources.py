"""What the simulator plays: controller files and recorded CTP01 streams, merged into one timeline.

Sources are controller folders or ``.csv``/``.mrk`` files (location = folder name,
or ``LOCATION=path``) and recorded streams (``.ctp``: lines holding
``CT01_33~...``, e.g. the server's raw log).  Reads of all sources are merged by
time; ``.mrk`` ``Gun`` markers become ``guntime`` lines.  Times are rendered in
``tz``: the 2021 sample controllers keep *local wall-clock* time in their epoch
field (see ``controller_files``), so the default ``UTC`` reproduces the times the
timers saw (first gun 08:00:55.16).

Everything is checked here, before a connection is opened: a row that could not
go on a CT01_33 line is reported as a bad row instead of breaking the run later.
Nothing here does IO beyond reading the files; ``simulator`` plays the result.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from race_control.errors import InputError
from race_control.timing.protocols.chronotrack_time import (
    TimeFormatError,
    detect_time_format,
    parse_ct_time,
    placed_on_day,
)
from race_control.timing.protocols.controller_files import (
    MAX_LAP,
    ControllerData,
    FileRowError,
    load_controller_dir,
    load_controller_file,
    marker_epoch,
    wall_time,
)
from race_control.timing.protocols.ctp01_lines import check_location, check_observation
from race_control.timing.protocols.errors import TimingError, TimingInputError

__all__ = [
    "DEFAULT_TZ",
    "PlayItem",
    "SimSource",
    "SimulationError",
    "load_play_items",
    "parse_source_arg",
]

DEFAULT_TZ = "UTC"  # the sample controllers' epoch already is local wall clock (see module doc)
STREAM_SUFFIXES = (".ctp",)


class SimulationError(TimingError):
    """The run cannot go on: no server, rejected credentials, unreadable source."""


@dataclass(frozen=True, slots=True)
class SimSource:
    path: Path
    location: str | None = None


@dataclass(frozen=True, slots=True)
class PlayItem:
    when: dt.datetime  # naive local wall clock
    location: str
    tag: str  # "guntime" for a gun
    lap: int = 0
    reader_id: str = ""
    gator: int = 0

    @property
    def is_gun(self) -> bool:
        return self.tag == "guntime"


def parse_source_arg(text: str) -> SimSource:
    """``path`` or ``LOCATION=path`` (an existing path containing ``=`` wins)."""
    if "=" in text and not Path(text).exists():
        loc, _, path = text.partition("=")
        if loc and "/" not in loc and os.sep not in loc:
            return SimSource(Path(path), loc)
    return SimSource(Path(text))


def _as_source(src: SimSource | Path | str) -> SimSource:
    return src if isinstance(src, SimSource) else parse_source_arg(str(src))


def _controller_items(
    data: ControllerData, location: str, zone: ZoneInfo
) -> tuple[list[PlayItem], list[FileRowError]]:
    """A controller's reads and gun markers in time order (a gun first within the same hundredth)."""
    keyed: list[tuple[dt.datetime, int, int, PlayItem]] = []
    errors: list[FileRowError] = []
    for i, m in enumerate(data.markers):
        if m.is_gun:
            item = PlayItem(
                wall_time(round(marker_epoch(m) * 100), zone), location, "guntime", 0, m.controller
            )
            keyed.append((item.when, 0, i, item))
    for i, r in enumerate(data.reads):
        item = PlayItem(wall_time(round(r.epoch * 100), zone), location, r.tag, 0, r.reader_mac, r.antenna)
        try:
            check_observation(item.location, item.tag, item.when, 0, item.reader_id, item.gator)
        except ValueError as exc:
            errors.append(FileRowError(r.path, r.line_no, f"cannot be sent as CT01_33: {exc}", r.line))
            continue
        keyed.append((item.when, 1, i, item))
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed], errors


def _stream_items(
    path: Path, location: str | None, zone: ZoneInfo, ref: dt.date
) -> tuple[list[PlayItem], list[FileRowError]]:
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise SimulationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    items: list[PlayItem] = []
    errors: list[FileRowError] = []
    midnight = dt.datetime.combine(ref, dt.time())
    near: float | None = None  # the line before: a recording of a race run across midnight
    for no, raw in enumerate(text.splitlines(), start=1):
        at = raw.find("CT01_33~")
        if at < 0:
            continue  # greetings, commands, acks of a raw log
        f = raw[at:].strip().split("~")
        try:
            if len(f) != 8:
                raise TimingInputError(f"expected 8 fields, got {len(f)}")
            if f[3] == "newlocation":
                continue
            fmt = detect_time_format(f[4])
            if fmt is None:
                raise TimingInputError(f"unrecognised time {f[4]!r}")
            # 00:01 after 23:59 is the next day's
            clock = placed_on_day(parse_ct_time(f[4], fmt, reference_date=ref, tz=zone), f[4], fmt, near)
            near = clock
            when = midnight + dt.timedelta(seconds=round(clock, 2))
            item = PlayItem(when, location or f[2], f[3], int(f[5] or 0), f[6], int(f[7] or 0))
            check_observation(item.location, item.tag, item.when, item.lap, item.reader_id, item.gator)
            items.append(item)
        except (ValueError, TimeFormatError) as exc:
            errors.append(FileRowError(str(path), no, str(exc), raw.strip()))
    items.sort(key=lambda it: it.when)
    return items, errors


def load_play_items(
    sources: Sequence[SimSource | Path | str], *, tz: str = DEFAULT_TZ, date: dt.date | None = None
) -> tuple[list[PlayItem], list[FileRowError]]:
    """All sources merged in time order (stable), with per-location lap = occurrence of the tag."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SimulationError(f"unknown time zone {tz!r}") from exc
    srcs = [_as_source(s) for s in sources]
    for s in srcs:
        if not s.path.exists():
            raise SimulationError(f"no such file or folder: {s.path}")
        if s.location is not None:
            try:
                check_location(s.location)
            except ValueError as exc:
                raise SimulationError(str(exc)) from exc
    per_source: list[list[PlayItem]] = []
    errors: list[FileRowError] = []
    streams: list[SimSource] = []
    for s in srcs:
        if s.path.is_file() and s.path.suffix.lower() in STREAM_SUFFIXES:
            streams.append(s)
            continue
        try:
            data = load_controller_dir(s.path) if s.path.is_dir() else load_controller_file(s.path)
        except InputError as exc:
            raise SimulationError(str(exc)) from exc
        location = s.location or (s.path if s.path.is_dir() else s.path.parent).resolve().name
        try:
            check_location(location)
        except ValueError as exc:
            raise SimulationError(f"{s.path}: {exc}; name it with LOCATION=path") from exc
        items, errs = _controller_items(data, location, zone)
        per_source.append(items)
        errors.extend(data.errors)
        errors.extend(errs)
    ref = date or min((it[0].when.date() for it in per_source if it), default=dt.date.today())
    for s in streams:
        items, errs = _stream_items(s.path, s.location, zone, ref)
        per_source.append(items)
        errors.extend(errs)
    merged = sorted((it for items in per_source for it in items), key=lambda it: it.when)
    if date is not None:
        merged = [it for it in merged if it.when.date() == date]
    laps: dict[tuple[str, str], int] = {}
    out: list[PlayItem] = []
    for it in merged:
        if not it.is_gun and not it.lap:
            key = (it.location, it.tag)
            laps[key] = laps.get(key, 0) + 1
            it = PlayItem(it.when, it.location, it.tag, min(laps[key], MAX_LAP), it.reader_id, it.gator)
        out.append(it)
    return out, errors
