"""reads, display_events: the analytics' aggregates counted per batch by the writers, not by a trigger per row

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 15:30:00.000000

0015's ``agg_display_events_insert`` ran two statements for every finisher row (each looking
its read up again, the second parsing the payload's JSON twice): ~17 of the ~24 µs a display
event cost to store, the largest single cost of ingest with 20 sessions bound (issue #13).
``sessions.queries.write_derived`` — the one writer of ``display_events`` — now adds a batch's
finishers to ``finisher_minutes`` and its "Bib N" finishers to ``unknown_bibs`` itself, in the
same transaction, from the rows it has in memory (same minutes, same bibs).  Likewise
``agg_reads_insert`` (one upsert into ``read_minutes`` per tag read, ~2 of the ~10 µs a read
cost to store): the ingest pipeline's ``_write_batch`` — the one writer of ``reads`` — counts a
batch's new tag reads per stream and minute in one statement.  Downgrading creates both
triggers again (the aggregates already counted stay as they are).
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# 0015's triggers as they were created there (a downgrade puts it back unchanged)
_MINUTE = "(CAST(r.clock / 60 AS INTEGER) - (r.clock < 0 AND r.clock / 60 <> CAST(r.clock / 60 AS INTEGER)))"
_READ_OF_EVENT = (
    "FROM reads r WHERE r.stream_id = NEW.stream_id AND r.location = NEW.location AND r.seq = NEW.read_seq"
)
READS_TRIGGER = (
    "CREATE TRIGGER agg_reads_insert AFTER INSERT ON reads WHEN NEW.kind = 'tag' BEGIN "
    "INSERT INTO read_minutes (stream_id, minute, reads) VALUES (NEW.stream_id, "
    f"{_MINUTE.replace('r.clock', 'NEW.clock')}, 1) "
    "ON CONFLICT (stream_id, minute) DO UPDATE SET reads = reads + 1; END"
)
EVENTS_TRIGGER = (
    "CREATE TRIGGER agg_display_events_insert AFTER INSERT ON display_events WHEN NEW.kind = 'finisher' BEGIN "
    "INSERT INTO finisher_minutes (session_id, minute, finishers) "
    f"SELECT NEW.session_id, {_MINUTE}, 1 {_READ_OF_EVENT} "
    "ON CONFLICT (session_id, minute) DO UPDATE SET finishers = finishers + 1; "
    "INSERT OR IGNORE INTO unknown_bibs (session_id, bib) "
    f"SELECT NEW.session_id, coalesce(json_extract(NEW.payload, '$.bib'), '') {_READ_OF_EVENT} "
    "AND json_extract(NEW.payload, '$.known') = 0; END"
)


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS agg_reads_insert")
    op.execute("DROP TRIGGER IF EXISTS agg_display_events_insert")


def downgrade() -> None:
    op.execute(READS_TRIGGER)
    op.execute(EVENTS_TRIGGER)
