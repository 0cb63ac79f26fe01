"""suppression codes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00.000000

Every suppression gets a stable ``code`` next to its human ``reason`` (analytics count
codes, not words of the text).  Rows written before this revision get their code from the
text the crossing engine wrote; a text no rule here knows becomes ``other``.  The patterns
are spelled out here, not imported, so this revision keeps meaning what it meant when the
engine's wording changes.
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# (code, LIKE pattern on the reason text), first match wins
_BACKFILL = (
    ('duplicate', 'duplicate:%'),
    ('too_soon', 'too soon:%'),
    ('stray', 'stray:%'),
    ('start_reread', 'start mat re-read:%'),
    ('start', 'start:%'),
    ('location_filtered', 'location % is not shown by this session'),
    ('ignored_tag', 'tag % is an ignored test tag'),
)


def upgrade() -> None:
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=32), nullable=False, server_default=''))

    suppressions = sa.table('suppressions', sa.column('reason', sa.String), sa.column('code', sa.String))
    code = sa.case(
        *[(suppressions.c.reason.like(pattern), value) for value, pattern in _BACKFILL], else_='other'
    )
    op.execute(suppressions.update().values(code=code))


def downgrade() -> None:
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_column('code')
