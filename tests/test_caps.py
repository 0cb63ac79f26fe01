"""Bounded resources: every cap a stranger on the LAN can hit closes or delays just that peer,
is logged and alerted (``cap_reached``), and the server keeps serving everyone else.

Real sockets, a real server (``RaceControl``) on real SQLite files; the caps are set small
through ``Settings`` where the default would only make the test slower."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from race_control.app import RaceControl
from race_control.display_server.hub import TOO_MANY_SCREENS, Hub
from tests.conftest import Api, make_settings
from tests.display.test_resume import lines, setup_session
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import running, wait_last_seq


def cap_alert(rc: RaceControl, cap: str) -> dict[str, Any] | None:
    assert rc.services is not None
    return next(
        (a.to_json() for a in rc.services.alerts.alerts() if a.kind == "cap_reached" and a.key == cap),
        None,
    )


async def closed_by_server(client: RawCtp01Client, timeout: float = 10.0) -> bool:
    """True once the server has closed (FIN or reset) the client's connection."""
    try:
        while await asyncio.wait_for(client.reader.read(65536), timeout):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    return True


async def until(condition: Any, what: str, tries: int = 2000) -> None:
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


# --- timing connections ------------------------------------------------------------------------
async def test_one_timing_connection_over_the_cap_is_closed_the_others_work(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path / "d", max_timing_connections=3)) as (rc, _api):
        clients = [await RawCtp01Client.connect(rc.timing_port) for _ in range(3)]
        for i, c in enumerate(clients):
            await c.handshake(f"conn{i}")
        extra = await RawCtp01Client.connect(rc.timing_port)
        assert await closed_by_server(extra)
        for c in clients:  # still served: a ping is answered
            await c.send(b"ping\r\n")
            await c.until("ack~ping")
        alert = cap_alert(rc, "max_timing_connections")
        assert alert is not None and alert["details"]["value"] == 3
        assert alert["details"]["who"].startswith("127.0.0.1:")
        await clients[0].close()  # a place frees up: the next client is taken
        await until(lambda: len(rc._listener.connections) == 2, "the closed client is gone")  # type: ignore[union-attr]
        again = await RawCtp01Client.connect(rc.timing_port)
        await again.handshake("conn-again")
        for c in [*clients[1:], extra, again]:
            await c.close()


# --- lines before identification ---------------------------------------------------------------
async def test_a_client_that_never_identifies_is_closed_at_the_line_cap(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path / "d")) as (rc, _api):
        flood = await RawCtp01Client.connect(rc.timing_port)
        await flood.send(b"SimpleClient~1.2.3~CTP01\r\n")  # greets, never answers getconnectionid
        data = b"".join(f"CT01_33~{i}~finish~{i}~09:00:00.00~0~0FA22E~1\r\n".encode() for i in range(20_000))
        try:
            await flood.send(data)
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert await closed_by_server(flood)
        alert = cap_alert(rc, "max_unidentified_lines")
        assert alert is not None and alert["details"]["value"] == 10_000
        # the server is alive: a real client connects and is served
        good = await RawCtp01Client.connect(rc.timing_port)
        await good.handshake("good")
        await good.send(b"ping\r\n")
        await good.until("ack~ping")
        await good.close()
        await flood.close()


# --- a client that never reads -----------------------------------------------------------------
async def test_a_client_that_never_reads_is_closed_at_the_write_cap(tmp_path: Path) -> None:
    cap = 128 * 1024
    async with running(make_settings(tmp_path / "d", max_client_write_buffer=cap)) as (rc, _api):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small, like a stalled device
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", rc.timing_port))
        reader, writer = await asyncio.open_connection(sock=sock)
        client = RawCtp01Client(reader, writer)
        await client.handshake("deaf")
        # from now on it only asks (ping) and never reads the answers (ack~ping)
        sent = 0
        while cap_alert(rc, "max_client_write_buffer") is None and sent < 300_000:
            try:
                writer.write(b"ping\r\n" * 2000)
                await asyncio.wait_for(writer.drain(), 30)
            except (ConnectionResetError, BrokenPipeError):
                break
            sent += 2000
        await until(lambda: cap_alert(rc, "max_client_write_buffer") is not None, "the write cap alert")
        alert = cap_alert(rc, "max_client_write_buffer")
        assert alert is not None and alert["details"]["value"] == cap
        assert await closed_by_server(client)
        good = await RawCtp01Client.connect(rc.timing_port)  # the server is alive
        await good.handshake("good")
        await good.close()
        writer.close()


# --- screens -----------------------------------------------------------------------------------
async def open_screen(api: Api, url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await api.http.ws_connect(url)
    return ws


async def refused_code(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    msg = await ws.receive(timeout=10)
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), msg
    return ws.close_code


async def new_session(api: Api) -> dict[str, Any]:
    event = await api.ok("POST", "/api/events", {"name": "Caps 5K", "date": "2026-06-01"}, 201)
    session: dict[str, Any] = await api.ok(
        "POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201
    )
    return session


async def test_one_screen_over_the_session_cap_gets_close_code_4429(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path / "d", max_screens_per_session=3)) as (rc, api):
        session = await new_session(api)
        url = session["display_url"].replace("http", "ws") + "/ws"
        screens = [await open_screen(api, url) for _ in range(3)]
        for ws in screens:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
        extra = await open_screen(api, url)
        assert await refused_code(extra) == TOO_MANY_SCREENS == 4429
        assert extra.close_code == 4429
        alert = cap_alert(rc, "max_screens_per_session")
        assert alert is not None and alert["details"]["value"] == 3
        # another session is not affected
        other = await new_session(api)
        ws2 = await open_screen(api, other["display_url"].replace("http", "ws") + "/ws")
        assert (await ws2.receive_json(timeout=5))["type"] == "hello"
        for ws in [*screens, extra, ws2]:
            await ws.close()


