"""read conflicts, claimed streams

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000

A (location, seq) that a stream sends again with other content is no longer dropped without a
trace: ``read_conflicts`` keeps the other content (the stored read stays as it was) next to
its raw line.  A connection that claims the id of a stream connected from another address
gets a stream of its own, flagged: ``timing_streams.claimed_from`` (the claimed stream's id)
and ``suspect``.  Existing streams claimed nothing.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'read_conflicts',
        sa.Column('stream_id', sa.String(length=36), nullable=False),
        sa.Column('location', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('raw_n', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('tag', sa.String(length=32), nullable=False),
        sa.Column('time_text', sa.String(length=40), nullable=False),
        sa.Column('lap', sa.Integer(), nullable=False),
        sa.Column('reader_id', sa.String(length=16), nullable=False),
        sa.Column('gator', sa.Integer(), nullable=False),
        sa.Column('remote_addr', sa.String(length=100), nullable=False),
        sa.Column('received_at', sa.Float(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['stream_id'], ['timing_streams.id']),
        sa.PrimaryKeyConstraint('stream_id', 'location', 'seq', 'raw_n'),
    )
    with op.batch_alter_table('timing_streams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_from', sa.String(length=36), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('suspect', sa.Boolean(), nullable=False, server_default='0'))


def downgrade() -> None:
    # Not batch mode for timing_streams (see 0006): a batch drop re-creates the table, and
    # DROP TABLE of a parent that reads and raw_lines point at fails with foreign keys on.
    for column in ('suspect', 'claimed_from'):
        op.drop_column('timing_streams', column)
    op.drop_table('read_conflicts')
