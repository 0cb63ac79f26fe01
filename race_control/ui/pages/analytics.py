"""Analytics of a display session: reads and finishers per minute, unknown bibs, suppressions,
read→screen latency — charts painted with QPainter, exportable as CSV."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
)

from race_control.analytics import analytics_csv, session_analytics
from race_control.sessions.crossing import SUPPRESSION_LABELS
from race_control.ui.charts import BarChart
from race_control.ui.widgets import Page, button

REFRESH_MS = 5000


class Tile(QLabel):
    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self.setObjectName("tile")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(70)
        self.set_value("—")

    def set_value(self, value: object) -> None:
        self.value = str(value)
        self.setText(
            f"<div style='font-size:22pt; font-weight:800'>{html.escape(self.value)}</div>"
            f"<div>{html.escape(self.title)}</div>"
        )


class AnalyticsPage(Page):
    title = "Analytics"
    hint = "How the race is going for a display session. Refreshes every 5 seconds; export it for the race report."
    primary_text = "Refresh"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        self.report: dict[str, Any] | None = None
        row = QHBoxLayout()
        row.addWidget(QLabel("Display session"))
        self.session_box = QComboBox()
        # as wide as the room, not as the longest "event — session" title (providers' long names)
        self.session_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.session_box.setMinimumContentsLength(30)
        self.session_box.currentIndexChanged.connect(lambda *_: self.run(self.refresh()))
        row.addWidget(self.session_box, 1)
        self.export_button = button("Export CSV…", self.pick_export, shortcut="Ctrl+E")
        row.addWidget(self.export_button)
        self.body.addLayout(row)
        tiles = QHBoxLayout()
        self.tiles = {
            key: Tile(title)
            for key, title in (
                ("reads", "reads"),
                ("finishers", "finishers"),
                ("unknown", "unknown bibs"),
                ("duplicates", "duplicates suppressed"),
                ("p50", "latency p50 (ms)"),
                ("p99", "latency p99 (ms)"),
            )
        }
        for t in self.tiles.values():
            tiles.addWidget(t)
        self.body.addLayout(tiles)
        grid = QGridLayout()
        self.reads_chart = BarChart("Reads per minute", "#1565c0")
        self.finishers_chart = BarChart("Finishers per minute", "#2e7d32")
        self.reasons_chart = BarChart("Suppressed reads by reason", "#b71c1c", horizontal=True)
        self.latency_chart = BarChart("Read → screen latency", "#6a1b9a", horizontal=True, unit=" ms")
        self.latency_chart.empty_text = "No screen has shown a finisher yet"
        grid.addWidget(self.reads_chart, 0, 0)
        grid.addWidget(self.finishers_chart, 0, 1)
        grid.addWidget(self.reasons_chart, 1, 0)
        grid.addWidget(self.latency_chart, 1, 1)
        self.body.addLayout(grid, 1)
        self.unknown_label = QLabel()
        self.unknown_label.setTextFormat(Qt.TextFormat.PlainText)  # bibs as the timing clients sent them
        self.unknown_label.setWordWrap(True)
        self.body.addWidget(self.unknown_label)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(lambda: self.run(self.refresh()))

    def entered(self) -> None:
        self.session_box.blockSignals(True)
        self.session_box.clear()
        current = self.flow.session_id
        for s in self.services.sessions.sessions():
            try:
                event = self.services.events.event(s.event_id).name
            except Exception:
                event = "?"
            self.session_box.addItem(f"{event} — {s.name or 'display'} ({s.mode})", s.id)
            if s.id == current:
                self.session_box.setCurrentIndex(self.session_box.count() - 1)
        self.session_box.blockSignals(False)
        self.timer.start()
        self.run(self.refresh())

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)

    async def refresh(self) -> dict[str, Any] | None:
        sid = self.session_box.currentData()
        if not sid:
            self.say("No display session yet: finish the workflow steps first.")
            return None
        report = await session_analytics(self.services.sessions, sid, self.services.hub.latencies(sid))
        self.report = report
        self.tiles["reads"].set_value(report["reads"])
        self.tiles["finishers"].set_value(report["finishers"])
        self.tiles["unknown"].set_value(len(report["unknown_bibs"]))
        self.tiles["duplicates"].set_value(report["duplicates_suppressed"])
        lat = report["latency_ms"]
        self.tiles["p50"].set_value("—" if lat["p50"] is None else f"{lat['p50']:.1f}")
        self.tiles["p99"].set_value("—" if lat["p99"] is None else f"{lat['p99']:.1f}")
        self.reads_chart.set_points(report["reads_per_minute"])
        self.finishers_chart.set_points(report["finishers_per_minute"])
        self.reasons_chart.set_points(
            [(SUPPRESSION_LABELS.get(code, code), n) for code, n in report["suppressed_by_reason"].items()]
        )
        self.latency_chart.set_points([(k, v) for k, v in lat.items() if k != "samples" and v is not None])
        unknown = report["unknown_bibs"]
        self.unknown_label.setText(
            "Unknown bibs (shown as “Bib N”, kept for correction): "
            + (", ".join(unknown[:60]) or "none")
            + (" …" if len(unknown) > 60 else "")
        )
        return report

    def pick_export(self) -> None:
        dialog = QFileDialog(self, "Export analytics", str(Path.home() / "race-analytics.csv"), "CSV (*.csv)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.fileSelected.connect(lambda p: self.run(self.export(Path(p))))
        dialog.open()

    async def export(self, path: Path) -> Path:
        report = await self.refresh() or self.report
        if report is None:
            return path
        path.write_text(analytics_csv(report), "utf-8")
        self.say(f"Exported to {path}")
        return path

    async def primary_action(self) -> bool:
        await self.refresh()
        return False
