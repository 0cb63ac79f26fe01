"""Screens never miss a finisher: live delivery, resume after a drop, resume after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from race_control.app import RaceControl
from tests.conftest import Api, make_settings
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import running, wait_last_seq


async def setup_session(
    api: Api, timing_port: int, conn_id: str = "c1"
) -> tuple[dict[str, Any], RawCtp01Client]:
    event = await api.ok("POST", "/api/events", {"name": "Resume 10K", "date": "2026-06-01"}, 201)
    await api.ok(
        "POST",
        f"/api/events/{event['id']}/participants",
        [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "X"} for b in range(1, 51)],
    )
    session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
    client = await RawCtp01Client.connect(timing_port)
    await client.handshake(conn_id)
    streams = []
    while not streams:
        streams = await api.ok("GET", "/api/timing/sessions")
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": streams[0]["id"]})
    return session, client


def lines(first: int, last: int) -> bytes:
    return b"".join(
        f"CT01_33~{i}~finish~{i}~09:{i // 60:02d}:{i % 60:02d}.00~0~0FA22E~1\r\n".encode()
        for i in range(first, last + 1)
    )


async def finishers(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = await ws.receive_json(timeout=5)
        if msg["type"] == "finisher":
            out.append(msg)
    return out


async def test_resume_after_a_dropped_connection(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    ws_url = session["display_url"].replace("http", "ws") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await client.send(lines(1, 10))
        got = await finishers(ws, 10)
        assert [m["seq"] for m in got] == list(range(1, 11))
    # the screen is gone while 15 more runners finish
    await client.send(lines(11, 25))
    assert rc.services is not None
    await rc.services.pipeline.drain()
    async with api.http.ws_connect(ws_url) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["last_seq"] == 25
        await ws.send_json({"type": "resume", "after_seq": 10, "screen_id": "tv-1", "viewport": [1920, 1080]})
        await client.send(lines(26, 30))  # live reads race with the replay
        got = await finishers(ws, 20)
        assert [m["seq"] for m in got] == list(range(11, 31))
        assert [m["name"] for m in got[:2]] == ["Runner11 X", "Runner12 X"]
        screens = await api.ok("GET", f"/api/sessions/{session['id']}/screens")
        assert screens[0]["screen_id"] == "tv-1" and screens[0]["viewport"] == [1920, 1080]
    await client.close()


async def test_resume_after_a_server_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (first, api):
        session, client = await setup_session(api, first.timing_port, "restart-conn")
        await client.send(lines(1, 12))
        await wait_last_seq(first, api, session["id"], 12)
        await client.close()

    async with running(settings) as (second, api):
        again = await api.ok("GET", f"/api/sessions/{session['id']}")
        assert again["last_seq"] == 12 and again["timing_session_ids"]
        ws_url = again["display_url"].replace("http", "ws") + "/ws"
        async with api.http.ws_connect(ws_url) as ws:
            await ws.receive_json(timeout=5)
            await ws.send_json({"type": "resume", "after_seq": 4})
            got = await finishers(ws, 8)
            assert [m["seq"] for m in got] == list(range(5, 13))
            # the same ChronoTrack connection id resumes where the store left off
            client = await RawCtp01Client.connect(second.timing_port)
            starts = await client.handshake("restart-conn")
            assert starts == ["start~finish~12"]
            await client.send(lines(12, 14))  # 12 again (inclusive resend), then new ones
            got = await finishers(ws, 2)
            assert [(m["seq"], m["bib"]) for m in got] == [(13, "13"), (14, "14")]
            await client.close()
