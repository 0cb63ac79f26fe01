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

Who may write into a stream (docs/protocols/ctp01.md#connection-id):

* A (location, seq) that is already stored and arrives again with the SAME content is a
  resend (a reconnecting client resends its cursor): dropped, nothing to tell.  With OTHER
  content it is a conflict: the stored read stays, the other one is written to
  ``read_conflicts`` (its raw line is in ``raw_lines`` like every line), counted on the
  stream (``conflicts``) and raised as a critical ``seq_conflict`` alert.
* The resume cursor is the end of the contiguous run of stored seqs (``SeqTracker.cursor``:
  1..n for CTP01), never the highest seen: reads above a gap do not make a client skip it.
* A network connection (``peer_host`` given) that claims the source key of a stream
  connected right now from ANOTHER address does not join it: it gets a stream of its own
  (``<key>@<its address>``, ``claimed_from`` the claimed stream, ``suspect``), and a
  critical ``stream_claimed`` alert names both addresses; that address keeps that stream.
  A claim while the stream is not connected is accepted (a controller may come back with a
  new DHCP address) with a warning ``stream_claimed`` alert naming the old and new address.
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

from race_control.alerts import AlertBoard
from race_control.ids import new_id
from race_control.roster.participants import normalize_bib
from race_control.store.database import Store
from race_control.store.models import RawLine, Read, ReadConflict, TimingStream
from race_control.store.unit_of_work import UnitOfWork
from race_control.timing.ingest.pipeline import IngestPipeline
from race_control.timing.ingest.stored_read import SeqTracker, StoredRead, content_key
from race_control.timing.ingest.streams_kept import Derived, KeptUnusable
from race_control.timing.ingest.streams_kept import decode as decode_kept
from race_control.timing.ingest.streams_kept import encode as encode_kept
from race_control.timing.protocols.errors import TimingInputError, TimingNotFound
from race_control.timing.protocols.events import GunTime, TagRead

log = logging.getLogger("race_control.timing")
CLOCK_WARNING_AFTER = 600.0  # seconds between a live read's time and now before we warn
CONFLICT_RETRY, CONFLICT_ATTEMPTS = 0.05, 8  # writing read_conflicts rows while the store fails

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
    "claimed_from",
    "suspect",
    "last_seen_at",
    "created_at",
)
# rebuilt from reads, raw lines and read conflicts
DERIVED = ("reads", "last_read_at", "next_n", "trackers", "conflicts")
RUNTIME = ("connections", "peers", "_midnight", "_warned_at")  # this process only


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
    conflicts: int = 0  # (location, seq)s sent again with other content (rows of read_conflicts)
    claimed_from: str = ""  # the stream whose source key this one claimed from another address
    suspect: bool = False  # made for such a claim: the operator should look before binding it
    peers: dict[str, int] = field(default_factory=dict)  # network hosts connected now -> links
    _midnight: float | None = None  # epoch of local midnight of reference_date (cached)
    _warned_at: float = 0.0

    def wall_time(self, clock: float) -> float:
        """A read's clock as Unix time (for the far-from-now check and analytics)."""
        if self._midnight is None:
            day = dt.date.fromisoformat(self.reference_date) if self.reference_date else dt.date.today()
            self._midnight = dt.datetime.combine(day, dt.time(), ZoneInfo(self.timezone)).timestamp()
        return self._midnight + clock

    def cursors(self) -> dict[str, int]:
        """Per location, the end of the contiguous run of stored seqs (1..n, no gap): where a
        reconnecting client resumes.  Not the highest seq seen: one read far above a gap (a
        spoofed seq 200000) must not make the client skip everything below it."""
        return {loc: c for loc, t in self.trackers.items() if (c := t.cursor) > 0}

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
            "conflicts": self.conflicts,
            "claimed_from": self.claimed_from,
            "suspect": self.suspect,
            "created_at": self.created_at,
        }


