"""Widgets that need no running app, driven synchronously with pytest-qt's ``qtbot``: the new
display session dialog, the crossing rules form, the clock banner, the error panel and the
table helpers the pages' tables are built from.  Each widget gets real data objects
(``LiveSession``, ``CrossingRules``, ``StreamState``), typed keys and mouse clicks.

These tests are plain functions (no qasync loop), so ``qtbot.wait*`` may spin Qt's own loop.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QApplication, QDialogButtonBox, QTableWidget
from pytestqt.qtbot import QtBot

from race_control.sessions.crossing import CrossingRules
from race_control.sessions.live import LiveSession
from race_control.timing.ingest.streams import StreamState
from race_control.ui.errors import ErrorPanel
from race_control.ui.rules_form import RulesForm
from race_control.ui.sessions_table import NewSessionDialog
from race_control.ui.stream_clock import CLOCK_HELP, ClockBanner
from race_control.ui.widgets import Page, button, cell, select_data, selected_data, set_row, table, table_text

pytestmark = pytest.mark.gui


def live_session(rules: CrossingRules, *, status: str = "open") -> LiveSession:
    return LiveSession(
        id="s-1",
        token="t" * 24,
        event_id="e-1",
        name="Finish",
        mode="results",
        template_id=None,
        rules=rules,
        status=status,
        created_at=time.time(),
        lookup=lambda event_id, bib: None,
    )


def click_row(qtbot: QtBot, t: QTableWidget, row: int) -> None:
    rect = t.visualItemRect(t.item(row, 0))
    qtbot.mouseClick(t.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


# --- the new display session dialog -------------------------------------------------------------
def test_new_session_dialog_typing_replaces_the_suggested_name(qtbot: QtBot) -> None:
    dialog = NewSessionDialog(None, "results", 2)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.name.text() == "Display 3"  # the next number, selected so typing replaces it
    qtbot.keyClicks(dialog.name, "  Wave B ")
    dialog.mode.setFocus()
    qtbot.keyClick(dialog.mode, Qt.Key.Key_Down)  # Results → Pre-race
    create = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    assert create.text() == "Create"
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.mouseClick(create, Qt.MouseButton.LeftButton)
    assert dialog.values() == ("Wave B", "pre-race")  # trimmed name, the mode's key (not its label)


def test_new_session_dialog_starts_in_the_current_mode_and_cancel_rejects(qtbot: QtBot) -> None:
    dialog = NewSessionDialog(None, "pre-race", 0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.name.text() == "Display 1"
    assert dialog.mode.currentData() == "pre-race"
    cancel = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Cancel)
    with qtbot.waitSignal(dialog.rejected, timeout=2000):
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())


# --- the crossing rules form --------------------------------------------------------------------
def test_rules_form_shows_the_selected_sessions_rules(qtbot: QtBot) -> None:
    form = RulesForm(Page(None))  # type: ignore[arg-type]  # load() never asks the page for services
    qtbot.addWidget(form)
    form.load(None)
    assert not form.apply_rules_button.isEnabled()  # nothing to apply without a session
    rules = CrossingRules(
        locations=("FINISH", "HALF"),
        start_locations=("START",),
        duplicate_window=45,
        min_time_since_start=120,
    )
    form.load(live_session(rules))
    assert form.apply_rules_button.isEnabled()
    assert form.locations.text() == "FINISH, HALF"
    assert form.start_locations.text() == "START"
    assert form.window_s.value() == 45 and form.window_s.text() == "45 s"
    assert form.min_since_start.value() == 120
    form.load(live_session(CrossingRules()))  # every location: the field is empty (its placeholder says so)
    assert form.locations.text() == "" and form.locations.placeholderText() == "all locations"


def test_rules_form_seconds_are_typed_whole_and_bounded(qtbot: QtBot) -> None:
    form = RulesForm(Page(None))  # type: ignore[arg-type]
    qtbot.addWidget(form)
    form.load(live_session(CrossingRules(duplicate_window=30)))
    form.window_s.selectAll()
    qtbot.keyClicks(form.window_s, "90")
    assert form.window_s.value() == 90
    form.window_s.selectAll()
    qtbot.keyClicks(form.window_s, "999999")  # over a day: the box refuses the last digit
    assert form.window_s.value() <= 86400


# --- the clock banner ---------------------------------------------------------------------------
def test_clock_banner_names_the_count_of_reads_far_from_now(qtbot: QtBot) -> None:
    banner = ClockBanner()
    qtbot.addWidget(banner)
    banner.show()
    st = StreamState(id="st-1", protocol="CTP01", source_key="k")
    banner.show_stream(st)
    assert banner.isHidden()  # a good clock: no banner
    st.clock_warnings, st.last_clock_warning = 1, "read 16:00:01 is 6 h from now"
    banner.show_stream(st)
    assert banner.isVisible()
    assert CLOCK_HELP in banner.text() and "(1 read far from now)" in banner.text()
    assert "read 16:00:01 is 6 h from now" in banner.text()
    st.clock_warnings = 3
    banner.show_stream(st)
    assert "(3 reads far from now)" in banner.text()
    banner.show_stream(None)  # nothing selected
    assert banner.isHidden()


def test_clock_banner_shows_the_streams_text_as_text(qtbot: QtBot) -> None:
    banner = ClockBanner()
    qtbot.addWidget(banner)
    st = StreamState(id="st-1", protocol="CTP01", source_key="k", clock_warnings=2)
    st.last_clock_warning = "<img src=x onerror=alert(1)> & more"
    banner.show_stream(st)
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in banner.text()
    assert "<img" not in banner.text()


# --- the error panel ----------------------------------------------------------------------------
def test_error_panel_details_and_dismiss_by_mouse(qtbot: QtBot) -> None:
    panel = ErrorPanel()
    qtbot.addWidget(panel)
    panel.show_error("the disk is full", "Traceback: ... OSError 28")
    qtbot.waitExposed(panel)
    assert panel.isVisible() and "the disk is full" in panel.label.text()
    assert panel.details.isHidden()
    with qtbot.waitSignal(panel.details_button.toggled, timeout=2000) as toggled:
        qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    assert toggled.args == [True]
    assert panel.details.isVisible() and "OSError 28" in panel.details.toPlainText()
    qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    assert panel.details.isHidden()
    panel.show_error("the network is down")
    assert "(2 errors; see the log)" in panel.label.text()
    assert not panel.details_button.isVisible()  # nothing more to show for this one
    qtbot.mouseClick(panel.dismiss_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.isVisible())
    panel.show_error("again")  # a dismissed panel counts afresh
    assert "errors; see the log" not in panel.label.text()


def test_error_panel_shows_the_message_as_text(qtbot: QtBot) -> None:
    panel = ErrorPanel()
    qtbot.addWidget(panel)
    panel.show_error("bib <b>101</b> & <script>")
    assert "bib &lt;b&gt;101&lt;/b&gt; &amp; &lt;script&gt;" in panel.label.text()


# --- the table helpers every table of the app is built from -------------------------------------
def test_clicking_a_row_selects_its_id_and_rows_are_read_only(qtbot: QtBot) -> None:
    t = table(["Name", "Reads"], stretch=0)
    qtbot.addWidget(t)
    t.resize(500, 300)
    t.setRowCount(3)
    for row, (sid, name, reads) in enumerate(
        [("id-a", "Finish", 5), ("id-b", "Half", 0), ("id-c", "Start", 9)]
    ):
        set_row(t, row, [cell(name, data=sid, bold=True), cell(reads)])
    t.show()
    qtbot.waitExposed(t)
    assert selected_data(t) is None
    with qtbot.waitSignal(t.itemSelectionChanged, timeout=2000):
        click_row(qtbot, t, 1)
    assert selected_data(t) == "id-b"
    click_row(qtbot, t, 2)
    assert selected_data(t) == "id-c"  # one row at a time
    assert len(t.selectionModel().selectedRows()) == 1
    select_data(t, "id-a")
    assert selected_data(t) == "id-a"
    click_row(qtbot, t, 0)
    qtbot.mouseDClick(t.viewport(), Qt.MouseButton.LeftButton, pos=t.visualItemRect(t.item(0, 0)).center())
    assert t.state() != QAbstractItemView.State.EditingState  # no editor opens on a double-click...
    qtbot.keyClick(t, Qt.Key.Key_F2)
    assert t.state() != QAbstractItemView.State.EditingState  # ...nor on F2
    qtbot.keyClicks(QApplication.focusWidget() or t, "xyz")
    qtbot.keyClick(QApplication.focusWidget() or t, Qt.Key.Key_Return)
    assert table_text(t) == [["Finish", "5"], ["Half", "0"], ["Start", "9"]]
    assert t.item(0, 0).font().bold()


def test_a_button_shortcut_is_its_tip_and_presses_it(qtbot: QtBot) -> None:
    pressed: list[bool] = []
    b = button("Apply rules", lambda: pressed.append(True), shortcut="Ctrl+R")
    qtbot.addWidget(b)
    assert b.toolTip() == "Ctrl+R"
    b.show()
    qtbot.waitExposed(b)
    b.activateWindow()
    qtbot.waitUntil(b.isActiveWindow)
    qtbot.keyClick(b, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: pressed == [True])  # a shortcut animates the click: it lands a moment later
    assert button("Close session", tip="Ends it").toolTip() == "Ends it"
