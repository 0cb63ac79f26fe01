"""The display server's exception root (local API, display pages, WebSocket hub).

The HTTP answer for every ``RaceControlError`` is chosen in ``web.errors_middleware``.
"""

from __future__ import annotations

from race_control.errors import Conflict, InputError, NotFound, RaceControlError

__all__ = ["DisplayError", "DisplayInputError", "DisplayNotFound", "SyncNotConfigured"]


class DisplayError(RaceControlError):
    """Root of every error raised by ``race_control.display_server``."""


class DisplayInputError(DisplayError, InputError):
    """A request the API cannot read: body too large, not JSON, bad query value (400)."""


class DisplayNotFound(DisplayError, NotFound):
    """The request names something that does not exist (404)."""


class SyncNotConfigured(DisplayError, Conflict):
    """``POST /api/sync`` without a central database configured (409)."""
