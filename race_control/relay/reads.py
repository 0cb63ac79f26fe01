"""What the relay reads from the central PostgreSQL, and the threads it reads with.

Every query runs on a small pool of threads, each holding its own psycopg2 connection
(autocommit, read-only statements): psycopg2 blocks, so nothing here ever runs on the event
loop.  psycopg2 and threads rather than asyncpg: psycopg2 is already the project's driver
(central admin, the sync engine) and asyncpg is not a dependency; the relay's queries are few
(one per watched session per wake-up, not one per screen), so a thread pool costs nothing.

Row-level security does the partner filtering: the relay connects with a partner's URL and
sees that partner's rows only, so one relay serves one timing partner.  A connection that
failed is dropped and opened again by the next query on that thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions

from race_control.central.connection import connect
from race_control.central.errors import CentralAuthError, translate

log = logging.getLogger("race_control.relay")
T = TypeVar("T")
APPLICATION_NAME = "race-control-relay"

# a session with everything its screens are told about it (one row per session)
_SESSION_SELECT = """
SELECT s.id, s.token, s.event_id, s.name, s.mode, s.template_id, s.status, s.settings,
       s.public, s.deleted, coalesce(e.name, '') AS event_name,
       t.version AS template_version, t.body AS template_body, t.deleted AS template_deleted
  FROM display_sessions s
  LEFT JOIN events e ON e.partner_id = s.partner_id AND e.id = s.event_id AND NOT e.deleted
  LEFT JOIN templates t ON t.partner_id = s.partner_id AND t.id = s.template_id
"""


@dataclass(frozen=True)
class CentralSession:
    """A display session as the central database has it (what the relay shows of it)."""

    id: str
    token: str
    event_id: str
    name: str
    mode: str
    template_id: str | None
    status: str
    settings: dict[str, Any]
    public: bool
    deleted: bool
    event_name: str
    template_version: int | None
    template_body: dict[str, Any] | None
    template_deleted: bool | None

    @property
    def served(self) -> bool:
        """The relay serves its screens (a closed one answers 410, like the laptop)."""
        return self.public and not self.deleted

    @property
    def epochs(self) -> list[list[Any]]:
        kept = self.settings.get("epochs") if isinstance(self.settings, dict) else None
        return [h for h in kept if isinstance(h, list) and len(h) == 2] if isinstance(kept, list) else []

    @property
    def epoch(self) -> str:
        history = self.epochs
        return str(history[-1][0]) if history else ""

    @property
    def starts_at(self) -> float | None:
        value = self.settings.get("starts_at") if isinstance(self.settings, dict) else None
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @property
    def mode_changed_by(self) -> str:
        by = self.settings.get("mode_changed_by") if isinstance(self.settings, dict) else ""
        return by if isinstance(by, str) and by else "operator"


def _session(row: tuple[Any, ...]) -> CentralSession:
    return CentralSession(*row[:7], row[7] or {}, *row[8:])  # type: ignore[arg-type]


# --- queries (each runs on a pool thread with that thread's cursor) --------------------------
def partner_id(cur: Any) -> str:
    cur.execute("SELECT public.rc_current_partner()")
    found = cur.fetchone()[0]
    if found is None:
        raise CentralAuthError(
            "the relay's login is no timing partner's: use the URL `race-control central add-partner` printed"
        )
    return str(found)


def session_by_token(cur: Any, token: str) -> CentralSession | None:
    cur.execute(_SESSION_SELECT + " WHERE s.token = %s", (token,))
    row = cur.fetchone()
    return _session(row) if row else None


def sessions_by_id(cur: Any, ids: list[str]) -> list[CentralSession]:
    cur.execute(_SESSION_SELECT + " WHERE s.id = ANY(%s)", (ids,))
    return [_session(r) for r in cur.fetchall()]


def events_after(cur: Any, session_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """The stored display messages of a session with seq > after_seq, in seq order (the
    payload is what the laptop stored and sent its own screens)."""
    cur.execute(
        "SELECT payload FROM display_events WHERE session_id = %s AND seq > %s ORDER BY seq LIMIT %s",
        (session_id, after_seq, limit),
    )
    return [r[0] for r in cur.fetchall()]


def last_events(cur: Any, session_id: str, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """(the session's last seq, its last ``limit`` messages in seq order)."""
    cur.execute(
        "SELECT seq, payload FROM display_events WHERE session_id = %s ORDER BY seq DESC LIMIT %s",
        (session_id, limit),
    )
    rows = cur.fetchall()
    return (rows[0][0] if rows else 0), [p for _seq, p in reversed(rows)]


# --- the pool --------------------------------------------------------------------------------
@dataclass
class Reader:
    """``await reader.run(query, *args)``: ``query(cursor, *args)`` on one of ``threads``
    threads, each with its own connection to ``url``."""

    url: str
    threads: int = 3
    _local: threading.local = field(default_factory=threading.local)
    _all: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="relay-db")

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = connect(self.url, timeout=5, application_name=APPLICATION_NAME)
            conn.autocommit = True
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                return fn(cur, *args)
        except psycopg2.Error as exc:
            if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError) or conn.closed:
                self._local.conn = None
                conn.close()
            raise translate(exc, self.url) from None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn, args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._all:
                if not conn.closed:
                    conn.close()
            self._all.clear()
