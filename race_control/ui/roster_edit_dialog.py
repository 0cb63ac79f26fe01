"""Race-day roster edits: fix a runner, swap two bibs, add a walk-up — one operation each.

Each button calls one action of ``services.ops.roster`` (``edit_participant``, ``swap_bibs``,
``add_walk_up``; the same ones the local API calls): one unit of work, the edited fields
remembered as local (a later provider re-sync keeps them), and a ``correction`` on every screen
that already showed the runner.  Expected errors (a bib that is somebody's, an unknown bib, a
bad age) are shown in the dialog, naming the problem; nothing is half-applied.

Runs on qasync's loop: the actions are coroutines started with ``tasks.spawn``.  Names and
messages are shown as plain text.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from race_control.roster.participants import ParticipantRow
from race_control.ui import tasks
from race_control.ui.widgets import EXPECTED, cell, select_data, selected_data, set_row, table

COLUMNS = ["Bib", "First name", "Last name", "City", "Division"]
# the form's text fields, in order: (field, label)
FIELDS = (
    ("bib", "Bib"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("age", "Age"),
    ("gender", "Gender"),
    ("city", "City"),
    ("state", "State"),
    ("country", "Country"),
    ("division", "Division"),
    ("team", "Team"),
    ("wave", "Wave"),
    ("message", "Message"),
)
STYLE = {"ok": "color: #1b5e20; font-weight: 600;", "error": "color: #b71c1c; font-weight: 600;"}


def row_values(p: ParticipantRow) -> dict[str, Any]:
    """The form's values of ``p`` (age as text, "" for none)."""
    out: dict[str, Any] = {f: getattr(p, f) for f, _ in FIELDS}
    out["age"] = "" if p.age is None else str(p.age)
    out["hidden"] = p.hidden
    return out


