"""End to end: a real laptop with a central URL pushes by itself; a relay on the same partner
serves its public session; a remote screen gets what the laptop's own screen gets, live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.conftest import make_settings
from tests.display.test_resume import lines, setup_session
from tests.helpers.live_app import running
from tests.helpers.waiting import until
from tests.relay.central_rows import central_db
from tests.relay.test_relay import relay_on, relay_page, screen, sequenced, until_caught_up

CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


async def test_a_syncing_laptops_public_session_reaches_a_remote_screen(tmp_path: Path) -> None:
    with central_db() as central:
        url = central.a["url"]
        settings = make_settings(
            tmp_path / "rc", central_url=url, central_retry_min=0.05, central_retry_max=0.3
        )
        async with running(settings) as (rc, api), relay_on(url) as relay, aiohttp.ClientSession() as http:
            session, client = await setup_session(api, rc.timing_port)
            target = relay_page(relay, session)

            async def status() -> int:
                async with http.get(target) as page:
                    return page.status

            assert await status() == 404  # not public (yet)
            await api.ok("PATCH", f"/api/sessions/{session['id']}", {"public": True})
            await until(lambda: _is(status, 200), "the session public on the relay", timeout=30)
            laptop_ws, _ = await screen(http, session["display_url"])
            relay_ws, hello = await screen(http, target)
            assert hello["last_seq"] == 0
            await until_caught_up(laptop_ws)
            await until_caught_up(relay_ws)
            assert relay.hub.store_pages == 0  # nothing to replay yet: not even a replay turn
            await client.send(lines(1, 6))
            from_laptop = await sequenced(laptop_ws, 6)
            from_relay = await sequenced(relay_ws, 6, timeout=30)
            assert [m["seq"] for m in from_relay] == list(range(1, 7))
            assert from_relay == from_laptop
            await api.ok("PATCH", f"/api/sessions/{session['id']}", {"public": False})
            async with asyncio.timeout(30):  # no longer public: the relay lets it go
                while (await relay_ws.receive()).type not in CLOSED:
                    pass
            assert relay_ws.close_code == 4410
            assert await status() == 404
            await laptop_ws.close()
            await client.close()


async def _is(status, want: int) -> bool:  # type: ignore[no-untyped-def]
    return bool(await status() == want)
