"""The local outbox (store migration 0008): what the SQLite triggers record, on a real store file.

No central database here: these are the local halves of the guarantees (a change is recorded
in its own transaction whatever code made it; pulled rows are not recorded; the clock only
moves forward; the backlog counts what is not central).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from race_control.store.database import Store
from race_control.sync.outbox import backlog, device_id, mark_pushed, read_batch


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "race-control.sqlite3")
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def rows(conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
    result = conn.execute(text("SELECT tbl, key, hlc, origin, deleted, pending, changed_at FROM sync_rows"))
    return {(r.tbl, r.key): dict(r._mapping) for r in result}


def add_event(conn: Connection, event_id: str, name: str = "Race") -> None:
    conn.execute(
        text(
            "INSERT INTO events (id, name, date, timezone, created_at, updated_at) "
            "VALUES (:id, :name, '2026-06-01', 'UTC', 1.0, 1.0)"
        ),
        {"id": event_id, "name": name},
    )


def test_every_write_to_an_entity_table_is_recorded_in_its_own_transaction(store: Store) -> None:
    with store.engine.begin() as conn:  # plain SQL: no operation, no ORM, still recorded
        add_event(conn, "e1")
        first = rows(conn)[("events", "e1")]
        assert first["pending"] and not first["deleted"] and first["origin"] == device_id(conn)
        conn.execute(text("UPDATE events SET name = 'Renamed' WHERE id = 'e1'"))
        second = rows(conn)[("events", "e1")]
        assert second["hlc"] > first["hlc"]
        assert second["changed_at"] == first["changed_at"]  # pending since the first change
        conn.execute(text("DELETE FROM events WHERE id = 'e1'"))
        assert rows(conn)[("events", "e1")]["deleted"]
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        add_event(conn, "e2")
        raise RuntimeError("the action fails after its write")
    with store.engine.connect() as conn:
        assert ("events", "e2") not in rows(conn)  # rolled back with the change


def test_a_checked_off_row_changed_again_is_pending_with_a_new_time(store: Store) -> None:
    with store.engine.begin() as conn:
        add_event(conn, "e1")
    batch = store.run_sync(read_batch)
    store.run_sync(mark_pushed, batch)
    with store.engine.begin() as conn:
        assert not rows(conn)[("events", "e1")]["pending"]
        before = rows(conn)[("events", "e1")]
        conn.execute(text("UPDATE events SET name = 'Again' WHERE id = 'e1'"))
        after = rows(conn)[("events", "e1")]
    assert after["pending"] and after["hlc"] > before["hlc"] and after["changed_at"] >= before["changed_at"]


def test_rows_written_while_applying_pulled_changes_are_not_recorded(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE sync_clock SET applying = 1"))
        add_event(conn, "pulled")
        conn.execute(text("UPDATE sync_clock SET applying = 0"))
        add_event(conn, "local")
        assert set(rows(conn)) == {("events", "local")}


def test_the_clock_never_goes_back(store: Store) -> None:
    """A clock far ahead (a change pulled from a laptop whose clock runs fast) is not undone by
    this laptop's slower wall clock: every later change here sorts after it."""
    ahead = (2**62) | 5
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE sync_clock SET hlc = :h"), {"h": ahead})
        add_event(conn, "e1")
        add_event(conn, "e2")
        recorded = rows(conn)
    assert recorded[("events", "e1")]["hlc"] == ahead + 1
    assert recorded[("events", "e2")]["hlc"] == ahead + 2


def test_session_links_are_keyed_by_session_and_stream(store: Store) -> None:
    with store.engine.begin() as conn:
        add_event(conn, "e1")
        conn.execute(
            text(
                "INSERT INTO timing_streams (id, protocol, source_key, client, event_name, source_event_id, "
                "remote_addr, locations, reference_date, timezone, live, bad_lines, clock_warnings, "
                "last_clock_warning, claimed_from, suspect, created_at, updated_at) VALUES "
                "('s1', 'ctp01', 'box', '', '', '', '', '[]', '', 'UTC', 1, 0, 0, '', '', 0, 1.0, 1.0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO display_sessions (id, token, event_id, name, mode, locations, rules, status, "
                "settings, created_at, updated_at) VALUES ('d1', 't', 'e1', '', 'results', '[]', '{}', "
                "'open', '{}', 1.0, 1.0)"
            )
        )
        conn.execute(
            text("INSERT INTO session_streams (session_id, stream_id, created_at) VALUES ('d1', 's1', 1.0)")
        )
        conn.execute(text("DELETE FROM session_streams"))
        link = rows(conn)[("session_streams", "d1 s1")]
    assert link["deleted"]
    batch = store.run_sync(read_batch)
    (change,) = [e for e in batch.entities if e.table == "session_streams"]
    assert change.key == "d1 s1" and change.deleted


def test_the_backlog_counts_pending_entities_and_append_rows_above_their_cursors(store: Store) -> None:
    assert store.run_sync(backlog).rows == 0 and store.run_sync(backlog).since is None
    with store.engine.begin() as conn:
        add_event(conn, "e1")
        conn.execute(
            text(
                "INSERT INTO timing_streams (id, protocol, source_key, client, event_name, source_event_id, "
                "remote_addr, locations, reference_date, timezone, live, bad_lines, clock_warnings, "
                "last_clock_warning, claimed_from, suspect, created_at, updated_at) VALUES "
                "('s1', 'ctp01', 'box', '', '', '', '', '[]', '', 'UTC', 1, 0, 0, '', '', 0, 1.0, 1.0)"
            )
        )
        for n in range(1, 6):
            conn.execute(
                text("INSERT INTO raw_lines (stream_id, n, received_at, line) VALUES ('s1', :n, :t, 'x')"),
                {"n": n, "t": 100.0 + n},
            )
    known = store.run_sync(backlog)
    assert known.rows == 2 + 5
    assert known.since == 101.0  # the oldest raw line
    batch = store.run_sync(read_batch, 10, 3)
    assert [len(a.rows) for a in batch.appends] == [3]
    store.run_sync(mark_pushed, batch)
    known = store.run_sync(backlog)
    assert known.rows == 2 and known.since == 104.0
