"""Pull: what the partner's other laptops shared comes down (docs/sync.md#pull).

``pull_batch(pg, device, cursors)`` (blocking, psycopg2: the sync worker's thread, never the
event loop) reads one page of every shared central table (``SHARED_TABLES``: events,
participants, templates, display sessions, presets) in ONE read-only ``REPEATABLE READ``
transaction: the rows written by other devices (``origin <> device``; row-level security
keeps them to this login's partner) whose writing transaction ``tx`` lies in
``[cursor, xmin)``, where ``xmin`` is the oldest transaction still running when the snapshot
was taken (``pg_snapshot_xmin(pg_current_snapshot())``).  Every transaction below ``xmin``
has finished, so its rows are all visible; a transaction still running — a slow push — has
an id ``>= xmin`` and its rows are read by a later pull.  A ``max(tx)`` checkpoint would
skip them forever (the classic "checkpoint moved past a change that had not committed").

Pages are ``(tx, id)`` keyset pages of up to ``page`` rows per table; a table whose page
came back short is drained up to ``xmin``, which becomes its cursor.  The event of every
pulled participant or session comes with the page (any origin or ``tx``: the rows need
it locally, and the conflict rule decides whether it changes anything).  The templates'
images (``template_images``) are read in the same snapshot (``sync/images.py``), checked again
by ``templates.images.check_stored`` and stored in the page's local transaction; a refused
one is logged and left out (``Puller.refused``).

``Puller.round(pg)`` (a coroutine) pulls page after page until every table is drained;
each page is applied by ``operations.remote.apply_pulled`` (one local transaction, with the
conflict rule) and the cursors (``sync_pull``, store migration 0009) are written in that
same transaction, so a crash anywhere re-reads at most the page that was not stored, and
re-reading a page changes nothing (its rows are no longer newer than the local ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import RealDictCursor
from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from race_control.central.schema import IMAGE_TABLE, SHARED_TABLES
from race_control.operations.remote import PulledBatch, PullRaced, RemoteOperations
from race_control.store.database import Store
from race_control.store.models import Base, SyncPull
from race_control.sync import images as sync_images
from race_control.sync.connection import failure
from race_control.sync.outbox import device_id

log = logging.getLogger("race_control.sync")
PAGE = 500  # rows per table and page
IDLE_SAVE = 60.0  # s: cursors that only moved over other devices' nothing are saved this rarely
PARENT = {"participants": "event_id", "display_sessions": "event_id"}


@dataclass(frozen=True, slots=True)
class Cursor:
    """Every row with ``tx < tx_from`` was read, and of the rest those up to ``(after_tx,
    after_key)`` in ``(tx, id)`` order."""

    tx_from: int = 0
    after_tx: int = -1
    after_key: str = ""


@dataclass
class Page:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cursors: dict[str, Cursor] = field(default_factory=dict)
    xmin: int = 0
    drained: bool = True  # every table read up to xmin

    def __len__(self) -> int:
        return sum(len(v) for v in self.rows.values())


def columns(table: str) -> list[str]:
    """What a pull reads of a central table: the local table's columns and the sync ones."""
    cols = [c.name for c in Base.metadata.tables[table].columns]
    return cols + ["hlc", "origin", "deleted", "tx"] + (["public"] if table == "display_sessions" else [])


def pull_batch(
    pg: psycopg2.extensions.connection,
    device: str,
    cursors: dict[str, Cursor],
    *,
    page: int = PAGE,
    tables: tuple[str, ...] = SHARED_TABLES,
    images: bool = True,
) -> Page:
    """One page of every shared table (see the module docstring) and, with ``images``, of the
    template images (``rows["template_images"]``, sync/images.py).  Raises ``SyncFailure``."""
    out = Page()
    try:
        # read only: ended by ROLLBACK, so the only COMMITs on the sync connection are the push's
        with pg.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin")
            out.xmin = xmin = int(cur.fetchone()["xmin"])
            for table in tables:
                c = cursors.get(table, Cursor())
                cur.execute(
                    sql.SQL(
                        "SELECT {cols} FROM {t} WHERE origin <> %s AND tx >= %s AND tx < %s"
                        " AND (tx, id) > (%s, %s) ORDER BY tx, id LIMIT %s"
                    ).format(cols=_cols(table), t=sql.Identifier(table)),
                    (device, c.tx_from, xmin, c.after_tx, c.after_key, page),
                )
                rows = [dict(r) for r in cur.fetchall()]
                out.rows[table] = rows
                if len(rows) < page:
                    out.cursors[table] = Cursor(max(xmin, c.tx_from))
                else:
                    out.drained = False
                    out.cursors[table] = Cursor(c.tx_from, int(rows[-1]["tx"]), str(rows[-1]["id"]))
            if images:  # in the same snapshot: the images of the templates in this page come with it
                c = cursors.get(IMAGE_TABLE, Cursor())
                found, cut = sync_images.read_central(cur, device, c.tx_from, c.after_tx, c.after_key, xmin)
                out.rows[IMAGE_TABLE] = found
                if cut:
                    out.drained = False
                    out.cursors[IMAGE_TABLE] = Cursor(c.tx_from, int(found[-1]["tx"]), str(found[-1]["id"]))
                else:
                    out.cursors[IMAGE_TABLE] = Cursor(max(xmin, c.tx_from))
            have = {str(r["id"]) for r in out.rows.get("events", ())}
            need = {str(r[col]) for t, col in PARENT.items() for r in out.rows.get(t, ())} - have
            if need:
                cur.execute(
                    sql.SQL("SELECT {cols} FROM events WHERE id = ANY(%s)").format(cols=_cols("events")),
                    (sorted(need),),
                )
                out.rows.setdefault("events", []).extend(dict(r) for r in cur.fetchall())
        pg.rollback()
    except Exception as exc:
        with contextlib.suppress(Exception):
            pg.rollback()
        raise failure(exc) from exc
    return out


