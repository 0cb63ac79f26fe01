"""A migrated central database with partners, and rows written into it the way the push writes
them: as the partner's own login (row-level security fills and checks ``partner_id``), entity
rows upserted with ``hlc``/``origin``, display events in one INSERT per batch; the local
``settings["public"]`` becomes the ``public`` column.  ``laptop_rows`` reads those rows from a
real laptop's SQLite store, so the relay is fed exactly what that laptop stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extras
from sqlalchemy import select

from race_control.central import admin
from race_control.central.schema import metadata
from race_control.store.database import Store
from tests.helpers.postgres import scratch_database

ENTITY_KEYS = {"events": ("id",), "display_sessions": ("id",), "templates": ("id",)}
_BOOKKEEPING = {"partner_id", "hlc", "origin", "deleted", "tx"}


@dataclass
class Central:
    admin_url: str
    dbname: str
    a: dict[str, str]  # {"partner_id", "url"}
    b: dict[str, str]

    def admin(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        return conn


@contextlib.contextmanager
def central_db() -> Iterator[Central]:
    with scratch_database() as (url, dbname):
        admin.migrate(url)
        yield Central(url, dbname, admin.add_partner(url, "A"), admin.add_partner(url, "B"))


def _value(table: str, column: str, value: Any) -> Any:
    col = metadata.tables[table].c[column]
    if type(col.type).__name__ == "JSONB":
        return psycopg2.extras.Json(value)
    return value


def push(url: str, table: str, rows: list[dict[str, Any]], *, origin: str = "laptop-1") -> None:
    """One batch of ``rows`` (local columns) into central ``table``, as the partner of ``url``."""
    if not rows:
        return
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            write(cur, table, rows, origin=origin)
    finally:
        conn.close()


def write(cur: Any, table: str, rows: list[dict[str, Any]], *, origin: str = "laptop-1") -> None:
    central_cols = [c.name for c in metadata.tables[table].columns if c.name not in _BOOKKEEPING]
    entity = table in ENTITY_KEYS
    cols = [c for c in central_cols if c != "public"]
    if table == "display_sessions":
        cols.append("public")
    if entity:
        cols += ["hlc", "origin", "deleted"]
    values = []
    hlc = time.time_ns() // 1_000_000 << 16
    for i, row in enumerate(rows):
        out = []
        for c in cols:
            if c == "public":
                out.append(bool((row.get("settings") or {}).get("public") is True))
            elif c == "hlc":
                out.append(hlc + i)
            elif c == "origin":
                out.append(origin)
            elif c == "deleted":
                out.append(bool(row.get("deleted", False)))
            else:
                out.append(_value(table, c, row[c]))
        values.append(tuple(out))
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES %s"
    if entity:
        keys = ", ".join(("partner_id", *ENTITY_KEYS[table]))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols)
        sql += f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    else:
        sql += " ON CONFLICT DO NOTHING"
    psycopg2.extras.execute_values(cur, sql, values, page_size=max(1, len(values)))


async def laptop_rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    """The laptop's events, display sessions, templates and display events, as stored."""
    from race_control.store.models import Base

    def q(conn: Any) -> dict[str, list[dict[str, Any]]]:
        out = {}
        for name in ("events", "display_sessions", "templates", "display_events"):
            t = Base.metadata.tables[name]
            order = [t.c.session_id, t.c.seq] if name == "display_events" else [t.c.created_at]
            out[name] = [dict(r) for r in conn.execute(select(t).order_by(*order)).mappings()]
        return out

    rows = await store.run(q)
    for r in rows["display_events"]:
        if isinstance(r["payload"], str):
            r["payload"] = json.loads(r["payload"])
    return rows


async def push_laptop(store: Store, url: str) -> dict[str, list[dict[str, Any]]]:
    """Everything the relay needs from a laptop's store, pushed as one batch per table."""
    rows = await laptop_rows(store)
    for table in ("events", "templates", "display_sessions", "display_events"):
        await asyncio.to_thread(push, url, table, rows[table])
    return rows


def session_rows(*, public: bool = True, name: str = "Finish") -> dict[str, list[dict[str, Any]]]:
    """An event and one display session of it, shaped like the laptop's rows (no laptop)."""
    import secrets
    import uuid

    now = time.time()
    event = {
        "id": str(uuid.uuid4()),
        "name": "Relay 10K",
        "date": "2026-06-01",
        "timezone": "UTC",
        "created_at": now,
        "updated_at": now,
    }
    session = {
        "id": str(uuid.uuid4()),
        "token": secrets.token_urlsafe(16),
        "event_id": event["id"],
        "name": name,
        "mode": "results",
        "template_id": None,
        "locations": ["finish"],
        "rules": {},
        "status": "open",
        "settings": {"public": public, "epochs": [[secrets.token_hex(8), 0]]},
        "created_at": now,
        "updated_at": now,
    }
    return {"events": [event], "display_sessions": [session]}


def finisher_rows(session_id: str, first: int, last: int) -> list[dict[str, Any]]:
    """Display events ``first``..``last`` as the laptop stores them (kind finisher)."""
    now = time.time()
    return [
        {
            "session_id": session_id,
            "seq": seq,
            "kind": "finisher",
            "bib": str(seq),
            "stream_id": "stream-1",
            "location": "finish",
            "read_seq": seq,
            "payload": {
                "type": "finisher",
                "seq": seq,
                "bib": str(seq),
                "name": f"Runner {seq}",
                "first_name": "Runner",
                "last_name": str(seq),
                "known": True,
                "time": "0:31:07",
                "location": "finish",
                "place": seq,
                "read_at": round(now * 1000),
                "age": 40,
            },
            "created_at": now,
        }
        for seq in range(first, last + 1)
    ]
