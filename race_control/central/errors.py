"""What can go wrong with the central PostgreSQL, in words a timer can act on.

Every message names the database (``host:port/db``, never the password).  ``retryable``:
``CentralUnavailable`` (cannot reach the server, it went away, it is starting or shutting
down) may work later; a wrong password, a missing privilege or a schema that is not migrated
will not until someone changes something.  The tree is in docs/errors.md.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg2

from race_control.errors import Conflict, InputError, NotFound, RaceControlError


class CentralError(RaceControlError):
    """Root of the central database's errors."""


class CentralUnavailable(CentralError):
    """The central database cannot be reached now (network, server down or restarting)."""

    retryable = True


class CentralAuthError(CentralError):
    """The server refused the login or the statement: wrong password, unknown role, no privilege."""


class CentralSchemaError(CentralError):
    """The database is not (or not fully) migrated: run ``race-control central migrate``."""


class CentralInputError(CentralError, InputError):
    """Bad input for a central command (an e-mail, a password, a URL, a partner id)."""


class CentralNotFound(CentralError, NotFound):
    """A referenced partner or user does not exist in the central database."""


class CentralConflict(CentralError, Conflict):
    """The row exists already (e.g. a user with that e-mail for that partner)."""


def where(url: str) -> str:
    """``host:port/db`` of a PostgreSQL URL, for messages: never its user name or password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the central database (its URL cannot be read)"
    db = parts.path.lstrip("/") or "?"
    return f"{host}:{port}/{db}"


# SQLSTATE classes/codes (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_UNAVAILABLE_CODES = {
    "57P01",
    "57P02",
    "57P03",
    "57014",
    "53300",
    "08000",
    "08003",
    "08006",
    "08001",
    "08004",
}
_AUTH_CODES = {"28000", "28P01", "42501", "3D000"}
_AUTH_WORDS = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    "no pg_hba.conf entry",
    "permission denied",
    "does not exist",  # role "x" / database "x" does not exist
)


def translate(exc: BaseException, url: str) -> CentralError:
    """The ``CentralError`` for a psycopg2 (or SQLAlchemy-wrapped) error met on ``url``."""
    if isinstance(exc, CentralError):
        return exc
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy's DBAPIError wraps the driver's
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    text = text.removeprefix("FATAL:").strip()
    code = getattr(orig, "pgcode", None) or ""
    db = where(url)
    if code == "42P01" or code == "3F000":
        return CentralSchemaError(f"{db} is not migrated (run `race-control central migrate`): {text}")
    if code in _AUTH_CODES:
        return CentralAuthError(f"{db} refused: {text}")
    if code in _UNAVAILABLE_CODES or code.startswith("08"):
        return CentralUnavailable(f"cannot reach {db}: {text}")
    low = text.lower()
    if isinstance(orig, psycopg2.OperationalError | psycopg2.InterfaceError):
        if any(
            w in low for w in _AUTH_WORDS
        ):  # first: "connection to server ... failed: FATAL: password ..."
            return CentralAuthError(f"{db} refused the login: {text}")
        # refused, reset, timed out, starting or shutting down, too many connections
        return CentralUnavailable(f"cannot reach {db}: {text}")
    if isinstance(orig, psycopg2.Error):
        return CentralError(f"{db}: {text}")
    return CentralError(f"{db}: {type(orig).__name__}: {text}")
