"""Durable through a power cut: every connection of the store commits with ``synchronous=FULL`` in
WAL mode (store/database.py), so a commit is on disk before anything derived from it is shown.
The cost is measured in docs/benchmarks.md ("synchronous=FULL")."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import Connection

from race_control.store.database import Store

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def pragmas(conn: Connection) -> tuple[int, str]:
    synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    return int(synchronous), str(journal)


def test_the_store_thread_commits_with_synchronous_full_in_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "race-control.sqlite3")
    try:
        store.migrate()
        assert store.run_sync(pragmas) == (FULL, "wal")
    finally:
        store.close()


async def test_every_new_pool_connection_gets_synchronous_full(tmp_path: Path) -> None:
    store = Store(tmp_path / "race-control.sqlite3")
    try:
        store.migrate()
        assert await store.run(pragmas) == (FULL, "wal")
        with ExitStack() as held:  # held at once, so the pool has to open new connections
            conns = [held.enter_context(store.engine.connect()) for _ in range(4)]
            raw = {id(c.connection.dbapi_connection) for c in conns}
            assert len(raw) == 4
            assert [pragmas(c) for c in conns] == [(FULL, "wal")] * 4
        store.engine.dispose()  # a fresh pool, as after a reconnect
        assert await store.run(pragmas) == (FULL, "wal")
    finally:
        store.close()
