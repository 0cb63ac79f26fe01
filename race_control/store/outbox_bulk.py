"""Many rows of one entity table written at once: their outbox rows in one statement run.

The entity triggers of migration 0008 write ``sync_rows`` for every changed row, in the same
transaction: per row they move the clock (``hlc = max(hlc + 1, now_ms << 16)``) and upsert the
row's outbox entry (pending, this device, the new hlc; ``changed_at`` kept while it is still
pending).  For a 50,000-runner import that per-row trigger program is about half of the
participants' write (docs/providers.md#load).  ``bulk_outbox`` writes the same outcome in bulk:
inside it the triggers record nothing (``sync_clock.applying = 1``, exactly as a pull's writes
do, in the caller's transaction: nobody else ever sees it), and on the way out the clock moves
by the number of rows at once and every row gets its outbox entry — hlc values in the rows'
order, the same as the triggers would have given them.  Only for inserts and updates of a
table whose outbox key is ``id`` (deletes keep their triggers).  A pull already applying
(``applying`` 1) records nothing, as the triggers would not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection

# the triggers' clock and time expressions (migration 0008), written out the same way
_NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
_NOW_S = "((julianday('now') - 2440587.5) * 86400.0)"
_TABLES = frozenset(("events", "participants", "timing_streams", "display_sessions", "templates"))
_ROW_SQL = (
    "INSERT INTO sync_rows (tbl, key, hlc, origin, deleted, pending, changed_at) "
    f"VALUES (?, ?, ?, ?, 0, 1, {_NOW_S}) "
    "ON CONFLICT (tbl, key) DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin, "
    "deleted = excluded.deleted, pending = 1, changed_at = CASE WHEN sync_rows.pending "
    "THEN sync_rows.changed_at ELSE excluded.changed_at END"
)
_TRIGGERS_SQL = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name IN (?, ?)"
)


@contextmanager
def bulk_outbox(conn: Connection, table: str, keys: Sequence[str]) -> Iterator[None]:
    """Write ``table``'s rows ``keys`` (their ids, in the order written) inside; their outbox
    rows are written when the block ends, in the same transaction."""
    if table not in _TABLES:
        raise ValueError(f"bulk_outbox: {table!r} has no id-keyed outbox trigger")
    state = conn.exec_driver_sql("SELECT applying FROM sync_clock LIMIT 1").first()
    if state is None or state[0] == 1 or not keys:
        yield  # no clock (the triggers record nothing either) or a pull applying: as the triggers
        return
    conn.exec_driver_sql("UPDATE sync_clock SET applying = 1")
    # the table's own insert and update triggers out of the way (each would still test
    # ``applying`` for every row): dropped and created again, as they were, in this transaction
    triggers = conn.exec_driver_sql(
        _TRIGGERS_SQL, (table, f"sync_{table}_insert", f"sync_{table}_update")
    ).all()
    for name, _ in triggers:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield  # an exception: the caller's transaction rolls back, ``applying`` and the triggers with it
    for _, sql in triggers:
        conn.exec_driver_sql(sql)
    n = len(keys)
    last, device = conn.exec_driver_sql(
        f"UPDATE sync_clock SET applying = 0, hlc = max(hlc + ?, ({_NOW_MS} << 16) + ? - 1) "
        "RETURNING hlc, device",
        (n, n),
    ).one()
    first = int(last) - n + 1
    conn.exec_driver_sql(_ROW_SQL, [(table, key, first + i, device) for i, key in enumerate(keys)])
