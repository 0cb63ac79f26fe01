"""Import ChronoTrack controller files (``TO~`` reads, ``.mrk`` markers) when the network failed.

Imported reads flow through exactly the same path as live ones (TimingService →
pipeline → sessions): one stream per controller and location, numbered like the
simulator numbers the same data, so importing the same files twice changes nothing.
The action (``operations.timing.import_files``) is three steps: ``load_import``
validates and reads the files, ``plan_stream`` puts the stream and its settings in one
unit of work, and once that committed ``feed_reads`` hands the reads to the pipeline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from race_control.heap import full_collections_deferred, release_in_slices
from race_control.store.unit_of_work import UnitOfWork
from race_control.timing.ingest.backpressure import wait_for_room
from race_control.timing.ingest.streams import StreamState, TimingService
from race_control.timing.protocols.controller_files import (
    ControllerData,
    ControllerFileError,
    load_controller_dir,
    load_controller_file,
    to_timing_events,
)
from race_control.timing.protocols.errors import TimingInputError
from race_control.timing.protocols.events import GunTime, TagRead

PROTOCOL = "controller-file"
FEED_CHUNK = 1_000  # reads handed to the pipeline between two looks at its backlog at most
FEED_STEP = 100  # reads between two looks at the clock
FEED_SLICE_S = 0.008  # loop time a slice of feeding takes at most (~10 ms for 1,000 reads idle)


def _load(path: Path) -> ControllerData:
    if path.is_dir():
        return load_controller_dir(path)
    if path.is_file():
        return load_controller_file(path)
    raise TimingInputError(f"{path}: no such file or folder")


def validate_import(body: object) -> tuple[Path, str | None, str, dt.date | None]:
    if not isinstance(body, dict) or not isinstance(body.get("path"), str) or not body["path"]:
        raise TimingInputError("body must be an object with 'path' (a controller folder or a .csv/.mrk file)")
    unknown = set(body) - {"path", "location", "timezone", "date"}
    if unknown:
        raise TimingInputError(f"unknown field(s): {', '.join(sorted(unknown))}")
    location = body.get("location")
    if location is not None and (not isinstance(location, str) or not location or len(location) > 16):
        raise TimingInputError("'location' must be a name of 1-16 characters")
    tz = body.get("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise TimingInputError(f"'timezone' {str(tz)[:64]!r} is not a known IANA time zone") from None
    day = body.get("date")
    try:
        date = dt.date.fromisoformat(day) if day is not None else None
    except (TypeError, ValueError):
        raise TimingInputError(f"'date' {str(day)[:40]!r} is not a YYYY-MM-DD date") from None
    return Path(body["path"]).expanduser(), location, tz, date


@dataclass(frozen=True)
class ControllerImport:
    """Validated files, read and turned into timing events (nothing stored yet)."""

    path: Path
    location: str
    timezone: str
    reference: dt.date
    only_date: dt.date | None
    controller: str
    data: ControllerData
    days: Counter[dt.date]
    events: list[TagRead | GunTime]


async def load_import(body: object) -> ControllerImport:
    """Validate the request and read the files.  Reading, parsing, counting the days and
    numbering the events all run in an executor (``_prepare``): a million-row file is seconds
    of Python, which on the loop would stall every screen and the timing sockets."""
    path, location, tz, only_date = validate_import(body)
    loop = asyncio.get_running_loop()
    try:
        with full_collections_deferred():  # heap.py: a million objects made at once
            return await loop.run_in_executor(None, _prepare, path, location, tz, only_date)
    except ControllerFileError as exc:
        raise TimingInputError(str(exc)) from None


def _prepare(path: Path, location: str | None, tz: str, only_date: dt.date | None) -> ControllerImport:
    """``load_import``'s work off the loop (blocking: an executor thread)."""
    data = _load(path)
    zone = ZoneInfo(tz)
    reads = data.reads
    if only_date is not None:  # a folder can hold other events' sessions (another day)
        reads = [r for r in reads if _day(r.epoch, zone) == only_date]
    if not reads and not data.markers:
        raise TimingInputError(f"{path}: no reads or markers found ({len(data.errors)} bad rows)")
    location = location or (path.name if path.is_dir() else path.parent.name) or "IMPORT"
    location = location[:16]
    days = Counter(_day(r.epoch, zone) for r in reads)
    reference = only_date or (min(days) if days else dt.date.today())
    controller = data.markers[0].controller if data.markers else path.stem
    events = to_timing_events(reads, data.markers if reads else [], location, zone, reference)
    return ControllerImport(path, location, tz, reference, only_date, controller, data, days, events)


