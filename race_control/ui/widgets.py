"""Building blocks shared by the pages: the page frame, big headings, inline messages, time text."""

from __future__ import annotations

import datetime as dt
import html
import time
import zoneinfo
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from race_control.errors import Conflict, InputError, NotFound
from race_control.ui import tasks

if TYPE_CHECKING:
    from race_control.ui.window import MainWindow

EXPECTED = (InputError, Conflict, NotFound)  # user-caused: shown next to the form, not as a crash
GOOD, WARN, BAD, MUTED = QColor("#1b5e20"), QColor("#a15c00"), QColor("#b71c1c"), QColor("#6b7280")


class PageBody(QWidget):
    """A page's scrolled body.  QScrollArea sizes a widget whose layout has height-for-width (any
    word-wrapped label) by its *preferred* height, so a body that fits at its minimum would still
    scroll; this one answers the layout's minimum height at that width (wrapped lines included)."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("pageBodyContent")

    def heightForWidth(self, width: int) -> int:
        layout = self.layout()
        return (
            layout.totalMinimumHeightForWidth(width) if layout is not None else super().heightForWidth(width)
        )


class Page(QWidget):
    """One screen of the app: a title, a hint, a body and a primary button (Enter presses it)."""

    title = ""
    hint = ""
    primary_text = "Continue"

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.window_ = window
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 18)
        outer.setSpacing(10)
        heading = QLabel(self.title)
        heading.setObjectName("pageTitle")
        outer.addWidget(heading)
        self.hint_label = QLabel(self.hint)
        self.hint_label.setWordWrap(True)
        self.hint_label.setObjectName("pageHint")
        outer.addWidget(self.hint_label)
        # the body scrolls when the window is smaller than it (a laptop screen, or with the alerts
        # and error panels open): squeezed, word-wrapped labels would clip their lines instead; the
        # title, the message and the main button stay in view
        self.scroll = QScrollArea()
        self.scroll.setObjectName("pageBody")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        content = PageBody()
        self.scroll.setWidget(content)
        self.body = column(content, spacing=10)
        outer.addWidget(self.scroll, 1)
        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # messages quote names and files: text
        self.message.setWordWrap(True)
        self.message.setObjectName("pageMessage")
        self.message.hide()
        outer.addWidget(self.message)
        footer = QHBoxLayout()
        footer.addStretch(1)
        self.primary = QPushButton(self.primary_text)
        self.primary.setObjectName("primaryButton")
        self.primary.setMinimumHeight(40)
        self.primary.setMinimumWidth(180)
        self.primary.setToolTip("Enter")
        self.primary.clicked.connect(self.press_primary)
        footer.addWidget(self.primary)
        outer.addLayout(footer)

    @property
    def services(self) -> Any:
        return self.window_.services

    @property
    def flow(self) -> Any:
        return self.window_.flow

    # --- hooks for subclasses ---------------------------------------------------------
    def entered(self) -> None:
        """The page became visible: refresh from the services."""

    async def primary_action(self) -> bool:
        """Do the page's main action; True moves on to the next step."""
        return True

    # --- helpers ----------------------------------------------------------------------
    def press_primary(self) -> None:
        if self.primary.isEnabled():
            self.run(self._primary())

    async def _primary(self) -> None:
        if await self.primary_action():
            self.window_.next_step(self)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Start a service call; expected errors are shown on this page, others in the error panel."""

        async def guarded() -> Any:
            try:
                return await coro
            except EXPECTED as exc:
                self.say(str(exc), error=True)
                return None

        return tasks.spawn(guarded(), name=f"{type(self).__name__}-action")

    def say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {'#b71c1c' if error else '#1b5e20'}; font-weight: 600;")
        self.message.setVisible(bool(text))


class ElidedLabel(QLabel):
    """One line of plain text that ends in "…" when the room is short, instead of asking for the
    whole text's width (a provider's 90-character event name widened the window past a laptop's
    screen).  ``text()`` is the whole text; the tooltip shows it, escaped."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.PlainText)  # names are text, never markup
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(f"<p>{html.escape(text)}</p>" if text else "")

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * 10), hint.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        self.style().drawItemText(
            painter,
            rect,
            int(self.alignment()),
            self.palette(),
            self.isEnabled(),
            shown,
            self.foregroundRole(),
        )
        painter.end()


