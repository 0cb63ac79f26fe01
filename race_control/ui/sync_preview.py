"""The provider dialog's preview: one tab per list of a sync's answer (what
``ProviderSyncOperations.sync`` returns, preview or applied), each a table of its rows.

Added, changed (one row per field), removed (marked, never deleted), quarantined (with the
reason), kept local (a race-day edit that wins over the provider) and suspected removals; a tab's
title counts its rows and turns red when the list needs a look.  Unchanged runners are a count
only (the operation does not list them).  Provider texts are table cells: plain text.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTableWidget, QTabWidget

from race_control.ui.widgets import BAD, GOOD, MUTED, WARN, cell, set_row, table

# the preview's lists: tab title, the answer's key, the table's columns
TABS = (
    ("Added", "added_runners", ["Bib", "Name", "Registration"]),
    ("Changed", "changes", ["Bib", "Name", "Registration", "Field", "Now", "After sync"]),
    ("Removed", "removals", ["Bib", "Name", "Registration", "Status", "Transferred to", "Reason"]),
    ("Quarantined", "quarantined", ["Row", "Reason"]),
    ("Kept local", "kept_local", ["Bib", "Registration", "Field", "Provider says", "Kept (edited here)"]),
    ("Suspected removals", "suspected_removals", ["Bib", "Name", "Registration", "Reason"]),
)


def shown(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


class PreviewTabs(QTabWidget):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, QTableWidget] = {}
        for title, key, columns in TABS:
            t = table(columns)  # the last column (the longest text) takes the rest
            self.tables[key] = t
            self.addTab(t, title)

    def show_result(self, r: dict[str, Any]) -> None:
        fill = {
            "added_runners": lambda x: [
                [cell(x["bib"], bold=True), cell(x["name"]), cell(x["registration_id"])]
            ],
            "changes": _change_rows,
            "removals": lambda x: [
                [
                    cell(x["bib"], bold=True),
                    cell(x["name"]),
                    cell(x["registration_id"]),
                    cell(x["status"], color=WARN),
                    cell(x.get("transferred_to", "")),
                    cell(x.get("reason", "")),
                ]
            ],
            "quarantined": lambda x: [[cell(x["row"]), cell(x["reason"], color=BAD)]],
            "kept_local": lambda x: [
                [
                    cell(x["bib"], bold=True),
                    cell(x["registration_id"]),
                    cell(x["field"]),
                    cell(shown(x["remote"]), color=MUTED),
                    cell(shown(x["local"]), color=GOOD, bold=True),
                ]
            ],
            "suspected_removals": lambda x: [
                [
                    cell(x["bib"], bold=True),
                    cell(x["name"]),
                    cell(x["registration_id"]),
                    cell(x["reason"], color=WARN),
                ]
            ],
        }
        for i, (title, key, _) in enumerate(TABS):
            t = self.tables[key]
            rows = [row for item in r.get(key, []) for row in fill[key](item)]
            t.setRowCount(len(rows))
            for n, values in enumerate(rows):
                set_row(t, n, values)
            t.resizeColumnsToContents()
            self.setTabText(i, f"{title} ({len(r.get(key, []))})")
            alarm = key in ("quarantined", "suspected_removals", "removals") and r.get(key)
            self.tabBar().setTabTextColor(i, BAD if alarm else self.palette().windowText().color())


def _change_rows(x: dict[str, Any]) -> list[list[Any]]:
    """One row per changed field of a runner."""
    out = []
    for name, change in x["fields"].items():
        out.append(
            [
                cell(x["bib"], bold=True),
                cell(x["name"]),
                cell(x["registration_id"]),
                cell(name),
                cell(shown(change["from"]), color=MUTED),
                cell(shown(change["to"]), bold=True),
            ]
        )
    return out
