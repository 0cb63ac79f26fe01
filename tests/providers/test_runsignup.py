"""The RunSignUp adapter against a fake RunSignUp on loopback: keyset paging, an inclusive
incremental boundary, removed participants, corrals as waves, retries, and errors that name the
provider, the path and the field."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from race_control.progress import Cancelled, Progress
from race_control.providers.base import RetryPolicy
from race_control.providers.errors import (
    ProviderAuthError,
    ProviderMalformed,
    ProviderShapeError,
    ProviderUnavailable,
)
from race_control.providers.runsignup import RunSignUp
from tests.providers.fakes.runsignup import FakeRunSignUp, person, removed

CREDS = {"api_key": "key-1", "api_secret": "s3cret-rsu"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunSignUp]:
    server = FakeRunSignUp()
    server.add_race(
        48213, "Lakeside Spring Classic", [(903311, "Half Marathon", "13.1 Miles"), (903312, "5K", "5K")]
    )
    rows = server.participants[48213]
    for i in range(1, 131):  # 130 runners: three pages of 50
        rows.append(
            person(
                55_120_000 + i,
                903311 if i % 2 else 903312,
                i,
                f"First{i}",
                f"Last{i}",
                modified=1_768_000_000 + i,
            )
        )
    async with server:
        yield server


class Sleeps:
    """The adapter's sleep: records each wait instead of waiting (no test sleeps for real)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def adapter(fake: FakeRunSignUp, client: httpx.AsyncClient, **kw: object) -> RunSignUp:
    a = RunSignUp(client, CREDS, base_url=fake.url + "/Rest", **kw)  # type: ignore[arg-type]
    a.page_size = 50
    return a


async def test_a_full_pull_walks_every_page_by_registration_id(fake: FakeRunSignUp) -> None:
    progress = Progress()
    labels: list[str] = []
    progress.listeners.append(lambda p: labels.append(p.label))
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client, progress=progress)
        got = await a.fetch_entrants("48213")
    assert got.full and not got.quarantined and got.duplicates == 0
    assert len(got.entrants) == 130
    first = got.entrants[0]
    assert (first.registration_id, first.bib, first.first_name, first.gender, first.age) == (
        "55120001",
        "1",
        "First1",
        "F",
        38,
    )
    assert (first.race_id, first.race_name, first.city, first.country, first.birth_date) == (
        "903311",
        "Half Marathon",
        "Northfield",
        "US",
        "1988-03-14",
    )
    assert first.raw["rsu_transaction_id"] == 3_120_000 + 55_120_001  # the provider's row is kept
    assert got.cursor == {"modified_after": 1_768_000_130}
    pages = [r for r in fake.requests if r.path.endswith("/participants")]
    assert [r.query.get("after_registration_id") for r in pages] == [None, "55120050", "55120100"]
    assert all(r.query["format"] == "json" and r.query["event_id"] == "903311,903312" for r in pages)
    # the secret goes in the header, never in a URL
    assert all(r.headers["X-RSU-API-SECRET"] == "s3cret-rsu" for r in pages)
    assert not any("s3cret-rsu" in str(r.query) for r in fake.requests)
    assert a.pages == 4 and a.rows == 130  # 3 participant pages + the removed feed
    assert any("page 3" in label for label in labels)


async def test_a_runner_registering_between_two_pages_is_neither_lost_nor_doubled(
    fake: FakeRunSignUp,
) -> None:
    def between(served: int) -> None:
        if served == 1:  # after page 1: a low registration id appears and a late one too
            fake.participants[48213].append(person(55_119_999, 903311, 999, "Early", "Bird"))
            fake.participants[48213].append(person(55_129_999, 903311, 1000, "Late", "Comer"))

    fake.after_page = between
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("48213")
    regs = [e.registration_id for e in got.entrants]
    assert len(regs) == len(set(regs)) == 131  # keyset: page 2 is not shifted by the insert
    assert "55129999" in regs  # the one after the cursor is seen; the early one comes next pull


