"""Provider accounts and roster re-sync through the real app's API, against a fake RunSignUp:
preview changes nothing, apply does it in one go, race-day edits win, screens that showed a
runner renamed by a re-sync get a correction, and credentials never come back out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from race_control.app import RaceControl
from race_control.providers.base import RetryPolicy
from tests.conftest import Api
from tests.display.test_resume import finishers, lines, setup_session
from tests.providers.fakes.copernico import FakeCopernico, athlete
from tests.providers.fakes.runsignup import FakeRunSignUp, person

SECRET = "s3cret-rsu"


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunSignUp]:
    server = FakeRunSignUp(api_secret=SECRET)
    server.add_race(48213, "Lakeside Spring Classic", [(903311, "Half Marathon", "13.1 Miles")])
    server.participants[48213] = [
        person(11, 903311, 1, "Runner1", "X", city="Boise"),
        person(12, 903311, 2, "Runner2", "X"),
        person(13, 903311, 60, "New", "Person"),
        person(14, 903311, None, "Late", "Registrant"),
    ]
    async with server:
        yield server


async def account(api: Api, fake: FakeRunSignUp) -> dict[str, Any]:
    body = {
        "provider": "runsignup",
        "label": "Lakeside timing",
        "credentials": {"api_key": "key-1", "api_secret": SECRET},
        "base_url": fake.url + "/Rest",
    }
    return await api.ok("POST", "/api/providers/accounts", body, 201)


async def corrections(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while len(out) < n:
            msg = await ws.receive_json()
            if msg["type"] == "correction":
                out.append(msg)
    return out


def fast_retries(rc: RaceControl) -> None:
    assert rc.services is not None and rc.services.ops.providers is not None
    rc.services.ops.providers.accounts.retry = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)


async def test_providers_and_accounts_never_echo_a_secret(
    rc: RaceControl, api: Api, fake: FakeRunSignUp
) -> None:
    listed = await api.ok("GET", "/api/providers")
    assert [(p["id"], p["kind"], p["credentials"]) for p in listed] == [
        ("runsignup", "registration", ["api_key", "api_secret"]),
        ("raceroster", "registration", ["client_id", "client_secret", "username", "password"]),
        ("ultrasignup", "file", []),  # the RD's entrants export: the roster file import
        ("active", "file", []),  # an ACTIVEWorks export file: POST /api/events/{id}/roster/import
        ("eventbrite", "registration", ["token"]),
        ("ctlive", "scoring", ["client_id", "user_id", "password"]),
        ("copernico", "scoring", ["api_key"]),
    ]
    assert all(
        set(p) == {"id", "name", "kind", "credentials", "incremental", "default_base_url"} for p in listed
    )
    acc = await account(api, fake)
    assert acc["provider"] == "runsignup" and acc["label"] == "Lakeside timing"
    assert acc["credentials"] == ["api_key", "api_secret"] and SECRET not in str(acc)
    assert SECRET not in str(await api.ok("GET", "/api/providers/accounts"))
    events = await api.ok("GET", f"/api/providers/accounts/{acc['id']}/events")
    assert [(e["provider_event_id"], e["name"], e["date"]) for e in events] == [
        ("48213", "Lakeside Spring Classic", "2026-04-12")
    ]
    # not in the database (nor its WAL), whatever the keyring
    assert rc.services is not None
    await rc.services.store.run(lambda conn: None)
    db = rc.settings.database_path
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            assert SECRET.encode() not in path.read_bytes(), path

    bad = [
        ({"provider": "nope", "label": "x", "credentials": {}}, 400, "unknown provider 'nope'"),
        ({"provider": "copernico", "label": "x", "credentials": {}}, 400, "credential 'api_key' is required"),
        ({"provider": "webscorer", "label": "x", "credentials": {}}, 400, "unknown provider 'webscorer'"),
        (
            {"provider": "runsignup", "label": "x", "credentials": {"api_key": "k"}},
            400,
            "credential 'api_secret' is required",
        ),
        ({"provider": "runsignup", "label": "", "credentials": {}}, 400, "'label' is required"),
        (
            {
                "provider": "runsignup",
                "label": "x",
                "credentials": {"api_key": "k", "api_secret": "s", "pin": "1"},
            },
            400,
            "unknown credential field(s) 'pin'",
        ),
        (
            {
                "provider": "runsignup",
                "label": "x",
                "credentials": {"api_key": "k", "api_secret": "s"},
                "base_url": "ftp://x",
            },
            400,
            "'base_url'",
        ),
        (
            {"provider": "runsignup", "label": "x", "credentials": [], "extra": 1},
            400,
            "unknown field(s) 'extra'",
        ),
    ]
    for body, status, needle in bad:
        code, data = await api.call("POST", "/api/providers/accounts", body)
        assert code == status and needle in data["error"], (body, code, data)
    code, data = await api.call("GET", "/api/providers/accounts/nope/events")
    assert code == 404 and "provider account 'nope' does not exist" in data["error"]
    assert len(await api.ok("GET", "/api/providers/accounts")) == 1


async def test_preview_apply_keep_local_and_correct_screens(
    rc: RaceControl, api: Api, fake: FakeRunSignUp
) -> None:
    fast_retries(rc)
    session, client = await setup_session(api, rc.timing_port)  # runners 1-50 "RunnerN X"
    eid = session["event_id"]
    acc = await account(api, fake)
    sync = f"/api/events/{eid}/sync"
    body = {"account_id": acc["id"], "provider_event_id": "48213", "apply": False}
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await client.send(lines(1, 2))
        shown = await finishers(ws, 2)
        assert [m["name"] for m in shown] == ["Runner1 X", "Runner2 X"]

        before = await api.ok("GET", f"/api/events/{eid}/participants")
        preview = await api.ok("POST", sync, body)
        assert {k: preview[k] for k in ("added", "changed", "removed", "unchanged", "applied")} == {
            "added": 1,
            "changed": 2,  # city of 1; age/sex/city... of 2 (the CSV had none)
            "removed": 0,
            "unchanged": 0,
            "applied": False,
        }
        assert preview["quarantined"] == [
            {
                "row": "registration 14 (Late Registrant)",
                "reason": "has no bib yet: assign one at the provider, or add the runner here as a walk-up",
            }
        ]
        assert preview["kept_local"] == []
        assert await api.ok("GET", f"/api/events/{eid}/participants") == before  # a preview changes nothing

        applied = await api.ok("POST", sync, {**body, "apply": True})
        assert (applied["added"], applied["changed"], applied["applied"]) == (1, 2, True)
        roster = {p["bib"]: p for p in await api.ok("GET", f"/api/events/{eid}/participants")}
        assert len(roster) == 51 and roster["60"]["first_name"] == "New" and roster["1"]["city"] == "Boise"
        await corrections(ws, 2)  # bib 1's city, bib 2's age/city: their screens are corrected

        # race day: the timer fixes runner 1's first name here; the provider renames runner 2
        await api.ok("PATCH", f"/api/events/{eid}/participants/1", {"first_name": "Annie"})
        [fix] = await corrections(ws, 1)
        assert fix["name"] == "Annie X"
        fake.participants[48213][0]["user"]["first_name"] = "Anna"  # loses to the local edit
        fake.participants[48213][0]["user"]["address"]["city"] = "Denver"
        fake.participants[48213][1]["user"]["first_name"] = "Robin"
        for row in fake.participants[48213]:
            row["last_modified"] += 100

        again = await api.ok("POST", sync, {**body, "apply": True})
        assert (again["added"], again["changed"], again["unchanged"]) == (0, 2, 1)
        assert again["kept_local"] == [
            {"registration_id": "11", "bib": "1", "field": "first_name", "local": "Annie", "remote": "Anna"}
        ]
        fixes = {f["bib"]: f for f in await corrections(ws, 2)}
        assert fixes["2"]["name"] == "Robin X" and fixes["2"]["corrects_seq"] == shown[1]["seq"]
        assert fixes["1"]["name"] == "Annie X" and fixes["1"]["city"] == "Denver"
        roster = {p["bib"]: p for p in await api.ok("GET", f"/api/events/{eid}/participants")}
        assert (roster["1"]["first_name"], roster["1"]["city"], roster["2"]["first_name"]) == (
            "Annie",
            "Denver",
            "Robin",
        )
    await client.close()


async def test_an_incremental_re_sync_and_removals_are_marked_not_deleted(
    rc: RaceControl, api: Api, fake: FakeRunSignUp
) -> None:
    fast_retries(rc)
    event = await api.ok("POST", "/api/events", {"name": "Lakeside", "date": "2026-04-12"}, 201)
    eid = event["id"]
    acc = await account(api, fake)
    body = {"account_id": acc["id"], "provider_event_id": "48213", "apply": True}
    first = await api.ok("POST", f"/api/events/{eid}/sync", body)
    assert (first["added"], first["full"]) == (3, True)
    assert "modified_after_timestamp" not in fake.requests[-2].query

    # the second pull is incremental: 10 s before the newest row seen; the boundary rows come again
    from tests.providers.fakes.runsignup import removed

    fake.removed[48213] = [removed(12, 903311, "Runner2", "X", "transferred", new_reg=99)]
    second = await api.ok("POST", f"/api/events/{eid}/sync", body)
    sent = [
        r.query.get("modified_after_timestamp") for r in fake.requests if r.path.endswith("/participants")
    ]
    assert sent[-1] == str(1_768_000_000 - 10)
    assert (second["full"], second["added"], second["changed"], second["removed"]) == (False, 0, 0, 1)
    assert second["removals"] == [
        {
            "registration_id": "12",
            "bib": "2",
            "name": "Runner2 X",
            "status": "transferred",
            "reason": "transferred",
            "transferred_to": "99",
        }
    ]
    assert second["suspected_removals"] == []
    roster = [p["bib"] for p in await api.ok("GET", f"/api/events/{eid}/participants")]
    assert roster == ["1", "2", "60"]  # marked at the provider, still in the roster

    # a full pull without runner 60: a suspected removal, listed, not deleted
    fake.participants[48213] = [r for r in fake.participants[48213] if r["registration_id"] != 13]
    third = await api.ok("POST", f"/api/events/{eid}/sync", {**body, "full": True})
    assert [s["bib"] for s in third["suspected_removals"]] == ["60"]
    assert [p["bib"] for p in await api.ok("GET", f"/api/events/{eid}/participants")] == ["1", "2", "60"]


async def test_bad_input_and_provider_failures_are_clear(
    rc: RaceControl, api: Api, fake: FakeRunSignUp
) -> None:
    fast_retries(rc)
    event = await api.ok("POST", "/api/events", {"name": "Lakeside", "date": "2026-04-12"}, 201)
    acc = await account(api, fake)
    sync = f"/api/events/{event['id']}/sync"
    ok = {"account_id": acc["id"], "provider_event_id": "48213", "apply": False}
    cases = [
        (sync, {**ok, "apply": "yes"}, 400, "'apply' must be true"),
        (sync, {**ok, "account_id": "nope"}, 404, "provider account 'nope'"),
        (sync, {**ok, "provider_event_id": ""}, 400, "'provider_event_id'"),
        (sync, {**ok, "provider_event_id": "../x"}, 400, "must be digits"),
        (sync, {**ok, "speed": 1}, 400, "unknown field(s) 'speed'"),
        (sync, [], 400, "JSON object"),
        ("/api/events/nope/sync", ok, 404, "event 'nope'"),
    ]
    for path, body, status, needle in cases:
        code, data = await api.call("POST", path, body)
        assert code == status and needle in data["error"], (body, code, data)

    fake.fault("/participants", "malformed")
    code, data = await api.call("POST", sync, ok)
    assert code == 502 and "RunSignUp: /Rest/race/48213/participants did not answer JSON" in data["error"]
    fake.fault("/participants", "500", times=5)
    code, data = await api.call("POST", sync, ok)
    assert code == 503 and "failed 2 times" in data["error"]
    fake.faults.clear()
    fake.expired = True
    code, data = await api.call("POST", sync, ok)
    assert code == 400 and "RunSignUp refused the account's credentials" in data["error"]
    assert SECRET not in data["error"]
    fake.expired = False
    assert await api.ok("GET", f"/api/events/{event['id']}/participants") == []


async def test_a_bib_swap_at_the_provider_is_applied_in_one_transaction(
    rc: RaceControl, api: Api, fake: FakeRunSignUp
) -> None:
    fast_retries(rc)
    event = await api.ok("POST", "/api/events", {"name": "Lakeside", "date": "2026-04-12"}, 201)
    acc = await account(api, fake)
    body = {"account_id": acc["id"], "provider_event_id": "48213", "apply": True, "full": True}
    await api.ok("POST", f"/api/events/{event['id']}/sync", body)
    rows = fake.participants[48213]
    rows[0]["bib_num"], rows[1]["bib_num"] = 2, 1  # Runner1 and Runner2 swap bibs at the provider
    done = await api.ok("POST", f"/api/events/{event['id']}/sync", body)
    assert (done["changed"], done["quarantined"][1:]) == (2, [])
    roster = {
        p["bib"]: p["first_name"] for p in await api.ok("GET", f"/api/events/{event['id']}/participants")
    }
    assert roster == {"1": "Runner2", "2": "Runner1", "60": "New"}


async def test_a_copernico_race_syncs_and_an_ultrasignup_account_points_to_its_file(
    rc: RaceControl, api: Api
) -> None:
    fast_retries(rc)
    race = "medio-maraton-valencia-2026"
    async with FakeCopernico() as cop:
        cop.add_race(race, "Medio Maratón Valencia", [("21K", 21097)])
        cop.athletes[race] = [athlete(f"K7M{i}", str(i), f"Nombre{i}", "Apellido", "21K") for i in (1, 2, 3)]
        cop.athletes[race][2]["events"][0]["realStatus"] = "withdrawn"
        body = {
            "provider": "copernico",
            "label": "Valencia",
            "credentials": {"api_key": "cop-key-1"},
            "base_url": cop.url + "/api/races",
        }
        acc = await api.ok("POST", "/api/providers/accounts", body, 201)
        assert acc["credentials"] == ["api_key"] and "cop-key-1" not in str(acc)
        [listed] = await api.ok("GET", f"/api/providers/accounts/{acc['id']}/events")
        assert (listed["provider_event_id"], listed["name"], listed["races"][0]["name"]) == (
            race,
            "Medio Maratón Valencia",
            "21K",
        )
        event = await api.ok("POST", "/api/events", {"name": "Valencia", "date": "2026-03-08"}, 201)
        sync = {"account_id": acc["id"], "provider_event_id": race, "apply": True}
        done = await api.ok("POST", f"/api/events/{event['id']}/sync", sync)
        assert (done["added"], done["applied"], done["quarantined"]) == (
            2,
            True,
            [],
        )  # the withdrawn one is not added
        roster = await api.ok("GET", f"/api/events/{event['id']}/participants")
        assert [(p["bib"], p["first_name"], p["division"], p["wave"]) for p in roster] == [
            ("1", "Nombre1", "SENIOR F", "2"),
            ("2", "Nombre2", "SENIOR F", "2"),
        ]

    ultra = await api.ok(
        "POST",
        "/api/providers/accounts",
        {"provider": "ultrasignup", "label": "Bend 50K", "credentials": {}},
        201,
    )
    assert ultra["credentials"] == [] and ultra["base_url"] == "https://ultrasignup.com/service/events.svc"
    assert await api.ok("GET", f"/api/providers/accounts/{ultra['id']}/events") == []  # no account API
    code, data = await api.call(
        "POST",
        f"/api/events/{event['id']}/sync",
        {"account_id": ultra["id"], "provider_event_id": "118204", "apply": False},
    )
    assert (
        code == 400
        and "UltraSignup has no participant API: import the race director's entrants export" in data["error"]
    )