class TimingService:
    def __init__(
        self, store: Store, pipeline: IngestPipeline, *, timezone: str, alerts: AlertBoard | None = None
    ) -> None:
        self._store = store
        self._pipeline = pipeline
        self._timezone = timezone
        # told of sequence conflicts and claimed streams (a board of its own when none is given)
        self._alerts = alerts if alerts is not None else AlertBoard()
        self._conflicts: list[dict[str, Any]] = []  # read_conflicts rows not written yet
        self._conflict_writer: asyncio.Task[None] | None = None
        self._streams: dict[str, StreamState] = {}
        self._by_key: dict[tuple[str, str], StreamState] = {}
        self.listeners: list[Any] = []  # called with (stream) when a stream changes
        self.clock_listeners: list[Any] = []  # called with (stream) when its clock warning is (re)written
        # held from planning a stream write to its commit (and by background saves), so a plan
        # always starts from what the previous one applied and two writes never interleave
        self.lock = asyncio.Lock()
        self._saves: set[asyncio.Task[None]] = set()

    def streams(self) -> list[StreamState]:
        return sorted(self._streams.values(), key=lambda s: s.created_at)

    def stream(self, stream_id: str) -> StreamState | None:
        return self._streams.get(stream_id)

    async def load(self) -> None:
        """Know every stored stream at start-up (their read counts and resume cursors): derived
        from the stored reads, or taken from what the last clean stop kept (``keep``) when the
        store says the file is the very one that stop closed."""
        kept, self._store.kept_at_close = self._store.kept_at_close, None
        for state in await self._store.run(_load_streams, kept):
            self._streams[state.id] = state
            self._by_key[(state.protocol, state.source_key)] = state

    async def keep(self) -> bytes:
        """What the next start-up would derive from the stored reads, derived now (a clean stop,
        once nothing writes reads any more: ``streams_kept``)."""
        return await self._store.run(_keep_streams)

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
        peer_host: str = "",
    ) -> StreamState:
        """Find the stream for this source, or plan a new one (time zone, date and ``live``
        apply to a new stream only).  Once ``uow`` commits it is known, marked connected and
        its listeners are told; before that nothing in memory has changed.  Caller holds ``lock``.

        ``peer_host`` (the address of a network peer that named its own source key, e.g. a
        CTP01 connection id) decides who may join a stream: see the module docstring."""
        state = self._by_key.get((protocol, source_key))
        claimed, held_by, moved_from = self._claim(protocol, source_key, state, peer_host)
        if claimed is not None:  # not taken over: the claimant's own stream
            source_key = f"{source_key}@{peer_host}"
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
                claimed_from=claimed.id if claimed is not None else "",
                suspect=claimed is not None,
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
            if peer_host:
                state.peers[peer_host] = state.peers.get(peer_host, 0) + 1
            self._changed(state)
            log.info("stream %s (%s %s) attached from %s", state.id, protocol, source_key, remote_addr)
            if claimed is not None:
                self._alert_claim(state, claimed, peer_host, held_by)
            elif moved_from:
                self._alert_moved(state, peer_host, moved_from)

        uow.after_commit(_apply)
        return state

    def _claim(
        self, protocol: str, source_key: str, state: StreamState | None, peer_host: str
    ) -> tuple[StreamState | None, list[str], str]:
        """Who ``peer_host`` may be for the stream of ``source_key``: (the stream it claimed
        but does not get, the addresses holding that stream) or, when it takes over a stream
        last connected from elsewhere, that address."""
        if state is None or not peer_host or state.peers.get(peer_host):
            return None, [], ""  # a new source, not a network peer, or another link of the same host
        held_by = sorted(h for h, n in state.peers.items() if n > 0)
        if held_by or (protocol, f"{source_key}@{peer_host}") in self._by_key:
            # connected from another address now, or this address was caught claiming it
            # before (it keeps its own stream: it never takes the real one over in a gap)
            return state, held_by, ""
        previous = _host(state.remote_addr)
        if state.connections == 0 and previous and previous != peer_host:
            return None, [], previous
        return None, [], ""

    def _alert_claim(self, state: StreamState, claimed: StreamState, host: str, held_by: list[str]) -> None:
        holders = (
            f"which is connected from {', '.join(held_by)}"
            if held_by
            else f"again (it did so before while that was connected; last from {_host(claimed.remote_addr)})"
        )
        message = (
            f"a {state.protocol} client at {host} claimed the id {claimed.source_key!r} of timing "
            f"session {claimed.id} {holders}: it did not take it over; its "
            f"reads go to a separate, suspect timing session {state.source_key!r} ({state.id}), "
            "not to any display. If it is not one of your controllers, unplug it from the network "
            "and turn on CTP01 authentication or a timing allow-list"
        )
        log.warning("stream %s: %s", claimed.id, message)
        self._alerts.raise_alert(
            "stream_claimed",
            state.id,
            message,
            severity="critical",
            claimed_stream=claimed.id,
            claimant=host,
            connected_from=held_by,
        )

    def _alert_moved(self, state: StreamState, host: str, previous: str) -> None:
        message = (
            f"timing session {state.id} ({state.protocol} {state.source_key!r}) was connected from "
            f"{previous} and is now connected from {host}: accepted (a controller may get a new "
            "address), but if that is not your controller, unplug it and check this session's reads"
        )
        log.warning("stream %s: %s", state.id, message)
        self._alerts.raise_alert(
            "stream_claimed", state.id, message, severity="warning", previous=previous, now=host
        )

    async def attach(self, protocol: str, source_key: str, **fields: Any) -> StreamState:
        """Find or create the stream for this source and mark it connected (a transport that
        identified its peer; one unit of work).  ``fields``: the keywords of ``plan_attach``."""
        async with self.lock:
            uow = UnitOfWork(self._store)
            state = self.plan_attach(uow, protocol, source_key, **fields)
            await uow.commit()
        return state

    def detach(self, state: StreamState, peer_host: str = "") -> None:
        """A connection ended (``peer_host``: the one it was attached with)."""
        state.connections = max(0, state.connections - 1)
        if peer_host and state.peers.get(peer_host, 0) > 1:
            state.peers[peer_host] -= 1
        else:
            state.peers.pop(peer_host, None)
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

    @property
    def failing(self) -> bool:
        """Storing reads fails now (transports pause reading until a batch is stored again)."""
        return self._pipeline.failing

    def is_stored(self, state: StreamState, location: str, seq: int) -> bool:
        tracker = state.trackers.get(location)
        return tracker is not None and tracker.has(seq)

    def accept(self, state: StreamState, event: TagRead | GunTime, received_at: float) -> bool:
        """Queue a read for storage; False if this (location, seq) is already stored: with the
        same content a resend (nothing to do), with other content a conflict (recorded, counted
        and alerted; the stored read stays).  The read's raw line is the last one handed in."""
        if isinstance(event, GunTime):
            kind, tag, lap, gator = "gun", "guntime", 0, 0
        else:
            kind, tag, lap, gator = "tag", event.tag, event.lap, event.gator
        key = content_key(kind, tag, event.time_text, lap, event.reader_id, gator)
        tracker = state.trackers.get(event.location)
        if tracker is None:
            tracker = state.trackers[event.location] = SeqTracker()
        if not tracker.add(event.seq, key):
            if tracker.key_of(event.seq) != key:
                self._conflict(state, event, kind, tag, received_at)
            return False
        bib = normalize_bib(tag) if kind == "tag" else ""
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

    def _conflict(
        self, state: StreamState, event: TagRead | GunTime, kind: str, tag: str, received_at: float
    ) -> None:
        """``event`` has the (location, seq) of a stored read but other content: keep it as a
        ``read_conflicts`` row (written in the background, in batches), count it, alert."""
        lap, gator = (event.lap, event.gator) if isinstance(event, TagRead) else (0, 0)
        state.conflicts += 1
        self._conflicts.append(
            {
                "stream_id": state.id,
                "location": event.location,
                "seq": event.seq,
                "raw_n": state.next_n - 1,
                "kind": kind,
                "tag": tag,
                "time_text": event.time_text,
                "lap": lap,
                "reader_id": event.reader_id,
                "gator": gator,
                "remote_addr": state.remote_addr,
                "received_at": received_at,
                "created_at": time.time(),
            }
        )
        if self._conflict_writer is None:
            self._conflict_writer = task = asyncio.get_running_loop().create_task(self._write_conflicts())
            self._saves.add(task)
            task.add_done_callback(self._saves.discard)
        message = (
            f"timing session {state.id} ({state.source_key!r}, {state.remote_addr}) sent {event.location} "
            f"seq {event.seq} again with other content ({tag[:32]!r} at {event.time_text[:40]!r}): the read stored first "
            f"is kept, the other one is recorded; {state.conflicts} conflict(s) so far. A controller "
            "that was reset, or someone else sending under its id"
        )
        if state.conflicts <= 10 or state.conflicts % 1000 == 0:  # every one is in read_conflicts
            log.warning("stream %s: %s", state.id, message)
        self._alerts.raise_alert(
            "seq_conflict",
            state.id,
            message,
            severity="critical",
            conflicts=state.conflicts,
            location=event.location,
            seq=event.seq,
        )

    async def _write_conflicts(self) -> None:
        """Write the pending conflict rows in batches; retried while the store fails, given up
        (logged, kept pending for the next conflict's writer) after about 15 s of failures."""
        delay, failures = CONFLICT_RETRY, 0
        try:
            while self._conflicts:
                rows, self._conflicts = self._conflicts, []
                try:
                    await self._store.run(_insert_conflicts, rows)
                except Exception as exc:
                    self._conflicts[:0] = rows
                    failures += 1
                    if failures >= CONFLICT_ATTEMPTS:
                        log.error(
                            "%d sequence conflicts not stored yet (retried with the next one): %s",
                            len(self._conflicts),
                            exc,
                        )
                        return
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                delay, failures = CONFLICT_RETRY, 0
        finally:
            self._conflict_writer = None

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
            for fn in self.clock_listeners:
                fn(state)

    def plan_clock(self, uow: UnitOfWork, stream_id: str, body: object) -> StreamState:
        """Per-source time zone and event date (apply to the next reads and connections, once
        ``uow`` commits).  Caller holds ``lock``."""
        state = self._streams.get(stream_id)
        if state is None:
            raise TimingNotFound(f"timing session {stream_id[:64]!r} does not exist")
        if not isinstance(body, dict) or not body:
            raise TimingInputError("body must be an object with 'timezone' and/or 'reference_date'")
        unknown = sorted(str(k)[:40] for k in body if k not in ("timezone", "reference_date"))
        if unknown:
            raise TimingInputError(
                f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a timing session's clock; "
                "known: timezone, reference_date"
            )
        tz = body.get("timezone", state.timezone)
        day = body.get("reference_date", state.reference_date)
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            shown = tz[:64] if isinstance(tz, str) else type(tz).__name__
            raise TimingInputError(f"'timezone' {shown!r} is not a known IANA time zone") from None
        try:
            year = dt.date.fromisoformat(day).year
        except (ValueError, TypeError):
            year = 0
        if not isinstance(day, str) or len(day) != 10 or not 1970 <= year <= 2100:
            shown = day[:40] if isinstance(day, str) else type(day).__name__
            raise TimingInputError(f"'reference_date' {shown!r} is not a YYYY-MM-DD date from 1970 to 2100")
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