class RosterEditDialog(QDialog):
    def __init__(self, window: Any, event_id: str) -> None:
        super().__init__(window)
        self.window_ = window
        self.services = window.services
        self.event_id = event_id
        self.running: Any = None
        event = self.services.events.event(event_id)
        self.setWindowTitle(f"Race-day roster edits — {event.name}")
        self.resize(1100, 640)
        outer = QVBoxLayout(self)
        body = QHBoxLayout()
        outer.addLayout(body, 1)

        left = QVBoxLayout()
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Find a runner: bib or name")
        self.filter.textChanged.connect(lambda *_: self.refresh())
        left.addWidget(self.filter)
        self.table = table(COLUMNS)
        self.table.itemSelectionChanged.connect(self._selected)
        left.addWidget(self.table, 1)
        body.addLayout(left, 3)

        right = QVBoxLayout()
        box = QGroupBox("Runner")
        form = QFormLayout(box)
        self.edits: dict[str, QLineEdit] = {}
        for name, label in FIELDS:
            e = QLineEdit()
            e.setObjectName(f"field_{name}")
            form.addRow(label, e)
            self.edits[name] = e
        self.hidden = QCheckBox("Hidden from the screens")
        form.addRow("", self.hidden)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save changes")
        self.save_button.setToolTip("Change the selected runner (a new bib moves them there)")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        self.walk_up_button = QPushButton("Add as walk-up")
        self.walk_up_button.setToolTip("Add a new runner with these fields (a bib nobody wears)")
        self.walk_up_button.clicked.connect(self.add_walk_up)
        buttons.addWidget(self.walk_up_button)
        self.clear_button = QPushButton("New runner")
        self.clear_button.setToolTip("Empty the form for a walk-up")
        self.clear_button.clicked.connect(self.new_runner)
        buttons.addWidget(self.clear_button)
        form.addRow(buttons)
        right.addWidget(box)

        swap = QGroupBox("Swap two bibs")
        row = QHBoxLayout(swap)
        self.swap_a = QLineEdit()
        self.swap_a.setPlaceholderText("bib")
        self.swap_b = QLineEdit()
        self.swap_b.setPlaceholderText("other bib")
        self.swap_button = QPushButton("Swap")
        self.swap_button.clicked.connect(self.swap)
        self.swap_b.returnPressed.connect(self.swap)
        row.addWidget(self.swap_a)
        row.addWidget(QLabel("⇄"))
        row.addWidget(self.swap_b)
        row.addWidget(self.swap_button)
        right.addWidget(swap)
        right.addStretch(1)
        body.addLayout(right, 2)

        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        outer.addWidget(self.message)
        close = QHBoxLayout()
        close.addStretch(1)
        self.close_button = QPushButton("Close")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        close.addWidget(self.close_button)
        outer.addLayout(close)
        self.current: ParticipantRow | None = None
        self.refresh()
        self.new_runner()

    # --- the roster ---------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        want = select or (self.current.bib if self.current else None)
        words = self.filter.text().strip().casefold()
        rows = [
            p
            for p in self.services.events.roster(self.event_id)
            if not words or words in f"{p.bib} {p.first_name} {p.last_name}".casefold()
        ]
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for i, p in enumerate(rows):
            set_row(
                self.table,
                i,
                [
                    cell(p.bib, bold=True, data=p.bib),
                    cell(p.first_name),
                    cell(p.last_name),
                    cell(p.city),
                    cell(p.division),
                ],
            )
        self.table.blockSignals(False)
        if want:
            select_data(self.table, want)

    def _selected(self) -> None:
        bib = selected_data(self.table)
        p = self.services.events.participant(self.event_id, bib) if bib else None
        if p is None:
            return
        self.current = p
        for name, value in row_values(p).items():
            if name == "hidden":
                self.hidden.setChecked(bool(value))
            else:
                self.edits[name].setText(str(value))
        self.save_button.setEnabled(True)
        if not self.swap_a.text():
            self.swap_a.setText(p.bib)

    def new_runner(self) -> None:
        self.current = None
        self.table.clearSelection()
        for e in self.edits.values():
            e.clear()
        self.hidden.setChecked(False)
        self.save_button.setEnabled(False)
        self.edits["bib"].setFocus()

    def form(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: e.text().strip() for name, e in self.edits.items()}
        out["age"] = out["age"] or None
        out["hidden"] = self.hidden.isChecked()
        return out

    # --- the three actions -----------------------------------------------------------------------
    def save(self) -> None:
        if self.current is None:
            self.say("Select the runner to change first.", "error")
            return
        before = row_values(self.current)
        before["age"] = before["age"] or None
        changed = {k: v for k, v in self.form().items() if v != before[k]}
        if not changed:
            self.say(f"Nothing to save: bib {self.current.bib} is unchanged.", "ok")
            return
        self._run(self._save(self.current.bib, changed))

    async def _save(self, bib: str, changed: dict[str, Any]) -> None:
        result = await self.services.ops.roster.edit_participant(self.event_id, bib, changed)
        p = result.participant
        self.current = p
        self.refresh(select=p.bib)
        moved = f" (now bib {p.bib})" if p.bib != bib else ""
        self.say(
            f"Saved bib {bib}{moved}: {', '.join(sorted(changed))}; kept over later provider syncs"
            + self._screens(result.corrections),
            "ok",
        )

    def add_walk_up(self) -> None:
        fields = {k: v for k, v in self.form().items() if v not in ("", None, False)}
        self._run(self._walk_up(fields))

    async def _walk_up(self, fields: dict[str, Any]) -> None:
        p = (await self.services.ops.roster.add_walk_up(self.event_id, fields)).participant
        self.current = p
        self.filter.clear()  # the new runner in view, whatever the filter was
        self.refresh(select=p.bib)
        self.say(f"Added walk-up bib {p.bib}: {p.first_name} {p.last_name}.".replace("  ", " "), "ok")

    def swap(self) -> None:
        a, b = self.swap_a.text().strip(), self.swap_b.text().strip()
        self._run(self._swap(a, b))

    async def _swap(self, a: str, b: str) -> None:
        result = await self.services.ops.roster.swap_bibs(self.event_id, a, b)
        self.current = result.first
        self.filter.clear()  # both runners in view
        self.refresh(select=result.first.bib)
        self.swap_a.clear()
        self.swap_b.clear()
        self.say(
            f"Swapped: {_name(result.first)} now wears {result.first.bib}, {_name(result.second)} "
            f"wears {result.second.bib}" + self._screens(result.corrections),
            "ok",
        )

    @staticmethod
    def _screens(n: int) -> str:
        return f"; {n} finish{'es' if n != 1 else ''} on screens corrected." if n else "."

    def _run(self, coro: Any) -> None:
        if self.running is not None and not self.running.done():
            coro.close()
            return

        async def guarded() -> None:
            try:
                await coro
            except EXPECTED as exc:
                self.say(str(exc), "error")

        self.running = tasks.spawn(guarded(), name="roster-edit")

    def say(self, text: str, kind: str) -> None:
        self.message.setStyleSheet(STYLE[kind])
        self.message.setText(text)


def _name(p: ParticipantRow) -> str:
    return f"{p.first_name} {p.last_name}".strip() or f"bib {p.bib}"
