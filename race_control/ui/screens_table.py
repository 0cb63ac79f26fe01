"""The screens connected to the selected display session: their health, reload, move elsewhere.

Screens are the browsers that opened a session's URL.  Their health (last update, latency) is
redrawn every second by the display page while it is visible; each can be reloaded or moved to
another open session of the event remotely.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from race_control.errors import Conflict, NotFound
from race_control.sessions.live import LiveSession
from race_control.ui.session_picker import session_title
from race_control.ui.widgets import (
    BAD,
    GOOD,
    Page,
    ago,
    button,
    cell,
    clock_text,
    column,
    section,
    selected_data,
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
STALE_AFTER = 10.0  # seconds without a heartbeat: the screen shows its stale banner by now


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


class ScreensPanel(QWidget):
    """Heading, screens table and the reload / move row.  ``page`` runs the service calls and
    shows their messages."""

    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        lay = column(self, page.body.spacing())  # as if its rows stood in the page's body
        head = QHBoxLayout()  # heading and reload share a row, the moves go under the table
        head.addWidget(section("Connected screens", elide=True), 1)
        self.reload_button = button("Reload selected", self.reload_selected, tip="Reload the selected screen")
        head.addWidget(self.reload_button)
        self.reload_all_button = button(
            "Reload all", self.reload_all, tip="Reload every screen of this session"
        )
        head.addWidget(self.reload_all_button)
        lay.addLayout(head)
        self.screens = table(SCREEN_COLUMNS, stretch=2, fit=True)
        self.screens.itemSelectionChanged.connect(self.update_buttons)
        self.screens.setMinimumHeight(70)
        lay.addWidget(self.screens, 1)
        move_row = QHBoxLayout()
        move_row.addWidget(QLabel("Move to"))
        self.move_target = QComboBox()
        # as wide as the room, not as its longest session name (names are the timer's own text)
        self.move_target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.move_target.setMinimumContentsLength(12)
        self.move_target.setToolTip("Another open display session of this event")
        self.move_target_ids: list[str] = []
        move_row.addWidget(self.move_target, 1)
        self.move_button = button(
            "Move selected",
            self.move_selected,
            tip="The selected screen opens the other session's address at once",
        )
        move_row.addWidget(self.move_button)
        self.move_all_button = button("Move all", self.move_all, tip="Every screen of this session moves")
        move_row.addWidget(self.move_all_button)
        lay.addLayout(move_row)

    def refresh(self) -> None:
        """Redraw the selected session's screens (then the page enables the buttons)."""
        s = self.page.flow.session
        if s is None:
            return
        screens = sorted(self.page.services.hub.screens(s.id), key=lambda x: x.connected_at)
        selected = self.selected_screen()
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

    def set_move_targets(self, others: list[LiveSession]) -> None:
        """The other open sessions of the event; rebuilt only when it changed: an open drop-down
        is not reset every second."""
        titles = [session_title(s) for s in others]
        if [s.id for s in others] != self.move_target_ids or titles != [
            self.move_target.itemText(i) for i in range(self.move_target.count())
        ]:
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

    def selected_screen(self) -> str | None:
        return selected_data(self.screens)

    def update_buttons(self) -> None:
        screen = self.selected_screen() is not None
        self.reload_button.setEnabled(screen)
        self.reload_all_button.setEnabled(self.screens.rowCount() > 0)
        self.move_target.setEnabled(bool(self.move_target_ids))
        self.move_button.setEnabled(screen and bool(self.move_target_ids))
        self.move_all_button.setEnabled(self.screens.rowCount() > 0 and bool(self.move_target_ids))

    def reload_selected(self) -> None:
        s, screen = self.page.flow.session, self.selected_screen()
        if s and screen:
            n = self.page.services.ops.sessions.reload_screens(s.id, screen).sent
            self.page.say(f"Reload sent to {n} screen.")

    def reload_all(self) -> None:
        s = self.page.flow.session
        if s:
            n = self.page.services.ops.sessions.reload_screens(s.id).sent
            self.page.say(f"Reload sent to {n} screens.")

    def _move_target(self) -> LiveSession | None:
        i = self.move_target.currentIndex()
        if not 0 <= i < len(self.move_target_ids):
            return None
        target = self.page.services.sessions.get(self.move_target_ids[i])
        return target if target.status == "open" else None

    def _move(self, screen_id: str | None) -> None:
        s, target = self.page.flow.session, self._move_target()
        if s is None or target is None:
            self.page.say("Choose an open display session to move to.", error=True)
            return
        try:
            n = self.page.services.ops.sessions.move_screens(s.id, target.id, screen_id).sent
        except (Conflict, NotFound) as exc:  # the session closed / the screen left meanwhile
            self.page.say(str(exc), error=True)
            return
        self.page.say(f"Moved {n} screen{'s' if n != 1 else ''} to “{target.name or 'Display'}”.")

    def move_selected(self) -> None:
        screen = self.selected_screen()
        if screen:
            self._move(screen)

    def move_all(self) -> None:
        self._move(None)
