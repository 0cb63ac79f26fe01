"""The finishers of the selected display session, as its screens receive them.

In ``seq`` order, newest on top, corrections and unknown bibs included: the session's last
MAX_FEED stored events when it is selected, then each decision as it is committed.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTableWidget

from race_control.sessions.live import Derived
from race_control.ui.widgets import MUTED, WARN, Page, cell, set_row, setup_table, table_text

FEED_COLUMNS = ["#", "Bib", "Name", "Time", "City", "Location", "Note"]
MAX_FEED = 500


class FinisherFeed(QTableWidget):
    """``page`` runs the loads; only text is stored in the items."""

    def __init__(self, page: Page) -> None:
        super().__init__(0, len(FEED_COLUMNS))
        setup_table(self, FEED_COLUMNS, stretch=6, widths={0: 60, 1: 80, 2: 260, 3: 100, 4: 200, 5: 100})
        self.page = page
        self._session: str | None = None  # the session whose finishers are shown (or loading)
        self._last_seq = 0
        page.window_.feed.decided.connect(self._decided)

    def show_session(self, session_id: str | None) -> None:
        """Load the session's finishers when it is not the one shown; None empties the list."""
        if session_id is None:
            self.setRowCount(0)
            self._session = None
        elif self._session != session_id:
            self._session = session_id  # set now: a second redraw while loading does not load twice
            self.page.run(self._load(session_id))

    async def _load(self, session_id: str) -> None:
        services = self.page.services
        s = services.sessions.get(session_id)
        start = max(0, s.next_seq - 1 - MAX_FEED)
        rows = await services.sessions.events_after(session_id, start, MAX_FEED)
        self._session = session_id
        self.setRowCount(0)
        self._last_seq = start
        self._add_payloads(rows)

    def _decided(self, derived: Derived) -> None:
        sid = self._session
        if sid is None:
            return
        mine = [row["payload"] for row in derived.events if row["session_id"] == sid]
        if mine:
            self._add_payloads(mine)

    def _add_payloads(self, payloads: list[dict[str, Any]]) -> None:
        self.setUpdatesEnabled(False)
        for p in payloads:
            seq = p.get("seq", 0)
            if seq <= self._last_seq:
                continue
            self._last_seq = seq
            known = p.get("known", True)
            note, color = "", None
            if p.get("type") == "correction":
                note, color = f"correction of #{p.get('corrects_seq')}", WARN
            elif not known:
                note, color = "unknown bib (kept for correction)", WARN
            city = ", ".join(x for x in (p.get("city", ""), p.get("state", "")) if x)
            self.insertRow(0)
            set_row(
                self,
                0,
                [
                    cell(seq),
                    cell(p.get("bib", ""), bold=True),
                    cell(p.get("name", ""), color=None if known else WARN, bold=True),
                    cell(p.get("time", "")),
                    cell(city),
                    cell(p.get("location", "")),
                    cell(note, color=color or MUTED),
                ],
            )
        if self.rowCount() > MAX_FEED:
            self.setRowCount(MAX_FEED)
        self.setUpdatesEnabled(True)

    def text_rows(self) -> list[list[str]]:
        return table_text(self)
