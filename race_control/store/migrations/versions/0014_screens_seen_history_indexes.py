"""screens seen per display session, indexes for the session history

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 16:30:00.000000

``screens_seen``: every distinct screen that ever connected to a display session (the page's
stored screen id, else its address), when it was first and last seen, its browser and how
often it connected, so "screens seen" survives restarts (docs/history.md#history).  Local to
this laptop: not a synced table (no outbox trigger).

Indexes for the history's queries (docs/history.md#history): ``ix_display_events_kind_bib``
(finishers counted per session from the index alone; a bib's finishes and corrections in a
session), ``ix_suppressions_bib`` (a bib's suppressions in a session) and
``ix_display_sessions_created`` (sessions newest first, paged).
"""

from alembic import op
import sqlalchemy as sa


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screens_seen",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("screen", sa.String(length=80), nullable=False),
        sa.Column("screen_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("viewport", sa.String(length=16), nullable=False),
        sa.Column("connections", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["display_sessions.id"]),
        sa.PrimaryKeyConstraint("session_id", "screen"),
        if_not_exists=True,
    )
    with op.batch_alter_table("display_events", schema=None) as batch_op:
        batch_op.create_index("ix_display_events_kind_bib", ["session_id", "kind", "bib"], unique=False)
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_index("ix_suppressions_bib", ["session_id", "bib"], unique=False)
    with op.batch_alter_table("display_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_display_sessions_created", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("display_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_display_sessions_created")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index("ix_suppressions_bib")
    with op.batch_alter_table("display_events", schema=None) as batch_op:
        batch_op.drop_index("ix_display_events_kind_bib")
    op.drop_table("screens_seen", if_exists=True)
