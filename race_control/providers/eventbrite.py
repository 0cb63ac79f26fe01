"""Eventbrite: organizations' events, ticket classes (our races), attendees.  Wire facts:
docs/providers.md#eventbrite.

Auth: a private token (or an OAuth access token) as ``Authorization: Bearer``.  Lists page with
a ``continuation`` token while ``pagination.has_more_items`` (the page size is Eventbrite's,
about 50).  The set can shift between two pages (an attendee added or changed meanwhile), so a
registration may come twice: collapsed by attendee id, the last copy winning.  Cancelled,
refunded and transferred tickets stay in the list, flagged: they are marked, not imported as
runners.  An incremental pull sends ``changed_since`` (UTC, ``YYYY-MM-DDTHH:MM:SSZ``) 10 s before
the newest ``changed`` seen by the last applied pull.

Eventbrite has no bib: a custom question whose text says "bib" gives it (likewise "wave",
"team"/"club"); without one the bib is never supplied, so a bib assigned here is never touched.
If the organizer collects buyer info only, every attendee of an order shares the buyer's profile
(they are still separate registrations).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from race_control.providers import normalized as n
from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import Entrant, FetchResult, ProviderEvent, Race

OVERLAP = 10  # seconds an incremental pull reaches back
BASE_SUPPLIES = frozenset(("first_name", "last_name", "age", "gender", "city", "state", "country"))
MAX_PAGES = 10_000  # a continuation that never ends is a provider bug: stop, do not loop forever


class Eventbrite(ProviderAdapter):
    id = "eventbrite"
    name = "Eventbrite"
    kind = "registration"
    credential_fields = ("token",)
    default_base_url = "https://www.eventbriteapi.com/v3"
    incremental = True

    async def _list(self, path: str, key: str, what: str, **params: Any) -> list[Any]:
        out: list[Any] = []
        continuation: str | None = None
        for _ in range(MAX_PAGES):
            query = dict(params)
            if continuation:
                query["continuation"] = continuation
            data, _ = await self.get_json(
                path, query, {"Authorization": f"Bearer {self.credentials['token']}"}
            )
            rows = self.need(data, key, list, path, key)
            out.extend(rows)
            self.page_done(len(rows), what)
            page = data.get("pagination") if isinstance(data.get("pagination"), dict) else {}
            continuation = page.get("continuation") if isinstance(page.get("continuation"), str) else None
            if not page.get("has_more_items") or not continuation:
                return out
        return out

    async def list_events(self) -> list[ProviderEvent]:
        self.progress.start(f"{self.name}: events", 0)
        orgs = await self._list("users/me/organizations/", "organizations", "organizations")
        out: list[ProviderEvent] = []
        for org in orgs:
            org_id = n.text(org.get("id"), 64) if isinstance(org, dict) else ""
            if not org_id.isdigit():
                continue
            for row in await self._list(f"organizations/{org_id}/events/", "events", "events"):
                if isinstance(row, dict) and n.text(row.get("id")):
                    out.append(self._event(row))
        return out

    def _event(self, row: dict[str, Any], races: tuple[Race, ...] = ()) -> ProviderEvent:
        name = row.get("name")
        start = row.get("start") if isinstance(row.get("start"), dict) else {}
        venue = row.get("venue") if isinstance(row.get("venue"), dict) else {}
        address = venue.get("address") if isinstance(venue.get("address"), dict) else {}
        return ProviderEvent(
            provider=self.id,
            provider_event_id=n.text(row.get("id"), 64),
            name=n.text(name.get("text") if isinstance(name, dict) else name),
            date=n.iso_date(start.get("local")),
            timezone=n.text(start.get("timezone"), 64),
            city=n.text(address.get("city")),
            state=n.text(address.get("region"), 100),
            country=n.text(address.get("country"), 100),
            races=races,
            raw=row,
        )

    async def races(self, event_id: str) -> list[Race]:
        rows = await self._list(
            f"events/{_segment(event_id)}/ticket_classes/", "ticket_classes", "ticket classes"
        )
        return [
            Race(provider_race_id=n.text(r.get("id"), 64), name=n.text(r.get("name")), raw=r)
            for r in rows
            if isinstance(r, dict) and n.text(r.get("id"))
        ]

    async def fetch_entrants(
        self, provider_event_id: str, cursor: dict[str, Any] | None = None
    ) -> FetchResult:
        event_id = _segment(provider_event_id)
        since = cursor.get("changed_since") if cursor else None
        incremental = isinstance(since, int | float) and not isinstance(since, bool)
        params: dict[str, Any] = {}
        if incremental:
            params["changed_since"] = _utc(float(since) - OVERLAP)  # type: ignore[arg-type]
        self.progress.start(f"{self.name}: attendees of event {event_id}", 0)
        rows = await self._list(f"events/{event_id}/attendees/", "attendees", "attendees", **params)
        answered: set[str] = set()
        entrants, quarantined = n.sort_rows(
            rows, lambda row: self._entrant(row, event_id, answered), lambda _row, i: f"attendee row {i}"
        )
        newest = float(since) if incremental else 0.0  # type: ignore[arg-type]
        newest = max([newest, *(e.modified for e in entrants if e.modified is not None)])
        collapsed, dupes = n.collapse(entrants)
        return FetchResult(
            collapsed,
            quarantined,
            full=not incremental,
            cursor={"changed_since": newest} if newest else {},
            duplicates=dupes,
            supplies=BASE_SUPPLIES | answered,
        )

    def _entrant(self, row: Any, event_id: str, answered: set[str]) -> Entrant | str:
        if not isinstance(row, dict):
            return f"an attendee is {type(row).__name__}, not an object"
        aid = n.text(row.get("id"), 64)
        if not aid:
            return "no attendee id"
        profile = row.get("profile")
        if not isinstance(profile, dict):
            return f"attendee {aid}: 'profile' is not an object"
        addresses = profile.get("addresses") if isinstance(profile.get("addresses"), dict) else {}
        home = addresses.get("home") if isinstance(addresses.get("home"), dict) else None
        address = home or (addresses.get("bill") if isinstance(addresses.get("bill"), dict) else {})
        custom: dict[str, Any] = {}
        picked: dict[str, str] = {}
        for a in row.get("answers") or []:
            if not isinstance(a, dict):
                continue
            question = n.text(a.get("question"), 64)
            answer = n.text(a.get("answer"), 500)
            if not question:
                continue
            custom[question] = answer
            low = question.lower()
            for field, words in (("bib", ("bib",)), ("wave", ("wave", "corral")), ("team", ("team", "club"))):
                if field not in picked and any(w in low for w in words):
                    picked[field] = answer
                    answered.add(field)
        team = row.get("team")
        if isinstance(team, dict) and n.text(team.get("name")):
            picked.setdefault("team", n.text(team.get("name")))
            answered.add("team")
        status = n.text(row.get("status"), 32).lower()
        if row.get("refunded") is True:
            gone = "refunded"
        elif row.get("cancelled") is True:
            gone = "cancelled"
        elif status in ("transferred", "deleted", "not attending"):
            gone = {"transferred": "transferred", "deleted": "removed"}.get(status, "cancelled")
        else:
            gone = "active"
        first, last = n.text(profile.get("first_name")), n.text(profile.get("last_name"))
        if not first and not last:
            last = n.text(profile.get("name"))
        return Entrant(
            provider=self.id,
            provider_event_id=event_id,
            registration_id=aid,
            bib=n.bib(picked.get("bib")),
            first_name=first,
            last_name=last,
            gender=n.sex(profile.get("gender")),
            age=n.age(profile.get("age")),
            birth_date=n.iso_date(profile.get("birth_date")),
            city=n.text(address.get("city")),
            state=n.text(address.get("region"), 100),
            country=n.text(address.get("country"), 100),
            race_id=n.text(row.get("ticket_class_id"), 64),
            race_name=n.text(row.get("ticket_class_name")),
            team=picked.get("team", "")[:200],
            wave=picked.get("wave", "")[:64],
            custom=custom,
            status=gone,
            status_reason=status if gone != "active" else "",
            modified=_epoch(row.get("changed")),
            raw=row,
        )


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(max(0.0, ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: object) -> float | None:
    text = n.text(value, 40)
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _segment(value: str) -> str:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 24:
        raise ProviderInputError(
            f"Eventbrite event id {text[:40]!r} must be digits",
            provider="eventbrite",
            field="provider_event_id",
        )
    return text
