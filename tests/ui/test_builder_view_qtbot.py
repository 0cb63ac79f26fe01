"""The builder hosted in the desktop (race_control/ui/builder_view.py): the Template page's
"Open in builder…" opens the app's own /builder page in a QtWebEngine window, signed in with
a one-time link whose cookie stays in the window's off-the-record profile; the canvas draws the
template's blocks through the display page; a change saved there reaches a connected screen
(a second web view on the display page) without a reload; the window fits a laptop; without
QtWebEngine the link goes to the system browser.

QtWebEngine's Chromium refuses to run as root with its sandbox: the tests (only) set
QTWEBENGINE_DISABLE_SANDBOX=1.  Its start-up warnings on a machine without a GPU (RHI, Vulkan,
GBM) are Qt's, not ours: they are the only Qt messages these tests let through.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import shiboken6
from PySide6.QtCore import QSize, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QDesktopServices, QImage

from race_control.ui import builder_link
from tests.ui.conftest import FAILING, IGNORED, Desktop, _qapp, until
from tests.ui.test_builder_link_qtbot import Browser
from tests.ui.test_template_versions_qtbot import open_template_page

pytestmark = pytest.mark.gui
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "builder-desktop.png"
LAPTOP = QSize(1280, 720)
# QtWebEngine's start-up on a machine with no GPU and no D-Bus (Qt's messages, not ours)
ENGINE_START = (
    "QRhiGles2: Failed to create temporary context",
    "QRhiGles2: Failed to create context",
    "Failed to create RHI for backend: OpenGL",
    "This plugin does not support createPlatformVulkanInstance",
    "QVulkanInstance: Failed to initialize Vulkan",
    "GBM is not supported with the current configuration and Vulkan is not available. Fallback to software rendering.",
    "GPUInfo not initialized on GpuInfoUpdate",
    "This plugin does not support raise()",  # the offscreen platform cannot (qoffscreenwindow.cpp)
)


@pytest.fixture(autouse=True)
def qt_warnings_fail() -> Iterator[list[str]]:
    """As tests/ui/conftest.py's: any Qt warning fails the test, but for the engine's start-up."""
    seen: list[str] = []

    def handler(mode: QtMsgType, context: Any, message: str) -> None:
        if mode in FAILING and message not in IGNORED and message not in ENGINE_START:
            seen.append(f"{mode.name}: {message}")

    previous = qInstallMessageHandler(handler)
    yield seen
    gc.collect()
    qInstallMessageHandler(previous)
    if seen:
        pytest.fail("Qt warnings:\n" + "\n".join(seen))


@pytest.fixture(autouse=True)
def web_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """QtWebEngine for these tests: no sandbox (root, tests only), and its one context kept for
    the whole run.  Qt tears the context down on ``aboutToQuit``, which every return of
    ``QApplication.exec()`` emits; the app runs one ``exec`` for its life, but pytest-asyncio
    runs the qasync loop (one ``exec``) per fixture and test, and a web view used after the
    first teardown crashes.  So the tests disconnect that signal once the context exists."""
    monkeypatch.setenv("QTWEBENGINE_DISABLE_SANDBOX", "1")
    global _engine_kept
    if not _engine_kept:
        from PySide6.QtWebEngineCore import QWebEngineProfile

        app = _qapp()
        probe = QWebEngineProfile()  # creates the engine's context (and its aboutToQuit hook)
        app.aboutToQuit.disconnect()
        shiboken6.delete(probe)
        _engine_kept = True


_engine_kept = False


async def js(page: Any, script: str, timeout: float = 10.0) -> Any:
    """Run ``script`` in ``page`` (its value as JSON, so any value comes back whole)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()
    page.runJavaScript(
        f"JSON.stringify((() => {{ try {{ return {{ok: ({script})}}; }} catch (e) {{ return {{error: String(e)}}; }} }})())",
        0,
        lambda r: fut.done() or fut.set_result(r),
    )
    raw = await asyncio.wait_for(fut, timeout)
    got = json.loads(raw) if isinstance(raw, str) else {"error": f"no value ({raw!r})"}
    assert "error" not in got, (script, got)
    return got.get("ok")


async def js_until(page: Any, script: str, timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await js(page, script)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or script}")
        await asyncio.sleep(0.1)


class Api:
    def __init__(self, desktop: Desktop) -> None:
        self.base = desktop.services.public_base_url
        self.headers = {"Authorization": f"Bearer {desktop.services.api_token}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.base + path, json=body, headers=self.headers) as r,
        ):
            data = await r.json(content_type=None)
            assert r.status < 300, (method, path, r.status, data)
            return data


