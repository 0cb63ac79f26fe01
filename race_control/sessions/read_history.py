"""Stored reads of one timing stream, newest first: the history behind the timing picker's preview.

Qt-free; each query runs as one unit on the store's DB thread (``Store.run``), so callers on
the event loop never block.  Newest means highest ``raw_n`` (the stream's arrival counter),
which is also right for imported controller files and re-sent reads.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from race_control.sessions.queries import filtered_reads
from race_control.store.database import Store
from race_control.store.models import DisplayEvent, Read, Suppression
from race_control.timing.ingest.stored_read import StoredRead

MAX_LIMIT = 10_000
ReadKey = tuple[str, str, int]  # (stream_id, location, seq): a read's identity


def _recent(conn: Connection, stream_id: str, limit: int, kind: str | None) -> list[StoredRead]:
    t = Read.__table__
    q = select(t).where(t.c.stream_id == stream_id)
    if kind is not None:
        q = q.where(t.c.kind == kind)
    rows = conn.execute(q.order_by(t.c.raw_n.desc(), t.c.location, t.c.seq.desc()).limit(limit)).mappings()
    return [StoredRead(**{k: r[k] for k in StoredRead.__slots__}) for r in rows]


async def recent_reads(
    store: Store, stream_id: str, limit: int, *, kind: str | None = "tag"
) -> list[StoredRead]:
    """The ``limit`` most recent stored reads of ``stream_id`` (tag reads unless ``kind`` says
    otherwise; ``None`` = every kind), newest first.  ``limit`` is clamped to 0..MAX_LIMIT."""
    limit = max(0, min(int(limit), MAX_LIMIT))
    if limit == 0:
        return []
    return await store.run(_recent, stream_id, limit, kind)


def _decisions(
    conn: Connection, session_id: str, stream_id: str, keys: set[ReadKey]
) -> dict[ReadKey, tuple[str, str]]:
    low = min(k[2] for k in keys)
    e, sup = DisplayEvent.__table__, Suppression.__table__
    out: dict[ReadKey, tuple[str, str]] = {}
    shown = conn.execute(
        select(e.c.location, e.c.read_seq, e.c.seq, e.c.payload).where(
            e.c.session_id == session_id,
            e.c.kind == "finisher",
            e.c.stream_id == stream_id,
            e.c.read_seq >= low,
        )
    )
    for location, read_seq, seq, payload in shown:
        key = (stream_id, location, read_seq)
        if key in keys:
            out[key] = ("shown" if payload.get("known", True) else "unknown", f"#{seq}")
    suppressed = conn.execute(
        select(sup.c.location, sup.c.read_seq, sup.c.reason).where(
            sup.c.session_id == session_id, sup.c.stream_id == stream_id, sup.c.read_seq >= low
        )
    )
    for location, read_seq, reason in suppressed:  # the current rules' verdict wins over an old announcement
        key = (stream_id, location, read_seq)
        if key in keys:
            out[key] = ("suppressed", reason)
    for row in filtered_reads(conn, session_id, keys=keys):  # not stored: recomputed (queries.py)
        out[(row["stream_id"], row["location"], row["read_seq"])] = ("suppressed", row["reason"])
    return out


async def stored_decisions(
    store: Store, session_id: str, reads: list[StoredRead]
) -> dict[ReadKey, tuple[str, str]]:
    """What display session ``session_id`` decided about ``reads`` (all of one stream), as stored:
    ``("shown" | "unknown", "#seq")`` or ``("suppressed", reason)``; undecided reads are absent."""
    if not reads:
        return {}
    stream_id = reads[0].stream_id
    keys = {(r.stream_id, r.location, r.seq) for r in reads if r.stream_id == stream_id}
    return await store.run(_decisions, session_id, stream_id, keys)
