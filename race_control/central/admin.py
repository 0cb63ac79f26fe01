"""Administering the central PostgreSQL: migrate it, add partners, add users (blocking calls).

``url`` is the database owner's (or a superuser's) URL.  ``migrate`` and ``add_partner`` need
a superuser, or a role with ``BYPASSRLS`` and ``CREATEROLE``: every table forces row-level
security, so a plain owner would see no partner's rows, and each partner is a role of its own.
``add_user`` needs the same (it reads ``timing_partners`` and writes ``users``).

Each call is one transaction: a partner's login and its ``timing_partners`` row are created
together or not at all.  docs/sync.md#the-central-database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2
from psycopg2 import errors as pg_errors
from psycopg2 import sql

from race_control.central.connection import check_url, connect, database_name
from race_control.central.errors import (
    CentralAuthError,
    CentralConflict,
    CentralError,
    CentralInputError,
    CentralNotFound,
    CentralSchemaError,
    translate,
    where,
)
from race_control.central.passwords import hash_password
from race_control.ids import new_id

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "central_alembic_version"
MAX_DATABASE_NAME = 48  # <db>_p_<12 hex> must fit PostgreSQL's 63-character names
PARTNER_CONNECTION_LIMIT = 50  # laptops (a push and a pull connection each) and tools
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]+$")
_MIGRATE_LOCK = 0x5243_4345_4E54  # pg_advisory_xact_lock key: one migrate at a time per database


def group_role(database: str) -> str:
    """The NOLOGIN role whose members are this database's partners."""
    return f"{database}_partner"


def login_prefix(database: str) -> str:
    return f"{database}_p_"


def _check_database_name(url: str) -> str:
    name = database_name(url)
    if len(name) > MAX_DATABASE_NAME:
        raise CentralInputError(
            f"the central database's name {name!r} is longer than {MAX_DATABASE_NAME} characters "
            "(partner logins are named after it and PostgreSQL cuts names at 63)"
        )
    return name


def _require_admin(cur: Any, url: str, what: str) -> None:
    cur.execute(
        "SELECT rolsuper, rolbypassrls AND rolcreaterole FROM pg_catalog.pg_roles"
        " WHERE rolname = current_user"
    )
    superuser, bypass = cur.fetchone()
    if not (superuser or bypass):
        raise CentralAuthError(
            f"{what} on {where(url)} needs a superuser, or a role with BYPASSRLS and CREATEROLE "
            "(the tables force row-level security); this login is neither"
        )


def _require_migrated(cur: Any, url: str) -> None:
    cur.execute("SELECT to_regclass('public.timing_partners') IS NOT NULL")
    if not cur.fetchone()[0]:
        raise CentralSchemaError(f"{where(url)} is not migrated: run `race-control central migrate` first")


# -- migrate ---------------------------------------------------------------------------------


