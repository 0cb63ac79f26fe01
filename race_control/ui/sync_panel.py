"""Central sync in the main window: an indicator in the status bar and a panel with Sync now.

Both read the sync worker (``services.sync``): ``status()`` gives the current ``SyncStatus``
(race_control/sync/status.py) and every callable in ``on_status`` is called with the new one
when it changes; ``request()`` asks for a round now.  A listener may be called from another
thread than Qt's: it only emits a signal (queued to the GUI thread then), and the widgets
redraw once per loop turn however many statuses arrived.  The panel's relative times ("oldest
3 min", "2 min ago") are redrawn every second while it is shown.

Texts from the central database (the last error) are shown as plain text.
"""

from __future__ import annotations

import html
import inspect
import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from race_control.sync.status import OFF, SyncStatus
from race_control.ui import tasks

# text, colour per state
STATES = {
    "off": ("Off", "#6b7280"),
    "idle": ("Idle", "#1b5e20"),
    "syncing": ("Syncing…", "#1d4ed8"),
    "offline": ("Offline", "#a15c00"),
    "error": ("Error", "#b71c1c"),
}


def age_text(seconds: float) -> str:
    """A duration for people: ``12 s``, ``3 min``, ``2 h 5 min``, ``3 d 4 h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def backlog_text(st: SyncStatus, now: float | None = None) -> str:
    """``1,234 rows, oldest 3 min`` (what is not in the central database yet)."""
    if st.backlog <= 0:
        return "nothing waiting"
    now = time.time() if now is None else now
    rows = f"{st.backlog:,} row{'s' if st.backlog != 1 else ''}"
    return rows if st.backlog_since is None else f"{rows}, oldest {age_text(now - st.backlog_since)}"


def when_text(ts: float | None, now: float | None = None) -> str:
    """``12:03:04 (3 min ago)``; the date too when it is not today; ``never``."""
    if ts is None:
        return "never"
    now = time.time() if now is None else now
    fmt = "%H:%M:%S" if time.localtime(ts)[:3] == time.localtime(now)[:3] else "%Y-%m-%d %H:%M:%S"
    return f"{time.strftime(fmt, time.localtime(ts))} ({age_text(now - ts)} ago)"


def state_text(st: SyncStatus, now: float | None = None) -> str:
    """The state in a sentence: what it means and what happens next."""
    now = time.time() if now is None else now
    retry = ""
    if st.next_attempt is not None:
        retry = "retrying now" if st.next_attempt <= now else f"retrying in {age_text(st.next_attempt - now)}"
    if st.state == "off":
        return "Off — no central database (Settings → Central sync)"
    if st.state == "idle":
        return "Idle — up to date" if st.backlog <= 0 else "Idle — the rest goes in the next round"
    if st.state == "syncing":
        return "Syncing…"
    if st.state == "offline":
        return "Offline — the central database cannot be reached" + (f"; {retry}" if retry else "")
    if st.state == "error":
        return "Error — the central database refused" + (f"; {retry}" if retry else "")
    return st.state


def short_text(st: SyncStatus) -> str:
    """The status bar's: ``Sync: idle`` plus the backlog when there is one."""
    text = f"Sync: {STATES.get(st.state, (st.state, ''))[0].lower()}"
    return text + (f" · {st.backlog:,} waiting" if st.backlog > 0 else "")


