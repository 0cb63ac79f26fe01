"""Timing streams: identity, resume cursors, dedupe, and handing reads to the pipeline.

A *stream* is one logical source of reads that survives reconnects: a CTP01
connection id, a RACE RESULT decoder, a set of imported controller files.  Runs
on the loop; protocol transports call ``attach`` once they know who is talking,
then ``accept`` for every event (never blocking), then ``detach``.

A stream's row is written from ONE mapping (``STORED``: the fields that are columns of
``timing_streams`` under the same name), and start-up rebuilds the rest from the stored
reads (``DERIVED``); ``RUNTIME`` fields belong to this process.  Every field of
``StreamState`` is in exactly one of the three (a test enforces it), so a restart brings
back what the stream showed before.  Changes are planned into a ``UnitOfWork`` under
``lock`` (the stream in memory changes only after the commit); counters that ingest
moves on every read (bad lines, clock warnings, locations, last seen) are saved in the
background when a connection ends and when a clock warning is (re)written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, func, select

from race_control.errors import InputError, NotFound
from race_control.ids import new_id
from race_control.roster.participants import normalize_bib
from race_control.store.database import Store
from race_control.store.models import RawLine, Read, TimingStream
from race_control.store.unit_of_work import UnitOfWork
from race_control.timing.ingest.pipeline import IngestPipeline
from race_control.timing.ingest.stored_read import SeqTracker, StoredRead
from race_control.timing.protocols.events import GunTime, TagRead

log = logging.getLogger("race_control.timing")
CLOCK_WARNING_AFTER = 600.0  # seconds between a live read's time and now before we warn

# How every StreamState field survives a restart (tests/timing/test_stream_state.py checks that
# each field is in exactly one of these).  STORED: a timing_streams column of the same name.
STORED = (
    "protocol",
    "source_key",
    "client",
    "event_name",
    "source_event_id",
    "remote_addr",
    "locations",
    "timezone",
    "reference_date",
    "live",
    "bad_lines",
    "clock_warnings",
    "last_clock_warning",
    "last_seen_at",
    "created_at",
)
DERIVED = ("reads", "last_read_at", "next_n", "trackers")  # rebuilt from reads and raw lines
RUNTIME = ("connections", "_midnight", "_warned_at")  # this process only


@dataclass
class StreamState:
    id: str
    protocol: str
    source_key: str
    client: str = ""
    event_name: str = ""
    source_event_id: str = ""
    remote_addr: str = ""
    locations: list[str] = field(default_factory=list)
    timezone: str = "UTC"
    reference_date: str = ""
    connections: int = 0
    reads: int = 0
    bad_lines: int = 0
    last_read_at: float | None = None
    last_seen_at: float | None = None
    next_n: int = 1
    trackers: dict[str, SeqTracker] = field(default_factory=dict)
    created_at: float = 0.0
    live: bool = True  # False for imported files: their times are in the past by design
    clock_warnings: int = 0
    last_clock_warning: str = ""
    _midnight: float | None = None  # epoch of local midnight of reference_date (cached)
    _warned_at: float = 0.0

    def wall_time(self, clock: float) -> float:
        """A read's clock as Unix time (for the far-from-now check and analytics)."""
        if self._midnight is None:
            day = dt.date.fromisoformat(self.reference_date) if self.reference_date else dt.date.today()
            self._midnight = dt.datetime.combine(day, dt.time(), ZoneInfo(self.timezone)).timestamp()
        return self._midnight + clock

    def cursors(self) -> dict[str, int]:
        """Last stored sequence per location: where a reconnecting client resumes."""
        return {loc: t.last for loc, t in self.trackers.items() if t.last > 0}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "protocol": self.protocol,
            "client": self.client,
            "event_name": self.event_name,
            "source_event_id": self.source_event_id,
            "source_key": self.source_key,
            "remote_addr": self.remote_addr,
            "locations": list(self.locations),
            "connected": self.connections > 0,
            "reads": self.reads,
            "bad_lines": self.bad_lines,
            "last_read_at": self.last_read_at,
            "last_seen_at": self.last_seen_at,
            "cursors": self.cursors(),
            "timezone": self.timezone,
            "reference_date": self.reference_date,
            "live": self.live,
            "clock_warnings": self.clock_warnings,
            "last_clock_warning": self.last_clock_warning,
            "created_at": self.created_at,
        }


