"""What the sync worker tells the API (``GET /api/sync``), the desktop and the alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

State = Literal["off", "idle", "syncing", "offline", "error"]


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """``state``: off (no central URL), idle (nothing pending or waiting for the next round),
    syncing (a batch is on its way), offline (the central database cannot be reached: retrying
    with backoff), error (it answered with something that retrying will not fix, e.g. a wrong
    password or schema; retried less often).  ``backlog``: local rows not yet in the central
    database; ``backlog_since``: when the oldest of them changed (None when there is none)."""

    configured: bool
    state: State
    backlog: int = 0
    backlog_since: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    next_attempt: float | None = None  # when a retry is due (offline/error)
    pushed: int = 0  # rows sent by this process
    pulled: int = 0  # rows taken from other devices by this process
    central: str = ""  # the partner URL without its password (for people)

    def to_json(self) -> dict[str, Any]:
        return {
            "configured": self.configured,
            "state": self.state,
            "backlog": self.backlog,
            "backlog_since": iso(self.backlog_since),
            "last_success": iso(self.last_success),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "next_attempt": iso(self.next_attempt),
            "pushed": self.pushed,
            "pulled": self.pulled,
            "central": self.central,
        }


OFF = SyncStatus(configured=False, state="off")
