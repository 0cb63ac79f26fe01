"""The "current display session" chooser shared by the template and timing pages.

Several display sessions of one event run side by side (different races, waves, screens);
the pages work on the one chosen here (``Flow.session``).  The display page has the full
list with New / Close; this is the compact form.  Only the user's choice (``activated``)
changes the flow, so redrawing never loops.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget


def session_title(s: Any) -> str:
    return f"{s.name or 'Display'} ({'pre-race' if s.mode == 'pre-race' else 'results'})"


class SessionCombo(QWidget):
    def __init__(self, window: Any, label: str = "Display session") -> None:
        super().__init__()
        self.flow = window.flow
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel(f"<b>{label}:</b>"))
        self.combo = QComboBox()
        # as wide as the room, not as a session's 200-character name (a laptop window has 1280 px)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(24)
        self.combo.setToolTip("The display session this page works on (Display mode lists them all)")
        self.combo.activated.connect(self._chosen)
        row.addWidget(self.combo)
        row.addStretch(1)
        self.ids: list[str] = []
        self.flow.changed.connect(self.refresh)
        window.feed.session_changed.connect(lambda *_: self.refresh())

    def refresh(self) -> None:
        sessions = [s for s in self.flow.event_sessions() if s.status == "open"]
        current = self.flow.session_id
        self.combo.blockSignals(True)
        self.combo.clear()
        self.ids = [s.id for s in sessions]
        for s in sessions:
            self.combo.addItem(session_title(s))
        if current in self.ids:
            self.combo.setCurrentIndex(self.ids.index(current))
        elif not sessions:
            self.combo.addItem("none yet (created when you continue)")
        self.combo.setEnabled(bool(sessions))
        self.combo.blockSignals(False)

    def choose(self, session_id: str) -> None:
        """Select ``session_id`` as the user would."""
        self.combo.setCurrentIndex(self.ids.index(session_id))
        self._chosen(self.ids.index(session_id))

    def _chosen(self, index: int) -> None:
        if 0 <= index < len(self.ids) and self.ids[index] != self.flow.session_id:
            self.flow.set_session(self.ids[index])
