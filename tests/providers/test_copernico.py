"""The Copernico adapter against a fake Copernico on loopback: x-api-key, races with their
events, athlete summaries completed by /full (in parallel, bounded), withdrawn athletes marked,
an empty answer never taken for "everyone left", and the public preset export with ms times,
a gzip body without Content-Encoding and double-encoded UTF-8."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from race_control.progress import Cancelled, Progress
from race_control.providers.base import RetryPolicy
from race_control.providers.copernico import Copernico, fix_mojibake, ms_time
from race_control.providers.errors import (
    ProviderAuthError,
    ProviderInputError,
    ProviderMalformed,
    ProviderShapeError,
    ProviderUnavailable,
)
from tests.providers.fakes.copernico import FakeCopernico, athlete
from tests.providers.test_runsignup import Sleeps

RACE = "medio-maraton-valencia-2026"
CREDS = {"api_key": "cop-key-1"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeCopernico]:
    server = FakeCopernico()
    server.add_race(RACE, "Medio Maratón Valencia", [("21K", 21097), ("10K", 10000)])
    server.athletes[RACE] = [
        athlete(f"K7M{i:05d}", str(500 + i), f"Nombre{i}", f"Apellido{i}", "21K" if i % 2 else "10K")
        for i in range(1, 26)
    ]
    async with server:
        yield server


def adapter(fake: FakeCopernico, client: httpx.AsyncClient, **kw: object) -> Copernico:
    return Copernico(client, kw.pop("creds", CREDS), base_url=fake.url + "/api/races", **kw)  # type: ignore[arg-type]


def test_mojibake_and_milliseconds() -> None:
    assert fix_mojibake("LucÃ­a MartÃ­n PÃ©rez") == "Lucía Martín Pérez"
    assert fix_mojibake("Peña São Ålesund") == "Peña São Ålesund"  # right already: untouched
    assert fix_mojibake("itâ€\u2122s") == "it\u2019s"  # cp1252's three bytes
    assert (ms_time(2754120), ms_time(1371330), ms_time(0), ms_time(None)) == (
        "0:45:54.120",
        "0:22:51.330",
        "",
        "",
    )


async def test_athletes_are_completed_by_full_and_normalized(fake: FakeCopernico) -> None:
    rows = fake.athletes[RACE]
    rows[0].update(name="LucÃ­a", gender="female", birthdate="1990-05-04", extrafield1="Valencia")
    rows[1]["events"][0].update(realStatus="withdrawn", status="withdrawn")
    rows[2]["events"].append({**rows[2]["events"][0], "event": "Relevo", "dorsal": "9003"})
    rows[3]["events"][0].update(dorsal="", team="Runners Turia")
    fake.full_delay = 0.05
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client)
        a.parallel = 4
        got = await a.fetch_entrants(RACE)
    assert fake.max_in_flight == 4  # together, but never more than `parallel` at once
    fulls = [r for r in fake.requests if r.path.endswith("/full")]
    assert len(fulls) == 25 and all(r.headers["x-api-key"] == "cop-key-1" for r in fake.requests)
    assert got.full and len(got.entrants) == 26 and got.quarantined == [] and a.rows == 50
    by_id = {e.registration_id: e for e in got.entrants}
    e = by_id["K7M00001"]
    assert (e.provider, e.provider_event_id, e.bib, e.first_name, e.last_name, e.gender, e.birth_date) == (
        "copernico",
        RACE,
        "501",
        "Lucía",
        "Apellido1",
        "F",
        "1990-05-04",
    )
    assert (e.race_name, e.division, e.wave, e.team, e.chip, e.custom) == (
        "21K",
        "SENIOR F",
        "2",
        "CA Turia",
        "E2000017000501",
        {"extrafield1": "Valencia"},
    )
    assert e.raw["events"][0]["dorsal"] == "501"  # the payload as it came
    assert (by_id["K7M00002"].status, by_id["K7M00002"].status_reason) == ("removed", "withdrawn")
    assert by_id["K7M00003:Relevo"].bib == "9003" and by_id["K7M00003"].bib == "503"
    assert by_id["K7M00004"].bib == "" and by_id["K7M00004"].team == "Runners Turia"  # team before club
    # gender was in one athlete's object: supplied; no city anywhere: a sync leaves it alone
    assert "gender" in got.supplies and "city" not in got.supplies and "age" not in got.supplies


async def test_a_whole_athlete_list_needs_no_full_requests_and_empty_is_not_full(
    fake: FakeCopernico,
) -> None:
    fake.full_list = True
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants(RACE)
        assert len(got.entrants) == 25 and fake.paths("/full") == []
        fake.athletes[RACE] = []
        empty = await adapter(fake, client).fetch_entrants(RACE)
    assert empty.entrants == [] and not empty.full  # never "everyone withdrew"


async def test_races_with_their_events(fake: FakeCopernico) -> None:
    fake.add_race("carrera-de-la-mujer-2026", "Carrera de la Mujer", [("5K", 5000)])
    async with httpx.AsyncClient() as client:
        events = await adapter(fake, client).list_events()
        fake.ids_only = True
        assert [e.provider_event_id for e in await adapter(fake, client).list_events()] == [
            RACE,
            "carrera-de-la-mujer-2026",
        ]
    assert fake.requests[0].path == "/api/races"  # no trailing slash
    ev = events[0]
    assert (ev.provider_event_id, ev.name, ev.date, ev.timezone, ev.city) == (
        RACE,
        "Medio Maratón Valencia",
        "2026-03-08",
        "Europe/Madrid",
        "València",
    )
    assert [(r.provider_race_id, r.name, r.distance) for r in ev.races] == [
        ("21K", "21K", "21097 m"),
        ("10K", "10K", "10000 m"),
    ]


async def test_the_preset_export_gzip_without_header_and_mojibake(fake: FakeCopernico) -> None:
    rows = [
        {
            "dorsal": "512",
            "name": "Lucía",
            "surname": "Martín Pérez",
            "gender": "female",
            "category": "SENIOR F",
            "status": "finished",
            "position": 3,
            "times.official_finish": 2754120,
            "times.real_finish": 2739880,
            "times.official_5k": 1371330,
        },
        {
            "dorsal": "513",
            "name": "Pau",
            "surname": "Ribó",
            "status": "dnf",
            "times": {"official_finish": None},
        },
    ]
    fake.presets[(RACE, "crono@example.es", "Clasificación", "21K")] = rows
    fake.gzip_raw = fake.mojibake = True
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client, creds={"api_key": "not-needed-here"})
        first, second = await a.fetch_results(RACE, "crono@example.es", "Clasificación", "21K")
        fake.gzip_raw = fake.mojibake = False
        fake.preset_bare = True
        bare = await a.fetch_preset(RACE, "crono@example.es", "Clasificación", "21K")
    [req, _] = fake.paths("/preset/")
    assert req == f"/api/races/{RACE}/preset/crono@example.es:::Clasificación/21K"
    assert "x-api-key" not in fake.requests[0].headers  # public: the key is not sent
    assert (first.bib, first.first_name, first.last_name, first.gender, first.place) == (
        "512",
        "Lucía",
        "Martín Pérez",
        "F",
        3,
    )
    assert (first.clock_time, first.chip_time, first.raw["times.official_5k"]) == (
        "0:45:54.120",
        "0:45:39.880",
        1371330,
    )
    assert (second.last_name, second.clock_time, second.raw["times.official_finish"]) == ("Ribó", "", None)
    assert [r["surname"] for r in bare] == ["Martín Pérez", "Ribó"]
    with pytest.raises(ProviderInputError, match="needs 'preset'"):
        await a.fetch_preset(RACE, "crono@example.es", " ", "21K")


async def test_faults_are_retried_and_named(fake: FakeCopernico) -> None:
    fake.fault("/athletes", "429", retry_after=3)
    fake.fault("/athlete/K7M00007/full", "500")
    fake.fault("/athlete/K7M00009/full", "slow", delay=2.5)
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        # a timeout well above a loopback answer on a loaded CI machine (0.3 s timed out 4
        # healthy requests there), well below the slow fault's delay
        a = adapter(fake, client, sleep=sleeps, retry=RetryPolicy(timeout=1.0))
        got = await a.fetch_entrants(RACE)
        assert len(got.entrants) == 25 and a.retries == 3 and 3 in sleeps.waits

        fake.fault("/athletes", "malformed")
        with pytest.raises(
            ProviderMalformed, match=f"Copernico: /api/races/{RACE}/athletes did not answer JSON"
        ) as bad:
            await adapter(fake, client).fetch_entrants(RACE)
        assert (bad.value.provider, bad.value.path) == ("copernico", f"/api/races/{RACE}/athletes")

        fake.shape_change = True
        with pytest.raises(ProviderShapeError, match=f"/api/races/{RACE}/athletes: 'data' should be a list"):
            await adapter(fake, client).fetch_entrants(RACE)
        fake.full_list = False
        fake.shape_change = False
        fake.athletes[RACE][4]["inscriptions"] = fake.athletes[RACE][4].pop("events")
        with pytest.raises(ProviderShapeError) as shape:
            await adapter(fake, client).fetch_entrants(RACE)
        assert (shape.value.field, shape.value.path) == ("events", f"/api/races/{RACE}/athlete/K7M00005/full")
        fake.athletes[RACE][4]["events"] = fake.athletes[RACE][4].pop("inscriptions")

        fake.fault("/athlete/K7M00002/full", "503", times=9)
        with pytest.raises(ProviderUnavailable, match="failed 2 times"):
            await adapter(fake, client, sleep=Sleeps(), retry=RetryPolicy(attempts=2)).fetch_entrants(RACE)

        with pytest.raises(
            ProviderAuthError,
            match=f"Copernico refused the account's credentials at /api/races/{RACE}/athletes",
        ) as auth:
            await adapter(fake, client, creds={"api_key": "wrong"}).fetch_entrants(RACE)
        assert "wrong" not in str(auth.value)
        with pytest.raises(ProviderInputError, match="must be the race's slug"):
            await adapter(fake, client).fetch_entrants("../etc")


async def test_a_cancelled_pull_stops_before_its_next_request(fake: FakeCopernico) -> None:
    progress = Progress()
    progress.listeners.append(lambda p: p.cancel() if "athletes, page" in p.label else None)
    async with httpx.AsyncClient() as client:
        with pytest.raises(Cancelled):
            await adapter(fake, client, progress=progress).fetch_entrants(RACE)
    assert fake.paths("/full") == []
