"""``GET /api/sessions/{id}/report.html``: the printable race-day report — one self-contained
page (no script, no remote resource, a strict CSP), every user text escaped, every chart an
inline ``<svg>``, rendered in real Chromium.  Set ``RC_UPDATE_SCREENSHOTS=1`` to copy the
screenshot into docs/screenshots/race-day-report.png."""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from race_control.analytics_report import REPORT_CSP
from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.browser import chromium
from tests.display.test_page_modes import open_display, wait_shown
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import drain_until

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "race-day-report.png"
HOSTILE_EVENT = "<script>alert('event')</script> =cmd|' /C calc'!A0"
HOSTILE_SESSION = '<img src=x onerror=alert(1)> =HYPERLINK("x") مرحبا\u202eRTL'


async def get_report(api: Api, session_id: str) -> tuple[int, str, Any]:
    async with api.http.get(f"{api.base}/api/sessions/{session_id}/report.html", headers=api.headers) as r:
        return r.status, await r.text(), r.headers


@pytest.mark.browser
async def test_report_is_escaped_self_contained_svg_and_prints(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    event = await api.ok("POST", "/api/events", {"name": HOSTILE_EVENT, "date": "2026-06-01"}, 201)
    await api.ok(
        "POST",
        f"/api/events/{event['id']}/participants",
        [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "X"} for b in range(1, 21)],
    )
    session = await api.ok(
        "POST", "/api/sessions", {"event_id": event["id"], "mode": "results", "name": HOSTILE_SESSION}, 201
    )
    sid = session["id"]
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("report-conn")
    streams: list[dict[str, str]] = []
    while not streams:
        streams = await api.ok("GET", "/api/timing/sessions")
    await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": streams[0]["id"]})
    async with chromium() as browser:
        screen = await open_display(browser, session["display_url"], 1280, 720)
        reads = [
            f"CT01_33~{i}~finish~{i}~09:0{i // 4}:{(i * 7) % 60:02d}.00~1~0FA22E~1\r\n" for i in range(1, 13)
        ]
        reads.append("CT01_33~13~finish~999~09:03:30.00~1~0FA22E~1\r\n")  # a bib nobody has
        reads.append("CT01_33~14~finish~1~09:00:08.00~1~0FA22E~1\r\n")  # bib 1 again: a duplicate
        await client.send("".join(reads).encode())
        await wait_shown(screen, 13)
        deadline = time.monotonic() + 10
        while not rc.services.hub.latencies(sid) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        analytics = await drain_until(
            rc,
            lambda: api.ok("GET", f"/api/sessions/{sid}/analytics"),
            lambda a: a["finishers"] >= 13 and a["suppressed_by_reason"].get("duplicate") == 1,
        )
        assert analytics["latency_ms"]["samples"] > 0, "the screen reported no latency"

        status, page, headers = await get_report(api, sid)
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Content-Security-Policy"] == REPORT_CSP
        assert "script-src" not in REPORT_CSP and REPORT_CSP.startswith("default-src 'none'")
        assert "<script" not in page.lower() and "<img" not in page
        assert f"<bdi>{html.escape(HOSTILE_SESSION)}</bdi>" in page and html.escape(HOSTILE_EVENT) in page
        assert HOSTILE_EVENT not in page and HOSTILE_SESSION not in page
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//)""", page), "a remote resource"
        sections = dict(re.findall(r'<section id="([a-z-]+)"[^>]*>(.*?)</section>', page, re.S))
        for chart in ("per-minute", "unknown", "suppressions", "latency"):
            assert "<svg" in sections[chart] and re.search(r'<rect [^>]*fill="#', sections[chart]), chart
        assert ">duplicate<" in sections["suppressions"]  # SUPPRESSION_LABELS["duplicate"]
        assert "999" in sections["unknown"]
        totals = dict(re.findall(r"<tr><th>([^<]+)</th><td class=n>([^<]+)</td></tr>", sections["totals"]))
        assert totals["Reads"] == str(analytics["reads"]) and totals["Finishers"] == "13"
        assert totals["Unknown bibs"] == "1" and totals["Screens seen"] == "1"
        assert totals["Suppressed"] == "1"
        await client.close()

        # real Chromium with the CSP enforced: the names show as text, nothing runs or loads
        ctx = await browser.new_context(
            bypass_csp=False, extra_http_headers=api.headers, viewport={"width": 900, "height": 1200}
        )
        tab = await ctx.new_page()
        problems: list[str] = []
        tab.on("pageerror", lambda exc: problems.append(str(exc)))
        tab.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
        tab.on("request", lambda req: problems.append(req.url) if "report.html" not in req.url else None)
        tab.on("dialog", lambda d: problems.append("dialog " + d.message))
        await tab.goto(f"{api.base}/api/sessions/{sid}/report.html")
        assert await tab.locator("h1").inner_text() == HOSTILE_EVENT
        assert await tab.locator("svg").count() == 4
        assert await tab.evaluate(
            "[...document.querySelectorAll('svg')].every(s => s.getBoundingClientRect().height > 30)"
        )
        assert await tab.evaluate("getComputedStyle(document.body).maxWidth") != "none", (
            "the style was blocked"
        )
        assert not problems, problems
        pdf = await tab.pdf(format="A4")
        pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
        assert pdf.startswith(b"%PDF") and pages >= 3, pages  # a page break before each part
        path = tmp_path / SCREENSHOT.name
        await tab.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        if os.environ.get("RC_UPDATE_SCREENSHOTS"):
            shutil.copy(path, SCREENSHOT)


async def test_report_404_and_token(api: Api) -> None:
    status, body, _ = await get_report(api, "no-such-session")
    assert status == 404 and "no-such-session" in body
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{api.base}/api/sessions/x/report.html") as r,
    ):
        assert r.status == 401
