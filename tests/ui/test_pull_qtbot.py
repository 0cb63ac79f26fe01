"""The desktop shows what another laptop shared as soon as central sync pulled it: the event
list on screen gains the other laptop's event (no page change needed).  Real app and window
(offscreen), a second real laptop, a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from race_control.sync.connection import connect
from race_control.sync.pull import Puller
from tests.helpers.waiting import until as until_async
from tests.sync.laptops import laptop, partners
from tests.ui.conftest import Desktop, until


def listed(desktop: Desktop) -> list[str]:
    ev = desktop.window.event_page.list
    return [ev.item(i).text() for i in range(ev.count())]


async def test_the_event_list_on_screen_gains_a_pulled_event(desktop: Desktop, tmp_path: Path) -> None:
    w = desktop.window
    w.stack.setCurrentWidget(w.event_page)
    w.event_page.entered()
    assert listed(desktop) == []
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a:
            await a.api.ok("POST", "/api/events", {"name": "Harbor 10K", "date": "2026-06-07"}, 201)
            await a.push()
            puller = Puller(desktop.services.store, desktop.services.ops.remote)

            async def pulled() -> bool:
                pg = await asyncio.to_thread(connect, url)
                try:
                    await puller.round(pg)
                finally:
                    pg.close()
                return bool(desktop.services.events.events())

            await until_async(pulled, "the event pulled")
            await until(
                lambda: any("Harbor 10K" in text for text in listed(desktop)), what="the list redrawn"
            )
