"""Every migration can be rolled back on a populated database, and rolled forward again.

For each revision R (0001 … head, read from the migrations folder, so a new migration is
tested without touching this file): a real SQLite file on the app's own engine (WAL, foreign
keys on) is upgraded one revision at a time, with rows inserted into every table at every
step; then R is downgraded one step and upgraded again.  After each move the schema is the
one a fresh database gets at that revision, and every row of every table is still there with
the contents it had (compared column by column on the columns both revisions have).  A table
that R itself creates is empty after the round trip: downgrading R drops it by definition.

The rows are filled in from the schema itself (foreign keys point at rows inserted just
before, unique columns get unique values), so a table added by a later migration is
populated too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from race_control.store.database import alembic_config, sqlite_engine

REVISIONS = [
    r.revision for r in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
]
ROWS_PER_TABLE = 2

# realistic values where a migration reads them (0005 back-fills codes from the reason text,
# 0006 derives `live` from the protocol); everything else is derived from the column's type
OVERRIDES: dict[tuple[str, str], list[Any]] = {
    ("events", "date"): ["2026-06-01", "2026-06-02"],
    ("events", "timezone"): ["UTC", "Europe/Berlin"],
    ("timing_streams", "protocol"): ["ctp01", "controller-file"],
    ("timing_streams", "locations"): ['["finish"]', '["start", "finish"]'],
    ("display_sessions", "mode"): ["results", "pre-race"],
    ("display_sessions", "settings"): ['{"countdown": {"at": 1780300000.0}}', "{}"],
    ("display_events", "payload"): ['{"bib": "101", "name": "Ann Lee", "city": "Boise"}', '{"bib": "102"}'],
    ("participants", "age"): [34, None],
    ("participants", "hidden"): [0, 1],
    ("participants", "raw"): ['{"Bib": "101", "First": "Ann"}', "{}"],
    ("reads", "kind"): ["tag", "gun"],
    ("suppressions", "reason"): ["duplicate: seen 3.2 s ago", "too soon: 12 s after the gun"],
    ("templates", "body"): ['{"blocks": [{"type": "text", "text": "Finish"}]}', '{"blocks": []}'],
}


def seeded(table: str, rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """What a migration's upgrade itself writes into a table it creates (empty for most): 0008
    makes the sync clock (one row), a cursor per append table at 0, and marks every entity
    row that exists pending (a store that existed before sync sends everything)."""
    if table == "sync_clock":
        assert len(rows[table]) == 1 and rows[table][0]["applying"] == 0
        return rows[table]
    if table == "sync_cursors":
        assert {r["last_rowid"] for r in rows[table]} == {0}
        return rows[table]
    if table == "sync_rows":
        keys = {"session_streams": lambda r: f"{r['session_id']} {r['stream_id']}"}
        expected = sorted(
            (t, keys.get(t, lambda r: r["id"])(r))
            for t in (
                "events",
                "participants",
                "timing_streams",
                "display_sessions",
                "session_streams",
                "templates",
            )
            for r in rows[t]
        )
        assert sorted((r["tbl"], r["key"]) for r in rows[table]) == expected
        assert all(r["pending"] and not r["deleted"] for r in rows[table])
        return rows[table]
    if table == "template_versions":  # 0013: each template's current body is its first version
        expected = sorted((t["id"], t["version"], t["name"], t["body"]) for t in rows["templates"])
        assert sorted((r["template_id"], r["version"], r["name"], r["body"]) for r in rows[table]) == expected
        assert {r["origin"] for r in rows[table]} == {"existing"}
        return rows[table]
    if table in _AGGREGATES:  # 0015: back-filled from the rows they count
        expected = _AGGREGATES[table](rows)
        assert sorted(rows[table], key=repr) == sorted(expected, key=repr), table
        return rows[table]
    return []


def _finishes(rows: dict[str, list[dict[str, Any]]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(finisher display event, its read) pairs: what the analytics counted by a join."""
    reads = {(r["stream_id"], r["location"], r["seq"]): r for r in rows["reads"]}
    out = []
    for e in rows["display_events"]:
        read = reads.get((e["stream_id"], e["location"], e["read_seq"]))
        if e["kind"] == "finisher" and read is not None:
            out.append((e, read))
    return out


