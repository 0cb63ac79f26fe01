"""The crossing rules of the selected display session: which timing points it shows, where
chip time starts, the duplicate window and the minimum time since the start.

Applying them re-runs every stored read of the session's streams through the new rules; the
summary says what changed.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QLineEdit

from race_control.sessions.live import LiveSession
from race_control.ui.widgets import Page, button


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.replace(";", ",").split(",") if x.strip()]


def _seconds(tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0, 86400)
    spin.setDecimals(0)
    spin.setSuffix(" s")
    spin.setToolTip(tip)
    return spin


class RulesForm(QGroupBox):
    """``page`` runs the update and shows its errors."""

    applied = Signal()  # the session's rules changed (or were found unchanged)

    def __init__(self, page: Page) -> None:
        super().__init__("Crossing rules of this display")
        self.page = page
        form = QFormLayout(self)
        self.locations = QLineEdit()
        self.locations.setPlaceholderText("all locations")
        self.locations.setToolTip("Comma-separated timing points to show, e.g. FINISH")
        self.start_locations = QLineEdit()
        self.start_locations.setPlaceholderText("none")
        self.start_locations.setToolTip(
            "A bib's first read here starts its chip time (a shared start/finish mat may be in both)"
        )
        self.window_s = _seconds(
            "One crossing per bib per line within this window; later reads are duplicates"
        )
        self.min_since_start = _seconds("A read this soon after the bib's start (or the gun) is not a finish")
        form.addRow("Show locations", self.locations)
        form.addRow("Start locations", self.start_locations)
        form.addRow("Duplicate window", self.window_s)
        form.addRow("Min. time since start", self.min_since_start)
        self.apply_rules_button = button(
            "Apply rules",
            lambda: page.run(self.apply_rules()),
            shortcut="Ctrl+R",
            tip="Ctrl+R: re-runs every stored read through the new rules",
        )
        form.addRow("", self.apply_rules_button)
        self.rules_summary = QLabel()
        self.rules_summary.setWordWrap(True)
        form.addRow(self.rules_summary)

    def load(self, s: LiveSession | None) -> None:
        """Show the session's rules (nothing to apply without a session)."""
        self.apply_rules_button.setEnabled(s is not None)
        if s is None:
            return
        r = s.rules
        self.locations.setText(", ".join(r.locations))
        self.start_locations.setText(", ".join(r.start_locations))
        self.window_s.setValue(r.duplicate_window)
        self.min_since_start.setValue(r.min_time_since_start)

    async def apply_rules(self) -> None:
        """Save the rules to the session (created if needed) and re-run its stored reads."""
        s = await self.page.flow.ensure_session()
        rules = s.rules.to_json()
        rules.update(
            locations=_names(self.locations.text()),
            start_locations=_names(self.start_locations.text()),
            duplicate_window=self.window_s.value(),
            min_time_since_start=self.min_since_start.value(),
        )
        summary = (await self.page.services.ops.sessions.set_rules(s.id, rules)).rerun
        if summary:
            self.rules_summary.setText(
                f"Re-ran the stored reads: {summary['crossings']} crossings, {summary['newly_shown']} newly shown, "
                f"{summary['shown_before_but_not_now']} shown before but not under the new rules, "
                f"{summary['suppressed']} suppressed."
            )
        else:
            self.rules_summary.setText("Rules unchanged.")
        self.load(self.page.flow.session)
        self.applied.emit()
