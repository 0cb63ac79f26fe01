"""Central accounts on the desktop: log in against the central database (through the partner's
own login), then offline with the cached verifier; a user disabled or removed centrally is
refused once the database answers again.  Real PostgreSQL, a real TCP proxy to take it away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from sqlalchemy import select

from race_control.accounts import Accounts
from race_control.central import admin
from race_control.central.errors import CentralAuthError
from race_control.errors import InputError
from race_control.store.database import Store
from race_control.store.models import User
from tests.central.partners import Central, two_partners
from tests.helpers.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres
PASSWORD = "correct horse battery"


@pytest.fixture
def central() -> Any:
    with two_partners(rows=False) as c:
        admin.add_user(c.admin_url, c.a["partner_id"], "Ann@Example.com", PASSWORD)
        admin.add_user(c.admin_url, c.b["partner_id"], "bob@example.com", PASSWORD)
        yield c


@pytest.fixture
async def accounts(tmp_path: Path) -> AsyncIterator[Accounts]:
    store = Store(tmp_path / "store.sqlite3")
    store.migrate()
    try:
        yield Accounts(store)
    finally:
        store.close()


async def cached(accounts: Accounts) -> list[tuple[str, str, str]]:
    def q(conn: Any) -> list[tuple[str, str, str]]:
        t = User.__table__
        return [tuple(r) for r in conn.execute(select(t.c.username, t.c.source, t.c.verifier))]

    return await accounts._store.run(q)


def set_disabled(central: Central, email: str, disabled: bool) -> None:
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE users SET disabled = %s WHERE email = %s", (disabled, email))
            assert cur.rowcount == 1
    finally:
        conn.close()


async def test_online_login_caches_the_verifier_and_offline_login_uses_it(
    central: Central, accounts: Accounts
) -> None:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url(central.a["url"])
        assert await accounts.login_central(url, " ANN@example.com", PASSWORD)
        [(name, source, verifier)] = await cached(accounts)
        assert (name, source) == ("ann@example.com", "central")
        assert verifier.startswith("$argon2id$")  # the central hash, never the password
        assert not await accounts.login_central(url, "ann@example.com", "wrong horse battery")
        # B's user is not A's: the partner's login does not even see it
        assert not await accounts.login_central(url, "bob@example.com", PASSWORD)

        proxy.refuse(True)  # the central database cannot be reached
        assert await accounts.login_central(url, "ann@example.com", PASSWORD)
        assert await accounts.verify("Ann@Example.com", PASSWORD)  # the login page's local check too
        assert not await accounts.login_central(url, "ann@example.com", "wrong horse battery")
        assert not await accounts.login_central(url, "bob@example.com", PASSWORD)  # never cached
        assert [r[0] for r in await cached(accounts)] == ["ann@example.com"]


async def test_a_disabled_or_removed_user_is_refused_once_central_answers_again(
    central: Central, accounts: Accounts
) -> None:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url(central.a["url"])
        assert await accounts.login_central(url, "ann@example.com", PASSWORD)
        set_disabled(central, "ann@example.com", True)
        proxy.refuse(True)
        assert await accounts.login_central(url, "ann@example.com", PASSWORD)  # offline: not known yet
        proxy.refuse(False)
        assert not await accounts.login_central(url, "ann@example.com", PASSWORD)
        assert await cached(accounts) == []  # the cached verifier is gone...
        proxy.refuse(True)
        assert not await accounts.login_central(url, "ann@example.com", PASSWORD)  # ...offline too
        proxy.refuse(False)
        set_disabled(central, "ann@example.com", False)
        assert await accounts.login_central(url, "ann@example.com", PASSWORD)  # enabled again

        conn = central.admin()
        try:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM users WHERE email = 'ann@example.com'")
        finally:
            conn.close()
        assert not await accounts.login_central(url, "ann@example.com", PASSWORD)
        assert await cached(accounts) == []


async def test_local_accounts_keep_working_beside_central_ones(central: Central, accounts: Accounts) -> None:
    await accounts.create("timer", "local password")
    assert await accounts.login_central(central.a["url"], "ann@example.com", PASSWORD)
    assert await accounts.verify("timer", "local password")
    assert not await accounts.verify("timer", PASSWORD)
    assert await accounts.verify("ann@example.com", PASSWORD)
    sources = sorted((name, source) for name, source, _ in await cached(accounts))
    assert sources == [("ann@example.com", "central"), ("timer", "local")]


async def test_a_refused_partner_login_or_bad_email_is_an_error_not_an_offline_login(
    central: Central, accounts: Accounts
) -> None:
    assert await accounts.login_central(central.a["url"], "ann@example.com", PASSWORD)
    conn = central.admin()
    try:
        with conn.cursor() as cur:  # the partner's login loses its privileges (trust auth here:
            cur.execute(f'REVOKE "{central.dbname}_partner" FROM "{_login(central.a)}"')  # no password)
    finally:
        conn.close()
    with pytest.raises(CentralAuthError, match=central.dbname):
        await accounts.login_central(central.a["url"], "ann@example.com", PASSWORD)
    with pytest.raises(InputError, match="not an e-mail address"):
        await accounts.login_central(central.a["url"], "ann", PASSWORD)


def _login(partner: dict[str, str]) -> str:
    return partner["url"].split("//")[1].split(":")[0]


def test_the_partner_url_carries_a_password_postgresql_accepts(central: Central) -> None:
    """Trust authentication here checks no password, so check the SCRAM verifier itself."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(central.a["url"])
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (unquote(parts.username),))
            stored = cur.fetchone()[0]
            cur.execute(
                "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolinherit,"
                " rolconnlimit FROM pg_roles WHERE rolname = %s",
                (unquote(parts.username),),
            )
            flags = cur.fetchone()
    finally:
        conn.close()
    assert flags == (True, False, False, False, False, True, admin.PARTNER_CONNECTION_LIMIT)
    scheme, rest = stored.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = keys.split(":")
    assert scheme == "SCRAM-SHA-256"
    password = unquote(parts.password)
    assert len(password) >= 40
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    assert base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
    assert base64.b64encode(hmac.new(salted, b"Server Key", "sha256").digest()).decode() == server_key
    psycopg2.connect(central.a["url"]).close()


async def test_a_weak_central_hash_is_cached_with_todays_parameters(
    central: Central, accounts: Accounts
) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE users SET password_hash = %s WHERE email = 'ann@example.com'", (weak,))
    finally:
        conn.close()
    assert await accounts.login_central(central.a["url"], "ann@example.com", PASSWORD)
    [(_, _, verifier)] = await cached(accounts)
    assert verifier.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and verifier != weak
    assert await accounts.verify("ann@example.com", PASSWORD)
