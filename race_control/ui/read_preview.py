"""The timing page's live preview: the selected stream's reads, newest on top.

Each row shows the runner from the roster (or "Bib N", marked unknown) and what the selected
display session decided about the read (shown, or suppressed with the reason).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtWidgets import QTableWidget

from race_control.timing.ingest.stored_read import StoredRead
from race_control.ui.widgets import BAD, GOOD, MUTED, WARN, Page, cell, set_row, setup_table, table_text

PREVIEW_COLUMNS = ["Received", "Location", "Bib", "Name", "Read time", "Decision"]
MAX_PREVIEW = 300


class ReadPreview(QTableWidget):
    """At most MAX_PREVIEW rows.  ``self.rows`` mirrors the table (plain Python: no Python
    objects are stored inside Qt items).  ``page`` gives the event, session and live feed."""

    def __init__(self, page: Page) -> None:
        super().__init__(0, len(PREVIEW_COLUMNS))
        setup_table(self, PREVIEW_COLUMNS, stretch=5, widths={0: 90, 1: 90, 2: 80, 3: 230, 4: 110})
        self.page = page
        self.rows: list[StoredRead] = []  # the preview's reads, row by row

    def clear_reads(self) -> None:
        self.setRowCount(0)
        self.rows.clear()

    def add_rows(self, reads: list[StoredRead]) -> None:
        """Newest on top."""
        self.setUpdatesEnabled(False)
        for read in reads[-MAX_PREVIEW:]:
            self.insertRow(0)
            self.rows.insert(0, read)
            self._render(0, read)
        if self.rowCount() > MAX_PREVIEW:
            self.setRowCount(MAX_PREVIEW)
            del self.rows[MAX_PREVIEW:]
        self.setUpdatesEnabled(True)

    def merge(self, stored: list[StoredRead]) -> None:
        """Stored reads joined with those shown: one row per (stream, location, seq)."""
        merged = {(r.stream_id, r.location, r.seq): r for r in stored}
        for r in self.rows:  # arrived while loading (or already shown): the same key, one row
            merged[(r.stream_id, r.location, r.seq)] = r
        ordered = sorted(merged.values(), key=lambda r: (r.raw_n, r.received_at))
        self.clear_reads()
        self.add_rows(ordered)

    def _render(self, row: int, read: StoredRead) -> None:
        event_id = self.page.flow.event_id
        runner = self.page.services.events.participant(event_id, read.bib) if event_id else None
        if runner is not None:
            name = runner.alias or f"{runner.first_name} {runner.last_name}".strip() or f"Bib {read.bib}"
            name_cell = cell(name)
        else:
            name_cell = cell(f"Bib {read.bib}  (unknown bib)", color=WARN, bold=True)
        status, color = self._decision_text(read)
        received = dt.datetime.fromtimestamp(read.received_at).strftime("%H:%M:%S")
        set_row(
            self,
            row,
            [
                cell(received),
                cell(read.location),
                cell(read.bib, bold=True),
                name_cell,
                cell(read.time_text),
                cell(status, color=color, bold=color is not MUTED),
            ],
        )

    def _decision_text(self, read: StoredRead) -> tuple[str, Any]:
        s = self.page.flow.session
        if s is None or read.stream_id not in s.streams:
            return "not bound to the display", MUTED
        d = self.page.window_.feed.decision(s.id, read)
        if d is None:
            return "—", MUTED
        status, detail = d
        if status == "suppressed":
            kind = "duplicate" if detail.startswith("duplicate") else "suppressed"
            return f"{kind}: {detail}", BAD if kind == "duplicate" else MUTED
        if status == "unknown":
            return f"shown {detail} as unknown bib", WARN
        return f"shown {detail}", GOOD

    def redecide(self, derived: Any) -> None:
        """Redraw the decision of the rows ``derived`` decided."""
        # decisions normally arrive just before their reads (same batch); only a re-run (bind,
        # new rules) decides reads already on screen: redraw just those rows
        keys = {(r["stream_id"], r["location"], r["read_seq"]) for r in derived.suppressions}
        keys.update((r["stream_id"], r["location"], r["read_seq"]) for r in derived.events)
        for row, read in enumerate(self.rows):
            if (read.stream_id, read.location, read.seq) in keys:
                status, color = self._decision_text(read)
                self.setItem(row, 5, cell(status, color=color, bold=color is not MUTED))

    def text_rows(self) -> list[list[str]]:
        """The preview as text (tests, accessibility)."""
        return table_text(self)
