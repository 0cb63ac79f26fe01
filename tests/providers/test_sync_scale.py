"""A provider sync at a few thousand runners (two pages of a fake RunSignUp), through the real app:
what the bulk write path (one prepared statement per table, executemany) leaves in the store —
every participant, its link and its outbox row written in the sync's one transaction — what a
re-sync changes and what it leaves alone (race-day edits, unchanged runners, their links and
outbox rows), and that a failing transaction applies nothing.  Correctness, not timing: the
timing is ``bench/providers_sync.py``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Connection, text

from race_control.app import RaceControl
from race_control.providers.normalized import Entrant
from race_control.providers.resync import LocalRunner
from race_control.roster.participants import ParticipantRow
from race_control.store.unit_of_work import UnitOfWork
from tests.conftest import Api
from tests.providers.fakes.runsignup import FakeRunSignUp, person
from tests.providers.test_provider_api import fast_retries

N = 3000  # two pages of 2,500
SECRET = "s3cret-scale"


def row(i: int) -> dict[str, Any]:
    return person(
        100_000 + i, 903311 if i % 3 else 903312, i, f"First{i}", f"Last{i}", modified=1_768_000_000 + i
    )


async def setup(rc: RaceControl, api: Api, fake: FakeRunSignUp) -> tuple[str, dict[str, Any]]:
    fast_retries(rc)
    event = await api.ok("POST", "/api/events", {"name": "Big City", "date": "2026-04-12"}, 201)
    acc = await api.ok(
        "POST",
        "/api/providers/accounts",
        {
            "provider": "runsignup",
            "label": "scale",
            "credentials": {"api_key": "key-1", "api_secret": SECRET},
            "base_url": fake.url + "/Rest",
        },
        201,
    )
    body = {"account_id": acc["id"], "provider_event_id": "48213", "apply": True, "full": True}
    return event["id"], body


def snapshot(conn: Connection, event_id: str) -> dict[str, Any]:
    """Everything a sync writes, read straight from the tables."""
    parts = {
        r.bib: r._asdict()
        for r in conn.execute(text("SELECT * FROM participants WHERE event_id = :e"), {"e": event_id})
    }
    links = {
        r.registration_id: r._asdict()
        for r in conn.execute(text("SELECT * FROM provider_links WHERE event_id = :e"), {"e": event_id})
    }
    outbox = {
        r.key: (r.hlc, r.pending)
        for r in conn.execute(text("SELECT key, hlc, pending FROM sync_rows WHERE tbl = 'participants'"))
    }
    return {"participants": parts, "links": links, "outbox": outbox}


@pytest.fixture
async def fake() -> Any:
    server = FakeRunSignUp(api_secret=SECRET)
    server.add_race(48213, "Big City Marathon", [(903311, "Marathon", "26.2 Miles"), (903312, "10K", "10K")])
    server.participants[48213] = [row(i) for i in range(1, N + 1)]
    async with server:
        yield server


async def test_thousands_of_runners_sync_and_re_sync_exactly(
    rc: RaceControl, api: Api, fake: FakeRunSignUp
) -> None:
    assert rc.services is not None
    store = rc.services.store
    eid, body = await setup(rc, api, fake)

    first = await api.ok("POST", f"/api/events/{eid}/sync", body)
    # two pages of participants, one of removed participants
    assert (first["added"], first["changed"], first["pages"], first["quarantined"]) == (N, 0, 3, [])
    # the preview lists at most 500 of each, and says it cut some
    assert (len(first["added_runners"]), first["truncated"]) == (500, True)
    assert first["added_runners"][0] == {"registration_id": "100001", "bib": "1", "name": "First1 Last1"}
    s1 = await store.run(snapshot, eid)
    assert len(s1["participants"]) == N and len(s1["links"]) == N
    p7 = s1["participants"]["7"]
    assert (p7["first_name"], p7["last_name"], p7["age"], p7["gender"], p7["city"], p7["state"]) == (
        "First7",
        "Last7",
        38,
        "F",
        "Northfield",
        "MN",
    )
    assert (p7["hidden"], p7["source"], json.loads(p7["local_fields"])) == (0, "provider:runsignup", [])
    assert json.loads(p7["raw"]) == {"birth_date": "1988-03-14", "race_name": "Marathon"}
    assert json.loads(s1["participants"]["9"]["raw"])["race_name"] == "10K"
    link = s1["links"][str(100_007)]
    assert (link["participant_id"], link["status"]) == (p7["id"], "active")
    assert json.loads(link["raw"]) == fake.participants[48213][6]  # the provider's row, as sent
    # the outbox: a pending row for every participant, written by the same transaction
    assert {p["id"] for p in s1["participants"].values()} <= set(s1["outbox"])
    assert all(s1["outbox"][p["id"]][1] for p in s1["participants"].values())
    # the in-memory roster (what reads match against) has them all
    assert len(await api.ok("GET", f"/api/events/{eid}/participants")) == N

    # race day: the timer renames runner 5 here; the provider renames 1-300, moves 10 <-> 11
    await api.ok("PATCH", f"/api/events/{eid}/participants/5", {"first_name": "Local5"})
    s2 = await store.run(snapshot, eid)
    rows = fake.participants[48213]
    for r in rows[:300]:
        r["user"]["first_name"] += "-renamed"
        r["last_modified"] += 5000
    rows[9]["bib_num"], rows[10]["bib_num"] = 11, 10
    again = await api.ok("POST", f"/api/events/{eid}/sync", body)
    assert (again["added"], again["changed"], again["unchanged"], again["quarantined"]) == (
        0,
        299,  # 1-300 but 5 (its name is local: nothing else changed) ...
        N - 299,
        [],
    )
    assert (len(again["changes"]), again["truncated"]) == (299, False)
    assert again["changes"][0]["fields"] == {"first_name": {"from": "First1", "to": "First1-renamed"}}
    assert again["kept_local"] == [
        {
            "registration_id": "100005",
            "bib": "5",
            "field": "first_name",
            "local": "Local5",
            "remote": "First5-renamed",
        }
    ]
    s3 = await store.run(snapshot, eid)
    parts = s3["participants"]
    assert parts["5"]["first_name"] == "Local5" and json.loads(parts["5"]["local_fields"]) == ["first_name"]
    assert parts["300"]["first_name"] == "First300-renamed" and parts["301"]["first_name"] == "First301"
    # the swap: each runner (its id) now wears the other's bib, names follow the provider
    assert (parts["11"]["id"], parts["11"]["first_name"]) == (
        s1["participants"]["10"]["id"],
        "First10-renamed",
    )
    assert (parts["10"]["id"], parts["10"]["first_name"]) == (
        s1["participants"]["11"]["id"],
        "First11-renamed",
    )
    assert json.loads(s3["links"]["100300"]["raw"])["user"]["first_name"] == "First300-renamed"
    # changed runners: new outbox clock; unchanged ones (and their links) were not rewritten
    for bib in ("1", "300", "10", "11"):
        pid = parts[bib]["id"]
        assert s3["outbox"][pid][0] > s2["outbox"][pid][0], bib
    for bib in ("5", "301", "2999"):
        pid = parts[bib]["id"]
        assert s3["outbox"][pid] == s2["outbox"][pid], bib
        assert parts[bib]["updated_at"] == s2["participants"][bib]["updated_at"], bib
    assert s3["links"]["100301"]["synced_at"] == s1["links"]["100301"]["synced_at"]
    roster = {p["bib"]: p for p in await api.ok("GET", f"/api/events/{eid}/participants")}
    assert (roster["11"]["first_name"], roster["5"]["first_name"], len(roster)) == (
        "First10-renamed",
        "Local5",
        N,
    )

    # the same pull again: nothing to do, nothing written
    idle = await api.ok("POST", f"/api/events/{eid}/sync", body)
    assert (idle["changed"], idle["unchanged"], idle["kept_local"][0]["bib"]) == (0, N, "5")
    s4 = await store.run(snapshot, eid)
    assert s4["outbox"] == s3["outbox"]
    assert {k: v["synced_at"] for k, v in s4["links"].items()} == {
        k: v["synced_at"] for k, v in s3["links"].items()
    }


async def test_a_sync_whose_transaction_fails_applies_nothing(
    rc: RaceControl, api: Api, fake: FakeRunSignUp
) -> None:
    assert rc.services is not None
    store = rc.services.store
    eid, body = await setup(rc, api, fake)
    await api.ok("POST", f"/api/events/{eid}/sync", body)
    before = await store.run(snapshot, eid)

    def sabotage(conn: Connection) -> None:  # the database refuses the last link of the batch
        conn.execute(
            text(
                "CREATE TRIGGER scale_fail BEFORE UPDATE ON provider_links "
                f"WHEN NEW.registration_id = '{100_000 + N}' BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
            )
        )

    await store.run(sabotage)
    for r in fake.participants[48213]:
        r["user"]["first_name"] += "-renamed"
        r["last_modified"] += 5000
    code, data = await api.call("POST", f"/api/events/{eid}/sync", body)
    assert code == 500, (code, data)
    after = await store.run(snapshot, eid)
    assert after == before  # no participant renamed, no link rewritten, no outbox row touched
    roster = await api.ok("GET", f"/api/events/{eid}/participants")
    assert {p["first_name"] for p in roster[:3]} == {"First1", "First2", "First3"}


def test_a_stored_provider_row_is_compared_as_text_then_decoded() -> None:
    raw = {"registration_id": 1, "user": {"first_name": "A", "last_name": "B"}, "bib_num": 1}
    e = Entrant("runsignup", "48213", "1", raw=raw)

    def runner(stored: str) -> LocalRunner:
        return LocalRunner(
            "p1", {"bib": "1"}, registration_id="1", link_status="active", link_raw_json=stored
        )

    assert runner(json.dumps(raw)).link_is(e, "active")
    reordered = json.dumps(
        {"bib_num": 1, "user": {"last_name": "B", "first_name": "A"}, "registration_id": 1}
    )
    assert runner(reordered).link_is(e, "active")  # keys in another order: the same row
    assert not runner(json.dumps({**raw, "bib_num": 2})).link_is(e, "active")
    assert not runner(json.dumps(raw)).link_is(e, "removed")
    assert not LocalRunner("p1", {"bib": "1"}, registration_id="1", link_status="active").link_is(e, "active")


async def test_validated_rows_are_imported_as_they_are_and_a_bib_twice_is_refused(
    rc: RaceControl, api: Api
) -> None:
    assert rc.services is not None
    events, store = rc.services.events, rc.services.store
    event = await api.ok("POST", "/api/events", {"name": "Big City", "date": "2026-04-12"}, 201)
    rows = [
        ParticipantRow(bib="7", first_name="Ann", raw={"chip": "C7"}),
        ParticipantRow(bib="8", last_name="Bo"),
    ]
    uow = UnitOfWork(store)
    with pytest.raises(ValueError, match="a bib appears more than once"):
        events.plan_import_rows(uow, event["id"], [*rows, ParticipantRow(bib="7", first_name="Again")], "api")
    assert not uow.changes
    uow = UnitOfWork(store)
    events.plan_import_rows(uow, event["id"], rows, "provider:runsignup")
    await uow.commit()
    got = await api.ok("GET", f"/api/events/{event['id']}/participants")
    assert [(p["bib"], p["first_name"], p["last_name"]) for p in got] == [("7", "Ann", ""), ("8", "", "Bo")]
    snap = await store.run(snapshot, event["id"])
    assert json.loads(snap["participants"]["7"]["raw"]) == {"chip": "C7"}
    assert snap["participants"]["8"]["source"] == "provider:runsignup"
