"""The local SQLite database: engine, pragmas, migrations, and the single DB thread.

Threading rule: every database call runs on one dedicated worker thread
(``Store.run``), never on the event loop.  One writer means SQLite never reports
"database is locked" to ourselves, and the loop never blocks on disk.  Each call
is one unit of work (one connection checkout, one transaction).

Errors: a failure of the storage itself (locked by another program, disk I/O error,
disk full, read-only or immutable file, damaged file, cannot open) comes out of
``run``/``run_sync`` as ``StoreError`` (retryable; the message names the database file
and the cause).  Anything else, including ``IntegrityError`` (our own constraint broken:
a bug) and SQL errors, is raised as it is, so a bug is not mistaken for a bad disk and
retried.  See docs/errors.md.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc

from race_control.errors import RaceControlError

log = logging.getLogger("race_control.store")
T = TypeVar("T")
MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(RaceControlError):
    """The local database failed.  Retryable: the disk may come back."""

    retryable = True


# SQLite's primary result codes that mean the storage failed, not our SQL
# (https://www.sqlite.org/rescode.html), with what to tell the operator
_STORAGE_FAILURES = {
    sqlite3.SQLITE_BUSY: "another program holds a lock on it",
    sqlite3.SQLITE_LOCKED: "another connection holds a lock on it",
    sqlite3.SQLITE_NOMEM: "out of memory",
    sqlite3.SQLITE_READONLY: "the file or its folder cannot be written (read-only or immutable?)",
    sqlite3.SQLITE_IOERR: "a disk read or write failed (disk full, removed or failing?)",
    sqlite3.SQLITE_CORRUPT: "the file is damaged",
    sqlite3.SQLITE_FULL: "the disk or the database is full",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened",
    sqlite3.SQLITE_PROTOCOL: "its lock protocol failed (a network drive?)",
    sqlite3.SQLITE_NOLFS: "the file system cannot hold a file this large",
    sqlite3.SQLITE_PERM: "access was denied",
    sqlite3.SQLITE_NOTADB: "the file is not a SQLite database (damaged?)",
}


def storage_failure(path: Path, exc: BaseException) -> StoreError | None:
    """``StoreError`` naming ``path`` and the cause if ``exc`` is a failure of the storage
    (see ``_STORAGE_FAILURES``); ``None`` for anything else (a bug, bad SQL, a constraint)."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if not isinstance(orig, sqlite3.Error):
        return None
    code = getattr(orig, "sqlite_errorcode", None)
    if code is None:  # no result code (not raised by SQLite itself): trust the DB-API class
        if type(orig) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
            return None
        hint = "storage error"
    else:
        hint = _STORAGE_FAILURES.get(code & 0xFF)  # the primary code of an extended one
        if hint is None:
            return None
    return StoreError(f"the database {path} failed: {orig} ({hint})")


def sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL, also in WAL mode: the WAL is synced at every commit, so a commit survives a power
        # cut or an OS crash, not only an application crash (NORMAL could lose the last ones,
        # whose finishers screens had already shown).  Its cost: docs/benchmarks.md
        # (https://www.sqlite.org/pragma.html#pragma_synchronous)
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    return engine


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")


class Store:
    """Owns the engine and the DB thread.  Create inside the running loop; ``close`` on shutdown."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = sqlite_engine(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="race-control-db")

    def migrate(self) -> None:
        upgrade(self.engine)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` in one transaction on the DB thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn, args)

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            with self.engine.begin() as conn:
                return fn(conn, *args)
        except (sa_exc.DBAPIError, sqlite3.Error) as exc:
            error = storage_failure(self.path, exc)
            if error is None:
                raise
            raise error from exc

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking variant for start-up and tests (never from a coroutine)."""
        return self._executor.submit(self._call, fn, args).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
