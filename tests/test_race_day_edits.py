"""Race-day roster actions without Qt (operations/roster.py): a bib swap and a walk-up are one
action each, a swap corrects the screens that showed either runner, and a later provider re-sync
keeps both (the swapped bibs are local: listed as kept_local, not moved back)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from race_control.app import RaceControl
from race_control.errors import Conflict, InputError, NotFound
from tests.conftest import Api
from tests.display.test_resume import finishers, lines, setup_session
from tests.providers.fakes.runsignup import FakeRunSignUp, person
from tests.providers.test_provider_api import SECRET, account, corrections, fast_retries


@pytest.fixture
async def provider() -> AsyncIterator[FakeRunSignUp]:
    server = FakeRunSignUp(api_secret=SECRET)
    server.add_race(48213, "Lakeside Spring Classic", [(903311, "Half Marathon", "13.1 Miles")])
    server.participants[48213] = [
        person(11, 903311, 1, "Runner1", "X"),
        person(12, 903311, 2, "Runner2", "X"),
    ]
    async with server:
        yield server


async def test_a_swap_corrects_screens_and_a_re_sync_keeps_it_and_the_walk_up(
    rc: RaceControl, api: Api, provider: FakeRunSignUp
) -> None:
    fast_retries(rc)
    assert rc.services is not None
    ops = rc.services.ops.roster
    session, client = await setup_session(api, rc.timing_port)  # runners 1-50 "RunnerN X"
    eid = session["event_id"]
    acc = await account(api, provider)
    body = {"account_id": acc["id"], "provider_event_id": "48213", "apply": True, "full": True}
    await api.ok("POST", f"/api/events/{eid}/sync", body)  # runners 1 and 2 linked
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await client.send(lines(1, 2))
        shown = await finishers(ws, 2)
        swapped = await ops.swap_bibs(eid, "1", "2")
        assert (swapped.first.bib, swapped.first.first_name) == ("2", "Runner1")
        assert (swapped.second.bib, swapped.second.first_name) == ("1", "Runner2")
        assert swapped.corrections == 2
        fixes = {f["bib"]: f for f in await corrections(ws, 2)}
        assert fixes["1"]["name"] == "Runner2 X" and fixes["1"]["corrects_seq"] == shown[0]["seq"]
        assert fixes["2"]["name"] == "Runner1 X"
    await client.close()

    walk = await ops.add_walk_up(eid, {"bib": "70", "first_name": "Walk", "last_name": "Up"})
    assert walk.participant.bib == "70"
    by_bib = {p["bib"]: p for p in await api.ok("GET", f"/api/events/{eid}/participants")}
    assert (by_bib["1"]["first_name"], by_bib["2"]["first_name"], by_bib["70"]["last_name"]) == (
        "Runner2",
        "Runner1",
        "Up",
    )

    # the provider still has the old bibs: the re-sync keeps the swap, lists it, moves nobody
    # ... and the walk-up, who registered at the provider since (bib 70, the same last name:
    # taken for him), keeps the name typed here
    provider.participants[48213].append(person(13, 903311, 70, "Walker", "Up"))
    again = await api.ok("POST", f"/api/events/{eid}/sync", body)
    kept = sorted((k["bib"], k["field"], k["local"], k["remote"]) for k in again["kept_local"])
    assert kept == [("1", "bib", "1", "2"), ("2", "bib", "2", "1"), ("70", "first_name", "Walk", "Walker")]
    assert (again["added"], again["quarantined"]) == (0, [])
    by_bib = {p["bib"]: p for p in await api.ok("GET", f"/api/events/{eid}/participants")}
    assert (by_bib["1"]["first_name"], by_bib["2"]["first_name"], by_bib["70"]["first_name"]) == (
        "Runner2",
        "Runner1",
        "Walk",
    )


async def test_bad_swaps_and_walk_ups_change_nothing(rc: RaceControl, api: Api) -> None:
    assert rc.services is not None
    ops = rc.services.ops.roster
    event = await api.ok("POST", "/api/events", {"name": "Lakeside", "date": "2026-04-12"}, 201)
    eid = event["id"]
    await api.ok("POST", f"/api/events/{eid}/participants", [{"bib": "1", "first_name": "Ann"}])
    before = await api.ok("GET", f"/api/events/{eid}/participants")
    cases = [
        (ops.swap_bibs(eid, "1", "9"), NotFound, "bib '9' is not in the roster"),
        (ops.swap_bibs(eid, "1", " 1 "), InputError, "two different bibs"),
        (ops.add_walk_up(eid, {"bib": "1", "first_name": "Bo"}), Conflict, "bib 1 already belongs to Ann"),
        (ops.add_walk_up(eid, {"bib": "5", "first_name": "Bo", "age": "old"}), InputError, "age"),
        (ops.add_walk_up(eid, {"first_name": "Bo"}), InputError, "'bib' is required"),
        (ops.add_walk_up(eid, {}), InputError, "needs its fields"),
    ]
    for coro, kind, needle in cases:
        with pytest.raises(kind, match=needle):
            await coro
    assert await api.ok("GET", f"/api/events/{eid}/participants") == before
