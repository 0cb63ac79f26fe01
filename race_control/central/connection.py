"""Opening a connection to the central PostgreSQL (blocking: call it from a thread/executor).

``connect`` checks the URL's shape, sets a connect timeout and TCP keepalives (a cut network
shows as an error within seconds instead of a hang), and turns every failure into a
``CentralError`` naming ``host:port/db`` (never the password).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg2
import psycopg2.extensions

from race_control.central.errors import CentralInputError, translate, where

SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT = 10  # seconds


def check_url(url: str) -> str:
    """``url`` if it looks like ``postgresql://user:password@host:port/db``; else CentralInputError."""
    try:
        parts = urlsplit(url or "")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise CentralInputError("the central database URL cannot be read (a bad port?)") from None
    if parts.scheme not in SCHEMES:
        raise CentralInputError(
            "the central database URL must start with postgresql:// (postgresql://user:password@host:port/db)"
        )
    if not parts.path.lstrip("/"):
        raise CentralInputError(f"the central database URL names no database ({where(url)})")
    return url


def connect(url: str, *, timeout: float = CONNECT_TIMEOUT, application_name: str = "race-control"):  # type: ignore[no-untyped-def]
    """A new psycopg2 connection (not autocommit) or a ``CentralError``."""
    check_url(url)
    try:
        return psycopg2.connect(
            url,
            connect_timeout=max(1, round(timeout)),
            application_name=application_name,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
    except psycopg2.Error as exc:
        raise translate(exc, url) from None


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


__all__ = ["check_url", "connect", "database_name", "psycopg2"]
