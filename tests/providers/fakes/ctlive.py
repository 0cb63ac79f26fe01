"""A fake ChronoTrack Live API speaking its wire shapes (docs/providers.md#chronotrack-live).

``/api/event``, ``/api/event/{id}``, ``/api/event/{id}/race``, ``/api/event/{id}/entry`` and
``/api/event/{id}/results`` (also spelled ``/api/event.json/{id}/...``).  Auth on every request:
``client_id`` + ``user_id`` + ``user_pass`` = SHA-1 hex of the password; a wrong one is 401.
Lists page with ``page`` (from 1) and ``size``; the totals go in the ``X-Ctlive-Page-Count``,
``X-Ctlive-Row-Count``, ``X-Ctlive-Page-Size`` and ``X-Ctlive-Current-Page`` headers (unless
``headers_off``: then a client must stop at a short page).  Values are strings; empty is "".
``shape_change`` puts every list under ``items`` instead of its wrapper key.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from aiohttp import web

from tests.providers.fakes.base import FakeProvider


def entry(entry_id: int, race_id: int, bib: str, first: str, last: str, **kw: str) -> dict[str, Any]:
    row = {
        "entry_id": str(entry_id),
        "entry_external_id": f"RSU-{entry_id}",
        "entry_name": f"{first} {last}",
        "entry_type": "IND",
        "entry_status": "ACTIVE",
        "entry_bib": bib,
        "entry_race_age": "41",
        "athlete_id": str(8_800_000 + entry_id),
        "athlete_first_name": first,
        "athlete_last_name": last,
        "athlete_sex": "F",
        "athlete_birthdate": "1984-08-02",
        "athlete_email": "someone@example.net",
        "athlete_home_phone": "",
        "athlete_mobile_phone": "612-555-0144",
        "location_city": "Duluth",
        "location_region": "MN",
        "location_country": "US",
        "race_id": str(race_id),
        "race_name": "Marathon",
        "reg_choice_name": "Marathon - Early Bird",
        "bracket_name": "F40-44",
        "wave_name": "Wave 1",
        "team_id": "",
        "team_name": "",
    }
    row.update(kw)
    return row


class FakeCtLive(FakeProvider):
    def __init__(
        self, client_id: str = "cid-9", user: str = "timer@example.org", password: str = "pässword"
    ) -> None:
        super().__init__()
        self.client_id, self.user = client_id, user
        self.pass_hash = hashlib.sha1(password.encode("utf-8")).hexdigest()
        self.events: dict[int, dict[str, Any]] = {}
        self.races: dict[int, list[dict[str, Any]]] = {}
        self.entries: dict[int, list[dict[str, Any]]] = {}
        self.results: dict[int, list[dict[str, Any]]] = {}
        self.headers_off = False
        self.shape_change = False  # lists come under "entries"/"items" instead of their wrapper key

    def add_event(self, event_id: int, name: str, start: int = 1_776_002_400) -> None:
        self.events[event_id] = {
            "event_id": str(event_id),
            "event_name": name,
            "event_start_time": str(start),
            "event_end_time": str(start + 6 * 3600),
            "event_is_published": "1",
            "organization_name": "Northern Timing",
            "location_city": "Duluth",
            "location_region": "MN",
            "location_country": "US",
            "location_time_zone": "America/Chicago",
        }
        self.races[event_id] = [
            {
                "race_id": "90211",
                "race_name": "Marathon",
                "race_type": "running",
                "race_course_distance": "26.2",
                "race_pref_distance_unit": "mi",
                "race_planned_start_time": str(start),
            }
        ]
        self.entries.setdefault(event_id, [])
        self.results.setdefault(event_id, [])

    def _paged(self, request: web.Request, key: str, rows: list[dict[str, Any]]) -> web.Response:
        page = max(1, int(request.query.get("page", "1")))
        size = min(1600, int(request.query.get("size", "50")))
        chunk = rows[(page - 1) * size : page * size]
        headers = {}
        if not self.headers_off:
            headers = {
                "X-Ctlive-Page-Count": str(max(1, math.ceil(len(rows) / size))),
                "X-Ctlive-Row-Count": str(len(rows)),
                "X-Ctlive-Page-Size": str(size),
                "X-Ctlive-Current-Page": str(page),
            }
        return web.json_response({"items" if self.shape_change else key: chunk}, headers=headers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if (
            q.get("client_id") != self.client_id
            or q.get("user_id") != self.user
            or q.get("user_pass") != self.pass_hash
        ):
            return web.json_response({"error": "invalid credentials"}, status=401)
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] != ["api"]:
            raise web.HTTPNotFound()
        rest = parts[1:]
        if rest and rest[0] in ("event", "event.json"):
            if len(rest) == 1:
                return self._paged(request, "event", list(self.events.values()))
            if rest[1].isdigit() and int(rest[1]) in self.events:
                eid = int(rest[1])
                if len(rest) == 2:
                    return web.json_response({"event": self.events[eid]})
                if rest[2:] == ["race"]:
                    return self._paged(request, "event_race", self.races[eid])
                if rest[2:] == ["entry"]:
                    return self._paged(request, "event_entry", self.entries[eid])
                if rest[2:] == ["results"]:
                    return self._paged(request, "event_results", self.results[eid])
        return web.json_response({"error": "not found"}, status=404)
