"""Timing-stream actions: a stream's clock (time zone, event date), controller-file imports."""

from __future__ import annotations

from race_control.operations.results import FileImportResult
from race_control.timing.ingest.controller_import import import_controller_files
from race_control.timing.ingest.streams import StreamState, TimingService


class TimingOperations:
    def __init__(self, timing: TimingService) -> None:
        self._timing = timing

    async def set_clock(self, stream_id: str, body: object) -> StreamState:
        """Per-source time zone and event date (apply to the stream's next reads)."""
        return await self._timing.update_settings(stream_id, body)

    async def import_files(self, body: object) -> FileImportResult:
        """Controller files (``TO~`` reads, ``.mrk`` guns) when the network failed: they take the
        same path as live reads; importing the same files twice changes nothing."""
        return FileImportResult(await import_controller_files(self._timing, body))
