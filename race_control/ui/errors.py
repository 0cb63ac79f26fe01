"""Errors never disappear: the excepthook logs them and shows them in a non-blocking panel.

qasync routes exceptions of async slots to ``sys.excepthook``, PySide6 does the same
for exceptions in ordinary slots and virtual overrides, and ``tasks.spawn`` does it
for every coroutine a widget starts.  The panel sits at the top of the main window:
no modal dialog (a modal dialog inside a running coroutine would re-enter the loop).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from race_control.errors import RaceControlError

log = logging.getLogger("race_control.ui")
Hook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


class ErrorPanel(QFrame):
    """A red banner with the latest error, a count, details on demand and Dismiss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorPanel")
        self.setStyleSheet(
            "#errorPanel { background: #fdecea; border: 2px solid #c62828; border-radius: 6px; }"
            "#errorPanel QLabel { color: #7f0000; }"
        )
        self.count = 0
        self.messages: list[str] = []
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.label, 1)
        self.details_button = QPushButton("Details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(lambda on: self.details.setVisible(on))
        row.addWidget(self.details_button)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(self.dismiss)
        row.addWidget(self.dismiss_button)
        lay.addLayout(row)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(160)
        self.details.hide()
        lay.addWidget(self.details)
        self.hide()

    def show_error(self, summary: str, details: str = "") -> None:
        self.count += 1
        self.messages.append(summary)
        more = f"  ({self.count} errors; see the log)" if self.count > 1 else ""
        self.label.setText(f"<b>Something went wrong:</b> {_escape(summary)}{more}")
        self.details.setPlainText(details)
        self.details_button.setVisible(bool(details))
        self.show()

    def dismiss(self) -> None:
        self.count = 0
        self.details_button.setChecked(False)
        self.hide()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def describe(exc: BaseException) -> str:
    if isinstance(exc, RaceControlError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class ExceptHook:
    """Installed as ``sys.excepthook`` while the window lives; ``uninstall`` restores the old one."""

    def __init__(self, panel: ErrorPanel) -> None:
        self.panel = panel
        self.previous: Hook = sys.excepthook

    def __call__(self, etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            self.previous(etype, value, tb)
            return
        text = "".join(traceback.format_exception(etype, value, tb))
        log.error("unhandled error in the desktop app:\n%s", text)
        try:
            self.panel.show_error(describe(value), text)
        except RuntimeError:  # the panel was already deleted (shutdown): the log has it
            pass

    def install(self) -> None:
        self.previous = sys.excepthook
        sys.excepthook = self

    def uninstall(self) -> None:
        if sys.excepthook is self:
            sys.excepthook = self.previous
