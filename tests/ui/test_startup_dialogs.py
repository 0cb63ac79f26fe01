"""The desktop app cannot start on a data dir another Race Control holds, or on a database it
cannot use: a dialog says why (naming the running one, or the file and what to do) before any
window opens, and the main coroutine ends with 2 (race_control/ui/main.py, ``amain``)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from race_control.app import RaceControl
from race_control.ui.main import amain
from race_control.ui.window import MainWindow
from tests.conftest import make_settings
from tests.ui.conftest import until

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def collect_on_the_gui_thread() -> Iterator[None]:
    """After the test's qasync loop is closed (autouse, so torn down after it): collect the
    garbage here.  A failed start leaves the loop's Qt objects (timers, executor threads) in
    reference cycles through the exception's frames; collected later by a garbage collection
    that happens to run on a worker thread, Qt warns "Timers cannot be stopped from another
    thread" in a later test, or crashes."""
    yield
    gc.collect()


def message_box() -> QMessageBox | None:
    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()), None
    )


def main_window_shown() -> bool:
    return any(isinstance(w, MainWindow) and w.isVisible() for w in QApplication.topLevelWidgets())


async def ended(main: asyncio.Future[int]) -> int:
    """The main coroutine's exit code once it ends.  (Not ``asyncio.wait_for``: its cancelled
    timeout stays a live Qt timer in qasync's loop, and when that loop is collected later on a
    worker thread Qt warns "Timers cannot be stopped from another thread" in another test.)"""
    await until(main.done, timeout=15, what="the main coroutine ends")
    return main.result()


def dismiss(box: QMessageBox, qtbot: QtBot) -> None:
    ok = box.button(QMessageBox.StandardButton.Ok)
    assert ok is not None
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)


async def test_desktop_on_a_data_dir_in_use_names_the_running_one_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot: QtBot
) -> None:
    monkeypatch.setenv("RACE_CONTROL_DESKTOP_PREFS", str(tmp_path / "desktop.json"))
    data = tmp_path / "data"
    first = RaceControl(make_settings(data))
    await first.start()
    try:
        server_json = (data / "server.json").read_bytes()
        main = asyncio.ensure_future(amain(make_settings(data)))
        box = await until(message_box, what="the dialog")
        text = box.text()
        assert "in use by another Race Control" in text, text
        assert f"pid {os.getpid()}" in text and first.http_url in text, text
        assert not main_window_shown()
        dismiss(box, qtbot)
        assert await ended(main) == 2
        assert not main_window_shown()
        assert (data / "server.json").read_bytes() == server_json  # the second one's stop kept it
        assert first.services is not None
    finally:
        await first.stop()


async def test_desktop_on_a_damaged_database_names_the_file_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot: QtBot
) -> None:
    monkeypatch.setenv("RACE_CONTROL_DESKTOP_PREFS", str(tmp_path / "desktop.json"))
    settings = make_settings(tmp_path / "data")
    settings.data_dir.mkdir()
    db = settings.database_path
    db.write_bytes(os.urandom(32 * 1024))
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    main = asyncio.ensure_future(amain(settings))
    box = await until(message_box, what="the dialog")
    text = box.text()
    assert str(db) in text and "race-control restore FILE" in text, text
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert not main_window_shown()
    dismiss(box, qtbot)
    assert await ended(main) == 2
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (settings.data_dir / "server.json").exists()
