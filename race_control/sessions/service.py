"""Display sessions: event + mode + template + bound timing streams + crossing rules.

Runs on the event loop.  ``derive`` is called by the ingest pipeline with each batch
of new reads while it holds ``lock``, so sequence numbers are assigned in one place
and each display event is written in the same transaction as the read it came from.

Every change to a session is one unit of work, memory after commit: a ``plan_*``
method validates, computes the session's new state on the side — a new
``SessionRecord`` (``session_record.py``), or a fresh session rebuilt by ``replaying``
when what it decides changes (rules, streams, reopening) — queues the writes and
the Change into the caller's ``UnitOfWork``, and queues applying the new state and
telling screens and listeners for after the commit.  If the transaction fails,
nothing in memory changed.  The caller (``operations.sessions``) holds ``lock`` from
planning to commit, so stored reads re-run under it are neither missed nor announced
twice, and two actions never plan from the same old state.  The automatic changes
(first-finisher and scheduled mode switches, roster corrections) do the same in a
background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Generator, Iterable
from dataclasses import replace
from itertools import islice
from typing import Any

from race_control.heap import full_collections_deferred, release_in_slices
from race_control.ids import new_id, new_token
from race_control.roster.participants import ParticipantRow
from race_control.roster.service import EventService
from race_control.sessions import queries as q
from race_control.sessions import snapshot_queries as sq
from race_control.sessions.crossing import CrossingRules
from race_control.sessions.engine_sharing import leave, share
from race_control.sessions.errors import SessionConflict, SessionInputError, SessionNotFound
from race_control.sessions.live import MODES, Derived, LiveSession
from race_control.sessions.replay import SLICE_S, Replay, Replayed, adopt, replaying
from race_control.sessions.session_record import (
    SessionRecord,
    apply,
    changed_fields,
    delete_link,
    from_row,
    link_rows,
    record_of,
    summary,
    to_row,
    write_links,
)
from race_control.sessions.snapshot import (
    SnapshotUnusable,
    continuing,
    fingerprint_of,
    restore,
    twin,
    unknown_after,
    unknown_of,
)
from race_control.sessions.waiting import Waiting, waiting_from
from race_control.sessions.write_lock import WriteLock
from race_control.store.database import Store
from race_control.store.models import now
from race_control.store.unit_of_work import ChangeListener, UnitOfWork
from race_control.timing.ingest.stored_read import StoredRead

log = logging.getLogger("race_control.sessions")
Publisher = Callable[[str, list[dict[str, Any]]], None]
Control = Callable[[str, dict[str, Any]], None]
STATUSES = ("open", "closed")
READ_PAGE = 5000  # stored reads (or display events) per store call of a rebuild
COUNT_STEP = 20_000  # keys looked up between two turns of the loop (``missing_from``: ~1 ms)
PUBLISH_STEP = 25  # display events handed to screens between two looks at the clock
MAX_EPOCHS = 64  # epochs (start-ups) kept per session; a screen older than them replays from the start


def resume_point_in(history: list[list[Any]] | None, epoch: str | None, after_seq: int) -> int:
    """``SessionService.resume_point`` for an epoch ``history`` (``[[epoch, start seq], ...]``,
    oldest first; the relay reads it from the central copy of the session's settings)."""
    if epoch is None or not history or epoch == history[-1][0]:
        return after_seq
    for i, (known, _start) in enumerate(history):
        if known == epoch:
            return int(min([after_seq, *(start for _e, start in history[i + 1 :])]))
    return 0


def screen_view_of(
    session_id: str, name: str, event_name: str, mode: str, gun_at: int | None, starts_at: float | None
) -> dict[str, Any]:
    """What a screen knows of its session (``hello.session``; ``gun_at`` epoch ms or None)."""
    return {
        "id": session_id,
        "name": name or event_name,
        "event_name": event_name,
        "mode": mode,
        "gun_at": gun_at,
        "starts_at": round(starts_at * 1000) if starts_at else None,
    }


def new_epoch() -> str:
    """A random 64-bit epoch id (hex)."""
    return secrets.token_hex(8)


async def missing_from(keys: set[Any], present: set[Any]) -> int:
    """``len(keys - present)`` with the loop free every ``COUNT_STEP`` keys: a rule change at a
    million reads compares a million shown reads with a million crossings (the set difference,
    one C call, held the loop ~100 ms, issue #13).  Neither set may change meanwhile."""
    missing = 0
    it = iter(keys)
    while chunk := tuple(islice(it, COUNT_STEP)):
        missing += len(chunk) - sum(map(present.__contains__, chunk))
        await asyncio.sleep(0)
    return missing


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
        # who hears every Change (Operations shares its list): the automatic changes report too
        self.changes: list[ChangeListener] = []
        self._switching: set[str] = set()  # sessions whose automatic mode switch is being written
        # session -> its epochs, oldest first: [epoch, last seq stored when it began] (resume_point)
        self._epochs: dict[str, list[list[Any]]] = {}
        # how ``load`` built each session not replayed: from its snapshot (the reads decided after
        # it), or -1: the twin of a session loaded before it (``snapshot.twin``)
        self.from_snapshot: dict[str, int] = {}
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
            for fn in self._publishers:
                fn(sid, payloads)
            s = self._sessions.get(sid)
            if s is not None and s.mode == "pre-race" and any(p.get("type") == "finisher" for p in payloads):
                self._switch_by_itself(s, "first finisher")

    # --- queries ----------------------------------------------------------------------
    def get(self, session_id: str) -> LiveSession:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SessionNotFound(f"display session {session_id[:64]!r} does not exist") from None

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
        """Rebuild every session from the store: its record, then its derived state (duplicate
        windows, guns, starts, places — announcing nothing again): from its snapshot and the
        reads stored after it (``sessions.snapshot``), else by ``replaying`` every stored read;
        an open session with the same event, rules and streams as one loaded before is its
        ``twin`` (one engine for both, nothing decided twice: ``engine_sharing``)."""
        rows, links, seqs = await self._store.run(q.load_sessions)
        snaps = await self._store.run(sq.load_snapshots)
        stored_to = await self._store.run(sq.stored_to)
        streams_of: dict[str, list[str]] = {}
        for link in links:
            streams_of.setdefault(link.session_id, []).append(link.stream_id)
        twins: dict[str, LiveSession] = {}  # fingerprint -> the first open session loaded with it
        reads_of: dict[tuple[str, ...], list[StoredRead]] = {}
        for row in rows:
            rec = from_row(row, streams_of.get(row.id, ()), default_window=self._window)
            last_seq = seqs.get(rec.id, 0)
            deciding = rec.final_counts is None and bool(rec.streams)
            fp = fingerprint_of(rec) if deciding else ""
            snap = snaps.get(rec.id)
            if fp in twins and rec.status == "open":
                s = twin(rec, self._events.participant, twins[fp])
                s.unknown = await self._unknown_of(rec.id, snap if snap and snap[0] == fp else None, last_seq)
                self.from_snapshot[rec.id] = -1
            else:
                s = await self._from_snapshot(rec, snap, stored_to, last_seq) if deciding else None
                if s is None:
                    reads = []
                    if deciding:  # sessions with other rules often share their streams
                        key = tuple(sorted(rec.streams))
                        if key not in reads_of:
                            reads_of[key] = await self._store.run(q.stream_reads, list(key))
                        reads = reads_of[key]
                    steps = replaying(rec, self._events.participant, reads, next_seq=last_seq + 1, log=False)
                    s = (await _run_steps(steps)).session
                    s.unknown = await self._unknown_of(rec.id, None, last_seq)
                if deciding and rec.status == "open":
                    twins[fp] = s
            s.next_seq = last_seq + 1
            self._install(s)
            kept = (row.settings or {}).get("epochs") or []
            history = [h for h in kept if isinstance(h, list) and len(h) == 2][-(MAX_EPOCHS - 1) :]
            self._epochs[rec.id] = [*history, [new_epoch(), last_seq]]
        # before any screen is told the new epochs (load runs before the server listens)
        await self._store.run(q.save_epochs, {sid: self._epochs[sid] for sid in self._sessions})

    async def _unknown_of(
        self, session_id: str, snap: sq.Stored | None, last_seq: int
    ) -> dict[str, list[Waiting]]:
        """The session's finishes shown as "Bib N" and not corrected yet: its snapshot's and the
        display events after it, else from all its stored display events."""
        if snap is not None and snap[1] <= last_seq:
            try:
                unknown = unknown_of(snap[3])
            except SnapshotUnusable as exc:
                log.info("session %s: snapshot's unknown bibs not used (%s)", session_id, exc)
            else:
                return unknown_after(unknown, await self._store.run(sq.events_after, session_id, snap[1]))
        out: dict[str, list[Waiting]] = {}
        for payload in await self._store.run(sq.uncorrected_unknowns, session_id):
            out.setdefault(payload["bib"], []).append(waiting_from(payload))
        return out

    async def _from_snapshot(
        self, rec: SessionRecord, snap: sq.Stored | None, stored_to: dict[str, int], last_seq: int
    ) -> LiveSession | None:
        """``rec``'s session from its stored snapshot and the reads stored after it; None when
        there is none to use (never snapshotted, or it does not fit: logged)."""
        if snap is None:
            return None
        fp, snap_seq, blob, _unknown = snap
        try:
            if snap_seq > last_seq:
                raise SnapshotUnusable("it is ahead of the stored display events")
            s = restore(rec, self._events.participant, fp, blob, stored_to)
        except SnapshotUnusable as exc:
            log.info("session %s: snapshot not used (%s); replaying its stored reads", rec.id, exc)
            return None
        reads = await self._store.run(q.stream_reads_after, sorted(rec.streams), s.decided_to)
        s.unknown = await self._unknown_of(rec.id, snap, last_seq)
        log.info("session %s: continued from its snapshot (%d stored reads after it)", rec.id, len(reads))
        self.from_snapshot[rec.id] = len(reads)
        return (await _run_steps(continuing(s, reads))).session

    def epoch(self, session_id: str) -> str:
        """This session's current epoch: new at every start-up (``load``) and for a new session.
        Screens get it in ``hello`` and send it back in ``resume`` (docs/display-protocol.md)."""
        history = self._epochs.get(session_id)
        return str(history[-1][0]) if history else ""

    def resume_point(self, session_id: str, epoch: str | None, after_seq: int) -> int:
        """The seq a screen resuming ``after_seq`` in ``epoch`` can really be replayed from.

        Seqs come from the stored display events, so if the store lost its last transactions
        (a power cut on a disk that lied about flushing) an epoch may hand out seqs an earlier
        epoch had already sent for other finishers.  Only the seqs stored when every later epoch
        began are the same for the screen and for us: the replay starts at the lowest of those.
        No epoch (an older page): ``after_seq`` as given; an unknown epoch: from the start."""
        return resume_point_in(self._epochs.get(session_id), epoch, after_seq)

    def _install(self, s: LiveSession, streams_before: Iterable[str] = ()) -> None:
        """Put ``s`` in the indexes — a new session, or the rebuilt one replacing its old self —
        and route its streams' reads to it (``streams_before``: what it was bound to, when its
        streams changed in place)."""
        old = self._sessions.get(s.id)
        self._sessions[s.id] = s
        self._by_token[s.token] = s
        touched = set(streams_before) | s.streams | (old.streams if old is not None else set())
        for stream_id in touched:
            fed = [x for x in self._by_stream.get(stream_id, ()) if x.id != s.id]
            if stream_id in s.streams:
                fed.append(s)
            if fed:
                self._by_stream[stream_id] = fed
            else:
                self._by_stream.pop(stream_id, None)

    # --- actions: each plans into the caller's unit of work (caller holds ``lock``, commits) ---
    async def plan_create(self, uow: UnitOfWork, body: object, streams: Iterable[str] = ()) -> LiveSession:
        """A new session; ``streams`` are bound in the same unit of work (their stored reads
        are decided and every crossing is announced).  Returns the session that is indexed
        once the unit of work commits."""
        if not isinstance(body, dict):
            raise SessionInputError("body must be a JSON object with 'event_id' and 'mode'")
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise SessionInputError("'event_id' is required")
        self._events.event(event_id)
        if body.get("mode") not in MODES:
            raise SessionInputError(f"'mode' must be one of {', '.join(MODES)}")
        fields = _validate_fields(body, self._window, None)
        rec = SessionRecord(
            id=new_id(),
            token=new_token(),
            event_id=event_id,
            name=fields.get("name", ""),
            mode=body["mode"],
            template_id=fields.get("template_id"),
            rules=fields.get("rules", CrossingRules(duplicate_window=self._window)),
            status="open",
            created_at=now(),
            streams=frozenset(streams),
            starts_at=fields.get("starts_at"),
            switch_at=fields.get("switch_at"),
            leaderboard_top=fields.get("leaderboard_top", 0),
            public=fields.get("public", False),
        )
        return await self.plan_create_record(uow, rec)

    async def plan_create_record(self, uow: UnitOfWork, rec: SessionRecord) -> LiveSession:
        """Queue a new session holding ``rec`` (an operator's new one, or another laptop's
        with its id and token: operations.remote); its streams' stored reads are decided and
        every crossing announced.  Caller holds ``lock``."""
        built = await self._replay(rec, None, shown=set())
        uow.write(q.save_session, to_row(rec))
        uow.write(write_links, link_rows(rec))
        uow.write(q.write_derived, built.derived)
        history = [[new_epoch(), 0]]
        uow.write(q.save_epochs, {rec.id: history})
        uow.record("session", rec.id, "created", **summary(rec))
        uow.after_commit(lambda: self._epochs.__setitem__(rec.id, history))
        uow.after_commit(lambda: self._swap_in(built))
        return built.session

    async def plan_update(
        self, uow: UnitOfWork, session_id: str, body: object
    ) -> tuple[LiveSession, dict[str, int]]:
        """Change name, mode, template, times, leaderboard, status or rules.  New rules (and
        reopening) rebuild the session from its stored reads; new rules announce what is newly
        a crossing and the summary says what the old rules showed that the new ones do not."""
        s = self.get(session_id)
        if not isinstance(body, dict):
            raise SessionInputError("body must be a JSON object")
        fields = _validate_fields(body, self._window, s.rules)
        if "mode" in body and body["mode"] not in MODES:
            raise SessionInputError(f"'mode' must be one of {', '.join(MODES)}")
        if "status" in body and body["status"] not in STATUSES:
            raise SessionInputError(f"'status' must be one of {', '.join(STATUSES)}")
        if s.status == "closed" and body.get("status") != "open":
            raise SessionConflict(f"display session {s.id} is closed; reopen it with status 'open' first")
        old = record_of(s)
        keys = ("name", "template_id", "starts_at", "switch_at", "leaderboard_top", "public")
        new = replace(old, **{k: fields[k] for k in keys if k in fields})
        if "status" in body:
            new = replace(new, status=body["status"])
        switched = "mode" in body and body["mode"] != s.mode
        if switched:
            new = replace(new, mode=body["mode"], mode_changed_at=time.time(), mode_changed_by="operator")
        rerun = await self.plan_record(uow, s, replace(new, rules=fields.get("rules", s.rules)), switched)
        return s, rerun

    async def plan_record(
        self, uow: UnitOfWork, s: LiveSession, new: SessionRecord, switched: bool
    ) -> dict[str, int]:
        """Queue ``s`` becoming ``new`` (an operator's update, or another laptop's version of
        the session: operations.remote): new rules, and reopening, rebuild it from its stored
        reads; closing keeps its counts.  Returns what re-running the reads did (new rules).
        Caller holds ``lock``; screens and listeners hear of it after the commit."""
        old = record_of(s)
        rules = new.rules
        rerun: dict[str, int] = {}
        if rules != s.rules or (old.status == "closed" and new.status == "open"):
            new = replace(new, final_counts=None)
            shown = await self._announced(s.id) if rules != s.rules else None
            built = await self._replay(new, s, shown=shown if new.status == "open" else None)
            rebuilt = built.session
            if new.status == "closed":
                new = replace(new, final_counts=(rebuilt.finishers, rebuilt.suppressed))
            if shown is not None:
                rerun = {
                    "crossings": len(built.crossings),
                    "newly_shown": len(built.derived.events),
                    "shown_before_but_not_now": await missing_from(shown, built.crossings),
                    "suppressed": rebuilt.suppressed,
                }
            uow.write(q.save_session, to_row(new))
            uow.write(q.replace_suppressions_sliced, s.id, built.derived)
            uow.after_commit(lambda: self._swap_in(built, s, switched))
            if shown:
                uow.after_commit(lambda: self._background(release_in_slices([shown], SLICE_S)))
        else:
            if new.status == "closed" and old.status == "open":
                new = replace(new, final_counts=(s.finishers, s.suppressed))
            uow.write(q.save_session, to_row(new))

            def effect() -> None:
                apply(new, s)
                if new.status != "open":
                    leave(s, self._sessions.values())  # it decides no more: the others go on alone
                if new.leaderboard_top != old.leaderboard_top:
                    s.board_dirty = True  # the new size reaches screens with the next tick
                self._announce_change(s, switched)

            uow.after_commit(effect)
        action = (
            {"closed": "closed", "open": "reopened"}[new.status] if new.status != old.status else "updated"
        )
        uow.record("session", s.id, action, **changed_fields(old, new))
        return rerun

    async def plan_bind(self, uow: UnitOfWork, session_id: str, stream_id: str) -> LiveSession:
        """Bind a timing stream: the session is rebuilt from the stored reads of all its streams
        and every crossing not shown yet is announced.  Already bound: nothing to do."""
        s = self.get(session_id)
        if s.status != "open":
            raise SessionConflict(f"display session {session_id} is closed")
        if stream_id in s.streams:
            return s
        old = record_of(s)
        new = replace(old, streams=old.streams | {stream_id})
        shown = await self._announced(s.id)
        built = await self._replay(new, s, shown=shown)
        uow.write(write_links, [r for r in link_rows(new) if r["stream_id"] == stream_id])
        uow.write(q.replace_suppressions_sliced, s.id, built.derived)
        uow.record("session", s.id, "bound", stream_id=stream_id)
        uow.after_commit(lambda: self._swap_in(built, s))
        if shown:
            uow.after_commit(lambda: self._background(release_in_slices([shown], SLICE_S)))
        return s

    async def plan_unbind(self, uow: UnitOfWork, session_id: str, stream_id: str) -> LiveSession:
        """Stop showing a stream's reads; what was shown stays in the session's history.  An
        open session is rebuilt from its remaining streams (nothing is announced)."""
        s = self.get(session_id)
        if stream_id not in s.streams:
            raise SessionNotFound(f"timing session {stream_id[:64]!r} is not bound to display session {s.id}")
        old = record_of(s)
        new = replace(old, streams=old.streams - {stream_id})
        uow.write(delete_link, s.id, stream_id)
        uow.record("session", s.id, "unbound", stream_id=stream_id)
        if new.final_counts is None:
            built = await self._replay(new, s, shown=None)
            uow.write(q.replace_suppressions_sliced, s.id, built.derived)
            uow.after_commit(lambda: self._swap_in(built, s))
            return s

        def effect() -> None:  # closed: it decides nothing, its counts stay
            apply(new, s)
            self._install(s, old.streams)
            self._changed(s)

        uow.after_commit(effect)
        return s

    async def _replay(
        self, rec: SessionRecord, current: LiveSession | None, *, shown: set[tuple[str, str, int]] | None
    ) -> Replayed:
        """``rec`` rebuilt from its streams' stored reads, continuing ``current``'s seqs and
        unknown bibs (the caller holds ``lock``, so no read is decided or stored meanwhile).

        In slices: the reads come from the store a page at a time (``queries.ReadPages``, the
        next page read while this one is decided) and are decided ``SLICE_S`` of loop time at a
        time with the loop free in between, so a rebuild of a million reads never holds the loop (or a
        million reads in memory) at once."""
        replay = Replay(
            rec,
            self._events.participant,
            next_seq=current.next_seq if current is not None else 1,
            unknown=current.unknown if current is not None else None,
            shown=shown,
        )
        if not replay.deciding or not rec.streams:
            return replay.done()
        pages = q.ReadPages(sorted(rec.streams), size=READ_PAGE)
        with full_collections_deferred():  # heap.py: no full GC over the growing rebuild
            await self._decide_pages(replay, pages)
        return replay.done()

    async def _decide_pages(self, replay: Replay, pages: q.ReadPages) -> None:
        try:
            ahead = asyncio.ensure_future(self._store.run(pages.page))
            while True:
                page = await ahead
                if not page:
                    break
                ahead = asyncio.ensure_future(self._store.run(pages.page))
                i = 0
                while i < len(page):
                    i = replay.feed_until(page, i, time.perf_counter() + SLICE_S)
                    await asyncio.sleep(0)
        finally:
            if not ahead.done():
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
            await self._store.run(pages.close)

    async def _announced(self, session_id: str) -> set[tuple[str, str, int]]:
        """``queries.announced_reads`` a page at a time (a session that showed many finishers)."""
        shown: set[tuple[str, str, int]] = set()
        after: int | None = 0
        while after is not None:
            keys, after = await self._store.run(q.announced_page, session_id, after, READ_PAGE)
            shown.update(keys)
        return shown

    async def _swap_in(
        self, built: Replayed, target: LiveSession | None = None, switched: bool = False
    ) -> None:
        """After the commit: the rebuilt state goes live — into ``target`` (the session object
        everyone holds) or, for a new session, as itself — and screens hear about it.

        Its display events are published a slice of loop time at a time with the loop free in
        between (a bind can announce a hundred thousand finishers).  The unit of work awaits
        this inside the caller's ``lock``: nothing newer is published for the session before
        the last of them (screens get them in seq order), and the session is already live so
        reads decided after the lock are decided by the rebuilt state.  Last, an open session
        whose rebuilt engine equals another's with its fingerprint takes that one
        (``engine_sharing.share``; still inside the lock) and its own is freed in slices."""
        s = built.session
        replaced: list[Any] = []
        if target is not None:
            before = set(target.streams)
            replaced = adopt(target, s)
            s = target
            self._install(s, before)
        else:
            self._install(s)
        if built.derived:
            with full_collections_deferred():
                await self._publish_sliced(built.derived)
        self._announce_change(s, switched)
        # the rebuild's rows are stored and published: freed in slices, not when the action's
        # frames end (a million dicts freed at once held the loop 3.7 s at 1M reads)
        self._background(
            release_in_slices(
                [built.derived.events, built.derived.suppressions, built.crossings, *replaced], SLICE_S
            )
        )
        if s.streams:  # an open session deciding what another decides shares its engine from now on
            given_up = await share(s, self._by_stream.get(min(s.streams), ()))
            if given_up is not None:
                self._background(release_in_slices(list(given_up.state()), SLICE_S))

    async def _publish_sliced(self, derived: Derived) -> None:
        """``publish`` in slices of ``SLICE_S`` of loop time (``PUBLISH_STEP`` events between
        two looks at the clock), the loop free between them.  Cancelled half-way (the action's
        task), the rest is still published, at once: a screen must not miss committed
        finishers (it would skip them once a newer seq reaches it)."""
        events, sups = derived.events, derived.suppressions
        n = max(len(events), len(sups))
        cancelled: BaseException | None = None
        i = 0
        while i < n:
            deadline = time.perf_counter() + SLICE_S
            while i < n:
                j = i + PUBLISH_STEP
                self.publish(Derived(events[i:j], sups[i:j]))
                i = j
                if cancelled is None and time.perf_counter() >= deadline:
                    break
            if cancelled is None:
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError as exc:
                    cancelled = exc
        if cancelled is not None:
            raise cancelled

    def _announce_change(self, s: LiveSession, switched: bool) -> None:
        if switched:
            log.info("session %s switched to %s (operator)", s.id, s.mode)
            for fn in self._controls:
                fn(s.id, {"type": "mode", "mode": s.mode, "by": "operator"})
        for fn in self._controls:
            fn(s.id, {"type": "session", "session": self.screen_view(s)})
        self._changed(s)

    def derive(self, reads: list[StoredRead]) -> Derived:
        """Run new reads through every session bound to their stream (caller holds ``lock``)."""
        derived = Derived()
        by_stream = self._by_stream
        for read in reads:
            seen: dict[int, Any] = {}  # sessions sharing an engine decide the read once
            for s in by_stream.get(read.stream_id, ()):
                if s.status == "open":
                    s.decide(read, derived, seen=seen)
        return derived

    # --- automatic changes: the same units of work, started by the system ------------------
    def _roster_changed(self, event_id: str, rows: list[ParticipantRow]) -> None:
        if any(s.event_id == event_id and s.unknown for s in self._sessions.values()):
            self._background(self._correct(event_id, [r.bib for r in rows]))

    async def _correct(self, event_id: str, bibs: list[str]) -> None:
        """Unknown bibs the roster now knows: screens get a correction with the runner's name."""
        async with self.lock:
            uow = UnitOfWork(self._store, self.changes)
            derived = Derived()
            fixes: list[tuple[LiveSession, list[dict[str, Any]]]] = []
            for s in self._sessions.values():
                if s.event_id != event_id or not s.unknown:
                    continue
                rows = s.corrections_for(bibs, s.next_seq)
                if rows:
                    derived.events.extend(rows)
                    fixes.append((s, rows))
                    uow.record("session", s.id, "corrected", bibs=sorted({r["bib"] for r in rows}))
            if not fixes:
                return
            uow.write(q.write_derived, derived)

            def effect() -> None:
                for s, rows in fixes:
                    for row in rows:
                        s.unknown.pop(row["bib"], None)
                    s.apply_corrections(rows)  # their seqs; the leaderboard names them too
                self.publish(derived)

            uow.after_commit(effect)
            await uow.commit()
        log.info("sent %d corrections for bibs learned by the roster", len(derived.events))

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
            if (
                s.mode == "pre-race"
                and s.switch_at is not None
                and wall >= s.switch_at
                and s.status == "open"
            ):
                self._switch_by_itself(s, "schedule")

    def _switch_by_itself(self, s: LiveSession, by: str) -> None:
        """Pre-race → results without the operator (``by``: first finisher, schedule): written in
        the background, once; applied and sent to screens after its commit."""
        if s.id not in self._switching:
            self._switching.add(s.id)
            self._background(self._switch_to_results(s.id, by))

    async def _switch_to_results(self, session_id: str, by: str) -> None:
        try:
            async with self.lock:
                s = self._sessions.get(session_id)
                if s is None or s.mode != "pre-race" or s.status != "open":
                    return  # the operator changed it meanwhile
                old = record_of(s)
                new = replace(old, mode="results", mode_changed_at=time.time(), mode_changed_by=by)
                if by == "schedule":
                    new = replace(new, switch_at=None)
                uow = UnitOfWork(self._store, self.changes)
                uow.write(q.save_session, to_row(new))
                uow.record("session", s.id, "updated", **changed_fields(old, new))

                def effect() -> None:
                    apply(new, s)
                    log.info("session %s switched to results (%s)", s.id, by)
                    for fn in self._controls:
                        fn(s.id, {"type": "mode", "mode": "results", "by": by})
                    self._changed(s)

                uow.after_commit(effect)
                await uow.commit()
        finally:
            self._switching.discard(session_id)

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
        return screen_view_of(s.id, s.name, event.name, s.mode, self._gun_at(s), s.starts_at)

    def _gun_at(self, s: LiveSession) -> int | None:
        gun = s.latest_gun()
        wall = self.wall_time(*gun) if gun else None
        return round(wall * 1000) if wall is not None else None

    def _changed(self, s: LiveSession) -> None:
        for fn in self.listeners:
            fn(s)


_CREATE_FIELDS = ("event_id", "mode", "name", "template_id", "timing_session_ids")
_UPDATE_FIELDS = ("mode", "status", "name", "template_id")
_COMMON_FIELDS = ("starts_at", "switch_at", "leaderboard_top", "public", "rules", "locations")
LATEST_TIME = 4102444800.0  # 2100-01-01 UTC: a later (or infinite, or NaN) time is a mistake


def _validate_fields(body: dict[str, Any], window: float, current: CrossingRules | None) -> dict[str, Any]:
    """The checked fields of a create (``current`` None) or an update body; InputError names
    an unknown field (with the known ones) or the first bad value."""
    known = (_CREATE_FIELDS if current is None else _UPDATE_FIELDS) + _COMMON_FIELDS
    unknown = sorted(str(k)[:40] for k in body if k not in known)
    if unknown:
        raise SessionInputError(
            f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a display session; "
            f"known: {', '.join(known)}"
        )
    out: dict[str, Any] = {}
    if "name" in body:
        if not isinstance(body["name"], str) or len(body["name"]) > 200:
            raise SessionInputError("'name' must be a string of at most 200 characters")
        out["name"] = body["name"]
    if "template_id" in body:
        tid = body["template_id"]
        if tid is not None and (not isinstance(tid, str) or not tid or len(tid) > 64):
            raise SessionInputError("'template_id' must be a template id string")
        out["template_id"] = tid
    for key in ("starts_at", "switch_at"):
        if key in body:
            value = body[key]
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= LATEST_TIME
            ):
                raise SessionInputError(f"'{key}' must be a Unix time in seconds (1970 to 2100), or null")
            out[key] = float(value) if value is not None else None
    if "leaderboard_top" in body:
        top = body["leaderboard_top"]
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 100:
            raise SessionInputError("'leaderboard_top' must be a whole number 0-100 (0 = no leaderboard)")
        out["leaderboard_top"] = top
    if "public" in body:
        if not isinstance(body["public"], bool):
            raise SessionInputError("'public' must be true or false (true: the relay serves its screens)")
        out["public"] = body["public"]
    if "rules" in body or "locations" in body:
        raw = body.get("rules", current.to_json() if current else None)
        if raw is not None and not isinstance(raw, dict):
            raise SessionInputError("'rules' must be an object")
        merged = dict(raw or {})
        if "locations" in body:
            merged["locations"] = body["locations"]
        out["rules"] = CrossingRules.from_json(merged, default_window=window)
    return out


async def _run_steps(steps: Generator[None, None, Replayed]) -> Replayed:
    """Run a ``replaying`` to its end, letting the loop breathe between its steps (the caller
    holds ``lock``, so no read is decided meanwhile and the rebuilt session is not live yet)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        await asyncio.sleep(0)
