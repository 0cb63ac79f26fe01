"""Accounts for the desktop app's login screen: local ones, and the central database's.

Only a verifier is stored, never a password.  Local accounts (``source = 'local'``): a scrypt
verifier (``scrypt$N$r$p$salt$hash``, 16-byte random salt).  Central accounts (``source =
'central'``, ``central add-user``): ``login_central`` checks the password against the argon2id
hash read through the partner's own login; when it matches, that hash is cached here as the
user's verifier, so the same e-mail and password log in while the central database cannot be
reached.  Once it can be reached again, a user it no longer has, or has disabled, loses the
cached verifier and cannot log in.  Comparisons are constant-time.  "Local mode" needs no
account at all.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import hmac
import os
import re

from sqlalchemy import Connection, func, select

from race_control.errors import Conflict, InputError
from race_control.ids import new_id
from race_control.store.database import Store
from race_control.store.models import User, now

N, R, P = 2**15, 8, 1  # ~32 MiB, ~50 ms: slow for guessing, fine for a login
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8


def make_verifier(password: str, *, n: int = N) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=R, p=P, maxmem=2**26)
    b64 = base64.b64encode
    return f"scrypt${n}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def check_verifier(password: str, verifier: str) -> bool:
    from race_control.central.passwords import is_argon2, verify_password  # (argon2: not at start-up)

    if is_argon2(verifier):  # a central user's cached hash
        return verify_password(verifier, password)
    try:
        scheme, n, r, p, salt, digest = verifier.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), maxmem=2**26
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


class CentralLogin(enum.Enum):
    """How a central login went (``Accounts.central_login``)."""

    OK = "ok"  # checked against the central database; the verifier is cached
    OFFLINE_OK = "offline-ok"  # the central database cannot be reached: the cached verifier matched
    WRONG_PASSWORD = "wrong-password"
    UNKNOWN_USER = "unknown-user"  # the partner has no such user (any cached verifier is removed)
    DISABLED = "disabled"  # disabled centrally (any cached verifier is removed)
    OFFLINE_WRONG_PASSWORD = "offline-wrong-password"
    OFFLINE_NEVER = "offline-never"  # cannot be reached, and no verifier cached for this e-mail

    @property
    def ok(self) -> bool:
        return self in (CentralLogin.OK, CentralLogin.OFFLINE_OK)

    @property
    def offline(self) -> bool:
        return self.value.startswith("offline")


class Accounts:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def has_users(self) -> bool:
        def _q(conn: Connection) -> int:
            return conn.execute(select(func.count()).select_from(User.__table__)).scalar_one()

        return bool(await self._store.run(_q))

    async def create(self, username: str, password: str) -> str:
        if not USERNAME_RE.match(username or ""):
            raise InputError("the user name must be 1-64 letters, digits or . _ @ -")
        if len(password) < MIN_PASSWORD:
            raise InputError(f"the password must have at least {MIN_PASSWORD} characters")
        loop = asyncio.get_running_loop()
        verifier = await loop.run_in_executor(None, make_verifier, password)  # ~50 ms of scrypt: off the loop
        uid = new_id()

        def _insert(conn: Connection) -> None:
            t = User.__table__
            if conn.execute(select(t.c.id).where(func.lower(t.c.username) == username.lower())).first():
                raise Conflict(f"the user {username!r} already exists")
            stamp = now()
            conn.execute(
                t.insert().values(
                    id=uid, username=username, verifier=verifier, created_at=stamp, updated_at=stamp
                )
            )

        await self._store.run(_insert)
        return uid

    async def verify(self, username: str, password: str) -> bool:
        def _q(conn: Connection) -> str | None:
            t = User.__table__
            return conn.execute(
                select(t.c.verifier).where(func.lower(t.c.username) == username.lower())
            ).scalar()

        verifier = await self._store.run(_q)
        loop = asyncio.get_running_loop()
        if verifier is None:
            await loop.run_in_executor(
                None, make_verifier, password
            )  # same cost whether or not the user exists
            return False
        return await loop.run_in_executor(None, check_verifier, password, verifier)

    async def login_central(self, central_url: str, email: str, password: str) -> bool:
        """Log in a central user (``central add-user``) of the partner whose URL this is.

        Online: the user's argon2id hash is read through the partner's login and checked; a match
        is cached as this e-mail's verifier (``source = 'central'``).  A user the central
        database does not have, or has disabled, is refused and its cached verifier removed.
        Offline (``CentralUnavailable``): the cached verifier decides, as ``verify`` does.  Any
        other central failure (a wrong partner password, a database not migrated) raises."""
        return (await self.central_login(central_url, email, password)).ok

    async def central_login(self, central_url: str, email: str, password: str) -> CentralLogin:
        """``login_central`` saying why (what the login screen tells the timer)."""
        # (psycopg2 and argon2 when a timer first logs in with a central account: not at start-up)
        from race_control.central.admin import check_email
        from race_control.central.errors import CentralUnavailable
        from race_control.central.passwords import hash_password, needs_rehash, verify_password
        from race_control.central.users import fetch_user

        email = check_email(email)
        loop = asyncio.get_running_loop()
        try:
            user = await loop.run_in_executor(None, fetch_user, central_url, email)
        except CentralUnavailable:
            return await self._offline_login(email, password)
        if user is None or user.disabled:
            await self._store.run(self._forget_central, email)
            await loop.run_in_executor(None, make_verifier, password)  # same cost as a wrong password
            return CentralLogin.UNKNOWN_USER if user is None else CentralLogin.DISABLED
        if not await loop.run_in_executor(None, verify_password, user.password_hash, password):
            return CentralLogin.WRONG_PASSWORD
        verifier = user.password_hash
        if needs_rehash(verifier):  # made with weaker parameters: cache today's (partners cannot
            verifier = await loop.run_in_executor(None, hash_password, password)  # write users)
        await self._store.run(self._cache_central, email, verifier)
        return CentralLogin.OK

    async def _offline_login(self, email: str, password: str) -> CentralLogin:
        def _q(conn: Connection) -> str | None:
            t = User.__table__
            return conn.execute(select(t.c.verifier).where(func.lower(t.c.username) == email)).scalar()

        verifier = await self._store.run(_q)
        if verifier is None:
            return CentralLogin.OFFLINE_NEVER
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(None, check_verifier, password, verifier):
            return CentralLogin.OFFLINE_OK
        return CentralLogin.OFFLINE_WRONG_PASSWORD

    @staticmethod
    def _cache_central(conn: Connection, email: str, password_hash: str) -> None:
        t = User.__table__
        stamp = now()
        done = conn.execute(
            t.update()
            .where(func.lower(t.c.username) == email)
            .values(verifier=password_hash, source="central", updated_at=stamp)
        )
        if done.rowcount == 0:
            conn.execute(
                t.insert().values(
                    id=new_id(),
                    username=email,
                    verifier=password_hash,
                    source="central",
                    created_at=stamp,
                    updated_at=stamp,
                )
            )

    @staticmethod
    def _forget_central(conn: Connection, email: str) -> None:
        t = User.__table__
        conn.execute(t.delete().where(func.lower(t.c.username) == email, t.c.source == "central"))
