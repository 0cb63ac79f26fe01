"""session_snapshots: what a display session had derived, so start-up does not replay the race

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 20:00:00.000000

One row per display session (``sessions.snapshot``): the crossing engine's state (duplicate
windows, starts, guns, parked tags), the places and leaderboard, the counts and the bibs shown
as "Bib N" (``unknown``, apart: sessions with the same rules and streams share the rest), with the position it was taken at (each stream's raw_n of the last read decided,
the last display seq) and a fingerprint of the rules and streams it holds for.  Start-up takes
the snapshot and decides only the reads after it; a snapshot that no longer fits (other rules,
other streams, unreadable, ahead of the store) is ignored and the session replayed as before.
Local to this laptop and derived: not a synced table (no outbox trigger); dropping every row is
always safe.
"""

from alembic import op
import sqlalchemy as sa


revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_snapshots",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.Float(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("unknown", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["display_sessions.id"]),
        sa.PrimaryKeyConstraint("session_id"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("session_snapshots", if_exists=True)
