"""What a display session *is*, and the one mapping between it and its stored rows.

A ``SessionRecord`` holds every persistent fact of a display session: what the operator
set (name, mode, template, rules, status, schedule, leaderboard size, bound streams) and
what the server decided and must remember (its token, when and by whom its mode last
changed, the final counts of a closed session).  ``to_row``/``link_rows`` write it and
``from_row`` reads it back, so saving and loading cannot drift apart: a field that is
not here is not stored (``tests/sessions/test_session_state.py`` fails when a new
``LiveSession`` field is neither here nor declared derived).

Everything else a ``LiveSession`` holds is derived — rebuilt by ``replay.replaying`` from the
stored reads (crossing engine, places, leaderboard, counts) or from the stored display
events (the next seq, unknown bibs).

An action changes a session by building a new record (``dataclasses.replace``), writing
it, and only after the commit applying it (``apply``) or swapping in a session rebuilt
from it.  Pure: no I/O except the ``write_*`` functions, which run on the DB thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection

from race_control.sessions.live import LiveSession, Lookup
from race_control.sessions.rules import CrossingRules
from race_control.store.models import SessionStream, now

# where each field lives: a display_sessions column, a key of its `settings` JSON, or the
# session_streams link table
_COLUMNS = ("id", "token", "event_id", "name", "mode", "template_id", "rules", "status", "created_at")
_SETTINGS = (
    "starts_at",
    "switch_at",
    "mode_changed_at",
    "mode_changed_by",
    "leaderboard_top",
    "final_counts",
    "public",
)


@dataclass(frozen=True)
class SessionRecord:
    id: str
    token: str
    event_id: str
    name: str
    mode: str
    template_id: str | None
    rules: CrossingRules
    status: str
    created_at: float
    streams: frozenset[str] = frozenset()
    starts_at: float | None = None  # pre-race countdown target (epoch s)
    switch_at: float | None = None  # scheduled pre-race → results switch (epoch s)
    mode_changed_at: float | None = None
    mode_changed_by: str = ""  # "operator" | "first finisher" | "schedule"
    leaderboard_top: int = 0
    # (finishers, suppressed) when the session was closed: a closed session decides no reads,
    # so what it had counted is kept, not re-derived from reads that came after it closed
    final_counts: tuple[int, int] | None = None
    public: bool = False  # served beyond the venue by `race-control relay` (docs/sync.md)


RECORD_FIELDS = tuple(f.name for f in fields(SessionRecord))
# the LiveSession fields a record carries (final_counts lands in `finishers`/`suppressed`)
LIVE_FIELDS = tuple(name for name in RECORD_FIELDS if name != "final_counts")


def record_of(s: LiveSession) -> SessionRecord:
    """The persistent part of a live session."""
    values = {name: getattr(s, name) for name in LIVE_FIELDS}
    values["streams"] = frozenset(s.streams)
    final = (s.finishers, s.suppressed) if s.status == "closed" else None
    return SessionRecord(**values, final_counts=final)


def new_live(rec: SessionRecord, lookup: Lookup) -> LiveSession:
    """A session holding ``rec`` and nothing derived yet (an empty engine, no places)."""
    s = LiveSession(
        rec.id,
        rec.token,
        rec.event_id,
        rec.name,
        rec.mode,
        rec.template_id,
        rec.rules,
        rec.status,
        rec.created_at,
        lookup,
    )
    apply(rec, s)
    return s


def apply(rec: SessionRecord, s: LiveSession) -> None:
    """Set ``s``'s persistent fields to ``rec`` (an action's new state, after its commit).
    The rules are not applied here: new rules need a rebuilt session (``replay``)."""
    assert rec.id == s.id and rec.rules == s.rules, "a rule change swaps in a replayed session"
    for name in LIVE_FIELDS:
        if name == "streams":
            s.streams = set(rec.streams)
        elif name != "rules":
            setattr(s, name, getattr(rec, name))
    if rec.final_counts is not None:
        s.finishers, s.suppressed = rec.final_counts


def to_row(rec: SessionRecord) -> dict[str, Any]:
    """The display_sessions row (without the stream links: ``link_rows``)."""
    row: dict[str, Any] = {name: getattr(rec, name) for name in _COLUMNS}
    row["rules"] = rec.rules.to_json()
    row["locations"] = list(rec.rules.locations)  # a plain column for queries and the central copy
    row["updated_at"] = now()
    settings = {name: getattr(rec, name) for name in _SETTINGS}
    settings["final_counts"] = list(rec.final_counts) if rec.final_counts is not None else None
    row["settings"] = settings
    return row


def link_rows(rec: SessionRecord) -> list[dict[str, Any]]:
    stamp = now()
    return [{"session_id": rec.id, "stream_id": sid, "created_at": stamp} for sid in sorted(rec.streams)]


def from_row(row: Any, streams: Iterable[str], *, default_window: float = 30.0) -> SessionRecord:
    """A stored display_sessions row (and its stream ids) as a record; rows written before a
    setting existed get that setting's default."""
    extra = dict(row.settings or {})
    final = extra.get("final_counts")
    return SessionRecord(
        id=row.id,
        token=row.token,
        event_id=row.event_id,
        name=row.name,
        mode=row.mode,
        template_id=row.template_id,
        rules=CrossingRules.from_json(row.rules or None, default_window=default_window),
        status=row.status,
        created_at=row.created_at,
        streams=frozenset(streams),
        starts_at=extra.get("starts_at"),
        switch_at=extra.get("switch_at"),
        mode_changed_at=extra.get("mode_changed_at"),
        mode_changed_by=extra.get("mode_changed_by") or "",
        leaderboard_top=int(extra.get("leaderboard_top") or 0),
        final_counts=(int(final[0]), int(final[1])) if final else None,
        public=extra.get("public") is True,
    )


# --- stream links (DB thread, inside an action's transaction; the row: queries.save_session) --
def write_links(conn: Connection, links: list[dict[str, Any]]) -> None:
    if links:
        conn.execute(SessionStream.__table__.insert(), links)


def delete_link(conn: Connection, session_id: str, stream_id: str) -> None:
    t = SessionStream.__table__
    conn.execute(t.delete().where(t.c.session_id == session_id, t.c.stream_id == stream_id))


def changed_fields(old: SessionRecord, new: SessionRecord) -> dict[str, Any]:
    """What an action changed, JSON-able (the ``data`` of its ``Change``)."""
    out: dict[str, Any] = {}
    for name in RECORD_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            out[name] = _plain(after)
    return out


def summary(rec: SessionRecord) -> dict[str, Any]:
    """Every field, JSON-able (a created session's ``Change``)."""
    return {name: _plain(getattr(rec, name)) for name in RECORD_FIELDS}


def _plain(value: Any) -> Any:
    if isinstance(value, CrossingRules):
        return value.to_json()
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value
