"""The exception root.  Each package derives its own root from ``RaceControlError``.

``retryable`` tells callers whether trying again later can help (a database that
went away) or not (bad input).  The three generic kinds below say how the local
API answers (see ``display_server.web``): a package's error that is also one of
them (``class SessionInputError(SessionError, InputError)``) gets that answer;
any other ``RaceControlError`` is 503 if retryable, else 500.  The tree is in
docs/errors.md.
"""

from __future__ import annotations


class RaceControlError(Exception):
    retryable: bool = False


class InputError(RaceControlError, ValueError):
    """Bad input from a user, a file or an API client; the message names the problem.

    Also a ``ValueError``: validators that raised ``ValueError`` raise their package's
    input error now, and callers that catch ``ValueError`` keep working."""


class NotFound(RaceControlError):
    """A referenced object does not exist."""


class Conflict(RaceControlError):
    """The request conflicts with the current state."""
