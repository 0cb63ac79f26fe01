"""Per-session decisions stored compactly, analytics from aggregates: the same answers.

A read at a location a session does not show is not stored as a suppression row per session
(store migration 0015): the suppressions view recomputes it from the read and the rules.  The
analytics come from aggregates kept by triggers in the reads' transaction.  Both are checked
here against references computed independently of that code: the suppression log a full replay
of the stored reads writes (what every session stored before 0015), and the analytics the old
full scan of the rows computed (kept below as ``full_scan``), on a race through the real app.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, and_, event, func, select, text

from race_control.analytics import _query
from race_control.app import RaceControl
from race_control.sessions import queries as q
from race_control.sessions.live import Derived
from race_control.sessions.read_consumer import SessionBatch
from race_control.sessions.replay import replaying
from race_control.sessions.session_record import record_of
from race_control.store.database import Store, alembic_config
from race_control.store.models import DisplayEvent, Read, Suppression
from race_control.timing.ingest import pipeline
from race_control.timing.ingest.pipeline import _write_batch
from race_control.timing.ingest.stored_read import StoredRead
from tests.conftest import Api
from tests.display.test_resume import setup_session
from tests.helpers.live_app import drain_until

FINISH = {"locations": ["finish"], "start_locations": ["start"], "duplicate_window": 30}
SPLIT = {"locations": ["9k"], "lines": [{"location": "9kb", "line": "9k"}]}  # a backup mat: Python path


def race_lines() -> tuple[bytes, int]:
    out, n = [], 0

    def line(location: str, bib: str, clock: str) -> None:
        nonlocal n
        n += 1
        out.append(f"CT01_33~{n}~{location}~{bib}~{clock}~0~0FA22E~1\r\n")

    line("start", "guntime", "08:59:30.00")
    for b in range(1, 13):
        line("start", str(b), f"09:00:{b:02d}.00")
        line("9k", str(b), f"09:{20 + b:02d}:00.00")
        line("9kb", str(b), f"09:{20 + b:02d}:00.40")
        line("finish", str(b), f"09:{40 + b:02d}:10.00")
        line("finish", str(b), f"09:{40 + b:02d}:12.00")  # a duplicate
    for b in ("60", "61", "99997"):  # two bibs nobody wears, a test tag
        line("finish", b, "09:55:00.00")
        line("9k", b, "09:30:00.00")
    return "".join(out).encode(), n - 1  # tag reads (the gun is not one)


async def race(rc: RaceControl, api: Api) -> tuple[list[str], Any]:
    a, client = await setup_session(api, rc.timing_port)
    await api.ok("PATCH", f"/api/sessions/{a['id']}", {"rules": FINISH})
    stream = (await api.ok("GET", "/api/timing/sessions"))[0]
    b = await api.ok(
        "POST",
        "/api/sessions",
        {"event_id": a["event_id"], "mode": "results", "rules": SPLIT, "timing_session_ids": [stream["id"]]},
        201,
    )
    data, tags = race_lines()
    await client.send(data)
    await drain_until(
        rc, lambda: api.ok("GET", "/api/timing/sessions"), lambda st: st[0]["reads"] >= tags, timeout=20
    )
    await rc.services.pipeline.drain()
    return [a["id"], b["id"]], client


def key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["stream_id"], row["location"], row["read_seq"], row["bib"], row["code"], row["reason"])


async def full_log(rc: RaceControl, session_id: str) -> list[tuple[Any, ...]]:
    """Every suppression of the session, as a full replay of its stored reads writes them."""
    s = rc.services.sessions.get(session_id)
    reads = await rc.services.store.run(q.stream_reads, sorted(s.streams))
    steps = replaying(record_of(s), rc.services.events.participant, reads)
    try:
        while True:
            next(steps)
    except StopIteration as done:
        return sorted(key(r) for r in done.value.derived.suppressions)


def full_scan(conn: Connection, session_id: str, stream_ids: list[str]) -> dict[str, Any]:
    """The analytics as computed before 0015: a scan of the rows (the suppressions' counts come
    from the full log, as the location-filtered rows are not stored any more)."""
    r, d = Read.__table__, DisplayEvent.__table__
    reads = Counter(
        int(c // 60)
        for (c,) in conn.execute(select(r.c.clock).where(r.c.stream_id.in_(stream_ids), r.c.kind == "tag"))
    )
    joined = d.join(
        r, and_(r.c.stream_id == d.c.stream_id, r.c.location == d.c.location, r.c.seq == d.c.read_seq)
    )
    finishers: Counter[int] = Counter()
    unknown = []
    for clock, payload in conn.execute(
        select(r.c.clock, d.c.payload)
        .select_from(joined)
        .where(d.c.session_id == session_id, d.c.kind == "finisher")
    ):
        finishers[int(clock // 60)] += 1
        if not payload.get("known", True):
            unknown.append(payload.get("bib", ""))
    return {"reads": reads, "finishers": finishers, "unknown": unknown}


async def test_suppressions_api_lists_exactly_the_full_decision_log(rc: RaceControl, api: Api) -> None:
    sessions, client = await race(rc, api)
    for sid in sessions:
        expected = await full_log(rc, sid)
        assert any(k[4] == "location_filtered" for k in expected), "the race must filter locations"
        listed = await api.ok("GET", f"/api/sessions/{sid}/suppressions?limit=1000")
        assert sorted(key(r) for r in listed) == expected
        times = [r["created_at"] for r in listed]
        assert times == sorted(times, reverse=True)  # newest first, stored and recomputed merged
        for bib in ("3", "60", "99997"):
            by_bib = await api.ok("GET", f"/api/sessions/{sid}/suppressions?bib={bib}")
            assert sorted(key(r) for r in by_bib) == [k for k in expected if k[3] == bib]
        few = await api.ok("GET", f"/api/sessions/{sid}/suppressions?limit=5")
        assert few == listed[:5]
    # compact: not one location-filtered row is stored, yet each is counted
    rows = await rc.services.store.run(
        lambda c: c.execute(
            text("select count(*) from suppressions where code = 'location_filtered'")
        ).scalar()
    )
    assert rows == 0
    await client.close()


async def test_analytics_from_aggregates_equal_the_full_scan(rc: RaceControl, api: Api) -> None:
    sessions, client = await race(rc, api)
    for sid in sessions:
        streams = sorted(rc.services.sessions.get(sid).streams)
        ref = await rc.services.store.run(full_scan, sid, streams)
        log = Counter(k[4] for k in await full_log(rc, sid))
        got = await rc.services.store.run(_query, sid, streams)
        assert got["reads"] == ref["reads"] and sum(got["reads"].values()) == race_lines()[1]
        assert got["finishers"] == ref["finishers"] and got["finishers"]
        assert sorted(got["unknown"]) == sorted(set(ref["unknown"])) and ref["unknown"]
        assert got["reasons"] == log
        report = await api.ok("GET", f"/api/sessions/{sid}/analytics")
        assert report["suppressed_by_reason"] == dict(log.most_common())
    # a rule change re-derives the session: its counts follow (delete triggers + recount)
    sid = sessions[0]
    await api.ok("PATCH", f"/api/sessions/{sid}", {"rules": {**FINISH, "duplicate_window": 1}})
    log = Counter(k[4] for k in await full_log(rc, sid))
    assert "duplicate" not in log
    report = await api.ok("GET", f"/api/sessions/{sid}/analytics")
    assert report["suppressed_by_reason"] == dict(log.most_common())
    await client.close()


def test_suppressions_of_one_bib_come_from_indexes(tmp_path: Path) -> None:
    """EXPLAIN QUERY PLAN of every statement ``suppressions(session, bib)`` runs."""
    store = Store(tmp_path / "db.sqlite3")
    try:
        store.migrate()
        with store.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO events VALUES ('ev', 'Race', '2026-06-01', 'UTC', 1, 1)")
            conn.exec_driver_sql(
                "INSERT INTO display_sessions (id, token, event_id, name, mode, locations, rules, status, "
                "settings, created_at, updated_at) VALUES ('s', 't', 'ev', '', 'results', '[]', ?, 'open', "
                "'{}', 1, 1)",
                (json.dumps(FINISH),),
            )
            conn.exec_driver_sql(
                "INSERT INTO timing_streams (id, protocol, source_key, client, event_name, source_event_id, "
                "remote_addr, locations, reference_date, timezone, created_at, updated_at) "
                "VALUES ('st', 'ctp01', 'c', '', '', '', '', '[]', '', 'UTC', 1, 1)"
            )
            conn.exec_driver_sql("INSERT INTO session_streams VALUES ('s', 'st', 1)")
        statements: list[tuple[str, Any]] = []

        def seen(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append((statement, params))

        event.listen(store.engine, "before_cursor_execute", seen)
        with store.engine.connect() as conn:
            q.suppressions(conn, "s", "7", 100)
        event.remove(store.engine, "before_cursor_execute", seen)
        plans = {}
        with store.engine.connect() as conn:
            for statement, params in statements:
                plan = " ".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params))
                plans[statement.split("FROM", 1)[1].split()[0]] = plan
        assert "USING INDEX ix_suppressions_bib_time (session_id=? AND bib=?)" in plans["suppressions"]
        assert "TEMP B-TREE" not in plans["suppressions"]  # the order comes from the index too
        assert "USING INDEX ix_reads_stream_bib (stream_id=? AND bib=?)" in plans["reads"]
    finally:
        store.close()


OLD_ROWS = {  # a store as 0014 left it: two sessions, reads at three locations
    "reads": [
        ("st", "finish", 1, "tag", "1", 28800.5),
        ("st", "finish", 2, "tag", "2", 28861.0),
        ("st", "9k", 3, "tag", "1", 28000.0),
        ("st", "start", 4, "gun", "guntime", 27000.0),
        ("st", "finish", 5, "tag", "70", 28990.0),
        ("st", "finish", 6, "tag", "2", -30.0),  # a clock before midnight: floored like Python
    ],
    "display_events": [
        ("a", 1, "finisher", "1", "st", "finish", 1, {"bib": "1", "known": True}),
        ("a", 2, "finisher", "70", "st", "finish", 5, {"bib": "70", "known": False}),
        ("a", 3, "correction", "70", "", "", 0, {"bib": "70", "known": True}),
        ("a", 4, "finisher", "2", "st", "finish", 6, {"bib": "2", "known": True}),
        ("b", 1, "finisher", "1", "st", "9k", 3, {"bib": "1", "known": True}),
        ("b", 2, "finisher", "9", "st", "9k", 99, {"bib": "9", "known": False}),  # its read is gone
    ],
    "suppressions": [
        ("a", "st", "9k", 3, "1", "location_filtered", "location 9k is not shown by this session"),
        ("a", "st", "finish", 2, "2", "duplicate", "duplicate: bib 2 already crossed finish 1.0 s earlier"),
        ("b", "st", "finish", 1, "1", "location_filtered", "location finish is not shown by this session"),
        ("b", "st", "finish", 2, "2", "location_filtered", "location finish is not shown by this session"),
        ("b", "st", "finish", 5, "70", "location_filtered", "location finish is not shown by this session"),
        ("b", "st", "finish", 6, "2", "location_filtered", "location finish is not shown by this session"),
        ("b", "st", "finish", 7, "3", "", "something an old version wrote"),
    ],
}


def test_migration_0015_backfills_the_aggregates_and_drops_filtered_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0014")
            _old_store(conn)
            for sid, seq, kind, bib, st, loc, rseq, payload in OLD_ROWS["display_events"]:
                conn.exec_driver_sql(
                    "INSERT INTO display_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (sid, seq, kind, bib, st, loc, rseq, json.dumps(payload)),
                )
            for i, row in enumerate(OLD_ROWS["suppressions"]):
                conn.exec_driver_sql(
                    "INSERT INTO suppressions (session_id, stream_id, location, read_seq, bib, code, reason, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*row, 2000.0 + i),
                )
        with store.engine.connect() as conn:
            before = {sid: full_scan(conn, sid, ["st"]) for sid in ("a", "b")}
            codes = {
                sid: Counter(
                    c or "other"
                    for (c,) in conn.execute(select(Suppression.code).where(Suppression.session_id == sid))
                )
                for sid in ("a", "b")
            }
            stored = conn.execute(text("select * from suppressions")).mappings().all()
            listed_before = {sid: sorted(key(r) for r in stored if r["session_id"] == sid) for sid in "ab"}
        store.migrate()
        with store.engine.connect() as conn:
            for sid in ("a", "b"):
                got = _query(conn, sid, ["st"])
                assert got["reads"] == before[sid]["reads"] and -1 in got["reads"]
                assert got["finishers"] == before[sid]["finishers"]
                assert sorted(got["unknown"]) == sorted(set(before[sid]["unknown"]))
                assert got["reasons"] == codes[sid]
                # the filtered rows are gone from the table, the view still lists them
                assert sorted(key(r) for r in q.suppressions(conn, sid, None, 100)) == listed_before[sid]
            left = conn.execute(select(func.count()).where(Suppression.code == "location_filtered")).scalar()
            assert left == 0
            assert (
                before["a"]["unknown"] == ["70"] and before["b"]["unknown"] == []
            )  # the read of bib 9 is gone
    finally:
        store.close()


async def test_a_closed_session_lists_no_read_that_arrived_after_it_closed(rc: RaceControl, api: Api) -> None:
    sessions, client = await race(rc, api)
    sid = sessions[0]
    await api.ok("PATCH", f"/api/sessions/{sid}", {"status": "closed"})
    before = await api.ok("GET", f"/api/sessions/{sid}/suppressions?limit=1000")
    assert any(r["code"] == "location_filtered" for r in before)
    _data, tags = race_lines()
    await client.send(
        b"CT01_33~900~9k~5~10:10:00.00~0~0FA22E~1\r\nCT01_33~901~start~40~10:11:00.00~0~0FA22E~1\r\n"
    )
    await drain_until(
        rc, lambda: api.ok("GET", "/api/timing/sessions"), lambda st: st[0]["reads"] >= tags + 2, timeout=20
    )
    await rc.services.pipeline.drain()
    assert await api.ok("GET", f"/api/sessions/{sid}/suppressions?limit=1000") == before
    assert await api.ok("GET", f"/api/sessions/{sid}/suppressions?bib=5") == [
        r for r in before if r["bib"] == "5"
    ]
    open_one = await api.ok("GET", f"/api/sessions/{sessions[1]}/suppressions?bib=40")  # open: it decided it
    assert [(r["location"], r["code"]) for r in open_one] == [("start", "location_filtered")]
    await client.close()


def test_analytics_read_only_the_aggregates_through_their_keys(tmp_path: Path) -> None:
    """Every statement the analytics run searches an aggregate table by its key: no scan, and no
    read of the race's rows (reads, display_events, suppressions), whatever the race's size."""
    store = Store(tmp_path / "db.sqlite3")
    try:
        store.migrate()
        statements: list[tuple[str, Any]] = []

        def seen(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
            statements.append((statement, params))

        event.listen(store.engine, "before_cursor_execute", seen)
        with store.engine.connect() as conn:
            _query(conn, "s", ["st", "st2"])
        event.remove(store.engine, "before_cursor_execute", seen)
        assert len(statements) == 4
        with store.engine.connect() as conn:
            for statement, params in statements:
                plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]
                assert all(step.startswith("SEARCH ") for step in plan), (statement, plan)
                tables = {step.split()[1] for step in plan}
                assert tables <= {"read_minutes", "finisher_minutes", "unknown_bibs", "suppression_counts"}
    finally:
        store.close()


def _old_store(conn: Connection) -> None:
    """An event, stream 'st', sessions 'a' (finish line) and 'b' (9K) bound to it, and
    ``OLD_ROWS``' reads."""
    conn.exec_driver_sql("INSERT INTO events VALUES ('ev', 'Race', '2026-06-01', 'UTC', 1, 1)")
    conn.exec_driver_sql(
        "INSERT INTO timing_streams (id, protocol, source_key, client, event_name, source_event_id, "
        "remote_addr, locations, reference_date, timezone, created_at, updated_at) "
        "VALUES ('st', 'ctp01', 'c', '', '', '', '', '[]', '', 'UTC', 1, 1)"
    )
    for sid, rules in (("a", FINISH), ("b", {"locations": ["9k"]})):
        conn.exec_driver_sql(
            "INSERT INTO display_sessions (id, token, event_id, name, mode, locations, rules, "
            "status, settings, created_at, updated_at) VALUES (?, ?, 'ev', '', 'results', '[]', ?, "
            "'open', '{}', 1, 1)",
            (sid, f"tok-{sid}", json.dumps(rules)),
        )
        conn.exec_driver_sql("INSERT INTO session_streams VALUES (?, 'st', 1)", (sid,))
    for i, (st, loc, seq, kind, bib, clock) in enumerate(OLD_ROWS["reads"], start=1):
        conn.exec_driver_sql(
            "INSERT INTO reads (stream_id, location, seq, kind, tag, bib, time_text, clock, lap, "
            "reader_id, gator, raw_n, received_at) VALUES (?, ?, ?, ?, ?, ?, '', ?, 0, '', 0, ?, ?)",
            (st, loc, seq, kind, bib, bib, clock, i, 1000.0 + i),
        )


