"""Events and rosters: the named operations the API and the desktop app call.

Keeps an in-memory roster per event (bib → participant) so matching a read never
waits on the database; every change is written first, then the cache is updated
and listeners are told (the crossing engine re-attaches unknown bibs from it).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from race_control.errors import InputError, NotFound
from race_control.ids import new_id
from race_control.progress import Progress
from race_control.roster.participants import ParticipantRow, Rejected, parse_rows
from race_control.store.database import Store
from race_control.store.models import Event, Participant, now

RosterListener = Callable[[str, list[ParticipantRow]], None]


@dataclass(frozen=True, slots=True)
class EventInfo:
    id: str
    name: str
    date: str
    timezone: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def validate_event(body: object, default_tz: str) -> tuple[str, str, str]:
    if not isinstance(body, dict):
        raise InputError("body must be a JSON object with 'name' and 'date'")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError("'name' is required and must be a non-empty string")
    if len(name) > 200:
        raise InputError("'name' is longer than 200 characters")
    date = body.get("date")
    if not isinstance(date, str):
        raise InputError("'date' is required as YYYY-MM-DD")
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise InputError(f"'date' {date[:40]!r} is not a valid YYYY-MM-DD date") from None
    if len(date) != 10:
        raise InputError(f"'date' {date[:40]!r} is not in YYYY-MM-DD form")
    tz = body.get("timezone", default_tz)
    if not isinstance(tz, str) or not tz:
        raise InputError("'timezone' must be an IANA time zone name such as 'America/New_York'")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(f"'timezone' {tz[:64]!r} is not a known IANA time zone") from None
    return name.strip(), date, tz


class EventService:
    def __init__(self, store: Store, default_timezone: str) -> None:
        self._store = store
        self._default_tz = default_timezone
        self._events: dict[str, EventInfo] = {}
        self._rosters: dict[str, dict[str, ParticipantRow]] = {}
        self._listeners: list[RosterListener] = []

    def add_roster_listener(self, fn: RosterListener) -> None:
        self._listeners.append(fn)

    async def load(self) -> None:
        """Fill the caches from the store (start-up)."""

        def _load(conn: Connection) -> tuple[list[Event], list[Participant]]:
            events = list(conn.execute(select(Event)).all())
            people = list(conn.execute(select(Participant)).all())
            return events, people  # type: ignore[return-value]

        events, people = await self._store.run(_load)
        for e in events:
            self._events[e.id] = EventInfo(e.id, e.name, e.date, e.timezone, e.created_at)
            self._rosters.setdefault(e.id, {})
        for p in people:
            self._rosters.setdefault(p.event_id, {})[p.bib] = _row_from_db(p)

    # --- events -----------------------------------------------------------------------
    async def create_event(self, body: object) -> EventInfo:
        name, date, tz = validate_event(body, self._default_tz)
        info = EventInfo(new_id(), name, date, tz, now())

        def _insert(conn: Connection) -> None:
            conn.execute(
                Event.__table__.insert().values(
                    id=info.id,
                    name=name,
                    date=date,
                    timezone=tz,
                    created_at=info.created_at,
                    updated_at=info.created_at,
                )
            )

        await self._store.run(_insert)
        self._events[info.id] = info
        self._rosters[info.id] = {}
        return info

    def events(self) -> list[EventInfo]:
        return sorted(self._events.values(), key=lambda e: (e.date, e.created_at), reverse=True)

    def event(self, event_id: str) -> EventInfo:
        try:
            return self._events[event_id]
        except KeyError:
            raise NotFound(f"event {event_id[:64]!r} does not exist") from None

    # --- participants -----------------------------------------------------------------
    async def import_participants(
        self, event_id: str, rows: object, source: str = "api"
    ) -> tuple[int, list[Rejected]]:
        """Upsert valid rows in one transaction; return (imported, rejected rows)."""
        self.event(event_id)
        if not isinstance(rows, list):
            raise InputError("body must be a JSON array of participant objects")
        good, bad = parse_rows(rows)
        await self._store_rows(event_id, good, source)
        return len(good), bad

    async def _store_rows(self, event_id: str, rows: list[ParticipantRow], source: str) -> None:
        """Upsert validated rows (one transaction), then the cache, then tell the listeners."""
        if not rows:
            return
        await self._store.run(_upsert_participants, event_id, rows, source)
        roster = self._rosters.setdefault(event_id, {})
        for row in rows:
            roster[row.bib] = row
        for fn in self._listeners:
            fn(event_id, rows)

    async def import_in_chunks(
        self, event_id: str, rows: list[object], progress: Progress, source: str = "csv", chunk: int = 1000
    ) -> tuple[int, list[Rejected]]:
        """Import a large roster chunk by chunk, reporting progress; cancel stops between chunks
        (each chunk is its own transaction: what was imported stays, nothing is half-written)."""
        self.event(event_id)
        progress.start("Importing participants", len(rows))
        imported = 0
        rejected: list[Rejected] = []
        seen: set[str] = set()
        for start in range(0, len(rows), chunk):
            progress.raise_if_cancelled()
            part = rows[start : start + chunk]
            good, bad = parse_rows(part, offset=start, seen=seen)
            rejected.extend(bad)
            await self._store_rows(event_id, good, source)
            imported += len(good)
            progress.advance(len(part))
        return imported, rejected

    def participant(self, event_id: str, bib: str) -> ParticipantRow | None:
        return self._rosters.get(event_id, {}).get(bib)

    def roster(self, event_id: str) -> list[ParticipantRow]:
        self.event(event_id)
        return sorted(self._rosters.get(event_id, {}).values(), key=_bib_sort_key)


def _bib_sort_key(row: ParticipantRow) -> tuple[int, str]:
    return (int(row.bib), "") if row.bib.isdigit() else (1 << 62, row.bib)


def _row_from_db(p: Any) -> ParticipantRow:
    return ParticipantRow(
        bib=p.bib,
        first_name=p.first_name,
        last_name=p.last_name,
        age=p.age,
        gender=p.gender,
        city=p.city,
        state=p.state,
        country=p.country,
        division=p.division,
        team=p.team,
        wave=p.wave,
        message=p.message,
        alias=p.alias,
        hidden=p.hidden,
        raw=p.raw or {},
    )


def _upsert_participants(conn: Connection, event_id: str, rows: list[ParticipantRow], source: str) -> None:
    stamp = now()
    values = []
    for r in rows:
        d = asdict(r)
        d.update(id=new_id(), event_id=event_id, source=source, created_at=stamp, updated_at=stamp)
        values.append(d)
    # SQLite limits bound parameters per statement; 400 rows x 20 columns stays under it
    for i in range(0, len(values), 400):
        _upsert_chunk(conn, values[i : i + 400])


def _upsert_chunk(conn: Connection, values: list[dict[str, Any]]) -> None:
    stmt = sqlite_insert(Participant.__table__).values(values)
    update = {c: stmt.excluded[c] for c in values[0] if c not in ("id", "event_id", "bib", "created_at")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["event_id", "bib"], set_=update))
