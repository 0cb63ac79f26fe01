"""The session history (docs/history.md#history), through a real running server: every display
session, open or closed, listed with its finishers and screens seen, also after a restart; one
session read-only (finishers in their latest form, suppressions) without a byte written; one bib
across every session of its event; bad parameters answered 400 naming them; every query on an
index (``EXPLAIN QUERY PLAN`` of the statements the routes really ran)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event

from race_control.app import RaceControl
from tests.conftest import Api, make_settings
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import drain_until, running

HOSTILE = "<script>alert('x')</script>"


def reads(*rows: tuple[int, str, str]) -> bytes:
    """CT01_33 lines: (seq, bib, HH:MM:SS) at location finish."""
    return b"".join(f"CT01_33~{n}~finish~{bib}~{t}.00~1~0FA22E~1\r\n".encode() for n, bib, t in rows)


async def screen(session: dict[str, Any], http: aiohttp.ClientSession, screen_id: str | None) -> Any:
    """A screen's socket that says who it is (``resume``, as the page does), or not at all."""
    ws = await http.ws_connect(
        session["display_url"].replace("http", "ws") + "/ws", headers={"User-Agent": f"TestTV/{screen_id}"}
    )
    hello = await ws.receive_json()
    assert hello["type"] == "hello"
    if screen_id is not None:
        await ws.send_json(
            {"type": "resume", "after_seq": 0, "screen_id": screen_id, "viewport": [1920, 1080]}
        )
    return ws


async def race(rc: RaceControl, api: Api, name: str = HOSTILE) -> dict[str, Any]:
    """An event with runners 7 (hostile name) and 42, a results session bound to a live stream,
    three finishes (7, 42, an unknown 99) and 42 again 2 s later (a duplicate: suppressed)."""
    event_ = await api.ok("POST", "/api/events", {"name": f"{name} 10K", "date": "2026-05-08"}, 201)
    runners = [{"bib": "7", "first_name": name, "last_name": "Lee"}, {"bib": "42", "first_name": "Ann"}]
    await api.ok("POST", f"/api/events/{event_['id']}/participants", runners)
    session = await api.ok(
        "POST", "/api/sessions", {"event_id": event_["id"], "mode": "results", "name": f"{name} finish"}, 201
    )
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake(f"hist-{time.monotonic_ns()}")
    streams: list[dict[str, Any]] = []
    while not streams:
        streams = await api.ok("GET", "/api/timing/sessions")
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": streams[-1]["id"]})
    await client.send(reads((1, "7", "09:00:01"), (2, "0042", "9:00:05"), (3, "99", "09:00:09")))
    await client.send(reads((4, "42", "09:00:07")))
    await drain_until(
        rc,
        lambda: api.ok("GET", f"/api/sessions/{session['id']}"),
        lambda s: s["finishers"] == 3 and s["suppressed"] == 1,
    )
    await client.close()
    return {"event": event_, "session": session, "stream": streams[-1]}


async def history(api: Api, query: str = "") -> dict[str, Any]:
    result: dict[str, Any] = await api.ok("GET", f"/api/history/sessions{query}")
    return result


