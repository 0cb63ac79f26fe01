"""Display sessions: event + mode + template + bound timing streams + crossing rules.

Runs on the event loop.  ``derive`` is called by the ingest pipeline with each batch
of new reads while it holds ``lock``, so sequence numbers are assigned in one place
and each display event is written in the same transaction as the read it came from.
Every operation that re-runs stored reads (bind, rule change) takes the same lock:
nothing is missed or announced twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import Connection

from race_control.errors import Conflict, InputError, NotFound
from race_control.ids import new_id, new_token
from race_control.roster.participants import ParticipantRow
from race_control.roster.service import EventService
from race_control.sessions import queries as q
from race_control.sessions.crossing import Crossing, CrossingRules
from race_control.sessions.live import MODES, Derived, LiveSession
from race_control.sessions.write_lock import WriteLock
from race_control.store.database import Store
from race_control.store.models import SessionStream, now
from race_control.timing.ingest.stored_read import StoredRead

log = logging.getLogger("race_control.sessions")
Publisher = Callable[[str, list[dict[str, Any]]], None]
Control = Callable[[str, dict[str, Any]], None]
STATUSES = ("open", "closed")


class SessionService:
    def __init__(self, store: Store, events: EventService, *, default_window: float = 30.0) -> None:
        self._store = store
        self.store = store  # analytics queries run through the same DB thread
        self._events = events
        self._window = default_window
        self.lock = WriteLock()  # fails fast while the pipeline cannot store (write_lock.py)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sessions: dict[str, LiveSession] = {}
        self._by_token: dict[str, LiveSession] = {}
        self._by_stream: dict[str, list[LiveSession]] = {}
        self._publishers: list[Publisher] = []
        self._controls: list[Control] = []
        self.listeners: list[Callable[[LiveSession], None]] = []  # session changed (UI redraw)
        # (stream_id, clock) -> Unix time; set by the app once the timing service exists
        self.wall_time: Callable[[str, float], float | None] = lambda _stream, _clock: None
        # every committed batch of decisions (finishers, corrections, suppressions): live previews
        self.decision_listeners: list[Callable[[Derived], None]] = []
        events.add_roster_listener(self._roster_changed)

    def add_publisher(self, fn: Publisher) -> None:
        self._publishers.append(fn)

    def add_control(self, fn: Control) -> None:
        """Receives unsequenced control messages (mode switch, reload) for a session's screens."""
        self._controls.append(fn)

    def publish(self, derived: Derived) -> None:
        """Hand committed display events to the screens (after the transaction)."""
        for listener in self.decision_listeners:
            try:
                listener(derived)
            except Exception:
                log.exception("decision listener failed")
        by_session: dict[str, list[dict[str, Any]]] = {}
        for row in derived.events:
            by_session.setdefault(row["session_id"], []).append(row["payload"])
        for sid, payloads in by_session.items():
            s = self._sessions.get(sid)
            if s is not None and s.mode == "pre-race":
                self._switch_mode(s, "results", "first finisher")
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

    async def events_after(self, session_id: str, after_seq: int, limit: int = 5000) -> list[dict[str, Any]]:
        """Stored display messages with seq > after_seq, in order (resume, even after a restart)."""
        return await self._store.run(q.events_after, session_id, after_seq, limit)

    async def suppressions(
        self, session_id: str, bib: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        self.get(session_id)
        return await self._store.run(q.suppressions, session_id, bib, limit)

    # --- start-up ---------------------------------------------------------------------
    async def load(self) -> None:
        """Rebuild sessions from the store and warm their engines with the stored reads."""
        rows, links, seqs = await self._store.run(q.load_sessions)
        for r in rows:
            rules = CrossingRules.from_json(r.rules or None, default_window=self._window)
            s = self._new_live(
                r.id, r.token, r.event_id, r.name, r.mode, r.template_id, rules, r.status, r.created_at
            )
            s.next_seq = seqs.get(r.id, 0) + 1
            extra = r.settings or {}
            s.starts_at, s.switch_at = extra.get("starts_at"), extra.get("switch_at")
            s.mode_changed_at, s.mode_changed_by = (
                extra.get("mode_changed_at"),
                extra.get("mode_changed_by", ""),
            )
            self._index(s)
        for link in links:
            s = self._sessions.get(link.session_id)
            if s:
                s.streams.add(link.stream_id)
                self._by_stream.setdefault(link.stream_id, []).append(s)
        reads_of: dict[tuple[str, ...], list[StoredRead]] = {}  # sessions often share their streams
        for s in self._sessions.values():
            for payload in await self._store.run(q.uncorrected_unknowns, s.id):
                s.unknown.setdefault(payload["bib"], []).append(payload)
            if s.status == "open" and s.streams:
                key = tuple(sorted(s.streams))
                if key not in reads_of:
                    reads_of[key] = await self._store.run(q.stream_reads, list(key))
                # duplicate windows, guns and starts, without announcing anything again
                for read in reads_of[key]:
                    s.decide(read, Derived(), announce=False)

    def _new_live(self, *args: Any) -> LiveSession:
        return LiveSession(*args, lookup=self._events.participant)  # type: ignore[misc]

    def _index(self, s: LiveSession) -> None:
        self._sessions[s.id] = s
        self._by_token[s.token] = s

    # --- operations -------------------------------------------------------------------
    async def create(self, body: object, *, streams: list[str] | None = None) -> LiveSession:
        if not isinstance(body, dict):
            raise InputError("body must be a JSON object with 'event_id' and 'mode'")
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise InputError("'event_id' is required")
        self._events.event(event_id)
        if body.get("mode") not in MODES:
            raise InputError(f"'mode' must be one of {', '.join(MODES)}")
        fields = _validate_fields(body, self._window, None)
        s = self._new_live(
            new_id(),
            new_token(),
            event_id,
            fields.get("name", ""),
            body["mode"],
            fields.get("template_id"),
            fields.get("rules", CrossingRules(duplicate_window=self._window)),
            "open",
            now(),
        )
        s.starts_at, s.switch_at = fields.get("starts_at"), fields.get("switch_at")
        s.leaderboard_top = fields.get("leaderboard_top", 0)
        await self._store.run(q.save_session, _row(s))
        self._index(s)
        for stream_id in streams or ():
            await self.bind(s.id, stream_id)
        return s

    async def update(self, session_id: str, body: object) -> tuple[LiveSession, dict[str, int]]:
        """Change name, mode, template, times, status or rules.  New rules re-run the stored reads."""
        s = self.get(session_id)
        if not isinstance(body, dict):
            raise InputError("body must be a JSON object")
        fields = _validate_fields(body, self._window, s.rules)
        if "mode" in body and body["mode"] not in MODES:
            raise InputError(f"'mode' must be one of {', '.join(MODES)}")
        if "status" in body and body["status"] not in STATUSES:
            raise InputError(f"'status' must be one of {', '.join(STATUSES)}")
        if s.status == "closed" and body.get("status") != "open":
            raise Conflict(f"display session {s.id} is closed; reopen it with status 'open' first")
        summary: dict[str, int] = {}
        async with self.lock:
            for key in ("name", "template_id", "starts_at", "switch_at", "leaderboard_top"):
                if key in fields:
                    setattr(s, key, fields[key])
            if "status" in body:
                s.status = body["status"]
            if "rules" in fields and fields["rules"] != s.rules:
                summary = await self._rerun(s, fields["rules"])
            if "mode" in body and body["mode"] != s.mode:
                self._switch_mode(s, body["mode"], "operator")
            await self._store.run(q.save_session, _row(s))
        for fn in self._controls:
            fn(s.id, {"type": "session", "session": self.screen_view(s)})
        self._changed(s)
        return s, summary

    async def _rerun(self, s: LiveSession, rules: CrossingRules) -> dict[str, int]:
        """Apply new rules to every stored read: announce what is newly a crossing (new seqs),
        rebuild the suppression log, and report what the old rules had shown that the new do not."""
        reads = await self._store.run(q.stream_reads, sorted(s.streams))
        shown = await self._store.run(q.announced_reads, s.id)
        s.rules = rules
        s.reset_engine()
        s.finishers = s.suppressed = 0
        derived = Derived()
        crossings: set[tuple[str, str, int]] = set()
        for read in reads:
            result = s.decide(read, derived, announce=False)
            if isinstance(result, Crossing):
                key = (read.stream_id, read.location, read.seq)
                crossings.add(key)
                if key not in shown:
                    s.announce(result, derived)
        await self._store.run(q.replace_suppressions, s.id, derived)
        self.publish(derived)
        return {
            "crossings": len(crossings),
            "newly_shown": len(derived.events),
            "shown_before_but_not_now": len(shown - crossings),
            "suppressed": s.suppressed,
        }

    async def bind(self, session_id: str, stream_id: str) -> LiveSession:
        """Bind a timing stream; its stored reads so far run through the session's rules."""
        s = self.get(session_id)
        if s.status != "open":
            raise Conflict(f"display session {session_id} is closed")
        async with self.lock:
            if stream_id in s.streams:
                return s
            reads = await self._store.run(q.stream_reads, [stream_id])
            s.streams.add(stream_id)
            self._by_stream.setdefault(stream_id, []).append(s)
            derived = Derived()
            for read in reads:
                s.decide(read, derived)

            def _write(conn: Connection) -> None:
                conn.execute(
                    SessionStream.__table__.insert().values(
                        session_id=s.id, stream_id=stream_id, created_at=now()
                    )
                )
                q.write_derived(conn, derived)

            await self._store.run(_write)
        self.publish(derived)
        self._changed(s)
        return s

    async def unbind(self, session_id: str, stream_id: str) -> LiveSession:
        """Stop showing a stream's reads; what was shown stays in the session's history."""
        s = self.get(session_id)
        async with self.lock:
            if stream_id not in s.streams:
                raise NotFound(f"timing session {stream_id[:64]!r} is not bound to display session {s.id}")
            s.streams.discard(stream_id)
            self._by_stream[stream_id] = [x for x in self._by_stream.get(stream_id, []) if x is not s]

            def _write(conn: Connection) -> None:
                t = SessionStream.__table__
                conn.execute(t.delete().where(t.c.session_id == s.id, t.c.stream_id == stream_id))

            await self._store.run(_write)
        self._changed(s)
        return s

    def derive(self, reads: list[StoredRead]) -> Derived:
        """Run new reads through every session bound to their stream (caller holds ``lock``)."""
        derived = Derived()
        by_stream = self._by_stream
        for read in reads:
            for s in by_stream.get(read.stream_id, ()):
                if s.status == "open":
                    s.decide(read, derived)
        return derived

    def _roster_changed(self, event_id: str, rows: list[ParticipantRow]) -> None:
        bibs = [r.bib for r in rows]
        targets = [s for s in self._sessions.values() if s.event_id == event_id and s.unknown]
        if targets:
            self._background(self._correct(targets, bibs))

    async def _correct(self, targets: list[LiveSession], bibs: list[str]) -> None:
        """Unknown bibs the roster now knows: screens get a correction with the runner's name."""
        async with self.lock:
            derived = Derived()
            for s in targets:
                s.corrections_for(bibs, derived)
            if derived.events:
                await self._store.run(q.write_derived, derived)
        if derived.events:
            log.info("sent %d corrections for bibs learned by the roster", len(derived.events))
            self.publish(derived)

    def tick(self, wall: float) -> None:
        """Once a second (from the app): scheduled pre-race → results switches, and leaderboards
        of sessions that changed (at most one leaderboard message a second per session)."""
        for s in self._sessions.values():
            if s.gun_dirty and s.status == "open":
                s.gun_dirty = False
                for fn in self._controls:
                    fn(s.id, {"type": "session", "session": self.screen_view(s)})
            if s.board_dirty and s.leaderboard_top and s.status == "open":
                s.board_dirty = False
                board = s.leaderboard(s.leaderboard_top)
                for fn in self._controls:
                    fn(s.id, board)
            if s.mode == "pre-race" and s.switch_at is not None and wall >= s.switch_at:
                s.switch_at = None
                self._switch_mode(s, "results", "schedule")  # saves the session

    def _switch_mode(self, s: LiveSession, mode: str, by: str) -> None:
        s.mode = mode
        s.mode_changed_at = time.time()
        s.mode_changed_by = by
        log.info("session %s switched to %s (%s)", s.id, mode, by)
        for fn in self._controls:
            fn(s.id, {"type": "mode", "mode": mode, "by": by})
        if by != "operator":  # an operator's switch is saved by `update` with the rest of the edit
            self._background(self._store.run(q.save_session, _row(s)))
        self._changed(s)

    def _background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Work started from a sync callback: kept referenced until done, and a failure is logged
        (a bare create_task can be garbage-collected and its exception lost)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background session work failed", exc_info=task.exception())

    def screen_view(self, s: LiveSession) -> dict[str, Any]:
        event = self._events.event(s.event_id)
        return {
            "id": s.id,
            "name": s.name or event.name,
            "event_name": event.name,
            "mode": s.mode,
            "gun_at": self._gun_at(s),
            "starts_at": round(s.starts_at * 1000) if s.starts_at else None,
        }

    def _gun_at(self, s: LiveSession) -> int | None:
        gun = s.latest_gun()
        wall = self.wall_time(*gun) if gun else None
        return round(wall * 1000) if wall is not None else None

    def _changed(self, s: LiveSession) -> None:
        for fn in self.listeners:
            fn(s)


def _validate_fields(body: dict[str, Any], window: float, current: CrossingRules | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in body:
        if not isinstance(body["name"], str) or len(body["name"]) > 200:
            raise InputError("'name' must be a string of at most 200 characters")
        out["name"] = body["name"]
    if "template_id" in body:
        tid = body["template_id"]
        if tid is not None and (not isinstance(tid, str) or not tid or len(tid) > 64):
            raise InputError("'template_id' must be a template id string")
        out["template_id"] = tid
    for key in ("starts_at", "switch_at"):
        if key in body:
            value = body[key]
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise InputError(f"'{key}' must be a Unix time in seconds, or null")
            out[key] = float(value) if value is not None else None
    if "leaderboard_top" in body:
        top = body["leaderboard_top"]
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 100:
            raise InputError("'leaderboard_top' must be a whole number 0-100 (0 = no leaderboard)")
        out["leaderboard_top"] = top
    if "rules" in body or "locations" in body:
        raw = body.get("rules", current.to_json() if current else None)
        if raw is not None and not isinstance(raw, dict):
            raise InputError("'rules' must be an object")
        merged = dict(raw or {})
        if "locations" in body:
            merged["locations"] = body["locations"]
        out["rules"] = CrossingRules.from_json(merged, default_window=window)
    return out


def _row(s: LiveSession) -> dict[str, Any]:
    stamp = now()
    return {
        "id": s.id,
        "token": s.token,
        "event_id": s.event_id,
        "name": s.name,
        "mode": s.mode,
        "template_id": s.template_id,
        "locations": list(s.rules.locations),
        "rules": s.rules.to_json(),
        "status": s.status,
        "created_at": s.created_at,
        "updated_at": stamp,
        "settings": {
            "starts_at": s.starts_at,
            "switch_at": s.switch_at,
            "mode_changed_at": s.mode_changed_at,
            "mode_changed_by": s.mode_changed_by,
            "leaderboard_top": s.leaderboard_top,
        },
    }
