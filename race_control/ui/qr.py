"""A QR code of a display URL, painted from the ``qrcode`` package's module matrix (no PIL)."""

from __future__ import annotations

import qrcode
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


def qr_matrix(text: str) -> list[list[bool]]:
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


class QrWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.matrix: list[list[bool]] = []
        self.setMinimumSize(116, 116)  # 3+ px a module for a display URL: a phone still reads it
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setToolTip("Scan with a phone or tablet to open this display")

    def sizeHint(self) -> QSize:
        return QSize(160, 160)  # plenty for a phone; the screens and finishers get the height

    def set_text(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.matrix = qr_matrix(text) if text else []
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        side = min(self.width(), self.height())
        x0, y0 = (self.width() - side) / 2, (self.height() - side) / 2
        p.fillRect(QRectF(x0, y0, side, side), QColor("white"))
        n = len(self.matrix)
        if n:
            module = side / n
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("black"))
            for r, row in enumerate(self.matrix):
                for c, dark in enumerate(row):
                    if dark:
                        # a hair of overlap so no seams show between modules when scaled
                        p.drawRect(QRectF(x0 + c * module, y0 + r * module, module + 0.5, module + 0.5))
        p.end()
