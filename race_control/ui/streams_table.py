"""Every timing stream the app knows: live CTP01 connections, recorded streams (clients that
went away) and imported controller files; which display sessions they feed; their clock state.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTableWidget

from race_control.timing.ingest.controller_import import PROTOCOL as IMPORTED
from race_control.ui.widgets import (
    BAD,
    GOOD,
    MUTED,
    Page,
    ago,
    cell,
    select_data,
    selected_data,
    set_row,
    setup_table,
)

STREAM_COLUMNS = ["Source", "Client", "Event", "Locations", "State", "Reads", "Last read", "Bound", "Clock"]


def stream_state(s: Any) -> str:
    if getattr(s, "suspect", False):  # claimed another stream's id from another address
        return "⚠ Suspect (claimed id)"
    if s.connections > 0:
        return "● Connected"
    if s.protocol == IMPORTED:
        return "Imported"
    return "Recorded"


class StreamsTable(QTableWidget):
    """One row a stream, its id kept (as text) in column 0.  ``page`` gives the selected display
    session (its streams are "bound", the event's other open sessions' are named)."""

    def __init__(self, page: Page) -> None:
        super().__init__(0, len(STREAM_COLUMNS))
        setup_table(self, STREAM_COLUMNS, stretch=2, fit=True)
        self.page = page

    def selected_stream(self) -> str | None:
        return selected_data(self)

    def select_stream(self, stream_id: str) -> None:
        select_data(self, stream_id)

    def refresh(self) -> None:
        """Redraw every row, the selection kept (a lone stream is selected); no selection signal."""
        flow = self.page.flow
        selected = self.selected_stream()
        s = flow.session
        bound = s.streams if s else set()
        elsewhere: dict[str, str] = {}  # stream -> the other open sessions of this event it feeds
        for other in flow.event_sessions():
            if other.status == "open" and (s is None or other.id != s.id):
                for x in other.streams:
                    elsewhere[x] = ", ".join(filter(None, [elsewhere.get(x), other.name or "Display"]))
        streams = self.page.services.timing.streams()
        self.blockSignals(True)
        self.setRowCount(len(streams))
        now = None
        for row, st in enumerate(streams):
            state = stream_state(st)
            color = GOOD if st.connections > 0 else MUTED
            set_row(
                self,
                row,
                [
                    cell(st.protocol, data=st.id),
                    cell(st.client or "—"),
                    cell(st.event_name or "—"),
                    cell(", ".join(st.locations) or "—"),
                    cell(state, color=color, bold=st.connections > 0),
                    cell(st.reads),
                    cell(ago(st.last_read_at, now)),
                    cell("✓ bound", color=GOOD, bold=True)
                    if st.id in bound
                    else cell(f"→ {elsewhere[st.id]}" if st.id in elsewhere else "", color=MUTED),
                    cell(f"⚠ {st.clock_warnings}", color=BAD, bold=True)
                    if st.clock_warnings
                    else cell("ok", color=MUTED),
                ],
            )
            if st.id == selected:
                self.selectRow(row)
        if selected is None and len(streams) == 1:
            self.selectRow(0)
        self.blockSignals(False)
