"""The exception root.  Each package derives its own root from ``RaceControlError``.

``retryable`` tells callers whether trying again later can help (a database that
went away) or not (bad input).
"""

from __future__ import annotations


class RaceControlError(Exception):
    retryable: bool = False


class InputError(RaceControlError):
    """Bad input from a user, a file or an API client; the message names the problem."""


class NotFound(RaceControlError):
    """A referenced object does not exist."""


class Conflict(RaceControlError):
    """The request conflicts with the current state."""