def _minutes(pairs: list[tuple[str, float]], name: str, key: str) -> list[dict[str, Any]]:
    counts: dict[tuple[str, int], int] = {}
    for owner, clock in pairs:
        counts[(owner, int(clock // 60))] = counts.get((owner, int(clock // 60)), 0) + 1
    return [{key: owner, "minute": m, name: n} for (owner, m), n in counts.items()]


def _suppression_counts(rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    for r in rows["suppressions"]:
        counts[(r["session_id"], r["code"])] = counts.get((r["session_id"], r["code"]), 0) + 1
    return [{"session_id": sid, "code": code, "n": n} for (sid, code), n in counts.items()]


_AGGREGATES = {
    "read_minutes": lambda rows: _minutes(
        [(r["stream_id"], r["clock"]) for r in rows["reads"] if r["kind"] == "tag"], "reads", "stream_id"
    ),
    "finisher_minutes": lambda rows: _minutes(
        [(e["session_id"], r["clock"]) for e, r in _finishes(rows)], "finishers", "session_id"
    ),
    "unknown_bibs": lambda rows: [
        dict(t)
        for t in {
            (("session_id", e["session_id"]), ("bib", json.loads(e["payload"]).get("bib", "")))
            for e, _r in _finishes(rows)
            if json.loads(e["payload"]).get("known", True) is False
        }
    ],
    "suppression_counts": _suppression_counts,
}


def _migrate(engine: Engine, fn: Any, target: str) -> None:
    with engine.begin() as conn:
        fn(alembic_config(conn), target)


def _tables(conn: Connection) -> list[str]:
    rows = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'alembic_version' ORDER BY name"
    )
    return [r[0] for r in rows]


def _columns(conn: Connection, table: str) -> list[tuple[Any, ...]]:
    """(name, type, notnull, default, pk) per column, in table order."""
    return [tuple(r)[1:] for r in conn.exec_driver_sql(f"PRAGMA table_info('{table}')")]


def _foreign_keys(conn: Connection, table: str) -> dict[str, tuple[str, str]]:
    return {r[3]: (r[2], r[4]) for r in conn.exec_driver_sql(f"PRAGMA foreign_key_list('{table}')")}


def schema(conn: Connection) -> dict[str, Any]:
    """Tables, columns, foreign keys and indexes (auto-indexes by their columns, not their name)."""
    out: dict[str, Any] = {}
    for table in _tables(conn):
        indexes = []
        for _seq, name, unique, origin, partial in conn.exec_driver_sql(f"PRAGMA index_list('{table}')"):
            cols = tuple(r[2] for r in conn.exec_driver_sql(f"PRAGMA index_info('{name}')"))
            indexes.append((name if origin == "c" else origin, unique, partial, cols))
        fks = sorted(tuple(r)[2:] for r in conn.exec_driver_sql(f"PRAGMA foreign_key_list('{table}')"))
        out[table] = {"columns": _columns(conn, table), "foreign_keys": fks, "indexes": sorted(indexes)}
    return out


def data(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table in _tables(conn):
        result = conn.exec_driver_sql(f"SELECT * FROM '{table}'")
        keys = list(result.keys())
        out[table] = sorted((dict(zip(keys, row, strict=True)) for row in result), key=repr)
    return out


def project(rows: list[dict[str, Any]], columns: set[str]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in row.items() if k in columns} for row in rows), key=repr)


def _parents_first(conn: Connection) -> list[str]:
    order: list[str] = []
    pending = _tables(conn)
    while pending:
        ready = [
            t for t in pending if all(ref in order or ref == t for ref, _ in _foreign_keys(conn, t).values())
        ]
        assert ready, f"foreign keys form a cycle among {pending}"
        order += ready
        pending = [t for t in pending if t not in ready]
    return order


def _value(table: str, name: str, sqltype: str, rev: str, k: int) -> Any:
    if (table, name) in OVERRIDES:
        return OVERRIDES[table, name][k]
    t = sqltype.upper()
    n = int(rev) * 10 + k + 1
    if t.startswith(("INTEGER", "BIGINT", "SMALLINT")):
        return n
    if t.startswith(("FLOAT", "REAL", "NUMERIC")):
        return 1780300000.0 + n + 0.25
    if t.startswith("BOOLEAN"):
        return k % 2
    if t.startswith("JSON"):
        return json.dumps({"rev": rev, "k": k, "name": name})
    text = f"{name}-{rev}-{k}"
    if t.startswith("VARCHAR("):
        width = int(t[len("VARCHAR(") : -1])
        text = f"{name[: max(1, width - 8)]}-{rev}-{k}"[-width:]
    return text


def fill(conn: Connection, rev: str) -> None:
    """Insert ROWS_PER_TABLE rows into every table that exists now; row k of a child points at
    row k of its parent (inserted just before)."""
    inserted: dict[str, list[dict[str, Any]]] = {}
    for table in _parents_first(conn):
        fks = _foreign_keys(conn, table)
        inserted[table] = []
        for k in range(ROWS_PER_TABLE):
            row = {}
            for name, sqltype, _notnull, _default, _pk in _columns(conn, table):
                if name in fks:
                    ref_table, ref_col = fks[name]
                    row[name] = inserted[ref_table][k][ref_col]
                else:
                    row[name] = _value(table, name, sqltype, rev, k)
            if "stream_id" in row and "stream_id" not in fks and "timing_streams" in inserted:
                row["stream_id"] = inserted["timing_streams"][k]["id"]  # a plain column, still a stream
            names = ", ".join(f'"{c}"' for c in row)
            marks = ", ".join(f":{c}" for c in row)
            conn.exec_driver_sql(f"INSERT INTO '{table}' ({names}) VALUES ({marks})", row)
            inserted[table].append(row)


def populated(path: Path, up_to: str) -> Engine:
    """A database upgraded one revision at a time to ``up_to``, rows inserted at every step."""
    engine = sqlite_engine(path)
    for rev in REVISIONS[: REVISIONS.index(up_to) + 1]:
        _migrate(engine, command.upgrade, rev)
        with engine.begin() as conn:
            fill(conn, rev)
    return engine


_fresh: dict[str, dict[str, Any]] = {}


def fresh_schema(tmp: Path, rev: str) -> dict[str, Any]:
    """The schema an empty database has at ``rev`` (``base``: no tables)."""
    if rev not in _fresh:
        engine = sqlite_engine(tmp / f"fresh-{rev}.sqlite3")
        try:
            if rev != "base":
                _migrate(engine, command.upgrade, rev)
            with engine.connect() as conn:
                _fresh[rev] = schema(conn)
        finally:
            engine.dispose()
    return _fresh[rev]


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def assert_healthy(conn: Connection) -> None:
    assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.mark.parametrize("rev", REVISIONS)
def test_downgrade_one_step_and_upgrade_again_keeps_the_data(
    rev: str, tmp_path: Path, engines: list[Engine]
) -> None:
    engine = populated(tmp_path / "race-control.sqlite3", rev)
    engines.append(engine)
    before_rows = {}
    with engine.connect() as conn:
        before_schema, before_rows = schema(conn), data(conn)
    assert all(len(rows) >= ROWS_PER_TABLE for rows in before_rows.values()), "every table is populated"
    previous = REVISIONS[REVISIONS.index(rev) - 1] if rev != REVISIONS[0] else "base"

    _migrate(engine, command.downgrade, "-1")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == (
            [] if previous == "base" else [previous]
        )
        down_schema, down_rows = schema(conn), data(conn)
        assert_healthy(conn)
    assert down_schema == fresh_schema(tmp_path, previous)
    for table, rows in down_rows.items():
        kept = {c[0] for c in down_schema[table]["columns"]}
        assert rows == project(before_rows[table], kept), f"{table}: rows changed by the downgrade of {rev}"

    _migrate(engine, command.upgrade, rev)
    with engine.connect() as conn:
        up_schema, up_rows = schema(conn), data(conn)
        assert_healthy(conn)
    assert up_schema == before_schema
    for table, rows in up_rows.items():
        if table not in down_schema:  # created by `rev`: dropped by its downgrade
            assert rows == seeded(table, up_rows), f"{table}: what {rev}'s upgrade writes into it"
            continue
        kept = {c[0] for c in down_schema[table]["columns"]}
        assert len(rows) == len(before_rows[table]), f"{table}: row count after {rev} down and up"
        assert project(rows, kept) == project(before_rows[table], kept), (
            f"{table}: rows after {rev} down and up"
        )

    with engine.begin() as conn:  # the round-tripped database takes new rows and goes on to head
        fill(conn, f"9{rev}")
    _migrate(engine, command.upgrade, "head")
    with engine.connect() as conn:
        assert schema(conn) == fresh_schema(tmp_path, REVISIONS[-1])
        assert_healthy(conn)


def test_downgrade_to_base_and_upgrade_to_head_on_a_populated_database(
    tmp_path: Path, engines: list[Engine]
) -> None:
    engine = populated(tmp_path / "race-control.sqlite3", REVISIONS[-1])
    engines.append(engine)
    _migrate(engine, command.downgrade, "base")
    with engine.connect() as conn:
        assert _tables(conn) == []
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 0
    _migrate(engine, command.upgrade, "head")
    with engine.connect() as conn:
        assert schema(conn) == fresh_schema(tmp_path, REVISIONS[-1])
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == REVISIONS[-1]
        assert_healthy(conn)
    with engine.begin() as conn:
        fill(conn, "99")
