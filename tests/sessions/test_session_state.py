"""A display session's state: stored by one mapping, derived by one replay, changed by one unit of work.

- every ``LiveSession`` field is either stored (``session_record``) or declared derived here;
- a record survives the real database unchanged (nothing saved-but-not-loaded);
- a rule change rebuilds places and the leaderboard, not only which reads are crossings;
- when the store refuses an action's transaction, nothing of the action shows in memory, and
  the same action works once the store is fixed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.sessions import queries as q
from race_control.sessions.live import LiveSession
from race_control.sessions.replay import CHUNK, replaying
from race_control.sessions.rules import CrossingRules
from race_control.sessions.session_record import (
    LIVE_FIELDS,
    RECORD_FIELDS,
    SessionRecord,
    from_row,
    link_rows,
    new_live,
    record_of,
    to_row,
    write_links,
)
from race_control.store.database import Store
from race_control.timing.ingest.stored_read import StoredRead
from tests.conftest import Api
from tests.display.test_session_ops import next_of
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import drain_until, wait_last_seq

# LiveSession fields that are NOT stored, and where they come from instead.  A new field must
# go into SessionRecord (stored and loaded) or here (with the reason it can be rebuilt).
DERIVED = {
    "lookup": "the roster, passed in",
    "next_seq": "max seq of the stored display events + 1",
    "unknown": "stored finisher events shown as 'Bib N' with no correction yet",
    "finishers": "replay of the stored reads (a closed session: its final_counts)",
    "suppressed": "replay of the stored reads (a closed session: its final_counts)",
    "board_dirty": "runtime: a leaderboard message is due",
    "gun_dirty": "runtime: a race clock update is due",
    "_ranked": "replay: first timed finish per bib",
    "_times": "replay: sorted elapsed times (places)",
    "_division_times": "replay: sorted elapsed times per division",
    "engine": "replay: duplicate windows, starts, guns",
    "engine_shared": "runtime: the engine may be other live sessions' too (engine_sharing)",
    "decided_to": "replay: the raw_n of each stream's last read decided (a snapshot's position)",
}


def test_every_live_session_field_is_stored_or_declared_derived() -> None:
    live = {f.name for f in dataclasses.fields(LiveSession)}
    stored = set(LIVE_FIELDS)
    assert not stored & set(DERIVED), "a field is either stored or derived"
    assert live - set(DERIVED) == stored, (
        f"not stored and not declared derived: {sorted(live - set(DERIVED) - stored)}; "
        f"stored but not a LiveSession field: {sorted(stored - live)}"
    )
    assert set(RECORD_FIELDS) - stored == {"final_counts"}


def _every_field_set(status: str = "open") -> SessionRecord:
    """A record where no field has its default (so a field that is not stored shows)."""
    rules = CrossingRules.from_json(
        {
            "locations": ["finish"],
            "duplicate_window": 45,
            "ignore_tags": ["99999"],
            "start_locations": ["start"],
            "min_time_since_start": 120,
            "lines": [{"location": "finish-b", "line": "finish", "reader_id": "0FA22E", "gator": 2}],
            "stray_after": 90,
            "stray_gap": 5,
            "waves": {"A": "08:00:55.16"},
        }
    )
    rec = SessionRecord(
        id="sess-1",
        token="tok-" + "x" * 20,
        event_id="event-1",
        name="Finish line",
        mode="pre-race",
        template_id="my-template",
        rules=rules,
        status=status,
        created_at=1_780_000_000.25,
        streams=frozenset({"stream-a", "stream-b"}),
        starts_at=1_780_003_600.0,
        switch_at=1_780_003_500.5,
        mode_changed_at=1_780_000_100.75,
        mode_changed_by="operator",
        leaderboard_top=7,
        final_counts=(12, 34) if status == "closed" else None,
        public=True,
    )
    defaults = SessionRecord(
        id="",
        token="",
        event_id="",
        name="",
        mode="",
        template_id=None,
        rules=CrossingRules(),
        status="",
        created_at=0,
    )
    same = [f for f in RECORD_FIELDS if getattr(rec, f) == getattr(defaults, f) and f != "final_counts"]
    assert not same, f"give these a value that is not the default: {same}"
    return rec


@pytest.mark.parametrize("status", ["open", "closed"])
def test_a_record_survives_the_database_unchanged(tmp_path: Path, status: str) -> None:
    rec = _every_field_set(status)
    store = Store(tmp_path / "db.sqlite3")
    try:
        store.migrate()
        with sqlite3.connect(store.path) as db:  # the rows it points at
            db.execute("PRAGMA foreign_keys=OFF")
            db.execute(
                "INSERT INTO events (id, name, date, timezone, created_at, updated_at) VALUES ('event-1', 'E', '2026-06-01', 'UTC', 0, 0)"
            )
            for sid in rec.streams:
                db.execute(
                    "INSERT INTO timing_streams (id, protocol, source_key, client, event_name, source_event_id,"
                    " remote_addr, locations, reference_date, timezone, created_at, updated_at)"
                    " VALUES (?, 'ctp01', ?, '', '', '', '', '[]', '', 'UTC', 0, 0)",
                    (sid, sid),
                )

        def save(conn: Any) -> None:
            q.save_session(conn, to_row(rec))
            write_links(conn, link_rows(rec))

        store.run_sync(save)
        rows, links, _seqs = store.run_sync(q.load_sessions)
    finally:
        store.close()
    (row,) = rows
    loaded = from_row(row, [link.stream_id for link in links if link.session_id == row.id])
    assert loaded == rec
    # and a live session built from it gives the same record back
    again = record_of(new_live(loaded, lambda _e, _b: None))
    assert again == rec


def test_a_long_replay_lets_the_loop_run_between_its_steps() -> None:
    rec = SessionRecord("s", "t", "e", "", "results", None, CrossingRules(), "open", 0.0, frozenset({"s1"}))
    n = 2 * CHUNK + 7
    reads = [
        StoredRead("s1", "finish", i, "tag", str(i), str(i), "", 30000.0 + i, 0, "0FA22E", 1, i, 1000.0 + i)
        for i in range(1, n + 1)
    ]
    steps, yields = replaying(rec, lambda _e, _b: None, reads, shown=set()), 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            built = done.value
            break
        yields += 1
    assert yields == 2
    assert built.session.finishers == n and [r["seq"] for r in built.derived.events] == list(range(1, n + 1))


# --------------------------------------------------------------------------- helpers (API)
async def _event(api: Api, bibs: list[dict[str, Any]]) -> str:
    event = await api.ok("POST", "/api/events", {"name": "State 10K", "date": "2026-06-01"}, 201)
    await api.ok("POST", f"/api/events/{event['id']}/participants", bibs)
    return str(event["id"])


async def _stream(
    api: Api, port: int, conn_id: str, locations: tuple[str, ...] = ("finish",)
) -> tuple[str, RawCtp01Client]:
    client = await RawCtp01Client.connect(port)
    await client.handshake(conn_id, locations)
    for _ in range(500):
        found = [s for s in await api.ok("GET", "/api/timing/sessions") if s["source_key"] == conn_id]
        if found:
            return str(found[0]["id"]), client
        await asyncio.sleep(0.01)
    raise AssertionError(f"stream {conn_id} did not appear")


async def _state(api: Api, sid: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """What the API says about a session: its JSON, its stored finishers, its suppressions."""
    return (
        await api.ok("GET", f"/api/sessions/{sid}"),
        await api.ok("GET", f"/api/sessions/{sid}/finishers"),
        await api.ok("GET", f"/api/sessions/{sid}/suppressions"),
    )


async def _hello(api: Api, session: dict[str, Any]) -> dict[str, Any]:
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        hello: dict[str, Any] = await ws.receive_json(timeout=5)
    return hello


class Trigger:
    """A real SQLite failure inside the app's own database: a trigger that aborts a statement."""

    def __init__(self, rc: RaceControl, name: str, when: str) -> None:
        self.path = rc.settings.database_path
        self.name = name
        with sqlite3.connect(self.path) as db:
            db.execute(
                f"CREATE TRIGGER {name} {when} BEGIN SELECT RAISE(ABORT, 'test: the disk says no'); END"
            )

    def drop(self) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(f"DROP TRIGGER {self.name}")


