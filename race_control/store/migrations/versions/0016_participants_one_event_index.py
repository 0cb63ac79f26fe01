"""participants: drop ix_participants_event_id (the unique (event_id, bib) index serves it)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 17:30:00.000000

``uq_participants_event_bib`` is an index on (event_id, bib): every lookup by event alone
(``WHERE event_id = ?``, the cascade from ``events``) uses its first column, so the separate
index on event_id was only a third B-tree to write for every participant (a 50,000-row roster
import: about 0.2 s of its write, docs/providers.md#load).  Downgrading creates it again.
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_participants_event_id", table_name="participants")


def downgrade() -> None:
    op.create_index("ix_participants_event_id", "participants", ["event_id"], unique=False)
