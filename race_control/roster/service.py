"""Events and rosters: validation, planning into a unit of work, and the in-memory roster.

Keeps an in-memory roster per event (bib → participant) so matching a read never
waits on the database.  Every change is *planned* into a ``UnitOfWork``
(``plan_create_event``, ``plan_import``, ``plan_edit``): the SQL runs in the unit's one
transaction and the cache changes, and the listeners hear of it (the crossing engine
re-attaches unknown bibs from it), only after that transaction committed.  The actions
(``race_control.operations.roster``) hold ``lock`` from planning to commit, so what a
plan checked (a free bib, a participant's id) is still true when it is applied.
Loop rule: everything here runs on the event loop; SQL runs on the store's thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import operator
import zoneinfo
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from itertools import repeat
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from race_control.ids import new_id, new_ids
from race_control.progress import Progress
from race_control.roster.errors import RosterConflict, RosterInputError, RosterNotFound
from race_control.roster.participants import (
    KNOWN_FIELDS,
    TEXT_FIELDS,
    ParticipantRow,
    Rejected,
    normalize_bib,
    parse_row,
    parse_rows,
)
from race_control.store import json_text
from race_control.store.database import Store
from race_control.store.models import Event, Participant, now
from race_control.store.outbox_bulk import bulk_outbox
from race_control.store.unit_of_work import UnitOfWork

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


EVENT_FIELDS = ("name", "date", "timezone")


def validate_event(body: object, default_tz: str) -> tuple[str, str, str]:
    if not isinstance(body, dict):
        raise RosterInputError("body must be a JSON object with 'name' and 'date'")
    unknown = sorted(str(k)[:40] for k in body if k not in EVENT_FIELDS)
    if unknown:
        raise RosterInputError(
            f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in an event; known: {', '.join(EVENT_FIELDS)}"
        )
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RosterInputError("'name' is required and must be a non-empty string")
    if len(name) > 200:
        raise RosterInputError("'name' is longer than 200 characters")
    date = body.get("date")
    if not isinstance(date, str):
        raise RosterInputError("'date' is required as YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise RosterInputError(f"'date' {date[:40]!r} is not a valid YYYY-MM-DD date") from None
    if len(date) != 10 or not 1970 <= day.year <= 2100:
        raise RosterInputError(f"'date' {date[:40]!r} is not a YYYY-MM-DD date from 1970 to 2100")
    tz = body.get("timezone", default_tz)
    if not isinstance(tz, str) or not tz:
        raise RosterInputError("'timezone' must be an IANA time zone name such as 'America/New_York'")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RosterInputError(f"'timezone' {tz[:64]!r} is not a known IANA time zone") from None
    return name.strip(), date, tz


class EventService:
    def __init__(self, store: Store, default_timezone: str) -> None:
        self._store = store
        self._default_tz = default_timezone
        self._events: dict[str, EventInfo] = {}
        self._rosters: dict[str, dict[str, ParticipantRow]] = {}
        self._ids: dict[tuple[str, str], str] = {}  # (event_id, bib) -> participant row id
        self._listeners: list[RosterListener] = []
        self.lock = asyncio.Lock()  # held by an action from planning to commit

    def add_roster_listener(self, fn: RosterListener) -> None:
        """``fn(event_id, rows)`` after a commit that added or changed these participants."""
        self._listeners.append(fn)

    async def load(self) -> None:
        """Fill the caches from the store (start-up)."""

        def _load(conn: Connection) -> tuple[list[Event], list[tuple[Any, ...]]]:
            events = list(conn.execute(select(Event)).all())
            # plain driver rows, raw as text: a 43,000-runner roster loads in a fraction of the
            # time the ORM rows with their per-row JSON processing took (start-up, issue #13)
            people = conn.exec_driver_sql(_LOAD_PARTICIPANTS).fetchall()
            return events, people  # type: ignore[return-value]

        events, people = await self._store.run(_load)
        for e in events:
            self._events[e.id] = EventInfo(e.id, e.name, e.date, e.timezone, e.created_at)
            self._rosters.setdefault(e.id, {})
        rosters, ids = self._rosters, self._ids
        # every runner's ``raw`` in one decode (one C call, not 43,000 json.loads)
        raws = json.loads("[" + ",".join([p[-1] or "null" for p in people]) + "]")
        for (pid, event_id, *values, hidden, _text), raw in zip(people, raws, strict=True):
            row = ParticipantRow(*values, hidden=bool(hidden), raw=raw or {})
            roster = rosters.get(event_id)
            if roster is None:
                roster = rosters[event_id] = {}
            roster[row.bib] = row
            ids[(event_id, row.bib)] = pid

    # --- events -----------------------------------------------------------------------
    def plan_create_event(self, uow: UnitOfWork, body: object) -> EventInfo:
        """Validate, queue the insert, and add the event to the list once it is committed."""
        name, date, tz = validate_event(body, self._default_tz)
        info = EventInfo(new_id(), name, date, tz, now())
        uow.write(_insert_event, info)
        uow.record("event", info.id, "created", name=name, date=date, timezone=tz)

        def _apply() -> None:
            self._events[info.id] = info
            self._rosters.setdefault(info.id, {})

        uow.after_commit(_apply)
        return info

    async def create_event(self, body: object) -> EventInfo:
        """One event in its own unit of work (tools and tests; the app's action is
        ``operations.roster.create_event``, which also tells the change listeners)."""
        async with self.lock:
            uow = UnitOfWork(self._store)
            info = self.plan_create_event(uow, body)
            await uow.commit()
        return info

    def events(self) -> list[EventInfo]:
        return sorted(self._events.values(), key=lambda e: (e.date, e.created_at), reverse=True)

    def event(self, event_id: str) -> EventInfo:
        try:
            return self._events[event_id]
        except KeyError:
            raise RosterNotFound(f"event {event_id[:64]!r} does not exist") from None

    # --- participants -----------------------------------------------------------------
    def plan_import(
        self,
        uow: UnitOfWork,
        event_id: str,
        rows: object,
        source: str = "api",
        *,
        offset: int = 0,
        seen: set[str] | None = None,
    ) -> tuple[list[ParticipantRow], list[Rejected]]:
        """Validate ``rows``; queue the upsert of the valid ones (each bad row is returned
        with its reason).  ``offset``/``seen``: a chunk of a larger file (see ``parse_rows``)."""
        self.event(event_id)
        if not isinstance(rows, list):
            raise RosterInputError("body must be a JSON array of participant objects")
        good, bad = parse_rows(rows, offset=offset, seen=seen)
        if good:
            self.plan_import_rows(uow, event_id, good, source)
        return good, bad

    def plan_import_rows(
        self, uow: UnitOfWork, event_id: str, good: list[ParticipantRow], source: str
    ) -> dict[str, str]:
        """Queue the upsert of rows validated already (``parse_row``'s output: a re-sync's
        planner validated each one, and checked its bib free), without validating them again;
        the participant id of each bib (new ones made here).  A bib twice in ``good`` is a bug
        of the caller: ``ValueError``, nothing queued."""
        self.event(event_id)
        bibs = list(map(_BIB, good))
        if len(set(bibs)) != len(good):
            raise ValueError("plan_import_rows: a bib appears more than once")
        keys = list(zip(repeat(event_id), bibs))  # (a 50,000-runner import: C loops, not Python)
        have = list(map(self._ids.get, keys))  # the ids of bibs known here
        fresh = iter(new_ids(have.count(None)))  # (one random read for the new ones)
        ids = [pid if pid is not None else next(fresh) for pid in have]
        uow.write(_upsert_participants, event_id, list(zip(ids, good, strict=True)), source)
        uow.record_all(
            "participant",
            (
                (pid, "created" if old is None else "updated", {"event_id": event_id, "bib": bib})
                for pid, old, bib in zip(ids, have, bibs, strict=True)
            ),
        )

        def _apply() -> None:
            self._rosters.setdefault(event_id, {}).update(zip(bibs, good, strict=True))
            self._ids.update(zip(keys, ids, strict=True))
            self._notify(event_id, good)

        uow.after_commit(_apply)
        return dict(zip(bibs, ids, strict=True))

    async def import_participants(
        self, event_id: str, rows: object, source: str = "api"
    ) -> tuple[int, list[Rejected]]:
        """Upsert valid rows in one unit of work of its own (tools and tests; the app's action
        is ``operations.roster.import_participants``); return (imported, rejected rows)."""
        async with self.lock:
            uow = UnitOfWork(self._store)
            good, bad = self.plan_import(uow, event_id, rows, source)
            await uow.commit()
        return len(good), bad

    async def import_in_chunks(
        self,
        event_id: str,
        rows: list[object],
        progress: Progress,
        source: str = "csv",
        chunk: int = 1000,
        unit: Callable[[], UnitOfWork] | None = None,
    ) -> tuple[int, list[Rejected]]:
        """Import a large roster chunk by chunk, reporting progress; cancel stops between chunks.

        Each chunk is one unit of work (``unit()`` makes it; the action passes one that tells
        its change listeners): what was imported stays, nothing is half-written."""
        self.event(event_id)
        make = unit or (lambda: UnitOfWork(self._store))
        progress.start("Importing participants", len(rows))
        imported = 0
        rejected: list[Rejected] = []
        seen: set[str] = set()
        for start in range(0, len(rows), chunk):
            progress.raise_if_cancelled()
            part = rows[start : start + chunk]
            async with self.lock:
                uow = make()
                good, bad = self.plan_import(
                    uow, event_id, part, source, offset=start + 1, seen=seen
                )  # rows from 1, as previewed
                await uow.commit()
            rejected.extend(bad)
            imported += len(good)
            progress.advance(len(part))
        return imported, rejected

    def plan_edit(
        self, uow: UnitOfWork, event_id: str, bib: str, fields: object
    ) -> tuple[ParticipantRow, ParticipantRow]:
        """A local correction of one participant: any field; a new ``bib`` moves the runner there.

        Returns (before, after).  The fields the timer set are remembered as *local*
        (``participants.local_fields``), so a later import from a provider can tell them apart.
        NotFound for an unknown event or bib, Conflict if the new bib belongs to someone else."""
        self.event(event_id)
        bib = normalize_bib(bib)
        before = self.participant(event_id, bib)
        if before is None:
            raise RosterNotFound(f"bib {bib[:32]!r} is not in the roster of event {event_id}")
        if not isinstance(fields, dict) or not fields:
            raise RosterInputError("body must be a JSON object with the participant fields to change")
        unknown = sorted(str(k)[:32] for k in set(fields) - KNOWN_FIELDS)
        if unknown:
            raise RosterInputError(
                f"unknown participant field(s): {', '.join(unknown[:10])}; known: {', '.join(sorted(KNOWN_FIELDS))}"
            )
        current = {k: v for k, v in asdict(before).items() if k != "raw"}
        parsed = parse_row(0, {**current, **fields})
        if isinstance(parsed, Rejected):
            raise RosterInputError(parsed.error.split(": ", 1)[-1])
        after = replace(parsed, raw=before.raw)
        if after.bib != bib and self.participant(event_id, after.bib) is not None:
            raise RosterConflict(f"bib {after.bib} already belongs to another participant of this event")
        pid = self._ids[(event_id, bib)]
        changed = {k: v for k, v in asdict(after).items() if k != "raw" and current[k] != v}
        uow.write(_update_participant, pid, changed, sorted(set(fields)))
        data = {**changed, "event_id": event_id, "bib": after.bib, "previous_bib": bib}
        uow.record("participant", pid, "updated", **data)

        def _apply() -> None:
            roster = self._rosters.setdefault(event_id, {})
            roster.pop(bib, None)
            self._ids.pop((event_id, bib), None)
            roster[after.bib] = after
            self._ids[(event_id, after.bib)] = pid
            self._notify(event_id, [after])

        uow.after_commit(_apply)
        return before, after

    def plan_swap(
        self, uow: UnitOfWork, event_id: str, bib_a: object, bib_b: object
    ) -> list[tuple[ParticipantRow, ParticipantRow]]:
        """Two runners trade bibs (race day: each picked up the other's), both moves in one
        transaction; ``bib`` becomes a local field of both, so a later re-sync keeps the swap.
        Returns the (before, after) pairs.  NotFound for an unknown bib, input error for one bib."""
        self.event(event_id)
        a, b = normalize_bib(bib_a), normalize_bib(bib_b)
        if not a or not b or a == b:
            raise RosterInputError("a swap needs two different bibs")
        pairs = []
        for mine, theirs in ((a, b), (b, a)):
            before = self.participant(event_id, mine)
            if before is None:
                raise RosterNotFound(f"bib {mine[:32]!r} is not in the roster of event {event_id}")
            pairs.append((before, replace(before, bib=theirs)))
        pid_a, pid_b = self._ids[(event_id, a)], self._ids[(event_id, b)]
        uow.write(_swap_bibs, pid_a, pid_b, a, b)
        uow.record("participant", pid_a, "updated", event_id=event_id, bib=b, previous_bib=a)
        uow.record("participant", pid_b, "updated", event_id=event_id, bib=a, previous_bib=b)

        def _apply() -> None:
            roster = self._rosters.setdefault(event_id, {})
            roster[b], roster[a] = pairs[0][1], pairs[1][1]
            self._ids[(event_id, b)], self._ids[(event_id, a)] = pid_a, pid_b
            self._notify(event_id, [pairs[0][1], pairs[1][1]])

        uow.after_commit(_apply)
        return pairs

    def plan_walk_up(self, uow: UnitOfWork, event_id: str, fields: object) -> ParticipantRow:
        """A runner added on race day (not registered at the provider): one new participant
        whose given fields are *local* (a later re-sync never overwrites them).  Conflict if
        the bib is somebody's already (an import would overwrite that runner)."""
        self.event(event_id)
        if not isinstance(fields, dict) or not fields:
            raise RosterInputError("a walk-up needs its fields: at least 'bib' and a name")
        parsed = parse_row(0, fields)
        if isinstance(parsed, Rejected):
            raise RosterInputError(parsed.error.split(": ", 1)[-1])
        held = self.participant(event_id, parsed.bib)
        if held is not None:
            name = f"{held.first_name} {held.last_name}".strip()
            raise RosterConflict(f"bib {parsed.bib} already belongs to {name or 'another participant'}")
        self.plan_import(uow, event_id, [fields], "walk-up")
        uow.write(_mark_local, event_id, parsed.bib, sorted(set(fields) & KNOWN_FIELDS))
        return parsed

    # --- another laptop's rows (operations.remote: central sync's pull) -----------------
    def plan_remote_event(
        self, uow: UnitOfWork, row: dict[str, Any], deleted: bool, *, keep: bool
    ) -> str | None:
        """Queue another laptop's event (a central ``events`` row) or its delete.  A deleted
        event goes with its participants, unless ``keep`` (a local display session belongs to
        it: race-day data never vanishes under a session).  Returns the action or None."""
        eid = str(row["id"])
        if deleted:
            if eid not in self._events or keep:
                return None
            uow.write(_delete_event, eid)
            uow.record("event", eid, "deleted")

            def _forget() -> None:
                self._events.pop(eid, None)
                for bib in self._rosters.pop(eid, {}):
                    self._ids.pop((eid, bib), None)

            uow.after_commit(_forget)
            return "deleted"
        body = {"name": row["name"], "date": row["date"], "timezone": row["timezone"]}
        name, date, tz = validate_event(body, self._default_tz)
        info = EventInfo(eid, name, date, tz, float(row["created_at"]))
        action = "updated" if eid in self._events else "created"
        uow.write(_put_event, info, float(row["updated_at"]))
        uow.record("event", eid, action, name=name, date=date, timezone=tz)

        def _apply() -> None:
            self._events[eid] = info
            self._rosters.setdefault(eid, {})

        uow.after_commit(_apply)
        return action

    def plan_remote_participants(
        self, uow: UnitOfWork, rows: list[tuple[dict[str, Any], bool]], events: set[str]
    ) -> dict[str, str]:
        """Queue another laptop's participants (central ``participants`` rows, each with its
        ``deleted`` flag), keyed by their id: inserted, updated (a new bib moves the runner)
        or deleted.  A row whose bib another local participant of the event holds is skipped
        (the bib is the runner's identity on race day; logged by the caller), as is one that
        is not a valid participant or whose event is neither here nor in ``events`` (pulled in
        the same unit of work).  Returns {participant id: action} of what was queued."""
        by_id = {pid: key for key, pid in self._ids.items()}
        where: dict[str, tuple[str, str] | None] = {}  # id -> (event, bib), as this batch leaves it
        holder: dict[tuple[str, str], str | None] = {}  # (event, bib) -> id, as this batch leaves it
        put: list[dict[str, Any]] = []
        gone: list[str] = []
        after: list[tuple[str, tuple[str, str] | None, tuple[str, str] | None, ParticipantRow | None]] = []
        done: dict[str, str] = {}
        for row, deleted in rows:
            pid = str(row["id"])
            old = where[pid] if pid in where else by_id.get(pid)
            if deleted:
                if old is not None:
                    gone.append(pid)
                    holder[old], where[pid] = None, None
                    after.append((pid, old, None, None))
                    done[pid] = "deleted"
                continue
            event_id = str(row["event_id"])
            if event_id not in self._events and event_id not in events:
                continue
            parsed = _remote_row(row)
            if parsed is None:
                continue
            target = (event_id, parsed.bib)
            held = holder[target] if target in holder else self._ids.get(target)
            if held is not None and held != pid:
                continue
            values = {c.name: row[c.name] for c in Participant.__table__.columns if c.name in row}
            values.update(asdict(parsed), id=pid, event_id=event_id)
            values["local_fields"] = list(row.get("local_fields") or [])
            put.append(values)
            if old is not None and old != target:
                holder[old] = None
            holder[target], where[pid] = pid, target
            after.append((pid, old, target, parsed))
            done[pid] = "updated" if old is not None else "created"
        if gone:
            uow.write(_delete_participants, gone)
        if put:
            uow.write(_put_participants, put)
        for pid, action in done.items():
            uow.record("participant", pid, action, remote=True)

        def _apply() -> None:
            changed: dict[str, list[ParticipantRow]] = {}
            for pid, old_key, new_key, prow in after:
                if old_key is not None and self._ids.get(old_key) == pid:
                    self._ids.pop(old_key, None)
                    self._rosters.get(old_key[0], {}).pop(old_key[1], None)
                if new_key is not None and prow is not None:
                    self._rosters.setdefault(new_key[0], {})[new_key[1]] = prow
                    self._ids[new_key] = pid
                    changed.setdefault(new_key[0], []).append(prow)
            for event_id, prows in changed.items():
                self._notify(event_id, prows)

        if after:
            uow.after_commit(_apply)
        return done

    def plan_replace(
        self, uow: UnitOfWork, event_id: str, rows: list[tuple[str, ParticipantRow]], source: str
    ) -> list[tuple[ParticipantRow, ParticipantRow]]:
        """Replace existing participants' fields from an outside source (a provider re-sync):
        ``(current bib, the row after)`` each; a new bib moves the runner (swaps included: movers
        pass through temporary bibs in the same transaction).  Unlike ``plan_edit`` nothing is
        marked local.  The caller (the provider-sync action, holding ``lock``) checked that the
        new bibs are free or freed by this plan.  Returns (before, after) pairs."""
        self.event(event_id)
        pairs: list[tuple[ParticipantRow, ParticipantRow]] = []
        writes: list[tuple[str, ParticipantRow, bool]] = []
        for bib, after in rows:
            before = self.participant(event_id, bib)
            if before is None:
                raise RosterNotFound(f"bib {bib[:32]!r} is not in the roster of event {event_id}")
            pid = self._ids[(event_id, bib)]
            writes.append((pid, after, after.bib != bib))
            pairs.append((before, after))
            uow.record("participant", pid, "updated", event_id=event_id, bib=after.bib, previous_bib=bib)
        uow.write(_replace_participants, writes, source)

        def _apply() -> None:
            roster = self._rosters.setdefault(event_id, {})
            moved = [(self._ids.pop((event_id, b.bib)), b, a) for b, a in pairs]
            for _, before, _ in moved:
                roster.pop(before.bib, None)
            for pid, _, after in moved:
                roster[after.bib] = after
                self._ids[(event_id, after.bib)] = pid
            self._notify(event_id, [a for _, a in pairs])

        uow.after_commit(_apply)
        return pairs

    def _notify(self, event_id: str, rows: list[ParticipantRow]) -> None:
        for fn in self._listeners:
            fn(event_id, rows)

    def participant(self, event_id: str, bib: str) -> ParticipantRow | None:
        return self._rosters.get(event_id, {}).get(bib)

    def roster(self, event_id: str) -> list[ParticipantRow]:
        self.event(event_id)
        return sorted(self._rosters.get(event_id, {}).values(), key=_bib_sort_key)


def _bib_sort_key(row: ParticipantRow) -> tuple[int, str]:
    return (int(row.bib), "") if row.bib.isdigit() else (1 << 62, row.bib)


# ParticipantRow's fields in order (bib … alias), then hidden and raw: what ``load`` reads
_LOAD_PARTICIPANTS = (
    "SELECT id, event_id, bib, first_name, last_name, age, gender, city, state, country, division, "
    f"team, wave, message, alias, hidden, raw FROM {Participant.__tablename__}"
)


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


def _remote_row(row: dict[str, Any]) -> ParticipantRow | None:
    """A pulled participant as the roster holds it (another laptop's store checked it when it
    was imported or edited there); None if its shape is wrong (a bib that is no bib, a field of
    the wrong type)."""
    values = {f.name: row.get(f.name, f.default) for f in fields(ParticipantRow) if f.name != "raw"}
    bib = values["bib"]
    if not isinstance(bib, str) or not bib or normalize_bib(bib) != bib:
        return None
    if not all(isinstance(values[k], str) for k in TEXT_FIELDS):
        return None
    age, hidden = values["age"], values["hidden"]
    if age is not None and (isinstance(age, bool) or not isinstance(age, int)):
        return None
    if not isinstance(hidden, bool):
        return None
    raw = row.get("raw") or {}
    return ParticipantRow(**values, raw=dict(raw) if isinstance(raw, dict) else {})


def _insert_event(conn: Connection, info: EventInfo) -> None:
    conn.execute(
        Event.__table__.insert().values(
            id=info.id,
            name=info.name,
            date=info.date,
            timezone=info.timezone,
            created_at=info.created_at,
            updated_at=info.created_at,
        )
    )


def _put_event(conn: Connection, info: EventInfo, stamp: float) -> None:
    t = Event.__table__
    values = {"name": info.name, "date": info.date, "timezone": info.timezone, "updated_at": stamp}
    if not conn.execute(t.update().where(t.c.id == info.id).values(**values)).rowcount:
        conn.execute(t.insert().values(id=info.id, created_at=info.created_at, **values))


def _delete_event(conn: Connection, event_id: str) -> None:
    """An event and its participants (the foreign key cascades only with a DELETE of each)."""
    p, e = Participant.__table__, Event.__table__
    conn.execute(p.delete().where(p.c.event_id == event_id))
    conn.execute(e.delete().where(e.c.id == event_id))


def _delete_participants(conn: Connection, ids: list[str]) -> None:
    t = Participant.__table__
    for i in range(0, len(ids), 500):
        conn.execute(t.delete().where(t.c.id.in_(ids[i : i + 500])))


def _put_participants(conn: Connection, values: list[dict[str, Any]]) -> None:
    """Participants by id: one statement run for every row, in order (executemany: a moved
    bib is free before the next row takes it)."""
    t = Participant.__table__
    stmt = sqlite_insert(t)
    update = {c.name: stmt.excluded[c.name] for c in t.columns if c.name not in ("id", "created_at")}
    rows = [{c.name: row.get(c.name) for c in t.columns} for row in values]
    conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=update), rows)


