"""``store.outbox_bulk``: a large write's outbox rows in bulk are what the per-row triggers write.

Two real store files get the same participants (a 50,000-row import takes the bulk path: its
upsert runs through ``roster.service._upsert_participants``), one row at a time through the
triggers and once in bulk: the same outbox rows, the same clock, hlc values in the rows' order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from race_control.ids import new_id
from race_control.roster.participants import ParticipantRow
from race_control.roster.service import BULK_OUTBOX_MIN, UPSERT_SQL, _upsert_participants
from race_control.store.database import Store
from race_control.store.outbox_bulk import bulk_outbox
from race_control.sync.outbox import device_id


def _store(path: Path) -> Store:
    s = Store(path)
    s.migrate()
    with s.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, name, date, timezone, created_at, updated_at) "
                "VALUES ('e1', 'Race', '2026-06-01', 'UTC', 1.0, 1.0)"
            )
        )
    return s


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    a, b = _store(tmp_path / "a.sqlite3"), _store(tmp_path / "b.sqlite3")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def outbox(conn: Connection) -> dict[str, dict[str, Any]]:
    result = conn.execute(
        text(
            "SELECT key, hlc, origin, deleted, pending, changed_at FROM sync_rows WHERE tbl = 'participants'"
        )
    )
    return {r.key: dict(r._mapping) for r in result}


def clock(conn: Connection) -> tuple[int, int]:
    hlc, applying = conn.execute(text("SELECT hlc, applying FROM sync_clock")).one()
    return int(hlc), int(applying)


def people(n: int, start: int = 1) -> list[tuple[str, ParticipantRow]]:
    return [
        (new_id(), ParticipantRow(bib=str(i), first_name=f"R{i}", raw={"Shirt": "M"}))
        for i in range(start, start + n)
    ]


def test_a_large_upsert_records_what_the_triggers_record(stores: tuple[Store, Store]) -> None:
    by_trigger, in_bulk = stores
    rows = people(BULK_OUTBOX_MIN + 50)
    with by_trigger.engine.begin() as conn:
        before = clock(conn)[0]
        for pid, r in rows:  # one at a time: each through the triggers
            _upsert_participants(conn, "e1", [(pid, r)], "csv")
        expected = outbox(conn)
    with in_bulk.engine.begin() as conn:
        # a probe with the sync triggers' own condition: it must not fire for a bulk write
        conn.execute(text("CREATE TABLE probe (n INTEGER)"))
        conn.execute(
            text(
                "CREATE TRIGGER probe_insert AFTER INSERT ON participants "
                "WHEN (SELECT applying FROM sync_clock LIMIT 1) IS NOT 1 BEGIN INSERT INTO probe VALUES (1); END"
            )
        )
        bulk_before = clock(conn)[0]
        _upsert_participants(conn, "e1", rows, "csv")
        assert conn.execute(text("SELECT count(*) FROM probe")).scalar_one() == 0
        got = outbox(conn)
        after, applying = clock(conn)
        device = device_id(conn)
    assert applying == 0
    assert set(got) == set(expected) == {pid for pid, _ in rows}
    for key, row in got.items():
        assert (row["origin"], row["deleted"], row["pending"]) == (device, 0, 1)
        assert (expected[key]["deleted"], expected[key]["pending"]) == (0, 1)
    hlcs = [got[pid]["hlc"] for pid, _ in rows]
    assert hlcs == sorted(hlcs) and len(set(hlcs)) == len(hlcs)  # in the rows' order, each its own
    assert hlcs[0] > bulk_before and hlcs[-1] == after  # the clock moved past every one
    assert max(r["hlc"] for r in expected.values()) > before


def test_a_second_import_keeps_a_pending_rows_changed_at_and_re_pends_a_pushed_one(
    stores: tuple[Store, Store],
) -> None:
    store, _ = stores
    rows = people(BULK_OUTBOX_MIN)
    with store.engine.begin() as conn:
        _upsert_participants(conn, "e1", rows, "csv")
        first = outbox(conn)
    pushed = {pid for pid, _ in rows[: len(rows) // 2]}
    with store.engine.begin() as conn:  # half of them reached the central database (checked off)
        conn.execute(text("UPDATE sync_rows SET changed_at = 5.0 WHERE tbl = 'participants'"))
        for pid in pushed:
            conn.execute(text("UPDATE sync_rows SET pending = 0 WHERE key = :k"), {"k": pid})
    with store.engine.begin() as conn:
        _upsert_participants(conn, "e1", rows, "csv")  # the same file again
        again = outbox(conn)
    for pid, _ in rows:
        assert again[pid]["pending"] == 1 and again[pid]["hlc"] > first[pid]["hlc"]
        if pid in pushed:
            assert again[pid]["changed_at"] > 5.0  # pending again from now
        else:
            assert again[pid]["changed_at"] == 5.0  # still pending since it first changed


def test_a_pull_applying_records_nothing_and_a_failure_leaves_nothing(stores: tuple[Store, Store]) -> None:
    store, _ = stores
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE sync_clock SET applying = 1"))
        _upsert_participants(conn, "e1", people(BULK_OUTBOX_MIN), "pull")
        assert outbox(conn) == {}
        assert clock(conn)[1] == 1  # the pull's flag is the pull's to clear
        conn.execute(text("UPDATE sync_clock SET applying = 0"))
    rows = people(BULK_OUTBOX_MIN, start=1000)
    keys = [pid for pid, _ in rows]
    with pytest.raises(RuntimeError), store.engine.begin() as conn, bulk_outbox(conn, "participants", keys):
        values = [(pid, "e1", r.bib, r.first_name, *[""] * 11, 0, "{}", "csv", 1.0, 1.0) for pid, r in rows]
        conn.exec_driver_sql(UPSERT_SQL, values)
        raise RuntimeError("the action fails in the middle")
    with store.engine.connect() as conn:  # rolled back: no runner, no outbox row, not applying
        assert clock(conn)[1] == 0
        assert outbox(conn) == {}
        assert (
            conn.execute(text("SELECT count(*) FROM participants")).scalar_one() == BULK_OUTBOX_MIN
        )  # the pull's


def test_only_tables_with_an_id_keyed_trigger(stores: tuple[Store, Store]) -> None:
    store, _ = stores
    with (
        store.engine.begin() as conn,
        pytest.raises(ValueError, match="session_streams"),
        bulk_outbox(conn, "session_streams", ["a b"]),
    ):
        pass


def triggers(conn: Connection) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        )
    ]


def test_the_triggers_are_there_again_after_a_bulk_write_and_after_a_failed_one(
    stores: tuple[Store, Store],
) -> None:
    # the bulk write takes the table's insert/update triggers out of its way inside its
    # transaction: they are the same triggers after it, and still record the next single write
    store, _ = stores
    with store.engine.connect() as conn:
        before = triggers(conn)
    assert ("sync_participants_insert" in dict(before)) and ("sync_participants_update" in dict(before))
    with store.engine.begin() as conn:
        _upsert_participants(conn, "e1", people(BULK_OUTBOX_MIN), "csv")
    with pytest.raises(RuntimeError), store.engine.begin() as conn, bulk_outbox(conn, "participants", ["x"]):
        raise RuntimeError("the action fails in the middle")
    with store.engine.begin() as conn:
        assert triggers(conn) == before
        ((pid, row),) = people(1, start=5000)
        _upsert_participants(conn, "e1", [(pid, row)], "csv")  # one row: through the trigger
        assert pid in outbox(conn) and len(outbox(conn)) == BULK_OUTBOX_MIN + 1
