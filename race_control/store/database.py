"""The local SQLite database: engine, pragmas, migrations, and the single DB thread.

Threading rule: every database call runs on one dedicated worker thread
(``Store.run``), never on the event loop.  One writer means SQLite never reports
"database is locked" to ourselves, and the loop never blocks on disk.  Each call
is one unit of work (one connection checkout, one transaction).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event

from race_control.errors import RaceControlError

log = logging.getLogger("race_control.store")
T = TypeVar("T")
MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(RaceControlError):
    """The local database failed.  Retryable: the disk may come back."""

    retryable = True


def sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives an application crash; only an OS crash or
        # power cut can lose the last transactions (https://www.sqlite.org/pragma.html#pragma_synchronous)
        cur.execute("PRAGMA synchronous=NORMAL")
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
        with self.engine.begin() as conn:
            return fn(conn, *args)

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking variant for start-up and tests (never from a coroutine)."""
        return self._executor.submit(self._call, fn, args).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
