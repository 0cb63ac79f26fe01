"""Replaying a stored stream into a display session (docs/history.md#replay), through the API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from race_control.app import RaceControl
from tests.conftest import Api
from tests.replay.race import new_session, shown, stored_race


async def wait_replay(api: Api, sid: str, state: str = "finished", timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await api.ok("GET", f"/api/sessions/{sid}/replay")
        if r["state"] == state:
            return dict(r)
        assert r["state"] == "running", r
        assert time.monotonic() < deadline, r
        await asyncio.sleep(0.02)


async def finishers(api: Api, sid: str) -> list[dict[str, Any]]:
    return list(await api.ok("GET", f"/api/sessions/{sid}/finishers"))


async def test_replay_at_50x_shows_what_live_shows_in_a_fiftieth_of_the_span(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    stream = await stored_race(api, tmp_path, span=60)
    live = await new_session(api)
    await api.ok("POST", f"/api/sessions/{live['id']}/timing", {"timing_session_id": stream})
    target = await new_session(api, live["event_id"])
    before = await api.ok("GET", f"/api/timing/sessions/{stream}")

    began = time.monotonic()
    started = await api.ok(
        "POST", f"/api/sessions/{target['id']}/replay", {"timing_session_id": stream, "speed": 50}, 202
    )
    assert started["replay_id"] and started["state"] == "running" and started["total"] == 51
    done = await wait_replay(api, target["id"])
    took = time.monotonic() - began
    assert 60 / 100 <= took <= 60 / 10, took  # about 1.2 s: a fiftieth of the 60 s race

    expected = shown(await finishers(api, live["id"]))
    got = await finishers(api, target["id"])
    assert len(expected) == 41 and shown(got) == expected  # 40 bibs + bib 5 again; duplicates suppressed
    assert all(e["replay"] is True for e in got)
    assert (done["played"], done["total"], done["finishers"], done["suppressed"]) == (51, 51, 41, 10)
    assert done["replay_clock"] == "09:01:00"
    session = await api.ok("GET", f"/api/sessions/{target['id']}")
    assert (session["finishers"], session["suppressed"], session["timing_session_ids"]) == (41, 10, [])
    # the stored stream is only read: its counters and clock warnings are as they were
    assert await api.ok("GET", f"/api/timing/sessions/{stream}") == before


async def test_a_screen_on_a_websocket_sees_replayed_finishers_marked(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    stream = await stored_race(api, tmp_path, span=30)
    target = await new_session(api)
    ws_url = target["display_url"].replace("http", "ws") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await ws.send_json({"type": "resume", "after_seq": 0, "screen_id": "tv-1"})
        await api.ok(
            "POST", f"/api/sessions/{target['id']}/replay", {"timing_session_id": stream, "speed": 0}, 202
        )
        got: list[dict[str, Any]] = []
        while len(got) < 41:
            m = await ws.receive_json(timeout=10)
            if m.get("type") == "finisher":
                got.append(m)
    assert [m["bib"] for m in got[:3]] == ["1", "2", "3"]
    assert all(m["replay"] is True for m in got)
    assert all(abs(m["read_at"] / 1000 - time.time()) < 30 for m in got)  # the replay's moment, not race day


async def test_speed_0_is_as_fast_as_possible(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    stream = await stored_race(api, tmp_path, span=2 * 3600)  # at 100x still 72 s
    target = await new_session(api)
    began = time.monotonic()
    await api.ok(
        "POST", f"/api/sessions/{target['id']}/replay", {"timing_session_id": stream, "speed": 0}, 202
    )
    done = await wait_replay(api, target["id"], timeout=10)
    assert time.monotonic() - began < 5 and done["finishers"] == 41


async def test_from_to_window_plays_only_the_reads_inside(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    stream = await stored_race(api, tmp_path, span=400)  # bib b at 09:00:00 + (b-1)*10 s
    target = await new_session(api)
    body = {"timing_session_id": stream, "speed": 0, "from": "09:01:00", "to": "09:02:00"}
    started = await api.ok("POST", f"/api/sessions/{target['id']}/replay", body, 202)
    assert (started["from"], started["to"], started["total"]) == (
        "09:01:00",
        "09:02:00",
        11,
    )  # 7 bibs, 4 of them re-read
    await wait_replay(api, target["id"])
    assert [b for b, _t, _n in shown(await finishers(api, target["id"]))] == [str(b) for b in range(7, 14)]


async def test_delete_stops_it_mid_way(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    stream = await stored_race(api, tmp_path, span=60)
    target = await new_session(api)
    path = f"/api/sessions/{target['id']}/replay"
    status, body = await api.call("DELETE", path)
    assert status == 404 and "no replay" in body["error"]
    await api.ok("POST", path, {"timing_session_id": stream, "speed": 2}, 202)
    status, body = await api.call("POST", path, {"timing_session_id": stream, "speed": 2})
    assert status == 409 and "already replaying" in body["error"]  # one replay per session
    while (await api.ok("GET", path))["played"] < 3:
        await asyncio.sleep(0.05)
    stopped = await api.ok("DELETE", path)
    assert stopped["state"] == "stopped" and 3 <= stopped["played"] < stopped["total"]
    await asyncio.sleep(1.5)  # at 2x, 1.5 s would have played ~2 more bibs
    after = await api.ok("GET", path)
    assert after["played"] == stopped["played"]
    assert len(await finishers(api, target["id"])) == stopped["finishers"]
    status, body = await api.call("DELETE", path)
    assert status == 409 and "not running" in body["error"]
    # a new replay may start once the last one stopped
    await api.ok("POST", path, {"timing_session_id": stream, "speed": 0}, 202)


async def test_a_stream_bound_live_is_refused(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    stream = await stored_race(api, tmp_path, span=60)
    live = await new_session(api)
    await api.ok("POST", f"/api/sessions/{live['id']}/timing", {"timing_session_id": stream})
    status, body = await api.call(
        "POST", f"/api/sessions/{live['id']}/replay", {"timing_session_id": stream, "speed": 0}
    )
    assert status == 409 and "bound" in body["error"] and stream in body["error"]
    assert len(await finishers(api, live["id"])) == 41  # nothing shown twice


async def test_bad_bodies_are_400_naming_the_field(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    stream = await stored_race(api, tmp_path, span=10)
    target = await new_session(api)
    path = f"/api/sessions/{target['id']}/replay"
    cases: list[tuple[Any, str]] = [
        ([], "JSON object"),
        ({"speed": 1}, "'timing_session_id'"),
        ({"timing_session_id": 7}, "'timing_session_id'"),
        ({"timing_session_id": stream, "speed": -1}, "'speed'"),
        ({"timing_session_id": stream, "speed": 0.2}, "'speed'"),
        ({"timing_session_id": stream, "speed": 1000}, "'speed'"),
        ({"timing_session_id": stream, "speed": "50"}, "'speed'"),
        ({"timing_session_id": stream, "speed": True}, "'speed'"),
        ({"timing_session_id": stream, "from": "9am"}, "'from'"),
        ({"timing_session_id": stream, "to": "24:00:00"}, "'to'"),
        ({"timing_session_id": stream, "from": 32400}, "'from'"),
        ({"timing_session_id": stream, "from": "10:00:00", "to": "09:00:00"}, "'from'"),
        ({"timing_session_id": stream, "loop": True}, "unknown field"),
    ]
    for body, needle in cases:
        status, answer = await api.call("POST", path, body)
        assert status == 400 and needle in answer["error"], (body, status, answer)
    for raw in (b'{"timing_session_id": "x", "speed": NaN}', b'{"timing_session_id": "x", "speed": 1e999}'):
        status, answer = await api.call("POST", path, raw=raw)
        assert status == 400, (raw, status, answer)
    status, answer = await api.call("POST", path, {"timing_session_id": "nope"})
    assert status == 404 and "'nope'" in answer["error"]
    status, answer = await api.call("POST", "/api/sessions/nope/replay", {"timing_session_id": stream})
    assert status == 404
    status, answer = await api.call("GET", path)
    assert status == 404  # nothing was started by any of them


async def test_closing_the_session_ends_its_replay_and_a_closed_one_refuses(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    stream = await stored_race(api, tmp_path, span=60)
    target = await new_session(api)
    path = f"/api/sessions/{target['id']}/replay"
    await api.ok("POST", path, {"timing_session_id": stream, "speed": 2}, 202)
    while (await api.ok("GET", path))["played"] < 1:
        await asyncio.sleep(0.05)
    await api.ok("DELETE", f"/api/sessions/{target['id']}")  # close it
    ended = await wait_replay(api, target["id"], state="stopped", timeout=10)
    assert ended["reason"] == "the display session was closed" and ended["played"] < ended["total"]
    status, body = await api.call("POST", path, {"timing_session_id": stream, "speed": 0})
    assert status == 409 and "closed" in body["error"]
