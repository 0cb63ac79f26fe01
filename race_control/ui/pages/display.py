"""Step 6 — display mode: the event's display sessions; the selected one's unique URL (copy, QR,
open), its screens, its finishers.

Several display sessions of one event run side by side (different races, waves, screens), each
with its own URL, streams and rules.  The one selected here is the one the template and timing
pages work on (``Flow.session``).  Screens are the browsers that opened a URL; their health (last
update, latency) is refreshed every second while this page is visible; each can be reloaded or
moved to another session remotely.  The finisher feed is what the screens receive, in ``seq``
order, corrections included.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from race_control.sessions.live import Derived, LiveSession
from race_control.ui.qr import QrWidget
from race_control.ui.session_picker import session_title
from race_control.ui.widgets import (
    BAD,
    GOOD,
    MUTED,
    WARN,
    Page,
    ago,
    cell,
    clock_text,
    section,
    set_row,
    table,
)

SESSION_COLUMNS = ["Display session", "Mode", "Screens", "Bound streams", "Finishers", "Status"]
SCREEN_COLUMNS = [
    "Screen",
    "Address",
    "Browser",
    "Connected",
    "Last update",
    "Last seq",
    "Latency p50/p95/p99",
]
FEED_COLUMNS = ["#", "Bib", "Name", "Time", "City", "Location", "Note"]
MAX_FEED = 500
STALE_AFTER = 10.0  # seconds without a heartbeat: the screen shows its stale banner by now


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


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


class DisplayPage(Page):
    title = "Display mode"
    hint = "Open this address on every screen at the venue (any browser, no login). The address is the key: share it only with your screens."
    primary_text = "Show analytics"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        self.sessions_title = section("Display sessions")
        self.body.addWidget(self.sessions_title)
        self.sessions = table(SESSION_COLUMNS, stretch=3, fit=True)
        self.sessions.itemSelectionChanged.connect(self._session_row_selected)
        self.session_ids: list[str] = []  # row -> session id (plain Python, nothing stored in Qt items)
        self.body.addWidget(self.sessions)
        session_row = QHBoxLayout()
        self.new_session_button = QPushButton("New display session…")
        self.new_session_button.setShortcut("Ctrl+Shift+N")
        self.new_session_button.setToolTip(
            "Ctrl+Shift+N: another race, wave or group of screens with its own URL"
        )
        self.new_session_button.clicked.connect(self.open_new_session)
        session_row.addWidget(self.new_session_button)
        self.close_session_button = QPushButton("Close session")
        self.close_session_button.setToolTip("Ends the selected session: its screens are disconnected")
        self.close_session_button.clicked.connect(self.confirm_close)
        session_row.addWidget(self.close_session_button)
        session_row.addStretch(1)
        session_row.addWidget(QLabel("Leaderboard: top N (0 = off)"))
        self.leaderboard = QSpinBox()
        self.leaderboard.setRange(0, 100)
        self.leaderboard.setToolTip("Screens also show the N fastest overall and per division")
        self.leaderboard.valueChanged.connect(lambda *_: self._leaderboard_timer.start())
        session_row.addWidget(self.leaderboard)
        self.body.addLayout(session_row)
        self._leaderboard_timer = QTimer(self)  # arrow clicks and typing settle before the update
        self._leaderboard_timer.setSingleShot(True)
        self._leaderboard_timer.setInterval(400)
        self._leaderboard_timer.timeout.connect(lambda: self.run(self.apply_leaderboard()))
        self.new_dialog: NewSessionDialog | None = None
        self.close_box: QMessageBox | None = None

        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(section("Display address"))
        url_row = QHBoxLayout()
        self.url = QLineEdit()
        self.url.setReadOnly(True)
        f = self.url.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        self.url.setFont(f)
        url_row.addWidget(self.url, 1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setShortcut("Ctrl+Shift+C")
        self.copy_button.setToolTip("Ctrl+Shift+C")
        self.copy_button.clicked.connect(self.copy_url)
        url_row.addWidget(self.copy_button)
        self.open_button = QPushButton("Open in browser")
        self.open_button.setShortcut("Ctrl+O")
        self.open_button.setToolTip("Ctrl+O")
        self.open_button.clicked.connect(self.open_in_browser)
        url_row.addWidget(self.open_button)
        left.addLayout(url_row)
        status = QGridLayout()
        status.setColumnStretch(2, 1)
        self.mode_label = QLabel()
        status.addWidget(self.mode_label, 0, 0)
        self.switch_button = QPushButton("Switch to results now")
        self.switch_button.setShortcut("Ctrl+M")
        self.switch_button.setToolTip(
            "Ctrl+M: screens switch at once (they also switch on the first finisher)"
        )
        self.switch_button.clicked.connect(lambda: self.run(self.toggle_mode()))
        status.addWidget(self.switch_button, 0, 1)
        self.counts = QLabel()
        status.addWidget(self.counts, 1, 0, 1, 3)
        left.addLayout(status)
        left.addWidget(section("Connected screens"))
        self.screens = table(SCREEN_COLUMNS, stretch=2, fit=True)
        self.screens.itemSelectionChanged.connect(self._update_buttons)
        self.screens.setMinimumHeight(110)
        left.addWidget(self.screens, 1)
        reload_row = QHBoxLayout()
        self.reload_button = QPushButton("Reload selected screen")
        self.reload_button.clicked.connect(self.reload_selected)
        reload_row.addWidget(self.reload_button)
        self.reload_all_button = QPushButton("Reload all screens")
        self.reload_all_button.clicked.connect(self.reload_all)
        reload_row.addWidget(self.reload_all_button)
        reload_row.addSpacing(24)
        reload_row.addWidget(QLabel("Move to"))
        self.move_target = QComboBox()
        self.move_target.setMinimumWidth(200)
        self.move_target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.move_target.setToolTip("Another open display session of this event")
        self.move_target_ids: list[str] = []
        reload_row.addWidget(self.move_target)
        self.move_button = QPushButton("Move selected screen")
        self.move_button.setToolTip("The screen opens the other session's address at once")
        self.move_button.clicked.connect(self.move_selected)
        reload_row.addWidget(self.move_button)
        self.move_all_button = QPushButton("Move all")
        self.move_all_button.clicked.connect(self.move_all)
        reload_row.addWidget(self.move_all_button)
        reload_row.addStretch(1)
        left.addLayout(reload_row)
        top.addLayout(left, 3)
        qr_col = QVBoxLayout()
        self.qr = QrWidget()
        qr_col.addWidget(self.qr, 1)
        caption = QLabel("Scan to open on a phone or tablet")
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        qr_col.addWidget(caption)
        top.addLayout(qr_col, 1)
        self.body.addLayout(top, 3)
        self.body.addWidget(section("Finishers, as the screens show them"))
        self.feed = table(FEED_COLUMNS, stretch=6, widths={0: 60, 1: 80, 2: 260, 3: 100, 4: 200, 5: 100})
        self.body.addWidget(self.feed, 2)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._tick)
        self._feed_session: str | None = None
        self._shown: str | None = None  # the session whose URL, screens and settings are on the page
        self._last_seq = 0
        window.feed.decided.connect(self._decided)
        window.feed.session_changed.connect(lambda *_: self._redraw() if self.isVisible() else None)
        window.flow.changed.connect(lambda: self._redraw() if self.isVisible() else None)

    # --- lifecycle ------------------------------------------------------------------------
    def entered(self) -> None:
        self.run(self._enter())

    async def _enter(self) -> None:
        if self.flow.session is None or self.flow.session.status != "open":
            if (
                not [x for x in self.flow.event_sessions() if x.status == "open"]
                and self.flow.event_sessions()
            ):
                self._redraw()  # every session was closed: the timer creates the next one on purpose
                return
            await self.flow.ensure_session()
        self._redraw()
        self.timer.start()

    def _redraw(self) -> None:
        """Sessions list, and everything about the selected session when it changed."""
        self.refresh_sessions()
        s = self.flow.session
        if s is None:
            self._shown = None
            self.url.setText("")
            self.qr.set_text("")
            self.mode_label.setText("No open display session: create one with “New display session…”.")
            self.counts.setText("")
            self.screens.setRowCount(0)
            self.feed.setRowCount(0)
            self._feed_session = None
            self._update_buttons()
            return
        if self._shown != s.id:
            self._shown = s.id
            url = self.services.display_url(s)
            self.url.setText(url)
            self.qr.set_text(url)
            self.screens.setRowCount(0)
            self.leaderboard.blockSignals(True)
            self.leaderboard.setValue(s.leaderboard_top)
            self.leaderboard.blockSignals(False)
        if self._feed_session != s.id:
            self._feed_session = s.id  # set now: a second redraw while loading does not load twice
            self.run(self._load_feed(s.id))
        self._status()
        self.refresh_screens()

    def _tick(self) -> None:
        self.refresh_sessions()  # screen counts
        self.refresh_screens()

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)

    # --- sessions -------------------------------------------------------------------------
    def refresh_sessions(self) -> None:
        sessions = self.flow.event_sessions()
        current = self.flow.session_id
        self.sessions_title.setText(
            f"Display sessions — {self.flow.event_name}" if sessions else "Display sessions"
        )
        self.sessions.blockSignals(True)
        self.sessions.setRowCount(len(sessions))
        self.session_ids = [s.id for s in sessions]
        for row, s in enumerate(sessions):
            is_open = s.status == "open"
            streams = [self.services.timing.stream(x) for x in sorted(s.streams)]
            names = [
                f"{st.client or st.protocol} {st.event_name}".strip() for st in streams if st is not None
            ]
            screens = len(self.services.hub.screens(s.id))
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
        others = [s for s in sessions if s.status == "open" and s.id != current]
        titles = [session_title(s) for s in others]
        if [s.id for s in others] != self.move_target_ids or titles != [
            self.move_target.itemText(i) for i in range(self.move_target.count())
        ]:  # rebuilt only when it changed: an open drop-down is not reset every second
            keep = (
                self.move_target_ids[self.move_target.currentIndex()]
                if self.move_target.currentIndex() >= 0
                else None
            )
            self.move_target_ids = [s.id for s in others]
            self.move_target.clear()
            self.move_target.addItems(titles)
            if keep in self.move_target_ids:
                self.move_target.setCurrentIndex(self.move_target_ids.index(keep))

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
            if sid != self.flow.session_id:
                # after this signal returns: flow.changed redraws this very table
                QTimer.singleShot(0, lambda: self.flow.set_session(sid))

    def select_session(self, session_id: str) -> None:
        self.sessions.selectRow(self.session_ids.index(session_id))

    def open_new_session(self) -> None:
        if not self.flow.event_id:
            self.say("Choose an event first.", error=True)
            return
        dialog = NewSessionDialog(self, self.flow.mode, len(self.flow.event_sessions()))
        dialog.accepted.connect(lambda: self.run(self.create_session(*dialog.values())))
        dialog.open()  # window-modal but non-blocking: the loop keeps running
        self.new_dialog = dialog

    async def create_session(self, name: str, mode: str) -> LiveSession:
        s = await self.flow.create_session(name, mode)
        self.say(f"Created “{s.name or 'Display'}”: open its address on the screens that belong to it.")
        return s

    def confirm_close(self) -> None:
        s = self.flow.session
        if s is None or s.status != "open":
            return
        n = len(self.services.hub.screens(s.id))
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Close display session",
            f"Close “{s.name or 'Display'}”? Its {n} connected screen{'s' if n != 1 else ''} "
            "will show that the display ended; its address stops working.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        confirm = box.addButton("Close session", QMessageBox.ButtonRole.DestructiveRole)
        confirm.clicked.connect(lambda: self.run(self.close_session(s.id)))
        box.open()  # non-blocking, never inside a coroutine
        self.close_box = box

    async def close_session(self, session_id: str) -> None:
        name = self.services.sessions.get(session_id).name or "Display"
        await self.flow.close_session(session_id)
        self.say(f"Closed “{name}”; its screens were disconnected.")
        self._redraw()

    async def apply_leaderboard(self) -> None:
        s = self.flow.session
        n = self.leaderboard.value()
        if s is None or s.status != "open" or s.leaderboard_top == n:
            return
        await self.services.sessions.update(s.id, {"leaderboard_top": n})
        self.say(f"Screens now show the top {n}." if n else "Leaderboard off.")

    def _status(self) -> None:
        s = self.flow.session
        if s is None:
            return
        by = f" (by {s.mode_changed_by})" if s.mode_changed_by else ""
        self.mode_label.setText(
            f"Screens show: <b>{'PRE-RACE' if s.mode == 'pre-race' else 'RESULTS'}</b>{by}"
        )
        self.switch_button.setText("Switch to results now" if s.mode == "pre-race" else "Back to pre-race")
        self.counts.setText(
            f"{s.finishers} finishers shown · {s.suppressed} reads suppressed · "
            f"{len(s.unknown)} unknown bibs · {len(s.streams)} timing streams bound"
        )

    # --- url ------------------------------------------------------------------------------
    def copy_url(self) -> None:
        QGuiApplication.clipboard().setText(self.url.text())
        self.say("Address copied.")

    def open_in_browser(self) -> None:
        if self.url.text():
            QDesktopServices.openUrl(QUrl(self.url.text()))

    async def toggle_mode(self) -> None:
        s = self.flow.session
        if s is None:
            return
        mode = "results" if s.mode == "pre-race" else "pre-race"
        await self.services.sessions.update(s.id, {"mode": mode})
        self.flow.mode = mode
        self.flow.changed.emit()
        self._status()

    # --- screens --------------------------------------------------------------------------
    def refresh_screens(self) -> None:
        s = self.flow.session
        if s is None:
            return
        screens = sorted(self.services.hub.screens(s.id), key=lambda x: x.connected_at)
        selected = self._selected_screen()
        now = time.time()
        self.screens.setRowCount(len(screens))
        for row, sc in enumerate(screens):
            info = sc.to_json()
            lat = info["latency_ms"]
            stale = now - info["last_heartbeat"] > STALE_AFTER
            ua = info["user_agent"]
            browser = ua.split(")")[-1].strip() or ua[:60]
            set_row(
                self.screens,
                row,
                [
                    cell((info["screen_id"] or info["id"])[:8], data=info["id"], bold=True),
                    cell(info["address"]),
                    cell(browser[:80]),
                    cell(clock_text(info["connected_since"])),
                    cell(ago(info["last_heartbeat"], now), color=BAD if stale else GOOD),
                    cell(f"{info['last_seq_rendered'] or info['last_seq_sent']}"),
                    cell(f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])} ms"),
                ],
            )
            if info["id"] == selected:
                self.screens.selectRow(row)
        self._update_buttons()
        self._status()

    def _selected_screen(self) -> str | None:
        rows = self.screens.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.screens.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _update_buttons(self) -> None:
        s = self.flow.session
        live = s is not None and s.status == "open"
        screen = self._selected_screen() is not None
        self.reload_button.setEnabled(screen)
        self.reload_all_button.setEnabled(self.screens.rowCount() > 0)
        self.move_target.setEnabled(bool(self.move_target_ids))
        self.move_button.setEnabled(screen and bool(self.move_target_ids))
        self.move_all_button.setEnabled(self.screens.rowCount() > 0 and bool(self.move_target_ids))
        self.close_session_button.setEnabled(live)
        self.leaderboard.setEnabled(live)
        self.switch_button.setEnabled(live)
        self.new_session_button.setEnabled(bool(self.flow.event_id))

    def reload_selected(self) -> None:
        s, screen = self.flow.session, self._selected_screen()
        if s and screen:
            n = self.services.hub.send_control(s.id, {"type": "reload"}, screen_id=screen)
            self.say(f"Reload sent to {n} screen.")

    def reload_all(self) -> None:
        s = self.flow.session
        if s:
            n = self.services.hub.send_control(s.id, {"type": "reload"})
            self.say(f"Reload sent to {n} screens.")

    def _move_target(self) -> LiveSession | None:
        i = self.move_target.currentIndex()
        if not 0 <= i < len(self.move_target_ids):
            return None
        target = self.services.sessions.get(self.move_target_ids[i])
        return target if target.status == "open" else None

    def _move(self, screen_id: str | None) -> None:
        s, target = self.flow.session, self._move_target()
        if s is None or target is None:
            self.say("Choose an open display session to move to.", error=True)
            return
        message = {"type": "switch", "url": f"/display/{target.token}"}
        n = self.services.hub.send_control(s.id, message, screen_id)
        self.say(f"Moved {n} screen{'s' if n != 1 else ''} to “{target.name or 'Display'}”.")

    def move_selected(self) -> None:
        screen = self._selected_screen()
        if screen:
            self._move(screen)

    def move_all(self) -> None:
        self._move(None)

    # --- finisher feed --------------------------------------------------------------------
    async def _load_feed(self, session_id: str) -> None:
        s = self.services.sessions.get(session_id)
        start = max(0, s.next_seq - 1 - MAX_FEED)
        rows = await self.services.sessions.events_after(session_id, start, MAX_FEED)
        self._feed_session = session_id
        self.feed.setRowCount(0)
        self._last_seq = start
        self._add_payloads(rows)

    def _decided(self, derived: Derived) -> None:
        sid = self._feed_session
        if sid is None:
            return
        mine = [row["payload"] for row in derived.events if row["session_id"] == sid]
        if mine:
            self._add_payloads(mine)

    def _add_payloads(self, payloads: list[dict[str, Any]]) -> None:
        t = self.feed
        t.setUpdatesEnabled(False)
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
            t.insertRow(0)
            set_row(
                t,
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
        if t.rowCount() > MAX_FEED:
            t.setRowCount(MAX_FEED)
        t.setUpdatesEnabled(True)

    def feed_rows(self) -> list[list[str]]:
        return [
            [self.feed.item(r, c).text() for c in range(self.feed.columnCount())]
            for r in range(self.feed.rowCount())
        ]

    async def primary_action(self) -> bool:
        return True