def _host(addr: str) -> str:
    """The host of a ``host:port`` peer address (``::1:5000`` -> ``::1``); "" if none."""
    return addr.rsplit(":", 1)[0] if ":" in addr else addr


def _insert_conflicts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    # OR IGNORE: one raw line is one read, so a retried batch that was stored after all is no error
    conn.execute(ReadConflict.__table__.insert().prefix_with("OR IGNORE"), rows)


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


_TRACKED_READS = (
    "SELECT location, seq, kind, tag, time_text, lap, reader_id, gator, received_at "
    f"FROM {Read.__tablename__} WHERE stream_id = ? ORDER BY location, seq"
)


def _derive(conn: Connection, stream_id: str) -> Derived:
    """The stream's DERIVED fields that come from its reads: the seq trackers, the tag reads'
    count and latest arrival, in one pass over its stored reads."""
    # plain driver rows in primary-key order (no sort), one location's tracker at a time:
    # this runs for every stored read at start-up (1,000,000 in a long race)
    d = Derived()
    cursor = conn.exec_driver_sql(_TRACKED_READS, (stream_id,)).cursor
    tracker, at = None, None
    tags, latest = 0, None
    while rows := cursor.fetchmany(20_000):
        for loc, seq, kind, tag, time_text, lap, reader_id, gator, received_at in rows:
            if loc != at:
                tracker, at = d.trackers.setdefault(loc, SeqTracker()), loc
            tracker.add(seq, content_key(kind, tag, time_text, lap, reader_id, gator))  # type: ignore[union-attr]
            if kind == "tag":
                tags += 1
                if latest is None or received_at > latest:
                    latest = received_at
    d.reads, d.last_read_at = tags, latest
    return d


