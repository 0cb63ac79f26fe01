"""What the fault tests check between faults: is the central database ahead of the app's
checkpoints (a commit the app never heard of), or behind (nothing else is possible)?

``central_ahead(db_path, owner_url, partner_id)`` counts the rows the central database holds
that the app has not checked off: append rows beyond the local cursors (``sync_cursors``), and
pending local changes (``sync_rows``) whose very clock is central already.  After a failed
batch it must be 0 (the batch left nothing behind); after a COMMIT whose answer was lost it is
above 0 (the batch went in; the app sends it again and ``ON CONFLICT`` absorbs it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg2

from race_control.central.schema import APPEND_TABLES
from race_control.sync.outbox import ENTITY_KEYS
from tests.helpers.central_compare import central_counts, local_table


def central_ahead(db_path: Path, owner_url: str, partner_id: str) -> int:
    return sum(ahead_by_table(db_path, owner_url, partner_id).values())


def ahead_by_table(db_path: Path, owner_url: str, partner_id: str) -> dict[str, int]:
    """``central_ahead`` table by table (what a failed check prints)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        cursors = dict(db.execute("SELECT tbl, last_rowid FROM sync_cursors").fetchall())
        checked = {
            table: db.execute(
                f"SELECT count(*) FROM {local_table(table)} WHERE rowid <= ?",
                (cursors.get(local_table(table), 0),),
            ).fetchone()[0]
            for table in APPEND_TABLES
        }
        pending = set(db.execute("SELECT tbl, key, hlc FROM sync_rows WHERE pending = 1").fetchall())
    central = central_counts(owner_url, partner_id, APPEND_TABLES)
    ahead = {t: central[t] - checked[t] for t in APPEND_TABLES}
    pg = psycopg2.connect(owner_url)
    try:
        with pg.cursor() as cur:
            for table, key_cols in ENTITY_KEYS.items():
                key = " || ' ' || ".join(f"{c}::text" for c in key_cols)
                cur.execute(f"SELECT {key}, hlc FROM {table} WHERE partner_id = %s", (partner_id,))
                ahead[table] = sum((table, k, h) in pending for k, h in cur.fetchall())
    finally:
        pg.close()
    return ahead


def local_pending(db_path: Path) -> int:
    """Rows the local store has not checked off: pending entity changes plus append rows above
    their cursors (read from the SQLite file itself, not from the worker's last status)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        cursors = dict(db.execute("SELECT tbl, last_rowid FROM sync_cursors").fetchall())
        n = db.execute("SELECT count(*) FROM sync_rows WHERE pending = 1").fetchone()[0]
        for table in APPEND_TABLES:
            local = local_table(table)
            n += db.execute(
                f"SELECT count(*) FROM {local} WHERE rowid > ?", (cursors.get(local, 0),)
            ).fetchone()[0]
    return int(n)
