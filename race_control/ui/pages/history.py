"""History: past display sessions (closed ones, earlier days' ones) and what they showed.

The table lists every display session, newest first (date, event, name, streams, finishers,
screens seen, status), optionally of one event.  Selecting one opens it **read-only** below:
its finishers in their latest form (corrections applied, as results.csv has them) and the reads
it did not show, with why.  The bib box finds a bib in every session of the chosen (or the
selected session's) event.  Nothing here edits anything: the tables are read-only and every
answer comes from ``operations.session_history`` (the same reads as ``GET /api/history/*``),
each page one short call on the store's thread.  Exports of a session (results CSV, race-day
report) are on the Display page.  Names are text (table items, plain-text labels), never markup.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableWidget,
    QTabWidget,
    QWidget,
)

from race_control.operations.history_params import MAX_LIST_LIMIT, MAX_PAGE_LIMIT, ListQuery, PageQuery
from race_control.operations.session_history import SessionHistory
from race_control.ui.widgets import (
    ElidedLabel,
    Page,
    button,
    cell,
    column,
    select_data,
    selected_data,
    set_row,
    table,
)

MAX_ROWS = 5 * MAX_PAGE_LIMIT  # finishers or suppressions shown of one session (pages of 1,000)
SESSION_COLUMNS = ["Date", "Event", "Session", "Streams", "Finishers", "Screens seen", "Status"]
FINISHER_COLUMNS = ["Seq", "Bib", "Name", "Time", "Place", "Location", "Shown at", "Corrected"]
SUPPRESSION_COLUMNS = ["Time", "Bib", "Location", "Reason"]
BIB_COLUMNS = ["Session", "Status", "What", "Time", "Location", "Place", "Why / corrections"]


def _clock(epoch: float | None) -> str:
    """When the screens got it (the session's date is in the line above the table)."""
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S") if epoch else "—"


def _streams(streams: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{s['client'] or s['event_name'] or s['protocol']} ({', '.join(s['locations']) or 'all'})"
        for s in streams
    )


def _fill(t: QTableWidget, rows: list[list[Any]]) -> None:
    t.setRowCount(len(rows))
    for r, values in enumerate(rows):
        set_row(t, r, [cell(v) for v in values])


class HistoryPage(Page):
    title = "History"
    hint = "Past display sessions, closed or from earlier days. Select one to see what it showed (read-only); find a bib across an event's sessions."
    primary_text = "Refresh"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        self.opened: dict[str, Any] | None = None  # the open session's answer
        self.bib_answer: dict[str, Any] | None = None
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Event"))
        self.event_box = QComboBox()
        self.event_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.event_box.setMinimumContentsLength(24)
        self.event_box.currentIndexChanged.connect(lambda *_: self.run(self.refresh()))
        filters.addWidget(self.event_box, 1)
        filters.addWidget(QLabel("Status"))
        self.status_box = QComboBox()
        for label, value in (("All", ""), ("Closed", "closed"), ("Open", "open")):
            self.status_box.addItem(label, value)
        self.status_box.currentIndexChanged.connect(lambda *_: self.run(self.refresh()))
        filters.addWidget(self.status_box)
        filters.addSpacing(16)
        filters.addWidget(QLabel("Bib"))
        self.bib_field = QLineEdit()
        self.bib_field.setPlaceholderText("e.g. 42")
        self.bib_field.setMaxLength(32)
        self.bib_field.setFixedWidth(110)
        self.bib_field.returnPressed.connect(lambda: self.run(self.find_bib()))
        filters.addWidget(self.bib_field)
        self.find_button = button("Find bib", lambda: self.run(self.find_bib()), shortcut="Ctrl+F")
        filters.addWidget(self.find_button)
        self.body.addLayout(filters)

        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        self.sessions = table(SESSION_COLUMNS, stretch=2, widths={0: 100, 1: 210, 3: 150, 4: 85, 5: 125})
        self.sessions.setMinimumHeight(110)
        self.sessions.itemSelectionChanged.connect(self._selected)
        split.addWidget(self.sessions)
        lower = QWidget()
        lower_col = column(lower, spacing=4)
        self.view_label = ElidedLabel("Select a session to see what it showed.")
        self.view_label.setObjectName("section")
        lower_col.addWidget(self.view_label)
        self.tabs = QTabWidget()
        self.finishers = table(FINISHER_COLUMNS, stretch=2, widths={0: 50, 1: 60, 3: 90, 4: 55, 5: 90, 6: 90})
        self.suppressions = table(SUPPRESSION_COLUMNS, stretch=3, widths={0: 90, 1: 60, 2: 90})
        self.bib_table = table(BIB_COLUMNS, stretch=6, widths={0: 170, 1: 70, 2: 90, 3: 80, 4: 80, 5: 50})
        for t in (self.finishers, self.suppressions, self.bib_table):
            t.setMinimumHeight(90)
        self.tabs.addTab(self.finishers, "Finishers")
        self.tabs.addTab(self.suppressions, "Not shown")
        self.tabs.addTab(self.bib_table, "Bib search")
        lower_col.addWidget(self.tabs, 1)
        split.addWidget(lower)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        self.body.addWidget(split, 1)

    @property
    def history(self) -> SessionHistory:
        s = self.services
        return SessionHistory(s.store, s.events, s.sessions, s.hub.screens)

    def entered(self) -> None:
        current = self.event_box.currentData()
        self.event_box.blockSignals(True)
        self.event_box.clear()
        self.event_box.addItem("All events", "")
        for e in sorted(self.services.events.events(), key=lambda e: (e.date, e.name), reverse=True):
            self.event_box.addItem(f"{e.date}  {e.name}", e.id)
        index = self.event_box.findData(current) if current else 0
        self.event_box.setCurrentIndex(max(0, index))
        self.event_box.blockSignals(False)
        self.run(self.refresh())

    async def refresh(self) -> list[dict[str, Any]]:
        """The sessions (newest first; the first 200) of the chosen event and status."""
        q = ListQuery(
            event_id=self.event_box.currentData() or None,
            status=self.status_box.currentData() or None,
            limit=MAX_LIST_LIMIT,
        )
        answer = await self.history.list_sessions(q)
        listed = answer["sessions"]
        keep = selected_data(self.sessions)
        self.sessions.blockSignals(True)
        self.sessions.setRowCount(len(listed))
        for r, s in enumerate(listed):
            status = "closed" if s["closed"] else "open"
            set_row(
                self.sessions,
                r,
                [
                    cell(s["date"], data=s["id"]),
                    cell(s["event_name"]),
                    cell(s["name"] or "(display)"),
                    cell(_streams(s["streams"]) or "none"),
                    cell(s["finishers"]),
                    cell(s["screens_seen"]),
                    cell(status, bold=not s["closed"]),
                ],
            )
        if keep:
            select_data(self.sessions, keep)
        self.sessions.blockSignals(False)
        more = " (the newest 200)" if answer["next_offset"] is not None else ""
        self.say(f"{len(listed)} display session{'s' if len(listed) != 1 else ''}{more}.")
        return listed

    def _selected(self) -> None:
        sid = selected_data(self.sessions)
        if sid:
            self.run(self.open_session(sid))

    async def open_session(self, session_id: str) -> dict[str, Any]:
        """The session read-only: its finishers and suppressions, page by page (up to MAX_ROWS)."""
        history = self.history
        got = await history.session(session_id, PageQuery(limit=MAX_PAGE_LIMIT))
        finishers, suppressions = list(got["finishers"]), list(got["suppressions"])
        filtered = list(got["location_filtered"])  # reads at locations it does not show
        after, offset = got["finishers_next_after"], got["suppressions_next_offset"]
        while after is not None and len(finishers) < MAX_ROWS:
            page = await history.session(session_id, PageQuery(limit=MAX_PAGE_LIMIT, finishers_after=after))
            finishers += page["finishers"]
            after = page["finishers_next_after"]
        while offset is not None and len(suppressions) < MAX_ROWS:
            page = await history.session(
                session_id, PageQuery(limit=MAX_PAGE_LIMIT, suppressions_offset=offset)
            )
            suppressions += page["suppressions"]
            offset = page["suppressions_next_offset"]
        if selected_data(self.sessions) != session_id:
            return got  # another one was selected meanwhile
        self.opened = {
            **got,
            "finishers": finishers,
            "suppressions": suppressions,
            "location_filtered": filtered,
        }
        s = got["session"]
        _fill(
            self.finishers,
            [
                [
                    f["seq"],
                    f["bib"],
                    f["name"],
                    f["time"],
                    f["place"] or "",
                    f["location"],
                    _clock(f["shown_at"]),
                    "yes" if f["corrected"] else "",
                ]
                for f in finishers
            ],
        )
        hidden = sorted([*suppressions, *filtered], key=lambda x: x["at"] or 0)
        _fill(self.suppressions, [[x["time"] or "", x["bib"], x["location"], x["reason"]] for x in hidden])
        more = " (first rows)" if after is not None or offset is not None else ""
        state = "closed session" if s["closed"] else "open session"
        self.view_label.setText(
            f"Read-only · {state} · {s['finishers']} finishers · {len(hidden)} not shown · "
            f"{s['screens_seen']} screens seen{more} — {s['date']} {s['event_name']} — {s['name'] or '(display)'}"
        )
        self.tabs.setTabText(0, f"Finishers ({len(finishers)})")
        self.tabs.setTabText(1, f"Not shown ({len(hidden)})")
        if self.tabs.currentWidget() is self.bib_table:
            self.tabs.setCurrentWidget(self.finishers)
        return self.opened

    async def find_bib(self) -> dict[str, Any] | None:
        """The bib in every session of the chosen event (else of the selected session's event)."""
        bib = self.bib_field.text().strip()
        event_id = self.event_box.currentData() or (self.opened or {}).get("session", {}).get("event_id")
        if not bib:
            self.say("Type a bib to find.", error=True)
            return None
        if not event_id:
            self.say("Choose an event (or select one of its sessions) to search its history.", error=True)
            return None
        answer = await self.history.bib_history(event_id, bib)
        self.bib_answer = answer
        rows = []
        for a in answer["appearances"]:
            if a["kind"] == "finish":
                what, why = "finish", "; ".join(f"corrected to {c['name']}" for c in a["corrections"])
            else:
                what, why = "not shown", a["reason"]
            rows.append(
                [
                    a["session_name"] or "(display)",
                    a["session_status"],
                    what,
                    a["time"] or "",
                    a["location"],
                    a["place"] or "",
                    why,
                ]
            )
        _fill(self.bib_table, rows)
        self.tabs.setTabText(2, f"Bib {answer['bib']} ({len(rows)})")
        self.tabs.setCurrentWidget(self.bib_table)
        sessions = len({a["session_id"] for a in answer["appearances"]})
        self.say(
            f"Bib {answer['bib']}: {len(rows)} appearance{'s' if len(rows) != 1 else ''} in {sessions} "
            f"session{'s' if sessions != 1 else ''} of {answer['event_name']}"
            + (" (the first 2,000)." if answer["truncated"] else ".")
        )
        return answer

    async def primary_action(self) -> bool:
        await self.refresh()
        return False
