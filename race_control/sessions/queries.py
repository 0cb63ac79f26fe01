"""Database work of the display sessions (runs on the store's DB thread, one unit each)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, func, select

from race_control.sessions.live import Derived
from race_control.store.models import DisplayEvent, DisplaySession, Read, SessionStream, Suppression
from race_control.timing.ingest.stored_read import StoredRead

_EVENT_COLUMNS = (
    "session_id",
    "seq",
    "kind",
    "bib",
    "stream_id",
    "location",
    "read_seq",
    "payload",
    "created_at",
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
_INSERT_EVENT = (
    f"INSERT INTO {DisplayEvent.__tablename__} ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
)
_INSERT_SUPPRESSION = (
    f"INSERT OR IGNORE INTO {Suppression.__tablename__} ({', '.join(_SUPPRESSION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_SUPPRESSION_COLUMNS))})"
)


def write_derived(conn: Connection, derived: Derived) -> None:
    """Display events and suppressions of one batch.  Plain driver inserts (JSON encoded here,
    as SQLAlchemy's JSON type stores it): this sits on the read → screen path, where SQLAlchemy's
    per-row processing cost ~0.2 ms of a ~1 ms budget."""
    if derived.events:
        rows = [
            tuple(json.dumps(r[c]) if c == "payload" else r[c] for c in _EVENT_COLUMNS)
            for r in derived.events
        ]
        conn.exec_driver_sql(_INSERT_EVENT, rows)
    if derived.suppressions:
        conn.exec_driver_sql(
            _INSERT_SUPPRESSION, [tuple(r[c] for c in _SUPPRESSION_COLUMNS) for r in derived.suppressions]
        )


def stream_reads(conn: Connection, stream_ids: list[str]) -> list[StoredRead]:
    """Reads of the given streams in arrival order (the order the live path saw them)."""
    if not stream_ids:
        return []
    t = Read.__table__
    rows = (
        conn.execute(
            select(t).where(t.c.stream_id.in_(stream_ids)).order_by(t.c.received_at, t.c.stream_id, t.c.raw_n)
        )
        .mappings()
        .all()
    )
    return [StoredRead(**{k: r[k] for k in StoredRead.__slots__}) for r in rows]


def load_sessions(conn: Connection) -> tuple[list[Any], list[Any], dict[str, int]]:
    rows = list(conn.execute(select(DisplaySession.__table__)).all())
    links = list(conn.execute(select(SessionStream.__table__)).all())
    t = DisplayEvent.__table__
    seqs = dict(conn.execute(select(t.c.session_id, func.max(t.c.seq)).group_by(t.c.session_id)).all())
    return rows, links, seqs


def announced_reads(conn: Connection, session_id: str) -> set[tuple[str, str, int]]:
    t = DisplayEvent.__table__
    rows = conn.execute(
        select(t.c.stream_id, t.c.location, t.c.read_seq).where(
            t.c.session_id == session_id, t.c.kind == "finisher"
        )
    )
    return {(r[0], r[1], r[2]) for r in rows}


def replace_suppressions(conn: Connection, session_id: str, derived: Derived) -> None:
    conn.execute(delete(Suppression.__table__).where(Suppression.__table__.c.session_id == session_id))
    write_derived(conn, derived)


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
    t = Suppression.__table__
    q = select(
        t.c.stream_id, t.c.location, t.c.read_seq, t.c.bib, t.c.code, t.c.reason, t.c.created_at
    ).where(t.c.session_id == session_id)
    if bib:
        q = q.where(t.c.bib == bib)
    rows = conn.execute(q.order_by(t.c.created_at.desc()).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


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


def uncorrected_unknowns(conn: Connection, session_id: str) -> list[dict[str, Any]]:
    """Finishers shown as "Bib N" that no correction has named yet (rebuilt after a restart)."""
    t = DisplayEvent.__table__
    rows = conn.execute(
        select(t.c.kind, t.c.payload).where(
            t.c.session_id == session_id, t.c.kind.in_(("finisher", "correction"))
        )
    ).all()
    corrected = {p.get("corrects_seq") for kind, p in rows if kind == "correction"}
    return [
        p for kind, p in rows if kind == "finisher" and not p.get("known", True) and p["seq"] not in corrected
    ]
