"""stream state, local participant edits

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00.000000

A timing stream keeps everything it holds across a restart: whether its times are "now"
(``live``: a replay or an imported file is not), its bad-line count and its clock
warnings.  Streams stored before this revision were live unless they were imported
controller files (that is what start-up derived from the protocol until now).

A participant remembers which of its fields the timer edited locally (``local_fields``),
so an import from a registration provider can tell them apart from its own.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('timing_streams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('live', sa.Boolean(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('bad_lines', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('clock_warnings', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(
            sa.Column('last_clock_warning', sa.String(length=500), nullable=False, server_default='')
        )
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('local_fields', sa.JSON(), nullable=False, server_default='[]'))

    # the protocol spelled out: this revision keeps meaning what it meant if the module is renamed
    streams = sa.table('timing_streams', sa.column('protocol', sa.String), sa.column('live', sa.Boolean))
    op.execute(streams.update().where(streams.c.protocol == 'controller-file').values(live=False))


def downgrade() -> None:
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_column('local_fields')
    # Not batch mode for timing_streams: a batch drop re-creates the table (copy, DROP TABLE,
    # rename), and on the app's connections (foreign keys on) DROP TABLE of a parent whose rows
    # reads, raw_lines and session_streams point at fails. SQLite 3.35+ drops columns in place.
    for column in ('last_clock_warning', 'clock_warnings', 'bad_lines', 'live'):
        op.drop_column('timing_streams', column)
