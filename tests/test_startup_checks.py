"""A database that cannot be used at start-up (random bytes, a truncated file, a schema stamped by a
newer Race Control): `race-control serve` exits 2 with a message naming the file and what to do,
never a traceback, and the file is left byte for byte as it was (store/database.py,
``check_database``)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from race_control.store.database import DatabaseUnusable, Store, StoreError, alembic_config, check_database
from tests.helpers.server_process import race_control_process, serve_env
from tests.helpers.waiting import finished

DB_NAME = "race-control.sqlite3"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
FUTURE = "0999_from_the_future"


def real_database(path: Path) -> None:
    """A migrated store with some rows, checkpointed into the one file (no -wal left)."""
    store = Store(path)
    store.migrate()
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(300),) for _ in range(2000)])
    conn.commit()
    conn.close()
    assert not path.with_name(DB_NAME + "-wal").exists()


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def truncated(path: Path) -> None:
    real_database(path)
    os.truncate(path, path.stat().st_size // 2)


def damaged_page(path: Path) -> None:
    """A b-tree page whose header lies about its cells: the file opens, quick_check complains."""
    real_database(path)
    last_filler_page = path.stat().st_size // 4096 - 10
    with path.open("r+b") as f:
        f.seek(last_filler_page * 4096)
        assert f.read(1) == b"\x0d"  # a table leaf page
        f.seek(last_filler_page * 4096 + 3)
        f.write(b"\x00\x01")  # cell count 1


def newer_schema(path: Path) -> None:
    real_database(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = ?", (FUTURE,))
    conn.commit()
    conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "random-bytes": (random_bytes, ("damaged or not a database", "race-control restore FILE")),
    "truncated": (truncated, ("damaged", "race-control restore FILE")),
    "damaged-page": (damaged_page, ("is damaged (integrity check:", "race-control restore FILE")),
    "newer-schema": (newer_schema, ("newer Race Control", f"schema {FUTURE}", f"knows up to {HEAD}")),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_serve_on_an_unusable_database_exits_2_with_a_message_and_keeps_the_file(
    tmp_path: Path, case: str
) -> None:
    make, words = CASES[case]
    data = tmp_path / "data"
    data.mkdir()
    db = data / DB_NAME
    make(db)
    before = (digest(db), db.stat().st_mtime_ns)

    proc = await race_control_process(
        "serve", "--host", "127.0.0.1", "--http-port", "0", "--timing-port", "0", env=serve_env(data)
    )
    out, err = await finished(proc)
    text = err.decode()
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in text, text
    assert str(db) in text, text
    for word in words:
        assert word in text, text
    assert (digest(db), db.stat().st_mtime_ns) == before
    assert not (data / "server.json").exists()
    assert not (data / "api-token").exists()  # it stopped before anything else was written
    assert not db.with_name(DB_NAME + "-wal").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_migrate_refuses_an_unusable_database_without_writing_it(tmp_path: Path, case: str) -> None:
    make, words = CASES[case]
    db = tmp_path / DB_NAME
    make(db)
    before = digest(db)
    store = Store(db)
    try:
        with pytest.raises(DatabaseUnusable) as caught:
            store.migrate()
    finally:
        store.close()
    assert isinstance(caught.value, StoreError) and not caught.value.retryable
    assert all(word in str(caught.value) for word in words), str(caught.value)
    assert digest(db) == before


def test_a_good_database_passes_and_the_check_leaves_no_files_behind(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    check_database(db)  # no file yet: a new database, fine
    assert list(tmp_path.iterdir()) == []
    real_database(db)
    before = digest(db)
    check_database(db)
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME]
    assert digest(db) == before
    store = Store(db)
    store.migrate()  # and the app opens it as usual
    store.close()