def _sqlalchemy_url(url: str) -> str:
    _scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg2://{rest}"


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def migrate(url: str) -> str:
    """Create or upgrade the central schema to the newest revision; returns that revision.
    Running it again changes nothing.  Concurrent runs on one database wait for each other."""
    from alembic import command
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    check_url(url)
    _check_database_name(url)
    engine = create_engine(_sqlalchemy_url(url), poolclass=NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.begin() as conn:
            _require_admin(conn.connection.dbapi_connection.cursor(), url, "migrate")
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
            command.upgrade(alembic_config(conn), "head")
            revision = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one()
    except DBAPIError as exc:
        raise translate(exc, url) from None
    except psycopg2.Error as exc:
        raise translate(exc, url) from None
    except RuntimeError as exc:  # a migration's own refusal (e.g. a group role that may log in)
        raise CentralError(f"{where(url)}: {exc}") from None
    finally:
        engine.dispose()
    return str(revision)


def current_revision(url: str) -> str | None:
    """The central schema's revision (None when it was never migrated)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{VERSION_TABLE}",))
            if not cur.fetchone()[0]:
                return None
            cur.execute(f"SELECT version_num FROM {VERSION_TABLE}")
            row = cur.fetchone()
            return None if row is None else str(row[0])
    except psycopg2.Error as exc:
        raise translate(exc, url) from None
    finally:
        conn.close()


# -- partners --------------------------------------------------------------------------------


def scram_verifier(password: str, *, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password`` (RFC 5802/7677, the format of
    ``pg_authid.rolpassword``): ``CREATE ROLE ... PASSWORD`` gets this, never the password itself,
    so the password is not in the server's statement log.  ``password`` must be ASCII (ours are
    ``token_urlsafe``: SASLprep leaves them unchanged)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def partner_url(admin_url: str, login: str, password: str) -> str:
    """The admin URL's host, port, database and options with the partner's login and password."""
    parts = urlsplit(admin_url)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or 5432
    netloc = f"{quote(login, safe='')}:{quote(password, safe='')}@{host}:{port}"
    return urlunsplit(("postgresql", netloc, parts.path, parts.query, ""))


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise CentralInputError("the partner needs a name")
    if len(name) > 200:
        raise CentralInputError("the partner's name is longer than 200 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise CentralInputError("the partner's name contains control characters")
    return name


def add_partner(url: str, name: str) -> dict[str, str]:
    """A new timing partner: its ``timing_partners`` row and its own PostgreSQL login (member of
    ``<db>_partner``, a strong random password).  Returns ``{"partner_id", "url"}``: the URL its
    laptops use."""
    check_url(url)
    name = _check_name(name)
    database = _check_database_name(url)
    partner_id = str(uuid.uuid4())
    login = login_prefix(database) + secrets.token_hex(6)
    password = secrets.token_urlsafe(32)  # 256 bits
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            _require_admin(cur, url, "add-partner")
            _require_migrated(cur, url)
            cur.execute("SELECT 1 FROM public.timing_partners WHERE lower(name) = lower(%s)", (name,))
            if cur.fetchone():
                raise CentralConflict(f"{where(url)} has a partner named {name!r} already")
            cur.execute(
                sql.SQL(
                    "CREATE ROLE {login} LOGIN PASSWORD {password} NOSUPERUSER NOCREATEDB NOCREATEROLE"
                    " INHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {limit} IN ROLE {group}"
                ).format(
                    login=sql.Identifier(login),
                    password=sql.Literal(scram_verifier(password)),
                    limit=sql.Literal(PARTNER_CONNECTION_LIMIT),
                    group=sql.Identifier(group_role(database)),
                )
            )
            cur.execute(
                "INSERT INTO public.timing_partners (id, name, login, created_at) VALUES (%s, %s, %s, %s)",
                (partner_id, name, login, time.time()),
            )
    except CentralError:
        raise
    except psycopg2.Error as exc:
        raise translate(exc, url) from None
    finally:
        conn.close()
    return {"partner_id": partner_id, "url": partner_url(url, login, password)}


# -- users -----------------------------------------------------------------------------------


def check_email(email: str) -> str:
    """The e-mail address, trimmed and lower-case, or CentralInputError."""
    value = (email or "").strip().lower()
    if len(value) > 254 or not EMAIL_RE.match(value):
        raise CentralInputError(f"{email!r} is not an e-mail address (name@example.com)")
    return value


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise CentralInputError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise CentralInputError(f"the password must have at most {MAX_PASSWORD} characters")
    return password


def check_partner_id(partner_id: str) -> str:
    try:
        return str(uuid.UUID(str(partner_id).strip()))
    except ValueError:
        raise CentralInputError(
            f"{partner_id!r} is not a partner id (the uuid `central add-partner` printed)"
        ) from None


def add_user(url: str, partner_id: str, email: str, password: str) -> str:
    """A new user of ``partner_id`` (its password stored as an argon2id hash); returns its id."""
    check_url(url)
    partner_id = check_partner_id(partner_id)
    email = check_email(email)
    check_password(password)
    password_hash = hash_password(password)
    user_id = new_id()
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            _require_admin(cur, url, "add-user")
            _require_migrated(cur, url)
            cur.execute("SELECT name FROM public.timing_partners WHERE id = %s", (partner_id,))
            if cur.fetchone() is None:
                raise CentralNotFound(f"{where(url)} has no partner {partner_id}")
            stamp = time.time()
            try:
                cur.execute(
                    "INSERT INTO public.users (partner_id, id, email, password_hash, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (partner_id, user_id, email, password_hash, stamp, stamp),
                )
            except pg_errors.UniqueViolation:
                raise CentralConflict(
                    f"partner {partner_id} has a user {email!r} already ({where(url)})"
                ) from None
    except CentralError:
        raise
    except psycopg2.Error as exc:
        raise translate(exc, url) from None
    finally:
        conn.close()
    return user_id
