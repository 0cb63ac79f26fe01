"""Several display sessions side by side, offscreen against the real app: create one (name + mode),
the template and timing pages follow the selected one, a leaderboard, move a screen to another
session, close a session (its screens are disconnected)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import Desktop, until

pytestmark = pytest.mark.gui


async def next_message(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if data["type"] == kind:
            return data  # type: ignore[no-any-return]


async def resume(ws: aiohttp.ClientWebSocketResponse, screen_id: str) -> None:
    await ws.send_json({"type": "resume", "after_seq": 0, "screen_id": screen_id, "viewport": [1920, 1080]})


async def test_several_display_sessions(desktop: Desktop) -> None:
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    event = await services.events.create_event(
        {"name": "Twin races", "date": "2026-06-01", "timezone": "UTC"}
    )
    w.flow.set_event(event.id)
    a = await w.flow.ensure_session()
    assert w.go(w.pages.index(w.display_page))
    dp = w.display_page
    await until(lambda: dp.url.text() == services.display_url(a), what="URL of the first session")
    assert (
        dp.sessions_panel.sessions.rowCount() == 1
        and dp.sessions_panel.sessions.item(0, 5).text() == "● open"
    )
    assert dp.sessions_panel.sessions.item(0, 3).text() == "none"  # no stream bound yet
    assert (
        not dp.screens_panel.move_button.isEnabled() and dp.screens_panel.move_target.count() == 0
    )  # nowhere to move screens to

    # --- a second session: name + mode in a non-blocking dialog; it becomes the selected one
    dp.sessions_panel.new_session_button.click()
    dialog = dp.sessions_panel.new_dialog
    assert dialog is not None and dialog.isVisible() and dialog.name.text() == "Display 2"
    dialog.name.setText("Wave B")
    dialog.mode.setCurrentIndex(dialog.mode.findData("pre-race"))
    dialog.accept()
    b = await until(lambda: w.flow.session if w.flow.session_id != a.id else None, what="session B")
    assert (b.name, b.mode, b.status, b.event_id) == ("Wave B", "pre-race", "open", event.id)
    await until(lambda: dp.url.text() == services.display_url(b), what="URL of B")
    assert w.flow.mode == "pre-race"
    await until(lambda: dp.sessions_panel.sessions.rowCount() == 2)
    assert [dp.sessions_panel.sessions.item(r, 0).text() for r in range(2)] == ["Results display", "Wave B"]
    assert dp.sessions_panel.sessions.item(1, 1).text() == "pre-race"

    # --- leaderboard of B: top 5, then the spin box follows the selected session
    dp.sessions_panel.leaderboard.setValue(5)
    await until(lambda: b.leaderboard_top == 5, what="leaderboard set")
    assert a.leaderboard_top == 0

    # --- the template and timing pages work on the selected session; choosing there switches it
    assert w.go(w.pages.index(w.template_page))
    tp = w.template_page
    assert tp.session_combo.combo.currentText() == "Wave B (pre-race)"
    assert tp.current["mode"] == "pre-race"
    tp.session_combo.choose(a.id)
    await until(
        lambda: w.flow.session_id == a.id and tp.current.get("mode") == "results", what="template follows"
    )
    assert w.go(w.pages.index(w.timing_page))
    tm = w.timing_page
    assert tm.session_combo.combo.currentText() == "Results display (results)"
    assert w.go(w.pages.index(w.display_page))
    await until(
        lambda: dp.url.text() == services.display_url(a) and dp.sessions_panel.leaderboard.value() == 0
    )
    assert b.mode == "pre-race" and a.mode == "results"  # following never rewrote a session

    # --- a screen on each; move A's screen to B; close B (its screen is disconnected)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(services.display_url(a) + "/ws") as ws_a,
        http.ws_connect(services.display_url(b) + "/ws") as ws_b,
    ):
        await resume(ws_a, "a" * 24)
        await resume(ws_b, "b" * 24)
        await until(lambda: dp.screens_panel.screens.rowCount() == 1, what="A's screen listed")
        await until(
            lambda: [dp.sessions_panel.sessions.item(r, 2).text() for r in range(2)] == ["1", "1"],
            what="screen counts",
        )
        assert (
            dp.screens_panel.move_target.currentText() == "Wave B (pre-race)"
            and not dp.screens_panel.move_button.isEnabled()
        )
        dp.screens_panel.screens.selectRow(0)
        assert dp.screens_panel.move_button.isEnabled()
        dp.screens_panel.move_button.click()
        assert (await next_message(ws_a, "switch"))["url"] == f"/display/{b.token}"
        assert "Moved 1 screen to “Wave B”" in dp.message.text()

        dp.sessions_panel.select_session(b.id)
        await until(lambda: w.flow.session_id == b.id and dp.url.text() == services.display_url(b))
        assert dp.sessions_panel.leaderboard.value() == 5
        dp.sessions_panel.close_session_button.click()
        box = dp.sessions_panel.close_box
        assert box is not None and box.isVisible() and "1 connected screen " in box.text()
        next(x for x in box.buttons() if x.text() == "Close session").click()
        await until(lambda: b.status == "closed", what="closed")
        while (msg := await ws_b.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            pass
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4410
        await until(lambda: w.flow.session_id == a.id, what="back on the open session")
        await until(lambda: dp.sessions_panel.sessions.item(1, 5).text() == "closed")
        assert not dp.sessions_panel.sessions.item(1, 0).flags() & Qt.ItemFlag.ItemIsSelectable
        assert dp.url.text() == services.display_url(a) and dp.screens_panel.move_target.count() == 0
        assert "Closed “Wave B”" in dp.message.text()
    assert not w.error_panel.isVisible()
