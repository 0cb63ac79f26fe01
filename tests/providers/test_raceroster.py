"""The Race Roster adapter against a fake Race Roster: the OAuth token cached, refreshed when it
expires, offset paging, integer genders, inactive registrations marked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from race_control.providers import raceroster
from race_control.providers.errors import ProviderAuthError
from race_control.providers.raceroster import RaceRoster
from tests.providers.fakes.raceroster import FakeRaceRoster, participant

CREDS = {"client_id": "rr-client", "client_secret": "rr-secret", "username": "timer", "password": "pw"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeRaceRoster]:
    raceroster._TOKENS.clear()
    server = FakeRaceRoster()
    server.participants = [
        participant(9_021_000 + i, str(1700 + i), f"First{i}", f"Last{i}", gender=i % 3) for i in range(25)
    ]
    async with server:
        yield server
    raceroster._TOKENS.clear()


def adapter(fake: FakeRaceRoster, client: httpx.AsyncClient, creds: dict[str, str] = CREDS) -> RaceRoster:
    a = RaceRoster(client, creds, base_url=fake.url + "/api/v1")
    a.page_size = 10
    return a


async def test_the_token_is_cached_and_renewed_when_it_expires(fake: FakeRaceRoster) -> None:
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("118877")
        assert len(got.entrants) == 25 and fake.grants == ["access_token"]  # one login for 3 pages
        await adapter(fake, client).list_events()
        assert fake.grants == ["access_token"]  # a new adapter reuses the cached token
        fake.expire_tokens()
        fake.wrap = False  # the token answer without its {"data": ...} envelope
        again = await adapter(fake, client).fetch_entrants("118877")
        assert len(again.entrants) == 25 and fake.grants == ["access_token", "refresh_token"]
        fake.expire_tokens()
        fake.refresh_tokens.clear()  # the refresh token is no good either: log in again
        await adapter(fake, client).fetch_entrants("118877")
        assert fake.grants == ["access_token", "refresh_token", "refresh_token", "access_token"]
    pages = [r.query["offset"] for r in fake.requests if r.path.endswith("/participants")]
    assert pages[:3] == ["0", "10", "20"]


async def test_participants_and_events_are_normalized(fake: FakeRaceRoster) -> None:
    fake.participants[3].update(isActive=False)
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client)
        got = await a.fetch_entrants("118877")
        [event] = await a.list_events()
    e = got.entrants[1]
    assert (e.registration_id, e.bib, e.first_name, e.gender, e.age, e.state, e.country, e.race_id) == (
        "9021001",
        "1701",
        "First1",
        "M",
        33,
        "NS",
        "CA",
        "301551",
    )
    assert [x.gender for x in got.entrants[:3]] == ["", "M", "F"]  # 0 = not disclosed
    assert (got.entrants[3].status, got.entrants[3].status_reason) == ("removed", "inactive")
    assert (event.provider_event_id, event.date, event.timezone, [r.name for r in event.races]) == (
        "118877",
        "2026-06-07",
        "America/Halifax",
        ["10K"],
    )


async def test_a_wrong_password_is_named_and_never_echoed(fake: FakeRaceRoster) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(
            ProviderAuthError,
            match="Race Roster refused the account's credentials at /api/oauth/authorize: HTTP 400",
        ) as exc:
            await adapter(fake, client, {**CREDS, "password": "not-it"}).fetch_entrants("118877")
    assert "not-it" not in str(exc.value)