async def open_hosted(desktop: Desktop, template: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """The Template page with ``template`` (a new custom one) selected, and its builder window
    open and ready (its canvas drew the template)."""
    page = await open_template_page(desktop)
    if template is not None:
        saved = (await desktop.services.ops.templates.save(template)).template
        page.refresh(select=saved["id"])
        await until(lambda: page._selected_id() == saved["id"], what="the new template selected")
    page.builder_button.click()
    window = await until(lambda: page.builder_window, what="the builder window")
    await until(window.isVisible, what="the builder window shown")
    name = json.dumps(desktop.services.templates.get(page._selected_id())["name"])
    ready = (
        "!!(window.rcBuilder && window.rcBuilder.state().frameReady"
        " && document.getElementById('canvas-frame').contentWindow.RC.view"
        f" && window.rcBuilder.doc().name === {name}"
        " && document.getElementById('canvas-frame').contentDocument.querySelectorAll('#rc-stage .rc-block').length"
        "    === window.rcBuilder.doc().blocks.length)"
    )
    await js_until(window.page, ready, what="the hosted builder and its canvas drew the template")
    return page, window


def close(window: Any) -> None:
    window.close()
    window.deleteLater()


async def test_the_hosted_builder_signs_in_once_and_draws_the_templates_blocks(desktop: Desktop) -> None:
    blocks = [
        {"type": "name", "x": 56, "y": 300, "w": 1300, "h": 200},
        {"type": "time", "x": 56, "y": 560, "w": 900, "h": 180},
        {"type": "text", "x": 1400, "y": 60, "w": 460, "h": 120, "text": "Hosted in the desktop"},
        {"type": "clock", "x": 1400, "y": 900, "w": 448, "h": 96},
    ]
    tpl = {"name": "Hosted", "mode": "results", "canvas": {"width": 1920, "height": 1080}, "blocks": blocks}
    page, window = await open_hosted(desktop, tpl)
    said: list[tuple[int, str]] = []
    window.page.console.connect(lambda level, text: said.append((level, text)))
    try:
        assert "in its own window" in page.message.text()
        # the code was spent and left the address; the token never was in it
        url = window.view.url().toString()
        assert "/builder?template=" in url and "code=" not in url, url
        assert desktop.services.api_token not in window.url and "code=" in window.url
        assert window.profile.isOffTheRecord()  # the builder's cookie lives in memory, with the window
        got = await js(
            window.page,
            "({types: window.rcBuilder.doc().blocks.map(b => b.type),"
            " boxes: document.querySelectorAll('#overlay .box').length,"
            " drawn: [...document.getElementById('canvas-frame').contentDocument"
            "   .querySelectorAll('#rc-stage .rc-block')].map(e => e.className),"
            " text: document.getElementById('canvas-frame').contentDocument.querySelector('.rc-text').textContent})",
        )
        assert got["types"] == ["name", "time", "text", "clock"] and got["boxes"] == 4, got
        for kind in ("rc-name", "rc-time", "rc-text", "rc-clock"):
            assert any(kind in c.split() for c in got["drawn"]), (kind, got["drawn"])
        assert got["text"] == "Hosted in the desktop"
        # the same link cannot sign in anyone else
        async with aiohttp.ClientSession() as other, other.get(window.url) as again:
            assert again.status == 401
        # "Open in browser…" hands the system browser a link of its own
        browser = Browser()
        QDesktopServices.setUrlHandler("http", browser, "open")
        try:
            window.browser_button.click()
            await until(lambda: browser.opened, what="the browser asked to open the builder")
        finally:
            QDesktopServices.unsetUrlHandler("http")
        [other_url] = browser.opened
        assert (
            "code=" in other_url and other_url != window.url and desktop.services.api_token not in other_url
        )
        # the window shows this server only: a page elsewhere goes to the system browser
        here = window.view.url().toString()
        QDesktopServices.setUrlHandler("http", browser, "open")
        try:
            await js(window.page, "(location.href = 'http://example.invalid/elsewhere') && true")
            await js(window.page, "(console.log('still here'), true)")
            await until(lambda: any(text == "still here" for _, text in said), what="the page's console")
            await until(lambda: len(browser.opened) == 2, what="the browser asked for the other site")
        finally:
            QDesktopServices.unsetUrlHandler("http")
        assert browser.opened[1] == "http://example.invalid/elsewhere"
        assert window.view.url().toString() == here
        assert await js(window.page, "location.pathname") == "/builder"
        assert not [t for level, t in said if level >= logging.WARNING], said  # no page errors
    finally:
        close(window)


async def test_a_change_saved_in_the_hosted_builder_shows_on_a_connected_screen(desktop: Desktop) -> None:
    from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
    from PySide6.QtWebEngineWidgets import QWebEngineView

    api = Api(desktop)
    blocks = [{"type": "name", "x": 56, "y": 300, "w": 1300, "h": 200}]
    tpl = {
        "name": "Live edit",
        "mode": "results",
        "canvas": {"width": 1920, "height": 1080},
        "blocks": blocks,
    }
    page, window = await open_hosted(desktop, tpl)
    tid = page._selected_id()
    session = desktop.window.flow.session_id
    await api.call("PATCH", f"/api/sessions/{session}", {"template_id": tid})
    display_url = (await api.call("GET", f"/api/sessions/{session}"))["display_url"]
    screen = QWebEngineView()  # a screen: another web engine, its own profile, on the display page
    screen_profile = QWebEngineProfile()
    screen.setPage(QWebEnginePage(screen_profile, screen))
    screen.resize(1280, 720)
    screen.show()
    try:
        screen.load(display_url)
        await js_until(screen.page(), "document.body.dataset.connection === 'live'", what="the screen live")
        await js(screen.page(), "(window.__notReloaded = true)")
        b = window.page
        await js(b, "document.querySelector(\"#palette button[data-type='text']\").click() || true")
        await js(
            b,
            "(() => { const i = document.querySelector(\"#panel input[name='text']\");"
            " i.value = 'Saved in the desktop'; i.dispatchEvent(new Event('change')); return true; })()",
        )
        assert (await js(b, "window.rcBuilder.doc().blocks.map(b => b.text || null)")) == [
            None,
            "Saved in the desktop",
        ]
        await js(b, "document.getElementById('save').click() || true")
        await js_until(b, "!window.rcBuilder.state().dirty", what="the save answered")
        assert "Saved version 2" in await js(b, "document.getElementById('status').textContent")
        await js_until(
            screen.page(),
            "!!document.querySelector('.rc-static') &&"
            " document.querySelector('.rc-static').textContent.includes('Saved in the desktop')",
            what="the screen restyled",
        )
        assert await js(screen.page(), "window.__notReloaded") is True
        saved = await api.call("GET", f"/api/templates/{tid}")
        assert saved["version"] == 2 and saved["blocks"][1]["text"] == "Saved in the desktop"
    finally:
        screen.close()
        shiboken6.delete(screen)  # its page first, then the profile
        shiboken6.delete(screen_profile)
        close(window)


async def test_the_hosted_builder_fits_a_laptop(desktop: Desktop, tmp_path: Path) -> None:
    _, window = await open_hosted(desktop)
    try:
        hint = window.minimumSizeHint().expandedTo(window.minimumSize())
        assert hint.width() <= LAPTOP.width() and hint.height() <= LAPTOP.height(), hint
        assert window.width() <= LAPTOP.width() + 16 or window.screen().availableGeometry().width() > 1296
        window.resize(LAPTOP)
        await js_until(window.page, "window.innerWidth > 1200", what="the page took the new size")
        room = await js(
            window.page,
            "(() => { const s = document.getElementById('save').getBoundingClientRect();"
            " const f = document.getElementById('canvas-frame').getBoundingClientRect();"
            " return {scrollW: document.documentElement.scrollWidth, w: innerWidth, h: innerHeight,"
            " save: [s.right, s.bottom], frame: [f.width, f.height]}; })()",
        )
        assert room["scrollW"] <= room["w"], room  # no sideways scrolling
        assert room["save"][0] <= room["w"] and room["save"][1] <= room["h"], room  # Save on screen
        assert room["frame"][0] > 300 and room["frame"][1] > 150, room  # a canvas to work on
        await asyncio.sleep(0.5)  # the engine paints the resized page
        shot = tmp_path / "builder-desktop.png"
        image = window.grab().toImage()
        assert image.size() == LAPTOP
        assert image.save(str(shot))
        assert len({image.pixel(x, y) for x in range(0, 1280, 37) for y in range(0, 720, 23)}) > 20  # drawn
        if os.environ.get("RC_UPDATE_SCREENSHOTS"):
            shutil.copy(shot, SCREENSHOT)
        assert QImage(str(shot)).size() == LAPTOP
    finally:
        close(window)


async def test_without_qtwebengine_the_builder_opens_in_the_system_browser(
    desktop: Desktop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as on a machine without the PySide6_WebEngine wheel: its import fails
    monkeypatch.setitem(sys.modules, "PySide6.QtWebEngineWidgets", None)
    monkeypatch.delitem(sys.modules, "race_control.ui.builder_view", raising=False)
    assert builder_link.hosted_builder() is None
    browser = Browser()
    QDesktopServices.setUrlHandler("http", browser, "open")
    try:
        page = await open_template_page(desktop)
        page.builder_button.click()
        await until(lambda: browser.opened, what="the browser asked to open the builder")
        assert page.builder_window is None
        assert "code=" in browser.opened[0] and "in your browser" in page.message.text()
    finally:
        QDesktopServices.unsetUrlHandler("http")
