"""The roster import dialog, driven with qtbot on the real app (RaceControl on a tmp data dir,
offscreen) with real CSV files in tmp_path: the preview lists every row, rejects in red with the
problem named, a file that cannot be read says why, and nothing is imported by a preview.

The dialog reads the file off the loop, so these tests run on qasync's loop: qtbot types and
clicks, ``until`` waits (see tests/ui/qtbot_helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from race_control.ui.roster_dialog import COLUMNS
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, retype

pytestmark = pytest.mark.gui

ROSTER = """Bib,First Name,Last Name,City,State,Division
101,Ann,Lee,Boise,ID,F30-39
102,Bo,Chen,Denver,CO,M40-49
101,Ann,Again,Boise,ID,F30-39
,No,Bib,Nowhere,XX,
104,,,Provo,UT,
"""
PINK, RED = "#fdecea", "#b71c1c"
PROBLEM = COLUMNS.index("Problem")


async def open_dialog(desktop: Desktop, qtbot: QtBot) -> Any:
    """Local mode, an event, its import dialog opened with Ctrl+I and active."""
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    event = await services.events.create_event({"name": "City 10K", "date": "2026-06-01"})
    await activate(w)
    assert w.go(w.pages.index(w.event_page))
    w.event_page.select(event.id)
    qtbot.keySequence(w, QKeySequence("Ctrl+I"))
    dialog = await until(lambda: w.roster_dialog, what="the import dialog")
    await until(dialog.isVisible)
    await activate(dialog)
    return dialog


def preview(qtbot: QtBot, dialog: Any, path: Path) -> None:
    retype(qtbot, dialog.path, str(path))
    qtbot.keyClick(dialog.path, Qt.Key.Key_Return)


def row_text(dialog: Any, row: int) -> list[str]:
    return [dialog.table.item(row, c).text() for c in range(dialog.table.columnCount())]


async def test_the_preview_highlights_rejected_rows_and_names_their_problem(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    csv = tmp_path / "roster.csv"
    csv.write_text(ROSTER, "utf-8")
    dialog = await open_dialog(desktop, qtbot)
    assert not dialog.import_button.isEnabled()  # nothing to import before a preview
    preview(qtbot, dialog, csv)
    await until(lambda: dialog.import_button.isEnabled(), what="the preview")
    assert dialog.table.rowCount() == 5
    assert row_text(dialog, 0) == ["1", "101", "Ann", "Lee", "Boise", "ID", "F30-39", ""]
    assert row_text(dialog, 1)[:4] == ["2", "102", "Bo", "Chen"]
    rejected = {
        2: "row 3: bib 101 appears more than once",
        3: "row 4: 'bib' is required",
        4: "row 5 (bib 104): 'first_name' or 'last_name' is required",
    }
    for row, problem in rejected.items():
        assert dialog.table.item(row, PROBLEM).text() == problem
        for col in range(dialog.table.columnCount()):
            assert dialog.table.item(row, col).background().color().name() == PINK, (row, col)
        assert dialog.table.item(row, PROBLEM).foreground().color().name() == RED
        assert dialog.table.item(row, PROBLEM).font().bold()
    for row in (0, 1):  # valid rows are not highlighted
        assert dialog.table.item(row, 1).background().style() == Qt.BrushStyle.NoBrush
        assert dialog.table.item(row, 1).font().bold()  # the bib stands out
    summary = dialog.summary.text()
    assert (
        "roster.csv</b>: 5 rows, 2 valid" in summary and "3 will be rejected</span> (highlighted)" in summary
    )
    assert desktop.services.events.roster(dialog.event_id) == []  # a preview imports nothing


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read {path}: No such file or directory"),
        ("", "the CSV file is empty"),
        ("Name,City\nAnn Lee,Boise\n", "the CSV has no bib column (headers: Name, City)"),
    ],
    ids=["missing", "empty", "no-bib-column"],
)
async def test_a_file_that_cannot_be_previewed_says_why(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "roster.csv"
    if content is not None:
        path.write_text(content, "utf-8")
    dialog = await open_dialog(desktop, qtbot)
    preview(qtbot, dialog, path)
    expected = problem.format(path=path)
    await until(lambda: expected in dialog.summary.text(), what=expected)
    assert RED in dialog.summary.text()
    assert not dialog.import_button.isEnabled() and dialog.table.rowCount() == 0
    assert not desktop.window.error_panel.isVisible()  # the user's file, not a crash


async def test_a_file_of_rejects_only_cannot_be_imported(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("Bib,First Name\n,Ann\n,Bo\n", "utf-8")
    dialog = await open_dialog(desktop, qtbot)
    qtbot.mouseClick(dialog.path, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(dialog.path, str(csv))
    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    await until(lambda: "2 rows, 0 valid" in dialog.summary.text(), what="the preview")
    assert dialog.table.rowCount() == 2
    assert not dialog.import_button.isEnabled()


async def test_preview_then_import_by_mouse(desktop: Desktop, qtbot: QtBot, tmp_path: Path) -> None:
    csv = tmp_path / "roster.csv"
    csv.write_text(ROSTER, "utf-8")
    dialog = await open_dialog(desktop, qtbot)
    preview(qtbot, dialog, csv)
    await until(lambda: dialog.import_button.isEnabled(), what="the preview")
    with qtbot.waitSignal(dialog.finished, timeout=0):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
        await until(lambda: dialog.result is not None, what="imported")
        assert "Imported 2 participants</b>; 3 rows rejected (first: " in dialog.summary.text()
        assert "bib 101 appears more than once)" in dialog.summary.text()
        assert dialog.bar.value() == 100 and not dialog.cancel_button.isEnabled()
        qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert sorted(p.bib for p in desktop.services.events.roster(dialog.event_id)) == ["101", "102"]
    ev = desktop.window.event_page
    await until(lambda: "2 participants" in ev.list.currentItem().text(), what="the event list redrawn")


async def test_the_import_names_the_same_row_as_the_preview(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    csv = tmp_path / "roster.csv"
    csv.write_text(ROSTER, "utf-8")
    dialog = await open_dialog(desktop, qtbot)
    preview(qtbot, dialog, csv)
    await until(lambda: dialog.import_button.isEnabled(), what="the preview")
    assert dialog.table.item(2, PROBLEM).text() == "row 3: bib 101 appears more than once"
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    await until(lambda: dialog.result is not None, what="imported")
    assert "(first: row 3: bib 101 appears more than once)" in dialog.summary.text()
