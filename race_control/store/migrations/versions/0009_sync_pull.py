"""central sync pull: per-table pull cursors, presets

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 11:00:00.000000

What comes down from the central database (docs/sync.md#pull):

* ``sync_pull (tbl)``: per shared central table, how far the pull has read.  Every central row
  with ``tx < tx_from`` has been seen; of the rows with ``tx >= tx_from``, those up to
  ``(after_tx, after_key)`` in ``(tx, id)`` order too (a page of a long transaction's rows).
  Written in the same local transaction as the rows it covers.
* ``presets``: display-session and rule presets (``kind`` session | rules, a ``name``, the
  ``body`` to create or set up a session from), shared with the partner's other laptops.
  Synced like every entity table: the same triggers as 0008 record each change in
  ``sync_rows`` (not while ``sync_clock.applying`` is 1).
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
NOW_S = "((julianday('now') - 2440587.5) * 86400.0)"


def _record(row: str, deleted: int) -> str:
    """0008's trigger body, written out for presets (keyed by id)."""
    return (
        f"UPDATE sync_clock SET hlc = max(hlc + 1, {NOW_MS} << 16); "
        "INSERT INTO sync_rows (tbl, key, hlc, origin, deleted, pending, changed_at) "
        f"SELECT 'presets', {row}.id, hlc, device, {deleted}, 1, {NOW_S} FROM sync_clock WHERE true "
        "ON CONFLICT (tbl, key) DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin, "
        "deleted = excluded.deleted, pending = 1, changed_at = CASE WHEN sync_rows.pending "
        "THEN sync_rows.changed_at ELSE excluded.changed_at END;"
    )


def _triggers() -> list[tuple[str, str]]:
    out = []
    for when, row, deleted in (('INSERT', 'NEW', 0), ('UPDATE', 'NEW', 0), ('DELETE', 'OLD', 1)):
        name = f'sync_presets_{when.lower()}'
        out.append((
            name,
            f'CREATE TRIGGER {name} AFTER {when} ON presets '
            'WHEN (SELECT applying FROM sync_clock LIMIT 1) IS NOT 1 '
            f'BEGIN {_record(row, deleted)} END',
        ))
    return out


def upgrade() -> None:
    op.create_table(
        'sync_pull',
        sa.Column('tbl', sa.String(length=32), nullable=False),
        sa.Column('tx_from', sa.BigInteger(), nullable=False),
        sa.Column('after_tx', sa.BigInteger(), nullable=False),
        sa.Column('after_key', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('tbl'),
    )
    op.create_table(
        'presets',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    for _name, sql in _triggers():
        op.execute(sql)


def downgrade() -> None:
    for name, _sql in _triggers():
        op.execute(f'DROP TRIGGER IF EXISTS {name}')
    op.drop_table('presets')
    op.drop_table('sync_pull')
