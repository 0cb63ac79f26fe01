"""The template builder hosted in the desktop (docs/templates.md#builder): a window whose
``QWebEngineView`` shows the app's own ``/builder`` page, the same page a browser gets.

It opens with the same one-time link as the system browser (``builder_link.builder_url``):
the page spends the code and sets its cookie in this window's web-engine profile, which is
off the record (no storage name: cookies and cache live in memory only and end with the
window), so the API token never reaches the page and nothing of the builder's session is
written to disk.  Navigation stays on the app's server: a link elsewhere opens in the system
browser, and the page cannot open windows of its own.  The page's console goes to the log
(``race_control.ui.builder``).

Importing this module needs QtWebEngine (the optional ``PySide6_WebEngine`` wheel, README
"Desktop app"); ``builder_link.hosted_builder`` returns None without it and the desktop falls
back to the system browser.  Qt objects only: created and used on the GUI thread.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from race_control.ui.widgets import ElidedLabel
from race_control.ui.window_geometry import first_place

log = logging.getLogger("race_control.ui.builder")
TITLE = "Template builder — Race Control"
_LEVELS = {
    QWebEnginePage.JavaScriptConsoleMessageLevel.InfoMessageLevel: logging.INFO,
    QWebEnginePage.JavaScriptConsoleMessageLevel.WarningMessageLevel: logging.WARNING,
    QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel: logging.ERROR,
}


def _origin(url: QUrl) -> tuple[str, str, int]:
    return (url.scheme(), url.host().lower(), url.port(-1))


class BuilderPage(QWebEnginePage):
    """The builder's page: stays on the app's server, no pop-ups, console to the log."""

    console = Signal(int, str)  # (logging level, message): what the page printed

    def __init__(self, profile: QWebEngineProfile, parent: QWidget) -> None:
        super().__init__(profile, parent)
        self.home: tuple[str, str, int] | None = None

    def acceptNavigationRequest(self, url: QUrl, kind: QWebEnginePage.NavigationType, main: bool) -> bool:
        if (
            self.home is None
            or _origin(url) == self.home
            or url.toString() in ("about:blank", "about:srcdoc")
        ):
            return True
        if main and kind == QWebEnginePage.NavigationType.NavigationTypeLinkClicked:
            QDesktopServices.openUrl(url)  # someone else's page: the system browser, not here
        log.info("builder: navigation to another site kept out (%s)", url.host())
        return False

    def createWindow(self, kind: QWebEnginePage.WebWindowType) -> QWebEnginePage | None:
        return None  # window.open / target=_blank: no second window

    def javaScriptConsoleMessage(
        self, level: QWebEnginePage.JavaScriptConsoleMessageLevel, message: str, line: int, source: str
    ) -> None:
        py_level = _LEVELS.get(level, logging.INFO)
        log.log(py_level, "builder page: %s (%s:%d)", message[:500], source.rsplit("/", 1)[-1], line)
        self.console.emit(py_level, message)


class BuilderWindow(QWidget):
    """A top-level window with the hosted builder.  ``open_url`` loads a one-time builder link."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle(TITLE)
        self.setObjectName("BuilderWindow")
        # the view (and the page it owns) are created before the profile, so Qt deletes them
        # first: a profile must outlive its pages
        self.view = QWebEngineView(self)
        self.profile = QWebEngineProfile(self)  # no storage name: off the record
        self.profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.MemoryHttpCache)
        self.page = BuilderPage(self.profile, self.view)
        self.view.setPage(self.page)
        self.url = ""

        top = QHBoxLayout()
        top.setContentsMargins(8, 4, 8, 4)
        self.where = ElidedLabel("")  # the page's address, without its query
        top.addWidget(self.where, 1)
        self.browser_button = QPushButton("Open in browser…")
        self.browser_button.setToolTip(
            "Open this builder in the system browser instead (a new one-time link)"
        )
        top.addWidget(self.browser_button)
        self.reload_button = QPushButton("Reload")
        self.reload_button.clicked.connect(self.view.reload)
        top.addWidget(self.reload_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        self.status = QLabel("")
        self.status.setContentsMargins(8, 2, 8, 2)
        layout.addWidget(self.status)
        self.view.loadFinished.connect(self._loaded)
        if parent is not None:  # the app's window closing takes this one with it, engine and all
            parent.window().installEventFilter(self)
        self.view.urlChanged.connect(lambda u: self.where.setText(u.toString().split("?")[0]))

    def place(self) -> None:
        """Open at the main window's first-run size (1280x820 or what fits), inside its screen."""
        self.setGeometry(first_place(self.screen().availableGeometry()))

    def open_url(self, url: str) -> None:
        """Load a one-time builder link (``builder_url``); its server is the only site this
        window shows."""
        q = QUrl(url)
        self.page.home = _origin(q)
        self.url = url
        self.status.setText("Opening the builder…")
        self.view.load(q)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The main window closes (the app is quitting): close and delete this window now, while
        the loop still runs; Qt tears QtWebEngine down when the app's event loop ends, and a
        web view deleted after that crashes."""
        if event.type() == QEvent.Type.Close and watched is self.parent().window():  # type: ignore[union-attr]
            self.close()
            self.deleteLater()
        return False

    def _loaded(self, ok: bool) -> None:
        self.status.setText("" if ok else "The builder did not load: is Race Control's server running?")
        self.status.setVisible(not ok)
