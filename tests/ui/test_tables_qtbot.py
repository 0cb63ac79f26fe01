"""The app's tables, filled from the real app (RaceControl on a tmp data dir, offscreen) with real
data: timing streams from controller files, display sessions, a screen connected over a real
WebSocket.  Rows are chosen with qtbot's mouse; the buttons follow the selection.

The tables redraw from the running app, so these tests run on qasync's loop: qtbot clicks and
types, ``until`` waits (see tests/ui/qtbot_helpers.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from race_control.timing.simulator.playback import simulate
from race_control.ui.screens_table import SCREEN_COLUMNS
from race_control.ui.sessions_table import SESSION_COLUMNS
from race_control.ui.streams_table import STREAM_COLUMNS
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, click_row, controller_file, retype, settle

pytestmark = pytest.mark.gui

BOUND = STREAM_COLUMNS.index("Bound")


def column(t: Any, col: int) -> list[str]:
    return [t.item(r, col).text() for r in range(t.rowCount())]


async def event_in_local_mode(desktop: Desktop, name: str = "City 10K") -> Any:
    w = desktop.window
    w.flow.set_user("")
    event = await desktop.services.events.create_event(
        {"name": name, "date": "2021-05-08", "timezone": "UTC"}
    )
    w.flow.set_event(event.id)
    await activate(w)
    return event


async def import_file(qtbot: QtBot, tm: Any, path: Path, rows: int) -> None:
    retype(qtbot, tm.import_path, str(path))
    qtbot.mouseClick(tm.import_button, Qt.MouseButton.LeftButton)
    await until(lambda: tm.streams.rowCount() == rows, what=f"{rows} streams listed")


# --- timing streams -------------------------------------------------------------------------------
async def test_streams_table_lists_a_client_and_an_import_and_keeps_the_clicked_one(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    w = desktop.window
    await event_in_local_mode(desktop)
    tm = w.timing_page
    assert w.go(w.pages.index(tm))
    reads = tmp_path / "race.ctp"  # a ChronoTrack SimpleClient over real CTP01 sends these
    reads.write_text(
        "".join(f"CT01_33~{n}~FINISH~{100 + n}~10:00:0{n}.00~1~0F2A38~1\n" for n in (1, 2)), "utf-8"
    )
    await simulate(
        "127.0.0.1", desktop.rc.timing_port, [reads], speed=50, event_name="CITY10K", connection_id="qtbot"
    )
    await until(lambda: tm.streams.rowCount() == 1 and tm.streams.item(0, 5).text() == "2", what="the client")
    client = tm.streams.selected_stream()
    assert client is not None  # a lone stream is selected for you
    await until(lambda: tm.streams.item(0, 4).text() == "Recorded", what="the client went away")
    assert (
        tm.streams.item(0, 1).text().startswith("SimpleClient") and tm.streams.item(0, 2).text() == "CITY10K"
    )

    await import_file(qtbot, tm, controller_file(tmp_path, ["101", "102", "103"], "HALF"), 2)
    # the import selects its stream once it has fed every read (its row is listed before that:
    # the file's reads go to the pipeline in slices)
    await until(
        lambda: tm.streams.selected_stream() not in (None, client), what="the import's stream selected"
    )
    imported = tm.streams.selected_stream()
    await until(lambda: tm.streams.item(1, 4).text() == "Imported", what="the import done")
    row = [tm.streams.item(1, c).text() for c in range(len(STREAM_COLUMNS))]
    assert row[:2] == ["controller-file", "controller files 5071949"]
    assert (row[2], row[3], row[4], row[5], row[7], row[8]) == (
        "5071949.csv",
        "HALF",
        "Imported",
        "3",
        "",
        "ok",
    )

    click_row(qtbot, tm.streams, 0)
    assert tm.streams.selected_stream() == client
    assert "CITY10K" in tm.preview_title.text()
    tm.refresh_streams()  # the page redraws every second: the clicked row stays selected
    assert tm.streams.selected_stream() == client
    qtbot.keyClick(tm.streams, Qt.Key.Key_Down)  # the keyboard moves the selection
    assert tm.streams.selected_stream() == imported
    assert "5071949.csv" in tm.preview_title.text()


async def test_streams_table_names_the_other_open_session_a_stream_feeds(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    w = desktop.window
    await event_in_local_mode(desktop)
    finish = await w.flow.create_session("Finish screens", "results")
    tm = w.timing_page
    assert w.go(w.pages.index(tm))
    await import_file(qtbot, tm, controller_file(tmp_path, ["101", "102"]), 1)
    click_row(qtbot, tm.streams, 0)
    qtbot.mouseClick(tm.bind_button, Qt.MouseButton.LeftButton)
    await until(lambda: tm.streams.item(0, BOUND).text() == "✓ bound", what="bound to Finish screens")

    wave = await w.flow.create_session("Wave B", "pre-race")  # selected: the page now shows Wave B
    await until(lambda: tm.streams.item(0, BOUND).text() == "→ Finish screens", what="named as elsewhere")
    assert tm.bind_button.isEnabled() and not tm.unbind_button.isEnabled()
    await w.flow.close_session(finish.id)  # a closed session feeds nothing
    assert w.flow.session_id == wave.id
    tm.refresh_streams()
    assert tm.streams.item(0, BOUND).text() == ""


# --- display sessions -----------------------------------------------------------------------------
async def test_sessions_table_rows_and_choosing_one_by_mouse(desktop: Desktop, qtbot: QtBot) -> None:
    w = desktop.window
    await event_in_local_mode(desktop)
    old = await w.flow.create_session("Old screens", "results")
    await w.flow.close_session(old.id)
    finish = await w.flow.create_session("Finish", "results")
    wave = await w.flow.create_session("Wave B", "pre-race")
    dp = w.display_page
    assert w.go(w.pages.index(dp))
    t = dp.sessions_panel.sessions
    await until(lambda: t.rowCount() == 3 and dp.url.text(), what="the sessions listed")
    assert column(t, 0) == ["Old screens", "Finish", "Wave B"]
    assert column(t, SESSION_COLUMNS.index("Mode")) == ["results", "results", "pre-race"]
    assert column(t, SESSION_COLUMNS.index("Status")) == ["closed", "● open", "● open"]
    assert column(t, SESSION_COLUMNS.index("Bound streams")) == ["none"] * 3
    assert t.item(2, 0).font().bold() and not t.item(1, 0).font().bold()  # the selected session
    assert dp.sessions_panel.sessions_title.text() == "Display sessions — City 10K"

    click_row(qtbot, t, 1)
    await until(lambda: w.flow.session_id == finish.id, what="Finish chosen")
    await until(lambda: dp.url.text() == desktop.services.display_url(finish), what="its address shown")
    assert t.item(1, 0).font().bold() and not t.item(2, 0).font().bold()
    assert dp.sessions_panel.close_session_button.isEnabled()

    click_row(qtbot, t, 0)  # a closed session is listed, not chosen
    assert 0 not in [i.row() for i in t.selectionModel().selectedRows()]
    await settle()
    assert w.flow.session_id == finish.id and dp.url.text() == desktop.services.display_url(finish)
    assert not t.item(0, 0).flags() & Qt.ItemFlag.ItemIsSelectable
    assert wave.status == "open"


async def test_ctrl_shift_n_creates_a_named_session_from_the_dialog(desktop: Desktop, qtbot: QtBot) -> None:
    w = desktop.window
    await event_in_local_mode(desktop)
    await w.flow.ensure_session()
    dp = w.display_page
    assert w.go(w.pages.index(dp))
    await until(lambda: dp.sessions_panel.sessions.rowCount() == 1, what="the first session")
    qtbot.keySequence(w, QKeySequence("Ctrl+Shift+N"))
    dialog = await until(lambda: dp.sessions_panel.new_dialog, what="the dialog")
    await until(dialog.isVisible)
    await activate(dialog)
    assert dialog.name.text() == "Display 2"
    qtbot.keyClicks(dialog.name, "Wave B")  # the suggested name was selected: typing replaces it
    qtbot.keyClick(dialog.mode, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.name, Qt.Key.Key_Return)  # Enter presses Create
    await until(lambda: dp.sessions_panel.sessions.rowCount() == 2, what="created")
    s = w.flow.session
    assert (s.name, s.mode, s.status) == ("Wave B", "pre-race", "open")
    assert "Created “Wave B”" in dp.message.text()
    await until(lambda: dp.url.text() == desktop.services.display_url(s), what="its address shown")


async def test_a_typed_leaderboard_size_reaches_the_session(desktop: Desktop, qtbot: QtBot) -> None:
    w = desktop.window
    await event_in_local_mode(desktop)
    await w.flow.ensure_session()
    dp = w.display_page
    assert w.go(w.pages.index(dp))
    session = await until(lambda: w.flow.session, what="the session")
    await until(lambda: dp.url.text() == desktop.services.display_url(session), what="the session shown")
    spin = dp.sessions_panel.leaderboard
    retype(qtbot, spin, "12")
    await until(lambda: session.leaderboard_top == 12, what="top 12 saved")  # once typing settled
    assert dp.message.text() == "Screens now show the top 12."
    retype(qtbot, spin, "0")
    await until(lambda: dp.message.text() == "Leaderboard off.", what="off")
    assert session.leaderboard_top == 0


# --- connected screens ----------------------------------------------------------------------------
async def next_message(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if data["type"] == kind:
            return data  # type: ignore[no-any-return]


async def test_screens_table_lists_a_real_screen_and_its_buttons_follow_the_selection(
    desktop: Desktop, qtbot: QtBot
) -> None:
    w, services = desktop.window, desktop.services
    await event_in_local_mode(desktop)
    await w.flow.ensure_session()
    dp = w.display_page
    assert w.go(w.pages.index(dp))
    session = await until(lambda: w.flow.session, what="the session")
    panel = dp.screens_panel
    ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"
    async with (
        aiohttp.ClientSession(headers={"User-Agent": ua}) as http,
        http.ws_connect(services.display_url(session) + "/ws") as ws,
    ):
        await ws.send_json(
            {"type": "resume", "after_seq": 0, "screen_id": "f" * 24, "viewport": [1920, 1080]}
        )
        await until(lambda: panel.screens.rowCount() == 1, what="the screen listed")
        row = [panel.screens.item(0, c).text() for c in range(len(SCREEN_COLUMNS))]
        assert row[0] == "ffffffff" and row[1] == "127.0.0.1" and row[2] == "Chrome/126.0"
        assert row[4].endswith("s ago")
        assert not panel.reload_button.isEnabled() and panel.reload_all_button.isEnabled()
        assert not panel.move_button.isEnabled() and not panel.move_all_button.isEnabled()  # nowhere to go

        click_row(qtbot, panel.screens, 0)
        assert panel.reload_button.isEnabled()
        assert not panel.move_button.isEnabled()  # selected, but still nowhere to go
        qtbot.mouseClick(panel.reload_button, Qt.MouseButton.LeftButton)
        await next_message(ws, "reload")
        assert dp.message.text() == "Reload sent to 1 screen."

        wave = await w.flow.create_session("Wave B", "pre-race")
        w.flow.set_session(session.id)  # back on the first session: Wave B is somewhere to move to
        await until(lambda: panel.move_target.count() == 1, what="a move target")
        assert panel.move_target.currentText() == "Wave B (pre-race)"
        await until(lambda: panel.screens.rowCount() == 1)
        click_row(qtbot, panel.screens, 0)
        assert panel.move_button.isEnabled() and panel.move_all_button.isEnabled()
        qtbot.mouseClick(panel.move_button, Qt.MouseButton.LeftButton)
        assert (await next_message(ws, "switch"))["url"] == f"/display/{wave.token}"
        assert dp.message.text() == "Moved 1 screen to “Wave B”."
