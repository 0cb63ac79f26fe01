"""One user action's writes in one SQLite transaction, then its in-memory effects.

An operation (``race_control.operations``) builds a ``UnitOfWork``, lets the domain
services *plan* into it — ``write`` queues SQL, ``after_commit`` queues the in-memory
change and the notifications — and commits it.  The queued writes run in ONE
transaction on the DB thread; only when that transaction has committed are the
in-memory effects applied, in order, and the change records handed on.  If the
transaction fails nothing of the action is applied, so a failure never half-applies
a change (memory and store cannot disagree).

Every action also records what it changed (``record``): a ``Change`` per entity.
``record_changes`` writes them in the same transaction — the one place where a
central-sync outbox row joins every operation.

Loop rule: build and commit on the event loop; the writes run on the store's thread.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:
    from race_control.store.database import Store

log = logging.getLogger("race_control.store.unit_of_work")
Write = Callable[..., Any]
ChangeListener = Callable[[list["Change"]], None]


@dataclass(frozen=True)
class Change:
    """What one action did to one entity: ``kind`` (session, stream, event, participant,
    template, screen), its id, the ``action`` (created, updated, closed, bound, …) and a small
    JSON-able ``data`` (the fields that changed)."""

    kind: str
    entity_id: str
    action: str
    data: dict[str, Any] = field(default_factory=dict)


def record_changes(conn: Connection, changes: list[Change]) -> None:
    """Runs inside every operation's transaction, after its writes.

    Today it writes nothing (the change records go to the in-process listeners after the
    commit); the central-sync outbox adds its rows here, so every operation gets them.
    """
    del conn, changes


class UnitOfWork:
    def __init__(self, store: Store, listeners: list[ChangeListener] | None = None) -> None:
        self._store = store
        self._writes: list[tuple[Write, tuple[Any, ...]]] = []
        self._after: list[Callable[[], Awaitable[None] | None]] = []
        self._listeners = listeners if listeners is not None else []
        self.changes: list[Change] = []
        self.committed = False

    def write(self, fn: Write, *args: Any) -> None:
        """Queue ``fn(conn, *args)``; it runs in the action's one transaction, in order."""
        self._writes.append((fn, args))

    def after_commit(self, fn: Callable[[], Awaitable[None] | None]) -> None:
        """Queue an in-memory effect (apply the new state, notify screens) for after the commit.
        An effect that returns an awaitable (work in slices: a rebuild's thousands of display
        events) is awaited before the next one, so ``commit`` returns once all are done: the
        caller still holds its lock meanwhile."""
        self._after.append(fn)

    def record(self, kind: str, entity_id: str, action: str, **data: Any) -> None:
        self.changes.append(Change(kind, entity_id, action, data))

    def record_all(self, kind: str, changes: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """``record(kind, entity_id, action, **data)`` for each (entity_id, action, data): the
        same ``Change``s, each made without the frozen class's per-field ``__setattr__`` (a
        50,000-runner import records 50,000: docs/providers.md#load)."""
        new = object.__new__
        append = self.changes.append
        for entity_id, action, data in changes:
            change = new(Change)
            change.__dict__.update(kind=kind, entity_id=entity_id, action=action, data=data)
            append(change)

    async def commit(self) -> None:
        """Write everything in one transaction, then apply the effects and tell the listeners.

        An exception from the transaction (``StoreError`` for a database failure) propagates
        and nothing queued here is applied.  An effect that raises after the commit is a bug:
        it is logged and the remaining effects still run (the store already holds the change).
        """
        if self.committed:
            raise RuntimeError("unit of work committed twice")
        if self._writes or self.changes:
            await self._store.run(self._transaction)
        self.committed = True
        cancelled: BaseException | None = None
        for fn in self._after:
            try:
                result = fn()
                if inspect.isawaitable(result):  # an effect done in slices (the loop runs between)
                    await result
            except asyncio.CancelledError as exc:  # committed: the other effects still apply
                cancelled = exc
            except Exception:
                log.exception("effect after commit failed")
        if self.changes:
            for listener in self._listeners:
                try:
                    listener(self.changes)
                except Exception:
                    log.exception("change listener failed")
        if cancelled is not None:
            raise cancelled

    def _transaction(self, conn: Connection) -> None:
        for fn, args in self._writes:
            fn(conn, *args)
        record_changes(conn, self.changes)