async def test_an_incremental_pull_reaches_back_and_collapses_the_boundary_rows(fake: FakeRunSignUp) -> None:
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("48213", {"modified_after": 1_768_000_125})
    sent = [r.query["modified_after_timestamp"] for r in fake.requests if r.path.endswith("/participants")]
    assert sent == ["1768000115"]  # 10 s of overlap before the newest row seen last time
    assert not got.full  # an incremental pull says nothing of runners it did not bring
    assert sorted(e.registration_id for e in got.entrants) == [str(55_120_000 + i) for i in range(115, 131)]
    assert got.cursor == {"modified_after": 1_768_000_130}

    # the same registration twice in the remote data: one entrant, the last copy wins
    fake.participants[48213] = [
        person(1, 903311, 5, "Ann", "Old"),
        person(2, 903311, 6, "Bo", "B"),
        person(1, 903311, 5, "Ann", "New"),
    ]
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("48213")
    assert got.duplicates == 1
    assert sorted((e.registration_id, e.last_name) for e in got.entrants) == [("1", "New"), ("2", "B")]


async def test_removed_participants_come_with_their_reason(fake: FakeRunSignUp) -> None:
    fake.removed[48213] = [
        removed(55_120_877, 903311, "Lee", "Park", "transferred", new_reg=55_144_020),
        removed(55_120_878, 903311, "Kim", "Ode", "cleared"),
        removed(55_120_879, 903311, "Max", "Roe", "deferred"),
    ]
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("48213")
    gone = {e.registration_id: e for e in got.entrants if e.status != "active"}
    assert {k: (v.status, v.transferred_to) for k, v in gone.items()} == {
        "55120877": ("transferred", "55144020"),
        "55120878": ("removed", ""),
        "55120879": ("deferred", ""),
    }
    assert gone["55120877"].race_id == "903311" and gone["55120877"].modified == 1_771_082_140


async def test_corrals_are_waves(fake: FakeRunSignUp) -> None:
    fake.corrals[48213] = [
        {"race_corral_id": 71, "race_corral_name": "Wave A", "race_corral_applicable_event_ids": [903311]},
        {"race_corral_id": 72, "race_corral_name": "Wave B", "race_corral_applicable_event_ids": [903311]},
        {"race_corral_id": 73, "race_corral_name": "Wave 5K", "race_corral_applicable_event_ids": [903312]},
    ]
    pick = [{"question_id": "30125", "question_text": "Pick your wave", "responses": ["Wave B"]}]
    fake.participants[48213] = [
        person(1, 903311, 1, "Ann", "A", questions=pick),
        person(2, 903312, 2, "Bo", "B"),
        person(3, 903311, 3, "Cy", "C"),
    ]
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("48213")
    waves = {e.registration_id: e.wave for e in got.entrants}
    assert waves == {"1": "Wave B", "2": "Wave 5K", "3": ""}  # an answer; the one corral; two corrals
    assert got.entrants[0].custom == {"Pick your wave": "Wave B"}
    assert "wave" in got.supplies


async def test_429_and_5xx_are_retried_with_backoff_honouring_retry_after(fake: FakeRunSignUp) -> None:
    fake.fault("/participants", "429", retry_after=7)
    fake.fault("/participants", "500")
    fake.fault("/corrals", "drop")
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client, sleep=sleeps, retry=RetryPolicy(base_delay=1.0, max_delay=8.0))
        got = await a.fetch_entrants("48213")
    assert len(got.entrants) == 130 and a.retries == 3
    assert 7 in sleeps.waits  # Retry-After, exactly
    others = [w for w in sleeps.waits if w != 7]
    assert len(others) == 2 and all(0.5 <= w <= 2.0 for w in others)  # jittered backoff


