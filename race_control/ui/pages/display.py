"""Step 6 — display mode: the event's display sessions; the selected one's unique URL (copy, QR,
open), its screens, its finishers.

Several display sessions of one event run side by side (different races, waves, screens), each
with its own URL, streams and rules.  The one selected here is the one the template and timing
pages work on (``Flow.session``).  Screens are the browsers that opened a URL; their health (last
update, latency) is refreshed every second while this page is visible; each can be reloaded or
moved to another session remotely.  The finisher feed is what the screens receive, in ``seq``
order, corrections included.  The widgets: ``sessions_table``, ``screens_table``, ``finisher_feed``.

Results leave from here too: "Export results CSV…" writes exactly what ``GET .../results.csv``
answers (``HistoryOperations.results_csv``: its pages read on the store's thread, the file
written off the loop, under a temporary name until complete) and "Race-day report…" writes the
printable report of ``GET .../report.html`` to a file and opens it in the browser.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QSplitter, QVBoxLayout, QWidget

from race_control.display_server.history_routes import report_page
from race_control.operations.history import HistoryOperations
from race_control.ui.finisher_feed import FinisherFeed
from race_control.ui.qr import QrWidget
from race_control.ui.screens_table import ScreensPanel
from race_control.ui.sessions_table import SessionsPanel
from race_control.ui.widgets import Page, button, column, section


class DisplayPage(Page):
    title = "Display mode"
    hint = "Open this address on every screen at the venue (any browser, no login). The address is the key: share it only with your screens."
    primary_text = "Show analytics"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        self.sessions_panel = SessionsPanel(self)
        self.sessions_panel.session_closed.connect(lambda *_: self._redraw())
        self.body.addWidget(self.sessions_panel)

        # laid out for a laptop (1280x720): the address beside its QR code, then the screens and
        # the finishers side by side in a splitter (the timer drags the line between them)
        top = QHBoxLayout()
        left = QVBoxLayout()
        url_head = QHBoxLayout()  # the heading and the address's buttons: the address gets the width
        url_head.addWidget(section("Display address"), 1)
        self.copy_button = button("Copy", self.copy_url, shortcut="Ctrl+Shift+C")
        url_head.addWidget(self.copy_button)
        self.open_button = button("Open in browser", self.open_in_browser, shortcut="Ctrl+O")
        url_head.addWidget(self.open_button)
        left.addLayout(url_head)
        self.url = QLineEdit()
        self.url.setReadOnly(True)
        f = self.url.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        self.url.setFont(f)
        left.addWidget(self.url)
        status = QHBoxLayout()
        self.mode_label = QLabel()
        status.addWidget(self.mode_label)
        self.switch_button = button(
            "Switch to results now",
            lambda: self.run(self.toggle_mode()),
            shortcut="Ctrl+M",
            tip="Ctrl+M: screens switch at once (they also switch on the first finisher)",
        )
        status.addWidget(self.switch_button)
        status.addSpacing(12)
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        status.addWidget(self.counts, 1)
        left.addLayout(status)
        exports = QHBoxLayout()
        exports.addWidget(QLabel("Results:"))
        self.csv_button = button(
            "Export results CSV…",
            self.pick_results_csv,
            tip="The session's finishers as CSV (what GET /api/sessions/{id}/results.csv gives)",
        )
        exports.addWidget(self.csv_button)
        self.report_button = button(
            "Race-day report…",
            self.pick_report,
            tip="The printable race-day report (an HTML page), saved and opened in the browser",
        )
        exports.addWidget(self.report_button)
        exports.addStretch(1)
        left.addLayout(exports)
        left.addStretch(1)
        top.addLayout(left, 1)
        qr_col = QVBoxLayout()
        self.qr = QrWidget()
        qr_col.addWidget(self.qr, 1)
        caption = QLabel("Scan to open on a phone")
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        qr_col.addWidget(caption)
        top.addLayout(qr_col)
        self.body.addLayout(top)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        self.screens_panel = ScreensPanel(self)
        split.addWidget(self.screens_panel)
        feed_part = QWidget()
        feed_col = column(feed_part, self.body.spacing())
        feed_col.addWidget(section("Finishers, as the screens show them", elide=True))
        self.feed = FinisherFeed(self)
        feed_col.addWidget(self.feed, 1)
        split.addWidget(feed_part)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        self.body.addWidget(split, 2)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._tick)
        self._shown: str | None = None  # the session whose URL, screens and settings are on the page
        window.feed.session_changed.connect(lambda *_: self._redraw() if self.isVisible() else None)
        window.flow.changed.connect(lambda: self._redraw() if self.isVisible() else None)

    # --- lifecycle ------------------------------------------------------------------------
    def entered(self) -> None:
        self.run(self._enter())

    async def _enter(self) -> None:
        if self.flow.session is None or self.flow.session.status != "open":
            if (
                not [x for x in self.flow.event_sessions() if x.status == "open"]
                and self.flow.event_sessions()
            ):
                self._redraw()  # every session was closed: the timer creates the next one on purpose
                return
            await self.flow.ensure_session()
        self._redraw()
        self.timer.start()

    def _redraw(self) -> None:
        """Sessions list, and everything about the selected session when it changed."""
        self.refresh_sessions()
        s = self.flow.session
        if s is None:
            self._shown = None
            self.url.setText("")
            self.qr.set_text("")
            self.mode_label.setText("No open display session: create one with “New display session…”.")
            self.counts.setText("")
            self.screens_panel.screens.setRowCount(0)
            self.feed.show_session(None)
            self._update_buttons()
            return
        if self._shown != s.id:
            self._shown = s.id
            url = self.services.display_url(s)
            self.url.setText(url)
            self.url.setCursorPosition(0)  # its start shows when the field is narrower than it
            self.qr.set_text(url)
            self.screens_panel.screens.setRowCount(0)
            self.sessions_panel.show_session(s)
        self.feed.show_session(s.id)
        self._status()
        self.refresh_screens()

    def _tick(self) -> None:
        self.refresh_sessions()  # screen counts
        self.refresh_screens()

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)

    def refresh_sessions(self) -> None:
        sessions = self.sessions_panel.refresh()
        current = self.flow.session_id
        self.screens_panel.set_move_targets([s for s in sessions if s.status == "open" and s.id != current])

    def refresh_screens(self) -> None:
        if self.flow.session is None:
            return
        self.screens_panel.refresh()
        self._update_buttons()
        self._status()

    def _update_buttons(self) -> None:
        s = self.flow.session
        self.sessions_panel.update_buttons()
        self.screens_panel.update_buttons()
        self.switch_button.setEnabled(s is not None and s.status == "open")
        self.csv_button.setEnabled(s is not None)
        self.report_button.setEnabled(s is not None)

    def _status(self) -> None:
        s = self.flow.session
        if s is None:
            return
        by = f" (by {s.mode_changed_by})" if s.mode_changed_by else ""
        self.mode_label.setText(
            f"Screens show: <b>{'PRE-RACE' if s.mode == 'pre-race' else 'RESULTS'}</b>{by}"
        )
        self.switch_button.setText("Switch to results now" if s.mode == "pre-race" else "Back to pre-race")
        self.counts.setText(
            f"{s.finishers} finishers shown · {s.suppressed} reads suppressed · "
            f"{len(s.unknown)} unknown bibs · {len(s.streams)} timing streams bound"
        )

    # --- url ------------------------------------------------------------------------------
    def copy_url(self) -> None:
        QGuiApplication.clipboard().setText(self.url.text())
        self.say("Address copied.")

    def open_in_browser(self) -> None:
        if self.url.text():
            QDesktopServices.openUrl(QUrl(self.url.text()))

    # --- results ----------------------------------------------------------------------------
    open_file: Callable[[QUrl], object] = staticmethod(QDesktopServices.openUrl)  # the OS opens it

    def _save_dialog(
        self, title: str, name: str, kind: str, suffix: str, then: Callable[[Path], Any]
    ) -> None:
        dialog = QFileDialog(self, title, str(Path.home() / name), kind)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(suffix)
        dialog.fileSelected.connect(lambda p: self.run(then(Path(p))))
        dialog.open()

    def _file_stem(self, what: str) -> str:
        s = self.flow.session
        name = f"{self.flow.event_name} {s.name if s else ''} {what}".strip()
        return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:80] or what

    def pick_results_csv(self) -> None:
        self._save_dialog(
            "Export results CSV",
            f"{self._file_stem('results')}.csv",
            "CSV (*.csv)",
            "csv",
            self.export_results_csv,
        )

    def pick_report(self) -> None:
        self._save_dialog(
            "Save the race-day report",
            f"{self._file_stem('report')}.html",
            "Web page (*.html)",
            "html",
            self.save_report,
        )

    async def export_results_csv(self, path: Path) -> Path | None:
        s = self.flow.session
        if s is None:
            return None
        services = self.services
        history = HistoryOperations(services.store, services.timing, services.sessions, services.ops.changes)
        size = await _write_chunks(path, history.results_csv(s.id))  # SessionNotFound before a byte
        self.say(f"Results exported to {path} ({size:,} bytes).")
        return path

    async def save_report(self, path: Path) -> Path | None:
        s = self.flow.session
        if s is None:
            return None
        page = await report_page(self.services, s.id)

        async def one() -> AsyncIterator[bytes]:
            yield page.encode("utf-8")

        await _write_chunks(path, one())
        self.say(f"Race-day report saved to {path}; opening it in the browser.")
        self.open_file(QUrl.fromLocalFile(str(path)))
        return path

    async def toggle_mode(self) -> None:
        s = self.flow.session
        if s is None:
            return
        mode = "results" if s.mode == "pre-race" else "pre-race"
        await self.services.ops.sessions.switch_mode(s.id, mode)
        self.flow.mode = mode
        self.flow.changed.emit()
        self._status()

    async def primary_action(self) -> bool:
        return True


async def _write_chunks(path: Path, chunks: AsyncIterator[bytes]) -> int:
    """Write ``chunks`` to ``path`` off the loop: a temporary file beside it, renamed over it
    once complete (a failure leaves no half-written file).  The bytes written."""
    loop = asyncio.get_running_loop()
    tmp = path.with_name(f".{path.name}.part")
    f = await loop.run_in_executor(None, tmp.open, "wb")
    size = 0
    try:
        async for chunk in chunks:
            await loop.run_in_executor(None, f.write, chunk)
            size += len(chunk)
        await loop.run_in_executor(None, f.close)
        await loop.run_in_executor(None, os.replace, tmp, path)
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise
    return size
