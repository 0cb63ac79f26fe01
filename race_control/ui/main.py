"""Entry point of the desktop app: the same services as ``race-control serve``, on qasync's loop.

Start-up: settings (``--data-dir`` / env / the data dir chosen in Settings), logging,
``QApplication`` with ``setQuitOnLastWindowClosed(False)``, then one main coroutine
that starts ``RaceControl``, shows the window and waits for it to close; then it
cancels the widgets' coroutines and stops the services (reads flushed, screens
closed, store closed).  qasync's loop (``ui/event_loop.py``) is used as ``with loop:
loop.run_until_complete(...)``, never ``qasync.run`` (docs/developer-notes.md#qt-pyside6-612).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from race_control.app import RaceControl
from race_control.config import ENV_DATA_DIR, Settings, load_settings
from race_control.errors import RaceControlError
from race_control.ui import tasks
from race_control.ui.prefs import preferred_data_dir

log = logging.getLogger("race_control.ui")


async def start_app(settings: Settings) -> tuple[RaceControl, object]:
    """Start the services and open the main window (on the running qasync loop)."""
    from race_control.ui.window import MainWindow

    rc = RaceControl(settings)
    try:
        await rc.start()
    except BaseException:
        await rc.stop()
        raise
    window = MainWindow(rc)
    return rc, window


async def stop_app(rc: RaceControl, window: object) -> None:
    """Shut down in reverse order: widget coroutines, services, then the window's hooks."""
    await tasks.cancel_all()
    try:
        await rc.stop()
    finally:
        window.excepthook.uninstall()  # type: ignore[attr-defined]
        window.deleteLater()  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        log.info("desktop app stopped; all reads stored")


async def amain(settings: Settings) -> int:
    from race_control.heap import freeze_startup_heap
    from race_control.stall_watch import StallWatch

    try:
        rc, window = await start_app(settings)
    except OSError as exc:
        log.error("cannot start: %s", exc)
        await _tell(
            f"Race Control cannot start: {exc}.\n\nAnother program may be using the port. "
            f"Change the ports in {settings.data_dir / 'settings.json'} (or start with another --data-dir)."
        )
        return 2
    except RaceControlError as exc:  # data dir in use, database damaged or newer, storage failed
        log.error("cannot start: %s", exc)
        await _tell(f"Race Control cannot start: {exc}")
        return 2
    freeze_startup_heap()  # full collections walk only what was made after start-up (heap.py)
    watch = StallWatch(settings.log_dir / "stalls.log")  # stacks of a stalled loop
    watch.start()
    try:
        window.show()  # type: ignore[attr-defined]
        await window.closed.wait()  # type: ignore[attr-defined]
    finally:
        await watch.stop()
    await stop_app(rc, window)
    return 0


async def _tell(text: str) -> None:
    """A message box that does not block the loop (never a modal exec() inside a coroutine)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    done = asyncio.Event()
    box = QMessageBox(QMessageBox.Icon.Critical, "Race Control", text)
    box.setTextFormat(Qt.TextFormat.PlainText)  # paths and messages are text, never markup
    box.finished.connect(lambda *_: done.set())
    box.open()
    await done.wait()
    box.deleteLater()


def gui_settings(args: argparse.Namespace) -> Settings:
    data_dir = getattr(args, "gui_data_dir", None) or None
    if data_dir is None and not os.environ.get(ENV_DATA_DIR):
        data_dir = preferred_data_dir()
    return load_settings(Path(data_dir) if data_dir else None)


def display_problem(env: Mapping[str, str], platform: str) -> str:
    """Why the window cannot open here, in words a timer understands ("" when it can).
    Without this, Qt aborts the process with a plugin error on a machine with no screen."""
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return ""
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return ""
    return (
        "no screen to open the desktop app on (DISPLAY is not set). On a machine without a screen "
        "run `race-control serve` (or `race-control demo`); over SSH use `ssh -X`."
    )


def run_gui(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    from race_control.logging_setup import configure_logging
    from race_control.ui.event_loop import EventLoop

    try:
        settings = gui_settings(args)
    except ValueError as exc:
        print(f"race-control: {exc}", file=sys.stderr)
        return 2
    problem = display_problem(os.environ, sys.platform)
    if problem:
        print(f"race-control: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_dir, verbose=bool(getattr(args, "verbose", False)))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Race Control")
    app.setOrganizationName("RaceControl")
    app.setStyle("Fusion")
    app.setQuitOnLastWindowClosed(False)  # the main coroutine ends the app, after cleanup
    loop = EventLoop(app)
    asyncio.set_event_loop(loop)

    def close_windows(*_: object) -> None:
        """Ctrl-C / SIGTERM: close the window, so the same clean shutdown runs."""
        loop.call_soon_threadsafe(lambda: [w.close() for w in app.topLevelWidgets() if w.isWindow()])

    signal.signal(signal.SIGINT, close_windows)
    signal.signal(signal.SIGTERM, close_windows)
    with loop:
        return loop.run_until_complete(amain(settings))
