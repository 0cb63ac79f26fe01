"""GET /api/alerts and acknowledging, against the real server: real WebSocket screens that drop,
a real CTP01 client, a database really locked by another connection, the real disk's free space.

Thresholds that are minutes in a race (30 s for a lost screen, 120 s of silence) are set short on
the running instance's hub and monitor; the checks themselves are the real ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.test_resume import finishers, lines, setup_session

PATIENCE = 30.0  # seconds: generous waits for a condition, never a timing assertion


async def wait_alerts(
    api: Api, cond: Callable[[list[dict[str, Any]]], object], what: str, query: str = ""
) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        listed = await api.ok("GET", "/api/alerts" + query)
        if cond(listed):
            return listed
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}: {listed}"
        await asyncio.sleep(0.05)


def of_kind(listed: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [a for a in listed if a["kind"] == kind]


async def screen(api: Api, session: dict[str, Any], screen_id: str) -> aiohttp.ClientWebSocketResponse:
    ws = await api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws")
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.send_json({"type": "resume", "after_seq": 0, "screen_id": screen_id, "viewport": [1920, 1080]})
    return ws


async def test_a_screen_that_drops_is_listed_lost_and_stays_listed_until_acknowledged(
    rc: RaceControl, api: Api
) -> None:
    assert rc.services is not None
    rc.services.hub.lost_after = 0.3
    event = await api.ok("POST", "/api/events", {"name": "Lost 5K", "date": "2026-06-01"}, 201)
    session = await api.ok(
        "POST", "/api/sessions", {"event_id": event["id"], "name": "Finish TV", "mode": "results"}, 201
    )
    ws = await screen(api, session, "tv0000001")
    hub = rc.services.hub
    await wait_alerts(api, lambda _: [s.screen_id for s in hub.screens()] == ["tv0000001"], "the screen")
    await ws.close()

    listed = await wait_alerts(api, lambda a: of_kind(a, "screen_lost"), "a screen_lost alert")
    [lost] = listed
    assert lost["active"] is True and lost["acknowledged"] is False and lost["severity"] == "warning"
    assert "tv0000001" in lost["message"] and "127.0.0.1" in lost["message"]
    assert "'Finish TV'" in lost["message"] and "1920x1080" in lost["message"]
    assert lost["details"]["session_id"] == session["id"]

    # it comes back: resolved, and still listed (trouble that came and went is not missed)
    ws = await screen(api, session, "tv0000001")
    listed = await wait_alerts(api, lambda a: a and not a[0]["active"], "the alert to be resolved")
    assert [a["id"] for a in listed] == [lost["id"]]
    rc.services.hub.lost_after = 60.0  # it drops again, but not for long enough this time
    await ws.close()

    acked = await api.ok("POST", f"/api/alerts/{lost['id']}/acknowledge")
    assert acked["id"] == lost["id"] and acked["acknowledged"] is True
    assert await api.ok("GET", "/api/alerts") == []
    assert await api.ok("GET", "/api/alerts?all=1") == []  # resolved + acknowledged: forgotten
    status, body = await api.call("POST", f"/api/alerts/{lost['id']}/acknowledge")
    assert status == 404 and lost["id"] in body["error"]


async def test_a_screen_that_comes_back_in_time_is_not_lost(rc: RaceControl, api: Api) -> None:
    assert rc.services is not None
    rc.services.hub.lost_after = 3.0
    event = await api.ok("POST", "/api/events", {"name": "Reload 5K", "date": "2026-06-01"}, 201)
    session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
    ws = await screen(api, session, "tv0000002")
    await ws.close()
    ws = await screen(api, session, "tv0000002")  # a reload: back at once
    await asyncio.sleep(rc.services.hub.lost_after + 2)  # well past the moment it would have been lost
    assert await api.ok("GET", "/api/alerts?all=1") == []
    await ws.close()


async def test_a_storage_failure_is_an_alert_naming_the_cause_and_resolves_when_writes_work(
    rc: RaceControl, api: Api
) -> None:
    assert rc.services is not None and rc.monitor is not None
    rc.monitor.backlog_limit = 5
    session, client = await setup_session(api, rc.timing_port)
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        await ws.receive_json(timeout=5)
        await client.send(lines(1, 3))
        assert [m["seq"] for m in await finishers(ws, 3)] == [1, 2, 3]
        assert of_kind(await api.ok("GET", "/api/alerts"), "storage_error") == []

        blocker = sqlite3.connect(rc.settings.database_path, timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")  # another program holds the database: every write fails
        try:
            await client.send(lines(4, 10))
            listed = await wait_alerts(api, lambda a: of_kind(a, "storage_error"), "a storage_error alert")
            [err] = of_kind(listed, "storage_error")
            assert err["active"] and err["severity"] == "critical"
            assert "database is locked" in err["message"] and str(rc.settings.database_path) in err["message"]
            listed = await wait_alerts(api, lambda a: of_kind(a, "backlog"), "a backlog alert")
            assert "wait to be stored" in of_kind(listed, "backlog")[0]["message"]
        finally:
            blocker.rollback()
            blocker.close()
        assert [m["seq"] for m in await finishers(ws, 7)] == list(range(4, 11))

    listed = await wait_alerts(
        api,
        lambda a: (
            len(a) >= 2 and not any(x["active"] for x in of_kind(a, "storage_error") + of_kind(a, "backlog"))
        ),
        "storage_error and backlog resolved",
    )
    [err] = of_kind(listed, "storage_error")
    assert err["count"] >= 1 and err["active"] is False  # healed, still listed until acknowledged
    for alert in of_kind(listed, "storage_error") + of_kind(listed, "backlog"):
        await api.ok("POST", f"/api/alerts/{alert['id']}/acknowledge")
    assert of_kind(await api.ok("GET", "/api/alerts?all=1"), "storage_error") == []
    await client.close()


def _clock_line(seq: int, when: dt.datetime) -> bytes:
    return f"CT01_33~{seq}~finish~{seq}~{when:%H:%M:%S}.00~0~0FA22E~1\r\n".encode()


async def test_a_clock_far_off_is_an_alert_cleared_once_reads_are_right_again(
    rc: RaceControl, api: Api
) -> None:
    assert rc.monitor is not None
    rc.monitor.clock_ok_after = 0.0  # any read after the warning without a new one clears it
    _session, client = await setup_session(api, rc.timing_port, "clock-conn")
    now = dt.datetime.now(ZoneInfo("America/New_York"))  # the stream's time zone (tests' settings)
    off = dt.timedelta(hours=3 if now.hour < 12 else -3)  # 3 h off, the same day
    await client.send(_clock_line(1, now + off))
    listed = await wait_alerts(api, lambda a: of_kind(a, "clock_off"), "a clock_off alert")
    [alert] = of_kind(listed, "clock_off")
    streams = await api.ok("GET", "/api/timing/sessions")
    assert alert["details"]["stream_id"] == streams[0]["id"] and alert["active"]
    assert f"{'ahead of' if now.hour < 12 else 'behind'} this computer's clock" in alert["message"]

    await client.send(_clock_line(2, dt.datetime.now(ZoneInfo("America/New_York"))))
    await wait_alerts(api, lambda a: not of_kind(a, "clock_off")[0]["active"], "clock_off resolved")
    await client.close()


async def test_a_silent_stream_while_its_race_is_on_is_an_alert(rc: RaceControl, api: Api) -> None:
    assert rc.monitor is not None
    rc.monitor.silent_after = 0.5
    session, client = await setup_session(api, rc.timing_port, "silent-conn")
    assert of_kind(await api.ok("GET", "/api/alerts"), "stream_silent") == []  # no reads yet: not silent
    await client.send(lines(1, 2))
    listed = await wait_alerts(api, lambda a: of_kind(a, "stream_silent"), "a stream_silent alert")
    [alert] = of_kind(listed, "stream_silent")
    assert alert["severity"] == "critical" and alert["active"]
    assert "no reads from timing stream" in alert["message"] and session["name"] in alert["message"]

    rc.monitor.silent_after = 3600.0
    await client.send(lines(3, 3))  # reads again
    await wait_alerts(api, lambda a: not of_kind(a, "stream_silent")[0]["active"], "stream_silent resolved")
    await client.close()


async def test_low_disk_space_is_an_alert(rc: RaceControl, api: Api) -> None:
    assert rc.monitor is not None
    rc.monitor.disk_every = 0.05
    rc.monitor.low_disk_bytes = 1 << 62  # more than any disk: the real free space is below it
    listed = await wait_alerts(api, lambda a: of_kind(a, "low_disk"), "a low_disk alert")
    assert str(rc.settings.data_dir) in of_kind(listed, "low_disk")[0]["message"]
    rc.monitor.low_disk_bytes, rc.monitor.low_disk_fraction = 0, 0.0
    await wait_alerts(api, lambda a: not of_kind(a, "low_disk")[0]["active"], "low_disk resolved")


async def test_alerts_need_the_api_token(api: Api) -> None:
    for method, path in [
        ("GET", "/api/alerts"),
        ("POST", "/api/alerts/screen_lost:x/acknowledge"),
        ("GET", "/api/metrics"),
    ]:
        async with api.http.request(method, api.base + path) as r:
            assert r.status == 401, path
    status, body = await api.call("GET", "/api/alerts?all=maybe")
    assert status == 400 and "'all'" in body["error"]


async def test_all_lists_acknowledged_alerts_that_still_hold(rc: RaceControl, api: Api) -> None:
    assert rc.services is not None
    rc.services.alerts.raise_alert("cap_reached", "screens", "64 screens on one session")
    await api.ok("POST", "/api/alerts/cap_reached:screens/acknowledge")
    assert await api.ok("GET", "/api/alerts") == []
    [alert] = await api.ok("GET", "/api/alerts?all=1")
    assert alert["acknowledged"] is True and alert["active"] is True
