"""Operator actions on a display session, seen from the API and from a screen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from race_control.app import RaceControl
from tests.conftest import Api, make_settings
from tests.display.test_resume import finishers, lines, setup_session
from tests.helpers.live_app import drain_until, running, wait_last_seq


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive_json(timeout=5)
        if msg["type"] == kind:
            return msg


async def test_rule_change_reruns_stored_reads_and_logs_suppressions(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    sid = session["id"]
    await api.ok("PATCH", f"/api/sessions/{sid}", {"rules": {"duplicate_window": 3600}})
    ws_url = session["display_url"].replace("http", "ws") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        await ws.receive_json(timeout=5)
        # bib 1 three times, 61 s apart: one crossing under a one-hour window
        await client.send(
            b"CT01_33~1~finish~1~09:00:00.00~0~0FA22E~1\r\n"
            b"CT01_33~2~finish~1~09:01:01.00~0~0FA22E~1\r\n"
            b"CT01_33~3~finish~1~09:02:02.00~0~0FA22E~1\r\n"
        )
        assert [m["seq"] for m in await finishers(ws, 1)] == [1]
        assert rc.services is not None
        await rc.services.pipeline.drain()
        log = await api.ok("GET", f"/api/sessions/{sid}/suppressions?bib=1")
        assert len(log) == 2 and all("duplicate" in e["reason"] for e in log)
        # a 60 s window turns the other two into crossings: announced now, with new seqs
        changed = await api.ok("PATCH", f"/api/sessions/{sid}", {"rules": {"duplicate_window": 60}})
        assert changed["rerun"] == {
            "crossings": 3,
            "newly_shown": 2,
            "shown_before_but_not_now": 0,
            "suppressed": 0,
        }
        assert [m["seq"] for m in await finishers(ws, 2)] == [2, 3]
        assert await api.ok("GET", f"/api/sessions/{sid}/suppressions") == []
        got, body = await api.call("PATCH", f"/api/sessions/{sid}", {"rules": {"duplicate_window": "soon"}})
        assert got == 400 and "duplicate_window" in body["error"]
        assert (await api.ok("GET", f"/api/sessions/{sid}"))["rules"]["duplicate_window"] == 60
    await client.close()


async def test_unknown_bib_is_corrected_when_the_roster_learns_it(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    ws_url = session["display_url"].replace("http", "ws") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        await ws.receive_json(timeout=5)
        await client.send(b"CT01_33~1~finish~777~09:00:00.00~0~0FA22E~1\r\n")
        first = (await finishers(ws, 1))[0]
        assert (first["name"], first["known"]) == ("Bib 777", False)
        assert (await api.ok("GET", f"/api/sessions/{session['id']}"))["unknown_bibs"] == ["777"]
        await api.ok(
            "POST",
            f"/api/events/{session['event_id']}/participants",
            [{"bib": "777", "first_name": "Walk", "last_name": "Up", "city": "Late Town"}],
        )
        fix = await next_of(ws, "correction")
        assert (fix["seq"], fix["corrects_seq"], fix["name"], fix["known"]) == (2, 1, "Walk Up", True)
        assert fix["time"] == first["time"] and fix["city"] == "Late Town"
    await client.close()


async def test_pre_race_switches_on_first_finisher_and_by_hand(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    sid = session["id"]
    await api.ok("PATCH", f"/api/sessions/{sid}", {"mode": "pre-race", "starts_at": 1_900_000_000})
    ws_url = session["display_url"].replace("http", "ws") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["session"]["mode"] == "pre-race" and hello["session"]["starts_at"] == 1_900_000_000_000
        await client.send(lines(1, 1))
        switched = await next_of(ws, "mode")
        assert switched == {"type": "mode", "mode": "results", "by": "first finisher"}
        state = await api.ok("GET", f"/api/sessions/{sid}")
        assert state["mode"] == "results" and state["mode_changed_by"] == "first finisher"
        await api.ok("PATCH", f"/api/sessions/{sid}", {"mode": "pre-race"})
        assert (await next_of(ws, "mode"))["by"] == "operator"
        reload = await api.ok("POST", f"/api/sessions/{sid}/screens/reload")
        assert reload == {"reloaded": 1}
        await next_of(ws, "reload")
    await client.close()


async def test_closed_session_answers_410_and_disconnects_screens(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    bind = f"/api/sessions/{session['id']}/timing"
    (stream,) = await api.ok("GET", "/api/timing/sessions")
    got, body = await api.call("POST", bind, {"timing_session_id": "no-such-stream"})
    assert got == 404 and "no-such-stream" in body["error"]
    got, body = await api.call(
        "POST", "/api/sessions/no-such-session/timing", {"timing_session_id": stream["id"]}
    )
    assert got == 404 and "no-such-session" in body["error"]
    ws_url = session["display_url"].replace("http", "ws") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        await ws.receive_json(timeout=5)
        closed = await api.ok("DELETE", f"/api/sessions/{session['id']}")
        assert closed["status"] == "closed"
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    async with api.http.get(session["display_url"]) as r:
        assert r.status == 410 and "ended" in await r.text()
    # a stream that exists, on a session that is closed: only the closed session is wrong
    got, body = await api.call("POST", bind, {"timing_session_id": stream["id"]})
    assert got == 409 and "closed" in body["error"], (got, body)
    got, body = await api.call("PATCH", f"/api/sessions/{session['id']}", {"name": "again"})
    assert got == 409 and "closed" in body["error"]
    await client.close()


async def test_timing_stream_clock_settings_and_far_from_now_warning(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    stream = (await api.ok("GET", "/api/timing/sessions"))[0]
    got, body = await api.call("PATCH", f"/api/timing/sessions/{stream['id']}", {"timezone": "Mars/Olympus"})
    assert got == 400 and "time zone" in body["error"]
    got, body = await api.call(
        "PATCH", f"/api/timing/sessions/{stream['id']}", {"reference_date": "2026-02-30"}
    )
    assert got == 400 and "reference_date" in body["error"]
    updated = await api.ok(
        "PATCH",
        f"/api/timing/sessions/{stream['id']}",
        {"timezone": "Europe/Berlin", "reference_date": "2021-05-08"},
    )
    assert (updated["timezone"], updated["reference_date"]) == ("Europe/Berlin", "2021-05-08")
    await client.send(lines(1, 1))  # a 2021 read arriving live today: years from now
    path = f"/api/timing/sessions/{stream['id']}"
    stream = await drain_until(rc, lambda: api.ok("GET", path), lambda s: s["clock_warnings"])
    assert stream["clock_warnings"] == 1 and "behind this computer's clock" in stream["last_clock_warning"]
    del session
    await client.close()


async def test_places_leaderboard_and_screen_switch(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    sid = session["id"]
    await api.ok(
        "POST",
        f"/api/events/{session['event_id']}/participants",
        [
            {"bib": "1", "first_name": "A", "last_name": "One", "division": "F30-39"},
            {"bib": "2", "first_name": "B", "last_name": "Two", "division": "M30-39"},
            {"bib": "3", "first_name": "C", "last_name": "Three", "division": "F30-39"},
        ],
    )
    got, body = await api.call("PATCH", f"/api/sessions/{sid}", {"leaderboard_top": 500})
    assert got == 400 and "leaderboard_top" in body["error"]
    await api.ok(
        "PATCH",
        f"/api/sessions/{sid}",
        {"leaderboard_top": 5, "rules": {"waves": {"A": "09:00:00"}, "duplicate_window": 30}},
    )
    await api.ok(
        "POST",
        f"/api/events/{session['event_id']}/participants",
        [
            {"bib": b, "first_name": n, "last_name": "X", "wave": "A", "division": d}
            for b, n, d in (("1", "A", "F30-39"), ("2", "B", "M30-39"), ("3", "C", "F30-39"))
        ],
    )
    other = await api.ok("POST", "/api/sessions", {"event_id": session["event_id"], "mode": "results"}, 201)
    ws_url = session["display_url"].replace("http", "ws") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        await ws.receive_json(timeout=5)
        await client.send(
            b"CT01_33~1~finish~2~09:30:00.00~0~0FA22E~1\r\n"  # 30:00
            b"CT01_33~2~finish~1~09:25:00.40~0~0FA22E~1\r\n"  # 25:00.40 (shown 25:01), arrives later
            b"CT01_33~3~finish~3~09:40:00.00~0~0FA22E~1\r\n"  # 40:00
        )
        got_f = await finishers(ws, 3)
        assert [(m["bib"], m["place"], m["division_place"]) for m in got_f] == [
            ("2", 1, 1),
            ("1", 1, 1),
            ("3", 3, 2),
        ]
        board = await next_of(ws, "leaderboard")
        assert [(e["place"], e["bib"], e["time"]) for e in board["entries"]] == [
            (1, "1", "25:01"),  # 25:00.40 rounds up, as results are published
            (2, "2", "30:00"),
            (3, "3", "40:00"),
        ]
        assert [e["bib"] for e in board["divisions"]["F30-39"]] == ["1", "3"]
        switched = await api.ok("POST", f"/api/sessions/{sid}/screens/switch", {"to_session_id": other["id"]})
        assert switched["switched"] == 1
        msg = await next_of(ws, "switch")
        assert msg["url"] == "/display/" + other["display_url"].rsplit("/", 1)[1]
    got, body = await api.call("POST", f"/api/sessions/{sid}/screens/switch", {"to_session_id": "nope"})
    assert got == 404
    await client.close()


async def test_gun_time_reaches_the_screens_race_clock(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    stream = (await api.ok("GET", "/api/timing/sessions"))[0]
    await api.ok(
        "PATCH", f"/api/timing/sessions/{stream['id']}", {"timezone": "UTC", "reference_date": "2026-06-01"}
    )
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        assert (await ws.receive_json(timeout=5))["session"]["gun_at"] is None
        await client.send(b"CT01_33~1~start~guntime~08:00:55.16~0~DF239A~0\r\n")
        update = await next_of(ws, "session")
        # 2026-06-01 08:00:55.16 UTC
        assert update["session"]["gun_at"] == 1780300855160
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        assert (await ws.receive_json(timeout=5))["session"]["gun_at"] == 1780300855160
    await client.close()


def just_past_midnight() -> ZoneInfo:
    """A zone where it is between 00:00 and 01:00 now: whole-hour offsets cover 27 hours."""
    for hours in range(-12, 15):
        zone = ZoneInfo(f"Etc/GMT{-hours:+d}")  # POSIX signs: Etc/GMT-3 is three hours ahead of UTC
        if dt.datetime.now(zone).hour == 0:
            return zone
    raise AssertionError("no whole-hour zone is in its first hour now")


@pytest.mark.parametrize("race_day", [True, False], ids=["dated-the-race-day", "dated-after-midnight"])
async def test_a_race_run_across_midnight_shows_its_times(rc: RaceControl, api: Api, race_day: bool) -> None:
    """A New Year's Eve run: the gun goes at 23:50, runners finish after midnight (bare times
    of day, CTP01 ``normal``).  Whether the stream is dated the race day or, made after midnight,
    the next day, the gun is the evening before and each finish time is finish - gun."""
    zone = just_past_midnight()
    now = dt.datetime.now(zone)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = midnight.date() - dt.timedelta(days=1 if race_day else 0)
    session, client = await setup_session(api, rc.timing_port)
    stream = (await api.ok("GET", "/api/timing/sessions"))[0]
    await api.ok(
        "PATCH",
        f"/api/timing/sessions/{stream['id']}",
        {"timezone": zone.key, "reference_date": day.isoformat()},
    )
    finish = max(now - dt.timedelta(seconds=2), midnight + dt.timedelta(seconds=1)).replace(microsecond=0)
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        await ws.receive_json(timeout=5)
        await client.send(b"CT01_33~1~start~guntime~23:50:00.00~0~DF239A~0\r\n")
        gun = midnight - dt.timedelta(minutes=10)
        assert (await next_of(ws, "session"))["session"]["gun_at"] == round(gun.timestamp() * 1000)
        await client.send(f"CT01_33~2~finish~7~{finish:%H:%M:%S}.00~0~0FA22E~1\r\n".encode())
        (shown,) = await finishers(ws, 1)
    hours, seconds = divmod(int((finish - gun).total_seconds()), 3600)  # 10 to 70 minutes
    want = (
        f"{hours}:{seconds // 60:02d}:{seconds % 60:02d}" if hours else f"{seconds // 60}:{seconds % 60:02d}"
    )
    assert shown["bib"] == "7" and shown["time"] == want, (shown, finish)
    path = f"/api/timing/sessions/{stream['id']}"
    assert (await api.ok("GET", path))["clock_warnings"] == 0  # the finish is now, not a day off
    await client.close()


async def test_closing_by_patch_disconnects_and_new_sockets_hear_4410(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    ws_url = session["display_url"].replace("http", "ws") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        await ws.receive_json(timeout=5)
        await api.ok("PATCH", f"/api/sessions/{session['id']}", {"status": "closed"})
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with api.http.ws_connect(ws_url) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4410
    await client.close()


async def test_unknown_bibs_are_still_corrected_after_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (first, api):
        session, client = await setup_session(api, first.timing_port, "restart-unknown")
        await client.send(b"CT01_33~1~finish~888~09:00:00.00~0~0FA22E~1\r\n")
        await wait_last_seq(first, api, session["id"], 1)
        await client.close()
    async with running(settings) as (_, api):
        again = await api.ok("GET", f"/api/sessions/{session['id']}")
        assert again["unknown_bibs"] == ["888"]
        async with api.http.ws_connect(again["display_url"].replace("http", "ws") + "/ws") as ws:
            await ws.receive_json(timeout=5)
            await api.ok(
                "POST",
                f"/api/events/{session['event_id']}/participants",
                [{"bib": "888", "first_name": "Late", "last_name": "Entry"}],
            )
            fix = await next_of(ws, "correction")
            assert (fix["corrects_seq"], fix["name"]) == (1, "Late Entry")
