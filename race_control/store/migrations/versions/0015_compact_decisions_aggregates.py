"""compact per-session decisions, analytics aggregates, indexes for the session lookups

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:00:00.000000

Storage that grows with the reads, not reads × sessions, and queries that stay flat
(docs/guarantees.md#storage-and-queries):

* a read at a location a session does not show (``location_filtered``) is no longer stored as a
  ``suppressions`` row per session: it follows from the read and the session's rules, and the
  suppressions view recomputes it (``sessions.queries.filtered_reads``).  The rows an existing
  store holds are counted (below), then deleted;
* analytics aggregates, kept in the same transaction as the rows they count: ``read_minutes``
  (tag reads per stream and timing-clock minute, by a trigger on ``reads``),
  ``finisher_minutes`` and ``unknown_bibs`` (by triggers on ``display_events``: a finisher
  counts in the minute of its read's clock; "Bib N" finishers name their bib once) and
  ``suppression_counts`` (per session and reason code: triggers on ``suppressions`` for the
  stored rows, ``write_derived`` for the location-filtered ones).  All four are back-filled
  from the existing rows with exactly the rules the old full-scan analytics applied;
* ``ix_suppressions_bib_time`` (session, bib, created_at) replaces 0014's
  ``ix_suppressions_bib`` (session, bib): a bib's suppressions newest first come from the index
  (with the old one SQLite scanned the session's rows in time order instead);
  ``ix_reads_stream_bib`` finds a bib's reads of a stream (its location-filtered suppressions).

Minutes are ``clock // 60`` as Python floors it (``CAST`` truncates towards zero, so a negative
clock takes one off).  Downgrading drops the aggregates and triggers; the deleted
location-filtered rows are not written back (the next rebuild of a session — rules, bind,
reopen — writes them again under the old code).
"""

from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

MINUTE = "(CAST({c} / 60 AS INTEGER) - ({c} < 0 AND {c} / 60 <> CAST({c} / 60 AS INTEGER)))"
READ_OF_EVENT = (
    "FROM reads r WHERE r.stream_id = NEW.stream_id AND r.location = NEW.location AND r.seq = NEW.read_seq"
)
TRIGGERS = (
    (
        "agg_reads_insert",
        "CREATE TRIGGER agg_reads_insert AFTER INSERT ON reads WHEN NEW.kind = 'tag' BEGIN "
        f"INSERT INTO read_minutes (stream_id, minute, reads) VALUES (NEW.stream_id, {MINUTE.format(c='NEW.clock')}, 1) "
        "ON CONFLICT (stream_id, minute) DO UPDATE SET reads = reads + 1; END",
    ),
    (
        "agg_display_events_insert",
        "CREATE TRIGGER agg_display_events_insert AFTER INSERT ON display_events WHEN NEW.kind = 'finisher' BEGIN "
        f"INSERT INTO finisher_minutes (session_id, minute, finishers) "
        f"SELECT NEW.session_id, {MINUTE.format(c='r.clock')}, 1 {READ_OF_EVENT} "
        "ON CONFLICT (session_id, minute) DO UPDATE SET finishers = finishers + 1; "
        "INSERT OR IGNORE INTO unknown_bibs (session_id, bib) "
        f"SELECT NEW.session_id, coalesce(json_extract(NEW.payload, '$.bib'), '') {READ_OF_EVENT} "
        "AND json_extract(NEW.payload, '$.known') = 0; END",
    ),
    (
        "agg_suppressions_insert",
        "CREATE TRIGGER agg_suppressions_insert AFTER INSERT ON suppressions BEGIN "
        "INSERT INTO suppression_counts (session_id, code, n) VALUES (NEW.session_id, NEW.code, 1) "
        "ON CONFLICT (session_id, code) DO UPDATE SET n = n + 1; END",
    ),
    (
        "agg_suppressions_delete",
        "CREATE TRIGGER agg_suppressions_delete AFTER DELETE ON suppressions BEGIN "
        "UPDATE suppression_counts SET n = n - 1 WHERE session_id = OLD.session_id AND code = OLD.code; END",
    ),
)


def upgrade() -> None:
    op.execute(
        "CREATE TABLE read_minutes (stream_id VARCHAR(36) NOT NULL, minute INTEGER NOT NULL, "
        "reads INTEGER NOT NULL, PRIMARY KEY (stream_id, minute))"
    )
    op.execute(
        "CREATE TABLE finisher_minutes (session_id VARCHAR(36) NOT NULL, minute INTEGER NOT NULL, "
        "finishers INTEGER NOT NULL, PRIMARY KEY (session_id, minute))"
    )
    op.execute(
        "CREATE TABLE unknown_bibs (session_id VARCHAR(36) NOT NULL, bib VARCHAR(32) NOT NULL, "
        "PRIMARY KEY (session_id, bib))"
    )
    op.execute(
        "CREATE TABLE suppression_counts (session_id VARCHAR(36) NOT NULL, code VARCHAR(32) NOT NULL, "
        "n INTEGER NOT NULL, PRIMARY KEY (session_id, code))"
    )
    # back-fill, as the full-scan analytics counted (joins to the read of each finisher)
    op.execute(
        f"INSERT INTO read_minutes (stream_id, minute, reads) SELECT stream_id, {MINUTE.format(c='clock')} AS m, "
        "count(*) FROM reads WHERE kind = 'tag' GROUP BY stream_id, m"
    )
    joined = (
        "FROM display_events d JOIN reads r ON r.stream_id = d.stream_id AND r.location = d.location "
        "AND r.seq = d.read_seq WHERE d.kind = 'finisher'"
    )
    op.execute(
        f"INSERT INTO finisher_minutes (session_id, minute, finishers) SELECT d.session_id, "
        f"{MINUTE.format(c='r.clock')} AS m, count(*) {joined} GROUP BY d.session_id, m"
    )
    op.execute(
        "INSERT OR IGNORE INTO unknown_bibs (session_id, bib) SELECT d.session_id, "
        f"coalesce(json_extract(d.payload, '$.bib'), '') {joined} AND json_extract(d.payload, '$.known') = 0"
    )
    op.execute(
        "INSERT INTO suppression_counts (session_id, code, n) SELECT session_id, code, count(*) "
        "FROM suppressions GROUP BY session_id, code"
    )
    # counted above; from now on recomputed from the reads, never stored per session
    op.execute("DELETE FROM suppressions WHERE code = 'location_filtered'")
    op.drop_index("ix_suppressions_bib", table_name="suppressions")
    op.create_index("ix_suppressions_bib_time", "suppressions", ["session_id", "bib", "created_at"])
    op.create_index("ix_reads_stream_bib", "reads", ["stream_id", "bib"])
    for _name, sql in TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    for name, _sql in reversed(TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_reads_stream_bib", table_name="reads")
    op.drop_index("ix_suppressions_bib_time", table_name="suppressions")
    op.create_index("ix_suppressions_bib", "suppressions", ["session_id", "bib"])
    for table in ("suppression_counts", "unknown_bibs", "finisher_minutes", "read_minutes"):
        op.drop_table(table)
