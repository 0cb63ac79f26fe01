"""The relay's one LISTEN connection: a thread that wakes the feed when the partner's screen
rows change (central migration c0002 NOTIFYs ``rc_display_<partner id>`` after display events,
sessions or templates are written).

The thread blocks in ``select`` on the connection's socket (never on the event loop) and calls
``wake`` (thread-safe) for every batch of notifications.  A lost connection (network, server
restart, ``pg_terminate_backend``) is reopened after ``retry`` seconds; once it listens again it
wakes the feed too, since notifications sent meanwhile are gone.  The feed's own poll covers any
notification missed in whatever way, so this thread only makes delivery fast, never correct.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable
from typing import Any

import psycopg2

from race_control.central.connection import connect
from race_control.central.errors import CentralError
from race_control.logging_setup import safe

log = logging.getLogger("race_control.relay.listener")
RETRY = 1.0  # seconds before a lost LISTEN connection is opened again
TICK = 0.5  # seconds between checks whether the thread should stop


def channel_of(partner_id: str) -> str:
    """The partner's NOTIFY channel (c0002_relay_notify.py): no dashes, a plain identifier."""
    return "rc_display_" + partner_id.replace("-", "")


class Listener:
    def __init__(self, url: str, wake: Callable[[], None], *, retry: float = RETRY) -> None:
        self._url = url
        self._wake = wake
        self.retry = retry
        self._stop = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="relay-listen", daemon=True)
        self.listening = threading.Event()  # set while LISTEN is in place (tests wait on it)
        self.connections = 0  # LISTEN connections opened so far
        self.backend_pid: int | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.listening.clear()
        if conn is not None and not conn.closed:
            conn.close()

    def _open(self) -> None:
        conn = connect(self._url, timeout=5, application_name="race-control-relay-listen")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT public.rc_current_partner(), pg_backend_pid()")
            partner, pid = cur.fetchone()
            if partner is None:
                conn.close()
                raise CentralError("the relay's login is no timing partner's")
            cur.execute(f"LISTEN {channel_of(str(partner))}")
        self._conn, self.backend_pid = conn, pid
        self.connections += 1
        self.listening.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._conn is None:
                try:
                    self._open()
                except (CentralError, psycopg2.Error) as exc:
                    log.warning(
                        "relay: cannot LISTEN (%s); polling only, retrying in %g s", safe(exc), self.retry
                    )
                    self._stop.wait(self.retry)
                    continue
                self._wake()  # whatever changed while nobody listened
            try:
                ready, _w, _x = select.select([self._conn], [], [], TICK)
                if not ready:
                    continue
                self._conn.poll()
                if self._conn.notifies:
                    self._conn.notifies.clear()
                    self._wake()
            except (psycopg2.Error, OSError, ValueError) as exc:
                if self._stop.is_set():
                    break
                log.warning("relay: lost its LISTEN connection (%s); reconnecting", safe(exc))
                self._close()
                self._stop.wait(self.retry)
