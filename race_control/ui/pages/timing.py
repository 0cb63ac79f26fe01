"""Step 5 — the ChronoTrack session picker: every timing stream, a live preview, bind, rules.

Streams are live CTP01 connections, recorded streams (clients that went away) and
imported controller files.  The preview shows the selected stream's most recent stored
reads (``timing.history``, loaded off the loop) and then each read as it is committed:
the runner from the roster (or "Bib N", marked unknown) and what the selected display
session decided (shown, or suppressed with the reason).  Each stream has its own clock
settings (time zone, event date); a stream whose reads look far from now is flagged.
The widgets: ``streams_table``, ``read_preview``, ``stream_clock`` and ``rules_form``;
Replay… opens ``replay_dialog`` for the selected stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from race_control.config import timing_exposure
from race_control.sessions.read_history import recent_reads, stored_decisions
from race_control.timing.ingest.stored_read import StoredRead
from race_control.ui.read_preview import MAX_PREVIEW, ReadPreview
from race_control.ui.replay_dialog import ReplayDialog
from race_control.ui.rules_form import RulesForm
from race_control.ui.session_picker import SessionCombo
from race_control.ui.stream_clock import ClockBanner, StreamClockBox
from race_control.ui.streams_table import StreamsTable
from race_control.ui.widgets import Page, PageBody, button, column, section

HISTORY = 200  # stored reads shown when a stream is selected (then the live ones on top)


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
        self.session_label.setTextFormat(Qt.TextFormat.PlainText)  # the event's name is text
        self.session_label.setWordWrap(True)
        head.addWidget(self.session_label, 1)
        self.body.addLayout(head)
        # shown while anyone on the network could send reads as any stream (config.timing_exposure)
        self.exposure = QLabel()
        self.exposure.setObjectName("timing_exposure")
        self.exposure.setTextFormat(Qt.TextFormat.PlainText)
        self.exposure.setWordWrap(True)
        self.exposure.setStyleSheet("color: #7c2d12; background: #fff4e5; padding: 4px;")
        self.exposure.hide()
        self.body.addWidget(self.exposure)
        split = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_lay = column(top)
        top_lay.addWidget(section("Timing streams"))
        self.streams = StreamsTable(self)
        self.streams.itemSelectionChanged.connect(self._stream_selected)
        top_lay.addWidget(self.streams, 1)
        self.clock_banner = ClockBanner()
        top_lay.addWidget(self.clock_banner)
        buttons = QHBoxLayout()
        self.bind_button = button("Bind to display", lambda: self.run(self.bind()), shortcut="Ctrl+B")
        buttons.addWidget(self.bind_button)
        self.unbind_button = button("Unbind", lambda: self.run(self.unbind()), shortcut="Ctrl+U")
        buttons.addWidget(self.unbind_button)
        self.replay_button = button(
            "Replay…",
            self.open_replay,
            shortcut="Ctrl+Shift+R",
            tip="Ctrl+Shift+R: play the selected stream's stored reads into a display session at Nx",
        )
        buttons.addWidget(self.replay_button)
        buttons.addSpacing(24)
        self.import_path = QLineEdit()
        self.import_path.setPlaceholderText("controller folder or .csv/.mrk file (network failed?)")
        buttons.addWidget(self.import_path, 1)
        buttons.addWidget(button("Browse…", self.pick_controller_folder))
        self.import_button = button("Import controller files", lambda: self.run(self.import_files()))
        buttons.addWidget(self.import_button)
        top_lay.addLayout(buttons)
        split.addWidget(top)

        bottom = QWidget()
        bottom_row = QHBoxLayout(bottom)
        bottom_row.setContentsMargins(0, 0, 0, 0)
        preview_col = QVBoxLayout()
        self.preview_title = section("Live preview")
        self.preview_title.setTextFormat(Qt.TextFormat.PlainText)  # names sent by timing clients
        preview_col.addWidget(self.preview_title)
        self.preview = ReadPreview(self)
        preview_col.addWidget(self.preview, 1)
        bottom_row.addLayout(preview_col, 1)

        # the clock and the rules scroll beside the preview when the window is short (a laptop)
        side_scroll = QScrollArea()
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_part = PageBody()
        side_scroll.setWidget(side_part)
        side = column(side_part)
        self.clock = StreamClockBox(self, self.streams.selected_stream)
        self.clock.applied.connect(lambda *_: self._clock_warning())
        side.addWidget(self.clock)
        self.rules_form = RulesForm(self)
        self.rules_form.applied.connect(self._session_info)
        side.addWidget(self.rules_form, 1)
        bottom_row.addWidget(side_scroll, 1)
        split.addWidget(bottom)
        split.setSizes([260, 420])
        self.body.addWidget(split, 1)

        self.replay_dialog: ReplayDialog | None = None  # the last one opened (the replay outlives it)
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
        hint = timing_exposure(self.services.settings)
        self.exposure.setText(f"⚠ {hint}" if hint else "")
        self.exposure.setVisible(bool(hint))
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
        self.rules_form.rules_summary.setText("")
        self.refresh_streams()
        self._stream_selected()

    def _session_info(self) -> None:
        s = self.flow.session
        if s is None:
            self.session_label.setText("No display session yet: choose the event and template first.")
            return
        n = len(s.streams)
        self.session_label.setText(
            f"— {self.flow.event_name} — mode {s.mode} — "
            f"{n} stream{'s' if n != 1 else ''} bound, {s.finishers} crossings, {s.suppressed} suppressed"
        )

    def _load_rules(self) -> None:
        self.rules_form.load(self.flow.session)

    # --- streams --------------------------------------------------------------------------
    def refresh_streams(self) -> None:
        selected = self.streams.selected_stream()
        self.streams.refresh()
        if selected != self.streams.selected_stream():
            self._stream_selected()
        self._update_buttons()
        self._clock_warning()

    def _update_buttons(self) -> None:
        sid = self.streams.selected_stream()
        s = self.flow.session
        self.bind_button.setEnabled(bool(sid and s and sid not in s.streams))
        self.unbind_button.setEnabled(bool(sid and s and sid in s.streams))
        st = self.services.timing.stream(sid) if sid else None
        self.replay_button.setEnabled(bool(st and st.reads))

    def _clock_warning(self) -> None:
        sid = self.streams.selected_stream()
        self.clock_banner.show_stream(self.services.timing.stream(sid) if sid else None)

    def _stream_selected(self) -> None:
        sid = self.streams.selected_stream()
        self._update_buttons()
        self.preview.clear_reads()
        self._clock_warning()
        self.clock.load()
        self._history_for = sid
        if sid is None:
            self.preview_title.setText("Live preview — select a stream")
            return
        st = self.services.timing.stream(sid)
        self.preview_title.setText(f"Live preview — {st.client or st.protocol} {st.event_name}".rstrip())
        recent = list(self.window_.feed.recent.get(sid, ()))[-MAX_PREVIEW:]
        self.preview.add_rows(recent)  # at once; the stored history joins them when loaded
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
        if self._history_for != sid or self.streams.selected_stream() != sid:
            return  # another stream was chosen meanwhile
        self.preview.merge(stored)

    # --- preview --------------------------------------------------------------------------
    def _reads_added(self, reads: list[StoredRead]) -> None:
        sid = self.streams.selected_stream()
        mine = [r for r in reads if r.stream_id == sid]
        if mine:
            self.preview.add_rows(mine)

    def _decided(self, derived: Any) -> None:
        if not self.isVisible() or not self.preview.rowCount():
            return
        self.preview.redecide(derived)
        self._session_info()

    # --- operations -----------------------------------------------------------------------
    async def bind(self) -> None:
        sid = self.streams.selected_stream()
        if not sid:
            self.say("Select a timing stream first.", error=True)
            return
        s = await self.flow.ensure_session()
        await self.services.ops.sessions.bind(s.id, sid)
        self.say("Bound: its reads now reach the display (reads stored so far were run through the rules).")
        self.refresh_streams()
        self._stream_selected()
        self._session_info()

    async def unbind(self) -> None:
        sid, s = self.streams.selected_stream(), self.flow.session
        if sid and s:
            await self.services.ops.sessions.unbind(s.id, sid)
            self.say("Unbound: new reads of this stream no longer reach the display.")
            self.refresh_streams()
            self._stream_selected()
            self._session_info()

    def open_replay(self) -> ReplayDialog | None:
        """The Replay… dialog for the selected stream (it finds a replay of it already running)."""
        sid = self.streams.selected_stream()
        if not sid:
            self.say("Select a timing stream to replay first.", error=True)
            return None
        if self.replay_dialog is not None:
            self.replay_dialog.close()
            self.replay_dialog.deleteLater()
        self.replay_dialog = ReplayDialog(self.window_, sid)
        self.replay_dialog.open()
        return self.replay_dialog

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
        report = (await self.services.ops.timing.import_files({"path": path})).summary
        self.say(
            f"Imported {report['reads']} reads at {report['location']} ({report['already_imported']} already there, "
            f"{report['bad_row_count']} bad rows)."
        )
        self.refresh_streams()
        self.streams.select_stream(report["timing_session_id"])

    async def primary_action(self) -> bool:
        await self.flow.ensure_session()
        return True
