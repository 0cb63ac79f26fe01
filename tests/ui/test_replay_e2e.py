"""End to end on the app's qasync loop: the Replay… dialog's replay reaches a real screen (a
WebSocket client on the display URL) as replayed finishers, a screen connecting mid-replay is
told in its hello, and the stream, its live session and the clock alerts are left as they were.
Saves docs/screenshots/replay-dialog.png (with RC_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import retype
from tests.ui.test_replay_dialog_qtbot import open_dialog, recorded_race
from tests.ui.test_sync_screenshots import save

pytestmark = pytest.mark.gui


async def test_the_dialogs_replay_reaches_a_screen_marked_as_a_replay(
    qtbot: QtBot, desktop: Desktop, tmp_path: Path
) -> None:
    race = await recorded_race(desktop, tmp_path, span=30)  # 3 s at 10x
    services, screen = desktop.services, race["screen"]
    stream = services.timing.stream(race["stream"])
    before = (stream.reads, stream.clock_warnings, stream.last_read_at, race["live"].finishers)
    clock_alerts = [a.id for a in services.alerts.alerts() if a.kind == "clock_off"]
    ws_url = services.display_url(screen).replace("http", "ws") + "/ws"
    got: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello" and hello["replay"] is None
        await ws.send_json({"type": "resume", "after_seq": 0, "screen_id": "tv-1"})
        dialog = open_dialog(qtbot, desktop)
        assert dialog.session_box.currentData() == screen.id
        retype(qtbot, dialog.speed_box.lineEdit(), "10x")
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        r = await until(lambda: services.ops.replay.latest(screen.id), what="started")

        while len([m for m in got if m["type"] == "finisher"]) < 5:
            got.append(await ws.receive_json(timeout=10))
        # a screen opening now is told at once (its REPLAY badge), before any finisher reaches it
        async with http.ws_connect(ws_url) as late:
            late_hello = await late.receive_json(timeout=5)
        assert late_hello["replay"] == {"replay_id": r.id, "speed": 10.0, "paused": False}
        await until(lambda: "Race clock at 09:00:" in dialog.progress.text(), what="progress shown")
        assert dialog.size().width() <= 1280 and dialog.size().height() <= 720
        assert dialog.minimumSizeHint().width() <= 1280 and dialog.minimumSizeHint().height() <= 720
        save(dialog, tmp_path, "replay-dialog.png")  # running, with its progress

        while not (got and got[-1]["type"] == "replay" and got[-1]["replay"] is None):
            got.append(await ws.receive_json(timeout=10))
    finishers = [m for m in got if m["type"] == "finisher"]
    assert len(finishers) == 41 and all(m["replay"] is True for m in finishers)
    assert [m["bib"] for m in finishers[:3]] == ["1", "2", "3"]
    assert [m["seq"] for m in finishers] == sorted(m["seq"] for m in finishers)
    assert got[0] == {"type": "replay", "replay": {"replay_id": r.id, "speed": 10.0, "paused": False}}
    await until(lambda: dialog.progress.text().startswith("Finished: 51 of 51 reads (100.0 %)"), what="done")
    assert dialog.start_button.isEnabled() and not dialog.pause_button.isEnabled()
    # the stream was only read: its counters, its clock warnings and its live session as they were
    assert (stream.reads, stream.clock_warnings, stream.last_read_at, race["live"].finishers) == before
    assert [a.id for a in services.alerts.alerts() if a.kind == "clock_off"] == clock_alerts
    assert screen.id not in {s.id for s in services.sessions.sessions() if race["stream"] in s.streams}
    await asyncio.sleep(0)
    assert not desktop.window.error_panel.isVisible()
