"""Saved column mappings of roster files, one per source (table ``roster_mappings``).

Run on the store's thread (``Store.run`` or a unit of work's ``write``).  A source name is what
the timer calls a file's origin ("ultrasignup", "club-sheet", "active"): 1-64 characters of
letters, digits, ``-``, ``_``, ``.`` and spaces.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from race_control.roster.errors import RosterInputError
from race_control.store.models import RosterMapping, now

_SOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._\-]{0,63}$")


def check_source(source: object) -> str:
    if not isinstance(source, str) or not _SOURCE_RE.match(source.strip()):
        raise RosterInputError(
            "'source' must be a name of 1-64 letters, digits, spaces, '-', '_' or '.' (e.g. 'ultrasignup')"
        )
    return source.strip()


def load_mapping(conn: Connection, source: str) -> dict[str, Any] | None:
    t = RosterMapping.__table__
    row = conn.execute(select(t).where(t.c.source == source)).first()
    return None if row is None else _json(row)


def list_mappings(conn: Connection) -> list[dict[str, Any]]:
    t = RosterMapping.__table__
    return [_json(r) for r in conn.execute(select(t).order_by(t.c.source))]


def put_mapping(
    conn: Connection, source: str, provider: str, mapping: dict[str, str], headers: list[str]
) -> None:
    t = RosterMapping.__table__
    stamp = now()
    stmt = sqlite_insert(t).values(
        source=source, provider=provider, mapping=mapping, headers=headers, created_at=stamp, updated_at=stamp
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["source"],
            set_={
                "provider": stmt.excluded.provider,
                "mapping": stmt.excluded.mapping,
                "headers": stmt.excluded.headers,
                "updated_at": stamp,
            },
        )
    )


def _json(row: Any) -> dict[str, Any]:
    return {
        "source": row.source,
        "provider": row.provider,
        "mapping": dict(row.mapping or {}),
        "headers": list(row.headers or []),
        "updated_at": row.updated_at,
    }
