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

At start-up ``Store.migrate`` first checks the file (``check_database``): a damaged file, or
one written by a newer Race Control, raises ``DatabaseUnusable`` (not retryable) and is left
exactly as it was, instead of a traceback half-way through a migration.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc

from race_control.errors import RaceControlError
from race_control.private_files import private_file
from race_control.store.checkpoint import Checkpointer
from race_control.store.clean_close import closed_cleanly

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# the newest migration's revision (tests/test_store.py checks it is Alembic's head): a file
# stamped with it is up to date, so start-up neither imports Alembic nor runs it (~0.3 s of a
# restart: issue #13)
SCHEMA_HEAD = "0018"

log = logging.getLogger("race_control.store")
WAL_SIZE_LIMIT = 64 << 20  # bytes of -wal file kept when the WAL starts over (store/checkpoint.py)
T = TypeVar("T")
MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(RaceControlError):
    """The local database failed.  Retryable: the disk may come back."""

    retryable = True


class DatabaseUnusable(StoreError):
    """The database file cannot be used at all: damaged, not a database, or written by a newer
    Race Control.  Not retryable: waiting does not help, the operator has to act (the message
    says how: restore a backup, or open it with the newer app)."""

    retryable = False


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


def sqlite_engine(path: Path, auto_checkpoint: Callable[[], bool] = lambda: True) -> Engine:
    """The engine of the database at ``path``; its connections checkpoint the WAL themselves
    while ``auto_checkpoint()`` says so when they open (else ``store.checkpoint`` does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # 0600 before SQLite opens it: SQLite gives -wal/-shm the main file's mode (older ones tightened)
    private_file(path)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            private_file(companion)
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
        if not auto_checkpoint():  # the store's checkpoint thread does it (store/checkpoint.py)
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # the WAL trimmed on a restart
        cur.close()

    return engine


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


RESTORE_HINT = (
    "Nothing was changed. Restore a backup with `race-control restore FILE`, "
    "or move the file aside to start with an empty database."
)


def check_database(path: Path, *, full: bool = True) -> None:
    """Raise ``DatabaseUnusable`` if the database at ``path`` is damaged (``PRAGMA quick_check``,
    "file is not a database") or stamped with a schema revision this app's migrations do not
    know (a newer Race Control wrote it).  A missing or empty file is fine (a new database).

    Read-only: the file is never written (``mode=ro``; a WAL left by a crash is read, not
    checkpointed), so a damaged file stays as it was for recovery.  The empty ``-wal``/``-shm``
    files a read-only open creates are removed again.  Blocking: call from start-up code or
    an executor.  Other failures to read it (permission, cannot open) raise ``StoreError``."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    companions = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    existed = [p.exists() for p in companions]
    try:
        try:
            revisions, problems = _read_for_check(path, full)
        except sqlite3.Error as exc:
            error = storage_failure(path, exc)
            if error is None:
                raise
            code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
            if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise DatabaseUnusable(
                    f"the database {path} is damaged or not a database ({exc}). {RESTORE_HINT}"
                ) from None
            raise error from exc
    finally:
        wal = companions[0]
        if not existed[0] and wal.exists() and wal.stat().st_size == 0:
            for created, p in zip(existed, companions, strict=True):
                if not created:
                    p.unlink(missing_ok=True)
    if problems:
        raise DatabaseUnusable(
            f"the database {path} is damaged (integrity check: {'; '.join(problems)}). {RESTORE_HINT}"
        )
    if revisions == [SCHEMA_HEAD]:
        return  # (this app's own newest schema: nothing to look up)
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in revisions if rev not in known]
    if unknown:
        raise DatabaseUnusable(
            f"the database {path} was written by a newer Race Control (schema {', '.join(unknown)}, "
            f"this app knows up to {script.get_current_head()}). Open it with that newer version, "
            "or start this one with another data dir. Nothing was changed."
        )


def _read_for_check(path: Path, full: bool = True) -> tuple[list[str], list[str]]:
    """(the file's Alembic revisions, quick_check's complaints: [] if none), read-only.
    ``full=False``: no quick_check (the file is the one the app closed cleanly: clean_close)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")] if full else ["ok"]
        # one line per complaint, without SQLite's "*** in database main ***" heading
        problems = (
            []
            if rows == ["ok"]
            else [" ".join(r.replace("*** in database main ***", "").split()) for r in rows]
        )
        revisions: list[str] = []
        if (
            not problems
            and conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
        ):
            revisions = [str(r[0]) for r in conn.execute("SELECT version_num FROM alembic_version")]
        return revisions, problems
    finally:
        conn.close()


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration (a file at ``SCHEMA_HEAD``: nothing
    to do, and Alembic is not loaded)."""
    with engine.begin() as conn:
        stamped = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).first()
        if stamped and [r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")] == [
            SCHEMA_HEAD
        ]:
            return
        from alembic import command

        command.upgrade(alembic_config(conn), "head")


class Store:
    """Owns the engine and the DB thread.  Create inside the running loop; ``close`` on shutdown."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept_at_close: bytes | None = None  # ``migrate``: clean_close's ``kept``
        self.checkpointer: Checkpointer | None = None
        self.engine = sqlite_engine(path, lambda: self.checkpointer is None)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="race-control-db")

    def migrate(self) -> None:
        """Check the file (``check_database``: ``DatabaseUnusable`` if damaged or newer), then
        create or upgrade the schema; a storage failure on the way raises ``StoreError``."""
        clean = closed_cleanly(self.path)
        # what the last clean stop kept for this very file (start-up's consumers take it)
        self.kept_at_close = clean.kept if clean else None
        if clean:
            log.info("%s was closed cleanly and is unchanged: its pages are not all read again", self.path)
        check_database(self.path, full=not clean)
        try:
            upgrade(self.engine)
        except (sa_exc.DBAPIError, sqlite3.Error) as exc:
            error = storage_failure(self.path, exc)
            if error is None:
                raise
            raise error from exc

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

    def start_checkpoints(self, **options: Any) -> None:
        """WAL checkpoints from now on by a thread of their own, never inside a commit of the
        DB thread (store/checkpoint.py; ``options``: its ``interval``, ``restart_frames``).
        After ``migrate``: the file exists."""
        if self.checkpointer is not None:
            return
        checkpointer = Checkpointer(self.path, **options)
        checkpointer.start()
        self.checkpointer = checkpointer
        self.run_sync(lambda conn: None)  # the DB thread idle: its pooled connection can go
        self.engine.dispose()  # connections opened from now on: wal_autocheckpoint=0

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
        if self.checkpointer is not None:
            self.checkpointer.close()  # the last connection: a TRUNCATE checkpoint, then closed
            self.checkpointer = None