WAVE_RUNNERS = [
    {"bib": "1", "first_name": "Ann", "last_name": "One", "wave": "A", "division": "F30-39"},
    {"bib": "2", "first_name": "Bo", "last_name": "Two", "wave": "A", "division": "M30-39"},
    {"bib": "3", "first_name": "Cy", "last_name": "Three", "wave": "A", "division": "F30-39"},
]


# --------------------------------------------------------------------------- replay
async def test_a_rule_change_rebuilds_places_and_the_leaderboard(rc: RaceControl, api: Api) -> None:
    event_id = await _event(api, WAVE_RUNNERS)
    rules = {"waves": {"A": "09:00:00"}}
    session = await api.ok(
        "POST",
        "/api/sessions",
        {"event_id": event_id, "mode": "results", "leaderboard_top": 5, "rules": rules},
        201,
    )
    sid = session["id"]
    stream, client = await _stream(api, rc.timing_port, "rules-1", ("split", "finish"))
    await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": stream})
    await client.send(
        b"CT01_33~1~split~1~09:10:00.00~0~0FA22E~1\r\n"  # bib 1 at the split: 10:00
        b"CT01_33~1~finish~2~09:00:30.00~0~0FA22E~1\r\n"  # bib 2, 30 s after the gun
        b"CT01_33~2~finish~2~09:20:00.00~0~0FA22E~1\r\n"  # bib 2 finishes: 20:00
        b"CT01_33~3~finish~1~09:30:00.00~0~0FA22E~1\r\n"  # bib 1 finishes: 30:00
    )
    await wait_last_seq(rc, api, sid, 4)
    board = (await _hello(api, session))["leaderboard"]
    assert [(e["bib"], e["time"]) for e in board["entries"]] == [("2", "0:30"), ("1", "10:00")]

    # only the finish line counts, and not within a minute of the gun: the split read and
    # bib 2's early read are no finishes any more, so their first finishes are 20:00 and 30:00
    changed = await api.ok(
        "PATCH",
        f"/api/sessions/{sid}",
        {"rules": {**rules, "locations": ["finish"], "min_time_since_start": 60}},
    )
    assert changed["rerun"] == {
        "crossings": 2,
        "newly_shown": 0,
        "shown_before_but_not_now": 2,
        "suppressed": 2,
    }
    assert (changed["finishers"], changed["suppressed"]) == (2, 2)
    board = (await _hello(api, session))["leaderboard"]
    assert [(e["place"], e["bib"], e["time"]) for e in board["entries"]] == [
        (1, "2", "20:00"),
        (2, "1", "30:00"),
    ]
    assert [e["bib"] for e in board["divisions"]["F30-39"]] == ["1"]

    # the next finisher is placed among the new times: 25:00 is second, not third
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        await ws.receive_json(timeout=5)
        await client.send(b"CT01_33~4~finish~3~09:25:00.00~0~0FA22E~1\r\n")
        third = await next_of(ws, "finisher")
    assert (third["bib"], third["time"], third["place"], third["division_place"]) == ("3", "25:00", 2, 1)
    await client.close()


