"""The display page served by a relay in headless Chromium: live with the central finishers,
stale (banner) once the relay stops, live again and caught up when a relay is back on the
same address, fed from the central table."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from race_control.relay.server import Relay, RelayOptions
from tests.display.browser import chromium
from tests.display.test_page_modes import LIVE, open_display, state
from tests.display.test_page_resilience import wait_seqs
from tests.relay.central_rows import central_db, finisher_rows, push, session_rows

pytestmark = pytest.mark.browser


async def test_relay_page_goes_live_then_stale_when_the_relay_stops(tmp_path: Path) -> None:
    with central_db() as central:
        url = central.a["url"]
        rows = session_rows()
        sid, token = rows["display_sessions"][0]["id"], rows["display_sessions"][0]["token"]
        for table in ("events", "display_sessions"):
            await asyncio.to_thread(push, url, table, rows[table])
        await asyncio.to_thread(push, url, "display_events", finisher_rows(sid, 1, 3))
        relay = await Relay(RelayOptions(url, poll_interval=0.3)).start()
        port = relay.port
        try:
            async with chromium() as browser:
                page = await open_display(browser, f"{relay.url}/display/{token}")
                await wait_seqs(page, 3)
                await asyncio.to_thread(push, url, "display_events", finisher_rows(sid, 4, 5))
                await wait_seqs(page, 5)
                # nothing new for longer than the page's 6 s stale timeout: the relay's pings
                # keep it live on the same socket (without them it would abandon it and reconnect)
                sockets: list[str] = []
                page.on("websocket", lambda ws: sockets.append(ws.url))
                await asyncio.sleep(7)
                assert (await state(page))["connection"] == "live" and sockets == []
                await relay.stop()
                await page.wait_for_function(
                    "document.body.dataset.connection === 'stale'", timeout=20_000, polling=100
                )
                assert await page.locator("#rc-banner").is_visible()
                assert "reconnecting" in (await page.locator("#rc-banner").inner_text()).lower()
                await asyncio.to_thread(push, url, "display_events", finisher_rows(sid, 6, 7))
                relay = await Relay(RelayOptions(url, port=port, poll_interval=0.3)).start()
                await page.wait_for_function(LIVE, timeout=15_000, polling=100)
                await wait_seqs(page, 7)
                got = await state(page)
                assert got["shown"] == list(range(1, 8)), got["shown"]
                assert not await page.locator("#rc-banner").is_visible()
                assert not page.errors  # type: ignore[attr-defined]
        finally:
            await relay.stop()
