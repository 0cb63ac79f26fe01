"""Alerts in the desktop app: a banner at the top of the main window and a list to acknowledge.

The banner shows while the board (``services.alerts``, race_control.alerts) lists anything:
coloured by the worst active severity (grey when every listed alert is resolved but not yet
acknowledged), the newest message and "N alerts".  "Show alerts…" opens a non-modal dialog
with one row per alert (kind, message, since, count, state) and an Acknowledge button.

Alert messages carry text from timing clients and screens (event names, screen ids), so
every label is plain text.  The board calls its listeners on the loop; the banner redraws
once per loop turn however many alerts changed (a zero-time single-shot timer).
"""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from race_control.alerts import Alert, AlertBoard

KIND_TITLES = {
    "stream_silent": "Silent timing stream",
    "screen_lost": "Screen lost",
    "clock_off": "Clock far off",
    "storage_error": "Storage error",
    "seq_conflict": "Conflicting reads",
    "stream_claimed": "Stream claimed",
    "timing_refused": "Timing client refused",
    "cap_reached": "Limit reached",
    "backlog": "Backlog",
    "low_disk": "Low disk space",
    "sync_backlog": "Sync backlog",
}
# background, border, text
COLOURS = {
    "critical": ("#fdecea", "#c62828", "#7f0000"),
    "warning": ("#fff4e5", "#b45309", "#7c2d12"),
    "info": ("#e8f0fe", "#1d4ed8", "#1e3a8a"),
    "resolved": ("#f3f4f6", "#9ca3af", "#374151"),
}
RANK = {"info": 0, "warning": 1, "critical": 2}
COLUMNS = ["Severity", "What", "Message", "Since", "Count", "State", ""]


def _plain(label: QLabel) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, kind)


def since_text(t: float, now: float | None = None) -> str:
    now = time.time() if now is None else now
    fmt = "%H:%M:%S" if time.localtime(t)[:3] == time.localtime(now)[:3] else "%Y-%m-%d %H:%M"
    return time.strftime(fmt, time.localtime(t))


def banner_severity(listed: list[Alert]) -> str:
    active = [a.severity for a in listed if a.active]
    return max(active, key=RANK.__getitem__) if active else "resolved"


class AlertsBanner(QFrame):
    def __init__(self, board: AlertBoard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = board
        self.setObjectName("alertsBanner")
        self.severity = ""
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        self.title = _plain(QLabel())
        self.title.setStyleSheet("font-weight: 700;")
        row.addWidget(self.title)
        self.label = _plain(QLabel())
        self.label.setWordWrap(True)
        row.addWidget(self.label, 1)
        self.count = _plain(QLabel())
        row.addWidget(self.count)
        self.open_button = QPushButton("Show alerts…")
        self.open_button.clicked.connect(self.open_list)
        row.addWidget(self.open_button)
        self.dialog: AlertsDialog | None = None
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(0)
        self._redraw.timeout.connect(self.refresh)
        board.listeners.append(self._changed)
        self.refresh()

    def _changed(self, _alert: Alert) -> None:
        if not self._redraw.isActive():
            self._redraw.start()

    def detach(self) -> None:
        """Stop listening (the window is closing; the board outlives it)."""
        if self._changed in self.board.listeners:
            self.board.listeners.remove(self._changed)
        self._redraw.stop()
        if self.dialog is not None:
            self.dialog.close()

    def refresh(self) -> None:
        listed = self.board.alerts()
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.refresh()
        if not listed:
            self.hide()
            return
        active = [a for a in listed if a.active]
        newest = active[0] if active else listed[0]
        self.severity = banner_severity(listed)
        bg, border, fg = COLOURS[self.severity]
        self.setStyleSheet(
            f"#alertsBanner {{ background: {bg}; border: 2px solid {border}; border-radius: 6px; }}"
            f"#alertsBanner QLabel {{ color: {fg}; }}"
        )
        self.title.setText(kind_title(newest.kind) + ("" if newest.active else " (resolved)") + ":")
        self.label.setText(newest.message)
        n, resolved = len(listed), len(listed) - len(active)
        self.count.setText(
            f"{n} alert{'s' if n != 1 else ''}" + (f", {resolved} resolved" if resolved else "")
        )
        self.show()

    def open_list(self) -> None:
        if self.dialog is None:
            self.dialog = AlertsDialog(self.board, self.window())
        self.dialog.refresh()
        self.dialog.show()
        self.dialog.activateWindow()


class AlertsDialog(QDialog):
    """Every listed alert, newest first; Acknowledge hides it (a resolved one is then forgotten)."""

    def __init__(self, board: AlertBoard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = board
        self.setWindowTitle("Alerts")
        self.resize(980, 380)
        lay = QVBoxLayout(self)
        self.empty = _plain(QLabel("Nothing needs you now."))
        lay.addWidget(self.empty)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        lay.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.ack_all_button = QPushButton("Acknowledge all")
        self.ack_all_button.clicked.connect(self.acknowledge_all)
        buttons.addWidget(self.ack_all_button)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(close)
        lay.addLayout(buttons)
        self.ids: list[str] = []  # the alert of each row
        self.ack_buttons: dict[str, QPushButton] = {}

    def refresh(self) -> None:
        listed = self.board.alerts()
        self.ids = [a.id for a in listed]
        self.ack_buttons = {}
        self.table.setRowCount(len(listed))
        now = time.time()
        for row, a in enumerate(listed):
            cells = [
                a.severity,
                kind_title(a.kind),
                a.message,
                since_text(a.since, now),
                str(a.count),
                "active" if a.active else "resolved",
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)  # table items are plain text
                item.setToolTip(f"<p>{html.escape(text)}</p>")  # rich text on purpose, escaped: shown as sent
                self.table.setItem(row, col, item)
            button = QPushButton("Acknowledge")
            button.clicked.connect(lambda _=False, alert_id=a.id: self.acknowledge(alert_id))
            self.table.setCellWidget(row, len(COLUMNS) - 1, button)
            self.ack_buttons[a.id] = button
        self.table.resizeRowsToContents()
        self.empty.setVisible(not listed)
        self.ack_all_button.setEnabled(bool(listed))

    def acknowledge(self, alert_id: str) -> None:
        self.board.acknowledge(alert_id)
        self.refresh()

    def acknowledge_all(self) -> None:
        for alert_id in list(self.ids):
            self.board.acknowledge(alert_id)
        self.refresh()