async def test_one_screen_over_the_address_cap_gets_close_code_4429(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path / "d")) as (rc, api):
        sessions = [await new_session(api), await new_session(api)]
        urls = [s["display_url"].replace("http", "ws") + "/ws" for s in sessions]
        screens = [await open_screen(api, urls[i % 2]) for i in range(50)]  # over both sessions
        for ws in screens:
            assert (await ws.receive_json(timeout=10))["type"] == "hello"
        extra = await open_screen(api, urls[0])
        assert await refused_code(extra) == 4429
        alert = cap_alert(rc, "max_screens_per_address")
        assert alert is not None and alert["details"]["value"] == 50
        assert alert["details"]["who"] == "127.0.0.1"
        for ws in [*screens, extra]:
            await ws.close()


@pytest.mark.browser
async def test_the_page_of_a_refused_screen_says_too_many_screens(tmp_path: Path) -> None:
    from tests.display.browser import chromium  # only the browser tests need Playwright

    async with running(make_settings(tmp_path / "d", max_screens_per_session=1)) as (_rc, api):
        session = await new_session(api)
        first = await open_screen(api, session["display_url"].replace("http", "ws") + "/ws")
        assert (await first.receive_json(timeout=5))["type"] == "hello"
        async with chromium() as browser:
            page = await (await browser.new_context()).new_page()
            await page.goto(session["display_url"])
            await page.wait_for_function("document.body.dataset.connection === 'full'", timeout=15_000)
            banner = page.locator("#rc-banner")
            assert await banner.is_visible()
            assert "too many screens" in (await banner.inner_text()).lower()
        await first.close()


# --- resume replays ----------------------------------------------------------------------------
async def history(tmp_path: Path, n: int) -> tuple[Path, str, str]:
    """A data dir whose display session has ``n`` finishers; (dir, session id, ws url path)."""
    data = tmp_path / "d"
    async with running(make_settings(data)) as (rc, api):
        session, client = await setup_session(api, rc.timing_port)
        await client.send(lines(1, n))
        await wait_last_seq(rc, api, session["id"], n)
        await client.close()
    return data, session["id"], session["display_url"].split("/display/", 1)[1]


async def catch_up(ws: aiohttp.ClientWebSocketResponse, after: int = 0) -> list[int]:
    """Send ``resume after_seq`` and read until ``caught_up``: the finishers' seqs."""
    await ws.send_json({"type": "resume", "after_seq": after})
    seqs = []
    while True:
        msg = await ws.receive_json(timeout=30)
        if msg["type"] == "finisher":
            seqs.append(msg["seq"])
        elif msg["type"] == "caught_up":
            return seqs


def hub_of(rc: RaceControl) -> Hub:
    assert rc.services is not None
    return rc.services.hub


async def test_a_screen_looping_resume_from_zero_does_not_keep_the_store_busy(tmp_path: Path) -> None:
    n = 1200  # > two store pages; after the restart the recent log is empty: replays read the store
    data, session_id, path = await history(tmp_path, n)
    settings = make_settings(data, resume_interval=3600.0)  # its second replay waits (long here)
    async with running(settings) as (rc, api):
        url = f"{rc.http_url.replace('http', 'ws')}/display/{path}/ws"
        hub = hub_of(rc)
        looper = await open_screen(api, url)
        assert (await looper.receive_json(timeout=5))["type"] == "hello"
        assert await catch_up(looper) == list(range(1, n + 1))
        screen = next(s for s in hub.screens(session_id))
        assert screen.store_catchups == 1
        await looper.send_json({"type": "resume", "after_seq": 0})  # again at once
        await until(lambda: screen.resume_from == 0 or screen.store_catchups > 1, "resume #2 read")
        # another screen's replay is answered in full while the looper's waits its turn
        other = await open_screen(api, url)
        assert (await other.receive_json(timeout=5))["type"] == "hello"
        assert await catch_up(other) == list(range(1, n + 1))
        assert screen.store_catchups == 1
        assert hub.store_catchups == 2
        # 98 more: still one pending replay, nothing piles up for it
        pages = hub.store_pages
        for _ in range(97):
            await looper.send_json({"type": "resume", "after_seq": 0})
        await looper.send_json({"type": "resume", "after_seq": 7})
        await until(lambda: screen.resume_from == 7, "the last resume read")
        assert screen.store_catchups == 1 and hub.store_pages == pages
        assert len(screen.buffer) == 0 and screen.queue.qsize() <= 1
        alert = cap_alert(rc, "resume_interval")
        assert alert is not None and alert["details"]["hits"] >= 1
        await looper.close()
        await other.close()


async def test_store_catchups_wait_their_turn(tmp_path: Path) -> None:
    n = 1200
    data, _session_id, path = await history(tmp_path, n)
    async with running(make_settings(data, max_store_catchups=2)) as (rc, api):
        url = f"{rc.http_url.replace('http', 'ws')}/display/{path}/ws"
        screens = [await open_screen(api, url) for _ in range(8)]
        for ws in screens:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
        got = await asyncio.gather(*(catch_up(ws) for ws in screens))
        assert all(seqs == list(range(1, n + 1)) for seqs in got)
        hub = hub_of(rc)
        assert hub.store_pages >= 8 * 3
        assert hub.peak_store_reads <= 2
        assert cap_alert(rc, "max_store_catchups") is not None
        for ws in screens:
            await ws.close()
