"""Screenshots of the central-sync widgets: Settings' Central sync box (no keyring: the insecure
warning) on the real app, and the sync panel and status-bar indicator showing an offline round
with a backlog.  Saved under the test's tmp dir; ``RC_UPDATE_SCREENSHOTS=1`` copies them into
docs/screenshots/ (ui-sync-settings.png, ui-sync-panel.png, ui-sync-statusbar.png)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
from pytestqt.qtbot import QtBot

from race_control.ui.sync_panel import SyncDialog, SyncIndicator
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, retype
from tests.ui.test_sync_panel_qtbot import IDLE, ManualSync

pytestmark = pytest.mark.gui

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RACE_CONTROL_CENTRAL_PASSWORD", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def save(widget: object, tmp_path: Path, name: str) -> Path:
    image = widget.grab()  # type: ignore[attr-defined]
    assert not image.isNull() and image.width() > 200 and image.height() > 15
    path = tmp_path / name
    assert image.save(str(path))
    if os.environ.get("RC_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, DOCS / name)
    return path


async def test_screenshots(desktop: Desktop, qtbot: QtBot, tmp_path: Path, no_keyring: None) -> None:
    w = desktop.window
    w.resize(1280, 720)  # a laptop (tests/ui/test_fits_laptop_qtbot.py)
    await activate(w)
    page = w.settings_page
    assert w.go(w.pages.index(page))
    group = page.central
    retype(qtbot, group.url, "postgresql://rc_central_p_3f9a1c@central.example.com:5432/rc_central")
    retype(qtbot, group.password, "not-shown")
    page.press_primary()
    await until(lambda: group.warning.isVisible(), what="the insecure warning")
    group._result("ok", "OK: connected to rc_central as timing partner Finish Line Timing.")
    page.scroll.ensureWidgetVisible(group)
    await until(
        lambda: group.visibleRegion().boundingRect().height() == group.height(), what="scrolled to it"
    )
    label = group.warning  # as tall as its wrapped lines need: no line clipped
    assert label.height() >= label.heightForWidth(label.width()), (
        label.height(),
        label.heightForWidth(label.width()),
    )
    save(group, tmp_path, "ui-sync-settings.png")

    now = time.time()
    sync = ManualSync(
        replace(
            IDLE,
            state="offline",
            central="postgresql://rc_central_p_3f9a1c@central.example.com:5432/rc_central",
            backlog=1234,
            backlog_since=now - 185,
            last_success=now - 240,
            last_error='central database unreachable: connection to server at "central.example.com" '
            "(203.0.113.7), port 5432 failed: Connection refused",
            last_error_at=now - 4,
            next_attempt=now + 16,
            pushed=48_210,
            pulled=37,
        )
    )
    dialog = SyncDialog(sync)
    qtbot.addWidget(dialog)
    dialog.show()
    await until(lambda: dialog.panel.ticker.isActive(), what="the panel is shown")
    save(dialog, tmp_path, "ui-sync-panel.png")
    dialog.panel.detach()

    indicator = SyncIndicator(sync)  # in place of the app's own (off: no central URL here)
    w.sync_indicator.hide()
    w.statusBar().addPermanentWidget(indicator)
    await until(lambda: indicator.isVisible(), what="the indicator")
    save(w.statusBar(), tmp_path, "ui-sync-statusbar.png")
    indicator.detach()
