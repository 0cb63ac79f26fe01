"""The History page on the real app, offscreen: past display sessions listed (a closed one among
them) with their numbers, the event filter, one opened read-only (its finishers in their latest
form and the reads it did not show, no way to edit them, the session still closed), a bib found
in every session of its event, and hostile names shown as text.  ``RC_UPDATE_SCREENSHOTS=1``
copies the 1280x720 screenshot into docs/screenshots/history-page.png."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel
from pytestqt.qtbot import QtBot

from race_control.ui.widgets import table_text
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, retype, settle
from tests.ui.test_sync_screenshots import save

pytestmark = pytest.mark.gui

HOSTILE = "<b>Bold</b><script>alert(1)</script>"
RUNNERS = [
    ("101", "Maya", "Okafor"),
    ("102", "Liam", "Brennan"),
    ("103", "Sofia", "Lindqvist"),
    ("104", "Kenji", "Watanabe"),
    ("105", "Amara", "Nwosu"),
    ("106", "Lucas", "Moreau"),
    ("107", "Priya", "Raman"),
    ("108", "Tomás", "Herrera"),
    ("42", HOSTILE, "Lee"),
]


def clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.00"


async def race_day(
    desktop: Desktop, event_name: str, date: str, names: list[str], bibs: list[str], *, gun: bool = False
) -> list[str]:
    """An event with RUNNERS, its display sessions ``names`` all bound to one live stream that
    sends ``bibs`` (one read a second from 09:00:01, then bib 42 again: a duplicate); ``gun``: a
    gun at 08:00:00 first and the finishes from 08:38 on, 37 s apart (elapsed times, places)."""
    s = desktop.services
    event = await s.events.create_event({"name": event_name, "date": date, "timezone": "UTC"})
    people = [{"bib": b, "first_name": f, "last_name": last, "city": "Boise"} for b, f, last in RUNNERS]
    await s.ops.roster.import_participants(event.id, people)
    sessions = [
        (await s.ops.sessions.create({"event_id": event.id, "mode": "results", "name": n})).session.id
        for n in names
    ]
    before = {st.id for st in s.timing.streams()}
    client = await RawCtp01Client.connect(desktop.rc.timing_port)
    try:
        await client.handshake(f"history-{time.monotonic_ns()}")
        stream = await until(lambda: next((st for st in s.timing.streams() if st.id not in before), None))
        for sid in sessions:
            await s.ops.sessions.bind(sid, stream.id)
        at = (lambda n: 8 * 3600 + 38 * 60 + 37 * n) if gun else (lambda n: 9 * 3600 + n)
        lines = [f"CT01_33~{n}~finish~{b}~{clock(at(n))}~1~0FA22E~1\r\n" for n, b in enumerate(bibs, start=1)]
        lines.append(f"CT01_33~{len(bibs) + 1}~finish~42~{clock(at(len(bibs)) + 4)}~1~0FA22E~1\r\n")
        if gun:
            lines.insert(0, f"CT01_33~{len(bibs) + 2}~finish~guntime~{clock(8 * 3600)}~0~0FA22E~0\r\n")
        await client.send("".join(lines).encode())
        await until(
            lambda: all(
                s.sessions.get(sid).finishers == len(bibs) and s.sessions.get(sid).suppressed
                for sid in sessions
            ),
            what="every session decided every read",
        )
    finally:
        await client.close()
    return sessions


async def history_page(desktop: Desktop) -> Any:
    w = desktop.window
    w.flow.set_user("")
    await activate(w)
    assert w.go(w.pages.index(w.history_page)), "History is locked"
    return w.history_page


def rows_of(page: Any) -> list[list[str]]:
    return table_text(page.sessions)


def select_session(page: Any, name: str) -> None:
    row = next(r for r, cells in enumerate(rows_of(page)) if cells[2] == name)
    page.sessions.selectRow(row)


async def test_history_lists_filters_opens_read_only_and_finds_a_bib(desktop: Desktop, qtbot: QtBot) -> None:
    s = desktop.services
    first, _ = await race_day(
        desktop, f"{HOSTILE} 10K", "2026-05-08", ["Wave A", HOSTILE], ["101", "042", "999"]
    )
    await s.ops.sessions.close(first)
    (spring,) = await race_day(desktop, "Spring 5K", "2026-04-12", ["Spring finish"], ["101", "42"])
    page = await history_page(desktop)
    await until(lambda: len(rows_of(page)) == 3, what="three sessions listed")
    rows = {cells[2]: cells for cells in rows_of(page)}
    assert rows["Wave A"][:2] == ["2026-05-08", f"{HOSTILE} 10K"]  # the name as text, tags and all
    assert rows["Wave A"][4:] == ["3", "0", "closed"] and rows[HOSTILE][6] == "open"
    assert "(finish)" in rows["Wave A"][3]
    assert rows["Spring finish"][:2] == ["2026-04-12", "Spring 5K"]

    # the event filter
    page.event_box.setCurrentIndex(page.event_box.findText("2026-04-12  Spring 5K"))
    await until(lambda: [c[2] for c in rows_of(page)] == ["Spring finish"], what="only the Spring 5K")
    page.event_box.setCurrentIndex(page.event_box.findData(s.sessions.get(first).event_id))
    await until(lambda: sorted(c[2] for c in rows_of(page)) == sorted(["Wave A", HOSTILE]), what="the 10K's")
    page.status_box.setCurrentIndex(page.status_box.findData("closed"))
    await until(lambda: [c[2] for c in rows_of(page)] == ["Wave A"], what="only the closed one")
    page.status_box.setCurrentIndex(page.status_box.findData(""))
    await until(lambda: len(rows_of(page)) == 2, what="both again")

    # one opened read-only: finishers in their latest form, the duplicate not shown and why
    await s.ops.roster.import_participants(
        s.sessions.get(first).event_id, [{"bib": "999", "first_name": "Walk-Up"}]
    )
    select_session(page, "Wave A")
    await until(lambda: page.view_label.text().startswith("Read-only · closed session"), what="opened")
    assert [r[:4] for r in table_text(page.finishers)] == [
        ["1", "101", "Maya Okafor", "9:00:01"],
        ["2", "42", f"{HOSTILE} Lee", "9:00:02"],
        ["3", "999", "Walk-Up", "9:00:03"],  # shown as "Bib 999", corrected: its latest form
    ]
    assert [r[7] for r in table_text(page.finishers)] == ["", "", "yes"]
    assert [r[:3] for r in table_text(page.suppressions)] == [["9:00:07", "42", "finish"]]
    assert "duplicate" in table_text(page.suppressions)[0][3]
    for t in (page.sessions, page.finishers, page.suppressions, page.bib_table):
        assert t.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
    page.tabs.setCurrentWidget(page.finishers)
    await settle()
    item = page.finishers.item(1, 2)
    qtbot.mouseDClick(
        page.finishers.viewport(), Qt.MouseButton.LeftButton, pos=page.finishers.visualItemRect(item).center()
    )
    qtbot.keyClicks(page.finishers, "edited")
    await settle()
    assert page.finishers.state() != QAbstractItemView.State.EditingState
    assert table_text(page.finishers)[1][2] == f"{HOSTILE} Lee"
    assert s.sessions.get(first).status == "closed"
    labels = [lb for lb in page.findChildren(QLabel) if HOSTILE in lb.text()]
    assert all(lb.textFormat() == Qt.TextFormat.PlainText for lb in labels), [lb.text() for lb in labels]

    # the open one, then the closed one again: each its own rows
    select_session(page, HOSTILE)
    await until(lambda: "open session" in page.view_label.text(), what="the open one")
    assert page.opened["session"]["name"] == HOSTILE and len(page.opened["finishers"]) == 3
    assert page.finishers.rowCount() == 3 and table_text(page.finishers)[2][2] == "Walk-Up"
    select_session(page, "Wave A")
    await until(lambda: "closed session" in page.view_label.text(), what="the closed one again")
    assert page.opened["session"]["id"] == first

    # a bib across the event's sessions, found as participants' bibs are (leading zeros)
    retype(qtbot, page.bib_field, "0042")
    qtbot.mouseClick(page.find_button, Qt.MouseButton.LeftButton)
    await until(
        lambda: page.tabs.currentWidget() is page.bib_table and page.bib_table.rowCount() == 4, what="bib 42"
    )
    found = table_text(page.bib_table)
    assert [(r[0], r[2], r[3]) for r in found] == [
        ("Wave A", "finish", "9:00:02"),
        ("Wave A", "not shown", "9:00:07"),
        (HOSTILE, "finish", "9:00:02"),
        (HOSTILE, "not shown", "9:00:07"),
    ]
    assert found[0][1] == "closed" and "duplicate" in found[1][6]
    assert page.tabs.tabText(2) == "Bib 42 (4)"
    assert spring not in {a["session_id"] for a in page.bib_answer["appearances"]}
    assert s.sessions.get(first).status == "closed"


async def test_history_page_screenshot(desktop: Desktop, tmp_path: Path) -> None:
    """A realistic page at 1280x720: two race days, the closed LED wall session opened read-only."""
    s = desktop.services
    bibs = [b for b, _, _ in RUNNERS[:8]] + ["1234", "42"]
    day = "Boise Twilight 10K"
    (last_year,) = await race_day(
        desktop, f"{day} 2025", "2025-06-14", ["Finish line"], [*bibs[:5], "42"], gun=True
    )
    await s.ops.sessions.close(last_year)
    led, tent = await race_day(
        desktop, f"{day} 2026", "2026-06-13", ["Finish line — LED wall", "Medal tent TV"], bibs, gun=True
    )
    async with aiohttp.ClientSession() as http:
        screens = []
        for sid, name in ((led, "led-wall-left"), (led, "led-wall-right"), (tent, "tent-tv")):
            url = s.display_url(s.sessions.get(sid)).replace("http", "ws") + "/ws"
            ws = await http.ws_connect(
                url, headers={"User-Agent": "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.5)"}
            )
            await ws.send_json(
                {"type": "resume", "after_seq": 0, "screen_id": name, "viewport": [1920, 1080]}
            )
            screens.append(ws)
        monitor = desktop.rc.monitor
        await until(lambda: monitor.screens_seen.writes >= 1, what="the screens seen written")
        await s.ops.sessions.close(led)
        for ws in screens[:2]:
            await ws.close()
        for alert in s.alerts.alerts():  # the test race's clock is hours off now: not the point here
            s.alerts.acknowledge(alert.id)
        w = desktop.window
        w.resize(1280, 720)
        page = await history_page(desktop)
        await until(lambda: len(rows_of(page)) == 3, what="three sessions")
        select_session(page, "Finish line — LED wall")
        await until(lambda: page.finishers.rowCount() == len(bibs), what="its finishers")
        await until(lambda: w.size().width() == 1280 and not w.alerts_banner.isVisible(), what="1280x720")
        await settle()
        assert {r[2]: r[5] for r in rows_of(page)} == {
            "Finish line — LED wall": "2",
            "Medal tent TV": "1",
            "Finish line": "0",
        }
        save(w, tmp_path, "history-page.png")
        await screens[2].close()