class TimingService:
    def __init__(self, store: Store, pipeline: IngestPipeline, *, timezone: str) -> None:
        self._store = store
        self._pipeline = pipeline
        self._timezone = timezone
        self._streams: dict[str, StreamState] = {}
        self._by_key: dict[tuple[str, str], StreamState] = {}
        self.listeners: list[Any] = []  # called with (stream) when a stream changes
        # held from planning a stream write to its commit (and by background saves), so a plan
        # always starts from what the previous one applied and two writes never interleave
        self.lock = asyncio.Lock()
        self._saves: set[asyncio.Task[None]] = set()

    def streams(self) -> list[StreamState]:
        return sorted(self._streams.values(), key=lambda s: s.created_at)

    def stream(self, stream_id: str) -> StreamState | None:
        return self._streams.get(stream_id)

    async def load(self) -> None:
        """Know every stored stream at start-up (their read counts and resume cursors)."""
        for state in await self._store.run(_load_streams):
            self._streams[state.id] = state
            self._by_key[(state.protocol, state.source_key)] = state

    def plan_attach(
        self,
        uow: UnitOfWork,
        protocol: str,
        source_key: str,
        *,
        client: str = "",
        event_name: str = "",
        source_event_id: str = "",
        remote_addr: str = "",
        timezone: str | None = None,
        reference_date: str | None = None,
        live: bool = True,
        locations: list[str] | None = None,
    ) -> StreamState:
        """Find the stream for this source, or plan a new one (time zone, date and ``live``
        apply to a new stream only).  Once ``uow`` commits it is known, marked connected and
        its listeners are told; before that nothing in memory has changed.  Caller holds ``lock``."""
        state = self._by_key.get((protocol, source_key))
        stamp = time.time()
        created = state is None
        if state is None:
            tz = timezone or self._timezone
            state = StreamState(
                id=new_id(),
                protocol=protocol,
                source_key=source_key,
                timezone=tz,
                reference_date=reference_date or dt.datetime.now(ZoneInfo(tz)).date().isoformat(),
                created_at=stamp,
                live=live,
            )
        changes: dict[str, Any] = {
            "client": client or state.client,
            "event_name": event_name or state.event_name,
            "source_event_id": source_event_id or state.source_event_id,
            "remote_addr": remote_addr or state.remote_addr,
            "last_seen_at": stamp,
            "locations": _merged(state.locations, locations or []),
        }
        uow.write(_write_stream, state.id, stream_row(state, **changes))
        if created:
            uow.record("stream", state.id, "created", **stream_row(state, **changes))
        else:
            uow.record("stream", state.id, "attached", **changes)

        def _apply() -> None:
            if created:
                self._streams[state.id] = state
                self._by_key[(protocol, source_key)] = state
            changes["locations"] = _merged(state.locations, locations or [])  # reads may have added some
            for name, value in changes.items():
                setattr(state, name, value)
            state.connections += 1
            self._changed(state)
            log.info("stream %s (%s %s) attached from %s", state.id, protocol, source_key, remote_addr)

        uow.after_commit(_apply)
        return state

    async def attach(
        self,
        protocol: str,
        source_key: str,
        *,
        client: str = "",
        event_name: str = "",
        source_event_id: str = "",
        remote_addr: str = "",
        timezone: str | None = None,
        reference_date: str | None = None,
        live: bool = True,
    ) -> StreamState:
        """Find or create the stream for this source and mark it connected (a transport that
        identified its peer; one unit of work)."""
        async with self.lock:
            uow = UnitOfWork(self._store)
            state = self.plan_attach(
                uow,
                protocol,
                source_key,
                client=client,
                event_name=event_name,
                source_event_id=source_event_id,
                remote_addr=remote_addr,
                timezone=timezone,
                reference_date=reference_date,
                live=live,
            )
            await uow.commit()
        return state

    def detach(self, state: StreamState) -> None:
        state.connections = max(0, state.connections - 1)
        self._changed(state)
        self._save_soon(state)  # what ingest counted on this connection survives a restart

    async def set_locations(self, state: StreamState, locations: list[str]) -> None:
        async with self.lock:
            if _merged(state.locations, locations) == state.locations:
                return
            uow = UnitOfWork(self._store)
            uow.write(
                _write_stream, state.id, stream_row(state, locations=_merged(state.locations, locations))
            )

            def _apply() -> None:
                state.locations = _merged(state.locations, locations)
                self._changed(state)

            uow.after_commit(_apply)
            await uow.commit()

    def _save_soon(self, state: StreamState) -> None:
        """Save the stream's row in the background (from a sync caller); ``flush`` waits for it."""
        task = asyncio.get_running_loop().create_task(self._save(state))
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)

    async def _save(self, state: StreamState) -> None:
        try:
            async with self.lock:
                await self._store.run(_write_stream, state.id, stream_row(state))
        except Exception:  # the store is closing or failing: the next save catches up
            log.warning("stream %s: its counters and clock warnings were not saved", state.id, exc_info=True)

    async def flush(self) -> None:
        """Wait for the background saves (before closing the store, and in tests)."""
        while self._saves:
            await asyncio.gather(*list(self._saves))

    def raw_line(self, state: StreamState, line: str, received_at: float) -> None:
        n = state.next_n
        state.next_n += 1
        state.last_seen_at = received_at
        self._pipeline.submit_raw(state.id, n, received_at, line)

    @property
    def backlog(self) -> int:
        """Reads waiting to be committed (transports pause reading their sockets above a limit)."""
        return self._pipeline.backlog

    def is_stored(self, state: StreamState, location: str, seq: int) -> bool:
        tracker = state.trackers.get(location)
        return tracker is not None and tracker.has(seq)

    def accept(self, state: StreamState, event: TagRead | GunTime, received_at: float) -> bool:
        """Queue a read for storage; False if this (location, seq) is already stored."""
        tracker = state.trackers.get(event.location)
        if tracker is None:
            tracker = state.trackers[event.location] = SeqTracker()
        if not tracker.add(event.seq):
            return False
        if isinstance(event, GunTime):
            kind, tag, bib, lap, gator = "gun", "guntime", "", 0, 0
        else:
            kind, tag, bib, lap, gator = "tag", event.tag, normalize_bib(event.tag), event.lap, event.gator
        read = StoredRead(
            stream_id=state.id,
            location=event.location,
            seq=event.seq,
            kind=kind,
            tag=tag,
            bib=bib,
            time_text=event.time_text,
            clock=event.clock,
            lap=lap,
            reader_id=event.reader_id,
            gator=gator,
            raw_n=state.next_n - 1,
            received_at=received_at,
        )
        if kind == "tag":
            state.reads += 1
            state.last_read_at = received_at
            if state.live:
                self._check_clock(state, event, received_at)
        if event.location not in state.locations:
            state.locations.append(event.location)
        self._pipeline.submit_read(read)
        return True

    def _check_clock(self, state: StreamState, event: TagRead, received_at: float) -> None:
        """Warn when a live read's time is far from now: a wrong controller clock, time zone
        or event date shows wrong times on every screen (docs/protocols/ctp01.md#time-formats)."""
        off = state.wall_time(event.clock) - received_at
        if abs(off) < CLOCK_WARNING_AFTER:
            return
        state.clock_warnings += 1
        if received_at - state._warned_at > 60:  # the text is built (and logged) once a minute at most
            state._warned_at = received_at
            state.last_clock_warning = (
                f"read time {event.time_text} at {event.location} is {abs(off) / 60:.0f} min "
                f"{'ahead of' if off > 0 else 'behind'} this computer's clock: check the controller "
                f"clock and the stream's time zone ({state.timezone}) and date ({state.reference_date})"
            )
            log.warning("stream %s: %s", state.id, state.last_clock_warning)
            self._save_soon(state)

    def plan_clock(self, uow: UnitOfWork, stream_id: str, body: object) -> StreamState:
        """Per-source time zone and event date (apply to the next reads and connections, once
        ``uow`` commits).  Caller holds ``lock``."""
        state = self._streams.get(stream_id)
        if state is None:
            raise NotFound(f"timing session {stream_id[:64]!r} does not exist")
        if not isinstance(body, dict) or not body or set(body) - {"timezone", "reference_date"}:
            raise InputError("body must be an object with 'timezone' and/or 'reference_date'")
        tz = body.get("timezone", state.timezone)
        day = body.get("reference_date", state.reference_date)
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise InputError(f"'timezone' {str(tz)[:64]!r} is not a known IANA time zone") from None
        try:
            dt.date.fromisoformat(day)
        except (ValueError, TypeError):
            raise InputError(f"'reference_date' {str(day)[:40]!r} is not a YYYY-MM-DD date") from None
        uow.write(_write_stream, state.id, stream_row(state, timezone=tz, reference_date=day))
        uow.record("stream", state.id, "updated", timezone=tz, reference_date=day)

        def _apply() -> None:
            state.timezone, state.reference_date, state._midnight = tz, day, None
            self._changed(state)

        uow.after_commit(_apply)
        return state

    async def update_settings(self, stream_id: str, body: object) -> StreamState:
        """``plan_clock`` in a unit of work of its own (tools; the app's action is
        ``operations.timing.set_clock``)."""
        async with self.lock:
            uow = UnitOfWork(self._store)
            state = self.plan_clock(uow, stream_id, body)
            await uow.commit()
        return state

    def _changed(self, state: StreamState) -> None:
        for fn in self.listeners:
            fn(state)


