"""The main window's keyboard, pressed with qtbot on the real app (RaceControl on a tmp data dir,
offscreen): Ctrl+1…9 jump to a step, Ctrl+PgDown/PgUp step, Enter presses the page's main
button (a new line in a multi-line box), the pages' own shortcuts, Ctrl+Q quits.

The window needs the running app, so these tests run on qasync's loop: qtbot sends the keys,
``until`` waits (see tests/ui/qtbot_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, click_row, controller_file, retype, settle

pytestmark = pytest.mark.gui

CTRL = Qt.KeyboardModifier.ControlModifier
LOGIN, MODE, EVENT, TEMPLATE, TIMING, DISPLAY, ANALYTICS, SETTINGS = range(8)


def ctrl_digit(qtbot: QtBot, w: object, n: int) -> None:
    qtbot.keyClick(w, getattr(Qt.Key, f"Key_{n}"), CTRL)  # type: ignore[arg-type]


def nav_enabled(w: object) -> list[bool]:
    nav = w.nav  # type: ignore[attr-defined]
    return [bool(nav.item(i).flags() & Qt.ItemFlag.ItemIsEnabled) for i in range(nav.count())]


async def test_ctrl_digits_jump_only_to_unlocked_steps(desktop: Desktop, qtbot: QtBot) -> None:
    w = desktop.window
    await activate(w)
    assert w.stack.currentIndex() == LOGIN
    assert nav_enabled(w) == [True, False, False, False, False, False, False, False, True]
    for locked in (2, 3, 7, 8):  # mode, event, analytics, history need a login
        ctrl_digit(qtbot, w, locked)
        assert w.stack.currentIndex() == LOGIN
    ctrl_digit(qtbot, w, 9)  # settings are always at hand
    assert w.page() is w.settings_page
    ctrl_digit(qtbot, w, 1)
    assert w.page() is w.login_page

    w.flow.set_user("")  # local mode: mode, event, analytics and history open up
    assert nav_enabled(w) == [True, True, True, False, False, False, True, True, True]
    ctrl_digit(qtbot, w, 3)
    assert w.page() is w.event_page
    for locked in (4, 5, 6):  # template and timing need an event, display a session
        ctrl_digit(qtbot, w, locked)
        assert w.page() is w.event_page
    ctrl_digit(qtbot, w, 7)
    assert w.page() is w.analytics_page
    ctrl_digit(qtbot, w, 8)
    assert w.page() is w.history_page
    ctrl_digit(qtbot, w, 2)
    assert w.page() is w.mode_page and w.nav.currentRow() == MODE

    event = await desktop.services.events.create_event({"name": "City 10K", "date": "2026-06-01"})
    w.flow.set_event(event.id)
    ctrl_digit(qtbot, w, 5)
    assert w.page() is w.timing_page
    await until(lambda: w.flow.session is not None, what="the timing page made the display session")
    ctrl_digit(qtbot, w, 6)
    assert w.page() is w.display_page


async def test_ctrl_page_down_and_up_step_through_the_unlocked_steps(desktop: Desktop, qtbot: QtBot) -> None:
    w = desktop.window
    await activate(w)
    qtbot.keyClick(w, Qt.Key.Key_PageUp, CTRL)  # nothing before the first step
    assert w.stack.currentIndex() == LOGIN
    qtbot.keyClick(w, Qt.Key.Key_PageDown, CTRL)  # the mode step is locked before a login
    assert w.stack.currentIndex() == LOGIN
    w.flow.set_user("")
    qtbot.keySequence(w, QKeySequence("Ctrl+PgDown"))
    assert w.page() is w.mode_page
    qtbot.keySequence(w, QKeySequence("Ctrl+PgDown"))
    assert w.page() is w.event_page
    qtbot.keySequence(w, QKeySequence("Ctrl+PgDown"))  # no event yet: the template step stays locked
    assert w.page() is w.event_page
    qtbot.keySequence(w, QKeySequence("Ctrl+PgUp"))
    assert w.page() is w.mode_page
    ctrl_digit(qtbot, w, 9)
    qtbot.keySequence(w, QKeySequence("Ctrl+PgDown"))  # nothing after the last page
    assert w.page() is w.settings_page
    qtbot.keySequence(w, QKeySequence("Ctrl+PgUp"))
    assert w.page() is w.history_page
    qtbot.keySequence(w, QKeySequence("Ctrl+PgUp"))
    assert w.page() is w.analytics_page


async def test_enter_presses_the_current_pages_main_button(desktop: Desktop, qtbot: QtBot) -> None:
    w, services = desktop.window, desktop.services
    await activate(w)
    w.flow.set_user("")
    ctrl_digit(qtbot, w, 3)
    ev = w.event_page
    assert not ev.primary.isEnabled()  # no event to use yet: Enter does nothing
    qtbot.keyClick(ev.list, Qt.Key.Key_Return)
    await settle()
    assert w.page() is w.event_page and w.flow.event_id is None
    first = await services.events.create_event({"name": "City 10K", "date": "2026-06-01"})
    second = await services.events.create_event({"name": "Trail 21K", "date": "2026-06-02"})
    ev.refresh()
    assert ev.selected_id() == second.id  # the newest date is listed first and selected
    click_row(qtbot, ev.list, 1)
    assert ev.selected_id() == first.id
    qtbot.keyClick(ev.list, Qt.Key.Key_Enter)  # the keypad's Enter too
    await until(lambda: w.page() is w.template_page, what="the event was used")
    assert w.flow.event_id == first.id
    assert "City 10K" in w.nav.item(EVENT).text()  # the step list shows the choice


async def test_enter_in_a_multi_line_box_is_a_new_line(desktop: Desktop, qtbot: QtBot) -> None:
    w, services = desktop.window, desktop.services
    await activate(w)
    w.flow.set_user("")
    event = await services.events.create_event({"name": "City 10K", "date": "2026-06-01"})
    w.flow.set_event(event.id)
    ctrl_digit(qtbot, w, 4)
    tp = w.template_page
    assert w.page() is tp
    tp.messages.setFocus()
    tp.messages.clear()
    qtbot.keyClicks(tp.messages, "Welcome")
    qtbot.keyClick(tp.messages, Qt.Key.Key_Return)
    qtbot.keyClicks(tp.messages, "Go!")
    assert tp.messages.toPlainText() == "Welcome\nGo!"
    await settle()
    assert w.page() is tp and not tp.message.isVisible()  # the template was not saved and used


async def test_ctrl_l_continues_in_local_mode(desktop: Desktop, qtbot: QtBot) -> None:
    w = desktop.window
    await activate(w)
    qtbot.keySequence(w, QKeySequence("Ctrl+L"))
    await until(lambda: w.page() is w.mode_page, what="local mode")
    assert w.flow.user == "" and "local mode" in w.user_label.text()


async def test_mode_keys_1_and_2_choose_the_mode(desktop: Desktop, qtbot: QtBot) -> None:
    w = desktop.window
    await activate(w)
    w.flow.set_user("")
    ctrl_digit(qtbot, w, 2)
    mp = w.mode_page
    qtbot.keyClick(w, Qt.Key.Key_2)
    await until(lambda: w.flow.mode == "pre-race", what="pre-race chosen")
    assert mp.buttons["pre-race"].isChecked() and not mp.buttons["results"].isChecked()
    assert "Pre-race" in w.nav.item(MODE).text()
    qtbot.keyClick(w, Qt.Key.Key_1)
    await until(lambda: w.flow.mode == "results", what="results chosen")


async def test_ctrl_i_opens_the_roster_import_of_the_selected_event(desktop: Desktop, qtbot: QtBot) -> None:
    w, services = desktop.window, desktop.services
    await activate(w)
    w.flow.set_user("")
    await services.events.create_event({"name": "City 10K", "date": "2026-06-01"})
    trail = await services.events.create_event({"name": "Trail 21K", "date": "2026-06-02"})
    ctrl_digit(qtbot, w, 3)
    ev = w.event_page
    ev.select(trail.id)
    qtbot.keySequence(w, QKeySequence("Ctrl+I"))
    dialog = await until(lambda: w.roster_dialog, what="the import dialog")
    await until(dialog.isVisible)
    assert dialog.windowTitle() == "Import roster — Trail 21K" and dialog.event_id == trail.id
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    await until(lambda: not dialog.isVisible(), what="closed")


async def test_ctrl_b_binds_and_ctrl_u_unbinds_the_selected_stream(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    w, services = desktop.window, desktop.services
    await activate(w)
    w.flow.set_user("")
    event = await services.events.create_event({"name": "City 10K", "date": "2021-05-08", "timezone": "UTC"})
    w.flow.set_event(event.id)
    ctrl_digit(qtbot, w, 5)
    tm = w.timing_page
    session = await until(lambda: w.flow.session, what="the display session")
    retype(qtbot, tm.import_path, str(controller_file(tmp_path, ["101", "102", "103"])))
    qtbot.mouseClick(tm.import_button, Qt.MouseButton.LeftButton)
    await until(lambda: tm.streams.rowCount() == 1, what="the imported stream")
    click_row(qtbot, tm.streams, 0)
    stream_id = tm.streams.selected_stream()
    assert stream_id and tm.bind_button.isEnabled() and not tm.unbind_button.isEnabled()

    qtbot.keySequence(w, QKeySequence("Ctrl+B"))
    await until(lambda: stream_id in session.streams, what="bound")
    await until(lambda: tm.streams.item(0, 7).text() == "✓ bound")
    assert "Bound:" in tm.message.text()
    assert not tm.bind_button.isEnabled() and tm.unbind_button.isEnabled()

    qtbot.keySequence(w, QKeySequence("Ctrl+U"))
    await until(lambda: stream_id not in session.streams, what="unbound")
    await until(lambda: tm.streams.item(0, 7).text() == "")
    assert "Unbound:" in tm.message.text() and tm.bind_button.isEnabled()


async def test_ctrl_q_closes_the_window(desktop: Desktop, qtbot: QtBot) -> None:
    w = desktop.window
    await activate(w)
    qtbot.keySequence(w, QKeySequence("Ctrl+Q"))
    await until(w.closed.is_set, timeout=2, what="the main coroutine was told to stop")
    assert not w.isVisible()
