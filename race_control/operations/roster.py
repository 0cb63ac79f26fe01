"""Event and roster actions: create an event, import participants (API rows or a CSV file).

Unknown bibs already shown as "Bib N" get a ``correction`` on their screens once the
roster knows them (the sessions service listens to roster changes).
"""

from __future__ import annotations

from race_control.operations.results import EventResult, ImportResult
from race_control.progress import Progress
from race_control.roster.service import EventService


class RosterOperations:
    def __init__(self, events: EventService) -> None:
        self._events = events

    async def create_event(self, body: object) -> EventResult:
        return EventResult(await self._events.create_event(body))

    async def import_participants(self, event_id: str, rows: object, source: str = "api") -> ImportResult:
        """Valid rows are stored in one transaction; each bad row is returned with its reason."""
        imported, rejected = await self._events.import_participants(event_id, rows, source)
        return ImportResult(imported, rejected)

    async def import_in_chunks(
        self, event_id: str, rows: list[object], progress: Progress, *, source: str = "csv", chunk: int = 500
    ) -> ImportResult:
        """A large roster (the desktop's CSV import) chunk by chunk, with progress and cancel;
        each chunk is one unit of work, so what was imported before a cancel stays whole."""
        imported, rejected = await self._events.import_in_chunks(event_id, rows, progress, source, chunk)
        return ImportResult(imported, rejected)
