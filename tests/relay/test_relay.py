"""``race-control relay`` on a real PostgreSQL, fed the rows a real laptop stored.

A laptop (a real ``RaceControl``, a CTP01 client, a WebSocket screen) makes display events;
its rows are written centrally as the partner's login, the way the push writes them; a relay
on that partner's URL serves the same session to a WebSocket screen.  Both screens must get
the same messages; resume, 404s, tenant isolation, a relay restart and lost NOTIFYs follow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from race_control.app import RaceControl
from race_control.relay.server import Relay, RelayOptions
from tests.conftest import Api, make_settings
from tests.display.test_resume import lines, setup_session
from tests.helpers.live_app import running, wait_last_seq
from tests.helpers.waiting import until
from tests.relay.central_rows import Central, central_db, push, push_laptop

FIXED = ("type", "session", "template", "last_seq", "epoch", "heartbeat_ms")


@contextlib.asynccontextmanager
async def relay_on(url: str, **kw: Any) -> AsyncIterator[Relay]:
    relay = await Relay(RelayOptions(url, poll_interval=kw.pop("poll_interval", 0.2), **kw)).start()
    try:
        yield relay
    finally:
        await relay.stop()


async def screen(
    http: aiohttp.ClientSession, url: str, after: int | None = 0
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    ws = await http.ws_connect(url.replace("http", "ws", 1) + "/ws")
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello", hello
    if after is not None:
        await ws.send_json({"type": "resume", "after_seq": after, "epoch": hello["epoch"]})
    return ws, hello


async def sequenced(
    ws: aiohttp.ClientWebSocketResponse, n: int, *, timeout: float = 10
) -> list[dict[str, Any]]:
    """The next ``n`` finisher/correction messages (pings, caught_up and the rest skipped)."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):  # pings keep coming: bound the whole wait
        while len(out) < n:
            msg = await ws.receive_json()
            if msg["type"] in ("finisher", "correction"):
                out.append(msg)
    return out


