"""Pausing, resuming and re-speeding a replay (PATCH /api/sessions/{id}/replay), and the replay
state every screen's ``hello`` carries (docs/history.md#replay, docs/display-protocol.md)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from race_control.app import RaceControl
from tests.conftest import Api
from tests.replay.race import new_session, shown, stored_race
from tests.replay.test_replay import finishers, wait_replay


async def played_at_least(api: Api, path: str, n: int, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await api.ok("GET", path)
        if r["played"] >= n:
            return dict(r)
        assert r["state"] == "running" and time.monotonic() < deadline, r
        await asyncio.sleep(0.02)


async def hello_of(api: Api, display_url: str) -> dict[str, Any]:
    async with api.http.ws_connect(display_url.replace("http", "ws") + "/ws") as ws:
        hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello"
    return dict(hello)


async def test_a_paused_replay_sends_nothing_and_resumes_from_the_same_read_without_a_burst(
    rc: RaceControl, api: Api, tmp_path
) -> None:
    stream = await stored_race(api, tmp_path, span=60)  # 40 bibs 1.5 s apart: 0.3 s apart at 5x
    live = await new_session(api)
    await api.ok("POST", f"/api/sessions/{live['id']}/timing", {"timing_session_id": stream})
    target = await new_session(api, live["event_id"])
    path = f"/api/sessions/{target['id']}/replay"
    async with api.http.ws_connect(target["display_url"].replace("http", "ws") + "/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await ws.send_json({"type": "resume", "after_seq": 0, "screen_id": "tv-1"})
        await api.ok("POST", path, {"timing_session_id": stream, "speed": 5}, 202)
        await played_at_least(api, path, 6)
        paused = await api.ok("PATCH", path, {"paused": True})
        assert paused["paused"] is True and paused["state"] == "running"
        assert paused["eta_seconds"] is not None and paused["eta_seconds"] > 3
        # the screen was told (the REPLAY badge says paused); then nothing more arrives
        got: list[dict[str, Any]] = []
        while True:
            m = await ws.receive_json(timeout=5)
            if m["type"] == "replay" and m["replay"]["paused"]:  # after the one it started with
                assert m["replay"] == {"replay_id": paused["replay_id"], "speed": 5.0, "paused": True}
                break
            got.append(m)
        before = len([m for m in got if m["type"] == "finisher"])
        during: list[dict[str, Any]] = []
        quiet_until = time.monotonic() + 1.5  # 1.5 s at 5x: ~5 bibs if it kept going
        while (left := quiet_until - time.monotonic()) > 0:
            try:
                during.append(await ws.receive_json(timeout=left))
            except TimeoutError:
                break
        assert not [m for m in during if m["type"] in ("finisher", "correction")], during
        held = await api.ok("GET", path)
        assert (held["played"], held["eta_seconds"], held["percent"]) == (
            paused["played"],
            paused["eta_seconds"],
            paused["percent"],
        )
        assert held["paused"] is True
        resumed = await api.ok("PATCH", path, {"paused": False})
        assert resumed["paused"] is False and resumed["played"] == paused["played"]
        await asyncio.sleep(0.15)
        after = await api.ok("GET", path)
        # re-anchored: ~0.5 bibs due in 0.15 s, not the ~5 of the paused 1.5 s at once
        assert after["played"] - paused["played"] <= 3, (paused["played"], after["played"])
        done = await wait_replay(api, target["id"])
    assert before >= 1 and done["finishers"] == 41
    # the same crossings as the live session showed: nothing skipped, nothing twice
    assert shown(await finishers(api, target["id"])) == shown(await finishers(api, live["id"]))


async def test_speed_can_change_while_it_runs(rc: RaceControl, api: Api, tmp_path) -> None:
    stream = await stored_race(api, tmp_path, span=2 * 3600)  # 72 s even at 100x
    target = await new_session(api)
    path = f"/api/sessions/{target['id']}/replay"
    await api.ok("POST", path, {"timing_session_id": stream, "speed": 100}, 202)
    await played_at_least(api, path, 1)
    slow = await api.ok("GET", path)
    assert slow["eta_seconds"] > 30  # two hours at 100x
    fast = await api.ok("PATCH", path, {"speed": 0})
    assert fast["speed"] == 0
    began = time.monotonic()
    done = await wait_replay(api, target["id"], timeout=10)
    assert time.monotonic() - began < 5 and done["finishers"] == 41 and done["eta_seconds"] is None


async def test_patch_bad_bodies_are_400_naming_the_field_and_change_nothing(
    rc: RaceControl, api: Api, tmp_path
) -> None:
    stream = await stored_race(api, tmp_path, span=60)
    target = await new_session(api)
    path = f"/api/sessions/{target['id']}/replay"
    status, body = await api.call("PATCH", path, {"paused": True})
    assert status == 404 and "no replay" in body["error"]  # none started yet
    for bad in ({"speed": float("nan")}, {"paused": "yes"}, [1]):  # the body is checked first
        status, body = await api.call("PATCH", path, raw=json.dumps(bad).encode())
        assert status == 400, (bad, status, body)
    await api.ok("POST", path, {"timing_session_id": stream, "speed": 1}, 202)
    cases: list[tuple[Any, str]] = [
        ([], "JSON object"),
        ({}, "'paused'"),
        ({"paused": "yes"}, "'paused'"),
        ({"paused": 1}, "'paused'"),
        ({"paused": None}, "'paused'"),
        ({"speed": 1000}, "'speed'"),
        ({"speed": "2"}, "'speed'"),
        ({"paused": True, "speed": -1}, "'speed'"),  # the pause is not applied either
        ({"paused": True, "loop": True}, "unknown field"),
    ]
    for bad, needle in cases:
        status, answer = await api.call("PATCH", path, bad)
        assert status == 400 and needle in answer["error"], (bad, status, answer)
    status, answer = await api.call("PATCH", path, raw=b"{not json")
    assert status == 400, answer
    now = await api.ok("GET", path)
    assert now["paused"] is False and now["speed"] == 1 and now["state"] == "running"
    status, answer = await api.call("PATCH", "/api/sessions/nope/replay", {"paused": True})
    assert status == 404
    await api.ok("DELETE", path)
    status, answer = await api.call("PATCH", path, {"paused": False})
    assert status == 409 and "not running" in answer["error"]


async def test_a_screen_that_connects_mid_replay_is_told_in_its_hello(
    rc: RaceControl, api: Api, tmp_path
) -> None:
    stream = await stored_race(api, tmp_path, span=120)
    target = await new_session(api)
    path = f"/api/sessions/{target['id']}/replay"
    assert (await hello_of(api, target["display_url"]))["replay"] is None
    started = await api.ok("POST", path, {"timing_session_id": stream, "speed": 2}, 202)
    hello = await hello_of(api, target["display_url"])
    assert hello["replay"] == {"replay_id": started["replay_id"], "speed": 2.0, "paused": False}
    await api.ok("PATCH", path, {"paused": True, "speed": 4})
    hello = await hello_of(api, target["display_url"])
    assert hello["replay"] == {"replay_id": started["replay_id"], "speed": 4.0, "paused": True}
    async with api.http.ws_connect(target["display_url"].replace("http", "ws") + "/ws") as ws:
        assert (await ws.receive_json(timeout=5))["replay"]["paused"] is True
        await api.ok("DELETE", path)
        while (m := await ws.receive_json(timeout=5))["type"] != "replay":
            pass
        assert m["replay"] is None  # connected screens are told it ended
    assert (await hello_of(api, target["display_url"]))["replay"] is None
    # another session's screens never hear of it
    other = await new_session(api)
    await api.ok(
        "POST", f"/api/sessions/{other['id']}/replay", {"timing_session_id": stream, "speed": 2}, 202
    )
    assert (await hello_of(api, target["display_url"]))["replay"] is None
    assert (await hello_of(api, other["display_url"]))["replay"]["speed"] == 2.0


async def test_closing_the_session_ends_a_paused_replay(rc: RaceControl, api: Api, tmp_path) -> None:
    stream = await stored_race(api, tmp_path, span=60)
    target = await new_session(api)
    path = f"/api/sessions/{target['id']}/replay"
    await api.ok("POST", path, {"timing_session_id": stream, "speed": 1}, 202)
    await api.ok("PATCH", path, {"paused": True})
    await api.ok("DELETE", f"/api/sessions/{target['id']}")  # close it
    ended = await wait_replay(api, target["id"], state="stopped", timeout=5)
    assert ended["reason"] == "the display session was closed" and ended["paused"] is False
