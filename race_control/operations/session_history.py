"""The history of display sessions (docs/history.md#history): every session, open or closed,
from today or earlier days, with what it showed; one session read-only (its finishers, each in
its latest form, and its suppressions); one bib across all of an event's sessions.

Read-only by construction: only ``SELECT``s, each page one short call on the store's thread
(``Store.run``), never a session's state in memory changed, so a closed session stays closed.
Every query is bounded (``limit``, a page of sessions, ``MAX_APPEARANCES``) and uses an index
(migration 0014: ``ix_display_events_kind_bib``, ``ix_suppressions_bib``,
``ix_display_sessions_created``; checked with ``EXPLAIN QUERY PLAN`` in
tests/history/test_session_history.py).  The API routes (display_server/session_history_routes.py,
parameters checked by ``history_params``) and the desktop's History page call the same methods.

"Screens seen" counts each distinct screen (its stored screen id, else its address) that ever
connected: the rows ``display_server.screens_seen`` wrote, plus any connected now and not yet
written (``screens``: the hub's ``screens(session_id)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, func, literal_column, select, text, tuple_

from race_control.operations.history import RESULT_COLUMNS
from race_control.operations.history_params import ListQuery, PageQuery
from race_control.roster.participants import normalize_bib
from race_control.roster.service import EventService
from race_control.sessions.crossing import SUPPRESSION_LABELS
from race_control.sessions.finisher import format_time_of_day
from race_control.sessions.queries import filtered_reads
from race_control.sessions.service import SessionService
from race_control.store.database import Store
from race_control.store.models import (
    DisplayEvent,
    DisplaySession,
    Event,
    Read,
    ScreenSeen,
    SessionStream,
    Suppression,
    TimingStream,
)

__all__ = ["SessionHistory"]

SESSIONS_PER_CALL = 50  # a bib's search reads this many sessions per store call
MAX_APPEARANCES = 2000  # a bib's appearances answered at most (``truncated`` says so)
_FINISH_FIELDS = tuple(c for c in RESULT_COLUMNS if c not in ("seq", "corrected"))


# --- store queries (run on the store's thread) ----------------------------------------------------


def _session_select() -> Any:
    s, e = DisplaySession.__table__, Event.__table__
    return select(
        s.c.id,
        s.c.name,
        s.c.event_id,
        s.c.mode,
        s.c.status,
        s.c.created_at,
        e.c.name.label("event_name"),
        e.c.date,
    ).select_from(s.join(e, e.c.id == s.c.event_id))


def _session_row(conn: Connection, session_id: str) -> Any:
    """One session's stored row (by its primary key) in ``_sessions_page``'s shape."""
    return conn.execute(_session_select().where(DisplaySession.__table__.c.id == session_id)).first()


def _sessions_page(conn: Connection, q: ListQuery) -> list[Any]:
    s, e = DisplaySession.__table__, Event.__table__
    stmt = _session_select()
    if q.event_id:
        stmt = stmt.where(s.c.event_id == q.event_id)
    if q.status:
        stmt = stmt.where(s.c.status == q.status)
    if q.date_from:
        stmt = stmt.where(e.c.date >= q.date_from)
    if q.date_to:
        stmt = stmt.where(e.c.date <= q.date_to)
    stmt = stmt.order_by(s.c.created_at.desc(), s.c.id.desc()).limit(q.limit + 1).offset(q.offset)
    return list(conn.execute(stmt))


def _about(conn: Connection, ids: list[str], check: Mapping[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Per session id: finishers, last_finisher_at, streams, screens (stored count, and which of
    ``check``'s connected identities are stored already)."""
    d, ss, ts, sc = (
        DisplayEvent.__table__,
        SessionStream.__table__,
        TimingStream.__table__,
        ScreenSeen.__table__,
    )
    out: dict[str, dict[str, Any]] = {
        i: {"finishers": 0, "last_finisher_at": None, "streams": [], "screens": 0, "stored": set()}
        for i in ids
    }
    finishers = (  # counted in the index (session_id, kind, bib): no row is read
        select(d.c.session_id, func.count())
        .where(d.c.session_id.in_(ids), d.c.kind == "finisher")
        .group_by(d.c.session_id)
    )
    for sid, n in conn.execute(finishers):
        out[sid]["finishers"] = n
        # the last finish: backwards along the primary key (session_id, seq), the first finisher
        # met ("+kind" keeps SQLite on that key instead of sorting the kind index's rows)
        last = text(
            "SELECT created_at FROM display_events WHERE session_id = :sid AND +kind = 'finisher' "
            "ORDER BY seq DESC LIMIT 1"
        )
        out[sid]["last_finisher_at"] = conn.execute(last, {"sid": sid}).scalar()
    streams = (
        select(ss.c.session_id, ts.c.id, ts.c.client, ts.c.protocol, ts.c.event_name, ts.c.locations)
        .select_from(ss.join(ts, ts.c.id == ss.c.stream_id))
        .where(ss.c.session_id.in_(ids))
        .order_by(ss.c.session_id, ss.c.created_at)
    )
    for sid, stream_id, client, protocol, event_name, locations in conn.execute(streams):
        out[sid]["streams"].append(
            {
                "id": stream_id,
                "client": client,
                "protocol": protocol,
                "event_name": event_name,
                "locations": list(locations or []),
            }
        )
    counts = select(sc.c.session_id, func.count()).where(sc.c.session_id.in_(ids)).group_by(sc.c.session_id)
    for sid, n in conn.execute(counts):
        out[sid]["screens"] = n
    for sid, identities in check.items():
        if identities:
            stored = select(sc.c.screen).where(sc.c.session_id == sid, sc.c.screen.in_(identities))
            out[sid]["stored"] = {r[0] for r in conn.execute(stored)}
    return out


