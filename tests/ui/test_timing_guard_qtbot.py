"""Where timing is set up, the desktop says when the timing port is open to the whole network,
and Settings takes an allow-list of timing client networks (offscreen, the real app)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from race_control.config import load_settings
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, retype

pytestmark = pytest.mark.gui
RED = "#b71c1c"


async def test_the_timing_page_recommends_authentication_while_the_port_is_open(desktop: Desktop) -> None:
    w, services = desktop.window, desktop.services
    event = await services.events.create_event({"name": "Open port 5K", "date": "2026-06-01"})
    session = (await services.ops.sessions.create({"event_id": event.id, "mode": "results"})).session
    w.flow.set_user("")
    w.flow.set_session(session.id)
    tm = w.timing_page
    await activate(w)
    assert w.go(w.pages.index(tm))
    assert not tm.exposure.isVisible()  # the tests listen on 127.0.0.1: nobody else can connect

    open_port = replace(services.settings, host="0.0.0.0")  # a run listening on the whole LAN
    services.settings = open_port
    assert w.go(w.pages.index(w.settings_page)) and w.go(w.pages.index(tm))
    await until(tm.exposure.isVisible, what="the recommendation")
    assert "--ctp01-auth" in tm.exposure.text() and "--timing-allow" in tm.exposure.text()

    services.settings = replace(open_port, timing_allow=("192.168.1.0/24",))
    assert w.go(w.pages.index(w.settings_page)) and w.go(w.pages.index(tm))
    await until(lambda: not tm.exposure.isVisible(), what="no recommendation with an allow-list")


async def test_settings_save_the_timing_allow_list_and_refuse_a_bad_network(
    desktop: Desktop, qtbot: QtBot
) -> None:
    w = desktop.window
    st = w.settings_page
    await activate(w)
    assert w.go(w.pages.index(st))
    retype(qtbot, st.timing_allow, "192.168.1.0/24, 10.0.0.5")
    qtbot.mouseClick(st.primary, Qt.MouseButton.LeftButton)
    await until(lambda: "take effect when you restart" in st.message.text(), what="saved")
    assert load_settings(desktop.data_dir).timing_allow == ("192.168.1.0/24", "10.0.0.5")

    st.timing_allow.clear()  # not saved: the page shows the file again when it is entered
    assert w.go(0) and w.go(w.pages.index(st))
    assert st.timing_allow.text() == "192.168.1.0/24, 10.0.0.5"
    retype(qtbot, st.timing_allow, "192.168.1.300/24")
    qtbot.mouseClick(st.primary, Qt.MouseButton.LeftButton)
    await until(
        lambda: st.message.isVisible() and "timing clients allowed from" in st.message.text(),
        what="the message",
    )
    assert RED in st.message.styleSheet() and "192.168.1.300/24" in st.message.text()
    assert load_settings(desktop.data_dir).timing_allow == ("192.168.1.0/24", "10.0.0.5")
