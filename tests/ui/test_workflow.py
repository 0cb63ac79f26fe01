"""The timer's whole workflow, offscreen, against a real embedded Race Control and a simulated
ChronoTrack SimpleClient (real CTP01 over TCP): login → mode → event (+ roster CSV through the
import dialog) → template → timing picker (live preview, bind, rules) → display mode (the URL
serves the page, a finisher reaches a WebSocket, the screen is listed) → analytics → settings → close.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from race_control.config import load_settings
from race_control.timing.simulator.playback import simulate
from tests.ui.conftest import Desktop, until

pytestmark = pytest.mark.gui

ROSTER = """Bib,First Name,Last Name,City,State,Age Group
101,Ann,Lee,Boise,ID,F30-39
102,Bo,Chen,Denver,CO,M40-49
103,Cy,Diaz,Provo,UT,M20-29
,No,Bib,Nowhere,XX,
"""
# CT01_33~seq~location~tag~time~lap~reader~gator: 101 twice (a duplicate), 4321 is not in the roster
READS = [
    "CT01_33~1~FINISH~101~10:00:01.00~1~0F2A38~1",
    "CT01_33~2~FINISH~102~10:00:02.00~1~0F2A38~1",
    "CT01_33~3~FINISH~101~10:00:03.00~1~0F2A38~2",
    "CT01_33~4~FINISH~4321~10:00:04.00~1~0F2A38~1",
    "CT01_33~5~FINISH~103~10:00:05.00~1~0F2A38~1",
]


def write_inputs(tmp: Path) -> tuple[Path, Path]:
    roster = tmp / "roster.csv"
    roster.write_text(ROSTER, "utf-8")
    stream = tmp / "race.ctp"
    stream.write_text("\n".join(READS) + "\n", "utf-8")
    return roster, stream


async def test_whole_workflow(desktop: Desktop, tmp_path: Path) -> None:
    assert isinstance(asyncio.get_running_loop(), qasync.QEventLoop)  # Qt's loop, as in the app
    w, services = desktop.window, desktop.services
    roster_csv, stream_file = write_inputs(tmp_path)

    # --- 1. login: first run creates a local account (only a verifier is stored); Enter submits
    login = w.login_page
    await until(lambda: login.creating, what="first-run account form")
    login.username.setText("timer@finish")
    login.password.setText("correct horse")
    login.confirm.setText("correct horse")
    login.confirm.setFocus()
    QTest.keyClick(login.confirm, Qt.Key.Key_Return)
    await until(lambda: w.flow.user == "timer@finish", what="logged in")
    assert await services.accounts.verify("timer@finish", "correct horse")
    await until(lambda: w.page() is w.mode_page)

    # --- 2. mode: results (key 2 = pre-race, key 1 = results)
    w.mode_page.choose("pre-race")
    assert w.flow.mode == "pre-race"
    w.mode_page.choose("results")
    w.mode_page.press_primary()
    await until(lambda: w.page() is w.event_page)

    # --- 3. event: create it, import the roster through the dialog while a ChronoTrack client connects
    ev = w.event_page
    ev.name.setText("City 10K")
    ev.create_button.click()
    await until(lambda: ev.selected_id() and services.events.events(), what="event created")
    event_id = ev.selected_id()
    ev.import_button.click()
    dialog = w.roster_dialog
    assert dialog is not None and dialog.isVisible()
    sim = asyncio.create_task(
        simulate(
            "127.0.0.1",
            desktop.rc.timing_port,
            [stream_file],
            speed=4,
            event_name="CITY10K",
            description="City 10K",
            connection_id="ui-test",
        )
    )
    dialog.path.setText(str(roster_csv))
    dialog.preview_button.click()
    await until(lambda: dialog.changes_button.isEnabled(), what="the mapping preview")
    assert dialog.table.rowCount() == 3 and dialog.grid.combos["division"].currentText() == "Age Group"
    assert dialog.errors.rowCount() == 1 and dialog.errors.item(0, 0).text() == "line 5"  # the bib-less row
    assert "3 runners can be imported; 1 row cannot be used" in dialog.message.text()
    dialog.changes_button.click()
    await until(lambda: dialog.import_button.isEnabled(), what="the change preview")
    dialog.import_button.click()
    await until(lambda: dialog.result is not None, what="import finished")
    assert dialog.result["added"] == 3 and len(dialog.result["quarantined"]) == 1
    await until(lambda: services.timing.streams(), what="client connected while the dialog was open")
    dialog.close_button.click()
    await until(lambda: not dialog.isVisible())
    assert len(services.events.roster(event_id)) == 3
    ev.press_primary()
    await until(lambda: w.page() is w.template_page)
    assert w.flow.event_id == event_id

    # --- 4. template: the built-in results template, accent colour changed → the timer's own copy
    tp = w.template_page
    assert tp.builtin
    tp.set_color("accent", "#ff3366")
    tp.heading.setText("CITY 10K — FINISH")
    tp.heading.textEdited.emit("CITY 10K — FINISH")
    tp.press_primary()
    await until(lambda: w.page() is w.timing_page, what="template saved and chosen")
    template = services.templates.get(w.flow.template_id)
    assert not any(t["id"] == template["id"] and t["builtin"] for t in services.templates.list())
    assert template["theme"]["accent"] == "#ff3366"
    assert any(b.get("style", {}).get("background") == "#ff3366" for b in template["blocks"])
    session = w.flow.session
    assert session is not None and session.template_id == template["id"] and session.mode == "results"

    # --- 5. timing picker: the stream appears, its reads arrive in the preview, bind it, set rules
    tm = w.timing_page
    await until(lambda: tm.streams.rowCount() == 1, what="stream listed")
    stream = services.timing.streams()[0]
    tm.streams.select_stream(stream.id)
    assert tm.streams.item(0, 1).text().startswith("SimpleClient")
    assert tm.streams.item(0, 2).text() == "CITY10K"
    await until(lambda: len(tm.preview.text_rows()) == 5, what="live preview rows")
    rows = tm.preview.text_rows()
    assert any("Bib 4321" in r[3] and "unknown" in r[3] for r in rows)
    assert any(r[3] == "Ann Lee" for r in rows)
    assert all(r[5] == "not bound to the display" for r in rows)
    await sim
    tm.bind_button.click()
    await until(lambda: stream.id in session.streams, what="bound")
    await until(
        lambda: any(r[5].startswith("duplicate") for r in tm.preview.text_rows()), what="decisions shown"
    )
    rows = tm.preview.text_rows()
    assert sum(r[5].startswith("shown") for r in rows) == 4  # 101, 102, 4321 (unknown), 103
    assert any("as unknown bib" in r[5] for r in rows)
    assert tm.streams.item(0, 7).text() == "✓ bound"
    assert tm.streams.item(0, 5).text() == "5"
    tm.rules_form.locations.setText("FINISH")
    tm.rules_form.window_s.setValue(60)
    tm.rules_form.apply_rules_button.click()
    await until(lambda: session.rules.duplicate_window == 60, what="rules applied")
    assert session.rules.locations == ("FINISH",)
    await until(lambda: "Re-ran the stored reads" in tm.rules_form.rules_summary.text())
    tm.press_primary()
    await until(lambda: w.page() is w.display_page)

    # --- 6. display mode: URL + QR; the page is served; a screen gets finishers over the WebSocket
    dp = w.display_page
    await until(lambda: dp.url.text(), what="display URL")
    url = dp.url.text()
    assert url == services.display_url(session)
    assert dp.qr.matrix and len(dp.qr.matrix) >= 21
    await until(lambda: len(dp.feed.text_rows()) == 4, what="finisher feed")
    feed = dp.feed.text_rows()
    assert feed[-1][2] == "Ann Lee" and any(r[2] == "Bib 4321" and "unknown" in r[6] for r in feed)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            assert r.status == 200
            assert "rc-config" in await r.text()
        async with http.ws_connect(url + "/ws") as ws:
            await ws.send_json(
                {"type": "resume", "after_seq": 0, "screen_id": "a" * 24, "viewport": [1920, 1080]}
            )
            finishers = []
            while len(finishers) < 4:
                msg = json.loads((await ws.receive(timeout=5)).data)
                if msg["type"] == "finisher":
                    finishers.append(msg)
            assert [f["name"] for f in finishers] == ["Ann Lee", "Bo Chen", "Bib 4321", "Cy Diaz"]
            await until(lambda: dp.screens_panel.screens.rowCount() == 1, what="screen listed")
            assert dp.screens_panel.screens.item(0, 1).text() == "127.0.0.1"
            dp.screens_panel.screens.selectRow(0)
            dp.screens_panel.reload_button.click()
            while True:
                msg = json.loads((await ws.receive(timeout=5)).data)
                if msg["type"] == "reload":
                    break
        await until(lambda: dp.screens_panel.screens.rowCount() == 0, what="screen gone")

    # --- 7. analytics: counts, charts, CSV export
    w.go(w.pages.index(w.analytics_page))
    an = w.analytics_page
    await until(lambda: an.report is not None, what="analytics")
    assert an.tiles["reads"].value == "5"
    assert an.tiles["finishers"].value == "4"
    assert an.tiles["unknown"].value == "1"
    assert an.tiles["duplicates"].value == "1"
    assert an.reads_chart.points and an.finishers_chart.points
    out = await an.export(tmp_path / "analytics.csv")
    assert "minute,reads,finishers" in out.read_text("utf-8")

    # --- 8. settings persist (for the next start)
    w.go(w.pages.index(w.settings_page))
    st = w.settings_page
    st.http_port.setValue(8099)
    st.timing_port.setValue(61612)
    st.public_host.setEditText("10.1.2.3")
    st.press_primary()
    await until(lambda: "restart" in st.message.text(), what="saved")
    saved = load_settings(desktop.data_dir)
    assert (saved.http_port, saved.timing_port, saved.public_host) == (8099, 61612, "10.1.2.3")

    # --- 9. close: the main coroutine's event is set; the fixture stops everything and checks
    assert not w.error_panel.isVisible()
    w.close()
    assert w.closed.is_set()