async def until_caught_up(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive_json()
            if msg["type"] == "caught_up":
                return out
            if msg["type"] in ("finisher", "correction"):
                out.append(msg)


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while (msg := await ws.receive_json())["type"] != kind:
            pass
    return msg


async def public_laptop_session(rc: RaceControl, api: Api, n: int) -> tuple[dict[str, Any], Any]:
    session, client = await setup_session(api, rc.timing_port)
    await api.ok("PATCH", f"/api/sessions/{session['id']}", {"public": True})
    await client.send(lines(1, n))
    await wait_last_seq(rc, api, session["id"], n)
    return session, client


async def push_store(rc: RaceControl, url: str) -> dict[str, list[dict[str, Any]]]:
    assert rc.services is not None
    return await push_laptop(rc.services.store, url)


def relay_page(relay: Relay, token_of: dict[str, Any]) -> str:
    return f"{relay.url}/display/{token_of['display_url'].rsplit('/', 1)[1]}"


async def test_a_relay_screen_gets_the_laptops_messages(tmp_path: Path) -> None:
    with central_db() as central:
        async with running(make_settings(tmp_path / "data")) as (rc, api):
            session, client = await public_laptop_session(rc, api, 6)
            # an unknown bib (shown as "Bib 77"), named later by a roster import: a correction
            await client.send(b"CT01_33~7~finish~77~09:00:07.00~0~0FA22E~1\r\n")
            await wait_last_seq(rc, api, session["id"], 7)
            await push_store(rc, central.a["url"])
            async with relay_on(central.a["url"]) as relay, aiohttp.ClientSession() as http:
                laptop_ws, laptop_hello = await screen(http, session["display_url"])
                relay_ws, relay_hello = await screen(http, relay_page(relay, session))
                assert {k: relay_hello[k] for k in FIXED} == {k: laptop_hello[k] for k in FIXED}
                assert relay_hello["last_seq"] == 7 and relay_hello["epoch"]
                from_laptop = await until_caught_up(laptop_ws)
                from_relay = await until_caught_up(relay_ws)
                assert [m["seq"] for m in from_relay] == list(range(1, 8))
                assert from_relay == from_laptop
                assert "age" not in from_relay[0] and from_relay[0]["name"] == "Runner1 X"

                # live: more finishers and the correction, pushed in one batch
                await client.send(lines(8, 10))
                await wait_last_seq(rc, api, session["id"], 10)
                await api.ok(
                    "POST",
                    f"/api/events/{session['event_id']}/participants",
                    [{"bib": "77", "first_name": "Late", "last_name": "Entry"}],
                )
                await wait_last_seq(rc, api, session["id"], 11)
                live_laptop = await sequenced(laptop_ws, 4)
                await push_store(rc, central.a["url"])
                live_relay = await sequenced(relay_ws, 4)
                assert [m["seq"] for m in live_relay] == [8, 9, 10, 11]
                assert live_relay[-1]["type"] == "correction" and live_relay[-1]["name"] == "Late Entry"
                assert live_relay == live_laptop

                # a rename on the laptop reaches the relay's screen as a `session` message
                await api.ok("PATCH", f"/api/sessions/{session['id']}", {"name": "Remote finish"})
                await push_store(rc, central.a["url"])
                msg = await next_of(relay_ws, "session")
                assert msg["session"]["name"] == "Remote finish"

                # a mode switch and a custom template reach it as `mode` and `template`
                await api.ok("PATCH", f"/api/sessions/{session['id']}", {"mode": "pre-race"})
                await push_store(rc, central.a["url"])
                mode = await next_of(relay_ws, "mode")
                assert (mode["mode"], mode["by"]) == ("pre-race", "operator")
                body = await api.ok("GET", "/api/templates/results-classic")
                body = {k: v for k, v in body.items() if k not in ("id", "version")}
                body["name"] = "Sponsor results"
                saved = await api.ok("POST", "/api/templates", body, 201)
                await api.ok("PATCH", f"/api/sessions/{session['id']}", {"template_id": saved["id"]})
                await push_store(rc, central.a["url"])
                styled = await next_of(relay_ws, "template")
                assert styled["template"]["name"] == "Sponsor results"
                await laptop_ws.close()
                await relay_ws.close()
            await client.close()


async def test_resume_after_seq_comes_from_the_central_table(tmp_path: Path) -> None:
    with central_db() as central:
        async with running(make_settings(tmp_path / "data")) as (rc, api):
            session, client = await public_laptop_session(rc, api, 12)
            await push_store(rc, central.a["url"])
            await client.close()
        async with relay_on(central.a["url"]) as relay, aiohttp.ClientSession() as http:
            ws, hello = await screen(http, relay_page(relay, session), after=9)
            assert hello["last_seq"] == 12
            assert [m["seq"] for m in await until_caught_up(ws)] == [10, 11, 12]
            await ws.close()
            # a replay older than the relay's recent log pages through the central table
            relay.hub.forget(session["id"])
            ws, _hello = await screen(http, relay_page(relay, session), after=2)
            assert [m["seq"] for m in await until_caught_up(ws)] == list(range(3, 13))
            assert relay.hub.store_pages >= 1
            await ws.close()


async def test_unknown_non_public_and_other_partners_tokens_are_404(tmp_path: Path) -> None:
    with central_db() as central:
        async with running(make_settings(tmp_path / "data")) as (rc, api):
            public, client = await public_laptop_session(rc, api, 2)
            event_id = public["event_id"]
            private = await api.ok("POST", "/api/sessions", {"event_id": event_id, "mode": "results"}, 201)
            closed = await api.ok("POST", "/api/sessions", {"event_id": event_id, "mode": "results"}, 201)
            await api.ok("PATCH", f"/api/sessions/{closed['id']}", {"public": True})
            await api.ok("DELETE", f"/api/sessions/{closed['id']}")
            await push_store(rc, central.a["url"])
            # the same laptop's rows under partner B: B's public session, invisible to A's relay
            other = await api.ok("POST", "/api/sessions", {"event_id": event_id, "mode": "results"}, 201)
            await api.ok("PATCH", f"/api/sessions/{other['id']}", {"public": True})
            assert rc.services is not None
            from tests.relay.central_rows import laptop_rows

            rows = await laptop_rows(rc.services.store)
            b_session = [r for r in rows["display_sessions"] if r["id"] == other["id"]]
            await asyncio.to_thread(push, central.b["url"], "events", rows["events"])
            await asyncio.to_thread(push, central.b["url"], "display_sessions", b_session)
            await client.close()
        async with (
            relay_on(central.a["url"]) as relay_a,
            relay_on(central.b["url"]) as relay_b,
            aiohttp.ClientSession() as http,
        ):
            for target, status in (
                (relay_page(relay_a, public), 200),
                (relay_page(relay_a, private), 404),
                (relay_page(relay_a, closed), 410),
                (relay_page(relay_a, other), 404),
                (f"{relay_a.url}/display/not-a-token-at-all", 404),
                (relay_page(relay_b, other), 200),
                (relay_page(relay_b, public), 404),
            ):
                async with http.get(target) as page:
                    assert page.status == status, (target, status, await page.text())
                    if status == 200:
                        text = await page.text()
                        assert 'id="rc-config"' in text and "rc-link.js" in text
                        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
                async with http.get(target + "/ws") as ws_get:  # no upgrade: the status
                    assert ws_get.status == (status if status != 200 else 400), target
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(relay_page(relay_a, other).replace("http", "ws", 1) + "/ws")
            assert refused.value.status == 404
            async with http.ws_connect(relay_page(relay_a, closed).replace("http", "ws", 1) + "/ws") as ws:
                await ws.receive(timeout=5)
                assert ws.close_code == 4410
            async with http.get(f"{relay_a.url}/display/static/rc-link.js") as js:
                assert js.status == 200


async def test_a_restarted_relay_resumes_its_screens_from_the_central_table(tmp_path: Path) -> None:
    with central_db() as central:
        async with running(make_settings(tmp_path / "data")) as (rc, api):
            session, client = await public_laptop_session(rc, api, 5)
            await push_store(rc, central.a["url"])
            async with aiohttp.ClientSession() as http:
                # each phase in a deadline, so a hang (seen once in CI) fails where it is
                async with asyncio.timeout(30), relay_on(central.a["url"]) as first:
                    ws, hello = await screen(http, relay_page(first, session))
                    assert [m["seq"] for m in await until_caught_up(ws)] == [1, 2, 3, 4, 5]
                    epoch = hello["epoch"]
                    port = first.port
                await ws.receive(timeout=5)  # the relay going away closes the socket
                assert ws.closed
                # finishers while no relay runs
                async with asyncio.timeout(30):
                    await client.send(lines(6, 9))
                    await wait_last_seq(rc, api, session["id"], 9)
                    await push_store(rc, central.a["url"])
                async with asyncio.timeout(30), relay_on(central.a["url"], port=port) as second:
                    ws = await http.ws_connect(relay_page(second, session).replace("http", "ws", 1) + "/ws")
                    hello = await ws.receive_json(timeout=5)
                    assert hello["epoch"] == epoch and hello["last_seq"] == 9
                    await ws.send_json({"type": "resume", "after_seq": 5, "epoch": epoch})
                    assert [m["seq"] for m in await until_caught_up(ws)] == [6, 7, 8, 9]
                    await ws.close()
            await client.close()


def _disable_notify(central: Central) -> None:
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            for table in ("display_events", "display_sessions", "templates"):
                cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # every NOTIFY lost
    finally:
        conn.close()


async def test_a_missed_notify_is_delivered_by_the_poll(tmp_path: Path) -> None:
    with central_db() as central:
        async with running(make_settings(tmp_path / "data")) as (rc, api):
            session, client = await public_laptop_session(rc, api, 2)
            await push_store(rc, central.a["url"])
            async with (
                relay_on(central.a["url"], poll_interval=0.5) as relay,
                aiohttp.ClientSession() as http,
            ):
                await asyncio.to_thread(relay.listener.listening.wait, 10)  # type: ignore[union-attr]
                ws, _hello = await screen(http, relay_page(relay, session))
                assert len(await until_caught_up(ws)) == 2
                await asyncio.to_thread(_disable_notify, central)  # the next batch NOTIFYs nobody
                await client.send(lines(3, 4))
                await wait_last_seq(rc, api, session["id"], 4)
                await push_store(rc, central.a["url"])
                assert [m["seq"] for m in await sequenced(ws, 2)] == [3, 4]
                await ws.close()
            await client.close()


def _terminate(central: Central, pid: int) -> None:
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        conn.close()


async def test_a_killed_listen_connection_is_reopened_and_notifies_again(tmp_path: Path) -> None:
    with central_db() as central:
        async with running(make_settings(tmp_path / "data")) as (rc, api):
            session, client = await public_laptop_session(rc, api, 2)
            await push_store(rc, central.a["url"])
            # no poll to speak of: only a NOTIFY can deliver within the test
            async with (
                relay_on(central.a["url"], poll_interval=3600) as relay,
                aiohttp.ClientSession() as http,
            ):
                listener = relay.listener
                assert listener is not None
                await asyncio.to_thread(listener.listening.wait, 10)
                ws, _hello = await screen(http, relay_page(relay, session))
                assert len(await until_caught_up(ws)) == 2
                await client.send(lines(3, 3))
                await wait_last_seq(rc, api, session["id"], 3)
                await push_store(rc, central.a["url"])
                assert [m["seq"] for m in await sequenced(ws, 1)] == [3]  # NOTIFY works
                assert listener.backend_pid is not None
                await asyncio.to_thread(_terminate, central, listener.backend_pid)
                await until(lambda: listener.connections == 2 and listener.listening.is_set(), "LISTEN again")
                await client.send(lines(4, 5))
                await wait_last_seq(rc, api, session["id"], 5)
                await push_store(rc, central.a["url"])
                assert [m["seq"] for m in await sequenced(ws, 2)] == [4, 5]
                await ws.close()
            await client.close()
