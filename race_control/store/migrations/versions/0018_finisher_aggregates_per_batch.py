"""display_events: the finisher aggregates counted per batch by the writer, not by a trigger per row

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 15:30:00.000000

0015's ``agg_display_events_insert`` ran two statements for every finisher row (each looking
its read up again, the second parsing the payload's JSON twice): ~17 of the ~24 µs a display
event cost to store, the largest single cost of ingest with 20 sessions bound (issue #13).
``sessions.queries.write_derived`` — the one writer of ``display_events`` — now adds a batch's
finishers to ``finisher_minutes`` and its "Bib N" finishers to ``unknown_bibs`` itself, in the
same transaction, from the rows it has in memory (same minutes, same bibs).  Downgrading
creates the trigger again (the aggregates already counted stay as they are).
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# 0015's trigger as it was created there (a downgrade puts it back unchanged)
_MINUTE = "(CAST(r.clock / 60 AS INTEGER) - (r.clock < 0 AND r.clock / 60 <> CAST(r.clock / 60 AS INTEGER)))"
_READ_OF_EVENT = (
    "FROM reads r WHERE r.stream_id = NEW.stream_id AND r.location = NEW.location AND r.seq = NEW.read_seq"
)
TRIGGER = (
    "CREATE TRIGGER agg_display_events_insert AFTER INSERT ON display_events WHEN NEW.kind = 'finisher' BEGIN "
    "INSERT INTO finisher_minutes (session_id, minute, finishers) "
    f"SELECT NEW.session_id, {_MINUTE}, 1 {_READ_OF_EVENT} "
    "ON CONFLICT (session_id, minute) DO UPDATE SET finishers = finishers + 1; "
    "INSERT OR IGNORE INTO unknown_bibs (session_id, bib) "
    f"SELECT NEW.session_id, coalesce(json_extract(NEW.payload, '$.bib'), '') {_READ_OF_EVENT} "
    "AND json_extract(NEW.payload, '$.known') = 0; END"
)


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS agg_display_events_insert")


def downgrade() -> None:
    op.execute(TRIGGER)
