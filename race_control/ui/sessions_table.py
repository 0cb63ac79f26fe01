"""The display page's list of the event's display sessions: new, close, leaderboard size.

Several display sessions of one event run side by side (different races, waves, screens), each
with its own URL, streams and rules.  Selecting one here makes it ``Flow.session``, the one the
template and timing pages work on; closed sessions are listed but cannot be chosen.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from race_control.sessions.live import LiveSession
from race_control.ui.widgets import GOOD, MUTED, WARN, Page, button, cell, column, section, set_row, table

SESSION_COLUMNS = ["Display session", "Mode", "Screens", "Bound streams", "Finishers", "Status"]


class NewSessionDialog(QDialog):
    """Name + mode of a further display session (window-modal, opened with ``open()``: never blocks)."""

    def __init__(self, parent: Any, mode: str, count: int) -> None:
        super().__init__(parent)
        self.setWindowTitle("New display session")
        form = QFormLayout(self)
        self.name = QLineEdit(f"Display {count + 1}")
        self.name.setMaxLength(200)
        self.name.setToolTip("e.g. the race, wave or screen group it is for: “10K finish”, “Wave B”")
        self.name.selectAll()
        self.mode = QComboBox()
        self.mode.addItem("Results", "results")
        self.mode.addItem("Pre-race", "pre-race")
        self.mode.setCurrentIndex(0 if mode == "results" else 1)
        form.addRow("Name", self.name)
        form.addRow("Screens show", self.mode)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[str, str]:
        return self.name.text().strip(), str(self.mode.currentData())


class SessionsPanel(QWidget):
    """Heading with the session actions, then the sessions table.  ``page`` runs the
    service calls and shows their messages; its dialogs are parented to the page."""

    session_closed = Signal(str)  # the id, after the close

    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        lay = column(self, page.body.spacing())  # as if its rows stood in the page's body
        # the heading and the session actions share one row: a laptop screen has no height to spare
        session_row = QHBoxLayout()
        self.sessions_title = section("Display sessions", elide=True)  # the event's name: text, elided
        session_row.addWidget(self.sessions_title, 1)
        self.new_session_button = button(
            "New display session…",
            self.open_new_session,
            shortcut="Ctrl+Shift+N",
            tip="Ctrl+Shift+N: another race, wave or group of screens with its own URL",
        )
        session_row.addWidget(self.new_session_button)
        self.close_session_button = button(
            "Close session",
            self.confirm_close,
            tip="Ends the selected session: its screens are disconnected",
        )
        session_row.addWidget(self.close_session_button)
        session_row.addSpacing(12)
        session_row.addWidget(QLabel("Leaderboard: top"))
        self.leaderboard = QSpinBox()
        self.leaderboard.setRange(0, 100)
        self.leaderboard.setSpecialValueText("off")  # 0
        self.leaderboard.setToolTip("Screens also show the N fastest overall and per division (0 = off)")
        self.leaderboard.valueChanged.connect(lambda *_: self._leaderboard_timer.start())
        session_row.addWidget(self.leaderboard)
        lay.addLayout(session_row)
        self.sessions = table(SESSION_COLUMNS, stretch=3, fit=True)
        self.sessions.itemSelectionChanged.connect(self._session_row_selected)
        self.session_ids: list[str] = []  # row -> session id (plain Python, nothing stored in Qt items)
        lay.addWidget(self.sessions)
        self._leaderboard_timer = QTimer(self)  # arrow clicks and typing settle before the update
        self._leaderboard_timer.setSingleShot(True)
        self._leaderboard_timer.setInterval(400)
        self._leaderboard_timer.timeout.connect(lambda: page.run(self.apply_leaderboard()))
        self.new_dialog: NewSessionDialog | None = None
        self.close_box: QMessageBox | None = None

    def show_session(self, s: LiveSession) -> None:
        """Another session was selected: its settings, without sending them back."""
        self.leaderboard.blockSignals(True)
        self.leaderboard.setValue(s.leaderboard_top)
        self.leaderboard.blockSignals(False)

    def update_buttons(self) -> None:
        s = self.page.flow.session
        live = s is not None and s.status == "open"
        self.close_session_button.setEnabled(live)
        self.leaderboard.setEnabled(live)
        self.new_session_button.setEnabled(bool(self.page.flow.event_id))

    def refresh(self) -> list[LiveSession]:
        """Redraw the rows (screen counts change every second); the event's sessions."""
        flow, services = self.page.flow, self.page.services
        sessions = flow.event_sessions()
        current = flow.session_id
        self.sessions_title.setText(
            f"Display sessions — {flow.event_name}" if sessions else "Display sessions"
        )
        self.sessions.blockSignals(True)
        self.sessions.setRowCount(len(sessions))
        self.session_ids = [s.id for s in sessions]
        for row, s in enumerate(sessions):
            is_open = s.status == "open"
            streams = [services.timing.stream(x) for x in sorted(s.streams)]
            names = [
                f"{st.client or st.protocol} {st.event_name}".strip() for st in streams if st is not None
            ]
            screens = len(services.hub.screens(s.id))
            muted = None if is_open else MUTED
            set_row(
                self.sessions,
                row,
                [
                    cell(s.name or "Display", bold=s.id == current, color=muted),
                    cell("pre-race" if s.mode == "pre-race" else "results", color=muted),
                    cell(screens, color=muted),
                    cell(", ".join(names) or "none", color=muted if names else WARN),
                    cell(s.finishers, color=muted),
                    cell("● open" if is_open else "closed", color=GOOD if is_open else MUTED, bold=is_open),
                ],
            )
            if not is_open:  # closed sessions are listed, not chosen
                for col in range(self.sessions.columnCount()):
                    item = self.sessions.item(row, col)
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            if s.id == current:
                self.sessions.selectRow(row)
        if current not in self.session_ids:
            self.sessions.clearSelection()
        self.sessions.blockSignals(False)
        self._fit_sessions_table()
        return sessions

    def _fit_sessions_table(self) -> None:
        """As tall as its rows (2 to 5 shown, then it scrolls): the screens and feed keep the room."""
        t = self.sessions
        rows = min(max(t.rowCount(), 2), 5)
        row_h = t.verticalHeader().defaultSectionSize()
        t.setFixedHeight(t.horizontalHeader().height() + rows * row_h + 2 * t.frameWidth())

    def _session_row_selected(self) -> None:
        rows = self.sessions.selectionModel().selectedRows()
        if rows and rows[0].row() < len(self.session_ids):
            sid = self.session_ids[rows[0].row()]
            if sid != self.page.flow.session_id:
                # after this signal returns: flow.changed redraws this very table
                QTimer.singleShot(0, lambda: self.page.flow.set_session(sid))

    def select_session(self, session_id: str) -> None:
        self.sessions.selectRow(self.session_ids.index(session_id))

    def open_new_session(self) -> None:
        page = self.page
        if not page.flow.event_id:
            page.say("Choose an event first.", error=True)
            return
        dialog = NewSessionDialog(page, page.flow.mode, len(page.flow.event_sessions()))
        dialog.accepted.connect(lambda: page.run(self.create_session(*dialog.values())))
        dialog.open()  # window-modal but non-blocking: the loop keeps running
        self.new_dialog = dialog

    async def create_session(self, name: str, mode: str) -> LiveSession:
        s = await self.page.flow.create_session(name, mode)
        self.page.say(f"Created “{s.name or 'Display'}”: open its address on the screens that belong to it.")
        return s

    def confirm_close(self) -> None:
        page = self.page
        s = page.flow.session
        if s is None or s.status != "open":
            return
        n = len(page.services.hub.screens(s.id))
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Close display session",
            f"Close “{s.name or 'Display'}”? Its {n} connected screen{'s' if n != 1 else ''} "
            "will show that the display ended; its address stops working.",
            QMessageBox.StandardButton.Cancel,
            page,
        )
        confirm = box.addButton("Close session", QMessageBox.ButtonRole.DestructiveRole)
        confirm.clicked.connect(lambda: page.run(self.close_session(s.id)))
        box.open()  # non-blocking, never inside a coroutine
        self.close_box = box

    async def close_session(self, session_id: str) -> None:
        name = self.page.services.sessions.get(session_id).name or "Display"
        await self.page.flow.close_session(session_id)
        self.page.say(f"Closed “{name}”; its screens were disconnected.")
        self.session_closed.emit(session_id)

    async def apply_leaderboard(self) -> None:
        s = self.page.flow.session
        n = self.leaderboard.value()
        if s is None or s.status != "open" or s.leaderboard_top == n:
            return
        await self.page.services.ops.sessions.set_leaderboard(s.id, n)
        self.page.say(f"Screens now show the top {n}." if n else "Leaderboard off.")
