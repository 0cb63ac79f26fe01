"""Roster import: pick a CSV, preview the first rows (rejects in red), import with progress + Cancel.

Never freezes the window: the file is read and parsed in an executor, and the import
runs chunk by chunk on the loop (each chunk is one transaction).  Cancel calls
``Progress.cancel``: the import stops between chunks; what was imported stays.
The provider sync (a later issue) reports into the same ``Progress``.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from race_control.progress import Cancelled, Progress
from race_control.roster.csv_import import read_csv_file
from race_control.roster.participants import ParticipantRow, Rejected, parse_row
from race_control.ui import tasks
from race_control.ui.widgets import EXPECTED, cell, table

PREVIEW_ROWS = 200
COLUMNS = ["Row", "Bib", "First name", "Last name", "City", "State", "Division", "Problem"]


class RosterImportDialog(QDialog):
    def __init__(self, window: Any, event_id: str) -> None:
        super().__init__(window)
        self.window_ = window
        self.services = window.services
        self.event_id = event_id
        self.rows: list[Any] = []
        self.progress: Progress | None = None
        self.result: tuple[int, list[Rejected]] | None = None
        event = self.services.events.event(event_id)
        self.setWindowTitle(f"Import roster — {event.name}")
        self.resize(900, 600)
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel(
                "A CSV with a header row. Columns are matched by name (Bib, First Name, Last Name, City, "
                "State, Age, Gender/Sex, Division/Age Group, Team, Wave, Message…)."
            )
        )
        row = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setPlaceholderText("path/to/roster.csv")
        self.path.returnPressed.connect(self.load_preview)
        row.addWidget(self.path, 1)
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self.pick_file)
        row.addWidget(self.browse)
        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.load_preview)
        row.addWidget(self.preview_button)
        lay.addLayout(row)
        self.summary = QLabel("Choose a file to preview it.")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.table = table(COLUMNS, stretch=7, fit=True)
        lay.addWidget(self.table, 1)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        lay.addWidget(self.bar)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.import_button = QPushButton("Import")
        self.import_button.setEnabled(False)
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start_import)
        buttons.addWidget(self.import_button)
        self.cancel_button = QPushButton("Cancel import")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_import)
        buttons.addWidget(self.cancel_button)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)
        self.loading: asyncio.Task[Any] | None = None
        self.importing: asyncio.Task[Any] | None = None

    # --- file ---------------------------------------------------------------------------
    def pick_file(self) -> None:
        dialog = QFileDialog(self, "Roster CSV", str(Path.home()), "CSV files (*.csv *.txt);;All files (*)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self._file_chosen)
        dialog.open()

    def _file_chosen(self, path: str) -> None:
        self.path.setText(path)
        self.load_preview()

    def load_preview(self) -> None:
        self.loading = tasks.spawn(self._load(Path(self.path.text().strip()).expanduser()))

    async def _load(self, path: Path) -> None:
        self.import_button.setEnabled(False)
        self.summary.setText(f"Reading {path.name}…")
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(None, read_csv_file, path)
        except EXPECTED as exc:
            self.summary.setText(f"<span style='color:#b71c1c'>{html.escape(str(exc))}</span>")
            return
        parsed = await loop.run_in_executor(None, _parse_all, rows)
        self.rows = rows
        bad = sum(1 for p in parsed if isinstance(p, Rejected))
        self.table.setRowCount(0)
        for i, p in enumerate(parsed[:PREVIEW_ROWS]):
            self.table.insertRow(i)
            if isinstance(p, Rejected):
                red = QColor("#b71c1c")
                values = [cell(i + 1, color=red), cell(p.bib, color=red)]
                values += [cell("") for _ in range(5)] + [cell(p.error, color=red, bold=True)]
                for v in values:
                    v.setBackground(QColor("#fdecea"))
            else:
                values = [
                    cell(i + 1),
                    cell(p.bib, bold=True),
                    cell(p.first_name),
                    cell(p.last_name),
                    cell(p.city),
                    cell(p.state),
                    cell(p.division),
                    cell(""),
                ]
            for col, v in enumerate(values):
                self.table.setItem(i, col, v)
        self.table.resizeColumnsToContents()
        shown = min(len(parsed), PREVIEW_ROWS)
        self.summary.setText(
            f"<b>{html.escape(path.name)}</b>: {len(parsed)} rows, {len(parsed) - bad} valid, "
            f"<span style='color:#b71c1c'>{bad} will be rejected</span> (highlighted). "
            f"Showing the first {shown}."
        )
        self.import_button.setEnabled(len(parsed) > bad)

    # --- import -------------------------------------------------------------------------
    def start_import(self) -> None:
        if self.rows and (self.importing is None or self.importing.done()):
            self.importing = tasks.spawn(self._import())

    async def _import(self) -> None:
        progress = self.progress = Progress()
        progress.listeners.append(self._progress_changed)
        self.import_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.close_button.setEnabled(False)
        self.bar.setValue(0)
        try:
            result = await self.services.ops.roster.import_in_chunks(
                self.event_id, self.rows, progress, source="csv", chunk=500
            )
            imported, rejected = result.imported, result.rejected
        except Cancelled:
            self.summary.setText(
                f"Import cancelled after {progress.done} of {progress.total} rows; the rows before stay imported."
            )
        else:
            self.result = (imported, rejected)
            self.summary.setText(
                f"<b>Imported {imported} participants</b>; {len(rejected)} rows rejected"
                + (f" (first: {html.escape(rejected[0].error)})" if rejected else "")
                + "."
            )
        finally:
            self.cancel_button.setEnabled(False)
            self.close_button.setEnabled(True)
            self.close_button.setFocus()

    def _progress_changed(self, progress: Progress) -> None:
        self.bar.setValue(round(progress.fraction * 100))
        self.bar.setFormat(f"%p%  ({progress.done} of {progress.total})")

    def cancel_import(self) -> None:
        if self.progress is not None:
            self.progress.cancel()

    def reject(self) -> None:
        if self.importing is not None and not self.importing.done():
            self.cancel_import()  # closing mid-import cancels it; the dialog closes when it stops
            return
        super().reject()


def _parse_all(rows: list[Any]) -> list[ParticipantRow | Rejected]:
    """Every row's fate, in file order (the same rules as the import: a repeated bib is rejected)."""
    out: list[ParticipantRow | Rejected] = []
    seen: set[str] = set()
    for i, r in enumerate(rows, start=1):
        p = parse_row(i, r)
        if isinstance(p, ParticipantRow):
            if p.bib in seen:
                p = Rejected(i, p.bib, f"row {i}: bib {p.bib} appears more than once")
            else:
                seen.add(p.bib)
        out.append(p)
    return out
