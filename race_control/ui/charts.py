"""Small charts painted with QPainter (QtCharts is not part of PySide6-Essentials)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


class BarChart(QWidget):
    """Vertical bars over labelled categories (minutes), or horizontal bars (``horizontal=True``)."""

    def __init__(
        self, title: str, color: str = "#1565c0", *, horizontal: bool = False, unit: str = ""
    ) -> None:
        super().__init__()
        self.title = title
        self.color = QColor(color)
        self.horizontal = horizontal
        self.unit = unit
        self.points: list[tuple[str, float]] = []
        self.empty_text = "No data yet"
        self.setMinimumHeight(140)  # two rows of charts and the tiles fit a laptop window (1280x640)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(420, 220)

    def set_points(self, points: list[tuple[str, float]]) -> None:
        self.points = [(str(k), float(v or 0)) for k, v in points]
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        p.setPen(QPen(QColor("#d0d5dd")))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        fm = QFontMetrics(self.font())
        title_font = self.font()
        title_font.setBold(True)
        p.setFont(title_font)
        p.setPen(QColor("#111827"))
        p.drawText(QRectF(10, 6, self.width() - 20, fm.height() + 4), Qt.AlignmentFlag.AlignLeft, self.title)
        p.setFont(self.font())
        top = fm.height() + 16
        area = QRectF(10, top, self.width() - 20, self.height() - top - 10)
        if not self.points:
            p.setPen(QColor("#6b7280"))
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, self.empty_text)
            p.end()
            return
        if self.horizontal:
            self._horizontal(p, area, fm)
        else:
            self._vertical(p, area, fm)
        p.end()

    def _vertical(self, p: QPainter, area: QRectF, fm: QFontMetrics) -> None:
        peak = _nice_max(max(v for _, v in self.points))
        axis_w = fm.horizontalAdvance(f"{peak:g}") + 8
        plot = QRectF(
            area.left() + axis_w, area.top(), area.width() - axis_w, area.height() - fm.height() - 6
        )
        p.setPen(QColor("#9ca3af"))
        for frac in (0, 0.5, 1):
            y = plot.bottom() - frac * plot.height()
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.drawText(
                QRectF(area.left(), y - fm.height() / 2, axis_w - 4, fm.height()),
                Qt.AlignmentFlag.AlignRight,
                f"{peak * frac:g}",
            )
        n = len(self.points)
        slot = plot.width() / n
        bar = max(1.0, slot * 0.8)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.color)
        for i, (_, v) in enumerate(self.points):
            h = plot.height() * v / peak
            p.drawRect(QRectF(plot.left() + i * slot + (slot - bar) / 2, plot.bottom() - h, bar, h))
        # x labels: as many as fit
        p.setPen(QColor("#374151"))
        label_w = fm.horizontalAdvance("00:00") + 12
        every = max(1, int(label_w / slot) + 1)
        for i in range(0, n, every):
            x = plot.left() + i * slot + slot / 2
            p.drawText(
                QRectF(x - label_w / 2, plot.bottom() + 3, label_w, fm.height()),
                Qt.AlignmentFlag.AlignCenter,
                self.points[i][0],
            )

    def _horizontal(self, p: QPainter, area: QRectF, fm: QFontMetrics) -> None:
        peak = _nice_max(max(v for _, v in self.points))
        label_w = min(area.width() * 0.4, max(fm.horizontalAdvance(k) for k, _ in self.points) + 10)
        row_h = min(34.0, area.height() / len(self.points))
        for i, (k, v) in enumerate(self.points):
            y = area.top() + i * row_h
            p.setPen(QColor("#374151"))
            p.drawText(
                QRectF(area.left(), y, label_w - 6, row_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                k,
            )
            value_text = f"{v:g}{self.unit}"
            room = area.width() - label_w - fm.horizontalAdvance(value_text) - 12
            w = max(0.0, room * v / peak)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self.color)
            p.drawRect(QRectF(area.left() + label_w, y + row_h * 0.15, w, row_h * 0.7))
            p.setPen(QColor("#111827"))
            p.drawText(
                QRectF(area.left() + label_w + w + 6, y, area.width(), row_h),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                value_text,
            )
