"""The local outbox: what is not in the central database yet, read in batches, checked off after.

Blocking functions that take a SQLAlchemy ``Connection`` of the local store (call them through
``Store.run`` / ``Store.run_sync``, i.e. on the store's thread; each call is one transaction):

* ``read_batch(conn, max_entities, max_append)``: up to ``max_entities`` pending ``sync_rows``
  (oldest clock first) with the current local row of each (``None``: deleted, a tombstone)
  and, per append-only table, up to ``max_append`` rows above its cursor in rowid order, and
  the template images above theirs (``sync/images.py``);
* ``mark_pushed(conn, batch)``: after the central commit, ``pending = 0`` where the row's
  ``hlc`` is still the one sent (a change made while the batch was on its way stays pending)
  and each cursor moved to the highest rowid sent (unless a delete lowered it meanwhile);
* ``backlog(conn)``: how many rows are not central yet and since when (cheap: an index count
  and ``max(rowid) - cursor`` per append table);
* ``device_id(conn)``: this laptop's device id (``sync_clock.device``).

The tables are made by store migration 0008 (docs/sync.md#the-local-side-what-is-pending).
Nothing here knows PostgreSQL: ``push.push_batch`` sends a ``Batch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Connection, Table, text

from race_control.central.schema import LOCAL_NAME
from race_control.store.models import Base
from race_control.sync import images as sync_images
from race_control.sync.images import ImageRows

# local entity table -> its key columns (sync_rows.key joins them with one space)
ENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "events": ("id",),
    "participants": ("id",),
    "timing_streams": ("id",),
    "display_sessions": ("id",),
    "session_streams": ("session_id", "stream_id"),
    "templates": ("id",),
    "presets": ("id",),  # store migration 0009 (its triggers have 0008's shape)
}
# central append table -> (local table, the column that says when a row was written)
APPEND: dict[str, tuple[str, str]] = {
    "raw_lines": ("raw_lines", "received_at"),
    "timing_reads": (LOCAL_NAME.get("timing_reads", "reads"), "received_at"),
    "read_conflicts": ("read_conflicts", "created_at"),
    "display_events": ("display_events", "created_at"),
    "suppressions": ("suppressions", "created_at"),
}
MAX_ENTITIES = 2000
MAX_APPEND = 20000


@dataclass(frozen=True, slots=True)
class EntityChange:
    """One pending entity: its clock, origin, and the local row now (``None``: deleted;
    JSON columns as their stored text)."""

    table: str  # local = central name
    key: str
    hlc: int
    origin: str
    row: dict[str, Any] | None

    @property
    def deleted(self) -> bool:
        return self.row is None


@dataclass(frozen=True, slots=True)
class AppendRows:
    """Rows of one append-only table above its cursor, in rowid order: one tuple per row, the
    values in ``columns`` order as SQLite stores them (JSON columns as their stored text, not
    decoded: the push hands it to PostgreSQL as it is)."""

    table: str  # the central name (timing_reads for local reads)
    local: str
    cursor: int  # the cursor when read
    resets: int  # sync_cursors.resets when read (mark_pushed moves the cursor only if unchanged)
    last_rowid: int  # the highest rowid in ``rows``
    rows: list[tuple[Any, ...]]
    columns: tuple[str, ...] = ()  # the local table's columns, the order of each row's values

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}`` (JSON columns still text): for tests and tools."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@dataclass(frozen=True, slots=True)
class Batch:
    device: str
    entities: list[EntityChange] = field(default_factory=list)
    appends: list[AppendRows] = field(default_factory=list)
    images: ImageRows | None = None  # template images not central yet (sync/images.py)

    @property
    def size(self) -> int:
        n = len(self.images.rows) if self.images is not None else 0
        return n + len(self.entities) + sum(len(a.rows) for a in self.appends)

    @property
    def empty(self) -> bool:
        return self.size == 0


@dataclass(frozen=True, slots=True)
class Backlog:
    rows: int  # entity rows pending + append rows above their cursors
    since: float | None  # when the oldest of them was written (None: no backlog)


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def device_id(conn: Connection) -> str:
    return str(conn.execute(text("SELECT device FROM sync_clock LIMIT 1")).scalar_one())


def _entity_rows(cur: Any, table: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The local rows of ``keys`` through the sqlite3 cursor (``cur``): booleans as ``bool``,
    JSON columns as their stored text (never decoded: the push hands it to PostgreSQL as it
    is; decoding 27,000 participants' ``raw`` only to encode it again was a tenth of a sync's
    client CPU)."""
    t = _table(table)
    cols = [c.name for c in t.columns]
    bools = [i for i, c in enumerate(t.columns) if isinstance(c.type, Boolean)]
    key_cols = ENTITY_KEYS[table]
    listed = ", ".join(f'"{c}"' for c in cols)
    if len(key_cols) == 1:
        where = f'"{key_cols[0]}" IN ({", ".join("?" * len(keys))})'
        params: list[Any] = list(keys)
    else:
        row = "(" + ", ".join("?" * len(key_cols)) + ")"
        where = f"({', '.join(chr(34) + c + chr(34) for c in key_cols)}) IN (VALUES {', '.join([row] * len(keys))})"
        params = [part for k in keys for part in k.split(" ")]
    cur.execute(f'SELECT {listed} FROM "{table}" WHERE {where}', params)
    key_idx = [cols.index(c) for c in key_cols]
    out = {}
    for values in cur.fetchall():
        if bools:
            values = list(values)
            for i in bools:
                if values[i] is not None:
                    values[i] = bool(values[i])
        out[" ".join(str(values[i]) for i in key_idx)] = dict(zip(cols, values, strict=True))
    return out


