"""The timing page after a restart, offscreen against the real app: the selected stream's stored
reads (and what the display decided about them) are shown, live reads join them without
duplicates, a wrong controller clock is flagged, and the stream's time zone and date are edited."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QDate

from race_control.app import RaceControl
from race_control.sessions.read_history import recent_reads
from race_control.timing.simulator.playback import simulate
from tests.conftest import make_settings
from tests.ui.conftest import open_desktop, until

pytestmark = pytest.mark.gui

BIBS = ["101", "102", "101", "4321", "103", "104", "105", "106"]  # 101 twice: a duplicate


def far_from_now(timezone: str) -> dt.datetime:
    """A fixed time of day at least six hours from now on a clock in ``timezone`` (far enough to
    look wrong): 18:00 in the morning, 06:00 from noon on.  Reads a few seconds after it never
    cross midnight, whenever the test runs (now + 6 h did, after 18:00)."""
    now = dt.datetime.now(ZoneInfo(timezone))
    return dt.datetime.combine(now.date(), dt.time(18 if now.hour < 12 else 6))


def stream_file(tmp: Path, name: str, count: int) -> Path:
    """CT01_33 reads at least six hours away from now on the stream's clock, one second apart."""
    base = far_from_now(make_settings(tmp).timezone)
    lines = [
        f"CT01_33~{n}~FINISH~{bib}~{(base + dt.timedelta(seconds=n)).strftime('%H:%M:%S')}.00~1~0F2A38~1"
        for n, bib in enumerate(BIBS[:count], start=1)
    ]
    path = tmp / name
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


async def record_a_race(data_dir: Path, tmp: Path) -> tuple[str, str, str]:
    """An earlier run (headless): 5 reads stored, bound to a display session, decisions stored."""
    rc = RaceControl(make_settings(data_dir))
    await rc.start()
    try:
        services = rc.services
        event = await services.events.create_event({"name": "Restarted", "date": "2026-06-01"})
        body = {"event_id": event.id, "mode": "results", "name": "Finish"}
        session = (await services.ops.sessions.create(body)).session
        await simulate(
            "127.0.0.1",
            rc.timing_port,
            [stream_file(tmp, "first.ctp", 5)],
            speed=100,
            connection_id="history",
        )
        stream = await until(lambda: services.timing.streams(), what="stream")
        for _ in range(250):
            if len(await recent_reads(services.store, stream[0].id, 10)) == 5:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the 5 reads were not stored")
        await services.ops.sessions.bind(session.id, stream[0].id)
        await until(lambda: not stream[0].connections, what="the controller gone")
        await services.timing.flush()  # its clock warnings are saved when it disconnects
        return event.id, session.id, stream[0].id
    finally:
        await rc.stop()


async def test_history_live_merge_and_stream_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_CONTROL_DESKTOP_PREFS", str(tmp_path / "desktop.json"))
    data_dir = tmp_path / "data"
    _event_id, session_id, stream_id = await record_a_race(data_dir, tmp_path)

    async with open_desktop(data_dir) as desktop:
        w, services = desktop.window, desktop.services
        w.flow.set_user("")
        w.flow.set_session(session_id)
        assert w.go(w.pages.index(w.timing_page))
        tm = w.timing_page
        await until(lambda: tm.streams.selected_stream() == stream_id, what="the only stream selected")
        assert not w.feed.recent.get(stream_id)  # nothing arrived in this run: the rows come from the store
        await until(lambda: len(tm.preview.text_rows()) == 5, what="stored reads")
        rows = tm.preview.text_rows()
        assert [r[2] for r in rows] == ["103", "4321", "101", "102", "101"]  # newest on top
        assert sum(r[5].startswith("shown") for r in rows) == 4 and rows[2][5].startswith("duplicate")
        # the earlier run's clock warnings survive the restart (they are stored with the stream)
        assert tm.streams.item(0, 8).text() == "⚠ 5" and tm.clock_banner.isVisible()
        assert "5 reads far from now" in tm.clock_banner.text()
        assert tm.clock.timezone.currentText() == "America/New_York"  # the stream's clock settings
        # the stream's date is today where the stream is (New York), not on this machine's clock
        today_there = dt.datetime.now(ZoneInfo("America/New_York")).date()
        assert tm.clock.reference_date.date() == QDate(today_there.year, today_there.month, today_there.day)

        # the controller reconnects and sends everything again plus three new reads: one row each
        await simulate(
            "127.0.0.1",
            desktop.rc.timing_port,
            [stream_file(tmp_path, "again.ctp", 8)],
            speed=100,
            connection_id="history",
        )
        await until(lambda: len(tm.preview.text_rows()) == 8, what="live reads on top")
        rows = tm.preview.text_rows()
        assert [r[2] for r in rows[:3]] == ["106", "105", "104"]
        assert all(r[5].startswith("shown") for r in rows[:3])
        assert len(tm.preview.rows) == len({(r.stream_id, r.location, r.seq) for r in tm.preview.rows}) == 8
        await until(lambda: "8 reads far from now" in tm.clock_banner.text(), what="clock warning")
        assert "controller clock or time zone looks wrong" in tm.clock_banner.text()
        assert "ahead of" in tm.clock_banner.text() or "behind" in tm.clock_banner.text()
        assert tm.streams.item(0, 8).text() == "⚠ 8"  # 5 before the restart, 3 new reads now

        # fix the stream's clock settings
        tm.clock.timezone.setCurrentText("UTC")
        tm.clock.reference_date.setDate(QDate(2021, 5, 8))
        tm.clock.apply_clock_button.click()
        stream = services.timing.stream(stream_id)
        await until(
            lambda: (stream.timezone, stream.reference_date) == ("UTC", "2021-05-08"), what="clock set"
        )
        assert "UTC, 2021-05-08" in tm.message.text()
        tm.clock.timezone.setCurrentText("Mars/Olympus_Mons")
        tm.clock.apply_clock_button.click()
        await until(lambda: "not a known IANA time zone" in tm.message.text(), what="bad zone named")
        assert stream.timezone == "UTC"
        assert not w.error_panel.isVisible()
