"""Import a CT01_33 recording (a ``.ctp``: our export, or a raw log of CTP01 traffic) as a stream.

The recorded lines keep their own numbers: ``(location, seq)`` of each line is the read's
identity, as on the wire, so a recording imported twice (or a longer export of the same stream
imported later) adds only what is new.  Reads take the same path as live ones (TimingService →
pipeline → sessions), in chunks under the backpressure limit (``wait_for_room``).

Three steps like ``controller_import``: ``load_recording`` parses and checks every line (in an
executor: a recording may hold 250,000 lines) and refuses a recording with no data line or
with a bad one, naming the line, before anything is stored; ``plan_recording_stream`` puts the
stream in one unit of work; ``feed_recording`` hands the reads to the pipeline once it committed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from race_control.store.unit_of_work import UnitOfWork
from race_control.timing.ingest.controller_import import feed_events
from race_control.timing.ingest.streams import StreamState, TimingService
from race_control.timing.protocols.ctp01_lines import parse_data_line
from race_control.timing.protocols.errors import TimingInputError
from race_control.timing.protocols.events import GunTime, NewLocation, TagRead

PROTOCOL = "ctp01-recording"

MARK = "CT01_33~"


@dataclass(frozen=True)
class Recording:
    """A parsed recording (nothing stored yet)."""

    source_key: str
    name: str
    timezone: str
    reference: dt.date
    events: list[TagRead | GunTime]
    locations: list[str]


def _header(text: str) -> dict[str, str]:
    """The ``# key: value`` lines our export writes before the data (absent in a raw log)."""
    out: dict[str, str] = {}
    for line in text.splitlines()[:20]:
        if line.startswith("# ") and ": " in line:
            key, _, value = line[2:].partition(": ")
            out.setdefault(key.strip(), value.strip())
    return out


def parse_recording(data: bytes, *, timezone: str | None, date: str | None, name: str) -> Recording:
    """Every ``CT01_33~`` line of ``data`` (Latin-1, like the wire); ``TimingInputError`` naming
    the first bad line, or when there is no data line at all."""
    text = data.decode("latin-1")
    head = _header(text)
    tz = timezone or head.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimingInputError(f"'timezone' {tz[:64]!r} is not a known IANA time zone") from None
    day = date or head.get("reference_date") or ""
    try:
        reference = dt.date.fromisoformat(day) if day else dt.date.today()
    except ValueError:
        raise TimingInputError(f"'date' {day[:40]!r} is not a YYYY-MM-DD date") from None
    events: list[TagRead | GunTime] = []
    near: float | None = None  # the previous read: a recording of a race run across midnight
    for no, raw in enumerate(text.splitlines(), start=1):
        at = raw.find(MARK)
        if at < 0:
            continue  # comments, greetings, commands and acks of a raw log
        line = raw[at:].strip()
        ev = parse_data_line(
            line, line.split("~"), time_format="normal", tz=zone, reference_date=reference, near=near
        )
        if isinstance(ev, str):
            raise TimingInputError(f"line {no}: {ev}: {line[:120]!r}")
        if not isinstance(ev, NewLocation):
            events.append(ev)
            near = ev.clock
    if not events:
        raise TimingInputError("no CT01_33 data line in the recording (lines look like CT01_33~seq~loc~...)")
    source = head.get("stream") or hashlib.sha256(data).hexdigest()[:32]
    locations = list(dict.fromkeys(ev.location for ev in events))
    return Recording(
        f"recording:{source}"[:200], name or head.get("event", ""), tz, reference, events, locations
    )


async def load_recording(data: bytes, *, timezone: str | None, date: str | None, name: str) -> Recording:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, lambda: parse_recording(data, timezone=timezone, date=date, name=name)
    )


def plan_recording_stream(timing: TimingService, uow: UnitOfWork, rec: Recording) -> StreamState:
    """The recording's stream (``live: false``), one row in ``uow``.  Caller holds ``timing.lock``."""
    return timing.plan_attach(
        uow,
        PROTOCOL,
        rec.source_key,
        client="CT01_33 recording",
        event_name=rec.name[:200],
        timezone=rec.timezone,
        reference_date=rec.reference.isoformat(),
        live=False,
        locations=rec.locations,
    )


async def feed_recording(timing: TimingService, state: StreamState, rec: Recording) -> dict[str, Any]:
    """Hand the recorded reads to the pipeline like live ones; what was added."""
    added, guns = await feed_events(timing, state, rec.events)
    return {
        "timing_session_id": state.id,
        "locations": rec.locations,
        "reference_date": rec.reference.isoformat(),
        "reads": added - guns,
        "gun_times": guns,
        "already_imported": len(rec.events) - added,
    }
