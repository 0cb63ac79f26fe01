"""The ChronoTrack Live adapter against a fake CT Live on loopback: SHA-1 simple auth, paging by
the X-Ctlive-* headers (or a short page without them), entries and results normalized."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest

from race_control.providers.ctlive import ChronoTrackLive, password_hash
from race_control.providers.errors import ProviderAuthError, ProviderShapeError
from tests.providers.fakes.ctlive import FakeCtLive, entry

CREDS = {"client_id": "cid-9", "user_id": "timer@example.org", "password": "pässword"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeCtLive]:
    server = FakeCtLive()
    server.add_event(40123, "Lake Superior Marathon")
    server.entries[40123] = [
        entry(61_240_000 + i, 90211, str(2200 + i), f"First{i}", f"Last{i}") for i in range(1, 24)
    ]
    async with server:
        yield server


def adapter(fake: FakeCtLive, client: httpx.AsyncClient, creds: dict[str, str] = CREDS) -> ChronoTrackLive:
    a = ChronoTrackLive(client, creds, base_url=fake.url + "/api")
    a.page_size = 10
    return a


def test_the_password_is_sent_as_sha1_hex_and_never_hashed_twice() -> None:
    digest = hashlib.sha1("pässword".encode()).hexdigest()
    assert password_hash("pässword") == digest
    assert password_hash(digest.upper()) == digest  # a stored hash is already what CT Live wants


async def test_entries_page_by_the_ctlive_headers(fake: FakeCtLive) -> None:
    fake.entries[40123] += [
        entry(61_250_000 + i, 90211, str(3000 + i), f"More{i}", "M") for i in range(7)
    ]  # 30: 3 full pages
    fake.entries[40123][0].update(entry_bib="", entry_status="ACTIVE")
    fake.entries[40123][1].update(entry_status="CANCELLED")
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client)
        got = await a.fetch_entrants("40123")
    pages = [r for r in fake.requests if r.path.endswith("/entry")]
    assert [r.query["page"] for r in pages] == ["1", "2", "3"]  # Page-Count 3: no 4th (empty) request
    assert all(r.query["user_pass"] == hashlib.sha1("pässword".encode()).hexdigest() for r in pages)
    assert all("pässword" not in str(r.query) for r in fake.requests)
    assert len(got.entrants) == 30 and got.full and a.rows == 30
    e = got.entrants[2]
    assert (e.registration_id, e.bib, e.first_name, e.gender, e.age, e.division, e.wave, e.race_name) == (
        "61240003",
        "2203",
        "First3",
        "F",
        41,
        "F40-44",
        "Wave 1",
        "Marathon",
    )
    assert got.entrants[0].bib == ""  # blank stays blank (no bib made up from entry_id)
    assert (got.entrants[1].status, got.entrants[1].status_reason) == ("cancelled", "cancelled")
    assert "division" in got.supplies and "chip" not in got.supplies


async def test_without_paging_headers_a_short_page_ends_the_list(fake: FakeCtLive) -> None:
    fake.headers_off = True
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("40123")
    assert len(got.entrants) == 23 and len(fake.paths("/entry")) == 3


async def test_events_races_and_results(fake: FakeCtLive) -> None:
    fake.results[40123] = [
        {
            "results_entry_id": "61240001",
            "results_race_id": "90211",
            "results_race_name": "Marathon",
            "results_bib": "2201",
            "results_first_name": "First1",
            "results_last_name": "Last1",
            "results_sex": "F",
            "results_age": "41",
            "results_time": "3:12:44.6",
            "results_gun_time": "3:13:30.1",
            "results_rank": "212",
            "results_primary_bracket_name": "F40-44",
        }
    ]
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client)
        [event] = await a.list_events()
        races = await a.races("40123")
        [result] = await a.fetch_results("40123")
    assert (event.provider_event_id, event.name, event.date, event.timezone) == (
        "40123",
        "Lake Superior Marathon",
        "2026-04-12",
        "America/Chicago",
    )
    assert [(r.provider_race_id, r.name, r.distance) for r in races] == [("90211", "Marathon", "26.2 mi")]
    assert (result.registration_id, result.bib, result.place, result.chip_time, result.clock_time) == (
        "61240001",
        "2201",
        212,
        "3:12:44.6",
        "3:13:30.1",
    )


async def test_a_wrong_password_and_a_shape_change_are_named(fake: FakeCtLive) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(
            ProviderAuthError,
            match="ChronoTrack Live refused the account's credentials at /api/event/40123/entry: HTTP 401",
        ):
            await adapter(fake, client, {**CREDS, "password": "wrong"}).fetch_entrants("40123")
        fake.shape_change = True
        with pytest.raises(
            ProviderShapeError,
            match="unexpected response from /api/event/40123/entry: 'event_entry' should be a list, got missing",
        ):
            await adapter(fake, client).fetch_entrants("40123")
