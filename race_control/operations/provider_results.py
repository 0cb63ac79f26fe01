"""A provider event's results, fetched through an account and matched to our runners
(docs/providers.md#results).

The fetch goes through the account's adapter (its credentials from the secret store, the
adapter's retries, progress and Cancel), so nothing changes locally: a failed or cancelled fetch
leaves nothing behind.  Each result keeps the provider's ids and its raw row.  A result is our
participant only by the link a roster sync stored (``provider_links``: provider, provider event,
registration id → participant) — never by name or bib: a result without a registration id (a
manual entry at the provider, every UltraSignup row) or one whose registration was never synced
has no ``participant_id``.

How each provider's results are read (the adapters' ``fetch_results`` differ):

* RunSignUp — per event (distance) of the race, each named by the race's event list;
* ChronoTrack Live, Race Roster — the whole event in one feed;
* Copernico — the public preset export of each event of the race: ``login`` (the preset owner's
  e-mail) and ``preset`` are required, Copernico's preset names are the timer's own;
* UltraSignup — the did's public results JSON (no registration ids: never linked).

Eventbrite and ACTIVE have no results (``NO_RESULTS``): asking is a 400 that says why.  Results
are not stored: they are the provider's copy, read on demand (docs/providers.md#results).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from race_control.operations.provider_sync import ClientFactory, default_client
from race_control.progress import Progress
from race_control.providers.accounts import Account, ProviderAccounts
from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import Result
from race_control.store.database import Store

NO_RESULTS = {
    "eventbrite": "Eventbrite sells tickets and has no race results; fetch results from the timing "
    "or results provider of the event",
    "active": "ACTIVE has no API for this app: its rosters come as export files and it publishes no "
    "results to fetch",
}
OPTIONS = ("event_id", "race", "login", "preset")  # the query parameters a results fetch takes

_LINKS_SQL = (
    "SELECT l.event_id, l.registration_id, l.participant_id, p.bib FROM provider_links l "
    "JOIN participants p ON p.id = l.participant_id AND p.event_id = l.event_id "
    "WHERE l.provider = ? AND l.provider_event_id = ? AND l.participant_id != ''"
)


@dataclass(frozen=True)
class MatchedResult:
    result: Result
    event_id: str | None  # the local event the link is in
    participant_id: str | None
    local_bib: str | None  # the bib our participant wears (a local edit may differ from theirs)

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "provider": r.provider,
            "provider_event_id": r.provider_event_id,
            "registration_id": r.registration_id,
            "bib": r.bib,
            "first_name": r.first_name,
            "last_name": r.last_name,
            "gender": r.gender,
            "age": r.age,
            "race_id": r.race_id,
            "race_name": r.race_name,
            "division": r.division,
            "place": r.place,
            "clock_time": r.clock_time,
            "chip_time": r.chip_time,
            "event_id": self.event_id,
            "participant_id": self.participant_id,
            "local_bib": self.local_bib,
            "raw": r.raw,
        }


class ProviderResults:
    def __init__(
        self, store: Store, accounts: ProviderAccounts, client: ClientFactory = default_client
    ) -> None:
        self._store = store
        self.accounts = accounts
        self._client = client

    async def fetch(
        self,
        account_id: str,
        provider_event_id: str,
        options: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> list[MatchedResult]:
        """The results of ``provider_event_id`` at the account's provider, each with the local
        participant it is linked to (``options``: ``event_id`` — only that local event's links —,
        ``race`` — one race (distance) only —, ``login``/``preset`` for Copernico)."""
        account = self.accounts.get(account_id)
        opts = _options(options or {})
        remote_id = provider_event_id.strip()
        if not remote_id or len(remote_id) > 64:
            raise ProviderInputError(
                "the provider event id must be 1 to 64 characters", field="provider_event_id"
            )
        if account.provider in NO_RESULTS:
            raise ProviderInputError(
                f"{account.to_json()['provider_name']} has no results: {NO_RESULTS[account.provider]}",
                provider=account.provider,
            )
        if account.provider == "copernico":
            for name in ("login", "preset"):
                if not opts.get(name):
                    raise ProviderInputError(
                        f"Copernico results come from a preset export: '{name}' is required (the preset "
                        "owner's login e-mail and the preset's name, as in Copernico)",
                        provider="copernico",
                        field=name,
                    )
        async with self._client() as client:
            adapter = await self.accounts.adapter(account, client, progress)
            results = await _fetch(adapter, account, remote_id, opts)
        if progress is not None:
            progress.raise_if_cancelled()
        links = await self._store.run(_links, account.provider, {r.provider_event_id for r in results})
        return match(results, links, opts.get("event_id", ""))


def _options(options: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(str(k)[:40] for k in options if k not in OPTIONS)
    if unknown:
        raise ProviderInputError(
            f"unknown parameter(s) {', '.join(map(repr, unknown[:10]))} for results; known: {', '.join(OPTIONS)}"
        )
    out = {}
    for k, v in options.items():
        if not isinstance(v, str) or len(v) > 200:
            raise ProviderInputError(f"'{k}' must be a string of at most 200 characters", field=k)
        if v.strip():
            out[k] = v.strip()
    return out


async def _fetch(
    adapter: ProviderAdapter, account: Account, remote_id: str, opts: dict[str, str]
) -> list[Result]:
    race = opts.get("race", "")
    kind = account.provider
    if kind == "runsignup":
        event = await adapter.event(remote_id)  # type: ignore[attr-defined]
        races = [r for r in event.races if not race or race in (r.provider_race_id, r.name)]
        _need_race(race, races, event.races, adapter.name)
        out: list[Result] = []
        for r in races:
            got = await adapter.fetch_results(remote_id, r.provider_race_id)  # type: ignore[attr-defined]
            out.extend(dataclasses.replace(x, race_name=x.race_name or r.name) for x in got)
        return out
    if kind == "copernico":
        event = await adapter.race(remote_id)  # type: ignore[attr-defined]
        races = [r for r in event.races if not race or race == r.name]
        _need_race(race, races, event.races, adapter.name)
        out = []
        for r in races:
            out.extend(await adapter.fetch_results(remote_id, opts["login"], opts["preset"], r.name))  # type: ignore[attr-defined]
        return out
    if kind == "raceroster":
        return await adapter.fetch_results(remote_id, race)  # type: ignore[attr-defined]
    if kind in ("ctlive", "ultrasignup"):
        got = await adapter.fetch_results(remote_id)  # type: ignore[attr-defined]
        return [x for x in got if not race or race in (x.race_id, x.race_name)]
    raise ProviderInputError(f"{adapter.name} has no results to fetch", provider=kind)


def _need_race(race: str, chosen: list[Any], every: tuple[Any, ...], provider: str) -> None:
    if race and not chosen:
        known = ", ".join(f"{r.provider_race_id} ({r.name})" for r in every[:20]) or "none"
        raise ProviderInputError(
            f"{provider} event has no race {race[:60]!r}; its races: {known}", field="race"
        )


Link = tuple[str, str, str, str, str]  # event id, provider event id, registration id, participant id, bib


def _links(conn: Connection, provider: str, remote_ids: set[str]) -> list[Link]:
    """Every link of these provider events to a participant still in its event's roster."""
    cur = conn.connection.cursor()
    try:
        out = []
        for remote in sorted(remote_ids):
            out.extend(
                (e, remote, reg, pid, bib) for e, reg, pid, bib in cur.execute(_LINKS_SQL, (provider, remote))
            )
        return out
    finally:
        cur.close()


def match(results: list[Result], links: list[Link], event_id: str = "") -> list[MatchedResult]:
    """Each result with the participant its registration is linked to (in ``event_id`` when
    given).  A provider event synced into two local events is ambiguous without ``event_id``:
    refused, naming them."""
    if event_id:
        links = [link for link in links if link[0] == event_id]
    events = sorted({link[0] for link in links})
    if len(events) > 1:
        raise ProviderInputError(
            f"this provider event is synced into {len(events)} local events ({', '.join(events[:10])}): "
            "pass 'event_id' to say whose runners the results are matched to",
            field="event_id",
        )
    by_key = {(remote, reg): (ev, pid, bib) for ev, remote, reg, pid, bib in links}
    out = []
    for r in results:
        hit = by_key.get((r.provider_event_id, r.registration_id)) if r.registration_id else None
        out.append(MatchedResult(r, *(hit or (None, None, None))))
    return out
