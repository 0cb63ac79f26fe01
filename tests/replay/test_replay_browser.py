"""The REPLAY badge in real Chromium: replayed finishes are marked, live ones are not, names stay text."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.browser import chromium
from tests.display.test_page_modes import open_display, state, wait_shown
from tests.display.test_resume import setup_session
from tests.replay.race import stored_race

pytestmark = pytest.mark.browser
BADGE = ".rc-replay-badge"


async def test_the_page_shows_a_replay_badge_on_replayed_finishes(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    session, client = await setup_session(api, rc.timing_port)  # a live CTP01 stream is bound
    hostile = {"bib": "1", "first_name": '<img src=x onerror="window.__pwned=1">', "last_name": "Z"}
    await api.ok("POST", f"/api/events/{session['event_id']}/participants", [hostile])
    stream = await stored_race(api, tmp_path, span=30)
    async with chromium() as browser:
        page = await open_display(browser, session["display_url"])
        await client.send(b"CT01_33~1~finish~45~09:01:00.00~0~0FA22E~1\r\n")
        await wait_shown(page, 1)
        assert not await page.locator(BADGE).is_visible()  # a live finish: no badge
        await api.ok(
            "POST", f"/api/sessions/{session['id']}/replay", {"timing_session_id": stream, "speed": 0}, 202
        )
        await page.wait_for_function("document.body.dataset.replay === '1'", timeout=15_000, polling=50)
        assert await page.locator(BADGE).is_visible()
        assert (await page.locator(BADGE).inner_text()).strip() == "REPLAY"
        await wait_shown(page, 3)
        assert 2 in (await state(page))["shown"]  # seq 2: the replay's first finisher, bib 1
        assert '<img src=x onerror="window.__pwned=1">' in await page.inner_text("body")  # as text
        assert await page.evaluate("window.__pwned") is None
        assert await page.locator("img[src='x']").count() == 0
        assert not page.errors, page.errors  # type: ignore[attr-defined]
    await client.close()
