"""Event and roster actions: create an event, import participants (API rows or a CSV file),
edit one participant, swap two runners' bibs, add a walk-up.

Each is one unit of work (a chunked import: one per chunk) planned by the roster service
under its lock; the roster in memory and its listeners change only after the commit.
Unknown bibs already shown as "Bib N" get a ``correction`` on their screens once the
roster knows them (the sessions service listens to roster changes); a runner who was
already shown and is then edited gets one in the edit's own unit of work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from race_control.operations.results import EventResult, ImportResult, ParticipantResult, SwapResult
from race_control.progress import Progress
from race_control.roster.participants import ParticipantRow
from race_control.roster.service import EventService
from race_control.sessions.live import Derived, LiveSession
from race_control.sessions.queries import write_derived
from race_control.sessions.service import SessionService
from race_control.store.database import Store
from race_control.store.models import DisplayEvent
from race_control.store.unit_of_work import ChangeListener, UnitOfWork


class RosterOperations:
    def __init__(
        self, store: Store, events: EventService, sessions: SessionService, changes: list[ChangeListener]
    ) -> None:
        self._store = store
        self._events = events
        self._sessions = sessions
        self._changes = changes

    def _unit(self) -> UnitOfWork:
        return UnitOfWork(self._store, self._changes)

    async def create_event(self, body: object) -> EventResult:
        async with self._events.lock:
            uow = self._unit()
            info = self._events.plan_create_event(uow, body)
            await uow.commit()
        return EventResult(info)

    async def import_participants(self, event_id: str, rows: object, source: str = "api") -> ImportResult:
        """Valid rows are stored in one transaction; each bad row is returned with its reason."""
        async with self._events.lock:
            uow = self._unit()
            good, bad = self._events.plan_import(uow, event_id, rows, source)
            await uow.commit()
        return ImportResult(len(good), bad)

    async def import_in_chunks(
        self, event_id: str, rows: list[object], progress: Progress, *, source: str = "csv", chunk: int = 500
    ) -> ImportResult:
        """A large roster (the desktop's CSV import) chunk by chunk, with progress and cancel;
        each chunk is one unit of work, so what was imported before a cancel stays whole."""
        imported, rejected = await self._events.import_in_chunks(
            event_id, rows, progress, source, chunk, unit=self._unit
        )
        return ImportResult(imported, rejected)

    async def edit_participant(self, event_id: str, bib: str, fields: object) -> ParticipantResult:
        """Change any field of one participant (a new ``bib`` moves the runner there), as a local
        edit.  One unit of work: the participant's row, and a ``correction`` for each finish of
        the old or new bib already on the screens of the event's open sessions (under the
        sessions lock, which assigns every display seq).  Memory and screens change after it."""
        async with self._events.lock:
            uow = self._unit()
            before, after = self._events.plan_edit(uow, event_id, bib, fields)
            async with self._sessions.lock:
                sent = await self._plan_corrections(uow, event_id, before, after)
                await uow.commit()
        return ParticipantResult(after, sent)

    async def swap_bibs(self, event_id: str, bib_a: object, bib_b: object) -> SwapResult:
        """Two runners trade bibs, as a local edit of both (one unit of work): their rows, and a
        ``correction`` of every finish of either bib already on a screen (now the other runner)."""
        async with self._events.lock:
            uow = self._unit()
            pairs = self._events.plan_swap(uow, event_id, bib_a, bib_b)
            async with self._sessions.lock:
                wears = {after.bib: after for _, after in pairs}
                sent = await plan_corrections(uow, self._store, self._sessions, event_id, wears)
                await uow.commit()
        return SwapResult(pairs[0][1], pairs[1][1], sent)

    async def add_walk_up(self, event_id: str, fields: object) -> ParticipantResult:
        """A race-day runner (one unit of work); a "Bib N" finish of the bib already shown is
        named by the sessions service once the roster has the runner (after the commit)."""
        async with self._events.lock:
            uow = self._unit()
            row = self._events.plan_walk_up(uow, event_id, fields)
            await uow.commit()
        return ParticipantResult(row)

    async def _plan_corrections(
        self, uow: UnitOfWork, event_id: str, before: ParticipantRow, after: ParticipantRow
    ) -> int:
        """Queue corrections of the finishes shown for ``before.bib``/``after.bib`` (caller holds
        the sessions lock).  A "Bib N" finish of the new bib is left to the sessions service,
        which names it once the roster has the runner (after the commit)."""
        wears = {before.bib: None, after.bib: after} if before.bib != after.bib else {after.bib: after}
        return await plan_corrections(uow, self._store, self._sessions, event_id, wears)


async def plan_corrections(
    uow: UnitOfWork,
    store: Store,
    sessions: SessionService,
    event_id: str,
    wears: dict[str, ParticipantRow | None],
) -> int:
    """Queue a ``correction`` on every open session of ``event_id`` that showed a finish of one
    of ``wears``' bibs (bib → who wears it now, None: nobody); the caller holds the sessions
    lock.  Screens get them after the commit.  The number of corrections queued."""
    targets = [s for s in sessions.sessions() if s.event_id == event_id and s.status == "open"]
    if not targets:
        return 0
    shown = await store.run(_latest_shown, [s.id for s in targets], list(wears))
    derived = Derived()
    fixes: list[tuple[LiveSession, list[dict[str, Any]]]] = []
    for s in targets:
        rows: list[dict[str, Any]] = []
        for bib, runner in wears.items():
            rows += s.shown_corrections(bib, shown.get((s.id, bib), []), runner, s.next_seq + len(rows))
        if rows:
            derived.events.extend(rows)
            fixes.append((s, rows))
            uow.record("session", s.id, "corrected", bibs=sorted({r["bib"] for r in rows}))
    if not fixes:
        return 0
    uow.write(write_derived, derived)

    def _apply() -> None:
        for s, rows in fixes:
            s.apply_corrections(rows)
        sessions.publish(derived)

    uow.after_commit(_apply)
    return len(derived.events)


def _latest_shown(
    conn: Connection, session_ids: list[str], bibs: list[str]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (session, bib): the latest message of each finish shown (its finisher, or the last
    correction of it), in finish order."""
    t = DisplayEvent.__table__
    rows = conn.execute(
        select(t.c.session_id, t.c.bib, t.c.payload)
        .where(t.c.session_id.in_(session_ids), t.c.bib.in_(bibs), t.c.kind.in_(("finisher", "correction")))
        .order_by(t.c.session_id, t.c.seq)
    ).all()
    latest: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for session_id, bib, payload in rows:
        finish = payload.get("corrects_seq", payload["seq"])
        latest.setdefault((session_id, bib), {})[finish] = payload
    return {key: list(by_finish.values()) for key, by_finish in latest.items()}
