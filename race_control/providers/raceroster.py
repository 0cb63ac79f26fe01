"""Race Roster: OAuth token (cached, refreshed), events with their sub-events (our races),
participants, results.  Wire facts: docs/providers.md#race-roster (participants and results: low
confidence).

Auth: ``POST <root>/api/oauth/authorize`` with a form body ``grant_type=access_token``,
``client_id``, ``client_secret``, ``username``, ``password`` (later ``grant_type=refresh_token``
with the ``refresh_token``) → ``{access_token, token_type, expires_in, refresh_token}``, bare or
wrapped as ``{"data": {...}}`` / ``{"data": [{...}]}``.  The token (24 h for timer tokens) is
kept in memory per (server, client, user) until a minute before it expires; a 401 with a cached
token drops it and asks once for a new one (refresh first, then the password).  Tokens are never
written anywhere.

Lists: ``{"data": [...]}`` with ``offset``/``limit``, until a page holds fewer than ``limit``.
Gender is an integer (0 not disclosed, 1 male, 2 female, 8 mixed, 9 non-binary); numbers often
come as strings; ``subEvents`` is ``{"data": [...]}`` or a bare list; ``isActive: false`` is a
registration that is gone.  No incremental feed: every pull is full.

Results: ``GET <base>/events/{eventId}/results`` (optionally ``resultsRaceId``), paged with
``page`` (from 1) and ``perPage`` until a page holds fewer than ``perPage``; rows under ``data``.
Their field names are not documented: read by the participants' names (``participantId`` — the
registration id our links keep —, ``bibNumber``, ``firstName``...) and a few synonyms each
(``RESULT_FIELDS``).
"""

from __future__ import annotations

import time
from typing import Any

from race_control.providers import normalized as n
from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import ProviderAuthError, ProviderHTTPError, ProviderInputError
from race_control.providers.normalized import Entrant, FetchResult, ProviderEvent, Race, Result

LIMIT = 100
RESULTS_PER_PAGE = 100
# a result's field → the row keys it is read from, first non-empty wins (undocumented shapes)
RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "registration_id": ("participantId", "participant_id"),
    "bib": ("bibNumber", "bib"),
    "first_name": ("firstName", "first_name"),
    "last_name": ("lastName", "last_name"),
    "gender": ("gender",),
    "age": ("age",),
    "race_id": ("subEventId", "resultsRaceId", "raceId"),
    "race_name": ("subEventName", "raceName"),
    "division": ("divisionName", "division", "category"),
    "place": ("overallPlace", "place", "rank"),
    "clock_time": ("gunTime", "clockTime"),
    "chip_time": ("chipTime", "netTime"),
}
SUPPLIES = frozenset(("bib", "first_name", "last_name", "age", "gender", "city", "state", "country", "team"))
# (token URL, client id, username) -> (access token, expires at, refresh token); in memory only
_TOKENS: dict[tuple[str, str, str], tuple[str, float, str]] = {}


