"""The fake RunSignUp with its results feed (docs/providers.md#runsignup):
``GET /Rest/race/{race_id}/results/get-results?event_id=…&page=&results_per_page=`` →
``{"individual_results_sets": [{…, "results": [...], "registration_ids": [...]}]}``, the
registration ids a parallel array index-aligned with ``results`` (``None`` for a manual entry).
Every other path is the participants fake's (``fakes/runsignup.py``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.providers.fakes.runsignup import MAX_PAGE, FakeRunSignUp


def finisher(place: int, bib: int, first: str, last: str, clock: str, chip: str = "") -> dict[str, Any]:
    return {
        "result_id": 201_000_000 + place,
        "place": place,
        "bib": bib,
        "first_name": first,
        "last_name": last,
        "gender": "F",
        "city": "Northfield",
        "state": "MN",
        "country_code": "US",
        "clock_time": clock,
        "chip_time": chip,
        "pace": "6:25",
        "age": 38,
    }


class FakeRunSignUpResults(FakeRunSignUp):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        # (race id, event id) -> result sets: (set name, [(row, registration id or None)])
        self.results: dict[tuple[int, int], list[tuple[str, list[tuple[dict[str, Any], int | None]]]]] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        rest = [p.lower() for p in request.path.split("/") if p][1:]
        if len(rest) == 4 and rest[0] == "race" and rest[2:] == ["results", "get-results"]:
            if request.query.get("format") != "json":
                return web.Response(text="<results/>", content_type="application/xml")
            denied = self._authorized(request)
            if denied is not None:
                return denied
            race_id, event_id = int(rest[1]), int(request.query.get("event_id", "0"))
            page, per = self._paging(request, 50, MAX_PAGE)
            sets = []
            for n, (name, rows) in enumerate(self.results.get((race_id, event_id), [])):
                chunk = rows[(page - 1) * per : page * per]
                sets.append(
                    {
                        "individual_result_set_id": 604_416 + n,
                        "individual_result_set_name": name,
                        "public_results": "T",
                        "results": [row for row, _ in chunk],
                        "registration_ids": [reg for _, reg in chunk],
                    }
                )
            return web.json_response({"individual_results_sets": sets})
        return await super().handle(request)
