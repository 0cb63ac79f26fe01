"""The REPLAY badge in real Chromium: replayed finishes are marked, live ones are not, names stay text."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.browser import chromium
from tests.display.test_page_modes import open_display, state, wait_shown
from tests.display.test_resume import setup_session
from tests.replay.race import new_session, stored_race

pytestmark = pytest.mark.browser
BADGE = ".rc-replay-badge"
SHOWN = "window.raceControl.state().shown.includes({})"


async def test_the_page_shows_a_replay_badge_on_replayed_finishes(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    session, client = await setup_session(api, rc.timing_port)  # a live CTP01 stream is bound
    hostile = {"bib": "1", "first_name": '<img src=x onerror="window.__pwned=1">', "last_name": "Z"}
    await api.ok("POST", f"/api/events/{session['event_id']}/participants", [hostile])
    path = f"/api/sessions/{session['id']}/replay"
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        await client.send(b"CT01_33~1~finish~45~09:01:00.00~0~0FA22E~1\r\n")
        await wait_shown(page, 1)
        assert not await page.locator(BADGE).is_visible()  # a live finish: no badge
        # one replayed read: a single card, with the badge
        one = await stored_race(api, tmp_path, span=30, name="ONE")
        body = {"timing_session_id": one, "speed": 0, "from": "09:00:30", "to": "09:00:30"}
        await api.ok("POST", path, body, 202)
        await page.wait_for_function(SHOWN.format(2), timeout=15_000, polling=50)
        assert await page.evaluate("document.body.dataset.view") == "single"
        assert await page.locator(BADGE).is_visible()
        assert (await page.locator(BADGE).inner_text()).strip() == "REPLAY"
        # a whole race at once: the grid, with the badge; a hostile name stays text
        race = await stored_race(api, tmp_path, span=30, name="RACE")
        await api.ok("POST", path, {"timing_session_id": race, "speed": 0}, 202)
        await page.wait_for_function(SHOWN.format(3), timeout=15_000, polling=50)  # bib 1
        assert await page.locator(BADGE).is_visible()
        assert '<img src=x onerror="window.__pwned=1">' in await page.inner_text("body")
        assert await page.evaluate("window.__pwned") is None
        assert await page.locator("img[src='x']").count() == 0
        assert 3 in (await state(page))["shown"]
        assert not page.errors, page.errors  # type: ignore[attr-defined]
    await client.close()


async def test_a_page_opened_mid_replay_shows_the_badge_at_once_and_no_clock_warning(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    stream = await stored_race(api, tmp_path, span=600)  # a finisher every 15 s at 1x
    target = await new_session(api)
    path = f"/api/sessions/{target['id']}/replay"
    before = await api.ok("GET", f"/api/timing/sessions/{stream}")
    started = await api.ok("POST", path, {"timing_session_id": stream, "speed": 1}, 202)
    while (await api.ok("GET", path))["played"] < 1:  # bib 1 is out; bib 2 comes in 15 s
        await asyncio.sleep(0.05)
    await api.ok("PATCH", path, {"paused": True})  # nothing more reaches a screen now
    async with chromium() as browser:
        page = await open_display(browser, target["display_url"])
        await page.wait_for_function("document.body.dataset.replay === 'paused'", timeout=5_000, polling=50)
        assert await page.locator(BADGE).is_visible()
        assert (await page.locator(BADGE).inner_text()).strip() == "REPLAY · PAUSED"
        got = await state(page)
        assert got["replay"] == {"id": started["replay_id"], "speed": 1, "paused": True}
        # "paused" is only known from the hello: nothing was sent since the pause
        assert got["shown"] == [1]
        await api.ok("PATCH", path, {"paused": False, "speed": 100})
        await page.wait_for_function("document.body.dataset.replay === '1'", timeout=5_000, polling=50)
        assert (await page.locator(BADGE).inner_text()).strip() == "REPLAY"
        await page.wait_for_function(SHOWN.format(2), timeout=15_000, polling=50)  # bib 2, replayed
        await api.ok("DELETE", path)
        await page.wait_for_function("window.raceControl.state().replay === null", timeout=5_000, polling=50)
        assert await page.locator(BADGE).is_visible()  # the replayed card on screen keeps it
        # no clock warning anywhere: the page stays live, the stream raised no clock alert
        assert await page.evaluate("document.body.dataset.connection") == "live"
        assert not await page.locator("#rc-banner.rc-banner-on").count()
        alerts = await api.ok("GET", "/api/alerts")
        assert not [a for a in alerts if a["kind"] == "clock_off"], alerts
        assert await api.ok("GET", f"/api/timing/sessions/{stream}") == before  # its clock warnings too
        assert not page.errors, page.errors  # type: ignore[attr-defined]
