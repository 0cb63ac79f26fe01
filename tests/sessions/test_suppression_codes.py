"""Every suppression carries a stable code next to its text: the engine sets it, the store keeps
it (old rows get it from migration 0005), the API returns it and analytics count by it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from race_control.app import RaceControl
from race_control.sessions.crossing import SUPPRESSION_LABELS, CrossingEngine, CrossingRules, Suppressed
from race_control.store.database import Store, alembic_config
from race_control.timing.ingest.stored_read import StoredRead
from tests.conftest import Api
from tests.display.test_resume import setup_session
from tests.helpers.live_app import drain_until

_seq = iter(range(1, 1_000_000))


def read(bib: str, clock: float, location: str = "finish", kind: str = "tag") -> StoredRead:
    n = next(_seq)
    return StoredRead("s1", location, n, kind, bib, bib, "", clock, 0, "0FA22E", 1, n, 1000.0 + clock)


def test_each_rule_gives_its_own_code() -> None:
    rules = CrossingRules(
        locations=("finish",),
        start_locations=("start",),
        min_time_since_start=600,
        duplicate_window=30,
        stray_after=60,
        stray_gap=10,
    )
    engine = CrossingEngine(rules)
    table = [
        (read("guntime", 0.0, location="start", kind="gun"), None),
        (read("1", 5.0, location="9k"), "location_filtered"),
        (read("99997", 6.0), "ignored_tag"),
        (read("1", 10.0, location="start"), "start"),
        (read("1", 20.0, location="start"), "start_reread"),
        (read("1", 300.0), "too_soon"),  # 290 s after its start, minimum 600
        (read("1", 1000.0), None),  # a crossing
        (read("1", 1010.0), "duplicate"),
        # bib 2 read every 9 s: crossings 36 s apart (window 30 s) until it is clearly parked
        *[(read("2", 2000.0 + 9 * i), None if i in (0, 4) else "duplicate") for i in range(7)],
        (read("2", 2063.0), "stray"),  # 63 s without a pause
    ]
    got = []
    for r, _ in table:
        out = engine.process(r)
        got.append(out.code if isinstance(out, Suppressed) else None)
    assert got == [want for _, want in table]
    assert {c for c in got if c} == set(SUPPRESSION_LABELS)  # every code is reachable and labelled


OLD_ROWS = [  # texts the engine wrote before codes existed → the code 0005 gives them
    ("duplicate: bib 7 already crossed finish 4.0 s earlier (window 30 s)", "duplicate"),
    ("too soon: bib 7 at finish 12.3 s after its start (minimum 600 s)", "too_soon"),
    ("stray: tag 7 read without a pause at finish for 61 s", "stray"),
    ("start mat re-read: bib 7 at start", "start_reread"),
    ("start: bib 7 started at start", "start"),
    ("location 9k is not shown by this session", "location_filtered"),
    ("tag 99997 is an ignored test tag", "ignored_tag"),
    ("something an old version wrote", "other"),
]


def test_migration_0005_backfills_codes_from_the_old_texts_and_downgrades(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0004")
            conn.exec_driver_sql(
                "INSERT INTO events (id, name, date, timezone, created_at, updated_at)"
                " VALUES ('ev', 'Old race', '2026-06-01', 'UTC', 1, 1)"
            )
            conn.exec_driver_sql(
                "INSERT INTO display_sessions (id, token, event_id, name, mode, template_id, locations,"
                " rules, status, created_at, updated_at)"
                " VALUES ('sess', 'tok', 'ev', '', 'results', NULL, '[]', '{}', 'open', 1, 1)"
            )
            conn.exec_driver_sql(
                "INSERT INTO suppressions (session_id, stream_id, location, read_seq, bib, reason, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [("sess", "s1", "finish", i, "7", reason, 1.0) for i, (reason, _) in enumerate(OLD_ROWS)],
            )
        with store.engine.begin() as conn:  # 0005 alone: 0015 then drops location_filtered rows
            command.upgrade(alembic_config(conn), "0005")
        with store.engine.connect() as conn:
            rows = conn.execute(text("select reason, code from suppressions order by read_seq")).all()
        assert [tuple(r) for r in rows] == OLD_ROWS
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0004")
        columns = {c["name"] for c in inspect(store.engine).get_columns("suppressions")}
        assert "code" not in columns and "reason" in columns
    finally:
        store.close()


async def test_analytics_and_the_suppression_log_use_codes(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    sid = session["id"]
    await api.ok("PATCH", f"/api/sessions/{sid}", {"rules": {"min_time_since_start": 600}})
    await client.send(
        b"CT01_33~1~start~guntime~09:00:00.00~0~DF239A~0\r\n"
        b"CT01_33~2~finish~1~09:01:00.00~0~0FA22E~1\r\n"  # 60 s after the gun: too soon
        b"CT01_33~3~finish~2~09:02:00.00~0~0FA22E~1\r\n"  # too soon
        b"CT01_33~4~finish~3~09:30:00.00~0~0FA22E~1\r\n"  # a finisher
        b"CT01_33~5~finish~3~09:30:02.00~0~0FA22E~1\r\n"  # its duplicate
    )
    log = await drain_until(
        rc, lambda: api.ok("GET", f"/api/sessions/{sid}/suppressions"), lambda rows: len(rows) >= 3
    )
    assert sorted((e["bib"], e["code"]) for e in log) == [
        ("1", "too_soon"),
        ("2", "too_soon"),
        ("3", "duplicate"),
    ]
    assert all(e["reason"].startswith("too soon:") for e in log if e["code"] == "too_soon")
    report = await api.ok("GET", f"/api/sessions/{sid}/analytics")
    assert report["suppressed_by_reason"] == {"too_soon": 2, "duplicate": 1}  # not {"too": 2, ...}
    assert report["duplicates_suppressed"] == 1
    async with api.http.get(f"{api.base}/api/sessions/{sid}/analytics?format=csv", headers=api.headers) as r:
        rows = list(csv.reader(io.StringIO(await r.text())))
    assert ["suppressed: too_soon", "2"] in rows and ["suppressed: duplicate", "1"] in rows
    await client.close()