def section(text: str, *, elide: bool = False) -> QLabel:
    label = ElidedLabel(text) if elide else QLabel(text)
    label.setObjectName("section")  # styled by the window's style sheet
    return label


def column(widget: QWidget, spacing: int | None = None) -> QVBoxLayout:
    """A vertical layout filling ``widget`` edge to edge (a part of a page)."""
    lay = QVBoxLayout(widget)
    lay.setContentsMargins(0, 0, 0, 0)
    if spacing is not None:
        lay.setSpacing(spacing)
    return lay


def table(
    headers: list[str], *, stretch: int | None = None, fit: bool = False, widths: dict[int, int] | None = None
) -> QTableWidget:
    return setup_table(QTableWidget(0, len(headers)), headers, stretch=stretch, fit=fit, widths=widths)


def setup_table(
    t: QTableWidget,
    headers: list[str],
    *,
    stretch: int | None = None,
    fit: bool = False,
    widths: dict[int, int] | None = None,
) -> QTableWidget:
    """Read-only, one row selected at a time; ``t`` may be a QTableWidget subclass."""
    t.setColumnCount(len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    t.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.verticalHeader().hide()
    t.setAlternatingRowColors(True)
    header = t.horizontalHeader()
    header.setStretchLastSection(stretch is None)
    if fit:  # small tables: every column as wide as its content, one takes the rest
        header.setSectionResizeMode(header.ResizeMode.ResizeToContents)
    if stretch is not None:
        header.setSectionResizeMode(stretch, header.ResizeMode.Stretch)
    for col, width in (widths or {}).items():
        t.setColumnWidth(col, width)
    return t


def cell(
    text: object, *, color: QColor | None = None, bold: bool = False, data: object = None
) -> QTableWidgetItem:
    item = QTableWidgetItem("" if text is None else str(text))
    if color is not None:
        item.setForeground(color)
    if bold:
        f = QFont(item.font())
        f.setBold(True)
        item.setFont(f)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    return item


def set_row(t: QTableWidget, row: int, values: list[QTableWidgetItem]) -> None:
    for col, item in enumerate(values):
        t.setItem(row, col, item)


def selected_data(t: QTableWidget) -> str | None:
    """The id kept (as a string) in column 0 of the selected row."""
    rows = t.selectionModel().selectedRows()
    if not rows:
        return None
    item = t.item(rows[0].row(), 0)
    return item.data(Qt.ItemDataRole.UserRole) if item else None


def select_data(t: QTableWidget, value: str) -> None:
    """Select the row whose column 0 keeps ``value``."""
    for row in range(t.rowCount()):
        if t.item(row, 0).data(Qt.ItemDataRole.UserRole) == value:
            t.selectRow(row)


def table_text(t: QTableWidget) -> list[list[str]]:
    """The table as text, row by row (tests, accessibility)."""
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def button(
    text: str, slot: Callable[[], object] | None = None, *, shortcut: str = "", tip: str = ""
) -> QPushButton:
    """A push button; with a shortcut and no tip, the shortcut is the tip."""
    b = QPushButton(text)
    if shortcut:
        b.setShortcut(shortcut)
    if tip or shortcut:
        b.setToolTip(tip or shortcut)
    if slot is not None:
        b.clicked.connect(slot)
    return b


def timezone_combo(tip: str = "") -> QComboBox:
    """Every IANA time zone; editable, so typing finds one."""
    combo = QComboBox()
    combo.setEditable(True)
    # as wide as the room allows, not as "America/Argentina/ComodRivadavia"
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(16)
    combo.addItems(sorted(zoneinfo.available_timezones()))
    if tip:
        combo.setToolTip(tip)
    return combo


def date_edit(tip: str = "") -> QDateEdit:
    """Today, as yyyy-MM-dd, with a calendar."""
    edit = QDateEdit(QDate.currentDate())
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    if tip:
        edit.setToolTip(tip)
    return edit


def ago(epoch: float | None, now: float | None = None) -> str:
    if not epoch:
        return "—"
    secs = max(0.0, (now or time.time()) - epoch)
    if secs < 60:
        return f"{secs:.0f} s ago"
    if secs < 3600:
        return f"{secs / 60:.0f} min ago"
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


def clock_text(epoch: float | None) -> str:
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S") if epoch else "—"
