"""central sync outbox: the clock, pending entity rows, append cursors

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:00:00.000000

What has not reached the central database yet (docs/sync.md#the-local-side-what-is-pending):

* ``sync_clock`` (one row): this laptop's ``device`` id (a new UUID, made here), its hybrid
  logical clock ``hlc`` (ms << 16 | counter) and ``applying`` (1 only while pulled rows are
  written: the triggers then record nothing, so a pulled row is not sent back);
* ``sync_rows (tbl, key)``: per entity row that changed, the ``hlc``/``origin`` of its last
  change, ``deleted``, ``pending`` (not yet central) and ``changed_at`` (when it became pending);
* ``sync_cursors (tbl)``: per append-only table the highest ``rowid`` already central, and
  ``resets``: how often a delete lowered it.

Triggers on the entity tables write ``sync_rows`` in the same transaction as the change,
whatever code made it.  A delete from an append table (suppressions are replaced when a
session's rules change) lowers that table's cursor below the deleted row and counts a reset:
SQLite may reuse the rowids of deleted rows at the end of a table, so a row written again
could land below the cursor, or inside a batch already on its way (whose check-off then
must not move the cursor: it sees the reset).  Everything that exists at upgrade time is pending (a store that existed before sync
sends everything) and every cursor starts at 0.
"""

import time
import uuid

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# entity table -> the SQL of its sync key over NEW/OLD (written out: this revision keeps
# meaning what it meant whatever the code later calls things)
ENTITY_KEYS = {
    'events': '{r}.id',
    'participants': '{r}.id',
    'timing_streams': '{r}.id',
    'display_sessions': '{r}.id',
    'session_streams': "{r}.session_id || ' ' || {r}.stream_id",
    'templates': '{r}.id',
}
APPEND_TABLES = ('raw_lines', 'reads', 'read_conflicts', 'display_events', 'suppressions')

NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
NOW_S = "((julianday('now') - 2440587.5) * 86400.0)"


def _record(table: str, row: str, deleted: int) -> str:
    key = ENTITY_KEYS[table].format(r=row)
    return (
        f"UPDATE sync_clock SET hlc = max(hlc + 1, {NOW_MS} << 16); "
        "INSERT INTO sync_rows (tbl, key, hlc, origin, deleted, pending, changed_at) "
        f"SELECT '{table}', {key}, hlc, device, {deleted}, 1, {NOW_S} FROM sync_clock WHERE true "
        "ON CONFLICT (tbl, key) DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin, "
        "deleted = excluded.deleted, pending = 1, changed_at = CASE WHEN sync_rows.pending "
        "THEN sync_rows.changed_at ELSE excluded.changed_at END;"
    )


def _triggers() -> list[tuple[str, str]]:
    out = []
    for table in ENTITY_KEYS:
        for when, row, deleted in (('INSERT', 'NEW', 0), ('UPDATE', 'NEW', 0), ('DELETE', 'OLD', 1)):
            name = f'sync_{table}_{when.lower()}'
            out.append((
                name,
                f'CREATE TRIGGER {name} AFTER {when} ON {table} '
                'WHEN (SELECT applying FROM sync_clock LIMIT 1) IS NOT 1 '
                f'BEGIN {_record(table, row, deleted)} END',
            ))
    for table in APPEND_TABLES:
        name = f'sync_{table}_delete'
        out.append((
            name,
            f'CREATE TRIGGER {name} AFTER DELETE ON {table} BEGIN '
            "UPDATE sync_cursors SET last_rowid = min(last_rowid, OLD.rowid - 1), resets = resets + 1 "
            f"WHERE tbl = '{table}'; END",
        ))
    return out


def upgrade() -> None:
    op.create_table(
        'sync_clock',
        sa.Column('device', sa.String(length=36), nullable=False),
        sa.Column('hlc', sa.BigInteger(), nullable=False),
        sa.Column('applying', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('device'),
    )
    op.create_table(
        'sync_rows',
        sa.Column('tbl', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('hlc', sa.BigInteger(), nullable=False),
        sa.Column('origin', sa.String(length=36), nullable=False),
        sa.Column('deleted', sa.Boolean(), nullable=False),
        sa.Column('pending', sa.Boolean(), nullable=False),
        sa.Column('changed_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('tbl', 'key'),
    )
    op.create_index('ix_sync_rows_pending', 'sync_rows', ['pending', 'hlc'], unique=False)
    op.create_table(
        'sync_cursors',
        sa.Column('tbl', sa.String(length=32), nullable=False),
        sa.Column('last_rowid', sa.BigInteger(), nullable=False),
        sa.Column('resets', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('tbl'),
    )

    device, now = str(uuid.uuid4()), time.time()
    hlc = int(now * 1000) << 16
    op.execute(
        sa.text('INSERT INTO sync_clock (device, hlc, applying) VALUES (:d, :h, 0)').bindparams(d=device, h=hlc)
    )
    for table in APPEND_TABLES:
        op.execute(sa.text('INSERT INTO sync_cursors (tbl, last_rowid, resets) VALUES (:t, 0, 0)').bindparams(t=table))
    for table, key in ENTITY_KEYS.items():  # what exists already has never been central
        op.execute(
            sa.text(
                'INSERT INTO sync_rows (tbl, key, hlc, origin, deleted, pending, changed_at) '
                f"SELECT :t, {key.format(r=table)}, :h, :d, 0, 1, :now FROM {table}"
            ).bindparams(t=table, h=hlc, d=device, now=now)
        )
    for _name, sql in _triggers():
        op.execute(sql)


def downgrade() -> None:
    for name, _sql in _triggers():
        op.execute(f'DROP TRIGGER IF EXISTS {name}')
    op.drop_table('sync_cursors')
    op.drop_index('ix_sync_rows_pending', table_name='sync_rows')
    op.drop_table('sync_rows')
    op.drop_table('sync_clock')
