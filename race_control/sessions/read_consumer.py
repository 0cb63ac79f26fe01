"""The display sessions as the ingest pipeline's ``ReadConsumer``.

``timing.ingest`` does not import sessions; the app hands it this adapter, which runs
new reads through ``SessionService.derive`` (under the service's ``WriteLock``), writes
what they caused in the reads' transaction, and publishes it after the commit.
"""

from __future__ import annotations

from sqlalchemy import Connection

from race_control.sessions.live import Derived
from race_control.sessions.queries import write_derived
from race_control.sessions.service import SessionService
from race_control.sessions.write_lock import WriteLock
from race_control.timing.ingest.stored_read import StoredRead

__all__ = ["SessionBatch", "SessionReadConsumer"]


class SessionBatch:
    """The display events and suppressions one batch of reads caused."""

    __slots__ = ("derived",)

    def __init__(self, derived: Derived) -> None:
        self.derived = derived

    def write(self, conn: Connection) -> None:
        write_derived(conn, self.derived)


class SessionReadConsumer:
    def __init__(self, sessions: SessionService) -> None:
        self._sessions = sessions

    @property
    def lock(self) -> WriteLock:
        return self._sessions.lock

    def derive(self, reads: list[StoredRead]) -> SessionBatch:
        return SessionBatch(self._sessions.derive(reads))

    def publish(self, batch: SessionBatch) -> None:
        self._sessions.publish(batch.derived)
