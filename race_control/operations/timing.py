"""Timing-stream actions: a stream's clock (time zone, event date), controller-file imports."""

from __future__ import annotations

from race_control.operations.results import FileImportResult
from race_control.store.database import Store
from race_control.store.unit_of_work import ChangeListener, UnitOfWork
from race_control.timing.ingest.controller_import import feed_reads, load_import, plan_stream
from race_control.timing.ingest.streams import StreamState, TimingService


class TimingOperations:
    def __init__(self, store: Store, timing: TimingService, changes: list[ChangeListener]) -> None:
        self._store = store
        self._timing = timing
        self._changes = changes

    def _unit(self) -> UnitOfWork:
        return UnitOfWork(self._store, self._changes)

    async def set_clock(self, stream_id: str, body: object) -> StreamState:
        """Per-source time zone and event date (apply to the stream's next reads)."""
        async with self._timing.lock:
            uow = self._unit()
            state = self._timing.plan_clock(uow, stream_id, body)
            await uow.commit()
        return state

    async def import_files(self, body: object) -> FileImportResult:
        """Controller files (``TO~`` reads, ``.mrk`` guns) when the network failed.  The stream
        and its settings are one unit of work; once it committed the reads take the same path
        as live reads (importing the same files twice changes nothing)."""
        imp = await load_import(body)
        async with self._timing.lock:
            uow = self._unit()
            state = plan_stream(self._timing, uow, imp)
            await uow.commit()
        return FileImportResult(await feed_reads(self._timing, state, imp))