# --------------------------------------------------------------------------- store failures
async def test_a_failed_bind_changes_nothing_and_works_once_the_store_is_fixed(
    rc: RaceControl, api: Api
) -> None:
    event_id = await _event(api, WAVE_RUNNERS)
    session = await api.ok("POST", "/api/sessions", {"event_id": event_id, "mode": "results"}, 201)
    sid = session["id"]
    first, client_a = await _stream(api, rc.timing_port, "bind-a")
    second, client_b = await _stream(api, rc.timing_port, "bind-b")
    await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": first})
    await client_a.send(b"CT01_33~1~finish~1~09:10:00.00~0~0FA22E~1\r\n")
    await client_b.send(b"CT01_33~1~finish~2~09:20:00.00~0~0FA22E~1\r\n")
    await wait_last_seq(rc, api, sid, 1)
    before = await _state(api, sid)

    trigger = Trigger(rc, "no_links", "BEFORE INSERT ON session_streams")
    got, body = await api.call("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": second})
    assert got >= 500, (got, body)
    assert await _state(api, sid) == before
    # the stream is not routed to the session either: its next read is not shown
    await client_b.send(b"CT01_33~2~finish~3~09:25:00.00~0~0FA22E~1\r\n")
    assert rc.services is not None
    await rc.services.pipeline.drain()
    assert await _state(api, sid) == before

    trigger.drop()
    bound = await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": second})
    assert bound["timing_session_ids"] == sorted([first, second])
    assert (bound["last_seq"], bound["finishers"]) == (3, 3)
    shown = await api.ok("GET", f"/api/sessions/{sid}/finishers")
    assert [m["bib"] for m in shown] == ["1", "2", "3"]
    await client_a.close()
    await client_b.close()