def _merged(current: list[str], more: list[str]) -> list[str]:
    return list(dict.fromkeys([*current, *more]))


def stream_row(s: StreamState, **changes: Any) -> dict[str, Any]:
    """The stream's ``timing_streams`` columns (``STORED``), with ``changes`` applied."""
    row = {name: changes.get(name, getattr(s, name)) for name in STORED}
    row["locations"] = list(row["locations"])
    return row


def _write_stream(conn: Connection, stream_id: str, row: dict[str, Any]) -> None:
    t = TimingStream.__table__
    stamp = time.time()
    if not conn.execute(t.update().where(t.c.id == stream_id).values(**row, updated_at=stamp)).rowcount:
        conn.execute(t.insert().values(id=stream_id, **row, updated_at=stamp))


def _load_streams(conn: Connection) -> list[StreamState]:
    t = TimingStream.__table__
    rt = Read.__table__
    raw_t = RawLine.__table__
    out = []
    for r in conn.execute(select(t)).mappings():
        s = StreamState(id=r["id"], **{name: r[name] for name in STORED})
        s.locations = list(s.locations or [])
        # DERIVED: what ingest counts in memory, rebuilt from what it stored
        seqs = select(rt.c.location, rt.c.seq).where(rt.c.stream_id == s.id).order_by(rt.c.location, rt.c.seq)
        for loc, seq in conn.execute(seqs):
            s.trackers.setdefault(loc, SeqTracker()).add(seq)
        tags = (rt.c.stream_id == s.id, rt.c.kind == "tag")
        s.reads = conn.execute(select(func.count()).select_from(rt).where(*tags)).scalar_one()
        s.last_read_at = conn.execute(select(func.max(rt.c.received_at)).where(*tags)).scalar()
        s.next_n = (
            conn.execute(select(func.max(raw_t.c.n)).where(raw_t.c.stream_id == s.id)).scalar() or 0
        ) + 1
        out.append(s)
    return out
