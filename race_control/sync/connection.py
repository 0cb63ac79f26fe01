"""The connection to the partner's central PostgreSQL: open it, say what went wrong, hide the password.

* ``connect(url, password=None)``: a psycopg2 connection (blocking: call it on the sync
  worker's thread) with a connect timeout, TCP keepalives and a user timeout (a cut cable is
  noticed in seconds, not at the kernel's two hours) and a ``statement_timeout``;
* ``failure(exc)``: a ``SyncFailure`` — ``CentralUnreachable`` (retryable: offline, timeout,
  connection reset, server restarting) or ``CentralRejected`` (the server answered no: wrong
  password, unknown database, missing schema or privilege, a constraint or trigger);
* ``redact(url)``: the URL without its password (what logs, the API and the desktop show).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from race_control.config import Settings, url_without_password
from race_control.errors import InputError, RaceControlError

if TYPE_CHECKING:
    import psycopg2.extensions

log = logging.getLogger("race_control.sync")

CONNECT_TIMEOUT = 10  # s
STATEMENT_TIMEOUT = 120_000  # ms: one batch's statement (a COPY of 20,000 reads takes < 1 s)
# libpq's TCP options: probe an idle connection after 10 s, every 5 s, give up after 3; and
# give up on data not acknowledged within 30 s (a cable pulled while a batch is being sent)
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
TCP_USER_TIMEOUT = 30_000  # ms


class SyncFailure(RaceControlError):
    """A sync round failed; ``state`` is what the status shows while it is retried."""

    state = "error"


class CentralUnreachable(SyncFailure):
    """The central database cannot be reached now (offline, timeout, reset, restarting)."""

    retryable = True
    state = "offline"


class CentralRejected(SyncFailure):
    """The central database answered, with something retrying alone will not fix (a wrong
    password, no such database, the schema or a privilege missing, a row it refused)."""

    retryable = False
    state = "error"


# SQLSTATE classes/codes that mean "try again later" (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_TRANSIENT_CLASSES = ("08", "53", "40", "58")  # connection, resources, rollback (deadlock…), system I/O
_TRANSIENT_CODES = {"57P01", "57P02", "57P03", "57014", "55P03"}  # shutdown, crash, starting, timeout, lock
# libpq's messages for a server that answered a connection attempt with "no"
_REFUSALS = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "ssl",
    "invalid dsn",
    "invalid connection option",
    "invalid uri",
    'missing "="',
)


def _message(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]


def failure(exc: BaseException, *, password: str | None = None) -> SyncFailure:
    """What ``exc`` (from psycopg2 or our push) means for the status and the retry; the
    message never holds ``password``."""
    import psycopg2

    if isinstance(exc, SyncFailure):
        return exc
    text = _message(exc)
    if password:
        text = text.replace(password, "***")
    code = getattr(exc, "pgcode", None)
    if isinstance(exc, psycopg2.Error) and code:
        if code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES:
            return CentralUnreachable(f"central database: {text} ({code})")
        return CentralRejected(f"central database refused the batch: {text} ({code})")
    if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
        lowered = text.lower()
        if any(r in lowered for r in _REFUSALS):
            return CentralRejected(f"central database: {text}")
        return CentralUnreachable(f"central database unreachable: {text}")
    if isinstance(exc, OSError | TimeoutError):
        return CentralUnreachable(f"central database unreachable: {text}")
    return CentralRejected(f"sync failed: {type(exc).__name__}: {text}")


def redact(url: str) -> str:
    """``url`` without its password (``postgresql://user@host/db``); '' for ''."""
    return url_without_password(url) if url else ""


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class CentralTarget:
    """Where to sync: the partner URL and, if it holds none, the stored password."""

    url: str
    password: str | None = None

    @property
    def public(self) -> str:
        return redact(self.url)

    @classmethod
    def from_settings(cls, settings: Settings) -> CentralTarget | None:
        """``settings.central_url`` (None: not configured) with the stored password
        (``SecretStore(data_dir).get("central-password")``) when the URL holds none."""
        url = (settings.central_url or "").strip()
        if not url:
            return None
        password = None
        if not has_password(url):
            password = stored_password(settings.data_dir)
        return cls(url, password)


PASSWORD_SECRET = "central-password"


def stored_password(data_dir: Path) -> str | None:
    """The central password kept by the desktop (keyring, or its fallbacks), if any."""
    from race_control.secrets import SecretStore

    try:
        return SecretStore(data_dir).get(PASSWORD_SECRET)
    except InputError as exc:  # a damaged secrets file: sync without it, say why
        log.warning("central sync: the stored password cannot be read: %s", exc)
        return None


def connect(
    target: CentralTarget | str,
    *,
    connect_timeout: int = CONNECT_TIMEOUT,
    statement_timeout: int = STATEMENT_TIMEOUT,
    application_name: str = "race-control-sync",
) -> psycopg2.extensions.connection:
    """A new connection (autocommit off: every batch is one transaction).  Blocking.
    Raises ``SyncFailure`` (never psycopg2's errors, whose text could be shown as is)."""
    if isinstance(target, str):
        target = CentralTarget(target)
    kw: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "application_name": application_name,
        "options": f"-c statement_timeout={int(statement_timeout)} -c client_encoding=UTF8",
        "tcp_user_timeout": TCP_USER_TIMEOUT,
        **KEEPALIVES,
    }
    if target.password and not has_password(target.url):
        kw["password"] = target.password
    import psycopg2  # (not at start-up: most races have no central database)

    try:
        return psycopg2.connect(target.url, **kw)
    except Exception as exc:
        raise failure(exc, password=target.password or _url_password(target.url)) from None


__all__ = [
    "CentralRejected",
    "CentralTarget",
    "CentralUnreachable",
    "SyncFailure",
    "connect",
    "failure",
    "redact",
]
