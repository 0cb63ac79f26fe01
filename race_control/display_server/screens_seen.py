"""Screens seen: every distinct screen that connected to a display session, kept in the store
(table ``screens_seen``) after it left and across restarts, for the history and the race-day
report (docs/history.md#history).

A screen is who it is across reconnects (``Screen.identity``): the page's stored screen id,
else its address.  The hub tells ``saw`` when a screen connects, names itself (its ``resume``)
and leaves; that is all this does on the loop (a dict entry, never per message).  ``tick``
(the app's once-a-second ticker, through ``Monitor``) turns the screens touched since the last
write into rows and writes them in one batch on the store's thread once ``flush_after`` seconds
have passed since the first of them: a storm of 1,000 screens connecting is a few writes, not
1,000.  A connected screen's ``last_seen`` is refreshed every ``refresh_every`` seconds (one
batch for all of them) and at shutdown (``close``).  A failed write is kept and tried again.

A new screen is recorded once it said who it is (``resume``) or its grace for that passed
(``awaiting_resume`` false), so a page with a screen id is not also counted by its address.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func
from sqlalchemy.dialects.sqlite import insert

from race_control.display_server.hub import Hub, Screen
from race_control.store.database import Store, StoreError
from race_control.store.models import ScreenSeen

log = logging.getLogger("race_control.display.screens_seen")
FLUSH_AFTER = 2.0  # s from the first touched screen to the batch write
REFRESH_EVERY = 60.0  # s between refreshes of connected screens' last_seen
MAX_PENDING = 20_000  # rows kept for a failing store before the oldest are dropped


@dataclass
class _Touched:
    connected: int = 0  # connections not yet counted in a row
    left_at: float | None = None


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    t = ScreenSeen.__table__
    stmt = insert(t)
    ex = stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.session_id, t.c.screen],
            set_={
                "screen_id": ex.screen_id,
                "address": ex.address,
                "user_agent": func.coalesce(func.nullif(ex.user_agent, ""), t.c.user_agent),
                "viewport": func.coalesce(func.nullif(ex.viewport, ""), t.c.viewport),
                "connections": t.c.connections + ex.connections,
                "first_seen": func.min(t.c.first_seen, ex.first_seen),
                "last_seen": func.max(t.c.last_seen, ex.last_seen),
            },
        ),
        rows,
    )


class ScreensSeen:
    """Records the hub's screens (see the module docstring).  Loop-only; ``close`` on shutdown."""

    def __init__(
        self,
        store: Store,
        hub: Hub,
        *,
        flush_after: float = FLUSH_AFTER,
        refresh_every: float = REFRESH_EVERY,
    ) -> None:
        self._store = store
        self._hub = hub
        self.flush_after = flush_after
        self.refresh_every = refresh_every
        self._touched: dict[Screen, _Touched] = {}
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}  # ready, not yet written
        self._since: float | None = None  # when the first pending screen was touched
        self._refreshed = time.time()
        self._writing: asyncio.Task[None] | None = None
        self.writes = 0  # batches written (tests, metrics)
        hub.screen_listeners.append(self.saw)

    def saw(self, screen: Screen, what: str) -> None:
        """The hub's listener: ``connected`` | ``identified`` | ``left``."""
        touched = self._touched.get(screen)
        if touched is None:
            touched = self._touched[screen] = _Touched()
        if what == "connected":
            touched.connected += 1
        elif what == "left":
            touched.left_at = time.time()
        if self._since is None:
            self._since = time.time()

    def tick(self, now: float) -> None:
        """Once a second: write the batch when it is due (one write at a time)."""
        if now - self._refreshed >= self.refresh_every:
            self._refreshed = now
            for screen in self._hub.screens():
                self._touched.setdefault(screen, _Touched())
            if self._touched and self._since is None:
                self._since = now
        if self._since is None or now - self._since < self.flush_after:
            return
        if self._writing is not None and not self._writing.done():
            return
        self._collect(now, everything=False)
        if self._rows:
            self._writing = asyncio.create_task(self._write(), name="screens-seen-write")

    async def close(self) -> None:
        """Shutdown: every screen touched or still connected is written, seen until now."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
        for screen in self._hub.screens():
            self._touched.setdefault(screen, _Touched())
        self._collect(time.time(), everything=True)
        if self._rows:
            await self._write()

    def _collect(self, now: float, *, everything: bool) -> None:
        """Touched screens that are ready become rows (merged per session and screen)."""
        waiting: dict[Screen, _Touched] = {}
        for screen, touched in self._touched.items():
            if screen.awaiting_resume and touched.left_at is None and not everything:
                waiting[screen] = touched  # not yet known who it is: next time
                continue
            row = {
                "session_id": screen.session_id,
                "screen": screen.identity[:80],
                "screen_id": screen.screen_id,
                "address": screen.remote[:100],
                "user_agent": screen.user_agent[:300],
                "viewport": "x".join(map(str, screen.viewport))[:16],
                "connections": touched.connected,
                "first_seen": screen.connected_at,
                "last_seen": touched.left_at or now,
                "created_at": now,
            }
            self._merge(row)
        self._touched = waiting
        self._since = now if waiting else None

    def _merge(self, row: dict[str, Any]) -> None:
        key = (row["session_id"], row["screen"])
        old = self._rows.get(key)
        if old is not None:
            row = {
                **row,
                "connections": old["connections"] + row["connections"],
                "first_seen": min(old["first_seen"], row["first_seen"]),
                "last_seen": max(old["last_seen"], row["last_seen"]),
                "user_agent": row["user_agent"] or old["user_agent"],
                "viewport": row["viewport"] or old["viewport"],
            }
        elif len(self._rows) >= MAX_PENDING:
            self._rows.pop(next(iter(self._rows)))
        self._rows[key] = row

    async def _write(self) -> None:
        rows, self._rows = list(self._rows.values()), {}
        try:
            await self._store.run(_upsert, rows)
            self.writes += 1
        except StoreError as exc:
            log.warning("could not store %d screens seen (kept for the next try): %s", len(rows), exc)
            for row in rows:
                self._merge(row)
            if self._since is None:
                self._since = time.time()
