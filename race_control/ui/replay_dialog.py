"""Replay…: play a stored timing stream into one of the event's display sessions, at Nx.

Opened from the Timing page for the selected stream.  The form: the display session (the chosen
event's sessions; one bound live to this stream, closed, or replaying something else is listed
disabled with the reason), the speed (0.5x to 100x, or as fast as possible) and an optional
from/to time of day on the stream's clock.  Start checks the form here (each field named), then
calls ``Operations.replay.start`` — the operation the API's ``POST .../replay`` calls — whose
refusals are shown in the dialog; nothing is started unless it accepts.  While it runs: reads
played of the total, the percent, where the race clock is, the ETA; Pause/Resume, a new speed
and Stop call ``Operations.replay.update`` / ``stop``.  The replay belongs to the operations, not to the
dialog: closing the dialog leaves it running, and a dialog opened later for the stream finds it
and shows its progress again.  Progress is read from the replay's in-memory status four times a
second (no store access, nothing on the loop longer than a redraw).
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from race_control.errors import Conflict
from race_control.ui import tasks
from race_control.ui.widgets import EXPECTED

SPEEDS = [0.5, 1, 2, 5, 10, 25, 50, 100]
AS_FAST = "As fast as possible"
MIN_SPEED, MAX_SPEED = 0.5, 100.0
_SPEED = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*[x]?\s*$", re.IGNORECASE)
_TIME = re.compile(r"^(\d{1,2}):([0-5]\d):([0-5]\d)$")
POLL_MS = 250


def speed_text(speed: float) -> str:
    return AS_FAST if speed == 0 else f"{speed:g}x"


def parse_speed(text: str) -> float:
    """The speed typed or chosen: 0 for as fast as possible; ValueError says what is allowed."""
    if text.strip().lower() == AS_FAST.lower():
        return 0.0
    m = _SPEED.match(text)
    value = float(m.group(1).replace(",", ".")) if m else None
    if value is None or not MIN_SPEED <= value <= MAX_SPEED:
        raise ValueError(
            f"Speed must be {MIN_SPEED:g}x to {MAX_SPEED:g}x, or “{AS_FAST}” (not “{text.strip()}”)."
        )
    return value


def parse_time(text: str, label: str) -> int | None:
    """Seconds since midnight of an optional HH:MM:SS; ValueError names the field."""
    text = text.strip()
    if not text:
        return None
    m = _TIME.match(text)
    if m is None or int(m.group(1)) > 23:
        raise ValueError(f"“{label}” must be a time of day HH:MM:SS (00:00:00 to 23:59:59), or empty.")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ReplayDialog(QDialog):
    def __init__(self, window: Any, stream_id: str) -> None:
        super().__init__(window)
        self.window_ = window
        self.services = window.services
        self.stream_id = stream_id
        self.session_id: str | None = None  # the session whose replay this dialog shows
        self.busy: Any = None  # the start / pause / stop call in flight
        st = self.services.timing.stream(stream_id)
        self.stream_name = (st.event_name or st.client or st.protocol) if st else stream_id
        self.setWindowTitle(f"Replay — {self.stream_name}")
        self.resize(640, 360)
        lay = QVBoxLayout(self)
        about = QLabel(
            "Play this recorded stream into a display session as if it were live: its screens show the "
            "crossings (marked REPLAY) through the session's rules. The stream itself is not changed."
        )
        about.setWordWrap(True)
        lay.addWidget(about)
        self.stream_label = QLabel()
        self.stream_label.setTextFormat(Qt.TextFormat.PlainText)  # names sent by timing clients
        self.stream_label.setWordWrap(True)
        if st is not None:
            where = ", ".join(st.locations) or "no location"
            self.stream_label.setText(f"Stream: {self.stream_name} — {where} — {st.reads} reads stored")
        lay.addWidget(self.stream_label)

        form = QFormLayout()
        self.session_box = QComboBox()
        self.session_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.session_box.setMinimumContentsLength(30)
        self.session_box.currentIndexChanged.connect(lambda *_: self._session_chosen())
        form.addRow("Into display session", self.session_box)
        self.speed_box = QComboBox()
        self.speed_box.setEditable(True)  # any speed in range may be typed
        self.speed_box.addItems([speed_text(s) for s in SPEEDS] + [AS_FAST])
        self.speed_box.setCompleter(None)  # typed "5" stays 5x (the completer made it "50x")
        self.speed_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.speed_box.setToolTip("While it runs, a new speed applies at once (Enter or a pick)")
        self.speed_box.textActivated.connect(lambda *_: self.change_speed())
        edit = self.speed_box.lineEdit()
        assert edit is not None
        edit.returnPressed.connect(self.change_speed)
        self.speed_box.setCurrentText(speed_text(10))
        form.addRow("Speed", self.speed_box)
        window_row = QHBoxLayout()
        self.from_edit = QLineEdit()
        self.from_edit.setPlaceholderText("from HH:MM:SS")
        self.from_edit.setToolTip("Optional: only the reads from this time of day on the stream's clock")
        window_row.addWidget(self.from_edit)
        window_row.addWidget(QLabel("to"))
        self.to_edit = QLineEdit()
        self.to_edit.setPlaceholderText("to HH:MM:SS")
        self.to_edit.setToolTip("Optional: only the reads up to this time of day (inclusive)")
        window_row.addWidget(self.to_edit)
        form.addRow("Time window (optional)", window_row)
        lay.addLayout(form)
        self.error = QLabel()
        self.error.setObjectName("replayError")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b71c1c; font-weight: 600;")
        self.error.hide()
        lay.addWidget(self.error)

        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("")
        lay.addWidget(self.bar)
        self.progress = QLabel("Not started.")
        self.progress.setTextFormat(Qt.TextFormat.PlainText)
        self.progress.setWordWrap(True)
        lay.addWidget(self.progress)
        lay.addStretch(1)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.start_button = QPushButton("Start replay")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        buttons.addWidget(self.start_button)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        buttons.addWidget(self.pause_button)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.stop_button)
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("The replay goes on; Replay… shows it again")
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.refresh)
        self.load_sessions()
        self.refresh()

    # --- sessions -------------------------------------------------------------------------
    @property
    def replays(self) -> Any:
        return self.services.ops.replay

    def load_sessions(self) -> None:
        """The chosen event's sessions; unavailable ones disabled with the operation's reason.
        A session already replaying this stream is selected (the dialog reopened mid-replay)."""
        self.session_box.blockSignals(True)
        self.session_box.clear()
        model = self.session_box.model()
        assert isinstance(model, QStandardItemModel)
        running_here: int | None = None
        first_free: int | None = None
        preferred = self.window_.flow.session_id
        for s in self.window_.flow.event_sessions():
            name = s.name or "Display"
            r = self.replays.latest(s.id)
            mine = r is not None and r.state == "running" and r.stream_id == self.stream_id
            reason = ""
            if not mine:
                try:
                    self.replays.check_target(s.id, self.stream_id)
                except Conflict as exc:
                    reason = str(exc)
            short = _short_reason(s, self.stream_id, r) if reason else ""
            label = f"{name} ({s.mode})" + (f" — {short}" if short else "") + (" — replaying" if mine else "")
            self.session_box.addItem(label, s.id)
            i = self.session_box.count() - 1
            item = model.item(i)
            if reason:
                item.setEnabled(False)
                item.setToolTip(reason)
            if mine and running_here is None:
                running_here = i
            if not reason and not mine and (first_free is None or s.id == preferred):
                first_free = i
        pick = running_here if running_here is not None else first_free
        if pick is None and self.session_box.count():
            pick = -1
        self.session_box.setCurrentIndex(pick if pick is not None else -1)
        self.session_box.blockSignals(False)
        self._session_chosen()

    def _session_chosen(self) -> None:
        self.session_id = self.session_box.currentData()
        self.error.hide()
        r = self._running()
        if r is not None and r.state == "running":
            self.speed_box.setCurrentText(speed_text(r.speed))  # reopened: the speed it runs at
        self.refresh()

    def _running(self) -> Any:
        if not self.session_id:
            return None
        r = self.replays.latest(self.session_id)
        return r if r is not None and r.stream_id == self.stream_id else None

    # --- start ----------------------------------------------------------------------------
    def form_body(self) -> dict[str, Any]:
        """The replay request from the form; ValueError names the field that is wrong."""
        if not self.session_id:
            if self.session_box.count():
                raise ValueError(
                    "Choose a display session that can take this replay (the others say why not)."
                )
            raise ValueError("This event has no display session: create one on the Display page first.")
        speed = parse_speed(self.speed_box.currentText())
        start = parse_time(self.from_edit.text(), "From")
        end = parse_time(self.to_edit.text(), "To")
        if start is not None and end is not None and start >= end:
            raise ValueError("“From” must be before “To”.")
        body: dict[str, Any] = {"timing_session_id": self.stream_id, "speed": speed}
        if start is not None:
            body["from"] = self.from_edit.text().strip()
        if end is not None:
            body["to"] = self.to_edit.text().strip()
        return body

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def start(self) -> None:
        try:
            body = self.form_body()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        self._call(self._start(str(self.session_id), body))

    async def _start(self, session_id: str, body: dict[str, Any]) -> None:
        await self.replays.start(session_id, body)
        self.load_sessions()  # the session is now "replaying"; it stays selected

    # --- while it runs --------------------------------------------------------------------
    def toggle_pause(self) -> None:
        r = self._running()
        if r is not None and r.state == "running":
            self._call(self.replays.update(r.session_id, {"paused": not r.paused}))

    def change_speed(self) -> None:
        """A speed picked or typed while the replay runs: applied at once (re-paced from here)."""
        r = self._running()
        if r is None or r.state != "running":
            return
        try:
            speed = parse_speed(self.speed_box.currentText())
        except ValueError as exc:
            self.show_error(str(exc))
            return
        if speed != r.speed:
            self.show_error("")
            self._call(self.replays.update(r.session_id, {"speed": speed}))

    def stop(self) -> None:
        r = self._running()
        if r is not None and r.state == "running":
            self._call(self.replays.stop(r.session_id))

    def _call(self, coro: Any) -> None:
        async def guarded() -> None:
            try:
                await coro
            except EXPECTED as exc:
                self.show_error(str(exc))
            finally:
                self.busy = None
                self.refresh()

        self.busy = tasks.spawn(guarded(), name="replay-dialog")
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the replay's status (the form while none runs here)."""
        r = self._running()
        running = r is not None and r.state == "running"
        idle = self.busy is None
        self.session_box.setEnabled(idle and not running)
        for w in (self.from_edit, self.to_edit):
            w.setEnabled(idle and not running)
        self.speed_box.setEnabled(idle)  # changeable while it runs
        self.start_button.setEnabled(idle and not running and bool(self.session_id))
        self.pause_button.setEnabled(idle and running)
        self.stop_button.setEnabled(idle and running)
        self.pause_button.setText("Resume" if running and r.paused else "Pause")
        if running and not self.timer.isActive():
            self.timer.start()
        elif not running and self.timer.isActive():
            self.timer.stop()
        if r is None:
            self.bar.setValue(0)
            self.bar.setFormat("")
            self.progress.setText("Not started." if self.session_id else "")
            return
        j = r.to_json()
        self.bar.setValue(round(j["percent"] * 10))
        self.bar.setFormat(f"{j['percent']:.1f} %  ({j['played']:,} of {j['total']:,} reads)")
        state = {
            "running": "Paused" if j["paused"] else f"Replaying at {speed_text(j['speed'])}",
            "finished": "Finished",
            "stopped": "Stopped",
            "failed": "Failed",
        }[j["state"]]
        clock = j["replay_clock"] or "—"
        if j["last_clock"]:
            clock += f" (last read {j['last_clock']})"
        window = ""
        if j["from"] or j["to"]:
            window = f" · window {j['from'] or 'start'} to {j['to'] or 'end'}"
        lines = [
            f"{state}: {j['played']:,} of {j['total']:,} reads ({j['percent']:.1f} %){window}",
            f"Race clock at {clock} · {j['finishers']} finishers shown · {j['suppressed']} suppressed",
        ]
        if running:
            lines.append(f"ETA {eta_text(j['eta_seconds'])}")
        elif j["reason"] and j["state"] != "finished":
            lines.append(f"Why: {j['reason']}")
        self.progress.setText("\n".join(lines))

    def done(self, result: int) -> None:
        self.timer.stop()  # the replay goes on without the dialog
        super().done(result)


def _short_reason(s: Any, stream_id: str, r: Any) -> str:
    if s.status != "open":
        return "closed"
    if stream_id in s.streams:
        return "bound live to this stream"
    if r is not None and r.state == "running":
        return "replaying another stream"
    return "unavailable"
