"""Screens get only the participant fields their session's template shows.

A real server (in process), a real CTP01 client and a real WebSocket screen.  The roster has
team, age, gender, city and a message for every runner.  The session's custom template shows
name, bib and time only: live finishers and a resume replay carry no team/age/gender (nor city,
message).  Switched to a template that also shows the message and city, later finishers and
replays carry those, still no team/age/gender.  The operator's API keeps every field.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from race_control.app import RaceControl
from race_control.templates.service import template_fields
from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import wait_last_seq

PRIVATE = {"team", "age", "gender"}


def lines(first: int, last: int) -> bytes:
    return b"".join(
        f"CT01_33~{i}~finish~{i}~09:00:{i:02d}.00~0~0FA22E~1\r\n".encode() for i in range(first, last + 1)
    )


def template(name: str, *types: str) -> dict[str, Any]:
    blocks = [{"type": t, "x": 0, "y": 100 * i, "w": 1000, "h": 90} for i, t in enumerate(types)]
    return {"name": name, "mode": "results", "canvas": {"width": 1920, "height": 1080}, "blocks": blocks}


async def finishers(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = await ws.receive_json(timeout=10)
        if msg["type"] == "finisher":
            out.append(msg)
    return out


async def caught_up(ws: aiohttp.ClientWebSocketResponse) -> None:
    while (await ws.receive_json(timeout=10))["type"] != "caught_up":
        pass


async def replay(url: str, api: Api, n: int) -> list[dict[str, Any]]:
    async with api.http.ws_connect(url) as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "hello"
        await ws.send_json({"type": "resume", "after_seq": 0})
        return await finishers(ws, n)


def test_template_fields_of_the_builtin_templates() -> None:
    minimal = template_fields(template("bare", "name"))
    assert not minimal & (PRIVATE | {"city", "message", "division"})
    assert {"type", "seq", "corrects_seq", "bib", "name", "time", "known", "place"} <= minimal
    board = template_fields({"blocks": [{"type": "leaderboard", "division": "F30"}]})
    assert "division" in board and "city" not in board
    assert {"city", "state", "country", "division"} <= template_fields({"blocks": [], "grid": {"x": 0}})


async def test_screens_get_only_the_template_fields(rc: RaceControl, api: Api) -> None:
    event = await api.ok("POST", "/api/events", {"name": "Fields 5K", "date": "2026-06-01"}, 201)
    roster = [
        {"bib": str(b), "first_name": f"R{b}", "last_name": "X", "team": f"Team{b}", "age": 30 + b,
         "gender": "F", "city": "Boulder", "state": "CO", "message": f"Go R{b}!"}
        for b in range(1, 21)
    ]  # fmt: skip
    await api.ok("POST", f"/api/events/{event['id']}/participants", roster)
    bare = await api.ok("POST", "/api/templates", template("Bare", "name", "bib", "time"), 201)
    chatty = await api.ok("POST", "/api/templates", template("Chatty", "name", "message", "city_state"), 201)
    body = {"event_id": event["id"], "mode": "results", "template_id": bare["id"]}
    session = await api.ok("POST", "/api/sessions", body, 201)
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("fields-box")
    streams: list[dict[str, Any]] = []
    while not streams:
        streams = await api.ok("GET", "/api/timing/sessions")
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": streams[0]["id"]})
    url = session["display_url"].replace("http", "ws") + "/ws"

    async with api.http.ws_connect(url) as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "hello"
        await ws.send_json({"type": "resume", "after_seq": 0})
        await caught_up(ws)  # from here on, finishers reach this screen live
        await client.send(lines(1, 3))
        live = await finishers(ws, 3)
    assert [m["name"] for m in live] == ["R1 X", "R2 X", "R3 X"]
    for m in live:
        assert not m.keys() & (PRIVATE | {"city", "message"}), m
    await client.send(lines(4, 5))
    await wait_last_seq(rc, api, session["id"], 5)
    for m in await replay(url, api, 5):  # the resume replay is filtered too
        assert not m.keys() & (PRIVATE | {"city", "message"}), m

    # the operator still has everything
    stored = await api.ok("GET", f"/api/sessions/{session['id']}/finishers")
    rows = stored if isinstance(stored, list) else stored.get("finishers", stored.get("items"))
    assert any(r.get("team") == "Team1" and r.get("age") == 31 for r in rows), rows[:1]

    async with api.http.ws_connect(url) as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "hello"
        await ws.send_json({"type": "resume", "after_seq": 5})
        await caught_up(ws)
        await api.ok("PATCH", f"/api/sessions/{session['id']}", {"template_id": chatty["id"]})
        await client.send(lines(6, 7))
        later = await finishers(ws, 2)
    for m in later:
        assert m["message"] == f"Go R{m['seq']}!" and m["city"] == "Boulder", m
        assert not m.keys() & PRIVATE, m
    # a new screen's replay after the switch: the new template's fields, for old finishers too
    again = await replay(url, api, 7)
    assert [m["message"] for m in again] == [f"Go R{b}!" for b in range(1, 8)]
    for m in again:
        assert not m.keys() & PRIVATE, m
    await client.close()