def plan_stream(timing: TimingService, uow: UnitOfWork, imp: ControllerImport) -> StreamState:
    """The import's stream (created on the first import of these files) with its clock, its
    location and ``live: false`` — one row in ``uow``.  Caller holds ``timing.lock``."""
    return timing.plan_attach(
        uow,
        PROTOCOL,
        f"{imp.controller}:{imp.location}",
        client=f"controller files {imp.controller}",
        event_name=imp.path.name,
        remote_addr=str(imp.path),
        timezone=imp.timezone,
        reference_date=imp.reference.isoformat(),
        live=False,
        locations=[imp.location],
    )


async def feed_events(
    timing: TimingService, state: StreamState, events: list[TagRead | GunTime]
) -> tuple[int, int]:
    """Hand stored-to-be events (each with ``location``, ``seq`` and its ``line``) to the ingest
    pipeline like live ones, in chunks under the backpressure limit (``wait_for_room``), then
    detach the stream; (events added, of them gun times).  Events already stored are skipped."""
    added = guns = 0
    deferred = full_collections_deferred()  # heap.py: the reads queued meanwhile are many
    deferred.__enter__()
    try:
        now = time.time()
        until, fed = 0.0, FEED_CHUNK
        for start in range(0, len(events), FEED_STEP):
            if fed >= FEED_CHUNK or time.perf_counter() >= until:  # then the loop runs
                await wait_for_room(timing)
                until, fed = time.perf_counter() + FEED_SLICE_S, 0
            for ev in events[start : start + FEED_STEP]:
                if timing.is_stored(state, ev.location, ev.seq):
                    continue
                timing.raw_line(state, ev.line, now)
                if timing.accept(state, ev, now):
                    added += 1
                    guns += isinstance(ev, GunTime)
            fed += FEED_STEP
    finally:
        timing.detach(state)
        deferred.__exit__(None, None, None)
    return added, guns


async def feed_reads(timing: TimingService, state: StreamState, imp: ControllerImport) -> dict[str, Any]:
    """Hand the reads to the ingest pipeline like live ones (the stream is attached and
    committed); returns what was added and what was quarantined.

    In chunks of ``FEED_CHUNK``, under the backpressure limit the sockets obey: above it,
    feeding waits until the pipeline has stored most of what it holds (``wait_for_room``), so
    a million-row file never sits in the queue at once, and the loop runs between chunks."""
    added, guns = await feed_events(timing, state, imp.events)
    data = imp.data
    total = len(imp.events)
    # handed over: the file's million objects freed in slices, not all at once at the end
    await release_in_slices([imp.events, data.reads])
    return {
        "timing_session_id": state.id,
        "location": imp.location,
        "reference_date": imp.reference.isoformat(),
        "reads": added - guns,
        "gun_times": guns,
        "already_imported": total - added,
        "other_days": sum(n for d, n in imp.days.items() if d != imp.reference)
        if imp.only_date is None
        else 0,
        "bad_rows": [{"file": e.path, "line": e.line_no, "error": e.reason} for e in data.errors[:200]],
        "bad_row_count": len(data.errors),
    }


def _day(epoch: float, zone: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).astimezone(zone).date()