class RaceRoster(ProviderAdapter):
    id = "raceroster"
    name = "Race Roster"
    kind = "registration"
    credential_fields = ("client_id", "client_secret", "username", "password")
    default_base_url = "https://raceroster.com/api/v1"
    page_size = LIMIT

    def _token_url(self) -> str:
        root = self.base_url.rstrip("/")
        return root.removesuffix("/v1") + "/oauth/authorize"

    def _key(self) -> tuple[str, str, str]:
        return (self._token_url(), self.credentials["client_id"], self.credentials["username"])

    async def _token(self) -> str:
        cached = _TOKENS.get(self._key())
        if cached and cached[1] > time.time() + 60:
            return cached[0]
        refresh = cached[2] if cached else ""
        if refresh:
            try:
                return await self._grant({"grant_type": "refresh_token", "refresh_token": refresh})
            except ProviderAuthError:
                pass  # the refresh token is no good any more: log in again
        return await self._grant(
            {
                "grant_type": "access_token",
                "username": self.credentials["username"],
                "password": self.credentials["password"],
            }
        )

    async def _grant(self, form: dict[str, str]) -> str:
        url = self._token_url()
        body = {
            **form,
            "client_id": self.credentials["client_id"],
            "client_secret": self.credentials["client_secret"],
        }
        where = self.path_of(url)
        try:
            resp = await self.request("POST", url, data=body)
        except ProviderHTTPError as exc:  # 400 invalid_grant: a bad password or refresh token
            raise self.auth_failed(where, f"HTTP {exc.status}") from None
        data = self.parse_json(resp)
        if isinstance(data, dict) and "data" in data:
            data = data["data"]
        if isinstance(data, list) and data:
            data = data[0]
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise self.shape(where, "access_token", "a string", token)
        expires = data.get("expires_in")
        life = float(expires) if isinstance(expires, int | float | str) and str(expires).isdigit() else 3600.0
        refresh = data.get("refresh_token") if isinstance(data.get("refresh_token"), str) else ""
        _TOKENS[self._key()] = (token, time.time() + life, refresh)
        return token

    async def _get(self, path: str, **params: Any) -> Any:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self._token()}"}
            try:
                data, _ = await self.get_json(path, params, headers)
            except ProviderAuthError:
                if attempt == 2:
                    raise
                _TOKENS[self._key()] = ("", 0.0, _TOKENS.get(self._key(), ("", 0.0, ""))[2])  # expired: renew
                continue
            return data
        raise AssertionError("unreachable")

    async def _pages(self, path: str, what: str) -> list[Any]:
        out: list[Any] = []
        offset = 0
        while True:
            data = await self._get(path, offset=offset, limit=self.page_size)
            rows = self.need(data, "data", list, path, "data")
            out.extend(rows)
            self.page_done(len(rows), what)
            if len(rows) < self.page_size:
                return out
            offset += len(rows)

    async def list_events(self) -> list[ProviderEvent]:
        self.progress.start(f"{self.name}: events", 0)
        rows = await self._pages("events", "events")
        return [self._event(r) for r in rows if isinstance(r, dict) and n.text(r.get("eventId"))]

    def _event(self, row: dict[str, Any]) -> ProviderEvent:
        subs = row.get("subEvents")
        if isinstance(subs, dict):
            subs = subs.get("data")
        region = row.get("region") if isinstance(row.get("region"), dict) else {}
        country = row.get("country") if isinstance(row.get("country"), dict) else {}
        return ProviderEvent(
            provider=self.id,
            provider_event_id=n.text(row.get("eventId"), 64),
            name=n.text(row.get("name")),
            date=n.iso_date(row.get("startDate")),
            timezone=n.text(row.get("timeZone"), 64),
            city=n.text(row.get("city")),
            state=n.text(region.get("code"), 100),
            country=n.text(country.get("code"), 100),
            races=tuple(
                Race(
                    provider_race_id=n.text(s.get("subEventId"), 64),
                    name=n.text(s.get("name")),
                    distance=" ".join(
                        x for x in (n.text(s.get("distance")), n.text(s.get("distanceType"))) if x
                    ),
                    raw=s,
                )
                for s in (subs if isinstance(subs, list) else [])
                if isinstance(s, dict) and n.text(s.get("subEventId"))
            ),
            raw=row,
        )

    async def fetch_entrants(
        self, provider_event_id: str, cursor: dict[str, Any] | None = None
    ) -> FetchResult:
        event_id = _segment(provider_event_id)
        self.progress.start(f"{self.name}: participants of event {event_id}", 0)
        rows = await self._pages(f"events/{event_id}/participants", "participants")
        entrants, quarantined = n.sort_rows(
            rows, lambda row: self._entrant(row, event_id), lambda _row, i: f"participants row {i}"
        )
        collapsed, dupes = n.collapse(entrants)
        return FetchResult(collapsed, quarantined, full=True, cursor={}, duplicates=dupes, supplies=SUPPLIES)

    def _entrant(self, row: Any, event_id: str) -> Entrant | str:
        if not isinstance(row, dict):
            return f"a participant is {type(row).__name__}, not an object"
        pid = n.text(row.get("participantId"), 64)
        if not pid:
            return "no participantId"
        region = row.get("region") if isinstance(row.get("region"), dict) else {}
        country = row.get("country") if isinstance(row.get("country"), dict) else {}
        active = row.get("isActive", True) not in (False, 0, "0", "false")
        return Entrant(
            provider=self.id,
            provider_event_id=event_id,
            registration_id=pid,
            bib=n.bib(row.get("bibNumber")),
            first_name=n.text(row.get("firstName")),
            last_name=n.text(row.get("lastName")),
            gender=n.sex(_gender(row.get("gender"))),
            age=n.age(row.get("age")),
            birth_date=n.iso_date(row.get("dateOfBirth")),
            city=n.text(row.get("city")),
            state=n.text(region.get("code"), 100),
            country=n.text(country.get("code"), 100),
            race_id=n.text(row.get("subEventId"), 64),
            team=n.text(row.get("teamName")),
            status="active" if active else "removed",
            status_reason="" if active else "inactive",
            raw=row,
        )

    async def fetch_results(self, provider_event_id: str, results_race_id: str = "") -> list[Result]:
        """The event's results (one race's with ``results_race_id``), every page."""
        event_id = _segment(provider_event_id)
        path = f"events/{event_id}/results"
        self.progress.start(f"{self.name}: results of event {event_id}", 0)
        extra = {"resultsRaceId": _segment(results_race_id)} if results_race_id else {}
        out: list[Result] = []
        page = 1
        while True:
            data = await self._get(path, **extra, page=page, perPage=RESULTS_PER_PAGE)
            rows = self.need(data, "data", list, path, "data")
            out.extend(_result(row, event_id) for row in rows if isinstance(row, dict))
            self.page_done(len(rows), "results")
            if len(rows) < RESULTS_PER_PAGE:
                return out
            page += 1


def _first(row: dict[str, Any], field: str) -> object:
    for key in RESULT_FIELDS[field]:
        value = row.get(key)
        if value not in (None, ""):
            return value
    return None


def _result(row: dict[str, Any], event_id: str) -> Result:
    place = n.text(_first(row, "place"), 10)
    return Result(
        provider="raceroster",
        provider_event_id=event_id,
        registration_id=n.text(_first(row, "registration_id"), 64),
        bib=n.bib(_first(row, "bib")),
        first_name=n.text(_first(row, "first_name")),
        last_name=n.text(_first(row, "last_name")),
        gender=n.sex(_gender(_first(row, "gender"))),
        age=n.age(_first(row, "age")),
        race_id=n.text(_first(row, "race_id"), 64),
        race_name=n.text(_first(row, "race_name")),
        division=n.text(_first(row, "division"), 100),
        place=int(place) if place.isascii() and place.isdigit() else None,
        clock_time=n.text(_first(row, "clock_time"), 40),
        chip_time=n.text(_first(row, "chip_time"), 40),
        raw=row,
    )


def _gender(value: object) -> object:
    """Race Roster's gender is an integer, sometimes sent as a string."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _segment(value: str) -> str:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ProviderInputError(
            f"Race Roster event id {text[:40]!r} must be digits",
            provider="raceroster",
            field="provider_event_id",
        )
    return text
