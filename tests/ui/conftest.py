"""GUI test setup: offscreen Qt, tests on qasync's loop, a Qt warning fails the test.

The loop-factory hook lives here only, so the rest of the suite keeps plain asyncio loops.
pytest-qt does not support qasync (pytest-qt issue 448): async tests wait with
``await asyncio.sleep`` (``until`` below), never ``qtbot.wait*`` (a nested loop).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytestqt.plugin
from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from race_control.app import RaceControl
from race_control.ui import tasks
from race_control.ui.event_loop import EventLoop
from race_control.ui.main import start_app, stop_app
from tests.conftest import make_settings

FAILING = (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
# the offscreen platform cannot do this for any window; it is not our bug (qoffscreenwindow.cpp)
IGNORED = ("This plugin does not support propagateSizeHints()",)


def _qapp() -> QApplication:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # as in run_gui: closing the window ends the coroutine, not the loop
    return app


_loops: list[EventLoop] = []  # the test's qasync loop, for _process_events below


def _qasync_loop() -> EventLoop:
    _loops[:] = [EventLoop(_qapp())]  # the app's own loop class (run_gui)
    return _loops[0]


def pytest_asyncio_loop_factories(
    config: Any, item: Any
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"qasync": _qasync_loop}


_qt_process_events = pytestqt.plugin._process_events


def _process_events() -> None:
    """pytest-qt processes Qt events between a test's phases, when pytest-asyncio is not running
    the qasync loop: a task step due then (a qasync timer) would run with no running loop, and an
    asyncio.Event it awaits fails "bound to a different event loop".  Mark the test's loop as the
    running one while it does, as qasync's own run_forever would."""
    loop = _loops[0] if _loops else None
    if loop is None or loop.is_closed() or asyncio.events._get_running_loop() is not None:
        _qt_process_events()
        return
    asyncio.events._set_running_loop(loop)
    try:
        _qt_process_events()
    finally:
        asyncio.events._set_running_loop(None)


pytestqt.plugin._process_events = _process_events


@pytest.fixture(autouse=True)
def qt_warnings_fail() -> Iterator[list[str]]:
    """Any Qt warning or critical message during a GUI test fails it."""
    seen: list[str] = []

    def handler(mode: QtMsgType, context: Any, message: str) -> None:
        if mode in FAILING and message not in IGNORED:
            seen.append(f"{mode.name}: {message}")
        if previous is not None:
            previous(mode, context, message)

    previous = qInstallMessageHandler(handler)
    yield seen
    # collect the test's loop objects (timers of a closed qasync loop in reference cycles) here, on
    # the main thread: collected later on a worker thread they warn "Timers cannot be stopped from
    # another thread" in an unrelated test, or crash it
    gc.collect()
    qInstallMessageHandler(previous)
    if seen:
        pytest.fail("Qt warnings:\n" + "\n".join(seen))


async def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Let the loop (and Qt) run until ``cond()`` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.02)


@dataclass
class Desktop:
    rc: RaceControl
    window: Any
    data_dir: Path

    @property
    def services(self) -> Any:
        return self.rc.services


@contextlib.asynccontextmanager
async def open_desktop(data_dir: Path) -> AsyncIterator[Desktop]:
    """The real app on ``data_dir`` (which may hold an earlier run's data), shown offscreen."""
    _qapp()
    rc, window = await start_app(make_settings(data_dir))
    window.show()
    await asyncio.sleep(0.05)
    try:
        yield Desktop(rc, window, data_dir)
    finally:
        if not window.closed.is_set():
            window.close()
        await stop_app(rc, window)
        assert not tasks.pending()


@pytest.fixture
async def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desktop]:
    """The real app: RaceControl on ports 0 in a tmp data dir, and its main window (shown offscreen)."""
    monkeypatch.setenv("RACE_CONTROL_DESKTOP_PREFS", str(tmp_path / "desktop.json"))
    async with open_desktop(tmp_path / "data") as d:
        yield d
