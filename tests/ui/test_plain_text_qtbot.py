"""Text that comes from outside — a timing client's event name, an event's name — is shown as
text in the desktop's labels, never as Qt rich text (a QLabel's default AutoText renders
anything that looks like HTML: ``<img src=x>`` would become an image request)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGui
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from race_control.timing.simulator.playback import simulate
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate

pytestmark = pytest.mark.gui

HOSTILE = "<b>x</b><img src=x>"


def shown(label: QLabel) -> str:
    """What ``label`` puts on the screen, decided the way QLabel decides it."""
    text, fmt = label.text(), label.textFormat()
    if fmt == Qt.TextFormat.PlainText or (fmt == Qt.TextFormat.AutoText and not QtGui.mightBeRichText(text)):
        return text
    doc = QTextDocument()
    doc.setHtml(text)
    return doc.toPlainText()


async def test_a_hostile_stream_and_event_name_show_literally(
    desktop: Desktop, qtbot: QtBot, tmp_path: Path
) -> None:
    w = desktop.window
    w.flow.set_user("")
    event = await desktop.services.events.create_event(
        {"name": f"City {HOSTILE}", "date": "2021-05-08", "timezone": "UTC"}
    )
    w.flow.set_event(event.id)
    await activate(w)
    tm = w.timing_page
    assert w.go(w.pages.index(tm))
    reads = tmp_path / "race.ctp"
    reads.write_text("CT01_33~1~FINISH~101~10:00:01.00~1~0F2A38~1\n", "utf-8")
    await simulate(
        "127.0.0.1", desktop.rc.timing_port, [reads], speed=50, event_name=HOSTILE, connection_id="html"
    )
    await until(lambda: tm.streams.rowCount() == 1 and tm.streams.selected_stream(), what="the stream")
    await until(lambda: HOSTILE in tm.preview_title.text(), what="the stream's title")
    assert HOSTILE in shown(tm.preview_title)
    await until(lambda: w.flow.session is not None, what="the display session")
    tm._session_info()
    assert f"City {HOSTILE}" in shown(tm.session_label)
    dp = w.display_page
    assert w.go(w.pages.index(dp))
    await until(lambda: HOSTILE in dp.sessions_panel.sessions_title.text(), what="the sessions title")
    assert shown(dp.sessions_panel.sessions_title) == f"Display sessions — City {HOSTILE}"
