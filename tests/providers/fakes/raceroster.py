"""A fake Race Roster API (docs/providers.md#race-roster; participants: low confidence).

``POST /api/oauth/authorize`` (form: ``grant_type=access_token`` with client id/secret and the
account's username/password, or ``grant_type=refresh_token``) → a token, bare or wrapped in
``{"data": …}`` (``wrap``); ``GET /api/v1/events`` and ``/api/v1/events/{id}/participants`` with
``offset``/``limit`` → ``{"data": [...], "metadata": {...}}``, ``Authorization: Bearer``;
``/api/v1/events/{id}/results`` with ``page``/``perPage`` (and ``resultsRaceId``, a sub-event id)
→ ``{"data": [...]}`` (``results``; rows as ``result()`` builds them).  A
token the fake no longer knows (``expire_tokens()``) gets 401 ``{error, error_description,
hint}``.  Gender as integers.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from tests.providers.fakes.base import FakeProvider


def participant(pid: int, bib: str, first: str, last: str, gender: int = 2, **kw: Any) -> dict[str, Any]:
    row = {
        "participantId": pid,
        "registrationId": 4_410_000 + pid,
        "subEventId": 301551,
        "bibNumber": bib,
        "firstName": first,
        "lastName": last,
        "gender": gender,
        "dateOfBirth": "1993-02-11",
        "age": "33",
        "city": "Dartmouth",
        "region": {"code": "NS"},
        "country": {"code": "CA"},
        "teamName": None,
        "isActive": True,
        "registrationDate": "2026-01-15T20:04:51+00:00",
        "profile": {"email": f"p{pid}@example.ca"},
    }
    row.update(kw)
    return row


def result(
    pid: int | None, place: int, bib: str, first: str, last: str, gun: str, **kw: Any
) -> dict[str, Any]:
    """A results row (the field names are the participants', docs/providers.md#race-roster)."""
    row = {
        "participantId": pid,
        "subEventId": 301551,
        "subEventName": "10K",
        "bibNumber": bib,
        "firstName": first,
        "lastName": last,
        "gender": "2",
        "age": 33,
        "divisionName": "F30-39",
        "overallPlace": place,
        "gunTime": gun,
        "chipTime": gun,
    }
    row.update(kw)
    return row


class FakeRaceRoster(FakeProvider):
    def __init__(
        self, client: tuple[str, str] = ("rr-client", "rr-secret"), user: tuple[str, str] = ("timer", "pw")
    ) -> None:
        super().__init__()
        self.client, self.user = client, user
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.grants: list[str] = []
        self.wrap = True
        self.events = [
            {
                "eventId": 118877,
                "type": "race",
                "name": "Harbourfront 10K",
                "city": "Halifax",
                "region": {"code": "NS", "name": "Nova Scotia"},
                "country": {"code": "CA", "name": "Canada"},
                "startDate": "2026-06-07T08:00:00-03:00",
                "timeZone": "America/Halifax",
                "subEvents": {
                    "data": [{"subEventId": 301551, "name": "10K", "distance": "10", "distanceType": "km"}]
                },
            }
        ]
        self.participants: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def _issue(self) -> web.Response:
        token, refresh = secrets.token_hex(8), secrets.token_hex(8)
        self.tokens.add(token)
        self.refresh_tokens.add(refresh)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": 86400, "refresh_token": refresh}
        return web.json_response({"data": body} if self.wrap else body)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path == "/api/oauth/authorize":
            form = await request.post()
            self.grants.append(str(form.get("grant_type")))
            if (form.get("client_id"), form.get("client_secret")) != self.client:
                return web.json_response(
                    {"error": "invalid_client", "error_description": "bad client"}, status=401
                )
            if form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self.refresh_tokens:
                return self._issue()
            if (
                form.get("grant_type") == "access_token"
                and (form.get("username"), form.get("password")) == self.user
            ):
                return self._issue()
            return web.json_response(
                {"error": "invalid_grant", "error_description": "bad login", "hint": ""}, status=400
            )
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return web.json_response(
                {"error": "access_denied", "error_description": "token expired", "hint": ""}, status=401
            )
        offset, limit = int(request.query.get("offset", "0")), int(request.query.get("limit", "50"))
        if request.path == "/api/v1/events":
            return web.json_response({"data": self.events[offset : offset + limit]})
        if request.path == "/api/v1/events/118877/participants":
            rows = self.participants[offset : offset + limit]
            return web.json_response(
                {
                    "data": rows,
                    "metadata": {"total": len(self.participants), "offset": offset, "limit": limit},
                }
            )
        if request.path == "/api/v1/events/118877/results":
            page, per = int(request.query.get("page", "1")), int(request.query.get("perPage", "25"))
            sub = request.query.get("resultsRaceId")
            rows = [r for r in self.results if sub is None or str(r.get("subEventId")) == sub]
            return web.json_response({"data": rows[(page - 1) * per : page * per]})
        return web.json_response({"error": "not_found"}, status=404)