async def test_retries_have_limits(fake: FakeRunSignUp) -> None:
    fake.fault("/participants", "503", times=10)
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client, sleep=sleeps, retry=RetryPolicy(attempts=3))
        with pytest.raises(
            ProviderUnavailable,
            match=r"RunSignUp: GET /Rest/race/48213/participants failed 3 times \(last: HTTP 503\)",
        ):
            await a.fetch_entrants("48213")
    assert len(sleeps.waits) == 2
    # a Retry-After longer than the policy allows: no hanging sync, a clear error at once
    fake.faults.clear()
    fake.fault("/race/48213", "429", retry_after=3600)
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderUnavailable, match="asks to wait 3600 s"):
            await adapter(fake, client, sleep=Sleeps()).fetch_entrants("48213")


async def test_malformed_json_a_shape_change_and_bad_credentials_are_named(fake: FakeRunSignUp) -> None:
    fake.fault("/participants", "malformed")
    async with httpx.AsyncClient() as client:
        with pytest.raises(
            ProviderMalformed, match=r"RunSignUp: /Rest/race/48213/participants did not answer JSON"
        ) as exc:
            await adapter(fake, client).fetch_entrants("48213")
        assert exc.value.provider == "runsignup" and exc.value.path == "/Rest/race/48213/participants"

        fake.shape_change = True
        with pytest.raises(
            ProviderShapeError,
            match=r"/Rest/race/48213/participants: 'participants' should be a list, got missing",
        ) as shape:
            await adapter(fake, client).fetch_entrants("48213")
        assert shape.value.field == "participants"
        fake.shape_change = False

        fake.expired = True
        with pytest.raises(
            ProviderAuthError,
            match="RunSignUp refused the account's credentials at /Rest/race/48213: error 6",
        ):
            await adapter(fake, client).fetch_entrants("48213")
        fake.expired = False

        bad = RunSignUp(client, {"api_key": "key-1", "api_secret": "wrong"}, base_url=fake.url + "/Rest")
        with pytest.raises(ProviderAuthError) as auth:
            await bad.list_events()
        assert "wrong" not in str(auth.value) and "s3cret" not in str(auth.value)


async def test_one_bad_row_is_quarantined_the_rest_comes(fake: FakeRunSignUp) -> None:
    broken = person(55_120_500, 903311, 500, "No", "User")
    broken["user"] = "gone"
    fake.participants[48213].append(broken)
    fake.participants[48213].append({"registration_id": None, "event_id": 903311, "last_modified": 1})
    async with httpx.AsyncClient() as client:
        got = await adapter(fake, client).fetch_entrants("48213")
    assert len(got.entrants) == 130
    assert sorted(q["reason"] for q in got.quarantined) == [
        "no registration_id",
        "registration 55120500: 'user' is not an object",
    ]


async def test_a_cancelled_pull_stops_before_its_next_request(fake: FakeRunSignUp) -> None:
    progress = Progress()
    progress.listeners.append(lambda p: p.cancel() if "participants, page" in p.label else None)
    async with httpx.AsyncClient() as client:
        with pytest.raises(Cancelled):
            await adapter(fake, client, progress=progress).fetch_entrants("48213")
    assert len(fake.paths("/participants")) == 1


async def test_races_list_as_events(fake: FakeRunSignUp) -> None:
    async with httpx.AsyncClient() as client:
        [event] = await adapter(fake, client).list_events()
    assert (event.provider_event_id, event.name, event.date, event.timezone) == (
        "48213",
        "Lakeside Spring Classic",
        "2026-04-12",
        "America/Chicago",
    )
    assert [(r.provider_race_id, r.name, r.distance) for r in event.races] == [
        ("903311", "Half Marathon", "13.1 Miles"),
        ("903312", "5K", "5K"),
    ]


async def test_a_page_slower_than_the_timeout_is_tried_again(fake: FakeRunSignUp) -> None:
    fake.fault("/participants", "slow", delay=1.0)
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client, sleep=sleeps, retry=RetryPolicy(timeout=0.2))
        got = await a.fetch_entrants("48213")
    assert len(got.entrants) == 130 and a.retries == 1 and len(sleeps.waits) == 1
