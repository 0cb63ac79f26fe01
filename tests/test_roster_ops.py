"""Roster actions as units of work: a failed transaction changes nothing in memory; a local
participant edit (API PATCH) is remembered as local and corrects screens that showed the runner."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import aiohttp
import pytest

from race_control.app import RaceControl
from race_control.progress import Progress
from race_control.roster.participants import ParticipantRow
from race_control.store.unit_of_work import Change
from tests.conftest import Api
from tests.display.test_resume import finishers, lines, setup_session
from tests.helpers.failing_store import FAILURES, MESSAGE, allow, refuse


def people(first: int, last: int) -> list[dict[str, Any]]:
    return [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "X"} for b in range(first, last + 1)]


def local_fields(rc: RaceControl, event_id: str, bib: str) -> list[str]:
    db = sqlite3.connect(rc.settings.database_path)
    try:
        row = db.execute(
            "select local_fields from participants where event_id = ? and bib = ?", (event_id, bib)
        ).fetchone()
    finally:
        db.close()
    assert row is not None, bib
    return json.loads(row[0])


async def test_a_failed_transaction_leaves_events_and_rosters_as_they_were(rc: RaceControl) -> None:
    assert rc.services is not None
    s = rc.services
    store, ops, events = s.store, s.ops, s.events
    seen: list[list[Change]] = []
    heard: list[tuple[str, list[ParticipantRow]]] = []
    ops.changes.append(seen.append)
    events.add_roster_listener(lambda event_id, rows: heard.append((event_id, rows)))

    trigger = await refuse(store, "events")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.roster.create_event({"name": "Never", "date": "2026-06-01"})
    assert events.events() == [] and seen == []
    await allow(store, trigger)
    event = (await ops.roster.create_event({"name": "Spring 10K", "date": "2026-06-01"})).event
    assert [e.id for e in events.events()] == [event.id]
    assert [(c.kind, c.entity_id, c.action) for c in seen[0]] == [("event", event.id, "created")]

    trigger = await refuse(store, "participants")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.roster.import_participants(event.id, people(1, 5))
    assert events.roster(event.id) == [] and heard == [] and len(seen) == 1
    await allow(store, trigger)
    result = await ops.roster.import_participants(event.id, people(1, 5))
    assert result.imported == 5 and len(events.roster(event.id)) == 5
    assert [b.bib for b in heard[0][1]] == ["1", "2", "3", "4", "5"]
    assert {(c.kind, c.action, c.data["bib"]) for c in seen[1]} == {
        ("participant", "created", str(b)) for b in range(1, 6)
    }

    # a chunked import: the chunk that fails is not applied, the ones before it stay whole
    trigger = await refuse(store, "participants", when="NEW.bib = '1500'")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.roster.import_in_chunks(event.id, people(6, 3000), Progress(), chunk=1000)
    assert [r.bib for r in events.roster(event.id)] == [str(b) for b in range(1, 1006)]
    await allow(store, trigger)

    trigger = await refuse(store, "participants", op="UPDATE")
    before = events.roster(event.id)
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.roster.edit_participant(event.id, "3", {"first_name": "Ada", "bib": "9999"})
    assert events.roster(event.id) == before and events.participant(event.id, "9999") is None
    await allow(store, trigger)
    edited = (
        await ops.roster.edit_participant(event.id, "3", {"first_name": "Ada", "bib": "9999"})
    ).participant
    assert (edited.bib, edited.first_name, edited.last_name) == ("9999", "Ada", "X")
    assert events.participant(event.id, "3") is None and events.participant(event.id, "9999") == edited
    change = seen[-1][0]
    assert (change.kind, change.action, change.data["bib"], change.data["previous_bib"]) == (
        "participant",
        "updated",
        "9999",
        "3",
    )


async def test_edit_a_participant_through_the_api(rc: RaceControl, api: Api) -> None:
    event = await api.ok("POST", "/api/events", {"name": "Spring 10K", "date": "2026-05-03"}, 201)
    eid = event["id"]
    base = f"/api/events/{eid}/participants"
    await api.ok("POST", base, people(1, 3))
    got = await api.ok("PATCH", f"{base}/002", {"city": "Boulder", "age": 41, "hidden": True})
    assert got == {
        "bib": "2",
        "first_name": "Runner2",
        "last_name": "X",
        "age": 41,
        "gender": "",
        "city": "Boulder",
        "state": "",
        "country": "",
        "division": "",
        "team": "",
        "wave": "",
        "message": "",
        "alias": "",
        "hidden": True,
    }
    assert local_fields(rc, eid, "2") == ["age", "city", "hidden"]
    moved = await api.ok("PATCH", f"{base}/2", {"bib": 20})
    assert moved["bib"] == "20" and moved["city"] == "Boulder"
    assert [p["bib"] for p in await api.ok("GET", base)] == ["1", "3", "20"]
    assert local_fields(rc, eid, "20") == ["age", "bib", "city", "hidden"]

    errors = [
        ("PATCH", f"{base}/1", {"bib": "3"}, 409, "already belongs"),
        ("PATCH", f"{base}/2", {"city": "X"}, 404, "bib '2'"),
        ("PATCH", "/api/events/nope/participants/1", {"city": "X"}, 404, "event"),
        ("PATCH", f"{base}/1", {"age": 500}, 400, "'age'"),
        ("PATCH", f"{base}/1", {"shoe_size": 44}, 400, "shoe_size"),
        ("PATCH", f"{base}/1", {"first_name": "", "last_name": ""}, 400, "'first_name' or 'last_name'"),
        ("PATCH", f"{base}/1", {"bib": "a b"}, 400, "not a valid bib"),
        ("PATCH", f"{base}/1", [], 400, "JSON object"),
        ("PATCH", f"{base}/1", {}, 400, "JSON object"),
    ]
    for method, path, body, status, needle in errors:
        code, data = await api.call(method, path, body)
        assert code == status and needle in data["error"], (body, code, data)
    assert [p["first_name"] for p in await api.ok("GET", base)] == ["Runner1", "Runner3", "Runner2"]

    # a later import overwrites the name (provider sync decides later) but keeps what was local
    await api.ok("POST", base, [{"bib": "20", "first_name": "Imported", "last_name": "Y"}])
    assert local_fields(rc, eid, "20") == ["age", "bib", "city", "hidden"]


async def corrections(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    """The next ``n`` corrections (other control messages such as pings are skipped)."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while len(out) < n:
            msg = await ws.receive_json()
            assert msg["type"] != "finisher", msg
            if msg["type"] == "correction":
                out.append(msg)
    return out


