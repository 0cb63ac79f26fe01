"""The template page's history and file panel: the selected template's versions (preview one,
restore it as a new version) and its portable file (export to a file, import a file as a new
template).  The actions are operations.templates; a refused import names its reason here."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from race_control.errors import InputError
from race_control.ui.widgets import section

FILE_FILTER = "Race Control template (*.rctemplate.json *.json)"
MAX_FILE_BYTES = 48 * 1024 * 1024  # the import route's limit


def version_label(v: dict[str, Any]) -> str:
    when = dt.datetime.fromtimestamp(v["saved_at"]).strftime("%d %b %H:%M") if v.get("saved_at") else ""
    parts = [f"v{v['version']}", v.get("origin", ""), when, "(current)" if v.get("current") else ""]
    return "  ".join(p for p in parts if p)


def _read(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path.name}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{path.name} is larger than 48 MiB: not a template file")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path.name} is not a template file (not JSON: {exc})") from None


def _write(path: Path, body: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(body, ensure_ascii=False, indent=1), "utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


class TemplateVersions(QWidget):
    """``page`` is the TemplatePage: its services, ``run``/``say``, preview and list."""

    def __init__(self, page: Any, on_preview: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self.page = page
        self.on_preview = on_preview
        self.template_id: str | None = None
        self.last_error = ""
        self.refused: QMessageBox | None = None
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(section("Versions"))
        self.list = QListWidget()
        self.list.setToolTip("Every save is a version; select one to preview it")
        self.list.currentItemChanged.connect(lambda *_: self._picked())
        col.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip("Make the selected version current (as a new version)")
        self.restore_button.clicked.connect(lambda: self.page.run(self.restore_selected()))
        row.addWidget(self.restore_button)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self.pick_export)
        row.addWidget(self.export_button)
        self.import_button = QPushButton("Import…")
        self.import_button.clicked.connect(self.pick_import)
        row.addWidget(self.import_button)
        col.addLayout(row)
        self._versions: list[dict[str, Any]] = []

    @property
    def ops(self) -> Any:
        return self.page.services.ops.templates

    # --- versions -----------------------------------------------------------------------
    async def show_template(self, template_id: str) -> None:
        self.template_id = template_id
        versions = await self.ops.versions(template_id)
        if template_id != self.template_id:
            return  # another template was selected meanwhile
        self._versions = versions
        self.list.blockSignals(True)
        self.list.clear()
        for v in versions:
            item = QListWidgetItem(version_label(v))
            item.setData(Qt.ItemDataRole.UserRole, v["version"])
            self.list.addItem(item)
            if v.get("current"):
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._update_buttons()

    def labels(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def select_version(self, version: int) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == version:
                self.list.setCurrentRow(i)

    def _selected(self) -> dict[str, Any] | None:
        item = self.list.currentItem()
        if item is None:
            return None
        want = item.data(Qt.ItemDataRole.UserRole)
        return next((v for v in self._versions if v["version"] == want), None)

    def _update_buttons(self) -> None:
        v = self._selected()
        self.restore_button.setEnabled(
            v is not None and v.get("origin") != "builtin" and not v.get("current")
        )

    def _picked(self) -> None:
        self._update_buttons()
        v = self._selected()
        if v is not None and self.template_id:
            self.page.run(self.preview(self.template_id, v["version"]))

    async def preview(self, template_id: str, version: int) -> dict[str, Any]:
        body = await self.ops.version(template_id, version)
        if template_id == self.template_id:
            self.on_preview(body)
        return dict(body)

    async def restore_selected(self) -> dict[str, Any] | None:
        v = self._selected()
        if v is None or not self.template_id:
            return None
        restored = (await self.ops.restore(self.template_id, v["version"])).template
        self.page.refresh(select=restored["id"])
        self.page.say(f"Restored version {v['version']} as version {restored['version']}.")
        return dict(restored)

    # --- the portable file -----------------------------------------------------------------
    def pick_export(self) -> None:
        if not self.template_id:
            return
        name = self.page.services.templates.get(self.template_id)["name"]
        safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in name).strip() or "template"
        dialog = QFileDialog(
            self, "Export template", str(Path.home() / f"{safe}.rctemplate.json"), FILE_FILTER
        )
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("rctemplate.json")
        dialog.fileSelected.connect(lambda p: self.page.run(self.export_to(Path(p))))
        dialog.open()

    def pick_import(self) -> None:
        dialog = QFileDialog(self, "Import template", str(Path.home()), FILE_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda p: self.page.run(self.import_from(Path(p))))
        dialog.open()

    async def export_to(self, path: Path) -> Path:
        if not self.template_id:
            raise InputError("pick a template to export")
        body = await self.ops.export_file(self.template_id)
        await asyncio.to_thread(_write, path, body)
        self.page.say(f"Exported to {path}.")
        return path

    async def import_from(self, path: Path) -> dict[str, Any] | None:
        """A new template from a portable file; a refused file's reason goes in a dialog."""
        try:
            body = await asyncio.to_thread(_read, path)
            saved = (await self.ops.import_file(body)).template
        except InputError as exc:
            self.last_error = f"{path.name} was not imported: {exc}"
            self.page.say(self.last_error, error=True)
            box = QMessageBox(QMessageBox.Icon.Warning, "Import refused", self.last_error, parent=self)
            box.setTextFormat(Qt.TextFormat.PlainText)  # the reason quotes the file: never markup
            box.open()
            self.refused = box
            return None
        self.last_error = ""
        self.page.refresh(select=saved["id"])
        self.page.say(f"Imported “{saved['name']}” as a new template.")
        return dict(saved)