# the roster row's columns as a participants row holds them (bib first: the conflict key's half)
_ROW_COLUMNS = tuple(f.name for f in fields(ParticipantRow))
# an import's upsert: one statement, prepared once and run for every row (executemany); the
# columns it updates on a bib already there (never id, event_id, bib, created_at, and never
# local_fields: an import never forgets what the timer edited locally)
_UPSERT_UPDATES = (*(c for c in _ROW_COLUMNS if c != "bib"), "source", "updated_at")
_UPSERT_COLUMNS = ("id", "event_id", *_ROW_COLUMNS, "source", "created_at", "updated_at")
UPSERT_SQL = (
    f"INSERT INTO participants ({', '.join(_UPSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_UPSERT_COLUMNS))}) "
    f"ON CONFLICT (event_id, bib) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _UPSERT_UPDATES)}"
)
# a re-sync's replace of a runner by id: every roster field, the source and the stamp
REPLACE_SQL = (
    f"UPDATE participants SET {', '.join(f'{c} = ?' for c in (*_ROW_COLUMNS, 'source', 'updated_at'))} "
    "WHERE id = ?"
)


BULK_OUTBOX_MIN = 200  # rows of an upsert from which the outbox rows are written in bulk
_ROW_VALUES = operator.attrgetter(*_ROW_COLUMNS[:-1])  # every column but raw (the last)
_BIB = operator.attrgetter("bib")