def _keep_streams(conn: Connection) -> bytes:
    t = TimingStream.__table__
    return encode_kept({stream_id: _derive(conn, stream_id) for (stream_id,) in conn.execute(select(t.c.id))})


def _usable_kept(kept: bytes | None, stream_ids: list[str]) -> dict[str, Derived] | None:
    """What the last clean stop kept, if it is whole and of exactly these streams; else None
    (the reason logged: start-up derives everything from the reads, as after a crash)."""
    if kept is None:
        return None
    try:
        derived = decode_kept(kept)
    except KeptUnusable as exc:
        log.warning(
            "the streams' state kept by the last clean stop is unusable (%s): derived from the reads", exc
        )
        return None
    if sorted(derived) != sorted(stream_ids):
        log.warning(
            "the streams' state kept by the last clean stop is of other streams (%d kept, %d stored): "
            "derived from the reads",
            len(derived),
            len(stream_ids),
        )
        return None
    log.info(
        "the streams' seq trackers and counts kept by the last clean stop are used (%d streams)", len(derived)
    )
    return derived


def _load_streams(conn: Connection, kept: bytes | None = None) -> list[StreamState]:
    t = TimingStream.__table__
    raw_t = RawLine.__table__
    ct = ReadConflict.__table__
    rows = list(conn.execute(select(t)).mappings())
    derived = _usable_kept(kept, [r["id"] for r in rows])
    out = []
    for r in rows:
        s = StreamState(id=r["id"], **{name: r[name] for name in STORED})
        s.locations = list(s.locations or [])
        # DERIVED: what ingest counts in memory, rebuilt from what it stored (or kept: above)
        d = derived[s.id] if derived is not None else _derive(conn, s.id)
        s.trackers, s.reads, s.last_read_at = d.trackers, d.reads, d.last_read_at
        s.conflicts = conn.execute(
            select(func.count()).select_from(ct).where(ct.c.stream_id == s.id)
        ).scalar_one()
        s.next_n = (
            conn.execute(select(func.max(raw_t.c.n)).where(raw_t.c.stream_id == s.id)).scalar() or 0
        ) + 1
        out.append(s)
    return out
