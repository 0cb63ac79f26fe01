"""Small helpers for the qtbot tests on the real app window.

Those tests run on qasync's loop (the ``desktop`` fixture), so they use qtbot only for input
(``keyClick``, ``keyClicks``, ``keySequence``, ``mouseClick``: sent at once, no nested loop) and
for ``waitSignal(..., timeout=0)`` (already emitted when the block ends, never a nested loop);
they wait for the app with ``until`` (pytest-qt issue 448: no ``qtbot.wait*`` inside a coroutine).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from race_control.ui import tasks
from tests.ui.conftest import until


async def activate(window: QWidget) -> None:
    """Window shortcuts only fire in the active window."""
    window.activateWindow()
    await until(window.isActiveWindow, what="the window is active")


async def settle() -> None:
    """Let what the last input started finish (before asserting that it changed nothing): the
    zero-delay Qt timers queued so far, then every coroutine a widget started."""
    await _queued_timers()
    await until(lambda: not tasks.pending(), what="the widgets' coroutines")
    # a finished coroutine's done callbacks (a dialog re-enabling its buttons) run on the next
    # turn of the loop, after the task stops being pending
    await asyncio.sleep(0)
    await _queued_timers()


async def _queued_timers() -> None:
    fired: list[bool] = []
    QTimer.singleShot(0, lambda: fired.append(True))
    await until(lambda: fired, what="the queued Qt timers")


def retype(qtbot: QtBot, field: QWidget, text: str) -> None:
    """Replace a field's text the way a user does: select all, then type."""
    field.setFocus()
    if isinstance(field, QLineEdit):
        field.selectAll()
    else:
        qtbot.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(field, text)


def click_row(qtbot: QtBot, view: QAbstractItemView, row: int, *, double: bool = False) -> None:
    """Click (or double-click) the first cell of ``row`` of a table or list."""
    index = view.model().index(row, 0)
    pos = view.visualRect(index).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    if double:  # QTest's double-click is the second click only: an item view wants its press first
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def controller_file(tmp: Path, bibs: list[str], location: str = "FINISH") -> Path:
    """A ChronoTrack controller file (``TO~`` rows) recorded at ``location`` on 2021-05-08."""
    folder = tmp / location
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "5071949.csv"
    start = 1620461400.0  # 2021-05-08 08:10 UTC
    path.write_text(
        "".join(
            f"TO~{n}~{bib}~160~18~{start + n:.2f}~11FD4E~4~-60~{n}~P~70\n" for n, bib in enumerate(bibs, 1)
        ),
        "utf-8",
    )
    return path
