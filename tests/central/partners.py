"""A migrated central database with two partners, and rows of each in every partner table."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
from sqlalchemy import BigInteger, Boolean, Double, Integer, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from race_control.central import admin
from race_control.central.schema import PARTNER_TABLES, metadata
from tests.helpers.postgres import scratch_database


@dataclass
class Central:
    admin_url: str
    dbname: str
    a: dict[str, str]
    b: dict[str, str]

    def admin(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        return conn


def value_for(column: Any, tag: str, n: int) -> Any:
    """A value of the column's type that names the partner (``tag``) and the row (``n``)."""
    t = column.type
    if isinstance(t, UUID):
        return str(uuid.uuid4())
    if isinstance(t, JSONB):
        return psycopg2.extras.Json({"partner": tag, "n": n})
    if isinstance(t, Boolean):
        return False
    if isinstance(t, BigInteger | Integer):
        return n
    if isinstance(t, Double):
        return float(n)
    if isinstance(t, LargeBinary):
        return psycopg2.Binary(f"{tag}{n}-{column.name}".encode())
    if isinstance(t, String | Text):
        text = f"{tag}{n}-{column.name}"
        return text[: t.length] if getattr(t, "length", None) else text
    raise AssertionError(f"no test value for {column.table.name}.{column.name} ({t!r})")


def row_for(table: str, partner_id: str, tag: str, n: int) -> dict[str, Any]:
    row = {c.name: value_for(c, tag, n) for c in metadata.tables[table].columns}
    row["partner_id" if "partner_id" in row else "id"] = partner_id
    if table == "display_events":
        row["kind"] = "finisher"
    if table == "template_images":  # its checks: the name is a SHA-256, the extension png or jpg
        row["id"] = hashlib.sha256(f"{tag}{n}".encode()).hexdigest()
        row["ext"] = "png"
    return row


def insert(cur: Any, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    cur.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


@contextlib.contextmanager
def two_partners(rows: bool = True) -> Iterator[Central]:
    """Partners A and B of a fresh migrated database; with ``rows``, two rows of each in every
    partner table (written by the owner, who is a superuser)."""
    import psycopg2.extras  # noqa: F401 - Json

    with scratch_database() as (url, dbname):
        admin.migrate(url)
        central = Central(url, dbname, admin.add_partner(url, "A"), admin.add_partner(url, "B"))
        if rows:
            conn = central.admin()
            try:
                with conn.cursor() as cur:
                    for table in PARTNER_TABLES:
                        for tag, partner in (("A", central.a), ("B", central.b)):
                            for n in (1, 2):
                                insert(cur, table, row_for(table, partner["partner_id"], tag, n))
            finally:
                conn.close()
        yield central
