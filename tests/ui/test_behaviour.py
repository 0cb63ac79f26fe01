"""Behaviour around the workflow: errors are shown, login paths, long imports stay responsive
and cancel, pre-race → results, controller-file import, and the real main coroutine's shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest
from PySide6.QtCore import qWarning
from PySide6.QtWidgets import QApplication

from race_control.paths import resources_dir
from race_control.ui import tasks
from race_control.ui.main import amain
from race_control.ui.window import MainWindow
from tests.conftest import make_settings
from tests.ui.conftest import Desktop, until

pytestmark = pytest.mark.gui


def test_a_qt_warning_is_recorded(qt_warnings_fail: list[str]) -> None:
    qWarning("something is off")
    assert qt_warnings_fail == ["QtWarningMsg: something is off"]
    qt_warnings_fail.clear()  # recorded, so it would have failed this test


async def test_an_exception_in_a_slot_is_logged_and_shown(
    desktop: Desktop, caplog: pytest.LogCaptureFixture
) -> None:
    w = desktop.window

    async def broken() -> None:
        raise RuntimeError("the disk is on fire")

    caplog.set_level(logging.ERROR, logger="race_control.ui")
    tasks.spawn(broken())
    await until(lambda: w.error_panel.isVisible(), what="error panel")
    assert "the disk is on fire" in w.error_panel.label.text()
    assert "RuntimeError" in w.error_panel.details.toPlainText()
    assert any("the disk is on fire" in r.getMessage() for r in caplog.records)
    w.error_panel.dismiss()
    assert not w.error_panel.isVisible()


async def test_login_paths(desktop: Desktop) -> None:
    w, services = desktop.window, desktop.services
    await services.accounts.create("ann", "long enough")
    w.login_page.set_creating(False)
    w.login_page.username.setText("ann")
    w.login_page.password.setText("wrong password")
    w.login_page.press_primary()
    await until(lambda: w.login_page.message.isVisible())
    assert "wrong password" in w.login_page.message.text()
    assert not w.flow.logged_in
    assert not w.go(w.pages.index(w.event_page))  # locked until logged in
    w.login_page.set_creating(True)  # a second account: too short a password is refused, named
    w.login_page.username.setText("bo")
    w.login_page.password.setText("short")
    w.login_page.confirm.setText("short")
    w.login_page.press_primary()
    await until(lambda: "at least 8" in w.login_page.message.text())
    w.login_page.local_button.click()
    assert w.flow.user == "" and w.flow.logged_in
    assert w.page() is w.mode_page
    assert "local mode" in w.user_label.text()


class LoopWatch:
    """Records ``loop.time()`` every 10 ms while it is entered; the largest gap between two
    records is the longest the loop was held by anything (a blocking call stalls this task)."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.ticks.append(loop.time())
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0)  # the first record is taken before the action starts
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self.ticks.append(asyncio.get_running_loop().time())  # up to the end of the action
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def worst_stall(self) -> float:
        return max(b - a for a, b in zip(self.ticks, self.ticks[1:], strict=False))


async def test_prerace_switch_and_imported_controller_files(desktop: Desktop) -> None:
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    w.flow.set_mode("pre-race")
    event = await services.events.create_event(
        {"name": "Mountain run", "date": "2021-05-08", "timezone": "UTC"}
    )
    w.flow.set_event(event.id)
    await w.flow.ensure_session()
    assert w.go(w.pages.index(w.timing_page))
    tm = w.timing_page
    tm.import_path.setText(str(resources_dir() / "demo" / "chronotrack-2021" / "9K"))
    tm.import_button.click()
    await until(lambda: tm.streams.rowCount() == 1, what="imported stream", timeout=20)
    # the file's stream shows "● Connected" while its reads go in, then "Imported"
    await until(lambda: tm.streams.item(0, 4).text() != "● Connected", what="import done", timeout=20)
    assert tm.streams.item(0, 4).text() == "Imported"
    assert tm.streams.item(0, 5).text() == "849"
    assert w.go(w.pages.index(w.display_page))
    dp = w.display_page
    await until(lambda: "PRE-RACE" in dp.mode_label.text())
    dp.switch_button.click()
    await until(lambda: w.flow.session.mode == "results", what="switched")
    await until(lambda: "RESULTS" in dp.mode_label.text())
    assert w.flow.mode == "results"


async def test_main_coroutine_shuts_down_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_CONTROL_DESKTOP_PREFS", str(tmp_path / "desktop.json"))
    settings = make_settings(tmp_path / "data")
    main = asyncio.ensure_future(amain(settings))

    def window() -> MainWindow | None:
        return next(
            (x for x in QApplication.topLevelWidgets() if isinstance(x, MainWindow) and x.isVisible()), None
        )

    win = await until(window, what="main window")
    assert (settings.data_dir / "server.json").is_file()
    win.close()
    assert await asyncio.wait_for(main, 15) == 0
    assert not (settings.data_dir / "server.json").exists()  # RaceControl.stop ran
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not others, others


def test_no_screen_gives_a_clear_message_instead_of_a_qt_abort() -> None:
    from race_control.ui.main import display_problem

    assert "race-control serve" in display_problem({}, "linux")
    assert display_problem({"DISPLAY": ":0"}, "linux") == ""
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == ""
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") == ""
    assert display_problem({}, "darwin") == ""
