"""A provider event's results through the real app's API and the CLI, against the fake servers:
each result matched to our participant only by the registration a roster sync linked (never by
name or bib), the provider's ids and raw row kept, and the providers without results refused."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.cli import main
from race_control.operations.provider_results import ProviderResults
from race_control.progress import Cancelled, Progress
from tests.conftest import Api
from tests.providers.fakes.copernico import FakeCopernico, athlete
from tests.providers.fakes.ctlive import FakeCtLive, entry
from tests.providers.fakes.raceroster import FakeRaceRoster, participant
from tests.providers.fakes.raceroster import result as rr_result
from tests.providers.fakes.runsignup import person
from tests.providers.fakes.runsignup_results import FakeRunSignUpResults, finisher
from tests.providers.fakes.ultrasignup import FakeUltraSignup
from tests.providers.fakes.ultrasignup import result as us_result
from tests.providers.test_provider_api import SECRET, fast_retries
from tests.providers.test_providers_cli import cli

RACE = 48213


@pytest.fixture
async def rsu() -> AsyncIterator[FakeRunSignUpResults]:
    server = FakeRunSignUpResults(api_secret=SECRET)
    server.add_race(
        RACE, "Lakeside Spring Classic", [(903311, "Half Marathon", "13.1 Miles"), (903312, "5K", "5 K")]
    )
    server.participants[RACE] = [
        person(11, 903311, 1, "Dana", "Okafor"),
        person(12, 903311, 2, "Ravi", "Shah"),
        person(13, 903312, 3, "Lee", "Park"),
    ]
    server.results[(RACE, 903311)] = [
        (
            "Half Marathon Overall",
            [
                (finisher(1, 2, "Ravi", "Shah", "1:24:10.4", "1:24:02.9"), 12),
                (finisher(2, 1, "Dana", "Okafor", "1:25:31"), 11),
                # a manual entry at RunSignUp, named and numbered like our runner 3: no registration
                (finisher(3, 3, "Lee", "Park", "1:40:00"), None),
                (finisher(4, 77, "Never", "Synced", "1:50:00"), 99),
            ],
        )
    ]
    server.results[(RACE, 903312)] = [("5K Overall", [(finisher(1, 3, "Lee", "Park", "19:59"), 13)])]
    async with server:
        yield server


async def add_account(api: Api, provider: str, base_url: str, **creds: str) -> dict[str, Any]:
    body = {"provider": provider, "label": f"{provider} timing", "credentials": creds, "base_url": base_url}
    return await api.ok("POST", "/api/providers/accounts", body, 201)


async def synced_event(
    rc: RaceControl, api: Api, acc: dict[str, Any], remote: str, name: str = "Lakeside"
) -> dict[str, str]:
    """A local event with the provider event's roster applied: {bib: participant id} (and "id";
    the API names a participant by its bib, so its id is read from the store)."""
    event = await api.ok("POST", "/api/events", {"name": name, "date": "2026-04-12"}, 201)
    body = {"account_id": acc["id"], "provider_event_id": remote, "apply": True}
    await api.ok("POST", f"/api/events/{event['id']}/sync", body)
    assert rc.services is not None
    sql = "SELECT bib, id FROM participants WHERE event_id = ?"
    ids = await rc.services.store.run(lambda conn: dict(conn.exec_driver_sql(sql, (event["id"],)).all()))
    assert ids, "the sync added no runner"
    return {"id": event["id"], **ids}


async def raw_cli(rc: RaceControl, *args: str) -> tuple[int, str, str]:
    """``race-control providers --data-dir DIR …`` through ``cli.main`` in a thread, its text output."""

    def _run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["providers", "--data-dir", str(rc.settings.data_dir), *args])
        return code, out.getvalue(), err.getvalue()

    return await asyncio.get_running_loop().run_in_executor(None, _run)


def results_path(acc: dict[str, Any], remote: str) -> str:
    return f"/api/providers/accounts/{acc['id']}/events/{remote}/results"


async def test_runsignup_results_are_matched_by_registration_never_by_name(
    rc: RaceControl, api: Api, rsu: FakeRunSignUpResults
) -> None:
    fast_retries(rc)
    acc = await add_account(api, "runsignup", rsu.url + "/Rest", api_key="key-1", api_secret=SECRET)
    local = await synced_event(rc, api, acc, str(RACE))
    got = await api.ok("GET", results_path(acc, str(RACE)))
    rows = [
        (r["race_name"], r["place"], r["bib"], r["last_name"], r["registration_id"], r["participant_id"])
        for r in got
    ]
    assert rows == [
        ("Half Marathon", 1, "2", "Shah", "12", local["2"]),
        ("Half Marathon", 2, "1", "Okafor", "11", local["1"]),
        ("Half Marathon", 3, "3", "Park", "", None),  # same name and bib as our runner 3: not matched
        ("Half Marathon", 4, "77", "Synced", "99", None),  # a registration never synced here
        ("5K", 1, "3", "Park", "13", local["3"]),
    ]
    first = got[0]
    assert (first["clock_time"], first["chip_time"], first["division"], first["race_id"]) == (
        "1:24:10.4",
        "1:24:02.9",
        "Half Marathon Overall",
        "903311",
    )
    assert (first["provider"], first["provider_event_id"], first["event_id"]) == (
        "runsignup",
        "48213",
        local["id"],
    )
    assert first["raw"]["result_id"] == 201_000_001 and first["raw"]["pace"] == "6:25"  # the provider's row
    assert SECRET not in str(got)
    asked = [r for r in rsu.requests if r.path.endswith("/get-results")]
    assert [r.query["event_id"] for r in asked] == ["903311", "903312"]
    assert all(r.headers["X-RSU-API-SECRET"] == SECRET and "api_secret" not in r.query for r in asked)

    # one race only, by its provider id or its name
    only = await api.ok("GET", results_path(acc, str(RACE)) + "?race=5K")
    assert [(r["race_id"], r["participant_id"]) for r in only] == [("903312", local["3"])]
    code, data = await api.call("GET", results_path(acc, str(RACE)) + "?race=10K")
    assert (
        code == 400 and "has no race '10K'; its races: 903311 (Half Marathon), 903312 (5K)" in data["error"]
    )

    # the same provider event synced into a second local event: which runners is ambiguous
    other = await synced_event(rc, api, acc, str(RACE), "Lakeside (copy)")
    code, data = await api.call("GET", results_path(acc, str(RACE)))
    assert code == 400 and "synced into 2 local events" in data["error"] and "'event_id'" in data["error"]
    mine = await api.ok("GET", results_path(acc, str(RACE)) + f"?event_id={other['id']}")
    assert [r["participant_id"] for r in mine] == [other["2"], other["1"], None, None, other["3"]]
    assert {r["event_id"] for r in mine} == {other["id"], None}

    # race day: runner 1 (Okafor) moved to bib 101 here; the provider's result still says bib 1.
    # The link follows the registration, so the result is still hers, with the bib she wears now
    await api.ok("PATCH", f"/api/events/{other['id']}/participants/1", {"bib": "101"})
    mine = await api.ok("GET", results_path(acc, str(RACE)) + f"?event_id={other['id']}")
    assert [(r["bib"], r["participant_id"], r["local_bib"]) for r in mine[:2]] == [
        ("2", other["2"], "2"),
        ("1", other["1"], "101"),
    ]


async def test_bad_requests_and_provider_failures(
    rc: RaceControl, api: Api, rsu: FakeRunSignUpResults
) -> None:
    fast_retries(rc)
    acc = await add_account(api, "runsignup", rsu.url + "/Rest", api_key="key-1", api_secret=SECRET)
    ok = results_path(acc, str(RACE))
    before = len(rsu.requests)
    cases = [
        ("/api/providers/accounts/nope/events/48213/results", 404, "provider account 'nope' does not exist"),
        (ok + "?speed=1", 400, "unknown parameter(s) 'speed'"),
        (ok + "?event_id=nope", 404, "nope"),
        (results_path(acc, "abc"), 400, "RunSignUp race id 'abc' must be digits"),
    ]
    for path, status, needle in cases:
        code, data = await api.call("GET", path)
        assert code == status and needle in data["error"], (path, code, data)
    assert len(rsu.requests) == before  # refused before any request to the provider

    rsu.fault("get-results", "503", times=2)
    code, data = await api.call("GET", ok)
    assert (
        code == 503 and "RunSignUp: GET /Rest/race/48213/results/get-results failed 2 times" in data["error"]
    )
    rsu.fault("get-results", "malformed")
    code, data = await api.call("GET", ok)
    assert code == 502 and "did not answer JSON" in data["error"]
    rsu.fault("get-results", "500")  # one failure, then the retry answers
    assert len(await api.ok("GET", ok)) == 5
    rsu.expired = True
    code, data = await api.call("GET", ok)
    assert code == 400 and "refused the account's credentials" in data["error"]


async def test_providers_without_results_say_why(rc: RaceControl, api: Api) -> None:
    brite = await add_account(api, "eventbrite", "https://www.eventbriteapi.com/v3", token="t0k")
    code, data = await api.call("GET", results_path(brite, "123"))
    assert code == 400 and data["error"].startswith("Eventbrite has no results: Eventbrite sells tickets")
    active = await api.ok(
        "POST", "/api/providers/accounts", {"provider": "active", "label": "ACTIVE", "credentials": {}}, 201
    )
    code, data = await api.call("GET", results_path(active, "123"))
    assert code == 400 and data["error"].startswith("ACTIVE") and "export files" in data["error"]


async def test_race_roster_results_page_and_match(rc: RaceControl, api: Api) -> None:
    fast_retries(rc)
    async with FakeRaceRoster() as rr:
        rr.participants = [
            participant(9021334, "1734", "Chloé", "Gagnon"),
            participant(9021335, "1735", "Ana", "Roy"),
        ]
        rr.results = [rr_result(9021335, 1, "1735", "Ana", "Roy", "38:12")]
        rr.results += [rr_result(None, p, str(2000 + p), f"Walk{p}", "Up", "59:00") for p in range(2, 105)]
        rr.results.append(rr_result(9021334, 105, "1734", "Chloé", "Gagnon", "1:02:03", chipTime="1:01:58"))
        acc = await add_account(
            api,
            "raceroster",
            rr.url + "/api/v1",
            client_id="rr-client",
            client_secret="rr-secret",
            username="timer",
            password="pw",
        )
        local = await synced_event(rc, api, acc, "118877")
        got = await api.ok("GET", results_path(acc, "118877"))
        assert len(got) == 105
        pages = [r.query for r in rr.requests if r.path.endswith("/results")]
        assert [(q["page"], q["perPage"]) for q in pages] == [("1", "100"), ("2", "100")]
        first, last = got[0], got[-1]
        assert (first["registration_id"], first["participant_id"], first["place"], first["gender"]) == (
            "9021335",
            local["1735"],
            1,
            "F",
        )
        assert (last["participant_id"], last["clock_time"], last["chip_time"], last["race_name"]) == (
            local["1734"],
            "1:02:03",
            "1:01:58",
            "10K",
        )
        assert (last["division"], last["race_id"], last["first_name"]) == ("F30-39", "301551", "Chloé")
        assert all(r["participant_id"] is None for r in got[1:-1])
        one = await api.ok("GET", results_path(acc, "118877") + "?race=301551")
        assert len(one) == 105 and rr.requests[-1].query["resultsRaceId"] == "301551"


async def test_ctlive_copernico_and_ultrasignup_results(rc: RaceControl, api: Api) -> None:
    fast_retries(rc)
    async with FakeCtLive() as ct:
        ct.add_event(4242, "Grandma's Marathon")
        ct.entries[4242] = [entry(61240087, 90211, "2210", "Maya", "Lindqvist")]
        ct.results[4242] = [
            {
                "results_entry_id": "61240087",
                "results_race_id": "90211",
                "results_race_name": "Marathon",
                "results_bib": "2210",
                "results_first_name": "Maya",
                "results_last_name": "Lindqvist",
                "results_sex": "F",
                "results_age": "41",
                "results_rank": "7",
                "results_primary_bracket_name": "F40-44",
                "results_gun_time": "2:58:01",
                "results_time": "2:57:40",
            }
        ]
        acc = await add_account(
            api,
            "ctlive",
            ct.url + "/api",
            client_id="cid-9",
            user_id="timer@example.org",
            password="pässword",
        )
        local = await synced_event(rc, api, acc, "4242")
        [got] = await api.ok("GET", results_path(acc, "4242"))
        assert (got["participant_id"], got["place"], got["chip_time"], got["division"]) == (
            local["2210"],
            7,
            "2:57:40",
            "F40-44",
        )

    race = "medio-maraton-valencia-2026"
    async with FakeCopernico() as cop:
        cop.add_race(race, "Medio Maratón Valencia", [("21K", 21097)])
        cop.athletes[race] = [athlete("K7M1", "512", "Lucía", "Martín", "21K")]
        cop.presets[(race, "crono@example.es", "Clasificación", "21K")] = [
            {"id": "K7M1", "dorsal": "512", "name": "Lucía", "surname": "Martín", "position": 3,
             "times": {"official_finish": 2754120, "real_finish": 2739880}},
            {"id": "ZZZ9", "dorsal": "600", "name": "Otra", "surname": "Persona", "position": 4,
             "times": {"official_finish": 2800000}},
        ]  # fmt: skip
        acc = await add_account(api, "copernico", cop.url + "/api/races", api_key="cop-key-1")
        local = await synced_event(rc, api, acc, race, "Valencia")
        code, data = await api.call("GET", results_path(acc, race))
        assert (
            code == 400
            and "Copernico results come from a preset export: 'login' is required" in data["error"]
        )
        got = await api.ok("GET", results_path(acc, race) + "?login=crono@example.es&preset=Clasificación")
        assert [
            (r["registration_id"], r["participant_id"], r["place"], r["clock_time"], r["chip_time"])
            for r in got
        ] == [
            ("K7M1", local["512"], 3, "0:45:54.120", "0:45:39.880"),
            ("ZZZ9", None, 4, "0:46:40.000", ""),
        ]

    async with FakeUltraSignup() as us:
        us.results["118204"] = [us_result("Ann", "Trail", "5:01:02", bib="12", place="1")]
        acc = await add_account(api, "ultrasignup", us.url + "/service/events.svc")
        [got] = await api.ok("GET", results_path(acc, "118204"))
        # UltraSignup results carry no registration id: never linked, whatever the name
        assert (got["registration_id"], got["participant_id"], got["clock_time"], got["place"]) == (
            "",
            None,
            "5:01:02",
            1,
        )


async def test_the_cli_prints_results_as_a_table_or_json(
    rc: RaceControl, api: Api, rsu: FakeRunSignUpResults
) -> None:
    fast_retries(rc)
    acc = await add_account(api, "runsignup", rsu.url + "/Rest", api_key="key-1", api_secret=SECRET)
    local = await synced_event(rc, api, acc, str(RACE))
    code, data, err = await cli(rc, "results", acc["id"], str(RACE), "--json")
    assert code == 0, err
    assert [r["participant_id"] for r in data] == [local["2"], local["1"], None, None, local["3"]]

    code, text, err = await raw_cli(rc, "results", acc["id"], str(RACE), "--race", "903311")
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0].split() == [
        "Place",
        "Bib",
        "First",
        "Last",
        "Race",
        "Division",
        "Clock",
        "Chip",
        "Registration",
        "Participant",
    ]
    assert lines[1].split()[:4] == ["1", "2", "Ravi", "Shah"] and lines[1].split()[-1] == local["2"]
    assert lines[3].split()[-2:] == ["-", "-"]  # the manual entry: no registration, no participant
    assert lines[-1] == "4 results, 2 matched to our participants"
    col = lines[0].index("Last")  # aligned: every row's last name starts under its heading
    assert [line[col:].split()[0] for line in lines[1:-1]] == ["Shah", "Okafor", "Park", "Synced"]
    code, text, err = await raw_cli(rc, "results", "nope", str(RACE))
    assert code == 2 and "provider account 'nope' does not exist" in err


async def test_progress_is_heard_and_cancel_stops_before_the_next_request(
    rc: RaceControl, api: Api, rsu: FakeRunSignUpResults
) -> None:
    """The operation the route calls, with the desktop's ``Progress``: each results page is heard,
    and a Cancel after the first one stops the fetch before its next request."""
    acc = await add_account(api, "runsignup", rsu.url + "/Rest", api_key="key-1", api_secret=SECRET)
    assert rc.services is not None and rc.services.ops.providers is not None
    results = ProviderResults(rc.services.store, rc.services.ops.providers.accounts)
    heard: list[str] = []
    progress = Progress(listeners=[lambda p: heard.append(p.label)])
    got = await results.fetch(acc["id"], str(RACE), progress=progress)
    assert len(got) == 5 and heard == [
        "RunSignUp: results, page 1 (4 rows)",
        "RunSignUp: results, page 2 (5 rows)",
    ]

    asked = len(rsu.paths("get-results"))
    progress = Progress(listeners=[lambda p: p.cancel()])
    with pytest.raises(Cancelled):
        await results.fetch(acc["id"], str(RACE), progress=progress)
    assert len(rsu.paths("get-results")) == asked + 1  # the second race's page was never asked for
    # a Cancel during the last page: no request follows, and still Cancelled (no answer shown)
    progress = Progress(listeners=[lambda p: p.cancel() if "page 2" in p.label else None])
    with pytest.raises(Cancelled):
        await results.fetch(acc["id"], str(RACE), progress=progress)
