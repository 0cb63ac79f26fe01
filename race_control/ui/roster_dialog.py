"""Import roster file: pick a file, check the column mapping on sample rows, preview the changes, import.

Calls ``services.ops.roster_files`` (``operations.roster_files.RosterFileOperations``), the same
actions as the local API's ``/api/events/{id}/roster/preview|import`` and ``/api/roster/mappings``:

* **Read file** — the file's bytes (read in an executor) go to ``preview`` with the *source*
  (default: the file's stem) and no mapping: the source's saved mapping is used when the file has
  its columns, else the one detected from the headers ("mapping from: saved/detected").  Any
  encoding and delimiter the reader handles; a workbook gets the operation's "save it as CSV".
* **The mapping** — one combo box per roster field (ui/roster_mapping.py) with the file's headers;
  picking another column previews again with that mapping; the sample rows (normalized), the
  custom columns and the rows that cannot be used (line + reason, red) follow.
* **Preview changes** — ``import_file(apply=False)``: the re-sync plan (added, changed, removed,
  quarantined, kept local, suspected removals) in the provider dialog's tabs (ui/sync_preview.py);
  nothing changes.
* **Import** — ``import_file(apply=True)`` with the same file, source and mapping (enabled only
  after their change preview): one unit of work, the mapping saved for the source.  Local race-day
  edits are kept (listed as kept local), runners missing from the file are suspected removals.

Every call is a coroutine started with ``tasks.spawn``; the operation reads and plans off the loop.
**Cancel** stops a read or preview (nothing changes); an Import cannot be cancelled once started
(the operation applies in one unit of work, all or nothing).  Errors are shown in the dialog.
File texts are plain text.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
)

from race_control.operations.roster_files import APPLYING
from race_control.progress import Cancelled, Progress
from race_control.ui import tasks
from race_control.ui.provider_dialog import RESULT_STYLE
from race_control.ui.roster_mapping import SAMPLE, MappingGrid, fill_errors, fill_sample
from race_control.ui.sync_preview import PreviewTabs
from race_control.ui.widgets import BAD, EXPECTED, table

FORMATS = (
    ("CSV / TSV (any source)", "csv"),
    ("ACTIVE export", "active"),
    ("UltraSignup export", "ultrasignup"),
)
FILES = "Roster files (*.csv *.tsv *.txt);;All files (*)"
MAPPING_FROM = {
    "saved": "saved for this source",
    "detected": "from the headers",
    "request": "chosen here",
}


def rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


class RosterImportDialog(QDialog):
    def __init__(self, window: Any, event_id: str) -> None:
        super().__init__(window)
        self.window_ = window
        self.services = window.services
        self.ops = self.services.ops.roster_files
        self.event_id = event_id
        self.raw: bytes | None = None  # the file read, as bytes
        self.file_name = ""
        self.preview_answer: dict[str, Any] | None = None
        self.encoded = ""  # the same, in base64 (the operation's content_base64)
        self.previewed: tuple[Any, ...] | None = None  # the request the change preview was of
        self.result: dict[str, Any] | None = None  # the last Import's answer
        self.running: asyncio.Task[Any] | None = None
        self.applying = False
        self.cancel_pressed = False
        self.progress: Progress | None = None
        event = self.services.events.event(event_id)
        self.setWindowTitle(f"Import roster — {event.name}")
        self.resize(1180, 680)
        lay = QVBoxLayout(self)

        top = QGridLayout()
        top.addWidget(QLabel("File"), 0, 0)
        self.path = QLineEdit()
        self.path.setPlaceholderText("path/to/roster.csv (CSV, TSV or semicolon-separated; any encoding)")
        self.path.returnPressed.connect(self.load_preview)
        top.addWidget(self.path, 0, 1)
        self.browse = QPushButton("Browse…")
        self.browse.setAutoDefault(False)
        self.browse.clicked.connect(self.pick_file)
        top.addWidget(self.browse, 0, 2)
        self.preview_button = QPushButton("Read file")
        self.preview_button.setAutoDefault(False)
        self.preview_button.clicked.connect(self.load_preview)
        top.addWidget(self.preview_button, 0, 3)
        top.addWidget(QLabel("Source"), 1, 0)
        row = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setPlaceholderText("the file's name; its mapping is saved under this source")
        self.source.setToolTip("Files of the same source reuse the mapping saved at their last import")
        self.source.editingFinished.connect(self._source_changed)
        row.addWidget(self.source, 1)
        row.addWidget(QLabel("Format"))
        self.format = QComboBox()
        for text, provider in FORMATS:
            self.format.addItem(text, provider)
        self.format.activated.connect(lambda *_: self._source_changed())
        row.addWidget(self.format)
        top.addLayout(row, 1, 1, 1, 3)
        top.setColumnStretch(1, 1)
        lay.addLayout(top)

        self.mapping_from = QLabel("Read a file to see its columns.")
        self.mapping_from.setObjectName("mappingFrom")
        self.mapping_from.setTextFormat(Qt.TextFormat.PlainText)
        self.mapping_from.setWordWrap(True)
        lay.addWidget(self.mapping_from)
        self.grid = MappingGrid()
        self.grid.changed.connect(self._mapping_changed)
        lay.addWidget(self.grid)
        self.custom = QLabel("")
        self.custom.setTextFormat(Qt.TextFormat.PlainText)
        self.custom.setWordWrap(True)
        lay.addWidget(self.custom)

        self.message = QLabel()
        self.message.setObjectName("rosterMessage")
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # file texts are text
        self.message.setWordWrap(True)
        self.message.hide()
        lay.addWidget(self.message)
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.summary.hide()  # shown with a change preview's counts
        lay.addWidget(self.summary)

        self.views = QTabWidget()
        self.table = table([title for title, _ in SAMPLE])  # the sample rows, normalized
        self.errors = table(["Line", "Why it cannot be used"])
        self.tabs = PreviewTabs()  # the change preview, as the provider dialog shows it
        self.views.addTab(self.table, "Sample rows")
        self.views.addTab(self.errors, "Rows that cannot be used")
        self.views.addTab(self.tabs, "Changes")
        lay.addWidget(self.views, 1)

        buttons = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy: the operation reports no progress
        self.bar.setTextVisible(False)
        self.bar.setMaximumWidth(200)
        self.bar.hide()
        buttons.addWidget(self.bar)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        buttons.addWidget(self.status, 1)
        self.changes_button = QPushButton("Preview changes")
        self.changes_button.setDefault(True)
        self.changes_button.clicked.connect(self.preview_changes)
        buttons.addWidget(self.changes_button)
        self.import_button = QPushButton("Import")
        self.import_button.clicked.connect(self.start_import)
        buttons.addWidget(self.import_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.cancel_import)
        buttons.addWidget(self.cancel_button)
        self.close_button = QPushButton("Close")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)
        self._buttons()

    # --- the file -----------------------------------------------------------------------------
    def pick_file(self) -> None:
        dialog = QFileDialog(self, "Roster file", str(Path.home()), FILES)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self._file_chosen)
        dialog.open()

    def _file_chosen(self, path: str) -> None:
        self.path.setText(path)
        self.load_preview()

    def load_preview(self) -> None:
        """Read the file named, then the mapping preview (the saved or detected mapping)."""
        text = self.path.text().strip()
        if not text:
            self.say("Type the file's path or Browse… for it.", "error")
            return
        path = Path(text).expanduser()
        typed = self.source.text().strip()
        if not typed or typed == Path(self.file_name).stem:
            self.source.setText(path.stem)  # the file's stem is the source, unless one was typed
        self._start(self._read(path))

    async def _read(self, path: Path) -> None:
        self._forget()
        self.status.setText(f"Reading {path.name}…")
        loop = asyncio.get_running_loop()
        try:
            raw = await loop.run_in_executor(None, path.read_bytes)
        except OSError as exc:
            self.say(f"Cannot read {path}: {exc.strerror or exc}", "error")
            return
        self.raw, self.file_name = raw, path.name
        self.encoded = await loop.run_in_executor(None, lambda: base64.b64encode(raw).decode("ascii"))
        await self._preview(None)

    def _source_changed(self) -> None:
        """Another source (or format): its saved mapping, if any, is the proposal now."""
        p = self.preview_answer
        other = p is not None and (p.get("source") != self.source.text().strip() or self._provider_changed())
        if self.raw is not None and other:
            self._start(self._preview(None))

    def _provider_changed(self) -> bool:
        return (
            self.preview_answer is not None
            and self.preview_answer.get("provider") != self.format.currentData()
        )

    def _mapping_changed(self) -> None:
        self._start(self._preview(self.grid.mapping()))

    def _body(self, mapping: dict[str, str] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "content_base64": self.encoded,
            "file_name": self.file_name,
            "provider": self.format.currentData(),
            "source": self.source.text().strip() or Path(self.file_name).stem,
        }
        if mapping is not None:
            body["mapping"] = mapping
        return body

    async def _preview(self, mapping: dict[str, str] | None) -> None:
        self.previewed = None
        self.status.setText("Checking the mapping on the file…")
        try:
            p = await self.ops.preview(self.event_id, self._body(mapping))
        except EXPECTED as exc:
            if mapping is None or self.preview_answer is None:
                self.preview_answer = None
            else:  # the columns picked cannot import: say why, keep the grid to fix them
                self.preview_answer = {**self.preview_answer, "mapping_problem": str(exc)}
            self.say(str(exc), "error")  # the file, the source or the mapping chosen: named
            return
        self.preview_answer = p
        self.grid.set_preview(p["headers"], p["mapping"])
        f = p["file"]
        self.mapping_from.setText(
            f"Mapping from: {p['mapping_from']} ({MAPPING_FROM.get(p['mapping_from'], '')}) — source "
            f"“{p['source']}”. {f['rows']} rows read, {f['encoding']}, {f['delimiter']}-separated, header on "
            f"line {f['header_line']}."
        )
        custom = p["custom_columns"]
        self.custom.setText(
            "Custom columns (kept as the runner's extra fields): " + ", ".join(custom) if custom else ""
        )
        fill_sample(self.table, p["sample"])
        fill_errors(self.errors, p["errors"])
        self.views.setTabText(0, f"Sample rows ({len(p['sample'])} of {p['entrants']})")
        self.views.setTabText(1, f"Rows that cannot be used ({len(p['errors'])})")
        self.views.tabBar().setTabTextColor(1, BAD if p["errors"] else self.palette().windowText().color())
        self.views.setCurrentIndex(0)
        if p["mapping_problem"]:
            self.say(f"{p['mapping_problem']}: pick the columns below.", "error")
        elif p["errors"]:
            more = " (the first 500 listed)" if p["truncated"] else ""
            self.say(
                f"{p['entrants']} runners can be imported; {rows(len(p['errors']))} cannot be used{more} "
                "(see “Rows that cannot be used”). Check the mapping, then Preview changes.",
                "warn",
            )
        else:
            self.say(
                f"{p['entrants']} runners can be imported. Check the mapping, then Preview changes.", "ok"
            )

    # --- preview changes / import -------------------------------------------------------------
    def _request(self) -> tuple[Any, ...] | None:
        """What an import would send (None before a usable mapping preview)."""
        p = self.preview_answer
        if self.raw is None or p is None or p["mapping_problem"]:
            return None
        return (self.file_name, id(self.raw), p["provider"], p["source"], tuple(sorted(p["mapping"].items())))

    def preview_changes(self) -> None:
        request = self._request()
        if request is not None:
            self._start(self._import(request, apply=False))

    def start_import(self) -> None:
        request = self._request()
        if request is not None and request == self.previewed and not self._busy():
            self.progress = Progress()  # Cancel stops it until the operation begins to apply

            def step(p: Progress) -> None:
                self.status.setText(f"{p.label}…")
                if p.label == APPLYING:  # from now on it runs to its end: one unit of work, never cut
                    self.applying = True
                    self._buttons()

            self.progress.listeners.append(step)
            self._start(self._import(request, apply=True))
            self._buttons()

    async def _import(self, request: tuple[Any, ...], *, apply: bool) -> None:
        assert self.preview_answer is not None
        p = self.preview_answer
        body = self._body(dict(p["mapping"]))
        body.update(source=p["source"], provider=p["provider"], apply=apply, save_mapping=True)
        self.previewed = None
        self._buttons()
        self.status.setText("Importing (one unit of work)…" if apply else "Planning the changes…")
        try:
            r = await self.ops.import_file(self.event_id, body, self.progress if apply else None)
        except Cancelled:
            self.say("Cancelled: nothing was changed.", "warn")
            return
        except EXPECTED as exc:
            self.say(f"{exc} — nothing was changed.", "error")
            return
        finally:
            self.progress = None
        self.tabs.show_result(r)
        self.views.setCurrentIndex(2)
        verb = "Imported" if apply else "Would import"
        self.summary.setText(
            f"{verb}: {r['added']} added, {r['changed']} changed, {r['removed']} removed, "
            f"{r['unchanged']} unchanged; {len(r['quarantined'])} quarantined, {len(r['kept_local'])} kept "
            f"local, {len(r['suspected_removals'])} suspected removals."
            + (" Lists are cut at 500 rows." if r.get("truncated") else "")
        )
        self.summary.show()
        if apply:
            self.result = r
            n = len(self.services.events.roster(self.event_id))
            self.say(
                f"Imported. The roster now has {n} participants; the mapping is saved for “{r['source']}”.",
                "ok",
            )
        else:
            self.previewed = request
            self.say("Preview only: nothing has changed. Import makes these changes.", "ok")

    # --- running ------------------------------------------------------------------------------
    def _start(self, coro: Any) -> None:
        if self.running is not None and not self.running.done():
            if self.applying:
                coro.close()  # an import is writing: let it finish
                return
            self.running.cancel()  # a newer preview replaces the one under way
        self.bar.show()
        self.say("", "")
        self.cancel_pressed = False
        task = self.running = tasks.spawn(coro, name="roster-file")
        task.add_done_callback(lambda t: self._finished(t, coro))
        self._buttons()

    def _finished(self, task: asyncio.Task[Any], coro: Any) -> None:
        coro.close()  # cancelled before its first step: never awaited, closed here
        if task is not self.running:
            return  # replaced by a newer preview
        self.running = None
        self.applying = False
        self.bar.hide()
        self.status.setText("")
        if task.cancelled() and self.cancel_pressed:
            self.say("Cancelled: nothing was changed.", "warn")
        self._buttons()

    def _busy(self) -> bool:
        return self.running is not None and not self.running.done()

    def _buttons(self) -> None:
        busy = self._busy()
        usable = self._request() is not None
        self.changes_button.setEnabled(not busy and usable)
        self.import_button.setEnabled(not busy and usable and self.previewed == self._request())
        self.cancel_button.setEnabled(busy and not self.applying)
        self.close_button.setEnabled(not self.applying)
        for w in (self.path, self.browse, self.preview_button, self.source, self.format):
            w.setEnabled(not self.applying)
        self.grid.setEnabled(not self.applying and self.preview_answer is not None)

    def _forget(self) -> None:
        self.raw, self.preview_answer, self.previewed = None, None, None
        self.table.setRowCount(0)
        self.errors.setRowCount(0)
        self.tabs.show_result({})
        self.summary.setText("")
        self.summary.hide()
        self.custom.setText("")
        self.mapping_from.setText("")

    def cancel_import(self) -> None:
        """Cancel a read, a preview, or an Import still reading or planning (once it applies,
        it runs to its end)."""
        if self._busy() and not self.applying and self.running is not None:
            if self.progress is not None:  # an Import: the operation stops before it applies
                self.progress.cancel()
                return
            self.cancel_pressed = True
            self.running.cancel()

    def say(self, text: str, kind: str) -> None:
        self.message.setStyleSheet(RESULT_STYLE[kind])
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def reject(self) -> None:
        if self.applying and self.running is not None:
            self.running.add_done_callback(lambda *_: super(RosterImportDialog, self).reject())
            return  # closing mid-import: the dialog closes once the import ends
        self.cancel_import()
        super().reject()
