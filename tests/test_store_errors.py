"""The store says ``StoreError`` (retryable, naming the file and the cause) when the storage
fails, and lets our own bugs (a broken constraint, bad SQL) through as they are.

Every failure here is SQLite's own: another connection's lock, a size limit reached, a file
that is not a database.  Nothing of ours is replaced.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from race_control.errors import RaceControlError
from race_control.store.database import Store, StoreError


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(tmp_path / "rc.sqlite3")
    s.migrate()
    s.run_sync(lambda c: c.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY, b BLOB)"))
    yield s
    s.close()


def _fill(conn: Connection, rows: int = 200) -> None:
    conn.exec_driver_sql(
        "INSERT INTO scratch (b) VALUES (randomblob(4000))" + ", (randomblob(4000))" * (rows - 1)
    )


def _count(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar_one())


def test_a_full_database_is_a_retryable_store_error_naming_the_file(store: Store) -> None:
    pages = store.run_sync(lambda c: c.exec_driver_sql("PRAGMA page_count").scalar_one())
    store.run_sync(lambda c: c.exec_driver_sql(f"PRAGMA max_page_count = {pages + 2}"))
    with pytest.raises(StoreError) as info:
        store.run_sync(_fill)
    err = info.value
    assert isinstance(err, RaceControlError) and err.retryable
    assert str(store.path) in str(err) and "full" in str(err)
    assert isinstance(err.__cause__, sa_exc.OperationalError)  # the original stays attached
    store.run_sync(lambda c: c.exec_driver_sql("PRAGMA max_page_count = 1073741823"))
    store.run_sync(_fill)  # the space is back: the same store works again
    assert store.run_sync(_count) == 200


async def test_a_database_locked_by_another_program_is_a_store_error(store: Store) -> None:
    await store.run(lambda c: c.exec_driver_sql("PRAGMA busy_timeout = 50"))  # fail fast, not in 5 s
    other = sqlite3.connect(store.path)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match=r"database is locked \(another program holds a lock on it\)"):
            await store.run(_fill, 1)
    finally:
        other.rollback()
        other.close()
    await store.run(_fill, 1)
    assert await store.run(_count) == 1


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "rc.sqlite3"
    path.write_bytes(b"this is not a SQLite database\n" * 200)
    store = Store(path)
    try:
        with pytest.raises(StoreError, match=r"rc\.sqlite3 failed: file is not a database"):
            store.run_sync(_count)
    finally:
        store.close()


def test_our_own_bugs_are_not_store_errors(store: Store) -> None:
    """A broken constraint or bad SQL is a bug: retrying would not help, so it is not retryable."""
    store.run_sync(lambda c: c.exec_driver_sql("INSERT INTO scratch (id, b) VALUES (1, x'00')"))
    with pytest.raises(sa_exc.IntegrityError):
        store.run_sync(lambda c: c.exec_driver_sql("INSERT INTO scratch (id, b) VALUES (1, x'00')"))
    with pytest.raises(sa_exc.OperationalError, match="no such table") as info:  # SQLite calls it operational
        store.run_sync(lambda c: c.exec_driver_sql("SELECT * FROM no_such_table"))
    assert not isinstance(info.value, RaceControlError)
    assert store.run_sync(_count) == 1