def _finishers_page(conn: Connection, sid: str, after: int, limit: int) -> tuple[list[Any], list[Any]]:
    """(up to ``limit`` + 1 finisher rows after seq ``after``, the corrections of those finishes)."""
    d = DisplayEvent.__table__
    rows = list(
        conn.execute(
            select(d.c.seq, d.c.payload, d.c.created_at)
            .where(d.c.session_id == sid, d.c.kind == "finisher", d.c.seq > after)
            .order_by(d.c.seq)
            .limit(limit + 1)
        )
    )
    if not rows:
        return rows, []
    corrects = func.json_extract(d.c.payload, "$.corrects_seq")
    corrections = conn.execute(  # the session's corrections from the kind index (few), sorted here
        select(d.c.seq, d.c.payload, d.c.created_at)
        .where(d.c.session_id == sid, d.c.kind == "correction")
        .where(corrects >= rows[0].seq, corrects <= rows[min(limit, len(rows)) - 1].seq)
    )
    return rows, sorted(corrections, key=lambda r: r.seq)


def _suppressions_query(conn: Connection, where: Any, order: Any, limit: int, offset: int = 0) -> list[Any]:
    s, r = Suppression.__table__, Read.__table__
    joined = s.outerjoin(
        r, (r.c.stream_id == s.c.stream_id) & (r.c.location == s.c.location) & (r.c.seq == s.c.read_seq)
    )
    stmt = (
        select(
            s.c.session_id,
            s.c.stream_id,
            s.c.location,
            s.c.read_seq,
            s.c.bib,
            s.c.code,
            s.c.reason,
            s.c.created_at,
            r.c.clock,
        )
        .select_from(joined)
        .where(*where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(stmt))


def _suppressions_page(conn: Connection, sid: str, offset: int, limit: int) -> list[Any]:
    s = Suppression.__table__
    # the order of the index (session_id, created_at) itself, rowid breaking ties: no sort
    order = (s.c.created_at, literal_column("suppressions.rowid"))
    return _suppressions_query(conn, (s.c.session_id == sid,), order, limit + 1, offset)


def _event_sessions(conn: Connection, event_id: str) -> list[Any]:
    s = DisplaySession.__table__
    stmt = select(s.c.id, s.c.name, s.c.status, s.c.created_at).where(s.c.event_id == event_id)
    return list(conn.execute(stmt.order_by(s.c.created_at, s.c.id)))


def _bib_rows(conn: Connection, ids: list[str], bib: str, limit: int) -> tuple[list[Any], list[Any]]:
    d, s = DisplayEvent.__table__, Suppression.__table__
    # no ORDER BY: it would make SQLite walk each session's events along the primary key instead
    # of looking the bib up in (session_id, kind, bib); a bib has few rows, sorted here
    shown = conn.execute(
        select(d.c.session_id, d.c.seq, d.c.kind, d.c.location, d.c.payload, d.c.created_at)
        .where(d.c.session_id.in_(ids), d.c.kind.in_(("finisher", "correction")), d.c.bib == bib)
        .limit(limit)
    )
    hidden: list[Any] = _suppressions_query(conn, (s.c.session_id.in_(ids), s.c.bib == bib), (), limit)
    for sid in ids:  # by (stream, bib): ix_reads_stream_bib
        hidden += _location_filtered(conn, sid, bib, limit)
    return sorted(shown, key=lambda r: (r.session_id, r.seq)), hidden


# --- shaping ---------------------------------------------------------------------------------------


def _finish(seq: int, payload: dict[str, Any], shown_at: float) -> dict[str, Any]:
    out: dict[str, Any] = {"seq": seq, **{k: payload.get(k) for k in _FINISH_FIELDS}}
    out.update(shown_at=shown_at, corrected=False, corrections=[], replay=bool(payload.get("replay")))
    return out


def _correct(finish: dict[str, Any], seq: int, payload: dict[str, Any], at: float) -> None:
    """The finish in its latest form (as results.csv has it): the correction's fields win."""
    finish.update({k: payload.get(k) for k in _FINISH_FIELDS})
    finish["corrected"] = True
    finish["corrections"].append({"seq": seq, "name": payload.get("name"), "shown_at": at})


def _suppression(row: Any) -> dict[str, Any]:
    """A suppression row (``_suppressions_query``) or a recomputed one (``filtered_reads``, a
    dict with the read's ``clock`` added by ``_with_clocks``) as the history answers it."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    clock, code = get("clock"), get("code")
    return {
        "session_id": get("session_id"),
        "stream_id": get("stream_id"),
        "location": get("location"),
        "read_seq": get("read_seq"),
        "bib": get("bib"),
        "time": None if clock is None else format_time_of_day(clock),  # as a finish shows it
        "code": code or "other",
        "label": SUPPRESSION_LABELS.get(code, code or "other"),
        "reason": get("reason"),
        "at": get("created_at"),
    }


def _with_clocks(conn: Connection, session_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``filtered_reads``' rows with their session and their read's clock (primary key lookups)."""
    r = Read.__table__
    keys = [(x["stream_id"], x["location"], x["read_seq"]) for x in rows]
    clocks: dict[tuple[str, str, int], float] = {}
    for i in range(0, len(keys), 300):
        q = select(r.c.stream_id, r.c.location, r.c.seq, r.c.clock).where(
            tuple_(r.c.stream_id, r.c.location, r.c.seq).in_(keys[i : i + 300])
        )
        clocks.update({(a, b, c): clock for a, b, c, clock in conn.execute(q)})
    key = ("stream_id", "location", "read_seq")
    return [{**x, "session_id": session_id, "clock": clocks.get(tuple(x[k] for k in key))} for x in rows]


def _location_filtered(
    conn: Connection, session_id: str, bib: str | None, limit: int
) -> list[dict[str, Any]]:
    """The session's reads at a location it does not show (not stored as suppressions since
    migration 0015: recomputed from the reads and its rules, ``sessions.queries.filtered_reads``),
    newest first, at most ``limit``."""
    return _with_clocks(conn, session_id, filtered_reads(conn, session_id, bib=bib, limit=limit))


class SessionHistory:
    """The history's three questions (module docstring).  Holds no state; loop-side only."""

    def __init__(
        self,
        store: Store,
        events: EventService,
        sessions: SessionService,
        screens: Callable[[str], Iterable[Any]] = lambda _sid: (),
    ) -> None:
        self._store = store
        self._events = events
        self._sessions = sessions
        self._screens = screens  # the hub's connected screens of a session

    def _connected(self, session_id: str) -> list[str]:
        """Identities of the session's screens connected now that said who they are."""
        return sorted(
            {s.identity[:80] for s in self._screens(session_id) if not getattr(s, "awaiting_resume", False)}
        )

    async def _summaries(self, rows: list[Any]) -> list[dict[str, Any]]:
        ids = [r.id for r in rows]
        check = {sid: self._connected(sid) for sid in ids}
        about = await self._store.run(_about, ids, check) if ids else {}
        out = []
        for r in rows:
            a = about[r.id]
            seen = a["screens"] + len(set(check[r.id]) - a["stored"])
            out.append(
                {
                    "id": r.id,
                    "name": r.name,
                    "event_id": r.event_id,
                    "event_name": r.event_name,
                    "date": r.date,
                    "created_at": r.created_at,
                    "status": r.status,
                    "closed": r.status == "closed",
                    "mode": r.mode,
                    "streams": a["streams"],
                    "finishers": a["finishers"],
                    "screens_seen": seen,
                    "last_finisher_at": a["last_finisher_at"],
                }
            )
        return out

    async def list_sessions(self, q: ListQuery) -> dict[str, Any]:
        """One page of sessions, newest first: ``{"sessions", "limit", "offset", "next_offset"}``
        (``next_offset`` null on the last page).  An unknown ``event_id`` is a 404."""
        if q.event_id:
            self._events.event(q.event_id)  # RosterNotFound (404)
        rows = await self._store.run(_sessions_page, q)
        more = len(rows) > q.limit
        sessions = await self._summaries(rows[: q.limit])
        return {
            "sessions": sessions,
            "limit": q.limit,
            "offset": q.offset,
            "next_offset": q.offset + q.limit if more else None,
        }

    async def summary(self, session_id: str) -> dict[str, Any]:
        """One session's summary as listed (``SessionNotFound`` for an unknown id)."""
        s = self._sessions.get(session_id)  # SessionNotFound (404)
        event = self._events.event(s.event_id)
        row = await self._store.run(_session_row, s.id)  # the stored record, as listed
        (out,) = await self._summaries([row])
        out["timezone"] = event.timezone
        return out

    async def session(self, session_id: str, q: PageQuery) -> dict[str, Any]:
        """The session read-only: its summary, a page of finishers (corrections applied) and a
        page of suppressions, each with the cursor of the next page (null: the last one)."""
        out = await self.summary(session_id)
        rows, corrections = await self._store.run(_finishers_page, session_id, q.finishers_after, q.limit)
        finishes = {seq: _finish(seq, payload, at) for seq, payload, at in rows[: q.limit]}
        for seq, payload, at in corrections:
            if (f := finishes.get(payload.get("corrects_seq"))) is not None:
                _correct(f, seq, payload, at)
        hidden = await self._store.run(_suppressions_page, session_id, q.suppressions_offset, q.limit)
        more_hidden = len(hidden) > q.limit
        filtered = []  # with the first page: the reads at locations it does not show (recomputed)
        if q.suppressions_offset == 0:
            filtered = await self._store.run(_location_filtered, session_id, None, q.limit)
        return {
            "session": out,
            "read_only": True,
            "finishers": list(finishes.values()),
            "finishers_next_after": rows[q.limit - 1].seq if len(rows) > q.limit else None,
            "suppressions": [_suppression(r) for r in hidden[: q.limit]],
            "suppressions_next_offset": q.suppressions_offset + q.limit if more_hidden else None,
            "location_filtered": [_suppression(r) for r in filtered],
        }

    async def bib_history(self, event_id: str, bib: str) -> dict[str, Any]:
        """Every appearance of ``bib`` (normalized) in the event's sessions, session by session
        (oldest first), each in the order it happened: a finish (with its corrections) or a
        suppressed read (with why).  At most ``MAX_APPEARANCES`` (``truncated`` says so)."""
        event = self._events.event(event_id)  # RosterNotFound (404)
        bib = normalize_bib(bib)
        sessions = await self._store.run(_event_sessions, event.id)
        appearances: list[dict[str, Any]] = []
        truncated = False
        for start in range(0, len(sessions), SESSIONS_PER_CALL):
            chunk = sessions[start : start + SESSIONS_PER_CALL]
            left = MAX_APPEARANCES - len(appearances)
            shown, hidden = await self._store.run(_bib_rows, [s.id for s in chunk], bib, left + 1)
            if len(shown) > left or len(hidden) > left:
                truncated = True
            appearances += _appearances(chunk, shown[:left], hidden[:left])
            if len(appearances) >= MAX_APPEARANCES:
                truncated = truncated or len(appearances) > MAX_APPEARANCES
                appearances = appearances[:MAX_APPEARANCES]
                break
        return {
            "event_id": event.id,
            "event_name": event.name,
            "bib": bib,
            "appearances": appearances,
            "truncated": truncated,
        }


def _appearances(sessions: list[Any], shown: list[Any], hidden: list[Any]) -> list[dict[str, Any]]:
    about = {s.id: s for s in sessions}
    per: dict[str, list[dict[str, Any]]] = {s.id: [] for s in sessions}
    finishes: dict[tuple[str, int], dict[str, Any]] = {}

    def base(sid: str) -> dict[str, Any]:
        s = about[sid]
        return {"session_id": sid, "session_name": s.name, "session_status": s.status}

    for sid, seq, kind, location, payload, at in shown:
        if kind == "finisher":
            f = {**base(sid), "kind": "finish", **_finish(seq, payload, at), "suppressed": False}
            f.update(location=payload.get("location") or location, code=None, reason=None, at=at)
            finishes[(sid, seq)] = f
            per[sid].append(f)
        elif (f := finishes.get((sid, payload.get("corrects_seq")))) is not None:
            _correct(f, seq, payload, at)
    for row in hidden:
        x = _suppression(row)
        per[x["session_id"]].append(
            {**base(x["session_id"]), "kind": "suppressed", "suppressed": True, "place": None, **x}
        )
    out = []
    for s in sessions:
        out += sorted(per[s.id], key=lambda a: (a["at"], a.get("seq") or 0))
    return out
