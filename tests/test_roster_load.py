"""The roster a restart loads is the roster that was stored: every field, every event.

``EventService.load`` reads the participants as plain driver rows in ParticipantRow's field
order (start-up speed, issue #13); a column read into the wrong field, a lost ``hidden`` or
``raw``, or a runner filed under another event would show here.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from tests.helpers.live_app import running

RUNNERS = [
    {
        "bib": "0042",
        "first_name": "Zoë",
        "last_name": "Müller",
        "age": 37,
        "gender": "F",
        "city": "Boise",
        "state": "ID",
        "country": "USA",
        "division": "F35-39",
        "team": "Rockets",
        "wave": "A",
        "message": "Go Mom!",
        "alias": "",
        "hidden": False,
        "shirt": "M",
    },
    {"bib": "7", "first_name": "Ann", "last_name": "Lee", "alias": "The Flash", "hidden": True},
]


async def test_a_restart_loads_every_field_of_every_runner(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        a = await api.ok("POST", "/api/events", {"name": "A", "date": "2026-06-01"}, 201)
        b = await api.ok("POST", "/api/events", {"name": "B", "date": "2026-06-02"}, 201)
        await api.ok("POST", f"/api/events/{a['id']}/participants", RUNNERS)
        await api.ok("POST", f"/api/events/{b['id']}/participants", [{"bib": "7", "first_name": "Bo"}])
        before = {e: await api.ok("GET", f"/api/events/{e}/participants") for e in (a["id"], b["id"])}
        assert rc.services is not None
        mem = {e: {r.bib: r for r in rc.services.events.roster(e)} for e in (a["id"], b["id"])}
    async with running(settings) as (rc, api):
        after = {e: await api.ok("GET", f"/api/events/{e}/participants") for e in (a["id"], b["id"])}
        assert rc.services is not None
        assert {e: {r.bib: r for r in rc.services.events.roster(e)} for e in (a["id"], b["id"])} == mem
    assert after == before
    assert mem[a["id"]]["42"].raw == {"shirt": "M"} and mem[a["id"]]["7"].hidden is True
    assert mem[a["id"]]["42"].age == 37 and mem[a["id"]]["42"].division == "F35-39"
    assert mem[b["id"]]["7"].first_name == "Bo"
