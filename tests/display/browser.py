"""Debian Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, async_playwright

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
