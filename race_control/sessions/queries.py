"""Database work of the display sessions (runs on the store's DB thread, one unit each)."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, delete, func, select, tuple_

from race_control.sessions.crossing import CrossingRules, location_filtered
from race_control.sessions.live import Derived
from race_control.store.json_text import dumps_compact
from race_control.store.models import (
    DisplayEvent,
    DisplaySession,
    FinisherMinute,
    Read,
    SessionStream,
    Suppression,
    SuppressionCount,
    UnknownBib,
)
from race_control.timing.ingest.stored_read import StoredRead

_EVENT_COLUMNS = (
    "session_id",
    "seq",
    "kind",
    "bib",
    "stream_id",
    "location",
    "read_seq",
    "created_at",
    "payload",  # last: the row's values, then its text (``_event_row``)
)
_SUPPRESSION_COLUMNS = (
    "session_id",
    "stream_id",
    "location",
    "read_seq",
    "bib",
    "code",
    "reason",
    "created_at",
)
FILTERED = "location_filtered"  # a suppression code recomputed, not stored (filtered_reads)
_INSERT_EVENT = (
    f"INSERT INTO {DisplayEvent.__tablename__} ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
)
_INSERT_SUPPRESSION = (
    f"INSERT OR IGNORE INTO {Suppression.__tablename__} ({', '.join(_SUPPRESSION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_SUPPRESSION_COLUMNS))})"
)


_suppression_row = itemgetter(*_SUPPRESSION_COLUMNS)  # a row's values in the INSERT's order
_event_values = itemgetter(*_EVENT_COLUMNS[:-1])


def _event_row(row: dict[str, Any], text: str) -> tuple[Any, ...]:
    """A display event's values in the INSERT's order, its payload as ``text``."""
    return (*_event_values(row), text)


_COUNT_FILTERED = (
    f"INSERT INTO {SuppressionCount.__tablename__} (session_id, code, n) VALUES (?, '{FILTERED}', ?) "
    "ON CONFLICT (session_id, code) DO UPDATE SET n = n + excluded.n"
)


def write_derived(conn: Connection, derived: Derived) -> None:
    """Display events and suppressions of one batch.  Plain driver inserts (JSON encoded here,
    as SQLAlchemy's JSON type stores it): this sits on the read → screen path, where SQLAlchemy's
    per-row processing cost ~0.2 ms of a ~1 ms budget; without the blanks after ``,`` and ``:``
    (~50 bytes of a ~400-byte message, for every session).  A location-filtered suppression is only
    counted (``suppression_counts``), not stored: ``filtered_reads`` recomputes it; the finishers'
    aggregates are counted here too (``_count_finishers``), the stored suppressions' by a trigger."""
    if not derived.events and not derived.suppressions:
        return
    # the driver's own cursor, in the caller's transaction: SQLAlchemy's ``exec_driver_sql``
    # costs ~25 µs a statement, and a one-read batch makes four or five of them
    cur = conn.connection.cursor()
    try:
        if derived.events:
            # a finisher's text made from the crossing's shared part (``finisher.stored_text``)
            texts = [r.get("text") or dumps_compact(r["payload"]) for r in derived.events]
            cur.executemany(_INSERT_EVENT, map(_event_row, derived.events, texts))
            _count_finishers(cur, derived.events)
        if derived.suppressions:
            stored = []
            filtered: dict[str, int] = {}
            for r in derived.suppressions:
                if r["code"] == FILTERED:
                    filtered[r["session_id"]] = filtered.get(r["session_id"], 0) + 1
                else:
                    stored.append(_suppression_row(r))
            if stored:
                cur.executemany(_INSERT_SUPPRESSION, stored)
            if filtered:
                cur.executemany(_COUNT_FILTERED, list(filtered.items()))
    finally:
        cur.close()


_COUNT_FINISHERS = (
    f"INSERT INTO {FinisherMinute.__tablename__} (session_id, minute, finishers) VALUES (?, ?, ?) "
    "ON CONFLICT (session_id, minute) DO UPDATE SET finishers = finishers + excluded.finishers"
)
_ADD_UNKNOWN = f"INSERT OR IGNORE INTO {UnknownBib.__tablename__} (session_id, bib) VALUES (?, ?)"


def _count_finishers(cur: Any, events: list[dict[str, Any]]) -> None:
    """The analytics' aggregates of a batch's finisher events: finishers per session and minute of
    their read's clock, and the bibs shown as "Bib N" (``known`` false).  Store migration 0018:
    these were a trigger per inserted row, ~70 % of what storing a display event cost."""
    minutes: Counter[tuple[str, int]] = Counter()
    unknown: set[tuple[str, str]] = set()
    for row in events:
        clock = row.get("clock")
        if row["kind"] != "finisher" or clock is None or not math.isfinite(clock):
            continue
        minutes[row["session_id"], math.floor(clock / 60)] += 1
        payload = row["payload"]
        if payload.get("known") == 0:  # false, as the trigger's json_extract(...) = 0
            bib = payload.get("bib")
            unknown.add((row["session_id"], "" if bib is None else bib))
    if minutes:
        cur.executemany(_COUNT_FINISHERS, [(s, m, n) for (s, m), n in minutes.items()])
    if unknown:
        cur.executemany(_ADD_UNKNOWN, list(unknown))


def stream_reads(conn: Connection, stream_ids: list[str]) -> list[StoredRead]:
    """Reads of the given streams in arrival order (the order the live path saw them)."""
    return stream_reads_after(conn, stream_ids, {})


def stream_reads_after(conn: Connection, stream_ids: list[str], after: Mapping[str, int]) -> list[StoredRead]:
    """``stream_reads``, but of each stream in ``after`` only the reads past its raw_n there (what
    a session continued from its snapshot has not decided yet)."""
    if not stream_ids:
        return []
    where = " OR ".join(
        "(stream_id = ? AND raw_n > ?)" if s in after else "stream_id = ?" for s in stream_ids
    )
    args = [x for s in stream_ids for x in ((s, after[s]) if s in after else (s,))]
    sql = f"SELECT {_READ_COLUMNS} FROM {Read.__tablename__} WHERE {where} ORDER BY {_ARRIVAL}"
    return [StoredRead(*r) for r in conn.exec_driver_sql(sql, tuple(args))]


_READ_COLUMNS = ", ".join(StoredRead.__slots__)
_ARRIVAL = "received_at, stream_id, raw_n"  # the order the live path saw a session's reads
_STREAM_READS_SQL = (
    f"SELECT {_READ_COLUMNS} FROM {Read.__tablename__} WHERE stream_id IN ({{marks}}) ORDER BY {_ARRIVAL}"
)


class ReadPages:
    """``stream_reads`` a page at a time, each page one call on the DB thread (``Store.run``):
    a rebuild of a million reads neither holds them all in memory nor keeps the DB thread (and
    the GIL) busy for seconds in one go.

    One SELECT, the same order as ``stream_reads``, on a connection of its own taken from the
    engine on the first page and given back by ``close`` (call it in every case): a statement
    sees one snapshot of the database until it is finished (WAL), so the pages are consistent
    with each other whatever is written meanwhile.  All on the DB thread (each method is a
    ``Store.run`` function)."""

    def __init__(self, stream_ids: list[str], size: int = 5000) -> None:
        self.stream_ids = list(stream_ids)
        self.size = size
        self._raw: Any = None
        self._cursor: Any = None
        self.finished = not self.stream_ids

    def page(self, conn: Connection) -> list[StoredRead]:
        """The next ``size`` reads ([] at the end)."""
        if self.finished:
            return []
        if self._cursor is None:
            self._raw = conn.engine.raw_connection()
            self._cursor = self._raw.cursor()
            sql = _STREAM_READS_SQL.format(marks=", ".join("?" * len(self.stream_ids)))
            self._cursor.execute(sql, self.stream_ids)
        rows = self._cursor.fetchmany(self.size)
        if len(rows) < self.size:
            self.finished = True
        return [StoredRead(*r) for r in rows]

    def close(self, conn: Connection | None = None) -> None:
        del conn
        self.finished = True
        cursor, raw, self._cursor, self._raw = self._cursor, self._raw, None, None
        if cursor is not None:
            cursor.close()
        if raw is not None:
            raw.close()


def load_sessions(conn: Connection) -> tuple[list[Any], list[Any], dict[str, int]]:
    rows = list(conn.execute(select(DisplaySession.__table__)).all())
    links = list(conn.execute(select(SessionStream.__table__)).all())
    t = DisplayEvent.__table__
    # one primary-key lookup a session, not a GROUP BY over every display event of the race
    seqs = {}
    for row in rows:
        seq = conn.execute(select(func.max(t.c.seq)).where(t.c.session_id == row.id)).scalar()
        if seq is not None:
            seqs[row.id] = int(seq)
    return rows, links, seqs


def announced_reads(conn: Connection, session_id: str) -> set[tuple[str, str, int]]:
    t = DisplayEvent.__table__
    rows = conn.execute(
        select(t.c.stream_id, t.c.location, t.c.read_seq).where(
            t.c.session_id == session_id, t.c.kind == "finisher"
        )
    )
    return {(r[0], r[1], r[2]) for r in rows}


def announced_page(
    conn: Connection, session_id: str, after_seq: int, limit: int
) -> tuple[list[tuple[str, str, int]], int | None]:
    """``announced_reads`` a page at a time (seq order, by the primary key): the reads of up to
    ``limit`` display events after ``after_seq`` that are finishers, and the seq to continue
    after (None: no more)."""
    t = DisplayEvent.__table__
    rows = conn.execute(
        select(t.c.seq, t.c.kind, t.c.stream_id, t.c.location, t.c.read_seq)
        .where(t.c.session_id == session_id, t.c.seq > after_seq)
        .order_by(t.c.seq)
        .limit(limit)
    ).all()
    keys = [(r[2], r[3], r[4]) for r in rows if r[1] == "finisher"]
    return keys, (rows[-1][0] if len(rows) == limit else None)


def replace_suppressions(conn: Connection, session_id: str, derived: Derived) -> None:
    conn.execute(delete(Suppression.__table__).where(Suppression.__table__.c.session_id == session_id))
    c = SuppressionCount.__table__
    conn.execute(delete(c).where(c.c.session_id == session_id))  # the triggers left zeros
    write_derived(conn, derived)


WRITE_SLICE = 2000  # rows of a rebuild written between two hand-overs of the GIL


def replace_suppressions_sliced(conn: Connection, session_id: str, derived: Derived) -> None:
    """``replace_suppressions`` for a rebuild (up to a million rows, in the action's one
    transaction): the rows are written ``WRITE_SLICE`` at a time and the DB thread sleeps a
    moment between slices, so the event loop's thread gets the GIL at once instead of waiting
    for the interpreter's switch interval after each of its system calls (a GIL convoy that
    stalls the loop for as long as this runs)."""
    conn.execute(delete(Suppression.__table__).where(Suppression.__table__.c.session_id == session_id))
    c = SuppressionCount.__table__
    conn.execute(delete(c).where(c.c.session_id == session_id))  # the triggers left zeros
    events, sups = derived.events, derived.suppressions
    for i in range(0, max(len(events), len(sups)), WRITE_SLICE):
        write_derived(conn, Derived(events[i : i + WRITE_SLICE], sups[i : i + WRITE_SLICE]))
        time.sleep(GIL_PAUSE)


GIL_PAUSE = 0.0005  # seconds the DB thread sleeps between slices (the loop takes the GIL)


def events_after(conn: Connection, session_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    t = DisplayEvent.__table__
    rows = conn.execute(
        select(t.c.payload)
        .where(t.c.session_id == session_id, t.c.seq > after_seq)
        .order_by(t.c.seq)
        .limit(limit)
    ).all()
    return [r[0] for r in rows]


def suppressions(conn: Connection, session_id: str, bib: str | None, limit: int) -> list[dict[str, Any]]:
    """The session's suppressions newest first (of ``bib`` only, if given): the stored rows
    (``ix_suppressions_bib_time`` / ``ix_suppressions_session``) merged with the recomputed
    location-filtered ones (``filtered_reads``), at most ``limit``."""
    t = Suppression.__table__
    q = select(
        t.c.stream_id, t.c.location, t.c.read_seq, t.c.bib, t.c.code, t.c.reason, t.c.created_at
    ).where(t.c.session_id == session_id)
    if bib:
        q = q.where(t.c.bib == bib)
    rows = [dict(r) for r in conn.execute(q.order_by(t.c.created_at.desc()).limit(limit)).mappings()]
    rows.extend(filtered_reads(conn, session_id, bib=bib, limit=limit))
    rows.sort(key=_newest_first, reverse=True)
    return rows[:limit]


def _newest_first(row: dict[str, Any]) -> tuple[Any, ...]:
    """Time, then the read: rows of one batch share their time, and an answer is always the same."""
    return (row["created_at"], row["stream_id"], row["location"], row["read_seq"])


def filter_scope(conn: Connection, session_id: str) -> tuple[CrossingRules, list[str], float | None] | None:
    """What a session's location-filtered decisions follow from, as committed: its rules, its
    bound streams and, when closed, when it closed (``updated_at``: a closed session takes no
    edit, and decides no read that arrives after).  None: no such session."""
    d = DisplaySession.__table__
    row = conn.execute(select(d.c.rules, d.c.status, d.c.updated_at).where(d.c.id == session_id)).first()
    if row is None:
        return None
    links = SessionStream.__table__
    streams = sorted(
        conn.execute(select(links.c.stream_id).where(links.c.session_id == session_id)).scalars()
    )
    rules = CrossingRules.from_json(row.rules or {})
    return rules, streams, (row.updated_at if row.status == "closed" else None)


_FILTER_PAGE = 2000


def filtered_reads(
    conn: Connection,
    session_id: str,
    *,
    bib: str | None = None,
    keys: Iterable[tuple[str, str, int]] | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """The session's location-filtered suppressions, recomputed from the stored reads and its
    rules (``crossing.location_filtered``: the decision the engine made of them, which depends on
    nothing else): suppression-shaped rows, ``created_at`` = when the read arrived, newest first,
    at most ``limit``; only of ``bib``, or only of the reads ``keys``, if given."""
    scope = filter_scope(conn, session_id)
    if scope is None:
        return []
    rules, streams, until = scope
    if not rules.locations or not streams:
        return []
    r = Read.__table__
    cols = (r.c.stream_id, r.c.location, r.c.seq, r.c.bib, r.c.reader_id, r.c.gator, r.c.received_at)
    base = select(*cols).where(r.c.kind == "tag")
    if until is not None:
        base = base.where(r.c.received_at <= until)
    if not rules.lines:  # the line is the location: SQL leaves out the shown ones
        base = base.where(r.c.location.not_in({*rules.locations, *rules.start_locations}))
    out: list[dict[str, Any]] = []

    def add(row: Any) -> None:
        reason = location_filtered(rules, rules.line_of(row.location, row.reader_id, row.gator))
        if reason:
            out.append(
                {
                    "stream_id": row.stream_id,
                    "location": row.location,
                    "read_seq": row.seq,
                    "bib": row.bib,
                    "code": FILTERED,
                    "reason": reason,
                    "created_at": row.received_at,
                }
            )

    if keys is not None:
        wanted = [k for k in keys if k[0] in streams]
        for i in range(0, len(wanted), 300):
            chunk = wanted[i : i + 300]
            for row in conn.execute(base.where(tuple_(r.c.stream_id, r.c.location, r.c.seq).in_(chunk))):
                add(row)
    elif bib:
        for row in conn.execute(
            base.where(r.c.stream_id.in_(streams), r.c.bib == bib)
        ):  # ix_reads_stream_bib
            add(row)
    else:  # newest first per stream (ix_reads_stream_arrival), a page at a time, until ``limit``
        for stream_id in streams:
            found, before = len(out), None
            while len(out) - found < limit:
                q = base.where(r.c.stream_id == stream_id)
                if before is not None:
                    q = q.where(r.c.raw_n < before)
                page = conn.execute(
                    q.add_columns(r.c.raw_n).order_by(r.c.raw_n.desc()).limit(_FILTER_PAGE)
                ).all()
                for row in page:
                    add(row)
                if len(page) < _FILTER_PAGE:
                    break
                before = page[-1].raw_n
    out.sort(key=_newest_first, reverse=True)
    return out[:limit] if keys is None else out


def save_session(conn: Connection, values: dict[str, Any]) -> None:
    t = DisplaySession.__table__
    old = conn.execute(select(t.c.settings).where(t.c.id == values["id"])).first()
    if old is None:
        conn.execute(t.insert().values(**values))
        return
    kept = (old[0] or {}).get("epochs")  # written by save_epochs only; a record does not carry it
    if kept is not None and "epochs" not in values.get("settings", {}):
        values = {**values, "settings": {**values.get("settings", {}), "epochs": kept}}
    conn.execute(t.update().where(t.c.id == values["id"]).values(**values))


def save_epochs(conn: Connection, histories: dict[str, list[list[Any]]]) -> None:
    """Each session's epoch history (``[[epoch, last seq stored when it began], ...]``, oldest
    first) into its ``settings``: what a screen resuming with an older epoch can trust."""
    t = DisplaySession.__table__
    for session_id, history in histories.items():
        old = conn.execute(select(t.c.settings, t.c.updated_at).where(t.c.id == session_id)).first()
        if old is not None:
            settings = {**(old[0] or {}), "epochs": history}
            # not an edit of the session: its updated_at stays, and the sync outbox does not take
            # it for a change (store migration 0011; docs/sync.md#the-conflict-rule)
            conn.execute(t.update().where(t.c.id == session_id).values(settings=settings, updated_at=old[1]))
