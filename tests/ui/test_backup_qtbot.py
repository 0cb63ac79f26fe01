"""Settings' Backups box on the real app (RaceControl on a tmp data dir, offscreen): "Back up now…"
writes a good backup while the app runs and names it; "Restore…" checks the file and shows the
exact command to run once Race Control is closed — it never swaps the running app's database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog
from pytestqt.qtbot import QtBot

from race_control.store.backup import check_backup
from race_control.ui.backup_panel import restore_command
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate

pytestmark = pytest.mark.gui

RED = "#b71c1c"


def says(page: object, text: str, *, error: bool = False) -> bool:
    m = page.message  # type: ignore[attr-defined]
    return m.isVisible() and text in m.text() and (RED in m.styleSheet()) == error


async def settings_page(desktop: Desktop) -> object:
    w = desktop.window
    await activate(w)
    assert w.go(w.pages.index(w.settings_page)), "Settings is locked"
    return w.settings_page


def choose(dialog: QFileDialog | None, path: Path) -> None:
    """Pick ``path`` in the open file dialog, as a user typing its name and pressing Save/Open."""
    assert dialog is not None and dialog.isVisible()
    dialog.selectFile(str(path))
    dialog.accept()


async def test_back_up_now_writes_a_good_backup_and_names_it(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    await desktop.services.events.create_event({"name": "City 10K", "date": "2026-06-01", "timezone": "UTC"})
    page = await settings_page(desktop)
    panel = page.backups  # type: ignore[attr-defined]
    assert panel.backup_button.isEnabled() and panel.restore_button.isEnabled()
    assert not panel.copy_button.isEnabled() and not panel.restore_help.isVisible()
    assert str(desktop.data_dir / "backups") in panel.note.text()

    qtbot.mouseClick(panel.backup_button, Qt.MouseButton.LeftButton)
    file = tmp_path / "race-day.zip"
    choose(panel.dialog, file)
    assert not panel.backup_button.isEnabled()  # one backup at a time
    await until(lambda: says(page, f"Backed up to {file}: 1 events"), what="the backup's message")
    assert panel.backup_button.isEnabled()
    assert check_backup(file)["counts"]["events"] == 1

    panel.back_up_to(str(tmp_path / "no-such-folder" / "b.zip"))  # a folder removed meanwhile
    await until(lambda: says(page, "does not exist", error=True), what="the error")
    assert panel.backup_button.isEnabled() and not desktop.window.error_panel.isVisible()


async def test_restore_shows_the_command_and_leaves_the_running_store_alone(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    await desktop.services.events.create_event({"name": "City 10K", "date": "2026-06-01", "timezone": "UTC"})
    file = tmp_path / "race-day.zip"
    await desktop.rc.backup(file)
    page = await settings_page(desktop)
    panel = page.backups  # type: ignore[attr-defined]

    qtbot.mouseClick(panel.restore_button, Qt.MouseButton.LeftButton)
    choose(panel.dialog, file)
    await until(lambda: panel.restore_help.isVisible(), what="the restore explanation")
    command = restore_command(desktop.data_dir, file)
    assert command == f"race-control restore --data-dir {desktop.data_dir} {file}"
    assert command in panel.restore_help.text() and "quit Race Control" in panel.restore_help.text()
    assert says(page, "Close Race Control to restore")
    assert panel.copy_button.isEnabled() and panel.restore_button.isEnabled()
    qtbot.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == command
    assert not list(desktop.data_dir.glob("*.replaced-*"))  # nothing was swapped under the app
    assert len(desktop.services.events.events()) == 1

    bad = tmp_path / "bad.zip"
    bad.write_text(json.dumps({"not": "a backup"}))
    panel.explain_restore(str(bad))
    assert not panel.copy_button.isEnabled() and not panel.restore_help.isVisible()
    await until(lambda: says(page, "not a readable zip file", error=True), what="the problem")
    assert not panel.copy_button.isEnabled() and panel.restore_button.isEnabled()
