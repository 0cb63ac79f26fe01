"""The pages' forms, typed into with qtbot on the real app (RaceControl on a tmp data dir,
offscreen): log in / create an account, create an event, settings, a stream's clock, the crossing
rules.  Bad input shows a message on the page that names the problem, and changes nothing.

The pages need the running app, so these tests run on qasync's loop: qtbot types and clicks,
``until`` waits (see tests/ui/qtbot_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from race_control.config import load_settings
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, click_row, controller_file, retype

pytestmark = pytest.mark.gui

RED = "#b71c1c"


def shows_error(page: object, text: str) -> bool:
    """The page's message is visible, red, and contains ``text``."""
    m = page.message  # type: ignore[attr-defined]
    return m.isVisible() and text in m.text() and RED in m.styleSheet()


async def go_to(desktop: Desktop, page: object) -> None:
    w = desktop.window
    await activate(w)
    assert w.go(w.pages.index(page)), f"{type(page).__name__} is locked"


# --- log in ---------------------------------------------------------------------------------------
async def test_new_account_with_two_different_passwords_is_refused(desktop: Desktop, qtbot: QtBot) -> None:
    w, login = desktop.window, desktop.window.login_page
    await activate(w)
    await until(lambda: login.creating, what="first run: the create-account form")
    assert login.confirm.isVisible() and login.primary.text() == "Create account and log in"
    qtbot.keyClicks(login.username, "timer@finish")
    qtbot.keyClicks(login.password, "correct horse")
    qtbot.keyClicks(login.confirm, "correct hrose")
    qtbot.keyClick(login.confirm, Qt.Key.Key_Return)
    await until(lambda: shows_error(login, "The two passwords differ."), what="the message")
    assert not w.flow.logged_in and w.page() is login
    assert not await desktop.services.accounts.has_users()


@pytest.mark.parametrize(
    ("user", "password", "problem"),
    [
        ("timer@finish", "short", "the password must have at least 8 characters"),
        ("timer finish", "long enough", "the user name must be 1-64 letters, digits or . _ @ -"),
    ],
)
async def test_a_bad_new_account_names_the_problem(
    desktop: Desktop, qtbot: QtBot, user: str, password: str, problem: str
) -> None:
    w, login = desktop.window, desktop.window.login_page
    await activate(w)
    await until(lambda: login.creating, what="the create-account form")
    qtbot.keyClicks(login.username, user)
    qtbot.keyClicks(login.password, password)
    qtbot.keyClicks(login.confirm, password)
    qtbot.mouseClick(login.primary, Qt.MouseButton.LeftButton)
    await until(lambda: shows_error(login, problem), what=problem)
    assert not w.flow.logged_in and not w.error_panel.isVisible()  # shown on the page, not as a crash
    assert not await desktop.services.accounts.has_users()


async def test_a_wrong_password_is_selected_so_retyping_replaces_it(desktop: Desktop, qtbot: QtBot) -> None:
    w, login = desktop.window, desktop.window.login_page
    await activate(w)
    await until(lambda: login.creating, what="the create-account form")
    await desktop.services.accounts.create("ann", "long enough")
    qtbot.mouseClick(login.toggle, Qt.MouseButton.LeftButton)  # "I already have an account"
    assert not login.creating and not login.confirm.isVisible() and login.primary.text() == "Log in"
    qtbot.keyClicks(login.username, "ann")
    qtbot.keyClicks(login.password, "long enuogh")
    qtbot.keyClick(login.password, Qt.Key.Key_Return)
    await until(lambda: shows_error(login, "Unknown user name or wrong password."), what="refused")
    assert not w.flow.logged_in
    qtbot.keyClicks(login.password, "long enough")
    qtbot.keyClick(login.password, Qt.Key.Key_Return)
    await until(lambda: w.page() is w.mode_page, what="logged in")
    assert w.flow.user == "ann" and "ann" in w.user_label.text()
    assert login.password.text() == "" and not login.message.isVisible()  # nothing left behind


# --- create an event ------------------------------------------------------------------------------
async def test_an_event_without_a_name_is_refused(desktop: Desktop, qtbot: QtBot) -> None:
    desktop.window.flow.set_user("")
    ev = desktop.window.event_page
    await go_to(desktop, ev)
    qtbot.keyClicks(ev.name, "   ")
    qtbot.mouseClick(ev.create_button, Qt.MouseButton.LeftButton)
    await until(lambda: shows_error(ev, "'name' is required"), what="the message")
    assert desktop.services.events.events() == [] and ev.list.count() == 0
    assert not desktop.window.error_panel.isVisible()


