"""``read_batch(..., after=batch)``: the next batch read while ``batch`` is still on its way
(the worker overlaps the push of batch k with the read of k+1).  On a real store file, no
central database: what the next batch holds, row by row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from race_control.store.database import Store
from race_control.sync.outbox import Batch, backlog, mark_pushed, read_batch


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "race-control.sqlite3")
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def fill(store: Store, events: int, lines: int) -> None:
    with store.engine.begin() as conn:
        for i in range(events):
            conn.execute(
                text(
                    "INSERT INTO events (id, name, date, timezone, created_at, updated_at) "
                    "VALUES (:id, 'Race', '2026-06-01', 'UTC', 1.0, 1.0)"
                ),
                {"id": f"e{i}"},
            )
        conn.execute(
            text(
                "INSERT INTO timing_streams (id, protocol, source_key, client, event_name, source_event_id, "
                "remote_addr, locations, reference_date, timezone, live, bad_lines, clock_warnings, "
                "last_clock_warning, claimed_from, suspect, created_at, updated_at) VALUES "
                "('s1', 'ctp01', 'box', '', '', '', '', '[]', '', 'UTC', 1, 0, 0, '', '', 0, 1.0, 1.0)"
            )
        )
        for n in range(1, lines + 1):
            conn.execute(
                text("INSERT INTO raw_lines (stream_id, n, received_at, line) VALUES ('s1', :n, :t, :l)"),
                {"n": n, "t": 100.0 + n, "l": f"line {n}"},
            )


def lines_of(batch: Batch) -> list[str]:
    return [r["line"] for a in batch.appends if a.table == "raw_lines" for r in a.dicts()]


def keys_of(batch: Batch) -> list[tuple[str, str]]:
    return [(e.table, e.key) for e in batch.entities]


def test_the_next_batch_leaves_out_what_the_one_on_its_way_holds(store: Store) -> None:
    fill(store, events=3, lines=7)  # 3 events + 1 stream pending, 7 raw lines
    first = store.run_sync(read_batch, 2, 3)
    second = store.run_sync(read_batch, 2, 3, first)  # first not checked off yet
    assert lines_of(first) == ["line 1", "line 2", "line 3"]
    assert lines_of(second) == ["line 4", "line 5", "line 6"]
    assert not set(keys_of(first)) & set(keys_of(second)) and len(keys_of(second)) == 2
    store.run_sync(mark_pushed, first)  # the worker's order: k checked off, then k+1 pushed
    third = store.run_sync(read_batch, 2, 3, second)
    assert lines_of(third) == ["line 7"] and keys_of(third) == []
    store.run_sync(mark_pushed, second)
    store.run_sync(mark_pushed, third)
    assert store.run_sync(backlog).rows == 0
    assert store.run_sync(read_batch).empty


def test_a_change_made_while_its_batch_is_on_its_way_is_read_again(store: Store) -> None:
    fill(store, events=1, lines=0)
    first = store.run_sync(read_batch, 10, 10)
    assert ("events", "e0") in keys_of(first)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET name = 'Renamed' WHERE id = 'e0'"))
    second = store.run_sync(read_batch, 10, 10, first)
    (change,) = [e for e in second.entities if e.key == "e0"]
    assert change.row is not None and change.row["name"] == "Renamed"
    store.run_sync(mark_pushed, first)
    assert store.run_sync(backlog).rows == 1  # the newer change stays pending until sent
    store.run_sync(mark_pushed, second)
    assert store.run_sync(backlog).rows == 0


def test_after_a_delete_reset_the_cursor_the_next_batch_starts_from_the_cursor(store: Store) -> None:
    fill(store, events=0, lines=6)
    first = store.run_sync(read_batch, 10, 3)
    with store.engine.begin() as conn:  # resets the cursor below the deleted row
        conn.execute(text("DELETE FROM raw_lines WHERE n = 2"))
    second = store.run_sync(read_batch, 10, 3, first)
    # rowids may have been handed out again below the in-flight batch's top: sent again
    # (the central ON CONFLICT makes that harmless) rather than skipped
    assert lines_of(second) == ["line 1", "line 3", "line 4"]
