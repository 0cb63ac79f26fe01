"""Step 5 — the ChronoTrack session picker: every timing stream, a live preview, bind, rules.

Streams are live CTP01 connections, recorded streams (clients that went away) and
imported controller files.  The preview shows the selected stream's most recent stored
reads (``timing.history``, loaded off the loop) and then each read as it is committed:
the runner from the roster (or "Bib N", marked unknown) and what the selected display
session decided (shown, or suppressed with the reason).  Each stream has its own clock
settings (time zone, event date); a stream whose reads look far from now is flagged.
"""

from __future__ import annotations

import datetime as dt
import html
import zoneinfo
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from race_control.timing.history import recent_reads, stored_decisions
from race_control.timing.imports import PROTOCOL as IMPORTED
from race_control.timing.imports import import_controller_files
from race_control.timing.records import StoredRead
from race_control.ui.session_picker import SessionCombo
from race_control.ui.widgets import BAD, GOOD, MUTED, WARN, Page, ago, cell, section, set_row, table

STREAM_COLUMNS = ["Source", "Client", "Event", "Locations", "State", "Reads", "Last read", "Bound", "Clock"]
PREVIEW_COLUMNS = ["Received", "Location", "Bib", "Name", "Read time", "Decision"]
MAX_PREVIEW = 300
HISTORY = 200  # stored reads shown when a stream is selected (then the live ones on top)
CLOCK_HELP = "controller clock or time zone looks wrong"  # the words the timer looks for


def stream_state(s: Any) -> str:
    if s.connections > 0:
        return "● Connected"
    if s.protocol == IMPORTED:
        return "Imported"
    return "Recorded"


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.replace(";", ",").split(",") if x.strip()]