async def test_an_unknown_time_zone_is_named(desktop: Desktop, qtbot: QtBot) -> None:
    desktop.window.flow.set_user("")
    ev = desktop.window.event_page
    await go_to(desktop, ev)
    qtbot.keyClicks(ev.name, "City 10K")
    retype(qtbot, ev.timezone.lineEdit(), "Mars/Olympus_Mons")
    qtbot.mouseClick(ev.create_button, Qt.MouseButton.LeftButton)
    await until(
        lambda: shows_error(ev, "'timezone' 'Mars/Olympus_Mons' is not a known IANA time zone"),
        what="the message",
    )
    assert desktop.services.events.events() == []
    assert ev.name.text() == "City 10K"  # kept, to fix the zone and try again


async def test_ctrl_n_creates_the_typed_event_and_selects_it(desktop: Desktop, qtbot: QtBot) -> None:
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    await services.events.create_event({"name": "Later race", "date": "2099-01-01"})  # listed first
    ev = w.event_page
    await go_to(desktop, ev)
    assert ev.list.count() == 1
    qtbot.keyClicks(ev.name, "City 10K")
    retype(qtbot, ev.timezone.lineEdit(), "Europe/Berlin")
    qtbot.keySequence(w, QKeySequence("Ctrl+N"))
    await until(lambda: ev.list.count() == 2, what="created")
    created = next(e for e in services.events.events() if e.name == "City 10K")
    assert created.timezone == "Europe/Berlin"
    assert ev.selected_id() == created.id  # the new one is selected, ready for its roster
    assert "City 10K" in ev.list.currentItem().text() and "0 participants" in ev.list.currentItem().text()
    assert ev.name.text() == ""
    assert "Created “City 10K”" in ev.message.text() and RED not in ev.message.styleSheet()


async def test_enter_in_the_new_event_name_creates_it(desktop: Desktop, qtbot: QtBot) -> None:
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    await services.events.create_event({"name": "Older race", "date": "2020-01-01"})
    ev = w.event_page
    await go_to(desktop, ev)
    qtbot.mouseClick(ev.name, Qt.MouseButton.LeftButton)  # into the field, as the timer does
    assert QApplication.focusWidget() is ev.name
    qtbot.keyClicks(ev.name, "City 10K")
    qtbot.keyClick(ev.name, Qt.Key.Key_Return)
    await until(lambda: ev.list.count() == 2, timeout=2, what="created")


async def test_double_clicking_an_event_uses_it(desktop: Desktop, qtbot: QtBot) -> None:
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    trail = await services.events.create_event({"name": "Trail 21K", "date": "2026-06-02"})
    city = await services.events.create_event({"name": "City 10K", "date": "2026-06-01"})
    ev = w.event_page
    await go_to(desktop, ev)
    assert ev.selected_id() == trail.id
    click_row(qtbot, ev.list, 1, double=True)
    await until(lambda: w.page() is w.template_page, what="the event was used")
    assert w.flow.event_id == city.id


