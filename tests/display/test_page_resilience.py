"""The display page against `race-control serve` as a subprocess: a frozen server (SIGSTOP)
turns the screen stale within 10 s and it recovers without losing anyone; a killed server
restarted on the same data dir and ports is found again by the page on its own."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from tests.conftest import Api
from tests.display.browser import chromium
from tests.display.test_page_modes import LIVE, open_display, state
from tests.display.test_resume import lines, setup_session
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.server_process import start_serve

pytestmark = pytest.mark.browser


async def start_server(
    data_dir: Path, http_port: int = 0, timing_port: int = 0
) -> asyncio.subprocess.Process:
    return await start_serve(
        data_dir, http_port=http_port, timing_port=timing_port, stdout=asyncio.subprocess.DEVNULL, wait=15
    )


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGCONT)
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.communicate(), 15)
    except TimeoutError:
        proc.kill()
        await proc.communicate()


@asynccontextmanager
async def served(data_dir: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, Any], Api]]:
    proc = await start_server(data_dir)
    try:
        info = json.loads((data_dir / "server.json").read_text())
        async with aiohttp.ClientSession() as http:
            token = (data_dir / "api-token").read_text().strip()
            yield proc, info, Api(http, f"http://127.0.0.1:{info['http_port']}", token)
    finally:
        await stop(proc)


def page_url(info: dict[str, Any], session: dict[str, Any]) -> str:
    return f"http://127.0.0.1:{info['http_port']}/display/" + session["display_url"].rsplit("/display/", 1)[1]


async def wait_seqs(page: Page, n: int, timeout: float = 15_000) -> None:
    await page.wait_for_function(
        f"window.raceControl.state().shown.length >= {n} && window.raceControl.state().queued === 0",
        timeout=timeout,
        polling=100,
    )


async def test_frozen_server_goes_stale_then_recovers_without_losing_anyone(tmp_path: Path) -> None:
    async with served(tmp_path / "rc") as (proc, info, api):
        session, client = await setup_session(api, info["timing_port"], "freeze")
        async with chromium() as browser:
            page = await open_display(browser, page_url(info, session))
            await client.send(lines(1, 3))
            await wait_seqs(page, 3)
            proc.send_signal(signal.SIGSTOP)  # frozen: sockets stay open, nothing is sent
            try:
                # the page notices the silence (no heartbeat) and says so; how soon is the page's
                # stale timeout, a figure for a benchmark: here it only has to happen
                await page.wait_for_function(
                    "document.body.dataset.connection === 'stale'", timeout=20_000, polling=100
                )
                assert await page.locator("#rc-banner").is_visible()
                assert "reconnecting" in (await page.locator("#rc-banner").inner_text()).lower()
                await client.send(lines(4, 6))  # runners keep finishing while it is frozen
                await asyncio.sleep(0.5)
                assert (await state(page))["connection"] == "stale"
            finally:
                proc.send_signal(signal.SIGCONT)
            await client.send(lines(7, 9))
            await page.wait_for_function(LIVE, timeout=10_000, polling=100)
            await wait_seqs(page, 9)
            got = await state(page)
            assert got["shown"] == list(range(1, 10)), got["shown"]
            assert not await page.locator("#rc-banner").is_visible()
            assert not page.errors  # type: ignore[attr-defined]
        await client.close()


async def test_killed_server_restarted_on_the_same_port_is_found_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "rc"
    async with served(data_dir) as (proc, info, api):
        session, client = await setup_session(api, info["timing_port"], "restart")
        url = page_url(info, session)
        async with chromium() as browser:
            page = await open_display(browser, url)
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await client.send(lines(1, 4))
            await wait_seqs(page, 4)
            await client.close()
            proc.kill()  # no goodbye: SIGKILL
            await proc.wait()
            again = await start_server(data_dir, info["http_port"], info["timing_port"])
            try:
                assert json.loads((data_dir / "server.json").read_text())["http_port"] == info["http_port"]
                client = await RawCtp01Client.connect(info["timing_port"])
                assert await client.handshake("restart") == ["start~finish~4"]  # inclusive resume
                await client.send(lines(4, 10))
                await page.wait_for_function(LIVE, timeout=10_000, polling=100)
                await wait_seqs(page, 10)
                got = await state(page)
                assert got["shown"] == list(range(1, 11)), got["shown"]
                assert got["duplicates"] == 0 and len(sockets) >= 1
                assert page.url == url  # it reconnected by itself, no reload
                assert not page.errors  # type: ignore[attr-defined]
                await client.close()
            finally:
                await stop(again)