def _row_values(r: ParticipantRow) -> tuple[Any, ...]:
    """``r``'s column values in ``_ROW_COLUMNS`` order, as SQLite stores them (raw as JSON,
    the way the JSON column writes it)."""
    return (*_ROW_VALUES(r), json_text.dumps(r.raw))


def _upsert_participants(
    conn: Connection, event_id: str, rows: list[tuple[str, ParticipantRow]], source: str
) -> None:
    """Insert or update (by event and bib) every row: one prepared statement executed for all
    of them, in the caller's transaction (a multi-row VALUES statement per chunk was compiled
    anew each time, which cost more than the inserts: docs/providers.md#load)."""
    stamp = now()
    if not rows:
        return
    raws = json_text.dumps_all(r.raw for _, r in rows)  # (the rows' values a column at a time)
    values = [
        (pid, event_id, *_ROW_VALUES(r), raw, source, stamp, stamp)
        for (pid, r), raw in zip(rows, raws, strict=True)
    ]
    if len(rows) < BULK_OUTBOX_MIN:
        conn.exec_driver_sql(UPSERT_SQL, values)
        return
    # a large import: the outbox rows in one run instead of a trigger program per row
    # (store/outbox_bulk.py: the same rows, the same clock)
    with bulk_outbox(conn, "participants", [pid for pid, _ in rows]):
        conn.exec_driver_sql(UPSERT_SQL, values)