# --- settings -------------------------------------------------------------------------------------
async def test_settings_without_a_data_folder_are_refused(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # if the check were missing, "" would mean this folder
    st = desktop.window.settings_page
    await go_to(desktop, st)
    assert st.data_dir.text() == str(desktop.data_dir)
    retype(qtbot, st.data_dir, "")
    qtbot.keyClick(st.data_dir, Qt.Key.Key_Backspace)
    qtbot.keyClick(st.data_dir, Qt.Key.Key_Return)
    await until(lambda: shows_error(st, "choose a data folder"), what="the message")
    assert not (tmp_path / "settings.json").exists() and not (desktop.data_dir / "settings.json").exists()


async def test_settings_an_unwritable_data_folder_is_named(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", "utf-8")
    st = desktop.window.settings_page
    await go_to(desktop, st)
    retype(qtbot, st.data_dir, str(blocker / "data"))
    qtbot.mouseClick(st.primary, Qt.MouseButton.LeftButton)
    await until(lambda: shows_error(st, f"cannot write settings to {blocker / 'data'}"), what="the message")
    assert not desktop.window.error_panel.isVisible()


async def test_settings_typed_and_chosen_values_are_saved(desktop: Desktop, qtbot: QtBot) -> None:
    st = desktop.window.settings_page
    await go_to(desktop, st)
    retype(qtbot, st.http_port, "8099")
    retype(qtbot, st.timing_port, "61612")
    st.host.setFocus()
    st.host.setCurrentIndex(0)
    qtbot.keyClick(st.host, Qt.Key.Key_Down)  # 0.0.0.0 → "127.0.0.1 — this laptop only"
    assert st.host.currentText().startswith("127.0.0.1 — ")
    retype(qtbot, st.public_host.lineEdit(), "10.1.2.3")
    retype(qtbot, st.timezone.lineEdit(), "Europe/Berlin")
    qtbot.keyClick(st.timezone, Qt.Key.Key_Return)
    await until(lambda: "take effect when you restart" in st.message.text(), what="saved")
    assert RED not in st.message.styleSheet()
    saved = load_settings(desktop.data_dir)
    assert (saved.http_port, saved.timing_port) == (8099, 61612)
    assert (saved.host, saved.public_host, saved.timezone) == ("127.0.0.1", "10.1.2.3", "Europe/Berlin")


# --- a stream's clock and the crossing rules (timing page) ----------------------------------------
async def imported_stream(desktop: Desktop, qtbot: QtBot, tmp_path: Path) -> str:
    """Local mode, an event, the timing page with one imported controller file, selected."""
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    event = await services.events.create_event({"name": "City 10K", "date": "2021-05-08", "timezone": "UTC"})
    w.flow.set_event(event.id)
    tm = w.timing_page
    await go_to(desktop, tm)
    await until(lambda: w.flow.session, what="the display session")
    retype(qtbot, tm.import_path, str(controller_file(tmp_path, ["101", "102", "101", "103"])))
    qtbot.mouseClick(tm.import_button, Qt.MouseButton.LeftButton)
    await until(lambda: tm.streams.rowCount() == 1, what="the imported stream")
    click_row(qtbot, tm.streams, 0)
    sid = tm.streams.selected_stream()
    assert sid is not None
    return sid


async def test_a_streams_clock_refuses_an_unknown_zone_and_applies_a_good_one(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    sid = await imported_stream(desktop, qtbot, tmp_path)
    tm, timing = desktop.window.timing_page, desktop.services.timing
    clock = tm.clock
    assert clock.apply_clock_button.isEnabled()
    assert clock.timezone.currentText() == "UTC"  # the selected stream's settings are shown
    assert clock.reference_date.date().toString("yyyy-MM-dd") == "2021-05-08"
    retype(qtbot, clock.timezone.lineEdit(), "Mars/Olympus_Mons")
    qtbot.mouseClick(clock.apply_clock_button, Qt.MouseButton.LeftButton)
    await until(
        lambda: shows_error(tm, "'timezone' 'Mars/Olympus_Mons' is not a known IANA time zone"),
        what="the message",
    )
    assert timing.stream(sid).timezone == "UTC"
    retype(qtbot, clock.timezone.lineEdit(), "Europe/Berlin")
    with qtbot.waitSignal(clock.applied, timeout=0) as applied:
        qtbot.mouseClick(clock.apply_clock_button, Qt.MouseButton.LeftButton)
        await until(lambda: "Clock of this stream: Europe/Berlin, 2021-05-08" in tm.message.text())
    assert applied.args[0].id == sid and timing.stream(sid).timezone == "Europe/Berlin"
    assert RED not in tm.message.styleSheet()


async def test_typed_crossing_rules_are_applied_with_ctrl_r(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    sid = await imported_stream(desktop, qtbot, tmp_path)
    w, tm = desktop.window, desktop.window.timing_page
    session = w.flow.session
    qtbot.mouseClick(tm.bind_button, Qt.MouseButton.LeftButton)
    await until(lambda: sid in session.streams, what="bound")
    form = tm.rules_form
    retype(qtbot, form.locations, "FINISH; HALF,")
    retype(qtbot, form.start_locations, "START")
    retype(qtbot, form.window_s.lineEdit(), "600")
    retype(qtbot, form.min_since_start.lineEdit(), "5")
    with qtbot.waitSignal(form.applied, timeout=0):
        qtbot.keySequence(w, QKeySequence("Ctrl+R"))
        await until(lambda: "Re-ran the stored reads" in form.rules_summary.text(), what="applied")
    rules = session.rules
    assert rules.locations == ("FINISH", "HALF") and rules.start_locations == ("START",)
    assert (rules.duplicate_window, rules.min_time_since_start) == (600, 5)
    assert "3 crossings" in form.rules_summary.text()  # 101 read twice within 600 s: one crossing
    assert form.locations.text() == "FINISH, HALF"  # redrawn from the saved rules
    with qtbot.waitSignal(form.applied, timeout=0):
        qtbot.mouseClick(form.apply_rules_button, Qt.MouseButton.LeftButton)
        await until(lambda: form.rules_summary.text() == "Rules unchanged.", what="unchanged")
