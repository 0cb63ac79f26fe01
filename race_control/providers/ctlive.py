"""ChronoTrack Live (CT Live): events, races, entries and results.  Wire facts: docs/providers.md.

Auth: "simple" — ``client_id``, ``user_id`` (the login) and ``user_pass`` = the lower-case hex
SHA-1 of the password on every request (a stored value that already is 40 hex digits is sent as
it is, never hashed twice).  These go in the query (CT Live has no header form for them), so
httpx's request log line is kept quiet (``base`` sets its logger to WARNING).

Paging: ``page`` (from 1) and ``size``; the totals come in headers only —
``X-Ctlive-Page-Count``, ``X-Ctlive-Row-Count``, ``X-Ctlive-Page-Size``,
``X-Ctlive-Current-Page``.  We loop to Page-Count, or, without that header, until a page holds
fewer than ``size`` rows.  Values arrive as strings (ids, ages, epoch seconds); empty is ``""``.
CT Live has no incremental feed: every pull is full.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zoneinfo
from typing import Any

from race_control.providers import normalized as n
from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import Entrant, FetchResult, ProviderEvent, Race, Result

SIZE = 500
SUPPLIES = frozenset(
    (
        "bib",
        "first_name",
        "last_name",
        "age",
        "gender",
        "city",
        "state",
        "country",
        "division",
        "team",
        "wave",
    )
)
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
GONE = {
    "CANCELLED": "cancelled",
    "CANCELED": "cancelled",
    "REFUNDED": "refunded",
    "TRANSFERRED": "transferred",
    "DEFERRED": "deferred",
    "DELETED": "removed",
    "REMOVED": "removed",
    "WITHDRAWN": "removed",
    "INACTIVE": "removed",
}


def password_hash(password: str) -> str:
    """What CT Live wants as ``user_pass``: SHA-1 hex, unless the value already is one."""
    if _SHA1.match(password):
        return password.lower()
    return hashlib.sha1(password.encode("utf-8")).hexdigest()


class ChronoTrackLive(ProviderAdapter):
    id = "ctlive"
    name = "ChronoTrack Live"
    kind = "scoring"
    credential_fields = ("client_id", "user_id", "password")
    default_base_url = "https://api.chronotrack.com/api"
    page_size = SIZE

    def _auth(self) -> dict[str, str]:
        return {
            "format": "json",
            "client_id": self.credentials["client_id"],
            "user_id": self.credentials["user_id"],
            "user_pass": password_hash(self.credentials["password"]),
        }

    async def _pages(self, path: str, key: str, what: str, **params: Any) -> list[Any]:
        """Every row of a paged list resource (its rows under ``key``)."""
        out: list[Any] = []
        page = 1
        while True:
            data, resp = await self.get_json(
                path, {**self._auth(), **params, "page": page, "size": self.page_size}
            )
            rows = self.need(data, key, list, "/" + path, key)
            out.extend(rows)
            self.page_done(len(rows), what)
            count = _int_header(resp.headers.get("X-Ctlive-Page-Count"))
            if count is not None:
                if page >= count:
                    return out
            elif len(rows) < self.page_size:
                return out
            if not rows:  # Page-Count says more, but the page is empty: the list shrank meanwhile
                return out
            page += 1

    async def list_events(self) -> list[ProviderEvent]:
        self.progress.start(f"{self.name}: events", 0)
        rows = await self._pages("event", "event", "events", include_test_events="true")
        return [e for i, r in enumerate(rows) if (e := self._event(r, f"event[{i}]")) is not None]

    def _event(self, row: Any, field: str, races: tuple[Race, ...] = ()) -> ProviderEvent | None:
        if not isinstance(row, dict) or not n.text(row.get("event_id")):
            return None
        start = n.text(row.get("event_start_time"), 20)
        tz = n.text(row.get("location_time_zone"), 64)
        return ProviderEvent(
            provider=self.id,
            provider_event_id=n.text(row.get("event_id"), 64),
            name=n.text(row.get("event_name")),
            date=_epoch_date(start, tz),
            timezone=tz,
            city=n.text(row.get("location_city")),
            state=n.text(row.get("location_region"), 100),
            country=n.text(row.get("location_country"), 100),
            races=races,
            raw=row,
        )

    async def races(self, event_id: str) -> list[Race]:
        path = f"event/{_segment(event_id)}/race"
        rows = await self._pages(path, "event_race", "races", include_not_wants_results="true")
        return [
            Race(
                provider_race_id=n.text(r.get("race_id"), 64),
                name=n.text(r.get("race_name")),
                distance=" ".join(
                    x
                    for x in (
                        n.text(r.get("race_course_distance") or r.get("race_distance"), 20),
                        n.text(r.get("race_pref_distance_unit") or r.get("race_distance_unit"), 20),
                    )
                    if x
                ),
                start_time=n.text(r.get("race_planned_start_time"), 40),
                raw=r,
            )
            for r in rows
            if isinstance(r, dict) and n.text(r.get("race_id"))
        ]

    async def fetch_entrants(
        self, provider_event_id: str, cursor: dict[str, Any] | None = None
    ) -> FetchResult:
        event_id = _segment(provider_event_id)
        self.progress.start(f"{self.name}: entries of event {event_id}", 0)
        rows = await self._pages(
            f"event/{event_id}/entry",
            "event_entry",
            "entries",
            include_test_entries="true",
            elide_json="false",
        )
        entrants, quarantined = n.sort_rows(rows, lambda row: self._entrant(row, event_id), _label)
        collapsed, dupes = n.collapse(entrants)
        return FetchResult(collapsed, quarantined, full=True, cursor={}, duplicates=dupes, supplies=SUPPLIES)

    def _entrant(self, row: Any, event_id: str) -> Entrant | str:
        if not isinstance(row, dict):
            return f"an entry is {type(row).__name__}, not an object"
        entry_id = n.text(row.get("entry_id"), 64)
        if not entry_id:
            return "no entry_id"
        first, last = n.text(row.get("athlete_first_name")), n.text(row.get("athlete_last_name"))
        if not first and not last and n.text(row.get("entry_name")):  # a team entry: its name
            last = n.text(row.get("entry_name"))
        status = n.text(row.get("entry_status"), 32).upper()
        return Entrant(
            provider=self.id,
            provider_event_id=event_id,
            registration_id=entry_id,
            bib=n.bib(row.get("entry_bib")),  # blank stays blank: no made-up bib from entry_id
            first_name=first,
            last_name=last,
            gender=n.sex(row.get("athlete_sex")),
            age=n.age(row.get("entry_race_age")),
            birth_date=n.iso_date(row.get("athlete_birthdate")),
            city=n.text(row.get("location_city")),
            state=n.text(row.get("location_region"), 100),
            country=n.text(row.get("location_country"), 100),
            race_id=n.text(row.get("race_id"), 64),
            race_name=n.text(row.get("race_name")),
            division=n.text(row.get("bracket_name"), 100),
            team=n.text(row.get("team_name")),
            wave=n.text(row.get("wave_name"), 64),
            custom={
                k: v for k, v in row.items() if k.startswith("custom_element_") and isinstance(v, str) and v
            },
            status=GONE.get(status, "active"),
            status_reason=status.lower() if status in GONE else "",
            raw=row,
        )

    async def fetch_results(self, provider_event_id: str) -> list[Result]:
        event_id = _segment(provider_event_id)
        rows = await self._pages(f"event/{event_id}/results", "event_results", "results")
        out = []
        for row in rows:
            if not isinstance(row, dict):
                continue
            rank = n.text(row.get("results_rank"), 10)
            out.append(
                Result(
                    provider=self.id,
                    provider_event_id=event_id,
                    registration_id=n.text(row.get("results_entry_id"), 64),
                    bib=n.bib(row.get("results_bib")),
                    first_name=n.text(row.get("results_first_name")),
                    last_name=n.text(row.get("results_last_name")),
                    gender=n.sex(row.get("results_sex")),
                    age=n.age(row.get("results_age")),
                    race_id=n.text(row.get("results_race_id"), 64),
                    race_name=n.text(row.get("results_race_name")),
                    division=n.text(row.get("results_primary_bracket_name"), 100),
                    place=int(rank) if rank.isdigit() else None,
                    clock_time=n.text(row.get("results_gun_time"), 40),
                    chip_time=n.text(row.get("results_time"), 40),
                    raw=row,
                )
            )
        return out


def _int_header(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _epoch_date(value: str, tz: str) -> str:
    if not value.isdigit():
        return n.iso_date(value)
    when = dt.datetime.fromtimestamp(int(value), dt.UTC)
    try:
        when = when.astimezone(zoneinfo.ZoneInfo(tz)) if tz else when
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    return when.date().isoformat()


def _label(row: Any, index: int) -> str:
    if isinstance(row, dict):
        entry = n.text(row.get("entry_id"), 64)
        who = n.text(row.get("entry_name"))
        return f"entry row {index}" + (f" (entry {entry})" if entry else "") + (f" {who}" if who else "")
    return f"entry row {index}"


def _segment(value: str) -> str:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ProviderInputError(
            f"ChronoTrack Live event id {text[:40]!r} must be digits",
            provider="ctlive",
            field="provider_event_id",
        )
    return text