def _scratch_store(path: Path, revision: str) -> Store:
    """A store at ``revision`` filled by ``_old_store``."""
    store = Store(path)
    with store.engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
        _old_store(conn)
    return store


def test_write_derived_counts_finishers_as_0015s_trigger_did(tmp_path: Path) -> None:
    """Migration 0018 dropped the trigger per display event; ``write_derived`` counts a batch's
    finishers per minute (floored, also before midnight) and its "Bib N" bibs itself.  The same
    events, stored at 0017 by the trigger and at head by ``write_derived``: the same aggregates."""
    clocks = {(loc, seq): clock for _st, loc, seq, _k, _b, clock in OLD_ROWS["reads"]}
    events = []
    for sid, seq, kind, bib, st, loc, rseq, payload in OLD_ROWS["display_events"]:
        if (loc, rseq) not in clocks:
            continue  # a live event always has its read (in the batch or stored before)
        events.append(
            {
                "session_id": sid,
                "seq": seq,
                "kind": kind,
                "bib": bib,
                "stream_id": st,
                "location": loc,
                "read_seq": rseq,
                "payload": payload,
                "created_at": 1.0,
                "clock": clocks[loc, rseq] if kind == "finisher" else None,
            }
        )
    events.append({**events[1], "seq": 9, "payload": {"bib": "70", "known": False}})  # shown twice
    aggregates = {}
    for name, revision in (("trigger", "0017"), ("writer", "head")):
        store = _scratch_store(tmp_path / f"{name}.sqlite3", revision)
        try:
            with store.engine.begin() as conn:
                if revision == "head":
                    q.write_derived(conn, Derived(events=events))
                else:  # the rows alone: the trigger counts
                    conn.exec_driver_sql(
                        q._INSERT_EVENT,
                        [
                            tuple(json.dumps(e[c]) if c == "payload" else e[c] for c in q._EVENT_COLUMNS)
                            for e in events
                        ],
                    )
            with store.engine.connect() as conn:
                aggregates[name] = (
                    sorted(conn.exec_driver_sql("SELECT * FROM finisher_minutes").all()),
                    sorted(conn.exec_driver_sql("SELECT * FROM unknown_bibs").all()),
                )
        finally:
            store.close()
    assert aggregates["writer"] == aggregates["trigger"]
    minutes, unknown = aggregates["writer"]
    assert ("a", -1, 1) in minutes and ("a", 480, 1) in minutes and ("a", 483, 2) in minutes
    assert unknown == [("a", "70")]


