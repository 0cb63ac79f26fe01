"""A real PostgreSQL for sync tests: one throwaway database (and its partner logins) per test.

The server is the one on ``RACE_CONTROL_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/
postgres``, trust auth; scripts/test.sh starts or installs it).  Under ``CI=true`` a missing
server fails the test (sync tests never skip in CI); elsewhere it skips with the reason.

``scratch_database()`` creates ``rc_test_<random>``, yields its owner URL, and on the way out
terminates its connections, drops it and every role whose name starts with the database's
name (the partner logins ``central add-partner`` made for it: their names carry that prefix
when the tests pass ``login_prefix``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from psycopg2 import sql

ADMIN_URL = os.environ.get("RACE_CONTROL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def admin_connection() -> psycopg2.extensions.connection:
    try:
        conn = psycopg2.connect(ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"CI needs the PostgreSQL at {ADMIN_URL}: {exc}") from exc
        pytest.skip(f"no PostgreSQL at {ADMIN_URL} ({exc}); scripts/test.sh starts one")
    conn.autocommit = True
    return conn


def drop_database(name: str) -> None:
    conn = admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (name + "%",))
            for (role,) in cur.fetchall():
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    finally:
        conn.close()


@contextlib.contextmanager
def scratch_database(prefix: str = "rc_test_") -> Iterator[tuple[str, str]]:
    """(owner URL, database name) of a new empty database, dropped (with its roles) afterwards."""
    name = prefix + secrets.token_hex(5)
    conn = admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    try:
        yield with_database(ADMIN_URL, name), name
    finally:
        drop_database(name)