def _cols(table: str) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns(table))


def load_cursors(conn: Connection) -> dict[str, Cursor]:
    t = SyncPull.__table__
    return {r.tbl: Cursor(int(r.tx_from), int(r.after_tx), str(r.after_key)) for r in conn.execute(select(t))}


def save_cursors(conn: Connection, cursors: dict[str, Cursor]) -> None:
    t = SyncPull.__table__
    for tbl, c in cursors.items():
        stmt = sqlite_insert(t).values(tbl=tbl, tx_from=c.tx_from, after_tx=c.after_tx, after_key=c.after_key)
        keep = ("tx_from", "after_tx", "after_key")
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["tbl"], set_={k: stmt.excluded[k] for k in keep})
        )


def _checkpoint(conn: Connection, images: list[Any], cursors: dict[str, Cursor]) -> None:
    """In the page's one local transaction: its checked images, then the cursors."""
    if images:
        sync_images.store_checked(conn, images)
    if cursors:
        save_cursors(conn, cursors)


class Puller:
    """Pull rounds for one local store (the sync worker runs ``round`` after each push round)."""

    def __init__(
        self,
        store: Store,
        remote: RemoteOperations,
        *,
        page: int = PAGE,
        executor: Executor | None = None,
        read: Callable[..., Page] = pull_batch,
    ) -> None:
        self._store = store
        self._remote = remote
        self._page = page
        self._executor = executor
        self._read = read
        self._saved_at = 0.0
        self.pulled = 0  # rows applied by this process
        self.refused: list[sync_images.Refused] = []  # pulled images refused by this process

    async def __call__(self, link: Any) -> int:
        """The sync worker's round hook (``SyncWorker.add_round``): pages are read on its
        thread with its open connection (``link.run``)."""
        return await self._rounds(lambda device, before: link.run(self._read_page, device, before))

    async def round(self, pg: psycopg2.extensions.connection) -> int:
        """Pull with ``pg`` (on ``executor``) until every shared table is drained."""
        loop = asyncio.get_running_loop()
        return await self._rounds(
            lambda device, before: loop.run_in_executor(
                self._executor, partial(self._read_page, pg, device, before)
            )
        )

    def _read_page(self, pg: psycopg2.extensions.connection, device: str, before: dict[str, Cursor]) -> Page:
        return self._read(pg, device, before, page=self._page)

    async def _checked_images(self, rows: list[dict[str, Any]]) -> list[Any]:
        """A page's images checked again (``templates.images.check_stored``, on the executor:
        Pillow decodes them); a refused one is logged with its reason and never stored."""
        if not rows:
            return []
        loop = asyncio.get_running_loop()
        good, refused = await loop.run_in_executor(self._executor, sync_images.checked, rows)
        for r in refused:
            log.warning(
                "central sync: a template image from device %s was refused: %s", r.origin[:64], r.reason
            )
        self.refused.extend(refused)
        return good

    async def _rounds(self, read: Callable[[str, dict[str, Cursor]], Awaitable[Page]]) -> int:
        """Page after page until drained; the number of rows applied here.  A local change that
        raced a page (``PullRaced``) ends the round: the page is read again next time."""
        device = await self._store.run(device_id)
        applied = 0
        while True:
            before = await self._store.run(load_cursors)
            page = await read(device, before)
            moved = {t: c for t, c in page.cursors.items() if before.get(t, Cursor()) != c}
            idle = not len(page) and time.monotonic() - self._saved_at < IDLE_SAVE
            if not len(page) and (not moved or idle):
                return applied
            stored = await self._checked_images(page.rows.pop(IMAGE_TABLE, []))
            checkpoint = partial(_checkpoint, images=stored, cursors=moved) if moved or stored else None
            try:
                result = await self._remote.apply_pulled(PulledBatch(page.rows, checkpoint))
            except PullRaced as exc:
                log.info("central sync: %s; pulling again next round", exc)
                return applied
            self._saved_at = time.monotonic()
            applied += result.total + len(stored)
            self.pulled += result.total + len(stored)
            if page.drained:
                return applied
