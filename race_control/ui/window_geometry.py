"""Where the main window opens: the last run's place (desktop prefs), always inside its screen.

A laptop is 1366x768, or 1920x1080 at 150 % (1280x720 logical pixels): the first run opens at
PREFERRED or smaller, centred on the screen's available area (the taskbar excluded), with room
for the window frame; a geometry saved on a bigger monitor is pulled back inside this one.
"""

from __future__ import annotations

import base64
import binascii
import logging

from PySide6.QtCore import QByteArray, QRect, QSize
from PySide6.QtWidgets import QWidget

from race_control.ui.prefs import load_prefs, save_prefs

PREFERRED = QSize(1280, 820)
FRAME = QSize(16, 40)  # title bar and borders the window manager adds around the window
KEY = "window_geometry"

log = logging.getLogger("race_control.ui")


def fit(wanted: QRect, area: QRect) -> QRect:
    """``wanted`` shrunk and moved so that it, with its frame, lies inside ``area``."""
    room = QSize(max(area.width() - FRAME.width(), 1), max(area.height() - FRAME.height(), 1))
    size = wanted.size().boundedTo(room)
    left = area.x() + FRAME.width() // 2
    top = area.y() + FRAME.height() - FRAME.width() // 2
    x = min(max(wanted.x(), left), left + room.width() - size.width())
    y = min(max(wanted.y(), top), top + room.height() - size.height())
    return QRect(x, y, size.width(), size.height())


def first_place(area: QRect) -> QRect:
    """PREFERRED (or what fits) in the middle of ``area``."""
    rect = fit(QRect(0, 0, PREFERRED.width(), PREFERRED.height()), area)
    rect.moveCenter(area.center())
    return fit(rect, area)


def place(window: QWidget) -> None:
    """Open where the last run closed, else at the first place; inside the window's screen."""
    area = window.screen().availableGeometry()
    saved = load_prefs().get(KEY)
    restored = False
    if isinstance(saved, str):
        try:
            restored = window.restoreGeometry(QByteArray(base64.b64decode(saved, validate=True)))
        except (binascii.Error, ValueError):
            restored = False
    rect = fit(window.geometry(), area) if restored else first_place(area)
    window.setGeometry(rect)


def remember(window: QWidget) -> None:
    """Keep the window's geometry for the next run (desktop prefs, not the data dir)."""
    data = bytes(window.saveGeometry().data())
    try:
        save_prefs(**{KEY: base64.b64encode(data).decode("ascii")})
    except OSError as exc:  # a read-only config dir: the next run opens at the first place
        log.warning("cannot keep the window's place: %s", exc)
