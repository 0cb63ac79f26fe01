"""Debian Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from itertools import count
from typing import Any

import pytest
from playwright.async_api import Browser, Error, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not shutil.which("chromium") and not __import__("os").path.exists(CHROMIUM):
        pytest.fail("Debian chromium is not installed: run scripts/test.sh (it installs it)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # the page's CSP forbids eval, which page.wait_for_function("...") needs: every context
        # bypasses it unless a test asks for bypass_csp=False (tests/display/test_csp_browser.py)
        new_context, new_page = browser.new_context, browser.new_page
        browser.new_context = lambda **kw: new_context(**{"bypass_csp": True, **kw})  # type: ignore[method-assign]
        browser.new_page = lambda **kw: new_page(**{"bypass_csp": True, **kw})  # type: ignore[method-assign]
        try:
            yield browser
        finally:
            await browser.close()


async def platform_fonts(
    page: Any, nodes: Callable[[Any], Awaitable[list[int]]]
) -> list[list[dict[str, Any]]]:
    """Per node that ``nodes(cdp)`` finds (DevTools node ids), the fonts Chromium drew its glyphs
    with (``CSS.getPlatformFontsForNode``).  A page that renders again between the query and
    the question (a screen's state pushed over its WebSocket, the builder redrawing its canvas)
    replaces the nodes, and DevTools answers "Could not find node with given id": the nodes
    are then found again, up to 40 times, 50 ms apart."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    try:
        for attempt in count(1):
            try:
                return [
                    (await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node}))["fonts"]
                    for node in await nodes(cdp)
                ]
            except Error as e:
                if "Could not find node" not in str(e) or attempt == 40:
                    raise
                await asyncio.sleep(0.05)
    finally:
        await cdp.detach()
