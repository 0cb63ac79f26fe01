"""The Template page's "Open in builder…": the desktop asks its own server for a one-time
builder link (never putting the API token in a URL) and hands it to the system browser; the
link opens the builder on the selected template, once (in the desktop's own builder window when
QtWebEngine is installed, tests/ui/test_builder_view_qtbot.py; here, without it).  The system browser is Qt's URL handler
for http, which the test takes over with QDesktopServices.setUrlHandler (Qt's own hook)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import aiohttp
import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from race_control.ui.builder_link import BuilderUnavailable, builder_url
from tests.ui.conftest import Desktop, until
from tests.ui.test_template_versions_qtbot import open_template_page


class Browser(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


@pytest.fixture
def browser() -> Iterator[Browser]:
    b = Browser()
    QDesktopServices.setUrlHandler("http", b, "open")
    yield b
    QDesktopServices.unsetUrlHandler("http")


async def test_open_in_builder_hands_a_one_time_link_to_the_browser(
    desktop: Desktop, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # without QtWebEngine (the optional wheel): the desktop's own builder window is
    # tests/ui/test_builder_view_qtbot.py
    monkeypatch.setitem(sys.modules, "PySide6.QtWebEngineWidgets", None)
    monkeypatch.delitem(sys.modules, "race_control.ui.builder_view", raising=False)
    page = await open_template_page(desktop)
    tid = page._selected_id()
    assert tid
    page.builder_button.click()
    await until(lambda: browser.opened, what="the browser asked to open the builder")
    [url] = browser.opened
    assert desktop.services.api_token not in url and "code=" in url and f"template={tid}" in url
    assert "in your browser" in page.message.text()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # an IP host
        async with http.get(url) as r:  # the code becomes a cookie, then the builder page
            assert r.status == 200 and "Template builder" in await r.text()
        async with aiohttp.ClientSession() as other, other.get(url) as again:
            assert again.status == 401  # spent: the link works once


async def test_a_refused_or_unreachable_server_is_named(desktop: Desktop) -> None:
    base = desktop.services.public_base_url
    with pytest.raises(BuilderUnavailable, match=r"refused \(401\)"):
        await builder_url(base, "not-the-token", None)
    with pytest.raises(BuilderUnavailable, match=r"refused \(404\)"):
        await builder_url(base, desktop.services.api_token, "no-such-template")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BuilderUnavailable, match="could not reach"):
        await builder_url(f"http://127.0.0.1:{port}", desktop.services.api_token, None)