async def test_a_failed_rule_change_changes_nothing_and_works_once_the_store_is_fixed(
    rc: RaceControl, api: Api
) -> None:
    event_id = await _event(api, WAVE_RUNNERS)
    session = await api.ok(
        "POST",
        "/api/sessions",
        {"event_id": event_id, "mode": "results", "leaderboard_top": 3, "rules": {"duplicate_window": 3600}},
        201,
    )
    sid = session["id"]
    stream, client = await _stream(api, rc.timing_port, "rules-fail")
    await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": stream})
    await client.send(
        b"CT01_33~1~finish~1~09:00:00.00~0~0FA22E~1\r\n"
        b"CT01_33~2~finish~1~09:01:01.00~0~0FA22E~1\r\n"
        b"CT01_33~3~finish~1~09:02:02.00~0~0FA22E~1\r\n"
    )
    assert rc.services is not None
    await drain_until(rc, lambda: api.ok("GET", f"/api/sessions/{sid}"), lambda s: s["suppressed"] == 2)
    before = await _state(api, sid)
    board_before = (await _hello(api, session))["leaderboard"]

    trigger = Trigger(rc, "no_events", "BEFORE INSERT ON display_events")
    got, body = await api.call("PATCH", f"/api/sessions/{sid}", {"rules": {"duplicate_window": 60}})
    assert got >= 500, (got, body)
    assert await _state(api, sid) == before
    assert (await _hello(api, session))["leaderboard"] == board_before

    trigger.drop()
    changed = await api.ok("PATCH", f"/api/sessions/{sid}", {"rules": {"duplicate_window": 60}})
    assert changed["rerun"]["newly_shown"] == 2
    assert (changed["rules"]["duplicate_window"], changed["last_seq"], changed["suppressed"]) == (60, 3, 0)
    await client.close()


async def test_a_failed_edit_or_create_changes_nothing(rc: RaceControl, api: Api) -> None:
    event_id = await _event(api, WAVE_RUNNERS)
    session = await api.ok(
        "POST", "/api/sessions", {"event_id": event_id, "mode": "results", "name": "Finish"}, 201
    )
    sid = session["id"]
    stream, client = await _stream(api, rc.timing_port, "edit-fail")
    await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": stream})
    await client.send(b"CT01_33~1~finish~1~09:10:00.00~0~0FA22E~1\r\n")
    await wait_last_seq(rc, api, sid, 1)
    before = await _state(api, sid)
    listed = await api.ok("GET", "/api/sessions")

    trigger = Trigger(rc, "no_updates", "BEFORE UPDATE ON display_sessions")
    edit = {
        "name": "Renamed",
        "mode": "pre-race",
        "leaderboard_top": 3,
        "starts_at": 1_900_000_000,
        "status": "closed",
    }
    got, body = await api.call("PATCH", f"/api/sessions/{sid}", edit)
    assert got >= 500, (got, body)
    assert await _state(api, sid) == before
    assert (await _hello(api, session))["session"]["mode"] == "results"  # screens still see it open
    trigger.drop()

    # a new session with a stream: its row, its link and its finishers are one transaction
    trigger = Trigger(rc, "no_links", "BEFORE INSERT ON session_streams")
    body_new = {"event_id": event_id, "mode": "pre-race", "name": "Start", "timing_session_ids": [stream]}
    got, body = await api.call("POST", "/api/sessions", body_new)
    assert got >= 500, (got, body)
    assert await api.ok("GET", "/api/sessions") == listed
    with sqlite3.connect(rc.settings.database_path) as db:
        assert db.execute("SELECT count(*) FROM display_sessions").fetchone()[0] == 1
        assert db.execute("SELECT count(DISTINCT session_id) FROM display_events").fetchone()[0] == 1
    trigger.drop()

    edited = await api.ok("PATCH", f"/api/sessions/{sid}", edit)
    assert (edited["name"], edited["mode"], edited["leaderboard_top"], edited["status"]) == (
        "Renamed",
        "pre-race",
        3,
        "closed",
    )
    created = await api.ok("POST", "/api/sessions", body_new, 201)
    assert created["timing_session_ids"] == [stream] and created["last_seq"] == 1
    await client.close()