def dump(path: Path) -> dict[str, list[Any]]:
    """Every row of every table, read with a plain read-only connection."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}
    finally:
        conn.close()


async def test_a_closed_session_is_listed_after_a_restart_with_its_finishers_and_screens(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api), aiohttp.ClientSession() as http:
        made = await race(rc, api)
        sid = made["session"]["id"]
        tv = await screen(made["session"], http, "lobby-tv")
        again = await screen(made["session"], http, "lobby-tv")  # the same screen, a second tab
        anonymous = await screen(made["session"], http, None)  # an old page: known by its address
        # connected now: counted once each has said who it is (or its 0.5 s grace passed)
        listed = await drain_until(
            rc, lambda: history(api), lambda h: h["sessions"][0]["screens_seen"] == 2, 5
        )
        assert listed["sessions"][0]["screens_seen"] == 2
        for ws in (tv, again, anonymous):
            await ws.close()
        await api.ok("DELETE", f"/api/sessions/{sid}")
        second = await api.ok(
            "POST", "/api/sessions", {"event_id": made["event"]["id"], "mode": "results"}, 201
        )
    async with running(settings) as (rc, api):
        listed = await history(api)
        assert [s["id"] for s in listed["sessions"]] == [second["id"], sid]  # newest first
        closed = listed["sessions"][1]
        assert closed["closed"] is True and closed["status"] == "closed"
        assert closed["name"] == f"{HOSTILE} finish" and closed["event_name"] == f"{HOSTILE} 10K"
        assert closed["date"] == "2026-05-08" and closed["mode"] == "results"
        assert closed["finishers"] == 3 and closed["last_finisher_at"] is not None
        assert closed["screens_seen"] == 2, closed
        assert [(s["id"], s["locations"]) for s in closed["streams"]] == [(made["stream"]["id"], ["finish"])]
        assert listed["sessions"][0]["finishers"] == 0 and listed["sessions"][0]["closed"] is False
        with sqlite3.connect(settings.database_path) as db:
            rows = db.execute(
                "SELECT screen, screen_id, user_agent, viewport, connections, first_seen <= last_seen "
                "FROM screens_seen WHERE session_id = ? ORDER BY screen",
                (sid,),
            ).fetchall()
        assert rows == [
            ("address 127.0.0.1", "", "TestTV/None", "", 1, 1),
            ("lobby-tv", "lobby-tv", "TestTV/lobby-tv", "1920x1080", 2, 1),
        ]
        status, page = await api.call("GET", f"/api/sessions/{sid}/report.html")
        assert status == 200 and "<th>Screens seen</th><td class=n>2</td>" in page
        assert (await history(api, "?status=closed"))["sessions"] == [closed]
        assert [s["id"] for s in (await history(api, "?status=open"))["sessions"]] == [second["id"]]


async def test_a_session_opened_read_only_stays_closed_and_nothing_is_written(
    rc: RaceControl, api: Api
) -> None:
    made = await race(rc, api)
    sid = made["session"]["id"]
    await api.ok(
        "POST", f"/api/events/{made['event']['id']}/participants", [{"bib": "99", "first_name": "Late"}]
    )
    await drain_until(rc, lambda: api.ok("GET", f"/api/sessions/{sid}"), lambda s: s["last_seq"] == 4)
    await api.ok("DELETE", f"/api/sessions/{sid}")
    await asyncio.sleep(2.5)  # the screens-seen writer has nothing to write either
    path = rc.settings.database_path
    before = dump(path)
    got = await api.ok("GET", f"/api/history/sessions/{sid}")
    page1 = await api.ok("GET", f"/api/history/sessions/{sid}?limit=2")
    page2 = await api.ok(
        "GET", f"/api/history/sessions/{sid}?limit=2&finishers_after={page1['finishers_next_after']}"
    )
    assert dump(path) == before, "reading the history wrote to the store"
    assert rc.services is not None and rc.services.sessions.get(sid).status == "closed"
    assert (await api.ok("GET", f"/api/sessions/{sid}"))["status"] == "closed"
    assert got["read_only"] is True and got["session"]["closed"] is True
    assert [(f["seq"], f["bib"], f["name"], f["corrected"]) for f in got["finishers"]] == [
        (1, "7", f"{HOSTILE} Lee", False),
        (2, "42", "Ann", False),
        (3, "99", "Late", True),  # shown as "Bib 99", corrected by seq 4: its latest form
    ]
    assert got["finishers"][2]["corrections"][0]["seq"] == 4
    assert [(s["bib"], s["code"], s["time"]) for s in got["suppressions"]] == [("42", "duplicate", "9:00:07")]
    assert "duplicate" in got["suppressions"][0]["reason"]
    assert got["finishers_next_after"] is None and got["suppressions_next_offset"] is None
    assert [f["seq"] for f in page1["finishers"]] == [1, 2] and page1["finishers_next_after"] == 2
    assert [f["seq"] for f in page2["finishers"]] == [3] and page2["finishers_next_after"] is None
    assert page2["finishers"][0]["corrected"] is True


async def test_a_bib_is_found_in_every_session_of_its_event(rc: RaceControl, api: Api) -> None:
    made = await race(rc, api)
    other = await api.ok("POST", "/api/sessions", {"event_id": made["event"]["id"], "mode": "results"}, 201)
    await api.ok("POST", f"/api/sessions/{other['id']}/timing", {"timing_session_id": made["stream"]["id"]})
    await drain_until(
        rc, lambda: api.ok("GET", f"/api/sessions/{other['id']}"), lambda s: s["finishers"] == 3
    )
    elsewhere = await api.ok("POST", "/api/events", {"name": "Another race", "date": "2026-05-09"}, 201)
    await api.ok("POST", "/api/sessions", {"event_id": elsewhere["id"], "mode": "results"}, 201)
    for bib in ("42", "0042", " 042 "):
        got = await api.ok("GET", f"/api/events/{made['event']['id']}/history?bib={bib}")
        assert got["bib"] == "42" and got["truncated"] is False
        kinds = [(a["session_id"], a["kind"], a["time"], a["suppressed"]) for a in got["appearances"]]
        assert kinds == [
            (made["session"]["id"], "finish", "9:00:05", False),
            (made["session"]["id"], "suppressed", "9:00:07", True),
            (other["id"], "finish", "9:00:05", False),
            (other["id"], "suppressed", "9:00:07", True),
        ], kinds
    finish, hidden = got["appearances"][:2]
    assert "place" in finish and finish["location"] == "finish" and finish["name"] == "Ann"
    assert finish["session_name"] == f"{HOSTILE} finish" and finish["corrections"] == []
    assert hidden["code"] == "duplicate" and "duplicate" in hidden["reason"]
    none = await api.ok("GET", f"/api/events/{elsewhere['id']}/history?bib=42")
    assert none["appearances"] == []


async def test_a_read_at_a_location_the_session_does_not_show_is_found_too(rc: RaceControl, api: Api) -> None:
    """Such reads are not stored as suppressions (migration 0015): the history recomputes them."""
    event_ = await api.ok("POST", "/api/events", {"name": "Splits", "date": "2026-05-08"}, 201)
    await api.ok("POST", f"/api/events/{event_['id']}/participants", [{"bib": "42", "first_name": "Ann"}])
    body = {"event_id": event_["id"], "mode": "results", "locations": ["finish"]}
    session = await api.ok("POST", "/api/sessions", body, 201)
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("splits-conn", ("halfway", "finish"))
    (stream,) = await api.ok("GET", "/api/timing/sessions")
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream["id"]})
    await client.send(
        b"CT01_33~1~halfway~42~09:00:01.00~1~0FA22E~1\r\nCT01_33~1~finish~42~09:20:01.00~1~0FA22E~1\r\n"
    )
    await drain_until(
        rc, lambda: api.ok("GET", f"/api/sessions/{session['id']}"), lambda s: s["finishers"] == 1
    )
    await client.close()
    got = await api.ok("GET", f"/api/events/{event_['id']}/history?bib=42")
    assert [(a["kind"], a["location"], a["time"], a["code"]) for a in got["appearances"]] == [
        ("suppressed", "halfway", "9:00:01", "location_filtered"),
        ("finish", "finish", "9:20:01", None),
    ]
    view = await api.ok("GET", f"/api/history/sessions/{session['id']}")
    assert [(x["bib"], x["location"], x["code"]) for x in view["location_filtered"]] == [
        ("42", "halfway", "location_filtered")
    ]
    assert view["suppressions"] == []


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/api/history/sessions?status=gone", "'status'"),
        ("/api/history/sessions?limit=0", "'limit'"),
        ("/api/history/sessions?limit=201", "'limit'"),
        ("/api/history/sessions?limit=ten", "'limit'"),
        ("/api/history/sessions?offset=-1", "'offset'"),
        ("/api/history/sessions?from=yesterday", "'from'"),
        ("/api/history/sessions?to=2026-13", "'to'"),
        ("/api/history/sessions?from=2026-06-02&to=2026-06-01", "'from'"),
        ("/api/history/sessions?colour=red", "'colour'"),
        ("/api/history/sessions/SID?limit=1001", "'limit'"),
        ("/api/history/sessions/SID?finishers_after=x", "'finishers_after'"),
        ("/api/history/sessions/SID?suppressions_offset=1e3", "'suppressions_offset'"),
        ("/api/history/sessions/SID?page=2", "'page'"),
        ("/api/events/EID/history", "'bib'"),
        ("/api/events/EID/history?bib=", "'bib'"),
        ("/api/events/EID/history?bib=%20%20", "'bib'"),
        ("/api/events/EID/history?bib=" + "1" * 33, "'bib'"),
        ("/api/events/EID/history?bib=7&session=x", "'session'"),
    ],
)
async def test_bad_parameters_are_400_naming_them(rc: RaceControl, api: Api, path: str, named: str) -> None:
    event_ = await api.ok("POST", "/api/events", {"name": "Params", "date": "2026-05-08"}, 201)
    session = await api.ok("POST", "/api/sessions", {"event_id": event_["id"], "mode": "results"}, 201)
    status, body = await api.call("GET", path.replace("SID", session["id"]).replace("EID", event_["id"]))
    assert status == 400, (status, body)
    assert named in body["error"], body


async def test_unknown_ids_are_404_and_the_token_is_needed(rc: RaceControl, api: Api) -> None:
    for path in (
        "/api/history/sessions?event_id=nope",
        "/api/history/sessions/nope",
        "/api/events/nope/history?bib=7",
        "/api/events/nope/history",  # the event first: an unknown one is 404 whatever the bib
    ):
        status, body = await api.call("GET", path)
        assert status == 404 and "nope" in body["error"], (path, status, body)
    async with aiohttp.ClientSession() as anonymous, anonymous.get(f"{api.base}/api/history/sessions") as r:
        assert r.status == 401


async def test_sessions_are_paged_newest_first_and_filtered(rc: RaceControl, api: Api) -> None:
    may = await api.ok("POST", "/api/events", {"name": "May", "date": "2026-05-08"}, 201)
    june = await api.ok("POST", "/api/events", {"name": "June", "date": "2026-06-08"}, 201)
    made = []
    for i in range(5):
        body = {"event_id": (may if i < 3 else june)["id"], "mode": "results", "name": f"s{i}"}
        made.append(await api.ok("POST", "/api/sessions", body, 201))
    seen, offset = [], 0
    while offset is not None:
        page = await history(api, f"?limit=2&offset={offset}")
        assert len(page["sessions"]) <= 2
        seen += [s["name"] for s in page["sessions"]]
        offset = page["next_offset"]
    assert seen == ["s4", "s3", "s2", "s1", "s0"]
    assert [s["name"] for s in (await history(api, f"?event_id={may['id']}"))["sessions"]] == [
        "s2",
        "s1",
        "s0",
    ]
    assert [s["name"] for s in (await history(api, "?from=2026-06-01"))["sessions"]] == ["s4", "s3"]
    assert [s["name"] for s in (await history(api, "?to=2026-05-08"))["sessions"]] == ["s2", "s1", "s0"]
    assert (await history(api, "?from=2026-05-09&to=2026-06-07"))["sessions"] == []


async def test_every_history_query_uses_an_index(rc: RaceControl, api: Api) -> None:
    """The statements the routes ran, each explained: no full scan of a history table."""
    made = await race(rc, api)
    assert rc.services is not None
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        statements.append((sql, params))

    engine = rc.services.store.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await history(api)
        await history(api, f"?event_id={made['event']['id']}&status=closed&from=2026-01-01")
        await api.ok("GET", f"/api/history/sessions/{made['session']['id']}")
        await api.ok("GET", f"/api/events/{made['event']['id']}/history?bib=42")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    big = ("display_events", "suppressions", "screens_seen", "session_streams", "reads")
    explained = 0
    with sqlite3.connect(rc.settings.database_path) as db:
        for sql, params in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
            explained += 1
            scans = [p for p in plan if p.startswith("SCAN") and p.split()[1] in big]
            assert not scans, (sql, plan)  # a whole table read: not one of the history's
            if " FROM display_events" in sql or " FROM suppressions" in sql:
                assert not [p for p in plan if "TEMP B-TREE" in p], (sql, plan)  # every row sorted
            if ".bib = " in sql:  # a bib's search looks the bib up, it does not walk the session
                assert any("bib=?" in p for p in plan), (sql, plan)
    assert explained >= 8, statements


def test_openapi_documents_the_history_routes() -> None:
    doc = json.loads(
        (Path(__file__).resolve().parents[2] / "race_control/resources/openapi.json").read_text()
    )
    for path in (
        "/api/history/sessions",
        "/api/history/sessions/{session_id}",
        "/api/events/{event_id}/history",
    ):
        assert "get" in doc["paths"][path], path