def read_entities(conn: Connection, limit: int, after: Batch | None = None) -> list[EntityChange]:
    """Up to ``limit`` pending entity changes, oldest clock first, each with the local row now
    (``None``: deleted), as ``{column: value}`` with JSON columns as their stored text."""
    sent = {(e.table, e.key, e.hlc) for e in after.entities} if after is not None else set()
    pending = conn.execute(
        text(
            "SELECT tbl, key, hlc, origin, deleted FROM sync_rows WHERE pending = 1 "
            "ORDER BY pending, hlc LIMIT :n"
        ),
        {"n": limit + len(sent)},
    ).all()
    if sent:  # on its way in ``after``: the same change is not read twice
        pending = [p for p in pending if (p[0], p[1], int(p[2])) not in sent][:limit]
    by_table: dict[str, list[str]] = {}
    for tbl, key, _hlc, _origin, deleted in pending:
        if not deleted:
            by_table.setdefault(tbl, []).append(key)
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        for tbl, keys in by_table.items():
            found: dict[str, dict[str, Any]] = {}
            for i in range(0, len(keys), 400):  # SQLite's bound-parameter limit (two per link)
                found.update(_entity_rows(cur, tbl, keys[i : i + 400]))
            rows[tbl] = found
    finally:
        cur.close()
    # a row that is gone although its last change was no delete (a cascade while pulling…) is
    # a tombstone all the same: what is not here must not stay central as if it were
    return [
        EntityChange(tbl, key, int(hlc), origin, None if deleted else rows.get(tbl, {}).get(key))
        for tbl, key, hlc, origin, deleted in pending
    ]


def _cursors(conn: Connection) -> dict[str, tuple[int, int]]:
    """table -> (last_rowid, resets)."""
    rows = conn.execute(text("SELECT tbl, last_rowid, resets FROM sync_cursors"))
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def read_appends(conn: Connection, limit: int, after: Batch | None = None) -> list[AppendRows]:
    """Up to ``limit`` rows per append table above its cursor (or above what ``after``, a batch
    still on its way, holds of that table, if no delete reset the cursor since it was read).
    Read through the sqlite3 cursor itself, a plain tuple per row, JSON columns as their stored
    text: the worker reads these on the store's one thread, and SQLAlchemy rows/dicts with
    decoded JSON were 35 % of a sync's client CPU (docs/benchmarks.md#central-sync)."""
    cursors = _cursors(conn)
    in_flight = {a.local: a for a in after.appends} if after is not None else {}
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    out = []
    try:
        for central, (local, _when) in APPEND.items():
            cols = tuple(c.name for c in _table(local).columns)
            cursor, resets = cursors.get(local, (0, 0))
            start = cursor
            prev = in_flight.get(local)
            if prev is not None and prev.resets == resets:
                start = max(cursor, prev.last_rowid)
            listed = ", ".join(f'"{c}"' for c in cols)
            cur.execute(
                f'SELECT max(rowid) FROM (SELECT rowid FROM "{local}" WHERE rowid > ? ORDER BY rowid LIMIT ?)',
                (start, limit),
            )
            top = cur.fetchone()[0]
            if top is None:
                continue
            cur.execute(
                f'SELECT {listed} FROM "{local}" WHERE rowid > ? AND rowid <= ? ORDER BY rowid', (start, top)
            )
            out.append(AppendRows(central, local, cursor, resets, int(top), cur.fetchall(), cols))
    finally:
        cur.close()
    return out


