"""The sync indicator (status bar) and panel: state, backlog, last success and error, Sync now.

The widget tests drive them with ``ManualSync``, a small real object with the sync worker's
interface (``status()``, ``on_status``, ``request()``) whose status the test sets; the last two
run the real app: with no central URL its indicator says "off", and with a real PostgreSQL
(migrated, a partner login) it says "idle" after the worker's first round and again after
Sync now sent a new event.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from race_control.config import Settings
from race_control.sync.status import OFF, SyncStatus
from race_control.ui import tasks
from race_control.ui.main import start_app, stop_app
from race_control.ui.sync_panel import (
    SyncIndicator,
    SyncPanel,
    age_text,
    backlog_text,
    state_text,
    when_text,
)
from tests.conftest import make_settings
from tests.sync.mirror import central_partner
from tests.ui.conftest import Desktop, until

pytestmark = pytest.mark.gui

NOW = 1_780_000_000.0
IDLE = SyncStatus(configured=True, state="idle", central="postgresql://p_1@central:5432/rc")


class ManualSync:
    """The sync worker's interface, with the status set by the test."""

    def __init__(self, status: SyncStatus) -> None:
        self.current = status
        self.on_status: list[Any] = []
        self.requests = 0

    def status(self) -> SyncStatus:
        return self.current

    def request(self) -> None:
        self.requests += 1

    def publish(self, status: SyncStatus) -> None:
        self.current = status
        for listener in list(self.on_status):
            listener(status)


def test_durations_backlog_and_times_read_as_people_say_them() -> None:
    assert [age_text(s) for s in (0, 12.7, 59, 60, 185, 3599, 3600, 7500, 86400, 100000)] == [
        "0 s", "12 s", "59 s", "1 min", "3 min", "59 min", "1 h", "2 h 5 min", "1 d", "1 d 3 h",
    ]  # fmt: skip
    assert backlog_text(IDLE, NOW) == "nothing waiting"
    st = replace(IDLE, backlog=1234, backlog_since=NOW - 185)
    assert backlog_text(st, NOW) == "1,234 rows, oldest 3 min"
    assert backlog_text(replace(st, backlog=1, backlog_since=NOW - 5), NOW) == "1 row, oldest 5 s"
    assert backlog_text(replace(st, backlog_since=None), NOW) == "1,234 rows"
    assert when_text(None, NOW) == "never"
    assert when_text(NOW - 120, NOW) == time.strftime("%H:%M:%S", time.localtime(NOW - 120)) + " (2 min ago)"
    assert when_text(NOW - 3 * 86400, NOW).startswith(
        time.strftime("%Y-%m-%d", time.localtime(NOW - 3 * 86400))
    )


def test_each_state_has_its_sentence() -> None:
    assert state_text(OFF, NOW).startswith("Off — no central database")
    assert state_text(IDLE, NOW) == "Idle — up to date"
    assert state_text(replace(IDLE, backlog=3), NOW) == "Idle — the rest goes in the next round"
    assert state_text(replace(IDLE, state="syncing"), NOW) == "Syncing…"
    offline = replace(IDLE, state="offline", next_attempt=NOW + 20)
    assert state_text(offline, NOW) == "Offline — the central database cannot be reached; retrying in 20 s"
    error = replace(IDLE, state="error", next_attempt=NOW + 300)
    assert state_text(error, NOW) == "Error — the central database refused; retrying in 5 min"
    assert state_text(replace(error, next_attempt=NOW - 1), NOW).endswith("retrying now")


def test_the_panel_shows_the_status_and_follows_each_new_one(qtbot: QtBot) -> None:
    sync = ManualSync(IDLE)
    panel = SyncPanel(sync)
    qtbot.addWidget(panel)
    assert panel.state.text() == "Idle — up to date" and panel.backlog.text() == "nothing waiting"
    assert panel.central.text() == "postgresql://p_1@central:5432/rc"
    assert panel.last_success.text() == "never" and panel.last_error.text() == "none"
    assert panel.sync_now.isEnabled() and len(sync.on_status) == 1

    now = time.time()
    sync.publish(
        replace(
            IDLE,
            state="offline",
            backlog=1234,
            backlog_since=now - 185,
            last_success=now - 600,
            last_error="central database unreachable: connection refused",
            last_error_at=now - 10,
            next_attempt=now + 30,
            pushed=5000,
        )
    )
    qtbot.waitUntil(lambda: panel.state.text().startswith("Offline"), timeout=2000)
    assert panel.backlog.text() == "1,234 rows, oldest 3 min"
    assert panel.last_success.text().endswith("(10 min ago)")
    assert panel.last_error.text().startswith("central database unreachable: connection refused (at ")
    assert "#b71c1c" in panel.last_error.styleSheet()
    assert panel.counts.text() == "5,000 rows sent, 0 received from other laptops"

    sync.publish(replace(IDLE, state="syncing"))
    qtbot.waitUntil(lambda: panel.state.text() == "Syncing…", timeout=2000)
    assert not panel.sync_now.isEnabled()  # one round at a time


