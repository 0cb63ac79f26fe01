"""A quick, approximate preview of a display template: blocks painted with sample data.

The screens render the real thing (resources/display/); this shows the layout, the
colours, the texts and the images so the timer sees what a change does before saving.
"""

from __future__ import annotations

import base64
from typing import Any

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

SAMPLE = {
    "name": "Ann Lee",
    "bib": "101",
    "time": "0:42:17",
    "city_state": "Boise, ID",
    "division": "F30-39",
    "place": "1st",
    "clock": "0:42:17",
    "countdown": "12:00",
}


def _color(value: Any, fallback: str) -> QColor:
    c = QColor(str(value)) if value else QColor()
    return c if c.isValid() else QColor(fallback)


def data_url_image(src: str | None) -> QImage | None:
    if not src or not src.startswith("data:image/") or ";base64," not in src:
        return None
    img = QImage()
    img.loadFromData(QByteArray(base64.b64decode(src.split(",", 1)[1])))
    return None if img.isNull() else img


class TemplatePreview(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.template: dict[str, Any] = {}
        self.event_name = "Your event"
        self.setMinimumSize(256, 144)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(560, 315)

    def set_template(self, template: dict[str, Any], event_name: str = "") -> None:
        self.template = template
        self.event_name = event_name or "Your event"
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.fillRect(self.rect(), QColor("#30343b"))
        t = self.template
        if not t:
            p.end()
            return
        canvas = t.get("canvas", {})
        cw, ch = float(canvas.get("width", 1920)), float(canvas.get("height", 1080))
        scale = min(self.width() / cw, self.height() / ch)
        ox, oy = (self.width() - cw * scale) / 2, (self.height() - ch * scale) / 2
        theme = t.get("theme", {})
        fg = _color(theme.get("foreground"), "#ffffff")
        stage = QRectF(ox, oy, cw * scale, ch * scale)
        p.fillRect(stage, _color(theme.get("background"), "#000000"))
        bg = data_url_image(theme.get("background_image"))
        if bg is not None:
            p.drawImage(stage, bg)
        for b in t.get("blocks", []):
            self._block(p, b, ox, oy, scale, fg, _color(theme.get("accent"), "#ffd21f"))
        p.end()

    def _block(
        self, p: QPainter, b: dict[str, Any], ox: float, oy: float, k: float, fg: QColor, accent: QColor
    ) -> None:
        rect = QRectF(ox + b.get("x", 0) * k, oy + b.get("y", 0) * k, b.get("w", 0) * k, b.get("h", 0) * k)
        style = b.get("style", {})
        if style.get("background"):
            radius = float(style.get("radius", 0)) * k
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(_color(style["background"], "#000000"))
            p.drawRoundedRect(rect, radius, radius)
        kind = b.get("type")
        if kind == "image":
            img = data_url_image(b.get("src"))
            if img is not None:
                p.drawImage(rect, img)
            else:
                p.setPen(fg)
                p.drawRect(rect)
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, b.get("alt") or "image")
            return
        text = self._text(b)
        if not text:
            return
        font = QFont(p.font())
        size = max(1.0, float(style.get("size", 48)) * k)
        font.setPixelSize(max(1, round(size)))
        weight = style.get("weight", 400)
        font.setBold(weight == "bold" or (isinstance(weight, int | float) and weight >= 600))
        font.setItalic(bool(style.get("italic")))
        if style.get("font") == "mono":
            font.setFamily("monospace")
        p.setFont(font)
        color = style.get("color")
        p.setPen(_color(color, fg.name()) if color else (accent if kind == "time" else fg))
        if style.get("transform") == "uppercase":
            text = text.upper()
        align = {"center": Qt.AlignmentFlag.AlignHCenter, "right": Qt.AlignmentFlag.AlignRight}.get(
            style.get("align", "left"), Qt.AlignmentFlag.AlignLeft
        )
        pad = 10 * k if style.get("background") else 0
        flags = align | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap
        if kind in ("leaderboard", "slides"):
            flags = align | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
        p.drawText(rect.adjusted(pad, pad / 2, -pad, -pad / 2), int(flags), text)

    def _text(self, b: dict[str, Any]) -> str:
        kind = b.get("type")
        if kind == "text":
            return (
                str(b.get("text", ""))
                .replace("{event_name}", self.event_name)
                .replace("{session_name}", "Finish line")
            )
        if kind == "message":
            rotate = b.get("rotate") or []
            return "Go Ann go!" if not rotate else str(rotate[0])
        if kind in ("bib", "place"):
            return f"{b.get('prefix', '')}{SAMPLE[kind]}"
        if kind in ("clock", "countdown"):
            return SAMPLE[kind]
        if kind == "leaderboard":
            return f"{b.get('title', 'RECENT FINISHERS')}\n\n1  Ann Lee  0:42:17\n2  Bo Chen  0:43:02\n3  Cy Diaz  0:44:40"
        if kind == "slides":
            items = b.get("items") or []
            if not items:
                return ""
            first = items[0]
            return first if isinstance(first, str) else f"{first.get('title', '')}\n{first.get('text', '')}"
        return SAMPLE.get(str(kind), "")
