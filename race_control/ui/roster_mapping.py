"""The roster import dialog's mapping preview: which column is which field, sample rows, rows refused.

``MappingGrid`` holds one combo box per roster field (``roster.mapping.TARGETS``) listing the
file's headers (or "—"); ``set_preview`` fills it from ``RosterFileOperations.preview``'s answer
(the proposed mapping preselected) and ``mapping()`` reads the timer's choice back.
``fill_sample`` and ``fill_errors`` show the answer's normalized sample rows and the rows that
cannot be used (line + reason, in red).  File texts are table cells and combo items: plain text.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QTableWidget, QWidget

from race_control.roster.mapping import TARGETS
from race_control.ui.widgets import BAD, cell, set_row

NONE = "—"  # no column for this field
PER_ROW = 4  # (label, combo) pairs per grid row: 19 fields in 5 rows
LABELS = {
    "registration_id": "Registration id",
    "bib": "Bib",
    "chip": "Chip",
    "first_name": "First name",
    "last_name": "Last name",
    "name": "Name (one column)",
    "gender": "Sex",
    "age": "Age",
    "birth_date": "Birth date",
    "city": "City",
    "state": "State",
    "country": "Country",
    "race_name": "Race",
    "division": "Division",
    "team": "Team",
    "wave": "Wave",
    "message": "Message",
    "hidden": "Privacy (hidden)",
    "status": "Status",
}
# the sample table: (column title, the sample row's key)
SAMPLE = (
    ("Line", "line"),
    ("Bib", "bib"),
    ("First name", "first_name"),
    ("Last name", "last_name"),
    ("Sex", "gender"),
    ("Age", "age"),
    ("Birth date", "birth_date"),
    ("City", "city"),
    ("State", "state"),
    ("Country", "country"),
    ("Race", "race_name"),
    ("Division", "division"),
    ("Team", "team"),
    ("Wave", "wave"),
    ("Chip", "chip"),
    ("Registration", "registration_id"),
    ("Status", "status"),
    ("Hidden", "hidden"),
    ("Message", "message"),
    ("Custom fields", "custom"),
)


class MappingGrid(QWidget):
    """One combo box per field; ``changed`` when the timer picks another column."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        self.combos: dict[str, QComboBox] = {}
        for i, field in enumerate(TARGETS):
            row, col = divmod(i, PER_ROW)
            label = QLabel(LABELS.get(field, field))
            combo = QComboBox()
            combo.setObjectName(f"map_{field}")
            combo.setToolTip(f"The file's column that holds the runner's {field}")
            combo.setMinimumContentsLength(12)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.addItem(NONE, "")
            combo.activated.connect(lambda *_: self.changed.emit())  # the user's choice, not ours
            label.setBuddy(combo)
            grid.addWidget(label, row, 2 * col)
            grid.addWidget(combo, row, 2 * col + 1)
            grid.setColumnStretch(2 * col + 1, 1)
            self.combos[field] = combo
        self.setEnabled(False)

    def set_preview(self, headers: list[str], mapping: dict[str, str]) -> None:
        for field, combo in self.combos.items():
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(NONE, "")
            for h in headers:
                combo.addItem(h, h)
            combo.setCurrentIndex(max(0, combo.findData(mapping.get(field, ""))))
            combo.blockSignals(False)
        self.setEnabled(bool(headers))

    def mapping(self) -> dict[str, str]:
        """``{field: header}`` of the fields given a column."""
        out = {}
        for field, combo in self.combos.items():
            header = combo.currentData()
            if header:
                out[field] = str(header)
        return out


def _text(key: str, value: Any) -> str:
    if key == "custom":
        return "; ".join(f"{k}: {v}" for k, v in (value or {}).items())
    if key == "hidden":
        return "yes" if value else ""
    return "" if value is None else str(value)


def fill_sample(t: QTableWidget, rows: list[dict[str, Any]]) -> None:
    t.setRowCount(len(rows))
    for n, r in enumerate(rows):
        set_row(t, n, [cell(_text(key, r.get(key)), bold=key == "bib") for _, key in SAMPLE])
    t.resizeColumnsToContents()


def fill_errors(t: QTableWidget, errors: list[dict[str, Any]]) -> None:
    t.setRowCount(len(errors))
    for n, e in enumerate(errors):
        set_row(t, n, [cell(e.get("row", ""), color=BAD), cell(e.get("reason", ""), color=BAD, bold=True)])
    t.resizeColumnsToContents()
