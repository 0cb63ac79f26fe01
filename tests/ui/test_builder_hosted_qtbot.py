"""The builder hosted in the desktop, driven as a user drives it: real mouse clicks on the
web view (palette entries, the style panel), real key presses into the page (arrow nudges,
Ctrl+Z / Ctrl+Shift+Z, Ctrl+S), each sent by Qt to the view's focus proxy, so they pass through
QtWebEngine's input handling and the builder's own handlers (race_control/resources/builder).

The page's state is read with ``window.rcBuilder`` (the builder's test hook): after each undo
and redo the template JSON must be exactly the one before or after the command.  The window,
the engine set-up and the helpers are tests/ui/test_builder_view_qtbot.py's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from tests.ui.conftest import Desktop, until
from tests.ui.test_builder_view_qtbot import (  # noqa: F401  (autouse fixtures)
    Api,
    close,
    js,
    js_until,
    open_hosted,
    qt_warnings_fail,
    web_engine,
)

pytestmark = pytest.mark.gui
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
DOC = "window.rcBuilder.doc()"


async def proxy_of(window: Any) -> Any:
    """The widget QtWebEngine takes the view's input on (it exists once the page drew)."""
    return await until(lambda: window.view.focusProxy(), what="the web view's input widget")


async def click(qtbot: QtBot, window: Any, selector: str) -> None:
    """A real left click at the middle of the element ``selector`` (in view coordinates)."""
    box = await js(
        window.page,
        f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
        " if (!e) return null; e.scrollIntoView({block: 'nearest'});"
        " const r = e.getBoundingClientRect();"
        " return {x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height,"
        " zoom: window.devicePixelRatio}; })()",
    )
    assert box and box["w"] > 0 and box["h"] > 0, (selector, box)
    proxy = await proxy_of(window)
    zoom = window.view.zoomFactor()
    at = QPoint(round(box["x"] * zoom), round(box["y"] * zoom))
    assert proxy.rect().contains(at), (selector, at, proxy.rect())
    qtbot.mouseMove(proxy, at)
    qtbot.mouseClick(proxy, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)


async def press(
    qtbot: QtBot, window: Any, key: Qt.Key, modifier: Any = Qt.KeyboardModifier.NoModifier
) -> None:
    qtbot.keyClick(await proxy_of(window), key, modifier)


async def changed(window: Any, before: Any, what: str) -> Any:
    """The document once it differs from ``before`` (input reaches the page asynchronously)."""
    # both sides stringified by the page, so key order and number and text forms agree
    await js_until(
        window.page,
        f"JSON.stringify({DOC}) !== JSON.stringify({json.dumps(before)})",
        what=what,
        timeout=30.0,
    )
    return await js(window.page, DOC)


async def test_a_user_adds_styles_nudges_undoes_redoes_and_saves_in_the_hosted_builder(
    desktop: Desktop, qtbot: QtBot
) -> None:
    tpl = {"name": "Driven", "mode": "results", "canvas": {"width": 1920, "height": 1080}, "blocks": []}
    page, window = await open_hosted(desktop, tpl)
    tid = page._selected_id()
    try:
        b = window.page
        empty = await js(b, DOC)
        assert empty["blocks"] == []

        # the palette: a name block, then a team block (each selected as it is added)
        await click(qtbot, window, "#palette button[data-type='name']")
        one = await changed(window, empty, "the name block added by a click")
        assert [x["type"] for x in one["blocks"]] == ["name"], (empty, one)
        await click(qtbot, window, "#palette button[data-type='team']")
        two = await changed(window, one, "the team block added by a click")
        assert [x["type"] for x in two["blocks"]] == ["name", "team"]
        assert (await js(b, "window.rcBuilder.state().selected")) == 1

        # the style panel: the team block's font size, typed into its field
        await click(qtbot, window, "#panel input[name='style.size']")
        await js_until(b, "document.activeElement.name === 'style.size'", what="the font size field focused")
        await press(qtbot, window, Qt.Key.Key_A, CTRL)  # in a field: the field's own select-all
        qtbot.keyClicks(await proxy_of(window), "96")
        await press(qtbot, window, Qt.Key.Key_Tab)  # leaving the field commits it
        styled = await changed(window, two, "the font size set")
        assert styled["blocks"][1].get("style", {}).get("size") == 96, styled["blocks"][1]
        assert styled["blocks"][0] == two["blocks"][0]

        # out of the field (a click on the palette's heading), then arrow nudges of the team block
        await click(qtbot, window, "#palette h2")
        await js_until(b, "document.activeElement === document.body", what="the field left")
        await press(qtbot, window, Qt.Key.Key_Right)
        right = await changed(window, styled, "the block nudged right")
        await press(qtbot, window, Qt.Key.Key_Down, SHIFT)
        down = await changed(window, right, "the block nudged down by 10")
        team0, team1, team2 = styled["blocks"][1], right["blocks"][1], down["blocks"][1]
        assert (team1["x"], team1["y"]) == (team0["x"] + 1, team0["y"]), (team0, team1)
        assert (team2["x"], team2["y"]) == (team1["x"], team1["y"] + 10), (team1, team2)
        assert down["blocks"][0] == two["blocks"][0]  # the name block stayed where it was

        # Ctrl+Z walks back through every command, exactly; Ctrl+Shift+Z walks forward again
        steps = [empty, one, two, styled, right, down]
        for want in reversed(steps[:-1]):
            before = await js(b, DOC)
            await press(qtbot, window, Qt.Key.Key_Z, CTRL)
            assert await changed(window, before, f"undo to {len(want['blocks'])} blocks") == want
        assert (await js(b, "window.rcBuilder.state()"))["undo"] == 0
        for want in steps[1:]:
            before = await js(b, DOC)
            await press(qtbot, window, Qt.Key.Key_Z, CTRL | SHIFT)
            assert await changed(window, before, "redo") == want
        assert (await js(b, "window.rcBuilder.state()"))["redo"] == 0

        # Ctrl+S saves: the stored template is the one on screen
        assert (await js(b, "window.rcBuilder.state().dirty")) is True
        await click(qtbot, window, "#palette h2")
        await press(qtbot, window, Qt.Key.Key_S, CTRL)
        await js_until(b, "!window.rcBuilder.state().dirty", what="the save answered")
        assert "Saved version 2" in await js(b, "document.getElementById('status').textContent")
        saved = await Api(desktop).call("GET", f"/api/templates/{tid}")
        assert saved["version"] == 2
        assert [x["type"] for x in saved["blocks"]] == ["name", "team"]
        got = saved["blocks"][1]
        assert (got["x"], got["y"], got["style"]["size"]) == (team2["x"], team2["y"], 96), got
        stored = desktop.services.templates.get(tid)
        assert [x["type"] for x in stored["blocks"]] == ["name", "team"]
    finally:
        close(window)
