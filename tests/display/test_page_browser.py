"""The display page in real Chromium: finishers appear as inert text; a lost server goes stale."""

from __future__ import annotations

import pytest

from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.browser import chromium
from tests.display.test_resume import setup_session

pytestmark = pytest.mark.browser

HOSTILE = [
    {
        "bib": "666",
        "first_name": "<script>window.__pwned=1</script>",
        "last_name": '<img src=x onerror="window.__pwned=2">',
    },
    {"bib": "667", "first_name": "\u202eevil", "last_name": "Override", "city": "<b>Bold</b>"},
]


async def test_finisher_appears_and_hostile_names_are_inert(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    await api.ok("POST", f"/api/events/{session['event_id']}/participants", HOSTILE)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(session["display_url"])
        await page.wait_for_function("document.body.dataset.connection === 'live'", timeout=10_000)
        await client.send(b"CT01_33~1~finish~666~09:01:00.00~0~0FA22E~1\r\n")
        await page.wait_for_function("window.raceControl.state().shown.includes(1)", timeout=10_000)
        text = await page.inner_text("body")
        assert "<script>window.__pwned=1</script>" in text
        assert await page.evaluate("window.__pwned") is None
        assert await page.locator("body script:not([src]):not([type='application/json'])").count() == 0
        assert await page.locator("img[src='x']").count() == 0
        await client.send(b"CT01_33~2~finish~667~09:01:01.00~0~0FA22E~1\r\n")
        await page.wait_for_function("window.raceControl.state().shown.includes(2)", timeout=15_000)
        assert "<b>Bold</b>" in await page.inner_text("body")
        assert not errors, errors
    await client.close()


async def test_page_goes_stale_when_the_server_goes_away(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    await client.close()
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(session["display_url"])
        await page.wait_for_function("document.body.dataset.connection === 'live'", timeout=10_000)
        await rc.stop()
        await page.wait_for_function("document.body.dataset.connection === 'stale'", timeout=10_000)
        assert await page.locator("text=/reconnect/i").count() >= 1