def read_batch(
    conn: Connection,
    max_entities: int = MAX_ENTITIES,
    max_append: int = MAX_APPEND,
    after: Batch | None = None,
) -> Batch:
    """What to send next (empty when everything is central).  One read transaction, so the
    entity rows and the append rows are one consistent snapshot of the store.

    ``after``: a batch read before and not checked off yet (on its way to the central
    database): what it holds is left out (entity changes with the same clock; append rows up
    to its highest rowid per table, unless a delete reset that table's cursor since), so the
    worker can read the next batch while this one is pushed.  Push the result only after
    ``after`` committed (the central writes are idempotent either way)."""
    return Batch(
        device_id(conn),
        read_entities(conn, max_entities, after),
        read_appends(conn, max_append, after),
        sync_images.read_local(conn, after.images if after is not None else None),
    )


def mark_pushed(conn: Connection, batch: Batch) -> None:
    """The central database committed ``batch``: check it off (idempotent).

    An entity stays pending if it changed again after it was read (its ``hlc`` moved on): the
    newer change is sent next time.  A cursor moves only if no delete from its table happened
    since the batch was read (``resets`` unchanged): a delete lowers the cursor below the
    deleted row, and SQLite may give that rowid to a new row, even one inside the batch's
    range; the rows from there are sent again, which the central ``ON CONFLICT`` makes
    harmless."""
    if batch.entities:
        conn.execute(
            text("UPDATE sync_rows SET pending = 0 WHERE tbl = :t AND key = :k AND hlc = :h AND pending = 1"),
            [{"t": e.table, "k": e.key, "h": e.hlc} for e in batch.entities],
        )
    for a in batch.appends:
        conn.execute(
            text(
                "UPDATE sync_cursors SET last_rowid = max(last_rowid, :last) WHERE tbl = :t AND resets = :resets"
            ),
            {"last": a.last_rowid, "t": a.local, "resets": a.resets},
        )
    if batch.images is not None:
        sync_images.mark_local(conn, batch.images)


def backlog(conn: Connection) -> Backlog:
    """Rows not central yet, and when the oldest of them was written."""
    count, oldest = conn.execute(
        text("SELECT count(*), min(changed_at) FROM sync_rows WHERE pending = 1")
    ).one()
    total = int(count)
    since = [float(oldest)] if oldest is not None else []
    cursors = _cursors(conn)
    for local, when in APPEND.values():
        cursor, _resets = cursors.get(local, (0, 0))
        top = conn.execute(text(f"SELECT max(rowid) FROM {local}")).scalar()
        if top is None or int(top) <= cursor:
            continue
        total += int(top) - cursor  # rowids above the cursor: exact unless rows were deleted
        first = conn.execute(
            text(f"SELECT {when} FROM {local} WHERE rowid > :c ORDER BY rowid LIMIT 1"), {"c": cursor}
        ).scalar()
        if first is not None:
            since.append(float(first))
    images, first_image = sync_images.backlog(conn)
    total += images
    if first_image is not None:
        since.append(first_image)
    return Backlog(total, min(since) if since else None)


__all__ = [
    "APPEND",
    "ENTITY_KEYS",
    "AppendRows",
    "Backlog",
    "Batch",
    "EntityChange",
    "backlog",
    "device_id",
    "mark_pushed",
    "read_batch",
]