class SyncWatch(QObject):
    """One subscription to ``sync.on_status``: ``changed`` carries each new status on the GUI
    thread, at most once per loop turn (the newest)."""

    changed = Signal(object)
    _arrived = Signal(object)

    def __init__(self, sync: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sync = sync
        self.latest: SyncStatus = sync.status() if sync is not None else OFF
        self._arrived.connect(self._take)  # queued when emitted on another thread
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(0)
        self._redraw.timeout.connect(lambda: self.changed.emit(self.latest))
        if sync is not None:
            sync.on_status.append(self._listener)

    def _listener(self, status: SyncStatus) -> None:
        self._arrived.emit(status)

    def _take(self, status: SyncStatus) -> None:
        self.latest = status
        if not self._redraw.isActive():
            self._redraw.start()

    def request(self) -> None:
        """Sync now (``request()`` may be a plain call or return a coroutine)."""
        if self.sync is None:
            return
        result = self.sync.request()
        if inspect.isawaitable(result):
            tasks.spawn(result, name="sync-now")  # type: ignore[arg-type]

    def detach(self) -> None:
        """Stop listening (the window is closing; the worker outlives it)."""
        if self.sync is not None and self._listener in self.sync.on_status:
            self.sync.on_status.remove(self._listener)
        self._redraw.stop()


class SyncPanel(QFrame):
    """State, backlog, last success, last error, and Sync now."""

    def __init__(self, sync: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syncPanel")
        self.watch = SyncWatch(sync, self)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.state = _plain(QLabel())
        self.state.setObjectName("syncState")
        form.addRow("State", self.state)
        self.central = _plain(QLabel())
        form.addRow("Central database", self.central)
        self.backlog = _plain(QLabel())
        form.addRow("Not sent yet", self.backlog)
        self.last_success = _plain(QLabel())
        form.addRow("Last success", self.last_success)
        self.last_error = _plain(QLabel())
        self.last_error.setObjectName("syncError")
        form.addRow("Last error", self.last_error)
        self.counts = _plain(QLabel())
        form.addRow("Since start", self.counts)
        lay.addLayout(form)
        row = QHBoxLayout()
        row.addStretch(1)
        self.sync_now = QPushButton("Sync now")
        self.sync_now.setToolTip("Send what is waiting and fetch what other laptops shared, now")
        self.sync_now.clicked.connect(self.request)
        row.addWidget(self.sync_now)
        lay.addLayout(row)
        self.watch.changed.connect(self.show_status)
        self.ticker = QTimer(self)  # "oldest 3 min", "2 min ago" move on
        self.ticker.setInterval(1000)
        self.ticker.timeout.connect(lambda: self.show_status(self.watch.latest))
        self.show_status(self.watch.latest)

    @property
    def status(self) -> SyncStatus:
        return self.watch.latest

    def show_status(self, st: SyncStatus, now: float | None = None) -> None:
        now = time.time() if now is None else now
        colour = STATES.get(st.state, ("", "#111827"))[1]
        self.state.setText(state_text(st, now))
        self.state.setStyleSheet(f"color: {colour}; font-weight: 700;")
        self.central.setText(st.central or ("—" if not st.configured else "configured"))
        self.backlog.setText(backlog_text(st, now))
        self.last_success.setText(when_text(st.last_success, now))
        if st.last_error:
            at = f" (at {when_text(st.last_error_at, now)})" if st.last_error_at is not None else ""
            self.last_error.setText(st.last_error + at)
        else:
            self.last_error.setText("none")
        self.last_error.setStyleSheet("color: #b71c1c;" if st.last_error else "")
        self.counts.setText(f"{st.pushed:,} rows sent, {st.pulled:,} received from other laptops")
        self.sync_now.setEnabled(st.configured and st.state != "syncing")

    def request(self) -> None:
        self.watch.request()

    def showEvent(self, event: Any) -> None:  # Qt override
        self.ticker.start()
        self.show_status(self.watch.latest)
        super().showEvent(event)

    def hideEvent(self, event: Any) -> None:  # Qt override
        self.ticker.stop()
        super().hideEvent(event)

    def detach(self) -> None:
        self.ticker.stop()
        self.watch.detach()


class SyncIndicator(QPushButton):
    """The status bar's ``● Sync: idle · 1,234 waiting``; a click opens the panel."""

    def __init__(self, sync: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syncIndicator")
        self.setFlat(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.watch = SyncWatch(sync, self)
        self.watch.changed.connect(self.show_status)
        self.clicked.connect(self.open_panel)
        self.dialog: SyncDialog | None = None
        self.show_status(self.watch.latest)

    def show_status(self, st: SyncStatus) -> None:
        colour = STATES.get(st.state, ("", "#111827"))[1]
        self.setText(f"● {short_text(st)}")
        self.setStyleSheet(f"#syncIndicator {{ color: {colour}; font-weight: 600; padding: 0 6px; }}")
        tip = [
            state_text(st),
            f"Not sent yet: {backlog_text(st)}",
            f"Last success: {when_text(st.last_success)}",
        ]
        if st.last_error:
            tip.append(f"Last error: {st.last_error}")
        # rich text on purpose, escaped: a tooltip that looks like markup is rendered as such
        self.setToolTip("<p>" + "<br>".join(html.escape(line) for line in tip) + "</p>")

    def open_panel(self) -> None:
        if self.dialog is None:
            self.dialog = SyncDialog(self.watch.sync, self.window())
        self.dialog.show()
        self.dialog.activateWindow()

    def detach(self) -> None:
        self.watch.detach()
        if self.dialog is not None:
            self.dialog.panel.detach()
            self.dialog.close()


class SyncDialog(QDialog):
    def __init__(self, sync: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Central sync")
        self.resize(640, 250)
        lay = QVBoxLayout(self)
        self.panel = SyncPanel(sync, self)
        lay.addWidget(self.panel)


def _plain(label: QLabel) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label