def test_the_pipeline_counts_reads_as_0015s_trigger_did(tmp_path: Path) -> None:
    """Migration 0018 dropped the trigger per read; the pipeline's ``_write_batch`` counts a
    batch's new tag reads per stream and minute in one statement: the same ``read_minutes`` as the
    trigger at 0017 — guns not counted, a read stored again not counted twice, clocks before
    midnight floored."""

    class NoBatch:
        def write(self, conn: Connection) -> None:
            pass

    def read(seq: int, clock: float, kind: str = "tag") -> StoredRead:
        return StoredRead("st", "line", seq, kind, "7", "7", "", clock, 1, "", 0, 100 + seq, 1.0)

    first = [read(1, 28800.5), read(2, 28859.99), read(3, -30.0), read(4, -60.0), read(5, 100.0, "gun")]
    second = [read(2, 28859.99), read(6, 28860.0)]  # seq 2 again: ignored, not counted
    counted = {}
    for name, revision in (("trigger", "0017"), ("pipeline", "head")):
        store = _scratch_store(tmp_path / f"{name}.sqlite3", revision)
        try:
            with store.engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM read_minutes")  # what the scratch store's reads made
            for batch in (first, second):
                with store.engine.begin() as conn:
                    if revision == "head":
                        _write_batch(conn, [], batch, NoBatch())
                    else:  # the rows alone: the trigger counts
                        conn.exec_driver_sql(pipeline._INSERT_READ, [pipeline._read_row(r) for r in batch])
            with store.engine.connect() as conn:
                counted[name] = sorted(conn.exec_driver_sql("SELECT * FROM read_minutes").all())
        finally:
            store.close()
    assert counted["pipeline"] == counted["trigger"] == [("st", -1, 2), ("st", 480, 2), ("st", 481, 1)]


async def test_the_pipeline_holds_no_batch_once_idle(rc: RaceControl, api: Api) -> None:
    """Once everything is stored and published, the flusher keeps nothing of its last batch
    (its display events and their messages: with 20 sessions ~100,000 rows) until the next."""
    _ids, client = await race(rc, api)
    gc.collect()
    left = [o for o in gc.get_objects() if isinstance(o, SessionBatch)]
    await client.close()
    assert left == []
