"""saved column mappings of roster files, per source

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:10:00.000000

One row per roster file source (a CSV export's name, or ``active`` for ACTIVEWorks exports):
the ``{field: column header}`` mapping the timer confirmed and the headers of that file, so the
next file of the same source imports without a mapping step (docs/providers.md#roster-files).
Local to this laptop: not a synced table (no outbox trigger).
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'roster_mappings',
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('mapping', sa.JSON(), nullable=False),
        sa.Column('headers', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('source'),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table('roster_mappings', if_exists=True)