def test_sync_now_asks_the_worker_for_a_round(qtbot: QtBot) -> None:
    sync = ManualSync(replace(IDLE, backlog=10))
    panel = SyncPanel(sync)
    qtbot.addWidget(panel)
    qtbot.mouseClick(panel.sync_now, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.sync_now, Qt.MouseButton.LeftButton)
    assert sync.requests == 2


def test_off_has_nothing_to_sync_now(qtbot: QtBot) -> None:
    sync = ManualSync(OFF)
    panel = SyncPanel(sync)
    qtbot.addWidget(panel)
    assert panel.state.text().startswith("Off — no central database")
    assert not panel.sync_now.isEnabled()
    qtbot.mouseClick(panel.sync_now, Qt.MouseButton.LeftButton)
    assert sync.requests == 0


def test_a_status_from_the_worker_thread_reaches_the_widgets_and_markup_stays_text(qtbot: QtBot) -> None:
    sync = ManualSync(IDLE)
    panel = SyncPanel(sync)
    qtbot.addWidget(panel)
    error = replace(IDLE, state="error", last_error="central database refused: <b>bad</b> row")
    worker = threading.Thread(target=sync.publish, args=(error,))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: panel.state.text().startswith("Error"), timeout=2000)
    assert panel.last_error.text() == "central database refused: <b>bad</b> row"
    assert panel.last_error.textFormat() == Qt.TextFormat.PlainText


def test_the_indicator_shows_state_and_backlog_and_opens_the_panel(qtbot: QtBot) -> None:
    sync = ManualSync(IDLE)
    indicator = SyncIndicator(sync)
    qtbot.addWidget(indicator)
    assert indicator.text() == "● Sync: idle"
    sync.publish(replace(IDLE, state="offline", backlog=1234, backlog_since=time.time() - 185))
    qtbot.waitUntil(lambda: indicator.text() == "● Sync: offline · 1,234 waiting", timeout=2000)
    assert "#a15c00" in indicator.styleSheet()
    assert "1,234 rows, oldest 3 min" in indicator.toolTip()
    qtbot.mouseClick(indicator, Qt.MouseButton.LeftButton)
    assert indicator.dialog is not None and indicator.dialog.isVisible()
    panel = indicator.dialog.panel
    assert panel.state.text().startswith("Offline") and panel.ticker.isActive()
    qtbot.mouseClick(panel.sync_now, Qt.MouseButton.LeftButton)
    assert sync.requests == 1
    indicator.detach()
    assert sync.on_status == []  # both stopped listening
    assert not indicator.dialog.isVisible()


@contextlib.asynccontextmanager
async def desktop_with(settings: Settings) -> AsyncIterator[Any]:
    """The real app and its window (offscreen) on ``settings``."""
    rc, window = await start_app(settings)
    window.show()
    try:
        yield rc, window
    finally:
        if not window.closed.is_set():
            window.close()
        await stop_app(rc, window)
        assert not tasks.pending()


async def test_the_real_app_without_a_central_url_shows_sync_off(desktop: Desktop) -> None:
    w = desktop.window
    assert desktop.services.settings.central_url == ""
    assert desktop.services.sync.status().state == "off"
    assert w.sync_indicator.text() == "● Sync: off"
    w.sync_indicator.click()
    panel = w.sync_indicator.dialog.panel
    assert panel.state.text().startswith("Off — no central database")
    assert not panel.sync_now.isEnabled()


@pytest.mark.postgres
async def test_the_real_app_with_a_central_database_shows_idle_after_a_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RACE_CONTROL_DESKTOP_PREFS", str(tmp_path / "desktop.json"))
    with central_partner() as central:
        st = make_settings(
            tmp_path / "data", central_url=central.url, central_retry_min=0.05, central_retry_max=0.3
        )
        async with desktop_with(st) as (rc, w):
            indicator = w.sync_indicator
            await until(lambda: rc.services.sync.status().last_success, what="the first round")
            await until(lambda: indicator.text() == "● Sync: idle", what="the indicator says idle")
            indicator.click()
            panel = indicator.dialog.panel
            assert panel.state.text() == "Idle — up to date" and panel.backlog.text() == "nothing waiting"
            assert panel.last_success.text().endswith("ago)") and panel.last_error.text() == "none"
            assert "@" in panel.central.text() and urlsplit(central.url).password not in panel.central.text()

            await rc.services.ops.roster.create_event(
                {"name": "City 10K", "date": "2026-06-01", "timezone": "UTC"}
            )
            panel.sync_now.click()
            await until(
                lambda: panel.counts.text() != "0 rows sent, 0 received from other laptops", what="sent"
            )
            await until(lambda: panel.state.text() == "Idle — up to date", what="idle again")
            assert rc.services.sync.status().backlog == 0