async def test_a_failed_automatic_switch_is_not_shown_and_happens_with_the_next_finisher(
    rc: RaceControl, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="race_control.sessions")
    event_id = await _event(api, WAVE_RUNNERS)
    session = await api.ok("POST", "/api/sessions", {"event_id": event_id, "mode": "pre-race"}, 201)
    sid = session["id"]
    stream, client = await _stream(api, rc.timing_port, "switch-fail")
    await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": stream})
    trigger = Trigger(rc, "no_updates", "BEFORE UPDATE ON display_sessions")
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        await ws.receive_json(timeout=5)
        await client.send(b"CT01_33~1~finish~1~09:10:00.00~0~0FA22E~1\r\n")
        assert (await next_of(ws, "finisher"))["bib"] == "1"
        for _ in range(500):  # the switch is written in the background: wait for its failure
            if any("background session work failed" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the automatic switch did not fail")
        state = await api.ok("GET", f"/api/sessions/{sid}")
        assert (state["mode"], state["mode_changed_by"]) == ("pre-race", "")
        trigger.drop()
        await client.send(b"CT01_33~2~finish~2~09:20:00.00~0~0FA22E~1\r\n")
        assert await next_of(ws, "mode") == {"type": "mode", "mode": "results", "by": "first finisher"}
    state = await api.ok("GET", f"/api/sessions/{sid}")
    assert (state["mode"], state["mode_changed_by"]) == ("results", "first finisher")
    await client.close()


async def test_a_failed_roster_correction_is_not_shown_and_comes_with_the_next_import(
    rc: RaceControl, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="race_control.sessions")
    event_id = await _event(api, WAVE_RUNNERS)
    session = await api.ok(
        "POST",
        "/api/sessions",
        {"event_id": event_id, "mode": "results", "leaderboard_top": 3},
        201,
    )
    sid = session["id"]
    stream, client = await _stream(api, rc.timing_port, "correct-fail", ("start", "finish"))
    await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": stream})
    await client.send(
        b"CT01_33~1~start~guntime~09:00:00.00~0~DF239A~0\r\n"  # the gun: bib 77 is ranked, as "Bib 77"
        b"CT01_33~1~finish~77~09:10:00.00~0~0FA22E~1\r\n"
    )
    await wait_last_seq(rc, api, sid, 1)
    before = await _state(api, sid)
    assert before[0]["unknown_bibs"] == ["77"]
    late = [{"bib": "77", "first_name": "Late", "last_name": "Entry", "wave": "A"}]

    trigger = Trigger(rc, "no_events", "BEFORE INSERT ON display_events")
    await api.ok("POST", f"/api/events/{event_id}/participants", late)
    for _ in range(500):  # the correction is written in the background: wait for its failure
        if any("background session work failed" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the correction did not fail")
    assert await _state(api, sid) == before
    trigger.drop()

    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        await ws.receive_json(timeout=5)
        await api.ok("POST", f"/api/events/{event_id}/participants", late)
        fix = await next_of(ws, "correction")
        assert (fix["seq"], fix["corrects_seq"], fix["name"]) == (2, 1, "Late Entry")
        async with asyncio.timeout(20):  # the leaderboard names the runner too (next tick)
            board = await next_of(ws, "leaderboard")
            while board["entries"][0]["name"] == "Bib 77":  # one sent before the correction
                board = await next_of(ws, "leaderboard")
        assert [(e["bib"], e["name"], e["time"]) for e in board["entries"]] == [("77", "Late Entry", "10:00")]
    state = await api.ok("GET", f"/api/sessions/{sid}")
    assert (state["unknown_bibs"], state["last_seq"]) == ([], 2)
    await client.close()
