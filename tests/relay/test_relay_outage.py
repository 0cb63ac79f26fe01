"""The central database goes away under a running relay: its screens stay connected (pings),
a link it must look up answers 503, and once the database is back the finishers written
meanwhile reach the screens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from psycopg2 import sql
from psycopg2.extras import Json

from tests.helpers.waiting import until
from tests.relay.central_rows import Central, central_db, finisher_rows, push, session_rows
from tests.relay.test_relay import relay_on, screen, sequenced, until_caught_up


def _login(central: Central, allowed: bool) -> None:
    role = urlsplit(central.a["url"]).username
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("ALTER ROLE {} " + ("LOGIN" if allowed else "NOLOGIN")).format(sql.Identifier(role))
            )
            if not allowed:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
                )
    finally:
        conn.close()


def _write_as_owner(central: Central, session_id: str, first: int, last: int) -> None:
    """The laptop's next batch, written while the partner cannot log in (the owner, a
    superuser, names the partner itself)."""
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            for r in finisher_rows(session_id, first, last):
                cur.execute(
                    "INSERT INTO display_events (partner_id, session_id, seq, kind, bib, stream_id, location,"
                    " read_seq, payload, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        central.a["partner_id"],
                        *(
                            r[c]
                            for c in ("session_id", "seq", "kind", "bib", "stream_id", "location", "read_seq")
                        ),
                        Json(r["payload"]),
                        r["created_at"],
                    ),
                )
    finally:
        conn.close()


async def test_a_central_outage_keeps_screens_and_delivers_afterwards(tmp_path: Path) -> None:
    with central_db() as central:
        url = central.a["url"]
        rows = session_rows()
        sid, token = rows["display_sessions"][0]["id"], rows["display_sessions"][0]["token"]
        for table in ("events", "display_sessions"):
            await asyncio.to_thread(push, url, table, rows[table])
        await asyncio.to_thread(push, url, "display_events", finisher_rows(sid, 1, 2))
        async with relay_on(url, poll_interval=0.2) as relay, aiohttp.ClientSession() as http:
            ws, _hello = await screen(http, f"{relay.url}/display/{token}")
            assert [m["seq"] for m in await until_caught_up(ws)] == [1, 2]
            await asyncio.to_thread(_login, central, False)
            await until(lambda: relay.feed.failing, "the relay noticing the outage")
            async with http.get(f"{relay.url}/display/another-token-to-look-up") as page:
                assert page.status == 503 and page.headers["Retry-After"] == "5"
            await asyncio.to_thread(_write_as_owner, central, sid, 3, 4)
            await asyncio.sleep(1)  # the screen stays live meanwhile: pings, no close
            assert not ws.closed
            await asyncio.to_thread(_login, central, True)
            assert [m["seq"] for m in await sequenced(ws, 2, timeout=30)] == [3, 4]
            assert not relay.feed.failing
            async with http.get(f"{relay.url}/display/{token}") as page:
                assert page.status == 200
            await ws.close()
