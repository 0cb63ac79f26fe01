"""The display page in real Chromium against the real server: bursts, hostile names,
corrections, pre-race/results modes, switching sessions, closing a session, screenshots.

Every test drives the in-process server (fixtures ``rc``, ``api``) with a raw CTP01 client.
Set ``RC_UPDATE_SCREENSHOTS=1`` to copy the screenshots into docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from race_control.app import RaceControl
from race_control.display_server.pages import SCRIPTS
from race_control.operations.screen_control import NoScreens
from race_control.operations.sessions import SessionOperations
from tests.conftest import Api
from tests.display.browser import chromium
from tests.display.test_resume import lines, setup_session

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LIVE = "document.body.dataset.connection === 'live'"


async def open_display(
    browser: Browser, url: str, width: int = 1920, height: int = 1080, **context: Any
) -> Page:
    """A fresh context (own sessionStorage) on the display URL, live; page errors fail the test."""
    ctx = await browser.new_context(viewport={"width": width, "height": height}, **context)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(url)
    await page.wait_for_function(LIVE, timeout=10_000)
    return page


async def state(page: Page) -> dict[str, Any]:
    return await page.evaluate("window.raceControl.state()")


async def wait_shown(page: Page, n: int, timeout: float = 15_000) -> None:
    await page.wait_for_function(
        f"window.raceControl.state().shown.length >= {n}", timeout=timeout, polling=50
    )


def read(seq: int, bib: str, clock: str = "") -> bytes:
    clock = clock or f"09:{seq // 60:02d}:{seq % 60:02d}.00"
    return f"CT01_33~{seq}~finish~{bib}~{clock}~0~0FA22E~1\r\n".encode()


NAME = "document.querySelector('.rc-card .rc-block.rc-name > .rc-t')"


async def card_name(page: Page) -> str:
    return str(await page.evaluate(f"{NAME}.textContent"))


# ---------------------------------------------------------------------------- 1. burst
async def test_burst_of_30_is_shown_in_order_through_the_grid(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        await page.evaluate(
            """() => {
              window.__views = [document.body.dataset.view];
              new MutationObserver(() => window.__views.push(document.body.dataset.view))
                .observe(document.body, {attributes: true, attributeFilter: ['data-view']});
            }"""
        )
        # 30 finishers in 6 packets of 5: each packet alone leaves 4 waiting behind the card on
        # screen, which is what calls for the grid, however fast the packets follow each other
        for first in range(1, 31, 5):
            await client.send(lines(first, first + 4))
            await asyncio.sleep(0.15)
        await wait_shown(page, 30, timeout=15_000)
        got = await state(page)
        assert got["shown"] == list(range(1, 31)), got["shown"]
        assert got["duplicates"] == 0 and got["queued"] == 0
        views = await page.evaluate("window.__views")
        assert "grid" in views, views
        assert max(len(c) for c in [got["current"]]) <= 8
        # calm again: the next finisher gets a single card of its own
        await client.send(lines(31, 31))
        await page.wait_for_function(
            "(() => { const s = window.raceControl.state();"
            " return s.current.length === 1 && s.current[0] === 31 && s.view === 'single'; })()",
            timeout=10_000,
        )
        assert await page.evaluate("document.body.dataset.view") == "single"
        assert not page.errors  # type: ignore[attr-defined]
    await client.close()


# ---------------------------------------------------------------------------- 2. hostile names
LONG_FIRST = ("Maximiliana-Evangelina " * 7)[:149]  # the roster caps each name part at 200
LONG_LAST = ("Wolfeschlegelsteinhausen" * 7)[:150]
HOSTILE = [
    {"bib": "666", "first_name": "<script>window.__pwned=1</script>", "last_name": "Smith"},
    {"bib": "667", "first_name": '<img src=x onerror="window.__pwned=2">', "last_name": "Jones"},
    {"bib": "668", "first_name": "\u202eevil", "last_name": "Override", "city": "<b>Bold</b>"},
    {"bib": "669", "first_name": LONG_FIRST, "last_name": LONG_LAST, "message": "x" * 400},
]

INSIDE = """(sel) => {
  const span = document.querySelector(sel);
  const box = span.parentElement.getBoundingClientRect();
  const r = span.getBoundingClientRect();
  const stage = document.getElementById('rc-stage').getBoundingClientRect();
  const shown = {left: Math.max(r.left, box.left), right: Math.min(r.right, box.right),
                 top: Math.max(r.top, box.top), bottom: Math.min(r.bottom, box.bottom)};
  return {
    text: span.textContent.length,
    clippedByBox: getComputedStyle(span.parentElement).overflow === 'hidden',
    boxInStage: box.left >= stage.left - 1 && box.right <= stage.right + 1 &&
                box.top >= stage.top - 1 && box.bottom <= stage.bottom + 1,
    spanInBox: r.left >= box.left - 1 && r.right <= box.right + 1,
    visibleWidth: shown.right - shown.left,
    fitsOrEllipsis: span.scrollWidth <= span.clientWidth + 1 ||
                    getComputedStyle(span).textOverflow === 'ellipsis' || span.classList.contains('rc-clamp'),
    bidi: getComputedStyle(span).unicodeBidi,
    dir: span.getAttribute('dir'),
  };
}"""


async def test_hostile_names_are_inert_text_and_long_names_fit(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    await api.ok("POST", f"/api/events/{session['event_id']}/participants", HOSTILE)
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        elements_before = await page.evaluate("document.querySelectorAll('*').length")
        await client.send(read(1, "666") + read(2, "667") + read(3, "668") + read(4, "669"))
        await page.wait_for_function("window.raceControl.state().current[0] === 3", timeout=10_000)
        assert await page.evaluate("document.querySelector('.rc-card .rc-city-state').textContent") == (
            "<b>Bold</b>"
        )
        await page.wait_for_function("window.raceControl.state().current[0] === 4", timeout=10_000)
        assert await page.evaluate("window.__pwned") is None
        text = await page.evaluate("document.body.textContent")
        for literal in ("<script>window.__pwned=1</script>", '<img src=x onerror="window.__pwned=2">'):
            assert literal in text
        assert "\u202eevil" in text
        # no element was made from data: data text nodes never have element children
        assert await page.evaluate("document.querySelectorAll('.rc-t *').length") == 0
        assert await page.locator("img").count() == 0
        assert await page.locator("b").count() == 0
        # the config JSON and the page's own scripts (same-origin files), nothing else
        assert await page.locator("script").count() == 1 + len(SCRIPTS)
        # the page only grew by the list rows: nothing per hostile string beyond its text span
        assert await page.evaluate("document.querySelectorAll('*').length") < elements_before + 80
        # the 300-character name stays inside its card (shrunk, then wrapped / ellipsis)
        card = await page.evaluate(INSIDE, ".rc-card .rc-block.rc-name > .rc-t")
        assert card["text"] == 300, card
        assert card["boxInStage"] and card["clippedByBox"] and card["fitsOrEllipsis"], card
        message = await page.evaluate(INSIDE, ".rc-card .rc-block.rc-message > .rc-t")
        assert message["boxInStage"] and message["clippedByBox"], message
        # every recent-finisher row keeps its text inside the row; data text is bidi-isolated
        rows = await page.evaluate(
            """() => Array.from(document.querySelectorAll('.rc-row-name .rc-t')).map((s, i) => {
                  s.id = 'row-' + i; return '#row-' + i; })"""
        )
        assert len(rows) == 4
        for sel in rows:
            row = await page.evaluate(INSIDE, sel)
            assert row["spanInBox"] and row["fitsOrEllipsis"], (sel, row)
            assert row["bidi"] == "isolate" and row["dir"] == "auto", row
        # the right-to-left override did not flip the bib / time of its row
        rtl_row = await page.evaluate(
            """() => { const rows = Array.from(document.querySelectorAll('.rc-row'));
                 const r = rows.find(x => x.textContent.includes('\\u202eevil'));
                 const lead = r.querySelector('.rc-row-lead').getBoundingClientRect();
                 const time = r.querySelector('.rc-row-time').getBoundingClientRect();
                 return {lead: r.querySelector('.rc-row-lead').textContent, leadLeft: lead.left,
                         timeLeft: time.left}; }"""
        )
        assert rtl_row["lead"] == "#668" and rtl_row["leadLeft"] < rtl_row["timeLeft"], rtl_row
        assert not page.errors  # type: ignore[attr-defined]
    await client.close()


# ---------------------------------------------------------------------------- 4. correction
async def test_unknown_bib_is_corrected_in_place_without_a_new_card(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    participants = f"/api/events/{session['event_id']}/participants"
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        seen = "window.__names = new Set(); setInterval(() => window.__names.add(%s), 20);"
        await page.evaluate(seen % "document.querySelector('.rc-card .rc-block.rc-name > .rc-t').textContent")
        # 777 is on the card, 888 waits in the queue behind it, then a known runner
        await client.send(read(1, "777") + read(2, "888") + read(3, "5"))
        await page.wait_for_function("window.raceControl.state().current[0] === 1", timeout=10_000)
        assert await card_name(page) == "Bib 777"
        assert (await state(page))["queued"] == 2
        await api.ok(
            "POST",
            participants,
            [
                {"bib": "777", "first_name": "Walk", "last_name": "Up"},
                {"bib": "888", "first_name": "Late", "last_name": "Entry"},
            ],
        )
        # the card on screen changes in place, with no new card and no new entrance
        await page.wait_for_function(f"{NAME}.textContent === 'Walk Up'", timeout=5_000)
        got = await state(page)
        assert (got["shown"], got["current"], got["lastSeq"], got["corrections"]) == ([1], [1], 5, 2)
        assert await page.evaluate("document.querySelector('.rc-row-name').textContent") == "Walk Up"
        # the queued runner comes up with the right name and was never shown as "Bib 888"
        await page.wait_for_function("window.raceControl.state().current[0] === 2", timeout=10_000)
        assert await card_name(page) == "Late Entry"
        rows = await page.evaluate(
            "Array.from(document.querySelectorAll('.rc-row-name')).map(r => r.textContent)"
        )
        assert rows == ["Late Entry", "Walk Up"], rows
        assert "Bib 888" not in await page.evaluate("Array.from(window.__names)")
        assert "Bib 888" not in await page.evaluate("document.body.textContent")
        got = await state(page)
        assert got["shown"] == [1, 2] and got["duplicates"] == 0
        await page.wait_for_function("window.raceControl.state().current[0] === 3", timeout=10_000)
        assert (await state(page))["lastShown"] == 5  # a reload resumes after the corrections
        assert not page.errors  # type: ignore[attr-defined]
    await client.close()


# ---------------------------------------------------------------------------- 5. modes
async def test_pre_race_countdown_slides_and_switch_to_results(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    sid = session["id"]
    await api.ok("PATCH", f"/api/sessions/{sid}", {"mode": "pre-race", "starts_at": time.time() + 3600})
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        assert await page.evaluate("document.body.dataset.mode") == "pre-race"
        countdown = page.locator(".rc-countdown .rc-digits")
        # an hour to go, less however long the page took to open (a minute is plenty)
        assert re.fullmatch(r"1:00:00|59:[0-5]\d", await countdown.text_content() or ""), (
            await countdown.text_content()
        )
        # the operator moves the start: the countdown follows at once
        await api.ok("PATCH", f"/api/sessions/{sid}", {"starts_at": time.time() + 125})
        await page.wait_for_function(
            "/^02:0[0-5]$/.test(document.querySelector('.rc-countdown .rc-digits').textContent)",
            timeout=5_000,
        )
        # rotating content: the slide changes by itself (classic template: every 7 s)
        first = await page.locator(".rc-slide-title").text_content()
        await page.wait_for_function(
            f"document.querySelector('.rc-slide-title').textContent !== {first!r}", timeout=9_000
        )
        assert (await state(page))["view"] == "none"
        # the first finisher switches the screen to results, and it is shown
        await client.send(lines(1, 1))
        await page.wait_for_function("document.body.dataset.mode === 'results'", timeout=5_000)
        await page.wait_for_function("window.raceControl.state().current[0] === 1", timeout=5_000)
        # the page turns by itself on the finisher; the server's "mode" message naming why
        # follows once the switch is committed (later under load)
        await page.wait_for_function("window.raceControl.state().modeBy === 'first finisher'", timeout=10_000)
        assert await page.locator(".rc-countdown").count() == 0
        # and the operator switches it back by hand
        await api.ok("PATCH", f"/api/sessions/{sid}", {"mode": "pre-race"})
        await page.wait_for_function("document.body.dataset.mode === 'pre-race'", timeout=5_000)
        got = await state(page)
        assert got["mode"] == "pre-race" and got["modeBy"] == "operator" and got["shown"] == [1]
        assert await page.evaluate("document.body.dataset.view") == "pre-race"
        assert not page.errors  # type: ignore[attr-defined]
    await client.close()


# ---------------------------------------------------------------------------- 6. switch
async def test_switch_moves_the_screen_to_another_session(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    other = await api.ok("POST", "/api/sessions", {"event_id": session["event_id"], "mode": "results"}, 201)
    stream = (await api.ok("GET", "/api/timing/sessions"))[0]["id"]
    await api.ok("POST", f"/api/sessions/{other['id']}/timing", {"timing_session_id": stream})
    other_path = "/display/" + other["display_url"].rsplit("/display/", 1)[1]
    assert rc.services is not None
    hub = rc.services.hub
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        # anything but a same-origin display path is ignored
        for bad in (
            "https://evil.example/display/abcdefghijkl",
            "//evil.example/display/abcdefghijkl",
            "javascript:alert(1)//display/",
            "/api/sessions",
            "/display/static/display.js",
            "/display/../api/health",
            42,
        ):
            assert hub.send_control(session["id"], {"type": "switch", "url": bad}) == 1
        async with page.expect_navigation(timeout=10_000):
            assert hub.send_control(session["id"], {"type": "switch", "url": other_path}) == 1
        assert page.url == other["display_url"]
        await page.wait_for_function(LIVE, timeout=10_000)
        assert (await state(page))["lastSeq"] == 0
        await client.send(lines(1, 1))
        await page.wait_for_function("window.raceControl.state().current[0] === 1", timeout=10_000)
        screens = await api.ok("GET", f"/api/sessions/{other['id']}/screens")
        assert len(screens) == 1
        assert await api.ok("GET", f"/api/sessions/{session['id']}/screens") == []
        assert not page.errors  # type: ignore[attr-defined]
    await client.close()


# ---------------------------------------------------------------------------- 7. closed
async def test_closed_session_shows_the_ended_screen_and_stops_reconnecting(
    rc: RaceControl, api: Api
) -> None:
    session, client = await setup_session(api, rc.timing_port)
    await client.close()
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await api.ok("DELETE", f"/api/sessions/{session['id']}")
        await page.wait_for_function("document.body.dataset.connection === 'ended'", timeout=5_000)
        assert await page.locator("#rc-ended").is_visible()
        assert "This display has ended" in await page.locator("#rc-ended").inner_text()
        assert not await page.locator("#rc-banner").is_visible()
        await asyncio.sleep(1.6)  # longer than the first two reconnect delays
        assert sockets == [] and (await state(page))["ended"] is True
        # a reload gets the server's 410 page
        response = await page.reload()
        assert response is not None and response.status == 410
        assert "This display has ended" in await page.inner_text("body")


async def test_screen_that_missed_the_close_finds_out_from_the_410(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    await client.close()
    assert rc.services is not None
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        # the session is closed while the screen is cut off (it never gets the 4410 close):
        # the close operation as run by a tool with no screens attached
        s = rc.services
        await SessionOperations(s.sessions, s.templates, s.timing, NoScreens()).close(session["id"])
        for s in rc.services.hub.screens(session["id"]):
            await s.ws.close(code=1001)
        await page.wait_for_function("document.body.dataset.connection === 'ended'", timeout=15_000)
        assert await page.locator("#rc-ended").is_visible()


# ---------------------------------------------------------------------------- 8. screenshots
ROSTER = [
    ("100", "Ann", "Lee", "Boulder", "CO", "F30-39", "Go Ann! The whole family is proud of you"),
    ("101", "Mateo", "García Fernández", "Denver", "CO", "M40-49", ""),
    ("102", "Priya", "Raghunathan", "Fort Collins", "CO", "F20-29", "First 10K ever!"),
    ("103", "Jonas", "Müller", "Munich", "", "M50-59", ""),
    ("104", "Chen", "Wei", "Golden", "CO", "M30-39", ""),
    ("105", "Aisha", "Bello", "Longmont", "CO", "F40-49", "Run for Mom"),
]
FIRST = ["Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Sofia", "Ethan", "Mia", "Kai", "Zoe", "Omar"]
LAST = ["Johnson", "Nguyen", "Okafor", "Schmidt", "Kowalski", "Rossi", "Tanaka", "Silva", "O'Brien"]


def roster() -> list[dict[str, Any]]:
    rows = [
        {"bib": b, "first_name": f, "last_name": la, "city": c, "state": s, "division": d, "message": m}
        for b, f, la, c, s, d, m in ROSTER
    ]
    for i in range(40):
        rows.append(
            {
                "bib": str(200 + i),
                "first_name": FIRST[i % len(FIRST)],
                "last_name": LAST[(i * 5) % len(LAST)],
                "city": ["Boulder", "Denver", "Lyon", "Austin", "Nederland"][i % 5],
                "state": ["CO", "CO", "", "TX", "CO"][i % 5],
                "country": ["US", "US", "FR", "US", "US"][i % 5],
                "division": f"{'FM'[i % 2]}{20 + (i % 5) * 10}-{29 + (i % 5) * 10}",
            }
        )
    return rows


async def shot(page: Page, name: str, out: Path) -> Path:
    await asyncio.sleep(0.15)  # reduced motion: no entrance animation to wait for
    path = out / name
    await page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, name
    return path


async def test_screenshots(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    event = await api.ok("POST", "/api/events", {"name": "Boulder Spring 10K", "date": "2026-06-01"}, 201)
    await api.ok("POST", f"/api/events/{event['id']}/participants", roster())
    results = await api.ok(
        "POST", "/api/sessions", {"event_id": event["id"], "mode": "results", "name": "Finish line"}, 201
    )
    pre = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "pre-race"}, 201)
    await api.ok("PATCH", f"/api/sessions/{pre['id']}", {"starts_at": time.time() + 42 * 60 + 17})
    from tests.helpers.ctp01_peer import RawCtp01Client

    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("shots")
    streams: list[dict[str, Any]] = []
    while not streams:
        streams = await api.ok("GET", "/api/timing/sessions")
    await api.ok("POST", f"/api/sessions/{results['id']}/timing", {"timing_session_id": streams[0]["id"]})
    taken: list[Path] = []
    async with chromium() as browser:
        tv = await open_display(browser, results["display_url"], reduced_motion="reduce")
        phone_context = await browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            reduced_motion="reduce",
        )
        phone = await phone_context.new_page()
        await phone.goto(results["display_url"])
        await phone.wait_for_function(LIVE, timeout=10_000)
        assert (await state(phone))["portrait"] is True

        await client.send(
            b"".join(
                read(i + 1, b, f"09:4{i}:1{i}.00") for i, b in enumerate(["101", "102", "103", "104", "105"])
            )
        )
        await wait_shown(tv, 5)
        # both screens have shown the bunch before the next runner comes, so each shows him
        # alone (a screen slowed by load that still queued the bunch would put him in its grid)
        await wait_shown(phone, 5)
        await client.send(read(6, "100", "09:40:17.00"))
        await tv.wait_for_function(
            "window.raceControl.state().current[0] === 6", timeout=20_000
        )  # after a queue dwell; slow under load
        await phone.wait_for_function(
            "window.raceControl.state().current[0] === 6", timeout=20_000
        )  # after a queue dwell; slow under load
        taken.append(await shot(tv, "display-results-1080p.png", tmp_path))
        taken.append(await shot(phone, "display-results-phone.png", tmp_path))
        # portrait phone: names and the recent list are readable (CSS px on a 390 px screen)
        sizes = await phone.evaluate(
            """() => { const px = s => { const e = document.querySelector(s);
                 return parseFloat(getComputedStyle(e).fontSize) * e.getBoundingClientRect().width / e.offsetWidth; };
               return {name: px('.rc-card .rc-block.rc-name > .rc-t'), row: px('.rc-row-name .rc-t'), time: px('.rc-card .rc-block.rc-time > .rc-t')}; }"""
        )
        assert sizes["name"] >= 24 and sizes["time"] >= 30 and sizes["row"] >= 11, sizes

        await client.send(
            b"".join(read(7 + i, str(200 + i), f"09:5{i // 10}:{10 + i}.00") for i in range(20))
        )
        await tv.wait_for_function(
            "(() => { const s = window.raceControl.state(); return s.view === 'grid' && s.current.length === 8; })()",
            timeout=10_000,
        )
        taken.append(await shot(tv, "display-burst-1080p.png", tmp_path))
        await phone.wait_for_function("window.raceControl.state().view === 'grid'", timeout=10_000)
        taken.append(await shot(phone, "display-burst-phone.png", tmp_path))

        pre_tv = await open_display(browser, pre["display_url"], reduced_motion="reduce")
        taken.append(await shot(pre_tv, "display-prerace-1080p.png", tmp_path))
        pre_phone = await phone_context.new_page()
        await pre_phone.goto(pre["display_url"])
        await pre_phone.wait_for_function(LIVE, timeout=10_000)
        taken.append(await shot(pre_phone, "display-prerace-phone.png", tmp_path))

        await api.ok("DELETE", f"/api/sessions/{pre['id']}")
        await pre_tv.wait_for_function("document.body.dataset.connection === 'ended'", timeout=5_000)
        await pre_phone.wait_for_function("document.body.dataset.connection === 'ended'", timeout=5_000)
        taken.append(await shot(pre_tv, "display-ended-1080p.png", tmp_path))
        taken.append(await shot(pre_phone, "display-ended-phone.png", tmp_path))

        await wait_shown(tv, 26)
        await client.close()
        await rc.stop()
        await tv.wait_for_function("document.body.dataset.connection === 'stale'", timeout=10_000)
        await asyncio.sleep(1.0)  # "Last update N s ago" ticks
        taken.append(await shot(tv, "display-stale-1080p.png", tmp_path))
        assert not tv.errors  # type: ignore[attr-defined]
    if os.environ.get("RC_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for path in taken:
            shutil.copyfile(path, SCREENSHOTS / path.name)
