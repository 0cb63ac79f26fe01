"""Step 3 — choose the event: from the local store, created here, with a roster file
(ui/roster_dialog.py: column mapping, change preview, safe re-import), or synced
from a registration provider (ui/provider_dialog.py); race-day edits of its roster
(ui/roster_edit_dialog.py).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
)

from race_control.config import local_timezone
from race_control.ui.widgets import Page, button, date_edit, section, timezone_combo


class EventPage(Page):
    title = "Event"
    hint = "Pick the race these displays belong to, or create it and import its roster (CSV)."
    primary_text = "Use this event"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        self.body.addWidget(section("Events on this laptop"))
        self.list = QListWidget()
        self.list.setMinimumHeight(160)
        self.list.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.list.itemDoubleClicked.connect(lambda *_: self.press_primary())
        self.body.addWidget(self.list, 2)
        row = QHBoxLayout()
        self.import_button = button(
            "Import roster file…",
            self.open_import,
            shortcut="Ctrl+I",
            tip="Ctrl+I: import or re-import the roster from a CSV/TSV file (column mapping, change preview)",
        )
        row.addWidget(self.import_button)
        self.provider_button = button(
            "Sync from provider…",
            self.open_provider_sync,
            shortcut="Ctrl+Shift+P",
            tip="Ctrl+Shift+P: preview and apply the roster from a registration provider (RunSignUp, …)",
        )
        row.addWidget(self.provider_button)
        self.edit_button = button(
            "Race-day edits…",
            self.open_edits,
            shortcut="Ctrl+Shift+E",
            tip="Ctrl+Shift+E: fix a runner, swap two bibs, add a walk-up",
        )
        row.addWidget(self.edit_button)
        row.addStretch(1)
        self.body.addLayout(row)

        box = QGroupBox("New event")
        form = QFormLayout(box)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. City 10K 2026")
        self.date = date_edit()
        self.timezone = timezone_combo()
        form.addRow("Name", self.name)
        form.addRow("Date", self.date)
        form.addRow("Time zone", self.timezone)
        self.create_button = button("Create event", lambda: self.run(self.create_event()), shortcut="Ctrl+N")
        form.addRow("", self.create_button)
        self.body.addWidget(box)
        tz = self.services.settings.timezone or local_timezone()
        self.timezone.setCurrentText(tz)
        self.name.returnPressed.connect(lambda: self.run(self.create_event()))

    def entered(self) -> None:
        self.refresh()
        self.list.setFocus()

    def refresh(self) -> None:
        current = self.flow.event_id or (self.selected_id() or "")
        self.list.clear()
        for e in self.services.events.events():
            n = len(self.services.events.roster(e.id))
            item = QListWidgetItem(f"{e.name}    {e.date}    {n} participants    ({e.timezone})")
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            self.list.addItem(item)
            if e.id == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._selection_changed()

    def selected_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def select(self, event_id: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == event_id:
                self.list.setCurrentRow(i)

    def _selection_changed(self) -> None:
        has = self.selected_id() is not None
        self.import_button.setEnabled(has)
        self.provider_button.setEnabled(has and self.services.ops.providers is not None)
        self.edit_button.setEnabled(has)
        self.primary.setEnabled(has)

    async def create_event(self) -> str:
        info = (
            await self.services.ops.roster.create_event(
                {
                    "name": self.name.text(),
                    "date": self.date.date().toString("yyyy-MM-dd"),
                    "timezone": self.timezone.currentText().strip(),
                }
            )
        ).event
        self.name.clear()
        self.refresh()
        self.select(info.id)
        self.say(f"Created “{info.name}”. Import its roster, or continue.")
        return info.id

    def open_import(self) -> None:
        from race_control.ui.roster_dialog import RosterImportDialog

        event_id = self.selected_id()
        if not event_id:
            return
        dialog = RosterImportDialog(self.window_, event_id)
        dialog.finished.connect(lambda *_: self.refresh())
        dialog.open()  # window-modal but non-blocking: the loop keeps running
        self.window_.roster_dialog = dialog

    def open_provider_sync(self) -> None:
        from race_control.ui.provider_dialog import ProviderSyncDialog

        event_id = self.selected_id()
        if not event_id or self.services.ops.providers is None:
            return
        dialog = ProviderSyncDialog(self.window_, event_id)
        dialog.finished.connect(lambda *_: self.refresh())
        dialog.open()  # window-modal but non-blocking: the loop keeps running
        self.window_.provider_dialog = dialog

    def open_edits(self) -> None:
        from race_control.ui.roster_edit_dialog import RosterEditDialog

        event_id = self.selected_id()
        if not event_id:
            return
        dialog = RosterEditDialog(self.window_, event_id)
        dialog.finished.connect(lambda *_: self.refresh())
        dialog.open()
        self.window_.edit_dialog = dialog

    async def primary_action(self) -> bool:
        event_id = self.selected_id()
        if not event_id:
            self.say("Choose an event (or create one) first.", error=True)
            return False
        self.flow.set_event(event_id)
        self.say("")
        return True
