"""Replay a stored timing stream into a display session, as if it were live (docs/history.md#replay).

``ReplayOperations.start`` checks the request and starts one background task per session; the
task reads the stream's stored reads in pages on the store's DB thread (``Store.run``, in arrival
order, the order the live path saw them), paces them on the reads' own clock at ``speed``x (0: as
fast as possible) and runs each due batch through the session exactly as the ingest pipeline runs
live reads: ``LiveSession.decide`` under the sessions' ``WriteLock`` (the same crossing rules,
duplicate windows, suppressions and seqs), the display events written in one unit of work, then
``SessionService.publish`` to the screens.  Each finisher it announces carries ``replay: true``
and a ``read_at`` of the moment it was replayed (the latency a screen acknowledges is the
replay's, not the race day's).  The timing stream itself is only read: its counters, cursors
and clock warnings are not touched, and the session is not bound to it.

``pause`` / ``resume`` / a new ``speed`` (``update``, ``PATCH .../replay``) re-anchor the pacing
at the replay's current position on the reads' clock: a paused replay sends nothing, and resumes
from the same read without a burst for the time it was paused.  The session's screens are told
the replay's state (``{"type": "replay", ...}`` control messages; the hub repeats the latest in
each new screen's ``hello``) so every screen shows the REPLAY badge while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Integer, and_, case, cast, func, or_, select

from race_control.ids import new_id
from race_control.operations.screen_control import NoScreens, ScreenControl
from race_control.sessions import queries as q
from race_control.sessions.errors import SessionConflict, SessionInputError, SessionNotFound
from race_control.sessions.live import Derived, LiveSession
from race_control.sessions.service import SessionService
from race_control.store.models import Read
from race_control.store.unit_of_work import ChangeListener, UnitOfWork
from race_control.timing.ingest.stored_read import StoredRead
from race_control.timing.ingest.streams import TimingService

log = logging.getLogger("race_control.operations.replay")
PAGE = 2000  # stored reads fetched per DB call
BATCH = 250  # reads decided (and committed) at most per turn of the loop: short pauses for it
LOOK_EVERY = 1.0  # s: a paused or waiting replay looks this often whether its session was closed
MIN_SPEED, MAX_SPEED = 0.5, 100.0
FIELDS = ("timing_session_id", "speed", "from", "to")
UPDATE_FIELDS = ("paused", "speed")
_TIME = re.compile(r"^(\d{1,2}):([0-5]\d):([0-5]\d)$")
Cursor = tuple[float, int]  # (received_at, raw_n) of the last read fetched


def _time_of_day(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    m = _TIME.match(value) if isinstance(value, str) else None
    if m is None or int(m.group(1)) > 23:
        raise SessionInputError(f"'{key}' must be a time of day HH:MM:SS (00:00:00 to 23:59:59), or absent")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def _tod(clock: float) -> float:
    return clock % 86400  # the reads' clock is seconds since local midnight (timing.protocols.events)


def _text(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    total = math.floor(_tod(seconds) + 1e-9)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


@dataclass
class Window:
    start: float | None  # time of day (s), inclusive
    end: float | None

    def keeps(self, read: StoredRead) -> bool:
        """Tag reads inside the window; gun times before its end too (the race clock needs them)."""
        tod = _tod(read.clock)
        if self.end is not None and tod > self.end:
            return False
        return read.kind == "gun" or self.start is None or tod >= self.start


@dataclass
class Replay:
    id: str
    session_id: str
    stream_id: str
    speed: float
    window: Window
    total: int = 0
    played: int = 0  # stored reads handed to the session so far
    finishers: int = 0  # finishers it announced
    suppressed: int = 0
    state: str = "running"  # running | finished | stopped | failed
    reason: str = ""
    clock: float | None = None  # the clock of the last read played (the replay clock)
    last_clock: float | None = None  # the clock of the window's last tag read (for the ETA)
    paused: bool = False
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    task: asyncio.Task[None] | None = None
    # pacing (time.monotonic(), the clock asyncio's loops keep): the moment and the read clock
    # the pacing counts from; while paused, the position it stopped at
    anchor: tuple[float, float] | None = None
    frozen: float | None = None
    active: float = 0.0  # seconds spent playing (not paused) before ``since``
    since: float | None = field(default_factory=time.monotonic)  # playing since (None: paused/ended)
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # pause, resume or speed changed
    resumed: asyncio.Event = field(default_factory=asyncio.Event)
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # held while a batch is decided

    def position(self, now: float) -> float | None:
        """Where the replay is on the reads' clock now (between two reads while it waits)."""
        if self.paused or self.state != "running":
            return self.frozen if self.frozen is not None else self.clock
        if self.anchor is None or not self.speed:
            return self.clock
        return self.anchor[1] + (now - self.anchor[0]) * self.speed

    def elapsed(self, now: float) -> float:
        """Seconds spent playing so far (paused time not counted)."""
        return self.active + (now - self.since if self.since is not None else 0.0)

    def eta(self, now: float) -> float | None:
        """Seconds left at this speed: the reads' clock still to play / speed, or (speed 0) the
        reads still to play at the pace so far.  Stays put while paused."""
        if self.state != "running":
            return None
        if self.speed:
            pos = self.position(now)
            if self.last_clock is None or pos is None:
                return None
            return max(0.0, self.last_clock - pos) / self.speed
        if not self.played:
            return None
        return self.elapsed(now) * (self.total - self.played) / self.played

    def screen_state(self) -> dict[str, Any] | None:
        """What the session's screens are told (``replay`` control message, ``hello``)."""
        if self.state != "running":
            return None
        return {"replay_id": self.id, "speed": self.speed, "paused": self.paused}

    def to_json(self) -> dict[str, Any]:
        now = time.monotonic()
        eta = self.eta(now)
        return {
            "replay_id": self.id,
            "session_id": self.session_id,
            "timing_session_id": self.stream_id,
            "speed": self.speed,
            "from": _text(self.window.start),
            "to": _text(self.window.end),
            "state": self.state,
            "paused": self.paused,
            "reason": self.reason,
            "played": self.played,
            "total": self.total,
            "percent": round(100 * self.played / self.total, 1) if self.total else 100.0,
            "finishers": self.finishers,
            "suppressed": self.suppressed,
            "replay_clock": _text(self.clock),
            "last_clock": _text(self.last_clock),
            "eta_seconds": None if eta is None else round(eta, 1),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


async def _end(r: Replay) -> None:
    """Cancel ``r``'s task between two batches, never in one: a batch decided (the session's
    state changed) is also committed, published and counted."""
    assert r.task is not None
    async with r.turn:
        r.task.cancel()
    try:
        await r.task
    except asyncio.CancelledError:
        pass


def _page(conn: Connection, stream_id: str, after: Cursor | None, limit: int) -> list[StoredRead]:
    t = Read.__table__
    where = t.c.stream_id == stream_id
    if after is not None:
        where = and_(
            where,
            or_(t.c.received_at > after[0], and_(t.c.received_at == after[0], t.c.raw_n > after[1])),
        )
    rows = conn.execute(select(t).where(where).order_by(t.c.received_at, t.c.raw_n).limit(limit)).mappings()
    return [StoredRead(**{k: r[k] for k in StoredRead.__slots__}) for r in rows]


def _count(conn: Connection, stream_id: str, window: Window) -> tuple[int, float | None]:
    """Reads of ``stream_id`` the window keeps, and the clock of its last tag read: one query on
    the DB thread (``Window.keeps`` in SQL)."""
    t = Read.__table__
    tod = t.c.clock - 86400 * cast(t.c.clock / 86400, Integer)  # clocks are >= 0; no floor() in old SQLite
    where = [t.c.stream_id == stream_id]
    if window.end is not None:
        where.append(tod <= window.end)
    if window.start is not None:
        where.append(or_(t.c.kind == "gun", tod >= window.start))
    last_tag = func.max(case((t.c.kind == "tag", t.c.clock)))
    n, last = conn.execute(select(func.count(), last_tag).select_from(t).where(*where)).one()
    return int(n), None if last is None else float(last)


def _speed(body: dict[str, Any]) -> float:
    speed = body.get("speed", 1)
    if (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not math.isfinite(speed)
        or not (speed == 0 or MIN_SPEED <= speed <= MAX_SPEED)
    ):
        raise SessionInputError(
            f"'speed' must be a number from {MIN_SPEED:g} to {MAX_SPEED:g} (times real time), "
            "or 0 for as fast as possible"
        )
    return float(speed)


class ReplayOperations:
    """One replay per display session at a time; the API and the desktop share this one object
    (``Operations.replay``), so each sees the other's replay.  Loop-only (not thread-safe)."""

    def __init__(
        self,
        sessions: SessionService,
        timing: TimingService,
        changes: list[ChangeListener],
        screens: Callable[[], ScreenControl] | None = None,
    ) -> None:
        self._sessions = sessions
        self._timing = timing
        self._changes = changes
        self._screens = screens or NoScreens
        self._replays: dict[str, Replay] = {}  # session -> its running or latest replay

    def status(self, session_id: str) -> Replay:
        self._sessions.get(session_id)
        r = self._replays.get(session_id)
        if r is None:
            raise SessionNotFound(f"display session {session_id} has no replay (POST .../replay starts one)")
        return r

    def latest(self, session_id: str) -> Replay | None:
        """The session's running or latest replay, or None (no error: the desktop polls it)."""
        return self._replays.get(session_id)

    async def start(self, session_id: str, body: object) -> Replay:
        s = self._sessions.get(session_id)
        if not isinstance(body, dict):
            raise SessionInputError(f"body must be a JSON object ({', '.join(FIELDS)})")
        unknown = sorted(str(k)[:40] for k in body if k not in FIELDS)
        if unknown:
            raise SessionInputError(
                f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a replay; known: {', '.join(FIELDS)}"
            )
        stream_id = body.get("timing_session_id")
        if not isinstance(stream_id, str) or not stream_id:
            raise SessionInputError("'timing_session_id' is required (the stored timing stream to replay)")
        speed = _speed(body)
        window = Window(_time_of_day(body, "from"), _time_of_day(body, "to"))
        if window.start is not None and window.end is not None and window.start > window.end:
            raise SessionInputError("'from' must not be later than 'to'")
        if self._timing.stream(stream_id) is None:
            raise SessionNotFound(f"timing session {stream_id[:64]!r} does not exist")
        self.check_target(session_id, stream_id)
        r = Replay(new_id(), s.id, stream_id, speed, window)
        r.total, r.last_clock = await self._sessions.store.run(_count, stream_id, window)
        self.check_target(session_id, stream_id)  # closed, bound or started meanwhile
        r.resumed.set()
        self._replays[session_id] = r
        r.since = time.monotonic()
        r.task = asyncio.get_running_loop().create_task(self._run(r))
        self._tell_screens(r)
        return r

    def check_target(self, session_id: str, stream_id: str) -> None:
        """Why ``stream_id`` cannot be replayed into ``session_id`` now (``SessionConflict``), or
        nothing: the desktop asks before offering a session, ``start`` asks again."""
        s = self._sessions.get(session_id)
        if s.status != "open":
            raise SessionConflict(f"display session {s.id} is closed; reopen it to replay into it")
        if stream_id in s.streams:
            raise SessionConflict(
                f"timing session {stream_id} is bound to display session {s.id} live: its reads are "
                "shown already; replay it into another (fresh) session"
            )
        running = self._replays.get(session_id)
        if running is not None and running.state == "running":
            raise SessionConflict(
                f"display session {s.id} is already replaying timing session {running.stream_id} "
                f"(replay {running.id}); stop it first (DELETE .../replay)"
            )

    async def update(self, session_id: str, body: object) -> Replay:
        """Pause, resume or change the speed of the running replay (``PATCH .../replay``):
        checked whole first — the body (400 names the field), then the replay (404 none, 409
        not running) — then applied."""
        if not isinstance(body, dict):
            raise SessionInputError(f"body must be a JSON object ({', '.join(UPDATE_FIELDS)})")
        unknown = sorted(str(k)[:40] for k in body if k not in UPDATE_FIELDS)
        if unknown:
            raise SessionInputError(
                f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a replay change; "
                f"known: {', '.join(UPDATE_FIELDS)}"
            )
        if not body:
            raise SessionInputError("give 'paused' (true or false) and/or 'speed'")
        if "paused" in body and not isinstance(body["paused"], bool):
            raise SessionInputError("'paused' must be true or false")
        given_speed = _speed(body) if "speed" in body else None
        r = self.status(session_id)
        paused = body.get("paused", r.paused)
        speed = r.speed if given_speed is None else given_speed
        if r.state != "running":
            raise SessionConflict(f"replay {r.id} of display session {session_id} is not running ({r.state})")
        now = time.monotonic()
        if paused and not r.paused:
            r.frozen, r.paused = r.position(now), True
            r.active, r.since = r.elapsed(now), None
            r.resumed.clear()
        if speed != r.speed:
            pos = r.position(now)
            r.speed = speed
            if not r.paused:  # paused: re-anchored on resume
                r.anchor = None if pos is None or not speed else (now, pos)
        if not paused and r.paused:
            pos, r.paused, r.frozen = r.position(now), False, None
            r.anchor = None if pos is None or not r.speed else (now, pos)  # no burst of the pause
            r.since = now
            r.resumed.set()
        r.wake.set()
        if r.paused:
            async with r.turn:  # a batch being decided as the pause came: sent before we answer
                pass
        self._tell_screens(r)
        return r

    async def stop(self, session_id: str) -> Replay:
        r = self.status(session_id)
        if r.state != "running" or r.task is None:
            raise SessionConflict(f"replay {r.id} of display session {session_id} is not running ({r.state})")
        await _end(r)
        return r

    async def close(self) -> None:
        """Stop every running replay (server shutdown)."""
        for r in list(self._replays.values()):
            if r.state == "running" and r.task is not None:
                await _end(r)

    def _tell_screens(self, r: Replay) -> None:
        try:
            self._screens().send_control(r.session_id, {"type": "replay", "replay": r.screen_state()})
        except Exception:  # a screen's trouble must not stop or fail the replay
            log.exception("replay %s: telling the screens of session %s failed", r.id, r.session_id)

    async def _run(self, r: Replay) -> None:
        try:
            await self._play(r)
            r.state = "finished"
        except asyncio.CancelledError:
            r.state, r.reason = "stopped", r.reason or "stopped by the operator"
            raise
        except Exception as exc:  # a store failure, the session gone: the replay ends, named
            log.exception("replay %s into session %s failed", r.id, r.session_id)
            r.state, r.reason = "failed", str(exc)[:300]
        finally:
            now = time.monotonic()
            r.active, r.since, r.paused = r.elapsed(now), None, False
            r.ended_at = time.time()
            self._tell_screens(r)

    async def _play(self, r: Replay) -> None:
        store = self._sessions.store
        pending = asyncio.ensure_future(store.run(_page, r.stream_id, None, PAGE))
        while True:
            page = await pending
            if not page:
                return
            after = (page[-1].received_at, page[-1].raw_n)
            pending = asyncio.ensure_future(store.run(_page, r.stream_id, after, PAGE))  # read ahead
            try:
                batch: list[StoredRead] = []
                for read in page:
                    if not r.window.keeps(read):
                        continue
                    if r.paused or (r.speed and read.kind == "tag"):
                        batch = await self._wait_turn(r, read, batch)
                    batch.append(read)
                    if len(batch) >= BATCH:
                        await self._decide(r, batch)
                        batch = []
                await self._decide(r, batch)
                await asyncio.sleep(0)  # speed 0: let the loop breathe between pages
            except BaseException:
                pending.cancel()
                raise

    async def _wait_turn(self, r: Replay, read: StoredRead, batch: list[StoredRead]) -> list[StoredRead]:
        """Wait until ``read`` is due (and the replay not paused); the reads due before it are
        decided first (a paused replay holds them: it sends nothing).  The batch left to fill."""
        while True:
            self._check_session(r)  # closed or bound while it paused or waited
            if r.paused:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(r.resumed.wait(), LOOK_EVERY)
                continue
            if not r.speed or read.kind != "tag":
                return batch
            if r.anchor is None:
                r.anchor = (time.monotonic(), read.clock)
                return batch
            due = r.anchor[0] + max(0.0, read.clock - r.anchor[1]) / r.speed
            if due <= time.monotonic() + 0.005:
                return batch
            if batch:
                await self._decide(r, batch)
                batch = []
                continue  # paused or re-paced while it was decided
            r.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(r.wake.wait(), min(LOOK_EVERY, due - time.monotonic()))

    def _check_session(self, r: Replay) -> LiveSession:
        """The replay's session, unless it was closed or bound to the stream live: then the
        replay ends (``CancelledError``, ``reason`` says why)."""
        s = self._sessions.get(r.session_id)
        if s.status != "open":
            r.reason = "the display session was closed"
            raise asyncio.CancelledError
        if r.stream_id in s.streams:
            r.reason = "the timing session was bound to the display session live"
            raise asyncio.CancelledError
        return s

    async def _decide(self, r: Replay, reads: list[StoredRead]) -> None:
        """Run ``reads`` through the session as the pipeline runs live reads, then tell screens."""
        if not reads:
            return
        sessions = self._sessions
        async with r.turn, sessions.lock:
            s = self._check_session(r)
            derived = Derived()
            before = (s.finishers, s.suppressed)
            wall_ms = round(time.time() * 1000)
            for read in reads:
                s.decide(read, derived)
            derived.restamp(replay=True, read_at=wall_ms)
            uow = UnitOfWork(sessions.store, self._changes)
            uow.write(q.write_derived, derived)
            uow.after_commit(lambda: sessions.publish(derived))
            await uow.commit()
            r.played += len(reads)
            r.finishers += s.finishers - before[0]
            r.suppressed += s.suppressed - before[1]
            r.clock = reads[-1].clock
