"""The main window: the workflow's steps on the left, the current step's page on the right.

Steps unlock as the timer goes (log in → mode → event → template → timing → display);
Analytics, History and Settings are always at hand.  Keyboard: Enter presses the page's main
button, Ctrl+1…9 jump to a step, Ctrl+PgDown/PgUp go forward/back, Ctrl+Q quits.
Closing the window ends the app's main coroutine (``closed``), which stops the services.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QMetaMethod, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPlainTextEdit,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from race_control import __version__
from race_control.ui import window_geometry
from race_control.ui.alerts_panel import AlertsBanner
from race_control.ui.errors import ErrorPanel, ExceptHook
from race_control.ui.feed import LiveFeed
from race_control.ui.flow import MODE_TITLES, Flow
from race_control.ui.pages.analytics import AnalyticsPage
from race_control.ui.pages.display import DisplayPage
from race_control.ui.pages.event import EventPage
from race_control.ui.pages.history import HistoryPage
from race_control.ui.pages.login import LoginPage
from race_control.ui.pages.mode import ModePage
from race_control.ui.pages.settings import SettingsPage
from race_control.ui.pages.template import TemplatePage
from race_control.ui.pages.timing import TimingPage
from race_control.ui.sync_panel import SyncIndicator
from race_control.ui.widgets import Page

STYLE = """
QWidget { font-size: 11pt; }
#nav { font-size: 12.5pt; border: none; background: #111827; color: #e5e7eb; padding-top: 8px; }
#nav::item { padding: 10px 14px; }
#nav::item:selected { background: #2563eb; color: white; }
#nav::item:disabled { color: #6b7280; }
#pageTitle { font-size: 20pt; font-weight: 800; }
#pageHint { color: #4b5563; }
#section { font-size: 12.5pt; font-weight: 700; margin-top: 4px; }
#primaryButton { background: #2563eb; color: white; font-weight: 700; border-radius: 6px; padding: 6px 18px; }
#primaryButton:disabled { background: #9ca3af; }
#bigChoice { font-size: 14pt; text-align: left; padding: 16px; border: 2px solid #d1d5db; border-radius: 10px; background: white; }
#bigChoice:checked { border: 3px solid #2563eb; background: #eff6ff; }
#bigChoice QLabel { background: transparent; }
#bigChoiceTitle { font-size: 14pt; font-weight: 700; }
#bigChoiceText { font-size: 12.5pt; }
#tile { background: #f3f4f6; border-radius: 8px; padding: 6px; }
"""


def _live_text(flow: Flow) -> str:
    s = flow.session
    if s is None:
        return ""
    n = sum(1 for x in flow.event_sessions() if x.status == "open")
    return f"live · {n} sessions" if n > 1 else ("live" if s.status == "open" else "closed")


class MainWindow(QMainWindow):
    def __init__(self, race_control: Any) -> None:
        super().__init__()
        self.race_control = race_control
        self.services = race_control.services
        self.closed = asyncio.Event()
        self.roster_dialog: Any = None
        self.setWindowTitle(f"Race Control {__version__}")
        self.setStyleSheet(STYLE)
        self.flow = Flow(self.services)
        self.feed = LiveFeed(self.services)

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(270)
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.nav.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        row.addWidget(self.nav)
        right = QVBoxLayout()
        right.setContentsMargins(8, 8, 8, 0)
        self.alerts_banner = AlertsBanner(self.services.alerts)  # what needs the operator now
        right.addWidget(self.alerts_banner)
        self.error_panel = ErrorPanel()
        right.addWidget(self.error_panel)
        self.stack = QStackedWidget()
        right.addWidget(self.stack, 1)
        row.addLayout(right, 1)
        self.setCentralWidget(central)

        self.login_page = LoginPage(self)
        self.mode_page = ModePage(self)
        self.event_page = EventPage(self)
        self.template_page = TemplatePage(self)
        self.timing_page = TimingPage(self)
        self.display_page = DisplayPage(self)
        self.analytics_page = AnalyticsPage(self)
        self.history_page = HistoryPage(self)  # past sessions, read-only
        self.settings_page = SettingsPage(self)
        self.steps: list[Page] = [
            self.login_page,
            self.mode_page,
            self.event_page,
            self.template_page,
            self.timing_page,
            self.display_page,
        ]
        self.pages: list[Page] = [*self.steps, self.analytics_page, self.history_page, self.settings_page]
        for page in self.pages:
            self.stack.addWidget(page)
            item = QListWidgetItem()
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self._show)

        self.status = QLabel()
        self.statusBar().addPermanentWidget(self.status)
        # central sync: state and backlog; a click opens the panel with Sync now
        self.sync_indicator = SyncIndicator(self.services.sync)
        self.statusBar().addPermanentWidget(self.sync_indicator)
        self.user_label = QLabel()
        self.statusBar().addWidget(self.user_label)
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(2000)
        self.status_timer.timeout.connect(self._update_status)
        self.status_timer.start()
        self.feed.stream_changed.connect(lambda *_: self._update_status())
        self.feed.session_changed.connect(lambda *_: self._flow_changed())  # bound streams, mode
        self.services.ops.remote.listeners.append(self._pulled)  # other laptops' changes came down

        for n in range(len(self.pages)):
            QShortcut(QKeySequence(f"Ctrl+{n + 1}"), self, lambda n=n: self.go(n))
        QShortcut(QKeySequence("Ctrl+PgDown"), self, lambda: self.go(self.nav.currentRow() + 1))
        QShortcut(QKeySequence("Ctrl+PgUp"), self, lambda: self.go(self.nav.currentRow() - 1))
        QShortcut(QKeySequence(Qt.Key.Key_Return), self, self._enter)
        QShortcut(QKeySequence(Qt.Key.Key_Enter), self, self._enter)
        # not StandardKey.Quit: it has no key on Windows nor on the offscreen platform
        QShortcut(QKeySequence("Ctrl+Q"), self, self.close)

        self.excepthook = ExceptHook(self.error_panel)
        self.excepthook.install()
        self.flow.changed.connect(self._flow_changed)
        self._flow_changed()
        self.go(0)
        window_geometry.place(self)  # the last run's place, inside this screen

    # --- navigation -------------------------------------------------------------------
    def page(self) -> Page:
        return self.pages[self.stack.currentIndex()]

    def _unlocked(self, index: int) -> bool:
        f = self.flow
        if index >= len(self.steps):  # analytics, history, settings
            return index == len(self.pages) - 1 or f.logged_in
        has_session = f.session is not None or bool(f.event_sessions())
        needs = [True, f.logged_in, f.logged_in, bool(f.event_id), bool(f.event_id), has_session]
        return needs[index]

    def _pulled(self, changes: list[Any]) -> None:
        """Central sync brought other laptops' events, runners or templates: the list on screen
        shows them (sessions redraw through ``session_changed``)."""
        kinds = {c.kind for c in changes}
        page = self.stack.currentWidget()
        if page is self.event_page and kinds & {"event", "participant"}:
            self.event_page.refresh()
        elif page is self.template_page and "template" in kinds:
            self.template_page.refresh()

    def go(self, index: int) -> bool:
        if not 0 <= index < len(self.pages) or not self._unlocked(index):
            return False
        self.nav.setCurrentRow(index)
        return True

    def next_step(self, page: Page) -> None:
        i = self.pages.index(page)
        if i + 1 < len(self.pages):
            self.go(i + 1)

    def _show(self, index: int) -> None:
        if index < 0:
            return
        self.stack.setCurrentIndex(index)
        self.pages[index].entered()

    def _enter(self) -> None:
        focus = QApplication.focusWidget()
        if isinstance(focus, QPlainTextEdit):  # Enter is a new line there
            focus.insertPlainText("\n")
            return
        if isinstance(focus, QLineEdit) and focus.isSignalConnected(
            QMetaMethod.fromSignal(focus.returnPressed)
        ):  # a field with its own Enter action (the new event's name creates that event)
            focus.returnPressed.emit()
            return
        self.page().press_primary()

    def _flow_changed(self) -> None:
        f = self.flow
        if f.session is not None and f.session.mode != f.mode:  # switched by the first finisher or a schedule
            f.mode = f.session.mode
        summaries = [
            (f.user or f.user_label) if f.logged_in else "",  # the status bar says how
            MODE_TITLES[f.mode] if f.logged_in else "",
            f.event_name,
            f.template_name if f.event_id else "",
            f"{len(f.session.streams)} bound" if f.session else "",
            _live_text(f),
        ]
        for i, page in enumerate(self.pages):
            item = self.nav.item(i)
            label = f"{i + 1}   {page.title.split(' —')[0]}" if i < len(self.steps) else f"     {page.title}"
            if i < len(summaries) and summaries[i]:
                label += f"\n      {summaries[i][:28]}"
            item.setText(label)
            flags = item.flags()
            if self._unlocked(i):
                item.setFlags(flags | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            else:
                item.setFlags(flags & ~Qt.ItemFlag.ItemIsEnabled & ~Qt.ItemFlag.ItemIsSelectable)
        self._update_status()

    def _update_status(self) -> None:
        connected = sum(1 for s in self.services.timing.streams() if s.connections > 0)
        self.user_label.setText(f"User: {self.flow.user_label}")
        self.status.setText(
            f"Displays: {self.services.public_base_url}   ·   ChronoTrack port {self.race_control.timing_port}"
            f"   ·   {connected} timing client{'s' if connected != 1 else ''} connected"
        )

    # --- shutdown ---------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """End the main coroutine (it stops the services); the loop keeps running until then."""
        window_geometry.remember(self)
        self.status_timer.stop()
        self.alerts_banner.detach()
        self.sync_indicator.detach()
        for page in self.pages:
            timer = getattr(page, "timer", None)
            if timer is not None:
                timer.stop()
        if self.roster_dialog is not None:
            self.roster_dialog.cancel_import()
        self.closed.set()
        event.accept()
