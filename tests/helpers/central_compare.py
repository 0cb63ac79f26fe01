"""Does the central database hold exactly what the local store holds?  (Sync fault tests.)

``assert_central_equals_local(db_path, central_url, partner_id)`` compares every synced table
(``central.schema.ENTITY_TABLES`` + ``APPEND_TABLES``; local ``reads`` = central
``timing_reads``): the local rows, read from the SQLite file with the store's own models, and
the partner's central rows, read with the central schema, as *multisets* of tuples of every
local column — same count, same contents, nothing missing, nothing extra, nothing twice.
Values are compared exactly: floats by value (``repr``-exact, NaN equal to NaN), JSON as JSON
(key order does not matter, ``1`` and ``1.0`` do), booleans as booleans.  Central entity rows
that are tombstones (``deleted``) are not local rows: they are checked to be absent locally.
It also checks, with plain ``count(*)``, that the central table holds no more rows for the
partner than the comparison saw (live + tombstones).

It returns the local row count per table; an AssertionError says which table differs and
shows a few of the rows missing centrally or extra there.

``central_url`` should be a superuser's or the owner's URL: it reads with ``partner_id = ?``
and so does not depend on row-level security (a partner login's URL works too: then RLS
restricts it to its own rows anyway).  The SQLite file is opened read-only, so it may be
checked while the app runs (WAL: a consistent snapshot).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, func, not_, select
from sqlalchemy.pool import NullPool

from race_control.central import schema as central_schema
from race_control.store.models import Base

SYNCED = (*central_schema.ENTITY_TABLES, *central_schema.APPEND_TABLES)


def local_table(name: str) -> str:
    return central_schema.LOCAL_NAME.get(name, name)


def _norm(value: Any) -> Any:
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True))
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())  # exact, NaN == NaN
    if isinstance(value, bool):
        return ("bool", value)
    return value


def _local_engine(db_path: Path) -> Engine:
    return create_engine(f"sqlite:///file:{db_path}?mode=ro&uri=true", poolclass=NullPool)


def _central_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})


# what each laptop keeps for itself inside a synced row: a session's start-up epochs (written at
# every start, never an edit: store migration 0011) reach the central copy only with the next
# real change of the session, and a pull never takes them (docs/sync.md#the-conflict-rule)
DEVICE_LOCAL = {("display_sessions", "settings"): ("epochs",)}


def comparable(table: str, column: str, value: Any) -> Any:
    """``value`` without the parts that are each laptop's own (``DEVICE_LOCAL``)."""
    drop = DEVICE_LOCAL.get((table, column))
    if drop and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in drop}
    return value


def _row(table: str, columns: list[str], row: Any) -> tuple[Any, ...]:
    return tuple(_norm(comparable(table, c, v)) for c, v in zip(columns, row, strict=True))


def local_rows(conn: Connection, table: str) -> Counter[tuple[Any, ...]]:
    t = Base.metadata.tables[local_table(table)]
    cols = [c.name for c in t.columns]
    return Counter(_row(table, cols, row) for row in conn.execute(select(*t.columns)))


def _columns(table: str) -> list[str]:
    return [c.name for c in Base.metadata.tables[local_table(table)].columns]


def central_rows(
    conn: Connection, table: str, partner_id: str
) -> tuple[Counter[tuple[Any, ...]], set[tuple[Any, ...]], int]:
    """(live rows, keys of tombstones, count(*) of the partner's rows) of a central table."""
    t = central_schema.metadata.tables[table]
    cols = [t.c[name] for name in _columns(table)]
    mine = t.c.partner_id == partner_id
    entity = table in central_schema.ENTITY_TABLES
    key_cols = [t.c[c.name] for c in Base.metadata.tables[local_table(table)].primary_key.columns]
    live_where = and_(mine, not_(t.c.deleted)) if entity else mine
    names = [c.name for c in cols]
    live = Counter(_row(table, names, row) for row in conn.execute(select(*cols).where(live_where)))
    tombstones: set[tuple[Any, ...]] = set()
    if entity:
        tombstones = {tuple(row) for row in conn.execute(select(*key_cols).where(and_(mine, t.c.deleted)))}
    total = int(conn.execute(select(func.count()).select_from(t).where(mine)).scalar_one())
    return live, tombstones, total


def _local_keys(conn: Connection, table: str) -> set[tuple[Any, ...]]:
    t = Base.metadata.tables[local_table(table)]
    return {tuple(row) for row in conn.execute(select(*t.primary_key.columns))}


def _sample(rows: Counter[tuple[Any, ...]], n: int = 3) -> str:
    return "; ".join(f"{row} x{count}" for row, count in list(rows.items())[:n])


def differences(
    db_path: Path, central_url: str, partner_id: str, tables: tuple[str, ...] = SYNCED
) -> tuple[dict[str, int], list[str]]:
    """(local row count per table, a description of each difference found)."""
    local_engine, central_engine = _local_engine(db_path), _central_engine(central_url)
    counts: dict[str, int] = {}
    problems: list[str] = []
    try:
        with local_engine.connect() as local, central_engine.connect() as central:
            _compare(local, central, partner_id, tables, counts, problems)
    finally:
        local_engine.dispose()
        central_engine.dispose()
    return counts, problems


def _compare(
    local: Connection,
    central: Connection,
    partner_id: str,
    tables: tuple[str, ...],
    counts: dict[str, int],
    problems: list[str],
) -> None:
    for table in tables:
        here = local_rows(local, table)
        there, tombstones, total = central_rows(central, table, partner_id)
        counts[table] = sum(here.values())
        missing, extra = here - there, there - here
        if missing or extra:
            problems.append(
                f"{table}: {sum(here.values())} rows here, {sum(there.values())} live central; "
                f"{sum(missing.values())} missing centrally ({_sample(missing)}), "
                f"{sum(extra.values())} extra or different centrally ({_sample(extra)})"
            )
        back = tombstones & _local_keys(local, table) if tombstones else set()
        if back:
            problems.append(f"{table}: tombstoned centrally but alive here: {sorted(back)[:3]}")
        if total != sum(there.values()) + len(tombstones):
            problems.append(
                f"{table}: count(*) = {total} for the partner, but {sum(there.values())} live "
                f"+ {len(tombstones)} tombstones"
            )


def assert_central_equals_local(
    db_path: Path, central_url: str, partner_id: str, tables: tuple[str, ...] = SYNCED
) -> dict[str, int]:
    """Every synced table: the central rows of ``partner_id`` are exactly the local rows."""
    counts, problems = differences(db_path, central_url, partner_id, tables)
    assert not problems, "central != local:\n  " + "\n  ".join(problems)
    return counts


def central_counts(central_url: str, partner_id: str, tables: tuple[str, ...] = SYNCED) -> dict[str, int]:
    """count(*) of the partner's rows per central table (tombstones included)."""
    engine = _central_engine(central_url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in tables:
                t = central_schema.metadata.tables[table]
                out[table] = int(
                    conn.execute(
                        select(func.count()).select_from(t).where(t.c.partner_id == partner_id)
                    ).scalar_one()
                )
            return out
    finally:
        engine.dispose()
