"""Another laptop's changes, as one action: ``apply_pulled`` (central sync's pull calls it).

What the partner's other laptops share comes down as central rows (docs/sync.md#pull) and
is applied like any user action — one ``UnitOfWork``: the SQL in one SQLite transaction,
then the in-memory effects (the roster, the template and preset caches, live sessions), then
the ``Change`` records to ``Operations.changes`` (the desktop redraws) — by the same plans
the local actions use (``plan_create_record``/``plan_record`` of sessions, the templates'
and the roster's ``plan_remote``), and finally the screens: sessions showing a changed
template restyle, a session closed elsewhere disconnects its screens.

The conflict rule (docs/sync.md#the-conflict-rule), per row: a local tombstone wins (a row
deleted here is never brought back); a central tombstone wins (it is applied whatever the
clocks say); otherwise the pulled row replaces the local one only if its ``(hlc, origin)``
is greater than the local row's last change in ``sync_rows``, or there is none.  The
transaction first re-checks the ``sync_rows`` it decided on (a local change in between
makes the whole batch fail with ``PullRaced``: nothing is applied, the pull tries again),
sets ``sync_clock.applying`` (the triggers record nothing: a pulled row is not sent back),
writes the rows, records them in ``sync_rows`` with the central hlc/origin and pending 0,
moves the clock to ``max(local, pulled)`` and clears ``applying`` — all in that transaction.

Rows that cannot be applied are skipped and logged (never half-applied): an invalid
template or preset, a participant whose bib another local participant holds, a participant
or session whose event is not here.  Locks: events → templates → presets → sessions (the
order the local actions take them in), held from deciding to commit; the sessions lock only
for a page with sessions or a deleted event (a roster page does not hold up the reads).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, func, select, tuple_, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from race_control.errors import Conflict, InputError
from race_control.operations.sessions import SessionOperations
from race_control.roster.service import EventService
from race_control.sessions.errors import SessionNotFound
from race_control.sessions.live import LiveSession
from race_control.sessions.presets import PresetService
from race_control.sessions.service import SessionService
from race_control.sessions.session_record import SessionRecord, from_row, record_of
from race_control.store.database import Store
from race_control.store.models import SyncClock, SyncRow, now
from race_control.store.unit_of_work import ChangeListener, UnitOfWork
from race_control.templates.service import TemplateService

log = logging.getLogger("race_control.operations.remote")
# the order rows are applied in: parents before children (participants and sessions need
# their event); an event's delete runs last (its participants go with it)
ORDER = ("events", "participants", "templates", "display_sessions", "presets")
# what a pulled session changes of a session here: the operator's settings, never its
# streams (bound here, to this laptop's timing), token, event or counts
SESSION_FIELDS = (
    "name",
    "mode",
    "template_id",
    "rules",
    "status",
    "starts_at",
    "switch_at",
    "leaderboard_top",
    "mode_changed_at",
    "mode_changed_by",
    "public",
)
Local = tuple[int, str, bool]  # sync_rows (hlc, origin, deleted)


class PullRaced(Conflict):
    """A local change came in between deciding and writing a pulled batch: nothing was applied;
    pulling again decides with the new local state."""

    retryable = True


@dataclass
class PulledBatch:
    """Central rows of other devices (each: the local table's columns plus ``hlc``, ``origin``,
    ``deleted``), per table of ``ORDER``; ``checkpoint(conn)`` runs in the same transaction
    (the pull's cursor: it moves exactly when the rows it covers are stored)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checkpoint: Callable[[Connection], None] | None = None

    def __len__(self) -> int:
        return sum(len(v) for v in self.rows.values())


@dataclass(frozen=True)
class PulledResult:
    applied: dict[str, int]  # table -> rows that changed something here
    skipped: int  # rows the conflict rule or a check kept out

    @property
    def total(self) -> int:
        return sum(self.applied.values())


def wins(row: dict[str, Any], local: Local | None) -> bool:
    """The conflict rule for one pulled row against the local row's last change."""
    if local is None:
        return True
    hlc, origin, deleted = local
    if deleted:
        return False  # deleted here: never comes back
    if row["deleted"]:
        return True  # deleted elsewhere: wins over every update
    return (int(row["hlc"]), str(row["origin"])) > (hlc, origin)


class RemoteOperations:
    def __init__(
        self,
        store: Store,
        events: EventService,
        sessions: SessionService,
        templates: TemplateService,
        presets: PresetService,
        session_ops: SessionOperations,
        changes: list[ChangeListener],
    ) -> None:
        self._store = store
        self._events = events
        self._sessions = sessions
        self._templates = templates
        self._presets = presets
        self._session_ops = session_ops
        self._changes = changes
        # hear only what came from other laptops (after ``changes`` heard it): the desktop
        # refreshes the list on screen, which a local action refreshes by itself
        self.listeners: list[ChangeListener] = []

    async def apply_pulled(self, batch: PulledBatch) -> PulledResult:
        """Apply what other laptops changed (one unit of work); see the module docstring."""
        async with contextlib.AsyncExitStack() as held:
            for lock in (self._events.lock, self._templates.lock, self._presets.lock):
                await held.enter_async_context(lock)
            # sessions: only when sessions (or a deleted event) come: a roster page does not
            # hold up the reads (the ingest decides them under this lock)
            if batch.rows.get("display_sessions") or any(r["deleted"] for r in batch.rows.get("events", ())):
                await held.enter_async_context(self._sessions.lock)
            keys = [(t, str(r["id"])) for t in ORDER for r in batch.rows.get(t, ())]
            local = await self._store.run(_local_state, keys) if keys else {}
            uow = UnitOfWork(self._store, self._changes)
            applied: list[tuple[str, dict[str, Any]]] = []
            restyle: set[str] = set()
            closing: list[str] = []
            winners = {
                t: [r for r in batch.rows.get(t, ()) if wins(r, local.get((t, str(r["id"]))))] for t in ORDER
            }
            if len(batch):  # the guard and applying = 1 before any row is written
                uow.write(
                    _begin_applying,
                    {(t, str(r["id"])): local.get((t, str(r["id"]))) for t in ORDER for r in winners[t]},
                )
            await self._plan(uow, winners, applied, restyle, closing)
            if len(batch):
                clock = max(int(r["hlc"]) for rows in batch.rows.values() for r in rows)
                uow.write(_record_rows, applied)
                uow.write(_end_applying, clock)
            if batch.checkpoint is not None:
                uow.write(batch.checkpoint)
            await uow.commit()
        for tid in restyle:
            self._session_ops.restyle_sessions_of(tid)
        for sid in closing:
            await self._session_ops.screens.close_session(sid)
        if uow.changes:
            for listener in self.listeners:
                try:
                    listener(uow.changes)
                except Exception:
                    log.exception("pulled-change listener failed")
        counts: dict[str, int] = {}
        for t, _r in applied:
            counts[t] = counts.get(t, 0) + 1
        return PulledResult(counts, len(batch) - len(applied))

    async def _plan(
        self,
        uow: UnitOfWork,
        winners: dict[str, list[dict[str, Any]]],
        applied: list[tuple[str, dict[str, Any]]],
        restyle: set[str],
        closing: list[str],
    ) -> None:
        sessions_of = {s.event_id for s in self._sessions.sessions()}
        sessions_of |= {str(r["event_id"]) for r in winners["display_sessions"] if not r["deleted"]}
        events: set[str] = set()  # pulled here in this unit of work
        for row in winners["events"]:
            if row["deleted"]:
                continue
            if self._try("events", row, self._events.plan_remote_event, uow, row, False, keep=False):
                applied.append(("events", row))
                events.add(str(row["id"]))
        by_id = {str(r["id"]): r for r in winners["participants"]}
        done = self._events.plan_remote_participants(
            uow, [(r, bool(r["deleted"])) for r in winners["participants"]], events
        )
        applied += [("participants", by_id[pid]) for pid in done]
        left = [pid for pid, r in by_id.items() if pid not in done and not r["deleted"]]
        if left:
            log.warning(
                "%d pulled participant(s) not applied (the bib is another participant's here, the row "
                "is invalid or its event is not here), e.g. %s",
                len(left),
                left[0],
            )
        for row in winners["templates"]:
            action = self._try("templates", row, self._templates.plan_remote, uow, row, bool(row["deleted"]))
            if action is not None:
                applied.append(("templates", row))
                if action != "created":
                    restyle.add(str(row["id"]))
        for row in winners["display_sessions"]:
            if await self._plan_session(uow, row, events, closing):
                applied.append(("display_sessions", row))
        for row in winners["presets"]:
            if self._try("presets", row, self._presets.plan_remote, uow, row, bool(row["deleted"])):
                applied.append(("presets", row))
        for row in winners["events"]:
            keep = str(row["id"]) in sessions_of
            if row["deleted"] and self._try(
                "events", row, self._events.plan_remote_event, uow, row, True, keep=keep
            ):
                applied.append(("events", row))

    def _try(self, table: str, row: dict[str, Any], plan: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """``plan(*args)``, or None (logged) if the row is not valid here."""
        try:
            return plan(*args, **kw)
        except InputError as exc:
            log.warning("pulled %s row %s not applied: %s", table, row.get("id"), exc)
            return None

    async def _plan_session(
        self, uow: UnitOfWork, row: dict[str, Any], events: set[str], closing: list[str]
    ) -> bool:
        """A pulled session: new here (created with its id and token, no streams: those are
        bound on each laptop), or the shared fields of the one here; a tombstone closes it
        (its display events stay here)."""
        try:
            remote = _remote_record(row)
        except InputError as exc:
            log.warning("pulled display session %s not applied: %s", row.get("id"), exc)
            return False
        try:
            s: LiveSession | None = self._sessions.get(remote.id)
        except SessionNotFound:
            s = None
        if s is None:
            if row["deleted"]:
                return False
            if remote.event_id not in events and remote.event_id not in {e.id for e in self._events.events()}:
                log.warning("pulled display session %s: its event %s is not here", remote.id, remote.event_id)
                return False
            await self._sessions.plan_create_record(uow, remote)
            return True
        old = record_of(s)
        new = replace(old, **{k: getattr(remote, k) for k in SESSION_FIELDS if hasattr(old, k)})
        if row["deleted"]:
            new = replace(new, status="closed")
        if new != old:
            await self._sessions.plan_record(uow, s, new, new.mode != old.mode)
            if new.status == "closed" and old.status == "open":
                closing.append(s.id)
            elif new.template_id != old.template_id and new.status == "open":
                uow.after_commit(lambda: self._session_ops.restyle(s))
        return True


def _remote_record(row: dict[str, Any]) -> SessionRecord:
    """A central ``display_sessions`` row as a record (its settings' ``public`` from the column;
    no final counts: a closed session's counts are this laptop's own)."""
    settings = dict(row.get("settings") or {})
    settings.pop("epochs", None)  # each laptop's own start-ups
    settings["public"] = bool(row.get("public", settings.get("public", False)))
    rec = from_row(SimpleNamespace(**{**row, "settings": settings}), ())
    return replace(rec, final_counts=None)


def _local_state(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Local]:
    t = SyncRow.__table__
    out: dict[tuple[str, str], Local] = {}
    for i in range(0, len(keys), 400):
        part = keys[i : i + 400]
        rows = conn.execute(
            select(t.c.tbl, t.c.key, t.c.hlc, t.c.origin, t.c.deleted).where(
                tuple_(t.c.tbl, t.c.key).in_(part)
            )
        )
        for tbl, key, hlc, origin, deleted in rows:
            out[(tbl, key)] = (int(hlc), str(origin), bool(deleted))
    return out


def _begin_applying(conn: Connection, decided: dict[tuple[str, str], Local | None]) -> None:
    """The guard (sync_rows still as decided on) and ``applying = 1``."""
    now_state = _local_state(conn, list(decided))
    changed = [k for k, v in decided.items() if now_state.get(k) != v]
    if changed:
        raise PullRaced(f"{len(changed)} row(s) changed here while a pull was applied (e.g. {changed[0]})")
    conn.execute(update(SyncClock.__table__).values(applying=1))


def _record_rows(conn: Connection, applied: list[tuple[str, dict[str, Any]]]) -> None:
    """The central hlc/origin/deleted of every applied row, not pending (it is central)."""
    if not applied:
        return
    t = SyncRow.__table__
    stamp = now()
    values = [
        {
            "tbl": tbl,
            "key": str(r["id"]),
            "hlc": int(r["hlc"]),
            "origin": str(r["origin"]),
            "deleted": bool(r["deleted"]),
            "pending": False,
            "changed_at": stamp,
        }
        for tbl, r in applied
    ]
    stmt = sqlite_insert(t)
    keep = ("hlc", "origin", "deleted", "pending", "changed_at")
    upsert = stmt.on_conflict_do_update(
        index_elements=["tbl", "key"], set_={c: stmt.excluded[c] for c in keep}
    )
    conn.execute(upsert, values)  # one statement, run for every row


def _end_applying(conn: Connection, pulled_hlc: int) -> None:
    """The clock moves to max(local, pulled): a change made here after seeing a pulled one
    sorts after it, even with this laptop's clock behind; ``applying`` back to 0."""
    t = SyncClock.__table__
    conn.execute(update(t).values(hlc=func.max(t.c.hlc, pulled_hlc), applying=0))
