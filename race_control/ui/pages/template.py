"""Step 4 — pick a display template and set its texts, colours and images in a simple form.

Built-in templates are read-only: saving one makes the timer's own copy (versioned by
the templates service, pushed to screens when the session uses it).  The visual
builder (a later issue) takes this page's place.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QColorDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from race_control.errors import InputError
from race_control.templates.service import DEFAULT_BY_MODE
from race_control.ui.builder_link import builder_url, hosted_builder
from race_control.ui.session_picker import SessionCombo
from race_control.ui.template_preview import TemplatePreview
from race_control.ui.template_versions import TemplateVersions
from race_control.ui.widgets import Page, button, section

IMAGE_TYPES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}


class ColorField(QWidget):
    changed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("#rrggbb")
        self.edit.setMaximumWidth(120)
        self.edit.editingFinished.connect(lambda: self.set_color(self.edit.text()))
        row.addWidget(self.edit)
        self.swatch = QPushButton("Pick…")
        self.swatch.clicked.connect(self.pick)
        row.addWidget(self.swatch)
        row.addStretch(1)
        self.value = ""

    def set_color(self, value: str, *, emit: bool = True) -> None:
        value = value.strip()
        if value and not QColor(value).isValid():
            self.edit.setStyleSheet("background: #fdecea;")
            return
        self.edit.setStyleSheet("")
        self.edit.setText(value)
        self.swatch.setStyleSheet(f"background: {value}; color: {_contrast(value)};" if value else "")
        if value != self.value:
            self.value = value
            if emit:
                self.changed.emit(value)

    def pick(self) -> None:
        dialog = QColorDialog(QColor(self.value or "#ffffff"), self)
        dialog.colorSelected.connect(lambda c: self.set_color(c.name()))
        dialog.open()


def _contrast(value: str) -> str:
    c = QColor(value)
    return "#000000" if c.isValid() and c.lightness() > 140 else "#ffffff"


def recolor(template: dict[str, Any], old: str, new: str) -> None:
    """Every block colour equal to ``old`` becomes ``new`` (the theme colours are used by blocks)."""
    if not old or not new:
        return
    for b in template.get("blocks", []):
        style = b.get("style", {})
        for key in ("color", "background"):
            if isinstance(style.get(key), str) and style[key].strip().lower() == old.lower():
                style[key] = new


def image_data_url(path: Path) -> str:
    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path.name}: use a PNG, JPEG, GIF or WebP image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > 2_500_000:
        raise InputError(f"{path.name} is larger than 2.5 MB; use a smaller image")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


class TemplatePage(Page):
    title = "Display template"
    hint = (
        "Pick how the screens look. Change the colours, texts and background image here; "
        "saving a built-in template makes your own copy."
    )
    primary_text = "Use this template"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        self.builder_window: Any = None  # the hosted builder (builder_view), made on first use
        self.current: dict[str, Any] = {}
        self.dirty = False
        self._loading = False
        self.session_combo = SessionCombo(window, "Applies to display session")
        self.body.addWidget(self.session_combo)
        self._shown_session: str | None = None
        window.flow.changed.connect(self._session_switched)
        row = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(section("Templates"))
        self.list = QListWidget()
        self.list.currentItemChanged.connect(lambda *_: self._selected())
        left.addWidget(self.list, 3)
        self.versions = TemplateVersions(self, self._preview_version)
        left.addWidget(self.versions, 2)
        holder = QWidget()
        holder.setLayout(left)
        left.setContentsMargins(0, 0, 0, 0)
        holder.setMinimumWidth(236)  # "Leaderboard — board  (built-in)" whole
        holder.setMaximumWidth(330)
        row.addWidget(holder)

        mid = QVBoxLayout()
        form = QFormLayout()
        self.name = QLineEdit()
        self.background = ColorField()
        self.foreground = ColorField()
        self.accent = ColorField()
        self.heading = QLineEdit()
        self.heading.setToolTip("{event_name} and {session_name} are replaced on the screens")
        self.idle = QLineEdit()
        self.messages = QPlainTextEdit()
        self.messages.setMaximumHeight(110)
        self.image = QLineEdit()
        self.image.setReadOnly(True)
        self.image.setPlaceholderText("none")
        img_row = QHBoxLayout()
        img_row.addWidget(self.image, 1)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.pick_image)
        img_row.addWidget(browse)
        clear = QPushButton("Clear")
        clear.clicked.connect(lambda: self.set_background_image(None))
        img_row.addWidget(clear)
        form.addRow("Name", self.name)
        form.addRow("Background colour", self.background)
        form.addRow("Text colour", self.foreground)
        form.addRow("Accent colour", self.accent)
        form.addRow("Heading text", self.heading)
        form.addRow("Waiting text", self.idle)
        form.addRow("Messages (one per line)", self.messages)
        form.addRow("Background image", img_row)
        mid.addLayout(form)
        buttons = QHBoxLayout()
        self.save_button = button("Save", lambda: self.run(self.save()), shortcut="Ctrl+S")
        buttons.addWidget(self.save_button)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self._selected)
        buttons.addWidget(self.revert_button)
        self.builder_button = button(
            "Open in builder…", lambda: self.run(self.open_builder()), shortcut="Ctrl+Shift+B"
        )
        self.builder_button.setToolTip(
            "Drag, resize and style this template's blocks on the real screen renderer"
        )
        buttons.addWidget(self.builder_button)
        buttons.addStretch(1)
        mid.addLayout(buttons)
        mid.addStretch(1)
        row.addLayout(mid, 1)

        self.preview = TemplatePreview()
        row.addWidget(self.preview, 2)
        self.body.addLayout(row, 1)
        for w in (self.name, self.heading, self.idle):
            w.textEdited.connect(self._edited)
        self.messages.textChanged.connect(self._edited)
        for field, key in (
            (self.background, "background"),
            (self.foreground, "foreground"),
            (self.accent, "accent"),
        ):
            field.changed.connect(lambda value, k=key: self._color_changed(k, value))

    # --- list -------------------------------------------------------------------------
    def entered(self) -> None:
        self._shown_session = self.flow.session_id
        self.session_combo.refresh()
        self.refresh()
        self.list.setFocus()

    def _session_switched(self) -> None:
        """Another display session was chosen here or elsewhere: show its template (and mode)."""
        if self.isVisible() and self.flow.session_id != self._shown_session:
            self._shown_session = self.flow.session_id
            self.refresh(select=self.flow.template_id)

    def refresh(self, select: str | None = None) -> None:
        want = select or self.flow.template_id or self._selected_id() or DEFAULT_BY_MODE[self.flow.mode]
        self.list.blockSignals(True)
        self.list.clear()
        for t in self.services.templates.list():
            if t["mode"] != self.flow.mode:
                continue
            label = f"{t['name']}  (built-in)" if t["builtin"] else f"{t['name']}  (v{t['version']})"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, t["id"])
            self.list.addItem(item)
            if t["id"] == want:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self.list.blockSignals(False)
        self._selected()

    def _selected_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def select(self, template_id: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == template_id:
                self.list.setCurrentRow(i)

    def _selected(self) -> None:
        tid = self._selected_id()
        if not tid:
            return
        self.current = self.services.templates.get(tid)
        self._fill()
        self.dirty = False
        self._update_buttons()
        self.run(self.versions.show_template(tid))

    def _preview_version(self, body: dict[str, Any]) -> None:
        """A version picked in the history: the preview shows it (the form keeps the current one)."""
        self.preview.set_template(body, self.flow.event_name)

    @property
    def builtin(self) -> bool:
        return any(t["id"] == self.current.get("id") and t["builtin"] for t in self.services.templates.list())

    # --- form <-> template ------------------------------------------------------------
    def _fill(self) -> None:
        self._loading = True
        t = self.current
        theme = t.get("theme", {})
        self.name.setText(t.get("name", ""))
        self.background.set_color(theme.get("background", ""), emit=False)
        self.foreground.set_color(theme.get("foreground", ""), emit=False)
        self.accent.set_color(theme.get("accent", ""), emit=False)
        text_block = self._first("text")
        self.heading.setText(text_block.get("text", "") if text_block else "")
        self.heading.setEnabled(text_block is not None)
        self.idle.setText(t.get("idle_text", ""))
        self.idle.setEnabled(t.get("mode") == "results")
        self.messages.setPlainText("\n".join(self._messages()))
        self.image.setText("image set" if theme.get("background_image") else "")
        self._loading = False
        self.preview.set_template(self.current, self.flow.event_name)

    def _first(self, kind: str) -> dict[str, Any] | None:
        return next((b for b in self.current.get("blocks", []) if b.get("type") == kind), None)

    def _messages(self) -> list[str]:
        msg = self._first("message")
        if msg is not None:
            return list(msg.get("rotate", []))
        slides = self._first("slides")
        if slides is not None:
            out = []
            for item in slides.get("items", []):
                if isinstance(item, str):
                    out.append(item)
                else:
                    out.append(" | ".join(x for x in (item.get("title", ""), item.get("text", "")) if x))
            return out
        return []

    def _edited(self) -> None:
        if self._loading:
            return
        t = self.current
        t["name"] = self.name.text()
        block = self._first("text")
        if block is not None:
            block["text"] = self.heading.text()
        if t.get("mode") == "results":
            t["idle_text"] = self.idle.text()
        lines = [line.strip() for line in self.messages.toPlainText().splitlines() if line.strip()]
        msg, slides = self._first("message"), self._first("slides")
        if msg is not None:
            msg["rotate"] = lines
        elif slides is not None:
            items: list[Any] = []
            for line in lines:
                title, _, text = line.partition("|")
                items.append({"title": title.strip(), "text": text.strip()} if text else line)
            slides["items"] = items
        self._mark_dirty()

    def _color_changed(self, key: str, value: str) -> None:
        if self._loading:
            return
        theme = self.current.setdefault("theme", {})
        recolor(self.current, theme.get(key, ""), value)
        theme[key] = value
        self._mark_dirty()

    def set_color(self, key: str, value: str) -> None:
        """Set a theme colour as if typed in (tests and keyboard users)."""
        {"background": self.background, "foreground": self.foreground, "accent": self.accent}[key].set_color(
            value
        )

    def pick_image(self) -> None:
        dialog = QFileDialog(
            self, "Background image", str(Path.home()), "Images (*.png *.jpg *.jpeg *.gif *.webp)"
        )
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda p: self.set_background_image(Path(p)))
        dialog.open()

    def set_background_image(self, path: Path | None) -> None:
        theme = self.current.setdefault("theme", {})
        if path is None:
            theme.pop("background_image", None)
            self.image.setText("")
        else:
            try:
                theme["background_image"] = image_data_url(path)
            except InputError as exc:
                self.say(str(exc), error=True)
                return
            self.image.setText(path.name)
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self.dirty = True
        self.preview.set_template(self.current, self.flow.event_name)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.save_button.setText("Save as my copy" if self.builtin else "Save")
        self.save_button.setEnabled(self.dirty or self.builtin)
        self.revert_button.setEnabled(self.dirty)

    # --- operations -------------------------------------------------------------------
    async def open_builder(self) -> str:
        """Open the visual builder on the selected template: in the desktop's own builder window
        (QtWebEngine), else in the system browser."""
        url = await builder_url(self.services.public_base_url, self.services.api_token, self._selected_id())
        window_class = hosted_builder()
        if window_class is None:
            QDesktopServices.openUrl(QUrl(url))
            self.say("The builder opened in your browser; what you save there shows here and on the screens.")
            return url
        if self.builder_window is None:
            self.builder_window = window_class(self)
            self.builder_window.destroyed.connect(lambda *_: setattr(self, "builder_window", None))
            self.builder_window.browser_button.clicked.connect(lambda: self.run(self.open_in_browser()))
            self.builder_window.place()
        self.builder_window.open_url(url)
        self.builder_window.show()
        self.builder_window.raise_()
        self.builder_window.activateWindow()
        self.say("The builder opened in its own window; what you save there shows here and on the screens.")
        return url

    async def open_in_browser(self) -> str:
        """The builder in the system browser (a new one-time link)."""
        url = await builder_url(self.services.public_base_url, self.services.api_token, self._selected_id())
        QDesktopServices.openUrl(QUrl(url))
        self.say("The builder opened in your browser; what you save there shows here and on the screens.")
        return url

    async def save(self) -> str:
        body = copy.deepcopy(self.current)
        tid = body.pop("id", None)
        if self.builtin:
            builtin_name = self.services.templates.get(tid)["name"]
            if body.get("name") == builtin_name:
                body["name"] = f"{builtin_name} (my copy)"[:120]
            tid = None
        saved = (await self.services.ops.templates.save(body, tid)).template
        self.refresh(select=saved["id"])
        self.say(f"Saved “{saved['name']}” (version {saved['version']}).")
        return str(saved["id"])

    async def primary_action(self) -> bool:
        tid = await self.save() if self.dirty else self._selected_id()
        if not tid:
            return False
        self.flow.set_template(tid)
        await self.flow.ensure_session()
        return True