class TimingPage(Page):
    title = "Timing — ChronoTrack sessions"
    hint = (
        "Point the ChronoTrack software (SimpleClient / Tachyon) at this laptop; its session appears "
        "below. Select a stream to watch its reads live, bind it to the display, and set the crossing rules."
    )
    primary_text = "Open display mode"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        head = QHBoxLayout()
        self.session_combo = SessionCombo(window)
        head.addWidget(self.session_combo)
        self.session_label = QLabel()
        self.session_label.setWordWrap(True)
        head.addWidget(self.session_label, 1)
        self.body.addLayout(head)
        split = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_lay = QVBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        top_lay.addWidget(section("Timing streams"))
        self.streams = table(STREAM_COLUMNS, stretch=2, fit=True)
        self.streams.itemSelectionChanged.connect(self._stream_selected)
        top_lay.addWidget(self.streams, 1)
        self.clock_banner = QLabel()
        self.clock_banner.setWordWrap(True)
        self.clock_banner.setTextFormat(Qt.TextFormat.RichText)  # the stream's text is escaped
        self.clock_banner.setStyleSheet(
            "background: #fdecea; color: #b71c1c; border: 2px solid #b71c1c; border-radius: 6px;"
            " padding: 6px 10px; font-weight: 700;"
        )
        self.clock_banner.hide()
        top_lay.addWidget(self.clock_banner)
        buttons = QHBoxLayout()
        self.bind_button = QPushButton("Bind to display")
        self.bind_button.setShortcut("Ctrl+B")
        self.bind_button.setToolTip("Ctrl+B")
        self.bind_button.clicked.connect(lambda: self.run(self.bind()))
        buttons.addWidget(self.bind_button)
        self.unbind_button = QPushButton("Unbind")
        self.unbind_button.setShortcut("Ctrl+U")
        self.unbind_button.setToolTip("Ctrl+U")
        self.unbind_button.clicked.connect(lambda: self.run(self.unbind()))
        buttons.addWidget(self.unbind_button)
        buttons.addSpacing(24)
        self.import_path = QLineEdit()
        self.import_path.setPlaceholderText("controller folder or .csv/.mrk file (network failed?)")
        buttons.addWidget(self.import_path, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.pick_controller_folder)
        buttons.addWidget(browse)
        self.import_button = QPushButton("Import controller files")
        self.import_button.clicked.connect(lambda: self.run(self.import_files()))
        buttons.addWidget(self.import_button)
        top_lay.addLayout(buttons)
        split.addWidget(top)

        bottom = QWidget()
        bottom_row = QHBoxLayout(bottom)
        bottom_row.setContentsMargins(0, 0, 0, 0)
        preview_col = QVBoxLayout()
        self.preview_title = section("Live preview")
        preview_col.addWidget(self.preview_title)
        self.preview = table(PREVIEW_COLUMNS, stretch=5, widths={0: 90, 1: 90, 2: 80, 3: 230, 4: 110})
        preview_col.addWidget(self.preview, 1)
        bottom_row.addLayout(preview_col, 3)

        side = QVBoxLayout()
        clock = QGroupBox("Clock of the selected stream")
        clock_form = QFormLayout(clock)
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.addItems(sorted(zoneinfo.available_timezones()))
        self.timezone.setToolTip("The time zone the timing controller's clock runs in")
        self.reference_date = QDateEdit(QDate.currentDate())
        self.reference_date.setCalendarPopup(True)
        self.reference_date.setDisplayFormat("yyyy-MM-dd")
        self.reference_date.setToolTip("The day the reads' times of day belong to")
        clock_form.addRow("Time zone", self.timezone)
        clock_form.addRow("Event date", self.reference_date)
        self.apply_clock_button = QPushButton("Apply clock settings")
        self.apply_clock_button.setToolTip("Applies to this stream's next reads and connections")
        self.apply_clock_button.clicked.connect(lambda: self.run(self.apply_clock()))
        clock_form.addRow("", self.apply_clock_button)
        side.addWidget(clock)

        rules = QGroupBox("Crossing rules of this display")
        form = QFormLayout(rules)
        self.locations = QLineEdit()
        self.locations.setPlaceholderText("all locations")
        self.locations.setToolTip("Comma-separated timing points to show, e.g. FINISH")
        self.start_locations = QLineEdit()
        self.start_locations.setPlaceholderText("none")
        self.start_locations.setToolTip(
            "A bib's first read here starts its chip time (a shared start/finish mat may be in both)"
        )
        self.window_s = QDoubleSpinBox()
        self.window_s.setRange(0, 86400)
        self.window_s.setDecimals(0)
        self.window_s.setSuffix(" s")
        self.window_s.setToolTip(
            "One crossing per bib per line within this window; later reads are duplicates"
        )
        self.min_since_start = QDoubleSpinBox()
        self.min_since_start.setRange(0, 86400)
        self.min_since_start.setDecimals(0)
        self.min_since_start.setSuffix(" s")
        self.min_since_start.setToolTip("A read this soon after the bib's start (or the gun) is not a finish")
        form.addRow("Show locations", self.locations)
        form.addRow("Start locations", self.start_locations)
        form.addRow("Duplicate window", self.window_s)
        form.addRow("Min. time since start", self.min_since_start)
        self.apply_rules_button = QPushButton("Apply rules")
        self.apply_rules_button.setShortcut("Ctrl+R")
        self.apply_rules_button.setToolTip("Ctrl+R: re-runs every stored read through the new rules")
        self.apply_rules_button.clicked.connect(lambda: self.run(self.apply_rules()))
        form.addRow("", self.apply_rules_button)
        self.rules_summary = QLabel()
        self.rules_summary.setWordWrap(True)
        form.addRow(self.rules_summary)
        side.addWidget(rules, 1)
        bottom_row.addLayout(side, 2)
        split.addWidget(bottom)
        split.setSizes([260, 420])
        self.body.addWidget(split, 1)

        self.rows: list[StoredRead] = []  # the preview's reads, row by row
        self._history_for: str | None = None  # the stream whose stored reads are loading / loaded
        self._shown_session: str | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh_streams)
        feed = window.feed
        feed.stream_changed.connect(lambda *_: self.refresh_streams() if self.isVisible() else None)
        feed.reads_added.connect(self._reads_added)
        feed.decided.connect(self._decided)
        feed.session_changed.connect(lambda *_: self._session_info() if self.isVisible() else None)
        window.flow.changed.connect(lambda: self._session_switched() if self.isVisible() else None)

    # --- lifecycle ------------------------------------------------------------------------
    def entered(self) -> None:
        if self.flow.event_id and self.flow.session is None:
            self.run(self._ensure())
        self.session_combo.refresh()
        self._shown_session = self.flow.session_id
        self._session_info()
        self._load_rules()
        self.refresh_streams()
        self.timer.start()
        self.streams.setFocus()

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)

    async def _ensure(self) -> None:
        await self.flow.ensure_session()
        self._session_info()
        self._load_rules()
        self.refresh_streams()

    def _session_switched(self) -> None:
        """Another display session was chosen: its bound streams, rules and decisions."""
        if self.flow.session_id == self._shown_session:
            return
        self._shown_session = self.flow.session_id
        self._session_info()
        self._load_rules()
        self.rules_summary.setText("")
        self.refresh_streams()
        self._stream_selected()

    def _session_info(self) -> None:
        s = self.flow.session
        if s is None:
            self.session_label.setText("No display session yet: choose the event and template first.")
            return
        n = len(s.streams)
        self.session_label.setText(
            f"— {self.flow.event_name} — mode <b>{s.mode}</b> — "
            f"{n} stream{'s' if n != 1 else ''} bound, {s.finishers} crossings, {s.suppressed} suppressed"
        )

    # --- streams --------------------------------------------------------------------------
    def selected_stream(self) -> str | None:
        rows = self.streams.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.streams.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def refresh_streams(self) -> None:
        selected = self.selected_stream()
        s = self.flow.session
        bound = s.streams if s else set()
        elsewhere: dict[str, str] = {}  # stream -> the other open sessions of this event it feeds
        for other in self.flow.event_sessions():
            if other.status == "open" and (s is None or other.id != s.id):
                for x in other.streams:
                    elsewhere[x] = ", ".join(filter(None, [elsewhere.get(x), other.name or "Display"]))
        streams = self.services.timing.streams()
        self.streams.blockSignals(True)
        self.streams.setRowCount(len(streams))
        now = None
        for row, st in enumerate(streams):
            state = stream_state(st)
            color = GOOD if st.connections > 0 else MUTED
            set_row(
                self.streams,
                row,
                [
                    cell(st.protocol, data=st.id),
                    cell(st.client or "—"),
                    cell(st.event_name or "—"),
                    cell(", ".join(st.locations) or "—"),
                    cell(state, color=color, bold=st.connections > 0),
                    cell(st.reads),
                    cell(ago(st.last_read_at, now)),
                    cell("✓ bound", color=GOOD, bold=True)
                    if st.id in bound
                    else cell(f"→ {elsewhere[st.id]}" if st.id in elsewhere else "", color=MUTED),
                    cell(f"⚠ {st.clock_warnings}", color=BAD, bold=True)
                    if st.clock_warnings
                    else cell("ok", color=MUTED),
                ],
            )
            if st.id == selected:
                self.streams.selectRow(row)
        if selected is None and len(streams) == 1:
            self.streams.selectRow(0)
        self.streams.blockSignals(False)
        if selected != self.selected_stream():
            self._stream_selected()
        self._update_buttons()
        self._clock_warning()

    def select_stream(self, stream_id: str) -> None:
        for row in range(self.streams.rowCount()):
            if self.streams.item(row, 0).data(Qt.ItemDataRole.UserRole) == stream_id:
                self.streams.selectRow(row)

    def _update_buttons(self) -> None:
        sid = self.selected_stream()
        s = self.flow.session
        self.bind_button.setEnabled(bool(sid and s and sid not in s.streams))
        self.unbind_button.setEnabled(bool(sid and s and sid in s.streams))

    def _stream_selected(self) -> None:
        sid = self.selected_stream()
        self._update_buttons()
        self.preview.setRowCount(0)
        self.rows.clear()
        self._clock_warning()
        self._load_clock()
        self._history_for = sid
        if sid is None:
            self.preview_title.setText("Live preview — select a stream")
            return
        st = self.services.timing.stream(sid)
        self.preview_title.setText(f"Live preview — {st.client or st.protocol} {st.event_name}".rstrip())
        recent = list(self.window_.feed.recent.get(sid, ()))[-MAX_PREVIEW:]
        self._add_rows(recent)  # at once; the stored history joins them when loaded
        if st.reads > len(recent):
            self.run(self._load_history(sid))
        elif not recent:
            self.preview_title.setText(self.preview_title.text() + " (reads appear here as they arrive)")

    async def _load_history(self, sid: str) -> None:
        """The stream's last HISTORY stored reads (and the selected session's stored decisions
        about them), merged with what arrived meanwhile: one row per (stream, location, seq)."""
        stored = await recent_reads(self.services.store, sid, HISTORY)
        s = self.flow.session
        if s is not None and sid in s.streams:
            decided = await stored_decisions(self.services.store, s.id, stored)
            self.window_.feed.remember(s.id, decided)
        if self._history_for != sid or self.selected_stream() != sid:
            return  # another stream was chosen meanwhile
        merged = {(r.stream_id, r.location, r.seq): r for r in stored}
        for r in self.rows:  # arrived while loading (or already shown): the same key, one row
            merged[(r.stream_id, r.location, r.seq)] = r
        ordered = sorted(merged.values(), key=lambda r: (r.raw_n, r.received_at))
        self.preview.setRowCount(0)
        self.rows.clear()
        self._add_rows(ordered)

    # --- preview --------------------------------------------------------------------------
    def _reads_added(self, reads: list[StoredRead]) -> None:
        sid = self.selected_stream()
        mine = [r for r in reads if r.stream_id == sid]
        if mine:
            self._add_rows(mine)

    def _add_rows(self, reads: list[StoredRead]) -> None:
        """Newest on top; at most MAX_PREVIEW rows.  ``self.rows`` mirrors the table (plain Python:
        no Python objects are stored inside Qt items)."""
        t = self.preview
        t.setUpdatesEnabled(False)
        for read in reads[-MAX_PREVIEW:]:
            t.insertRow(0)
            self.rows.insert(0, read)
            self._render(0, read)
        if t.rowCount() > MAX_PREVIEW:
            t.setRowCount(MAX_PREVIEW)
            del self.rows[MAX_PREVIEW:]
        t.setUpdatesEnabled(True)

    def _render(self, row: int, read: StoredRead) -> None:
        event_id = self.flow.event_id
        runner = self.services.events.participant(event_id, read.bib) if event_id else None
        if runner is not None:
            name = runner.alias or f"{runner.first_name} {runner.last_name}".strip() or f"Bib {read.bib}"
            name_cell = cell(name)
        else:
            name_cell = cell(f"Bib {read.bib}  (unknown bib)", color=WARN, bold=True)
        status, color = self._decision_text(read)
        received = dt.datetime.fromtimestamp(read.received_at).strftime("%H:%M:%S")
        set_row(
            self.preview,
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
        s = self.flow.session
        if s is None or read.stream_id not in s.streams:
            return "not bound to the display", MUTED
        d = self.window_.feed.decision(s.id, read)
        if d is None:
            return "—", MUTED
        status, detail = d
        if status == "suppressed":
            kind = "duplicate" if detail.startswith("duplicate") else "suppressed"
            return f"{kind}: {detail}", BAD if kind == "duplicate" else MUTED
        if status == "unknown":
            return f"shown {detail} as unknown bib", WARN
        return f"shown {detail}", GOOD

    def _decided(self, derived: Any) -> None:
        if not self.isVisible() or not self.preview.rowCount():
            return
        # decisions normally arrive just before their reads (same batch); only a re-run (bind,
        # new rules) decides reads already on screen: redraw just those rows
        keys = {(r["stream_id"], r["location"], r["read_seq"]) for r in derived.suppressions}
        keys.update((r["stream_id"], r["location"], r["read_seq"]) for r in derived.events)
        for row, read in enumerate(self.rows):
            if (read.stream_id, read.location, read.seq) in keys:
                status, color = self._decision_text(read)
                self.preview.setItem(row, 5, cell(status, color=color, bold=color is not MUTED))
        self._session_info()

    def preview_rows(self) -> list[list[str]]:
        """The preview as text (tests, accessibility)."""
        return [
            [self.preview.item(r, c).text() for c in range(self.preview.columnCount())]
            for r in range(self.preview.rowCount())
        ]

    # --- clock ------------------------------------------------------------------------------
    def _clock_warning(self) -> None:
        sid = self.selected_stream()
        st = self.services.timing.stream(sid) if sid else None
        if st is None or not st.clock_warnings:
            self.clock_banner.hide()
            return
        n = st.clock_warnings
        self.clock_banner.setText(
            f"⚠ The {CLOCK_HELP} ({n} read{'s' if n != 1 else ''} far from now).<br>"
            f"<span style='font-weight: 400'>Last: {html.escape(st.last_clock_warning)}. If the time zone or "
            "date is wrong, set them under “Clock of the selected stream”.</span>"
        )
        self.clock_banner.show()

    def _load_clock(self) -> None:
        sid = self.selected_stream()
        st = self.services.timing.stream(sid) if sid else None
        self.apply_clock_button.setEnabled(st is not None)
        if st is None:
            return
        self.timezone.setCurrentText(st.timezone)
        day = QDate.fromString(st.reference_date, "yyyy-MM-dd") if st.reference_date else QDate.currentDate()
        self.reference_date.setDate(day if day.isValid() else QDate.currentDate())

    async def apply_clock(self) -> None:
        sid = self.selected_stream()
        if not sid:
            self.say("Select a timing stream first.", error=True)
            return
        body = {
            "timezone": self.timezone.currentText().strip(),
            "reference_date": self.reference_date.date().toString("yyyy-MM-dd"),
        }
        st = await self.services.timing.update_settings(sid, body)
        self.say(f"Clock of this stream: {st.timezone}, {st.reference_date} (applies to its next reads).")
        self._load_clock()
        self._clock_warning()

    # --- operations -----------------------------------------------------------------------
    async def bind(self) -> None:
        sid = self.selected_stream()
        if not sid:
            self.say("Select a timing stream first.", error=True)
            return
        s = await self.flow.ensure_session()
        await self.services.sessions.bind(s.id, sid)
        self.say("Bound: its reads now reach the display (reads stored so far were run through the rules).")
        self.refresh_streams()
        self._stream_selected()
        self._session_info()

    async def unbind(self) -> None:
        sid, s = self.selected_stream(), self.flow.session
        if sid and s:
            await self.services.sessions.unbind(s.id, sid)
            self.say("Unbound: new reads of this stream no longer reach the display.")
            self.refresh_streams()
            self._stream_selected()
            self._session_info()

    def pick_controller_folder(self) -> None:
        dialog = QFileDialog(self, "Controller files folder", str(Path.home()))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.fileSelected.connect(self.import_path.setText)
        dialog.open()

    async def import_files(self) -> None:
        path = self.import_path.text().strip()
        if not path:
            self.say("Enter a controller folder or file to import.", error=True)
            return
        self.say("Importing…")
        report = await import_controller_files(self.services.timing, {"path": path})
        self.say(
            f"Imported {report['reads']} reads at {report['location']} ({report['already_imported']} already there, "
            f"{report['bad_row_count']} bad rows)."
        )
        self.refresh_streams()
        self.select_stream(report["timing_session_id"])

    def _load_rules(self) -> None:
        s = self.flow.session
        self.apply_rules_button.setEnabled(s is not None)
        if s is None:
            return
        r = s.rules
        self.locations.setText(", ".join(r.locations))
        self.start_locations.setText(", ".join(r.start_locations))
        self.window_s.setValue(r.duplicate_window)
        self.min_since_start.setValue(r.min_time_since_start)

    async def apply_rules(self) -> None:
        s = await self.flow.ensure_session()
        rules = s.rules.to_json()
        rules.update(
            locations=_names(self.locations.text()),
            start_locations=_names(self.start_locations.text()),
            duplicate_window=self.window_s.value(),
            min_time_since_start=self.min_since_start.value(),
        )
        _, summary = await self.services.sessions.update(s.id, {"rules": rules})
        if summary:
            self.rules_summary.setText(
                f"Re-ran the stored reads: {summary['crossings']} crossings, {summary['newly_shown']} newly shown, "
                f"{summary['shown_before_but_not_now']} shown before but not under the new rules, "
                f"{summary['suppressed']} suppressed."
            )
        else:
            self.rules_summary.setText("Rules unchanged.")
        self._load_rules()
        self._session_info()

    async def primary_action(self) -> bool:
        await self.flow.ensure_session()
        return True
