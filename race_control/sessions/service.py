"""Display sessions: event + mode + template + bound timing streams + crossing rules.

Runs on the event loop.  ``derive`` is called by the ingest pipeline with every
committed-to-be batch of reads (while holding ``lock``), so sequence numbers are
assigned in one place and each display event is written in the same transaction
as the read it came from.  Binding a stream replays the stream's stored reads
through the session's engine under the same lock: nothing is missed or doubled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from race_control.errors import Conflict, InputError, NotFound
from race_control.ids import new_id, new_token
from race_control.roster.service import EventService
from race_control.sessions.crossing import Crossing, CrossingEngine, CrossingRules
from race_control.sessions.finisher import finisher_payload
from race_control.store.database import Store
from race_control.store.models import DisplayEvent, DisplaySession, Read, SessionStream, Suppression, now
from race_control.timing.records import StoredRead

log = logging.getLogger("race_control.sessions")
MODES = ("results", "pre-race")
Publisher = Callable[[str, list[dict[str, Any]]], None]


@dataclass
class LiveSession:
    id: str
    token: str
    event_id: str
    name: str
    mode: str
    template_id: str | None
    rules: CrossingRules
    status: str
    created_at: float
    streams: set[str] = field(default_factory=set)
    next_seq: int = 1
    engine: CrossingEngine = field(init=False)
    finishers: int = 0
    suppressed: int = 0

    def __post_init__(self) -> None:
        self.engine = CrossingEngine(self.rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "name": self.name,
            "mode": self.mode,
            "template_id": self.template_id,
            "locations": list(self.rules.locations),
            "rules": self.rules.to_json(),
            "status": self.status,
            "timing_session_ids": sorted(self.streams),
            "last_seq": self.next_seq - 1,
            "finishers": self.finishers,
            "suppressed": self.suppressed,
            "created_at": self.created_at,
        }


@dataclass
class Derived:
    events: list[dict[str, Any]] = field(default_factory=list)  # display_events rows
    suppressions: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.suppressions)


class SessionService:
    def __init__(self, store: Store, events: EventService, *, default_window: float = 30.0) -> None:
        self._store = store
        self._events = events
        self._window = default_window
        self.lock = asyncio.Lock()
        self._sessions: dict[str, LiveSession] = {}
        self._by_token: dict[str, LiveSession] = {}
        self._by_stream: dict[str, list[LiveSession]] = {}
        self._publishers: list[Publisher] = []

    def add_publisher(self, fn: Publisher) -> None:
        self._publishers.append(fn)

    def publish(self, derived: Derived) -> None:
        """Hand committed display events to the screens (after the transaction)."""
        by_session: dict[str, list[dict[str, Any]]] = {}
        for row in derived.events:
            by_session.setdefault(row["session_id"], []).append(row["payload"])
        for sid, payloads in by_session.items():
            for fn in self._publishers:
                fn(sid, payloads)

    # --- queries ----------------------------------------------------------------------
    def get(self, session_id: str) -> LiveSession:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise NotFound(f"display session {session_id[:64]!r} does not exist") from None

    def by_token(self, token: str) -> LiveSession | None:
        return self._by_token.get(token)

    def sessions(self) -> list[LiveSession]:
        return sorted(self._sessions.values(), key=lambda s: s.created_at)

    # --- start-up ---------------------------------------------------------------------
    async def load(self) -> None:
        """Rebuild open sessions from the store, replaying their streams' reads."""

        def _load(conn: Connection) -> tuple[list[Any], list[Any], dict[str, int]]:
            rows = list(conn.execute(select(DisplaySession).where(DisplaySession.status == "open")).all())
            links = list(conn.execute(select(SessionStream)).all())
            seqs = dict(
                conn.execute(
                    select(DisplayEvent.session_id, func.max(DisplayEvent.seq)).group_by(
                        DisplayEvent.session_id
                    )
                ).all()
            )
            return rows, links, seqs

        rows, links, seqs = await self._store.run(_load)
        for r in rows:
            rules = CrossingRules.from_json(r.rules or None, default_window=self._window)
            s = LiveSession(
                r.id, r.token, r.event_id, r.name, r.mode, r.template_id, rules, r.status, r.created_at
            )
            s.next_seq = seqs.get(r.id, 0) + 1
            self._index(s)
        for link in links:
            s = self._sessions.get(link.session_id)
            if s:
                s.streams.add(link.stream_id)
                self._by_stream.setdefault(link.stream_id, []).append(s)
        # warm the engines (duplicate windows, guns) without re-announcing anything
        for s in list(self._sessions.values()):
            for stream_id in s.streams:
                for read in await self._store.run(_stream_reads, stream_id):
                    result = s.engine.process(read)
                    if isinstance(result, Crossing):
                        s.finishers += 1

    def _index(self, s: LiveSession) -> None:
        self._sessions[s.id] = s
        self._by_token[s.token] = s

    # --- operations -------------------------------------------------------------------
    async def create(self, body: object) -> LiveSession:
        if not isinstance(body, dict):
            raise InputError("body must be a JSON object with 'event_id' and 'mode'")
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise InputError("'event_id' is required")
        self._events.event(event_id)
        mode = body.get("mode")
        if mode not in MODES:
            raise InputError(f"'mode' must be one of {', '.join(MODES)}")
        template_id = body.get("template_id")
        if template_id is not None and (not isinstance(template_id, str) or len(template_id) > 64):
            raise InputError("'template_id' must be a template id string")
        name = body.get("name", "")
        if not isinstance(name, str) or len(name) > 200:
            raise InputError("'name' must be a string of at most 200 characters")
        rules_json = (
            dict(body.get("rules") or {}) if isinstance(body.get("rules"), dict) else body.get("rules")
        )
        if "locations" in body:
            if not isinstance(rules_json, dict | type(None)):
                raise InputError("'rules' must be an object")
            rules_json = dict(rules_json or {})
            rules_json["locations"] = body["locations"]
        rules = CrossingRules.from_json(rules_json, default_window=self._window)
        s = LiveSession(new_id(), new_token(), event_id, name, mode, template_id, rules, "open", now())

        def _insert(conn: Connection) -> None:
            conn.execute(
                DisplaySession.__table__.insert().values(
                    id=s.id,
                    token=s.token,
                    event_id=s.event_id,
                    name=s.name,
                    mode=s.mode,
                    template_id=s.template_id,
                    locations=list(rules.locations),
                    rules=rules.to_json(),
                    status="open",
                    created_at=s.created_at,
                    updated_at=s.created_at,
                )
            )

        await self._store.run(_insert)
        self._index(s)
        return s

    async def bind(self, session_id: str, stream_id: str) -> LiveSession:
        """Bind a timing stream; its stored reads so far are run through the session's rules."""
        s = self.get(session_id)
        if s.status != "open":
            raise Conflict(f"display session {session_id} is closed")
        async with self.lock:
            if stream_id in s.streams:
                return s
            reads = await self._store.run(_stream_reads, stream_id)
            s.streams.add(stream_id)
            self._by_stream.setdefault(stream_id, []).append(s)
            derived = Derived()
            for read in reads:
                self._derive_one(s, read, derived)

            def _write(conn: Connection) -> None:
                conn.execute(
                    SessionStream.__table__.insert().values(
                        session_id=s.id, stream_id=stream_id, created_at=now()
                    )
                )
                write_derived(conn, derived)

            await self._store.run(_write)
        self.publish(derived)
        return s

    def derive(self, reads: list[StoredRead]) -> Derived:
        """Run new reads through every session bound to their stream (caller holds ``lock``)."""
        derived = Derived()
        by_stream = self._by_stream
        for read in reads:
            for s in by_stream.get(read.stream_id, ()):
                if s.status == "open":
                    self._derive_one(s, read, derived)
        return derived

    def _derive_one(self, s: LiveSession, read: StoredRead, out: Derived) -> None:
        result = s.engine.process(read)
        if result is None:
            return
        if isinstance(result, Crossing):
            seq = s.next_seq
            s.next_seq += 1
            s.finishers += 1
            payload = finisher_payload(seq, result, self._events.participant(s.event_id, read.bib))
            out.events.append(
                {
                    "session_id": s.id,
                    "seq": seq,
                    "kind": "finisher",
                    "bib": read.bib,
                    "stream_id": read.stream_id,
                    "location": read.location,
                    "read_seq": read.seq,
                    "payload": payload,
                    "created_at": now(),
                }
            )
        else:
            s.suppressed += 1
            out.suppressions.append(
                {
                    "session_id": s.id,
                    "stream_id": read.stream_id,
                    "location": read.location,
                    "read_seq": read.seq,
                    "bib": read.bib,
                    "reason": result.reason,
                    "created_at": now(),
                }
            )

    async def events_after(self, session_id: str, after_seq: int, limit: int = 5000) -> list[dict[str, Any]]:
        """Stored display messages with seq > after_seq, in order (resume, even after a restart)."""

        def _q(conn: Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                select(DisplayEvent.payload)
                .where(DisplayEvent.session_id == session_id, DisplayEvent.seq > after_seq)
                .order_by(DisplayEvent.seq)
                .limit(limit)
            ).all()
            return [r[0] for r in rows]

        return await self._store.run(_q)


def write_derived(conn: Connection, derived: Derived) -> None:
    if derived.events:
        conn.execute(DisplayEvent.__table__.insert(), derived.events)
    if derived.suppressions:
        stmt = Suppression.__table__.insert().prefix_with("OR IGNORE")
        conn.execute(stmt, derived.suppressions)


def _stream_reads(conn: Connection, stream_id: str) -> list[StoredRead]:
    t = Read.__table__
    rows = conn.execute(select(t).where(t.c.stream_id == stream_id).order_by(t.c.raw_n)).mappings().all()
    return [StoredRead(**{k: r[k] for k in StoredRead.__slots__}) for r in rows]
