"""A fake UltraSignup (docs/providers.md#ultrasignup) and the RD's entrants export file.

Served: ``GET /service/events.svc/results/{did}/1/json`` → a bare array of result rows
(``firstname``, ``lastname``, ``age``, ``gender``, ``city``, ``state``, ``bib``, ``place``,
``formattime``, ``status`` 1/6 finished, 2 DNF, 3 DNS), the first element a row without a runner
as UltraSignup sends it; the old ``/results/{did}/json`` answers 400 "Endpoint not found."
like the real WCF service.  ``shape_change`` wraps the rows as ``{"d": [...]}``.

``export_csv`` writes an entrants export the way the RD's download looks (Excel-style CSV,
UTF-8 with a BOM unless told otherwise).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from tests.providers.fakes.base import FakeProvider

EXPORT_HEADER = (
    "Order ID",
    "Registration Date",
    "Distance",
    "First Name",
    "Last Name",
    "Gender",
    "Age",
    "DOB",
    "City",
    "State",
    "Country",
    "Bib",
    "Team",
    "Email",
    "Status",
)


def entrant(order: int, first: str, last: str, bib: str = "", **kw: str) -> dict[str, str]:
    row = {
        "Order ID": str(order),
        "Registration Date": "1/14/2026 9:12:44 PM",
        "Distance": "50K",
        "First Name": first,
        "Last Name": last,
        "Gender": "F",
        "Age": "36",
        "DOB": "3/2/1990",
        "City": "Bend",
        "State": "OR",
        "Country": "USA",
        "Bib": bib,
        "Team": "",
        "Email": f"{first.lower()}@example.net",
        "Status": "Registered",
    }
    row.update(kw)
    return row


def export_csv(
    rows: list[dict[str, str]], header: tuple[str, ...] = EXPORT_HEADER, *, encoding: str = "utf-8-sig"
) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(header), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def result(first: str, last: str, time: str, status: int = 1, **kw: Any) -> dict[str, Any]:
    row = {
        "firstname": first,
        "lastname": last,
        "age": 36,
        "gender": "F",
        "city": "Bend",
        "state": "OR",
        "bib": "",
        "place": "",
        "formattime": time,
        "status": status,
    }
    row.update(kw)
    return row


class FakeUltraSignup(FakeProvider):
    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, list[dict[str, Any]]] = {}
        self.shape_change = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if parts[:3] != ["service", "events.svc", "results"]:
            raise web.HTTPNotFound()
        rest = parts[3:]
        if len(rest) == 3 and rest[1:] == ["1", "json"] and rest[0] in self.results:
            lead: dict[str, Any] = {"firstname": "", "lastname": "", "formattime": "", "status": 0}
            rows = [lead, *self.results[rest[0]]]
            return web.json_response({"d": rows} if self.shape_change else rows)
        return web.Response(text="Endpoint not found.", status=400, content_type="text/html")
