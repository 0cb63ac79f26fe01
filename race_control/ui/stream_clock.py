"""The clock of one timing stream: its time zone and event date, and the warning shown when
its reads look far from now (a controller clock or time zone that is wrong).

Each stream has its own settings; they apply to the stream's next reads and connections.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel

from race_control.ui.widgets import Page, button, date_edit, timezone_combo

CLOCK_HELP = "controller clock or time zone looks wrong"  # the words the timer looks for


class ClockBanner(QLabel):
    """Red banner under the streams table: the selected stream's clock warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)  # the stream's text is escaped
        self.setStyleSheet(
            "background: #fdecea; color: #b71c1c; border: 2px solid #b71c1c; border-radius: 6px;"
            " padding: 6px 10px; font-weight: 700;"
        )
        self.hide()

    def show_stream(self, st: Any) -> None:
        """``st``: the selected StreamState, or None (hidden)."""
        if st is None or not st.clock_warnings:
            self.hide()
            return
        n = st.clock_warnings
        self.setText(
            f"⚠ The {CLOCK_HELP} ({n} read{'s' if n != 1 else ''} far from now).<br>"
            f"<span style='font-weight: 400'>Last: {html.escape(st.last_clock_warning)}. If the time zone or "
            "date is wrong, set them under “Clock of the selected stream”.</span>"
        )
        self.show()


class StreamClockBox(QGroupBox):
    """Time zone + event date of the stream ``selected()`` returns (None: nothing to apply).
    ``page`` runs the update and shows its message."""

    applied = Signal(object)  # the updated StreamState

    def __init__(self, page: Page, selected: Callable[[], str | None]) -> None:
        super().__init__("Clock of the selected stream")
        self.page = page
        self.selected = selected
        form = QFormLayout(self)
        self.timezone = timezone_combo("The time zone the timing controller's clock runs in")
        self.reference_date = date_edit("The day the reads' times of day belong to")
        form.addRow("Time zone", self.timezone)
        form.addRow("Event date", self.reference_date)
        self.apply_clock_button = button(
            "Apply clock settings",
            lambda: page.run(self.apply_clock()),
            tip="Applies to this stream's next reads and connections",
        )
        form.addRow("", self.apply_clock_button)

    def load(self) -> None:
        """Show the selected stream's settings."""
        sid = self.selected()
        st = self.page.services.timing.stream(sid) if sid else None
        self.apply_clock_button.setEnabled(st is not None)
        if st is None:
            return
        self.timezone.setCurrentText(st.timezone)
        day = QDate.fromString(st.reference_date, "yyyy-MM-dd") if st.reference_date else QDate.currentDate()
        self.reference_date.setDate(day if day.isValid() else QDate.currentDate())

    async def apply_clock(self) -> None:
        sid = self.selected()
        if not sid:
            self.page.say("Select a timing stream first.", error=True)
            return
        body = {
            "timezone": self.timezone.currentText().strip(),
            "reference_date": self.reference_date.date().toString("yyyy-MM-dd"),
        }
        st = await self.page.services.ops.timing.set_clock(sid, body)
        self.page.say(
            f"Clock of this stream: {st.timezone}, {st.reference_date} (applies to its next reads)."
        )
        self.load()
        self.applied.emit(st)
