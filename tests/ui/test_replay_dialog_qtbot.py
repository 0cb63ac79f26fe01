"""The Timing page's Replay… dialog on the real app (offscreen, qasync loop): the form's checks,
a session bound live to the stream offered disabled with the operation's reason, start →
progress → pause holds it → resume → stop, and a dialog reopened mid-replay showing it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from pytestqt.qtbot import QtBot

from race_control.ui.replay_dialog import ReplayDialog
from tests.replay.race import RULES, race_lines
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import retype, settle

pytestmark = pytest.mark.gui


async def recorded_race(desktop: Desktop, tmp_path: Path, span: float) -> dict[str, Any]:
    """An event with 40 runners, its stored race (a controller file: 51 reads, 41 crossings once
    the 10 re-reads are suppressed) bound live to one session, and two more sessions."""
    services = desktop.services
    folder = tmp_path / "FINISH"
    folder.mkdir()
    (folder / "1.csv").write_text("\n".join(race_lines(span)) + "\n")
    event = await services.events.create_event({"name": "Replay 5K", "date": "2021-05-08"})
    await services.ops.roster.import_participants(
        event.id, [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "R"} for b in range(1, 41)]
    )
    stream = (await services.ops.timing.import_files({"path": str(folder), "timezone": "UTC"})).summary[
        "timing_session_id"
    ]
    ops = services.ops.sessions
    base = {"event_id": event.id, "mode": "results", "rules": RULES}
    live = (await ops.create({**base, "name": "Finish live", "timing_session_ids": [stream]})).session
    screen = (await ops.create({**base, "name": "Big screen"})).session
    await until(lambda: live.finishers == 41, what="the live session shows the race")
    w = desktop.window
    w.flow.set_user("")
    w.flow.set_session(screen.id)
    assert w.go(w.pages.index(w.timing_page))
    tm = w.timing_page
    await until(lambda: tm.streams.rowCount() == 1, what="the stream listed")
    tm.streams.select_stream(stream)
    await until(lambda: tm.replay_button.isEnabled(), what="Replay… enabled")
    return {"stream": stream, "live": live, "screen": screen, "event": event}


def open_dialog(qtbot: QtBot, desktop: Desktop) -> ReplayDialog:
    tm = desktop.window.timing_page
    qtbot.mouseClick(tm.replay_button, Qt.MouseButton.LeftButton)
    dialog = tm.replay_dialog
    assert isinstance(dialog, ReplayDialog) and dialog.isVisible()
    return dialog


def fill(qtbot: QtBot, field: Any, text: str) -> None:
    if text:
        retype(qtbot, field, text)
    else:
        field.clear()  # typing nothing over a selection does not empty it


def item_of(dialog: ReplayDialog, session_id: str) -> tuple[bool, str, str]:
    """(enabled, text, tooltip) of a session's entry.  Copied out: a QStandardItem wrapper kept
    after the list is rebuilt points at freed memory (a failing test's traceback kept one alive
    and crashed the process later)."""
    model = dialog.session_box.model()
    assert isinstance(model, QStandardItemModel)
    item = model.item(dialog.session_box.findData(session_id))
    return item.isEnabled(), item.text(), item.toolTip()


async def test_replay_dialog_checks_starts_pauses_resumes_stops_and_reopens(
    qtbot: QtBot, desktop: Desktop, tmp_path: Path
) -> None:
    race = await recorded_race(desktop, tmp_path, span=60)  # 1.5 s per bib: 0.3 s at 5x
    replays = desktop.services.ops.replay
    screen_id, live_id = race["screen"].id, race["live"].id
    dialog = open_dialog(qtbot, desktop)
    # the session bound live to the stream is offered disabled, with the operation's reason
    enabled, text, tip = item_of(dialog, live_id)
    assert not enabled and "bound live to this stream" in text
    assert race["stream"] in tip and "bound to display session" in tip
    assert item_of(dialog, screen_id)[0] and dialog.session_box.currentData() == screen_id

    # the form's checks: each names the field; nothing is started
    for speed, from_, to, needle in [
        ("250", "", "", "Speed must be 0.5x to 100x"),
        ("0", "", "", "Speed must be"),
        ("fast", "", "", "Speed must be"),
        ("10x", "9am", "", "“From” must be a time of day"),
        ("10x", "", "24:00:00", "“To” must be a time of day"),
        ("10x", "09:01:00", "09:00:30", "“From” must be before “To”"),
        ("10x", "09:01:00", "09:01:00", "“From” must be before “To”"),
    ]:
        fill(qtbot, dialog.speed_box.lineEdit(), speed)
        fill(qtbot, dialog.from_edit, from_)
        fill(qtbot, dialog.to_edit, to)
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        await settle()
        assert dialog.error.isVisible() and needle in dialog.error.text(), (
            speed,
            from_,
            to,
            dialog.error.text(),
        )
        assert replays.latest(screen_id) is None
    # "as fast as possible" and typed speeds parse; 5x it is
    fill(qtbot, dialog.from_edit, "")
    fill(qtbot, dialog.to_edit, "")
    dialog.speed_box.setCurrentText("As fast as possible")
    assert dialog.form_body()["speed"] == 0
    retype(qtbot, dialog.speed_box.lineEdit(), "5x")
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    r = await until(lambda: replays.latest(screen_id), what="the replay started")
    assert (r.stream_id, r.speed, r.total) == (race["stream"], 5.0, 51)
    assert not dialog.error.isVisible()
    assert not dialog.start_button.isEnabled() and not dialog.session_box.isEnabled()

    # progress updates while it plays
    await until(lambda: r.played >= 6 and "of 51 reads" in dialog.progress.text(), what="progress")
    await until(lambda: dialog.bar.value() > 0 and dialog.pause_button.isEnabled(), what="the bar moves")
    assert "Replaying at 5x" in dialog.progress.text() and "Race clock at 09:0" in dialog.progress.text()
    assert "ETA " in dialog.progress.text() and "(last read 09:01:00)" in dialog.progress.text()

    # pause holds the progress (and the ETA) still
    qtbot.mouseClick(dialog.pause_button, Qt.MouseButton.LeftButton)
    await until(lambda: r.paused and dialog.pause_button.text() == "Resume", what="paused")
    await settle()
    held = (r.played, dialog.bar.value(), dialog.progress.text())
    assert held[2].startswith("Paused: ")
    await asyncio.sleep(1.2)  # ~4 bibs at 5x
    assert (r.played, dialog.bar.value(), dialog.progress.text()) == held
    # resume: it goes on from the same read
    qtbot.mouseClick(dialog.pause_button, Qt.MouseButton.LeftButton)
    await until(lambda: not r.paused and dialog.pause_button.text() == "Pause", what="resumed")
    await until(lambda: r.played > held[0], what="playing again")
    assert "Replaying at 5x" in dialog.progress.text()
    # a new speed while it runs: a bad one is named, a good one applies at once
    retype(qtbot, dialog.speed_box.lineEdit(), "500")
    qtbot.keyClick(dialog.speed_box.lineEdit(), Qt.Key.Key_Return)
    await settle()
    assert "Speed must be" in dialog.error.text() and r.speed == 5.0
    retype(qtbot, dialog.speed_box.lineEdit(), "4")
    qtbot.keyClick(dialog.speed_box.lineEdit(), Qt.Key.Key_Return)
    await until(lambda: r.speed == 4.0 and "Replaying at 4x" in dialog.progress.text(), what="re-speeded")
    assert not dialog.error.isVisible() and r.state == "running"

    # closed mid-replay: the replay goes on; reopened, the dialog finds it and shows its progress
    dialog.close()
    await settle()
    assert r.state == "running"
    played_then = r.played
    again = open_dialog(qtbot, desktop)
    assert again is not dialog
    assert again.session_box.currentData() == screen_id and "replaying" in again.session_box.currentText()
    assert again.speed_box.currentText() == "4x"  # the speed it runs at
    assert again.pause_button.isEnabled() and again.stop_button.isEnabled()
    assert not again.start_button.isEnabled()
    await until(
        lambda: r.played > played_then and f"{r.played} of 51 reads" in again.progress.text(), what="live"
    )
    # stop: what it showed stays; the form is back
    qtbot.mouseClick(again.stop_button, Qt.MouseButton.LeftButton)
    await until(
        lambda: r.state == "stopped" and again.progress.text().startswith("Stopped: "), what="stopped"
    )
    assert r.played < r.total and again.start_button.isEnabled() and not again.pause_button.isEnabled()
    assert desktop.services.sessions.get(screen_id).finishers == r.finishers > 0
    assert not desktop.window.error_panel.isVisible()


async def test_the_operations_refusal_is_shown_in_the_dialog_and_nothing_starts(
    qtbot: QtBot, desktop: Desktop, tmp_path: Path
) -> None:
    race = await recorded_race(desktop, tmp_path, span=60)
    replays, screen_id = desktop.services.ops.replay, race["screen"].id
    dialog = open_dialog(qtbot, desktop)
    assert dialog.session_box.currentData() == screen_id
    # the session closes while the dialog is open: Start is refused by the operation
    await desktop.services.ops.sessions.close(screen_id)
    retype(qtbot, dialog.speed_box.lineEdit(), "10x")
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    await until(lambda: dialog.error.isVisible(), what="the refusal shown")
    assert "is closed" in dialog.error.text() and screen_id in dialog.error.text()
    assert replays.latest(screen_id) is None and dialog.start_button.isEnabled()
    assert not desktop.window.error_panel.isVisible()
    dialog.close()
    again = open_dialog(qtbot, desktop)  # now offered disabled, like the live-bound one
    enabled, text, _tip = item_of(again, screen_id)
    assert not enabled and "closed" in text
    assert again.session_box.currentIndex() == -1
    assert not again.start_button.isEnabled()  # no session to take it
    with pytest.raises(ValueError, match="Choose a display session"):
        again.form_body()
