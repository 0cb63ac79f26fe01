"""Race-day roster edits in the desktop (ui/roster_edit_dialog.py) on the real app: fix a
runner's name, swap two bibs, add a walk-up — each one action, the roster changed at once —
and a bib that is somebody's, an unknown bib or a bad age named, nothing changed.

On qasync's loop: qtbot types and clicks, ``until`` waits (tests/ui/qtbot_helpers.py)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, click_row, retype, settle

pytestmark = pytest.mark.gui
LEFT = Qt.MouseButton.LeftButton


async def open_dialog(desktop: Desktop, qtbot: QtBot) -> tuple[Any, str]:
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    event = await services.events.create_event({"name": "City 10K", "date": "2026-06-01"})
    rows = [
        {"bib": "101", "first_name": "Ann", "last_name": "Lee", "city": "Boise"},
        {"bib": "102", "first_name": "Bo", "last_name": "Chen", "city": "Denver"},
        {"bib": "103", "first_name": "Cy", "last_name": "Diaz", "city": "Provo"},
    ]
    await services.ops.roster.import_participants(event.id, rows)
    await activate(w)
    assert w.go(w.pages.index(w.event_page))
    w.event_page.select(event.id)
    qtbot.keySequence(w, QKeySequence("Ctrl+Shift+E"))
    dialog = await until(lambda: getattr(w, "edit_dialog", None), what="the edits dialog")
    await until(dialog.isVisible)
    await activate(dialog)
    return dialog, event.id


def roster(desktop: Desktop, event_id: str) -> dict[str, tuple[str, str, str]]:
    return {p.bib: (p.first_name, p.last_name, p.city) for p in desktop.services.events.roster(event_id)}


async def test_fix_a_name_swap_two_bibs_add_a_walk_up(desktop: Desktop, qtbot: QtBot) -> None:
    dialog, event_id = await open_dialog(desktop, qtbot)
    assert dialog.table.rowCount() == 3 and not dialog.save_button.isEnabled()

    # fix a name: find the runner, select, retype, save
    retype(qtbot, dialog.filter, "chen")
    assert dialog.table.rowCount() == 1
    click_row(qtbot, dialog.table, 0)
    assert dialog.edits["first_name"].text() == "Bo" and dialog.save_button.isEnabled()
    retype(qtbot, dialog.edits["first_name"], "Bob")
    qtbot.mouseClick(dialog.save_button, LEFT)
    await until(lambda: dialog.message.text().startswith("Saved bib 102"), what="the edit")
    assert "first_name" in dialog.message.text() and "city" not in dialog.message.text()
    assert roster(desktop, event_id)["102"] == ("Bob", "Chen", "Denver")

    # swap two bibs (the filter still on: the swap shows both runners)
    retype(qtbot, dialog.swap_a, "101")
    retype(qtbot, dialog.swap_b, "103")
    qtbot.keyClick(dialog.swap_b, Qt.Key.Key_Return)
    await until(lambda: dialog.message.text().startswith("Swapped"), what="the swap")
    assert dialog.message.text() == "Swapped: Ann Lee now wears 103, Cy Diaz wears 101."
    after = roster(desktop, event_id)
    assert (after["101"], after["103"]) == (("Cy", "Diaz", "Provo"), ("Ann", "Lee", "Boise"))
    assert dialog.swap_a.text() == "" and dialog.swap_b.text() == ""

    # a walk-up
    qtbot.mouseClick(dialog.clear_button, LEFT)
    assert not dialog.save_button.isEnabled() and dialog.edits["bib"].text() == ""
    for name, value in (("bib", "560"), ("first_name", "Dee"), ("last_name", "Walker"), ("age", "41")):
        retype(qtbot, dialog.edits[name], value)
    qtbot.mouseClick(dialog.walk_up_button, LEFT)
    await until(lambda: dialog.message.text().startswith("Added walk-up"), what="the walk-up")
    assert dialog.message.text() == "Added walk-up bib 560: Dee Walker."
    assert roster(desktop, event_id)["560"] == ("Dee", "Walker", "")
    assert desktop.services.events.participant(event_id, "560").age == 41
    assert dialog.table.rowCount() == 4

    qtbot.mouseClick(dialog.close_button, LEFT)
    await until(lambda: not dialog.isVisible(), what="the dialog closed")
    assert "4 participants" in desktop.window.event_page.list.currentItem().text()


async def test_bad_edits_are_named_and_change_nothing(desktop: Desktop, qtbot: QtBot) -> None:
    dialog, event_id = await open_dialog(desktop, qtbot)
    before = roster(desktop, event_id)

    # a walk-up on a bib somebody wears
    for name, value in (("bib", "101"), ("first_name", "Eve"), ("last_name", "Late")):
        retype(qtbot, dialog.edits[name], value)
    qtbot.mouseClick(dialog.walk_up_button, LEFT)
    await until(lambda: "already belongs" in dialog.message.text(), what="the conflict")
    assert dialog.message.text() == "bib 101 already belongs to Ann Lee"
    assert "b71c1c" in dialog.message.styleSheet()

    # an edit that moves a runner onto a worn bib, and a bad age
    click_row(qtbot, dialog.table, 0)
    retype(qtbot, dialog.edits["bib"], "102")
    qtbot.mouseClick(dialog.save_button, LEFT)
    await until(lambda: "102 already belongs" in dialog.message.text(), what="the bib conflict")
    retype(qtbot, dialog.edits["bib"], "101")
    retype(qtbot, dialog.edits["age"], "old")
    qtbot.mouseClick(dialog.save_button, LEFT)
    await until(lambda: "age" in dialog.message.text(), what="the bad age")

    # a swap with an unknown bib, and with one bib twice
    retype(qtbot, dialog.swap_a, "101")
    retype(qtbot, dialog.swap_b, "999")
    qtbot.mouseClick(dialog.swap_button, LEFT)
    await until(lambda: "999" in dialog.message.text(), what="the unknown bib")
    assert "bib '999' is not in the roster" in dialog.message.text()
    retype(qtbot, dialog.swap_b, "101")
    qtbot.mouseClick(dialog.swap_button, LEFT)
    await until(lambda: "two different bibs" in dialog.message.text(), what="the same bib")
    await settle()
    assert roster(desktop, event_id) == before
    assert desktop.window.error_panel.isHidden()
