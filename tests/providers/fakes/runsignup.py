"""A fake RunSignUp REST API speaking its wire shapes (docs/providers.md#runsignup).

Serves ``/Rest/...`` in any letter case: ``races``, ``race/{id}``, ``race/{id}/corrals``,
``race/{id}/participants`` (a top-level ARRAY of ``{"event": {..., "participants": []},
"participants": [...]}``, one element per requested event), ``race/{id}/removed-participants``
(participants INSIDE ``event``), ``race/{id}/results/get-results``.  Honours ``format`` (XML
without ``format=json``), ``page``/``results_per_page`` (clamped to 2,500), ``sort`` +
``after_registration_id``, and an inclusive ``modified_after_timestamp``.  Auth: ``rsu_api_key``
+ ``X-RSU-API-SECRET`` header, or ``api_key`` + ``api_secret``; errors come as HTTP 200 with
``{"error": {"error_code", "error_msg"}}``.

Switches: ``expired`` (error 6, "get a new key"), ``shape_change`` (participants under another
key), ``after_page`` (called after each participants page is served: a test adds or edits rows
between two pages), plus the base's HTTP faults.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.providers.fakes.base import FakeProvider

MAX_PAGE = 2500


def person(
    reg: int,
    event_id: int,
    bib: int | None,
    first: str,
    last: str,
    *,
    modified: int = 1_768_000_000,
    gender: str = "F",
    age: int = 38,
    city: str = "Northfield",
    chip: str | None = None,
    questions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "user": {
            "user_id": 7_000_000 + reg,
            "first_name": first,
            "middle_name": None,
            "last_name": last,
            "email": f"r{reg}@example.org",
            "address": {
                "street": "22 Elm St",
                "city": city,
                "state": "MN",
                "zipcode": "55057",
                "country_code": "US",
            },
            "dob": "1988-03-14",
            "gender": gender,
            "phone": "507-555-0101",
            "profile_image_url": None,
        },
        "registration_id": reg,
        "event_id": event_id,
        "rsu_transaction_id": 3_120_000 + reg,
        "transaction_id": f"ch_{reg}",
        "bib_num": bib,
        "chip_num": chip,
        "age": age,
        "registration_date": "1/9/2026 20:47",
        "team_id": None,
        "team_name": None,
        "last_modified": modified,
        "imported": "F",
        "race_fee": "$70.00",
        "amount_paid": "$75.40",
        "question_responses": questions or [],
    }


def removed(
    reg: int, event_id: int, first: str, last: str, reason: str, new_reg: int | None = None
) -> dict[str, Any]:
    row = person(reg, event_id, None, first, last)
    for k in ("bib_num", "chip_num", "event_id", "team_id", "team_name", "question_responses"):
        row.pop(k, None)
    row.update(
        registration_date="2026-01-09 18:02:11",
        last_modified="2026-02-14 10:15:40",
        last_modified_ts=1_771_082_140,
        removed_reason=reason,
    )
    if new_reg is not None:
        row["new_registration_id"] = new_reg
    return row


class FakeRunSignUp(FakeProvider):
    def __init__(self, api_key: str = "key-1", api_secret: str = "s3cret-rsu") -> None:
        super().__init__()
        self.api_key, self.api_secret = api_key, api_secret
        self.races: dict[int, dict[str, Any]] = {}
        self.participants: dict[int, list[dict[str, Any]]] = {}
        self.removed: dict[int, list[dict[str, Any]]] = {}
        self.corrals: dict[int, list[dict[str, Any]]] = {}
        self.expired = False
        self.shape_change = False
        self.after_page: Callable[[int], None] | None = None
        self._pages_served = 0
        # id(rows) -> (rows, their registration ids, the order, the ids in that order)
        self._orders: dict[int, tuple[Any, list[Any], list[int], list[Any]]] = {}

    def add_race(
        self, race_id: int, name: str, events: list[tuple[int, str, str]], date: str = "04/12/2026"
    ) -> None:
        self.races[race_id] = {
            "race_id": race_id,
            "name": name,
            "last_date": "04/13/2025",
            "next_date": date,
            "is_draft_race": "F",
            "is_registration_open": "T",
            "address": {
                "street": "1 Park Rd",
                "city": "Lakeside",
                "state": "MN",
                "zipcode": "55000",
                "country_code": "US",
            },
            "timezone": "America/Chicago",
            "events": [
                {
                    "event_id": eid,
                    "race_event_days_id": 61_000 + eid,
                    "name": ename,
                    "start_time": "4/12/2026 07:30",
                    "end_time": None,
                    "event_type": "running_race",
                    "distance": dist,
                    "volunteer": "F",
                    "require_dob": "T",
                    "registration_periods": [],
                    "sub_event_ids": [],
                }
                for eid, ename, dist in events
            ],
        }
        self.participants.setdefault(race_id, [])
        self.removed.setdefault(race_id, [])

    # --- the wire ------------------------------------------------------------------------------
    def _error(self, code: int, msg: str) -> web.Response:
        return web.json_response({"error": {"error_code": code, "error_msg": msg}})  # HTTP 200

    def _authorized(self, request: web.Request) -> web.Response | None:
        q = request.query
        key = q.get("rsu_api_key") or q.get("api_key")
        secret = request.headers.get("X-RSU-API-SECRET") or q.get("api_secret")
        if key != self.api_key or secret != self.api_secret:
            return self._error(101, "Invalid API key or secret.")
        if self.expired:
            return self._error(6, "Your temporary key has expired. Please get a new key.")
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0].lower() != "rest":
            raise web.HTTPNotFound()
        if request.query.get("format") != "json":
            return web.Response(text='<?xml version="1.0"?><races></races>', content_type="application/xml")
        denied = self._authorized(request)
        if denied is not None:
            return denied
        rest = [p.lower() for p in parts[1:]]
        if rest == ["races"]:
            return self._races(request)
        if len(rest) >= 2 and rest[0] == "race" and rest[1].isdigit() and int(rest[1]) in self.races:
            race_id = int(rest[1])
            if len(rest) == 2:
                return web.json_response({"race": self.races[race_id]})
            if rest[2:] == ["corrals"]:
                return web.json_response({"race_corrals": self.corrals.get(race_id, [])})
            if rest[2:] == ["participants"]:
                return self._participants(request, race_id)
            if rest[2:] == ["removed-participants"]:
                return self._removed(request, race_id)
        return self._error(404, "Race not found.")

    def _paging(self, request: web.Request, default: int, cap: int) -> tuple[int, int]:
        page = int(request.query.get("page", "1"))
        per = min(cap, int(request.query.get("results_per_page", str(default))))
        return page, per

    def _races(self, request: web.Request) -> web.Response:
        page, per = self._paging(request, 50, 1000)
        races = list(self.races.values())[(page - 1) * per : page * per]
        return web.json_response({"races": [{"race": r} for r in races]})

    def _event_ids(self, request: web.Request, race_id: int) -> list[int]:
        asked = request.query.get("event_id")
        all_ids = [e["event_id"] for e in self.races[race_id]["events"]]
        return [int(x) for x in asked.split(",")] if asked else all_ids

    def _order(self, rows: list[dict[str, Any]]) -> list[int]:
        """The positions of ``rows`` in ``sort=registration_id`` order (stable, ``None`` as 0),
        kept until the list is another or a registration id in it changes (tests add and edit
        rows between pages: a row's event and modified time are read live, page by page)."""
        ids = [r["registration_id"] for r in rows]
        cached = self._orders.get(id(rows))
        if cached is not None and cached[0] is rows and cached[1] == ids:
            return cached[2]
        order = sorted(range(len(rows)), key=lambda i: ids[i] or 0)
        self._orders[id(rows)] = (rows, ids, order, [ids[i] or 0 for i in order])
        return order

    def _participants(self, request: web.Request, race_id: int) -> web.Response:
        """A page of the race's participants: the rows are filtered and sorted as RunSignUp
        does, walking a cached registration-order index from ``after_registration_id`` (a
        50,000-runner race is served page by page without re-sorting it for every page)."""
        events = set(self._event_ids(request, race_id))
        every = self.participants[race_id]
        since_text = request.query.get("modified_after_timestamp")
        since = int(since_text) if since_text is not None else None
        page, per = self._paging(request, 50, MAX_PAGE)
        after_text = request.query.get("after_registration_id")
        if request.query.get("sort", "").lower().startswith("registration_id"):
            order = self._order(every)
            start = 0
            if after_text is not None:
                start = bisect.bisect_right(self._orders[id(every)][3], int(after_text))
            candidates: Any = (every[i] for i in order[start:])
        else:
            candidates = iter(every)
            if after_text is not None:
                after = int(after_text)
                candidates = (r for r in candidates if (r["registration_id"] or 0) > after)
        matching = (
            r
            for r in candidates
            if r["event_id"] in events and (since is None or r["last_modified"] >= since)  # inclusive
        )
        skip = 0 if after_text is not None else (page - 1) * per
        rows = list(itertools.islice(matching, skip, skip + per))
        body: Any = [
            {
                "event": {"event_id": eid, "participants": []},
                "participants": [r for r in rows if r["event_id"] == eid],
            }
            for eid in self._event_ids(request, race_id)
        ]
        if self.shape_change:
            body = {"registrants": rows}
        self._pages_served += 1
        if self.after_page is not None:
            self.after_page(self._pages_served)
        return web.json_response(body)

    def _removed(self, request: web.Request, race_id: int) -> web.Response:
        events = self._event_ids(request, race_id)
        page, per = self._paging(request, 50, MAX_PAGE)
        rows = self.removed[race_id][(page - 1) * per : page * per]
        since = request.query.get("modified_after_timestamp")
        if since is not None:
            rows = [r for r in rows if r["last_modified_ts"] >= int(since)]
        blocks = [
            {
                "event": {
                    "event_id": eid,
                    "participants": [r for r in rows if r.get("event_id", events[0]) == eid],
                }
            }
            for eid in events
        ]
        return web.json_response(blocks[0] if len(blocks) == 1 else blocks)
