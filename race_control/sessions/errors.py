"""The display sessions' exception root (crossing rules, sessions, the write lock's users).

A storage failure is ``store.StoreError`` (retryable), also when it comes from the
sessions' ``WriteLock``; these are for what the caller asked.
"""

from __future__ import annotations

from race_control.errors import Conflict, InputError, NotFound, RaceControlError

__all__ = ["SessionConflict", "SessionError", "SessionInputError", "SessionNotFound"]


class SessionError(RaceControlError):
    """Root of every error raised by ``race_control.sessions``."""


class SessionInputError(SessionError, InputError):
    """A session body, rule or field the sessions cannot use (API: 400)."""


class SessionNotFound(SessionError, NotFound):
    """No such display session, or the stream is not bound to it (API: 404)."""


class SessionConflict(SessionError, Conflict):
    """The session's state does not allow it, e.g. it is closed (API: 409)."""
