"""A fake Copernico (Timingsense) API speaking its wire shapes (docs/providers.md#copernico).

Private API under ``/api/races`` with ``x-api-key`` (a wrong or missing key is 401):
``GET /api/races`` → ``{"data": [{"id", "name"}]}`` (``ids_only``: bare slugs),
``GET /api/races/{race}`` → ``{"data": {..., "events": [...]}}``,
``GET /api/races/{race}/athletes`` → ``{"data": [summaries]}`` (``full_list``: whole athletes),
``GET /api/races/{race}/athlete/{id}/full`` → the athlete object.
Public (no key): ``GET /api/races/{race}/preset/{login}:::{preset}/{event}`` → ``{"data": [...]}``
with times in ms, or with ``gzip_raw`` a gzip body without ``Content-Encoding``, ``mojibake``
double-encoded UTF-8 text, ``preset_bare`` a bare array.  ``shape_change`` puts lists under
``items`` and an athlete's events under ``inscriptions``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tests.providers.fakes.base import FakeProvider


def athlete(aid: str, dorsal: str, name: str, surname: str, event: str = "10K", **kw: Any) -> dict[str, Any]:
    ev = {
        "event": event,
        "status": "notstarted",
        "realStatus": "notstarted",
        "dorsal": dorsal,
        "chip": [f"E2000017{int(dorsal or 0):06d}"],
        "category": "SENIOR F",
        "wave": "2",
        "team": "",
        "club": "CA Turia",
        "featured": False,
        "times": {},
        "rankings": {},
        "backups": [],
        "mst": [],
        "penalties": [],
        "issuesCount": {"data": 0, "times": 0},
    }
    ev.update(kw.pop("event_fields", {}))
    row = {
        "id": aid,
        "name": name,
        "surname": surname,
        "fullname": f"{name} {surname}",
        "events": [ev],
        "locations": ["salida", "meta"],
        **{f"extrafield{i}": "" for i in range(1, 6)},
    }
    row.update(kw)
    return row


class FakeCopernico(FakeProvider):
    def __init__(self, api_key: str = "cop-key-1") -> None:
        super().__init__()
        self.api_key = api_key
        self.races: dict[str, dict[str, Any]] = {}
        self.athletes: dict[str, list[dict[str, Any]]] = {}
        self.presets: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        self.ids_only = False
        self.full_list = False
        self.shape_change = False
        self.gzip_raw = False
        self.mojibake = False
        self.preset_bare = False
        self.full_delay = 0.0  # seconds each /full takes; max_in_flight counts the overlap
        self.in_flight = self.max_in_flight = 0

    def add_race(self, race_id: str, name: str, events: list[tuple[str, int]]) -> None:
        self.races[race_id] = {
            "id": race_id,
            "name": name,
            "date": "2026-03-08",
            "timezone": "Europe/Madrid",
            "location": "València",
            "events": [
                {"id": ev.lower(), "name": ev, "distance": dist, "startTime": "2026-03-08T08:30:00+01:00"}
                for ev, dist in events
            ],
        }
        self.athletes.setdefault(race_id, [])

    def _json(self, data: Any) -> web.Response:
        body = json.dumps(data, ensure_ascii=False)
        if self.mojibake:  # UTF-8 bytes read as Latin-1 and encoded again
            body = body.encode("utf-8").decode("latin-1")
        raw = body.encode("utf-8")
        if self.gzip_raw:  # packed, but no Content-Encoding: a client must notice by itself
            raw = gzip.compress(raw)
        return web.Response(body=raw, content_type="application/json")

    def _list(self, rows: list[Any]) -> web.Response:
        return self._json({"items" if self.shape_change else "data": rows})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        parts = [unquote(p) for p in request.raw_path.split("?")[0].split("/") if p]
        if parts[:2] != ["api", "races"]:
            raise web.HTTPNotFound()
        rest = parts[2:]
        if len(rest) == 4 and rest[1] == "preset" and rest[0] in self.races:
            login, _, preset = rest[2].partition(":::")
            rows = self.presets.get((rest[0], login, preset, rest[3]))
            if rows is None:
                return web.json_response({"error": "preset not found"}, status=404)
            return self._json(rows if self.preset_bare else {"data": rows})
        if request.headers.get("x-api-key") != self.api_key:
            return web.json_response({"message": "Unauthorized"}, status=401)
        if not rest:
            races = list(self.races)
            return self._list(
                races if self.ids_only else [{"id": r, "name": self.races[r]["name"]} for r in races]
            )
        race = rest[0]
        if race not in self.races:
            return web.json_response({"error": "race not found"}, status=404)
        if len(rest) == 1:
            return self._json({"data": self.races[race]})
        if rest[1:] == ["athletes"]:
            rows = self.athletes[race]
            if not self.full_list:
                rows = [{"id": a["id"], "name": a["name"], "surname": a["surname"]} for a in rows]
            return self._list(rows)
        if len(rest) == 4 and rest[1] == "athlete" and rest[3] == "full":
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.full_delay)
            finally:
                self.in_flight -= 1
            for a in self.athletes[race]:
                if a["id"] == rest[2]:
                    if self.shape_change:
                        a = {**{k: v for k, v in a.items() if k != "events"}, "inscriptions": a["events"]}
                    return self._json(a)
            return web.json_response({"error": "athlete not found"}, status=404)
        return web.json_response({"error": "not found"}, status=404)
