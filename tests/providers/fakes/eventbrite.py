"""A fake Eventbrite v3 API speaking its wire shapes (docs/providers.md#eventbrite).

``/v3/users/me/organizations/``, ``/v3/organizations/{id}/events/``,
``/v3/events/{id}/ticket_classes/`` and ``/v3/events/{id}/attendees/`` (``changed_since``),
each ``{"pagination": {"object_count", "page_number", "page_size", "page_count",
"continuation", "has_more_items"}, "<key>": [...]}`` with a fixed page size and a continuation
token (here: the offset, base64).  ``Authorization: Bearer <token>``; a wrong or expired token is
HTTP 401 ``{"status_code": 401, "error": "INVALID_AUTH", "error_description": ...}``.

Switches: ``expired`` (the token stops working), ``shift_after_page`` (after that attendees page
one attendee is inserted at the front: the next page, by offset, repeats a row — the set shifts
between pages as Eventbrite warns), plus the base's HTTP faults.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from typing import Any

from aiohttp import web

from tests.providers.fakes.base import FakeProvider


def attendee(
    aid: int,
    ticket: tuple[str, str],
    first: str,
    last: str,
    *,
    changed: str = "2026-02-03T17:22:14Z",
    **kw: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(aid),
        "created": "2026-02-03T17:22:09Z",
        "changed": changed,
        "event_id": "902211334455",
        "order_id": str(3_300_000_000 + aid),
        "ticket_class_id": ticket[0],
        "ticket_class_name": ticket[1],
        "quantity": 1,
        "status": "Attending",
        "checked_in": False,
        "cancelled": False,
        "refunded": False,
        "team": None,
        "profile": {
            "name": f"{first} {last}",
            "first_name": first,
            "last_name": last,
            "email": f"a{aid}@example.com",
            "gender": "male",
            "age": 29,
            "birth_date": "1996-07-21",
            "addresses": {
                "home": {
                    "address_1": "88 Pine St",
                    "city": "Tucson",
                    "region": "AZ",
                    "postal_code": "85701",
                    "country": "US",
                },
                "bill": {"city": "Phoenix", "region": "AZ", "country": "US"},
            },
        },
        "answers": [],
        "barcodes": [{"barcode": f"33001122{aid}0001", "status": "unused"}],
        "costs": {
            "base_price": {"display": "$35.00", "currency": "USD", "value": 3500, "major_value": "35.00"}
        },
    }
    row.update(kw)
    return row


class FakeEventbrite(FakeProvider):
    def __init__(self, token: str = "PRIVATE-TOKEN-1", page_size: int = 50) -> None:
        super().__init__()
        self.token = token
        self.page_size = page_size
        self.orgs = [{"id": "7001", "name": "Desert Dogs Events"}]
        self.events: dict[str, list[dict[str, Any]]] = {"7001": []}
        self.tickets: dict[str, list[dict[str, Any]]] = {}
        self.attendees: dict[str, list[dict[str, Any]]] = {}
        self.expired = False
        self.shift_after_page: int | None = None
        self._attendee_pages = 0

    def add_event(self, event_id: str, name: str, local: str = "2026-05-09T07:00:00") -> None:
        self.events["7001"].append(
            {
                "id": event_id,
                "name": {"text": name, "html": name},
                "start": {"timezone": "America/Phoenix", "local": local, "utc": local + "Z"},
                "status": "live",
            }
        )
        self.tickets[event_id] = [{"id": "1771002", "name": "5K Fun Run"}, {"id": "1771003", "name": "10K"}]
        self.attendees.setdefault(event_id, [])

    def _page(self, request: web.Request, key: str, rows: list[dict[str, Any]]) -> web.Response:
        token = request.query.get("continuation")
        offset = json.loads(base64.b64decode(token))["offset"] if token else 0
        chunk = rows[offset : offset + self.page_size]
        more = offset + self.page_size < len(rows)
        pagination = {
            "object_count": len(rows),
            "page_number": offset // self.page_size + 1,
            "page_size": self.page_size,
            "page_count": max(1, math.ceil(len(rows) / self.page_size)),
            "has_more_items": more,
        }
        if more:
            pagination["continuation"] = base64.b64encode(
                json.dumps({"offset": offset + self.page_size}).encode()
            ).decode()
        return web.json_response({"pagination": pagination, key: chunk})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}" or self.expired:
            return web.json_response(
                {
                    "status_code": 401,
                    "error": "INVALID_AUTH",
                    "error_description": "The OAuth token you provided was invalid.",
                },
                status=401,
            )
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] != ["v3"]:
            raise web.HTTPNotFound()
        rest = parts[1:]
        if rest == ["users", "me", "organizations"]:
            return self._page(request, "organizations", self.orgs)
        if len(rest) == 3 and rest[0] == "organizations" and rest[2] == "events":
            return self._page(request, "events", self.events.get(rest[1], []))
        if len(rest) == 3 and rest[0] == "events" and rest[1] in self.attendees:
            if rest[2] == "ticket_classes":
                return self._page(request, "ticket_classes", self.tickets[rest[1]])
            if rest[2] == "attendees":
                rows = self.attendees[rest[1]]
                since = request.query.get("changed_since")
                if since is not None:
                    cut = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
                    rows = [
                        r
                        for r in rows
                        if dt.datetime.fromisoformat(r["changed"].replace("Z", "+00:00")) >= cut
                    ]
                answer = self._page(request, "attendees", rows)
                self._attendee_pages += 1
                if self.shift_after_page == self._attendee_pages:
                    rows.insert(0, attendee(1, ("1771002", "5K Fun Run"), "Early", "Bird"))
                return answer
        return web.json_response(
            {"status_code": 404, "error": "NOT_FOUND", "error_description": "not found"}, status=404
        )
