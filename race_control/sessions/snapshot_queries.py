"""Database work of the session snapshots (``sessions.snapshot``), on the store's DB thread."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.sqlite import insert

from race_control.store.models import DisplayEvent, Read, SessionSnapshot, TimingStream

Stored = tuple[str, int, bytes, bytes]  # fingerprint, last seq, state, unknown bibs


def load_snapshots(conn: Connection) -> dict[str, Stored]:
    """session id -> its stored snapshot."""
    t = SessionSnapshot.__table__
    rows = conn.execute(select(t.c.session_id, t.c.fingerprint, t.c.last_seq, t.c.state, t.c.unknown))
    return {r[0]: (r[1], int(r[2]), bytes(r[3]), bytes(r[4])) for r in rows}


def stored_to(conn: Connection) -> dict[str, int]:
    """Each stream's highest stored raw_n (streams with reads): one look into
    ``ix_reads_stream_arrival`` (stream_id, raw_n) a stream, not a scan of it (a GROUP BY over
    every read: 25 ms at 250,000)."""
    t, streams = Read.__table__, TimingStream.__table__
    out = {}
    for (stream_id,) in conn.execute(select(streams.c.id)):
        n = conn.execute(select(func.max(t.c.raw_n)).where(t.c.stream_id == stream_id)).scalar()
        if n is not None:
            out[stream_id] = int(n)
    return out


def events_after(conn: Connection, session_id: str, seq: int) -> list[tuple[str, dict[str, Any]]]:
    """(kind, payload) of the session's finishers and corrections after ``seq``, in seq order."""
    t = DisplayEvent.__table__
    rows = conn.execute(
        select(t.c.kind, t.c.payload)
        .where(t.c.session_id == session_id, t.c.seq > seq, t.c.kind.in_(("finisher", "correction")))
        .order_by(t.c.seq)
    )
    return [(r[0], r[1]) for r in rows]


def save_snapshot(
    conn: Connection, session_id: str, fp: str, last_seq: int, taken_at: float, state: bytes, unknown: bytes
) -> None:
    t = SessionSnapshot.__table__
    values = {
        "fingerprint": fp,
        "last_seq": last_seq,
        "taken_at": taken_at,
        "state": state,
        "unknown": unknown,
    }
    stmt = insert(t).values(session_id=session_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.session_id], set_=values))


def uncorrected_unknowns(conn: Connection, session_id: str) -> list[dict[str, Any]]:
    """Finishers shown as "Bib N" that no correction has named yet, in seq order (a session with
    no usable snapshot, at start-up), filtered in SQL so
    only those payloads are decoded, not every finisher's (88,000 a session in a 250k-read race)."""
    t = DisplayEvent.__table__
    corrected = select(func.json_extract(t.c.payload, "$.corrects_seq")).where(
        t.c.session_id == session_id, t.c.kind == "correction"
    )
    rows = conn.execute(
        select(t.c.payload)
        .where(
            t.c.session_id == session_id,
            t.c.kind == "finisher",
            func.json_extract(t.c.payload, "$.known") == 0,
            t.c.seq.not_in(corrected.scalar_subquery()),
        )
        .order_by(t.c.seq)
    )
    return [r[0] for r in rows]