def _update_participant(conn: Connection, pid: str, changed: dict[str, Any], edited: list[str]) -> None:
    """One participant's local edit: the changed values, and the edited field names added to
    ``local_fields`` (read in the same transaction, so two edits never lose each other's)."""
    t = Participant.__table__
    local = conn.execute(select(t.c.local_fields).where(t.c.id == pid)).scalar_one()
    merged = sorted(set(local or []) | set(edited))
    conn.execute(t.update().where(t.c.id == pid).values(**changed, local_fields=merged, updated_at=now()))


def _swap_bibs(conn: Connection, pid_a: str, pid_b: str, a: str, b: str) -> None:
    """``pid_a`` (wearing ``a``) and ``pid_b`` (wearing ``b``) trade bibs, through a temporary
    bib (the unique (event, bib) never sees two on one bib); ``bib`` joins their local fields."""
    t = Participant.__table__
    stamp = now()
    conn.execute(t.update().where(t.c.id == pid_a).values(bib="~swapping~"))
    for pid, bib in ((pid_b, a), (pid_a, b)):
        local = conn.execute(select(t.c.local_fields).where(t.c.id == pid)).scalar_one()
        merged = sorted(set(local or []) | {"bib"})
        conn.execute(t.update().where(t.c.id == pid).values(bib=bib, local_fields=merged, updated_at=stamp))


def _mark_local(conn: Connection, event_id: str, bib: str, names: list[str]) -> None:
    """A walk-up's fields are the timer's: listed in ``local_fields``."""
    t = Participant.__table__
    conn.execute(t.update().where(t.c.event_id == event_id, t.c.bib == bib).values(local_fields=names))


def _replace_participants(
    conn: Connection, writes: list[tuple[str, ParticipantRow, bool]], source: str
) -> None:
    """``plan_replace``'s rows: movers first to a temporary bib each (a swap never meets the
    unique (event, bib) on the way), then every row to its new values; ``local_fields`` kept.
    Each step is one prepared statement executed for all its rows."""
    stamp = now()
    movers = [(f"~moving~{i}", pid) for i, (pid, _, moves) in enumerate(writes) if moves]
    if movers:
        conn.exec_driver_sql("UPDATE participants SET bib = ? WHERE id = ?", movers)
    rows = [(*_row_values(after), source, stamp, pid) for pid, after, _ in writes]
    if rows:
        conn.exec_driver_sql(REPLACE_SQL, rows)
