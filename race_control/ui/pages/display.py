"""Step 6 — display mode: the session's unique URL (copy, QR, open), its screens, its finishers.

Screens are the browsers that opened the URL; their health (last update, latency) is
refreshed every second while this page is visible, and each can be reloaded remotely.
The finisher feed is what the screens receive, in ``seq`` order, corrections included.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from race_control.sessions.live import Derived
from race_control.ui.qr import QrWidget
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


class DisplayPage(Page):
    title = "Display mode"
    hint = "Open this address on every screen at the venue (any browser, no login). The address is the key: share it only with your screens."
    primary_text = "Show analytics"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
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
        left.addWidget(self.screens, 1)
        reload_row = QHBoxLayout()
        self.reload_button = QPushButton("Reload selected screen")
        self.reload_button.clicked.connect(self.reload_selected)
        reload_row.addWidget(self.reload_button)
        self.reload_all_button = QPushButton("Reload all screens")
        self.reload_all_button.clicked.connect(self.reload_all)
        reload_row.addWidget(self.reload_all_button)
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
        self.timer.timeout.connect(self.refresh_screens)
        self._feed_session: str | None = None
        self._last_seq = 0
        window.feed.decided.connect(self._decided)
        window.feed.session_changed.connect(lambda *_: self._status() if self.isVisible() else None)

    # --- lifecycle ------------------------------------------------------------------------
    def entered(self) -> None:
        self.run(self._enter())

    async def _enter(self) -> None:
        s = await self.flow.ensure_session()
        url = self.services.display_url(s)
        self.url.setText(url)
        self.qr.set_text(url)
        self._status()
        self.refresh_screens()
        self.timer.start()
        if self._feed_session != s.id:
            await self._load_feed(s.id)

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)

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
        self.reload_button.setEnabled(self._selected_screen() is not None)
        self.reload_all_button.setEnabled(self.screens.rowCount() > 0)

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
