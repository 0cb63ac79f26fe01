"""A migrated central database with one partner, and comparing it with a local store.

``central_partner()`` yields a ``Central`` (owner URL, the partner's URL and id) on a scratch
database that ``race_control.central.admin.migrate`` created (row-level security on: the
push runs as the partner login, exactly as a laptop does).  ``local_rows`` / ``central_rows``
read one table on each side as comparable dicts (central without partner_id and the sync
bookkeeping columns); ``assert_mirrored`` checks every synced table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
from sqlalchemy import Engine, select

from race_control.central import admin
from race_control.central.schema import APPEND_TABLES, ENTITY_TABLES, LOCAL_NAME
from race_control.store.models import Base
from tests.helpers.central_compare import comparable
from tests.helpers.postgres import scratch_database

BOOKKEEPING = {"partner_id", "hlc", "origin", "deleted", "tx", "public"}
SYNCED = (*ENTITY_TABLES, *APPEND_TABLES)


@dataclass
class Central:
    owner_url: str
    dbname: str
    url: str  # the partner's login
    partner_id: str

    def owner(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.owner_url)
        conn.autocommit = True
        return conn

    def query(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = self.owner()
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {table}")[0][0])


@contextlib.contextmanager
def central_partner() -> Iterator[Central]:
    with scratch_database() as (owner_url, dbname):
        admin.migrate(owner_url)
        partner = admin.add_partner(owner_url, "Fast Timing")
        yield Central(owner_url, dbname, partner["url"], partner["partner_id"])


def _key(table: str) -> list[str]:
    return [c.name for c in Base.metadata.tables[LOCAL_NAME.get(table, table)].primary_key.columns]


def local_rows(engine: Engine, table: str) -> list[dict[str, Any]]:
    t = Base.metadata.tables[LOCAL_NAME.get(table, table)]
    with engine.connect() as conn:
        rows = [
            {k: comparable(table, k, v) for k, v in r.items()} for r in conn.execute(select(t)).mappings()
        ]
    key = _key(table)
    return sorted(rows, key=lambda r: [str(r[k]) for k in key])


def central_rows(central: Central, table: str, *, live_only: bool = True) -> list[dict[str, Any]]:
    cols = [c.name for c in Base.metadata.tables[LOCAL_NAME.get(table, table)].columns]
    where = " WHERE NOT deleted" if live_only and table in ENTITY_TABLES else ""
    conn = central.owner()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(cols)} FROM {table}{where}")
            rows = [
                {c: comparable(table, c, v) for c, v in zip(cols, r, strict=True)} for r in cur.fetchall()
            ]
    finally:
        conn.close()
    key = _key(table)
    return sorted(rows, key=lambda r: [str(r[k]) for k in key])


def assert_mirrored(engine: Engine, central: Central, tables: tuple[str, ...] = SYNCED) -> dict[str, int]:
    """Every synced table holds exactly the local rows centrally (live rows; values equal,
    floats exactly); the row counts per table."""
    counts = {}
    for table in tables:
        here, there = local_rows(engine, table), central_rows(central, table)
        assert len(there) == len(here), f"{table}: {len(here)} rows here, {len(there)} central"
        for a, b in zip(here, there, strict=True):
            assert a == b, f"{table}: local {a} != central {b}"
        counts[table] = len(here)
    return counts
