"""The Eventbrite adapter against a fake Eventbrite on loopback: continuation paging, a set that
shifts between pages, cancelled/refunded attendees marked, bib/wave/team from custom questions,
changed_since with overlap, an expired token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from race_control.providers.errors import ProviderAuthError
from race_control.providers.eventbrite import Eventbrite
from tests.providers.fakes.eventbrite import FakeEventbrite, attendee

FIVE_K = ("1771002", "5K Fun Run")


@pytest.fixture
async def fake() -> AsyncIterator[FakeEventbrite]:
    server = FakeEventbrite(page_size=5)
    server.add_event("902211334455", "Desert Dash")
    server.attendees["902211334455"] = [
        attendee(100 + i, FIVE_K, f"First{i}", f"Last{i}", changed=f"2026-02-03T17:22:{i:02d}Z")
        for i in range(12)
    ]
    async with server:
        yield server


def adapter(fake: FakeEventbrite, client: httpx.AsyncClient, token: str = "PRIVATE-TOKEN-1") -> Eventbrite:
    return Eventbrite(client, {"token": token}, base_url=fake.url + "/v3")


async def test_attendees_come_by_continuation_and_a_shifting_set_is_collapsed(fake: FakeEventbrite) -> None:
    fake.shift_after_page = 1  # after page 1 someone is inserted at the front: page 2 repeats a row
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client)
        got = await a.fetch_entrants("902211334455")
    pages = [r for r in fake.requests if r.path.endswith("/attendees/")]
    assert [r.query.get("continuation") is None for r in pages] == [True, False, False]
    assert all(r.headers["Authorization"] == "Bearer PRIVATE-TOKEN-1" for r in pages)
    assert got.duplicates == 1 and len(got.entrants) == 12  # nobody twice; the front insert comes next pull
    e = got.entrants[0]
    assert (e.registration_id, e.first_name, e.gender, e.age, e.city, e.race_name, e.bib) == (
        "100",
        "First0",
        "M",
        29,
        "Tucson",  # home address before the billing one
        "5K Fun Run",
        "",  # Eventbrite has no bib
    )
    assert "bib" not in got.supplies and "team" not in got.supplies
    assert got.cursor == {"changed_since": pytest.approx(1_770_139_331.0)}


async def test_cancelled_and_refunded_attendees_are_marked_and_questions_give_bib_wave_team(
    fake: FakeEventbrite,
) -> None:
    rows = fake.attendees["902211334455"]
    rows[0].update(cancelled=True)
    rows[1].update(refunded=True, cancelled=True)
    rows[2].update(status="Transferred")
    rows[3]["answers"] = [
        {"question_id": "1", "question": "Bib number", "answer": "0042"},
        {"question_id": "2", "question": "Start wave", "answer": "B"},
        {"question_id": "3", "question": "Running club", "answer": "Desert Dogs"},
    ]
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("902211334455")
    by_id = {e.registration_id: e for e in got.entrants}
    assert [by_id[i].status for i in ("100", "101", "102", "104")] == [
        "cancelled",
        "refunded",
        "transferred",
        "active",
    ]
    runner = by_id["103"]
    assert (runner.bib, runner.wave, runner.team) == ("42", "B", "Desert Dogs")
    assert runner.custom == {"Bib number": "0042", "Start wave": "B", "Running club": "Desert Dogs"}
    assert {"bib", "wave", "team"} <= got.supplies


async def test_an_incremental_pull_sends_changed_since_with_overlap(fake: FakeEventbrite) -> None:
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("902211334455", {"changed_since": 1_770_139_331.0})
    assert fake.requests[-1].query["changed_since"] == "2026-02-03T17:22:01Z"  # 10 s back
    assert not got.full and [e.registration_id for e in got.entrants] == [str(100 + i) for i in range(1, 12)]


async def test_events_ticket_classes_and_an_expired_token(fake: FakeEventbrite) -> None:
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client)
        [event] = await a.list_events()
        races = await a.races("902211334455")
        assert (event.provider_event_id, event.name, event.date, event.timezone) == (
            "902211334455",
            "Desert Dash",
            "2026-05-09",
            "America/Phoenix",
        )
        assert [(r.provider_race_id, r.name) for r in races] == [
            ("1771002", "5K Fun Run"),
            ("1771003", "10K"),
        ]
        fake.expired = True
        with pytest.raises(
            ProviderAuthError,
            match="Eventbrite refused the account's credentials at /v3/events/902211334455/attendees/: HTTP 401",
        ):
            await a.fetch_entrants("902211334455")
