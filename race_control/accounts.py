"""Local accounts for the desktop app's login screen.

Only a scrypt verifier is stored (``scrypt$N$r$p$salt$hash``, 16-byte random salt);
comparison is constant-time.  "Local mode" needs no account at all.  Central accounts
(a later issue) plug in as another ``source`` verified online once, then offline.
"""

from __future__ import annotations

import asyncio
import base64
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
