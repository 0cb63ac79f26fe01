"""The alerts banner and list on the real app's main window (offscreen), fed by the running
instance's own alert board; and the Settings page's experimental features.

The banner shows the newest alert in the worst active severity's colour with "N alerts"; the
list acknowledges; client-supplied text is shown as text, never as markup."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from race_control.config import load_settings
from race_control.flags import FLAGS, Flag
from race_control.ui.alerts_panel import COLOURS
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate

pytestmark = pytest.mark.gui


async def test_the_banner_shows_the_newest_alert_in_its_severity_and_counts_them(
    desktop: Desktop, qtbot: QtBot
) -> None:
    w, board = desktop.window, desktop.services.alerts
    await activate(w)
    banner = w.alerts_banner
    assert not banner.isVisible()
    board.raise_alert("screen_lost", "tv1", "screen <b>TV 1</b> at 10.0.0.7 dropped")
    await until(lambda: banner.isVisible(), what="the banner")
    assert banner.label.text() == "screen <b>TV 1</b> at 10.0.0.7 dropped"  # as typed: plain text
    assert banner.label.textFormat() == Qt.TextFormat.PlainText
    assert banner.title.text() == "Screen lost:" and banner.count.text() == "1 alert"
    assert COLOURS["warning"][1] in banner.styleSheet()

    board.raise_alert("storage_error", "store", "cannot store reads: disk full", severity="critical")
    await until(lambda: banner.count.text() == "2 alerts", what="two alerts")
    assert banner.label.text() == "cannot store reads: disk full" and banner.severity == "critical"
    assert COLOURS["critical"][1] in banner.styleSheet()

    board.clear("storage_error", "store")
    board.clear("screen_lost", "tv1")
    await until(lambda: banner.severity == "resolved", what="all resolved")
    assert banner.isVisible() and banner.count.text() == "2 alerts, 2 resolved"  # kept until acknowledged
    assert "(resolved)" in banner.title.text()


async def test_the_list_acknowledges_alerts_and_the_banner_goes_when_none_is_left(
    desktop: Desktop, qtbot: QtBot
) -> None:
    w, board = desktop.window, desktop.services.alerts
    await activate(w)
    banner = w.alerts_banner
    board.raise_alert("clock_off", "st1", "read time 14:02 is 180 min ahead", since_note="x")
    board.raise_alert("low_disk", "data_dir", "only 0.4 GiB free")
    board.clear("low_disk", "data_dir")
    await until(lambda: banner.count.text() == "2 alerts, 1 resolved", what="the banner")

    qtbot.mouseClick(banner.open_button, Qt.MouseButton.LeftButton)
    dialog = banner.dialog
    assert dialog is not None
    await until(lambda: dialog.isVisible(), what="the alerts list")
    table = dialog.table
    assert table.rowCount() == 2
    rows = {table.item(r, 1).text(): [table.item(r, c).text() for c in range(6)] for r in range(2)}
    assert (
        rows["Clock far off"][0] == "warning"
        and rows["Clock far off"][2] == "read time 14:02 is 180 min ahead"
    )
    assert rows["Clock far off"][4:] == ["1", "active"]
    assert rows["Low disk space"][5] == "resolved"

    qtbot.mouseClick(dialog.ack_buttons["low_disk:data_dir"], Qt.MouseButton.LeftButton)
    await until(lambda: table.rowCount() == 1, what="one row left")
    assert [a.id for a in board.alerts()] == ["clock_off:st1"]
    await until(lambda: banner.count.text() == "1 alert", what="the banner counts one")

    board.raise_alert("screen_lost", "tv9", "screen tv9 dropped")  # arrives while the list is open
    await until(lambda: table.rowCount() == 2, what="the list follows the board")
    qtbot.mouseClick(dialog.ack_all_button, Qt.MouseButton.LeftButton)
    await until(lambda: not banner.isVisible(), what="the banner hidden")
    assert board.alerts() == [] and table.rowCount() == 0 and dialog.empty.isVisible()
    # acknowledged while its condition still holds: hidden, not forgotten
    assert {a.id for a in board.alerts(include_acknowledged=True)} == {"clock_off:st1", "screen_lost:tv9"}


@pytest.fixture
def test_flag(monkeypatch: pytest.MonkeyPatch) -> str:
    """No feature is experimental right now (central_sync retired): register one, before the
    desktop (and its Settings page) is made."""
    monkeypatch.setitem(FLAGS, "test_flag", Flag("test_flag", "A flag the tests register"))
    return "test_flag"


async def test_settings_turns_an_experimental_feature_on_in_the_settings_file(
    test_flag: str, desktop: Desktop, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RACE_CONTROL_FEATURES", raising=False)
    w = desktop.window
    st = w.settings_page
    await activate(w)
    assert w.go(w.pages.index(st))
    box = st.feature_boxes[test_flag]
    assert not box.isChecked() and "A flag the tests register" in box.text()
    assert not st.features_env.isVisible()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))  # the tick box
    assert box.isChecked()
    qtbot.mouseClick(st.primary, Qt.MouseButton.LeftButton)
    await until(lambda: "take effect when you restart" in st.message.text(), what="saved")
    saved = json.loads((desktop.data_dir / "settings.json").read_text("utf-8"))
    assert saved["features"] == {test_flag: True}
    assert load_settings(desktop.data_dir).features == {test_flag: True}

    monkeypatch.setenv("RACE_CONTROL_FEATURES", f"-{test_flag}")
    st.entered()  # coming back to the page reads the file again, and names the override
    assert box.isChecked()
    assert st.features_env.isVisible() and f"RACE_CONTROL_FEATURES=-{test_flag}" in st.features_env.text()


async def test_an_alert_tooltip_shows_client_text_as_sent_not_as_markup(
    desktop: Desktop, qtbot: QtBot
) -> None:
    w, board = desktop.window, desktop.services.alerts
    await activate(w)
    banner = w.alerts_banner
    board.raise_alert("stream_claimed", "st9", "client <b>SimpleClient</b> <img src=x> claimed the stream")
    await until(lambda: banner.isVisible(), what="the banner")
    qtbot.mouseClick(banner.open_button, Qt.MouseButton.LeftButton)
    dialog = banner.dialog
    assert dialog is not None
    await until(lambda: dialog.table.rowCount() == 1, what="the alerts list")
    tip = dialog.table.item(0, 2).toolTip()
    # Qt renders a tooltip that looks like markup as rich text: the client's tags must arrive escaped
    assert "<b>" not in tip and "<img" not in tip
    assert "&lt;b&gt;SimpleClient&lt;/b&gt;" in tip


def test_a_stream_that_claimed_another_ones_id_is_marked_suspect_in_the_streams_table() -> None:
    from race_control.timing.ingest.streams import StreamState
    from race_control.ui.streams_table import stream_state

    claimed = StreamState(id="s2", protocol="ctp01", source_key="abc@10.0.0.9", connections=1, suspect=True)
    assert stream_state(claimed).startswith("⚠ Suspect")
    normal = StreamState(id="s1", protocol="ctp01", source_key="abc", connections=1)
    assert stream_state(normal) == "● Connected"