async def test_screens_that_showed_an_edited_runner_get_a_correction(rc: RaceControl, api: Api) -> None:
    assert rc.services is not None
    session, client = await setup_session(api, rc.timing_port)
    eid = session["event_id"]
    base = f"/api/events/{eid}/participants"
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await client.send(lines(1, 3) + b"CT01_33~4~finish~77~09:00:04.00~0~0FA22E~1\r\n")
        shown = await finishers(ws, 4)
        assert [(m["seq"], m["name"], m["known"]) for m in shown][1:] == [
            (2, "Runner2 X", True),
            (3, "Runner3 X", True),
            (4, "Bib 77", False),
        ]

        # the edit's transaction fails: neither the roster nor the screens' session changes
        trigger = await refuse(rc.services.store, "participants", op="UPDATE")
        code, _ = await api.call("PATCH", f"{base}/2", {"first_name": "Ada"})
        assert code in (500, 503)
        assert rc.services.events.participant(eid, "2").first_name == "Runner2"  # type: ignore[union-attr]
        assert rc.services.sessions.get(session["id"]).next_seq == 5
        await allow(rc.services.store, trigger)

        await api.ok("PATCH", f"{base}/2", {"first_name": "Ada"})
        [fix] = await corrections(ws, 1)
        assert (fix["seq"], fix["corrects_seq"], fix["bib"], fix["name"], fix["known"]) == (
            5,
            2,
            "2",
            "Ada X",
            True,
        )
        await api.ok("PATCH", f"{base}/2", {"last_name": "Lovelace"})  # corrects the finish, not seq 5
        [fix] = await corrections(ws, 1)
        assert (fix["seq"], fix["corrects_seq"], fix["name"]) == (6, 2, "Ada Lovelace")

        # a change screens do not show (the wave) re-sends nothing
        result = await rc.services.ops.roster.edit_participant(eid, "2", {"wave": "B"})
        assert result.corrections == 0

        # Runner3 really wears 77: the bib-3 finish is nobody's now, the "Bib 77" one is Runner3's
        await api.ok("PATCH", f"{base}/3", {"bib": "77"})
        fixes = await corrections(ws, 2)
        assert sorted((f["corrects_seq"], f["bib"], f["name"], f["known"]) for f in fixes) == [
            (3, "3", "Bib 3", False),
            (4, "77", "Runner3 X", True),
        ]
        assert sorted(f["seq"] for f in fixes) == [7, 8]
        now = await api.ok("GET", f"/api/sessions/{session['id']}")
        assert now["unknown_bibs"] == ["3"]
        # whoever gets bib 3 next is named on the screens that showed it
        await api.ok("POST", base, [{"bib": "3", "first_name": "Grace", "last_name": "Hopper"}])
        [fix] = await corrections(ws, 1)
        assert (fix["seq"], fix["corrects_seq"], fix["name"], fix["known"]) == (9, 3, "Grace Hopper", True)
    await client.close()
