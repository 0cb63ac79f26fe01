"""Send one outbox ``Batch`` to the central PostgreSQL in ONE transaction (docs/sync.md#push).

``push_batch(pg, batch)`` (blocking, psycopg2: call it on the sync worker's thread, never on
the event loop) writes everything, commits, and returns the number of rows sent; the caller
then checks the batch off locally (``outbox.mark_pushed``).  Any failure rolls the central
transaction back and raises a ``SyncFailure`` (``connection.failure``): nothing of the batch
is half-applied and the local checkpoints have not moved, so the batch is simply read and
sent again.  Every statement is idempotent, so sending a batch twice (its commit got through
but the answer did not) changes nothing:

* entities: one ``INSERT … VALUES (…), (…) ON CONFLICT (partner_id, <key>) DO UPDATE … WHERE
  (t.hlc, t.origin) < (EXCLUDED.hlc, EXCLUDED.origin) AND NOT t.deleted`` per table (the newer
  change wins; a tombstone wins over everything); tombstones are one ``UPDATE … FROM (VALUES
  …)`` per table (a row the central database never had needs no tombstone).  A session's
  stream link may come back after it was removed (unbind, bind again): for ``session_streams``
  the newer change wins, tombstone or not.  Every written row's ``tx`` is the writing
  transaction (pulls follow it).  ``display_sessions.public`` is the local
  ``settings["public"]`` (true only if it is exactly ``true``); every template row also
  records its version in ``template_versions``;
* append rows: ``COPY`` into a temporary table (``ON COMMIT DROP``), then ``INSERT … SELECT …
  ON CONFLICT DO NOTHING`` (row-level security refuses ``COPY FROM`` into the tables
  themselves); suppressions, which a session re-derives when its rules change, take the new
  content (``DO UPDATE``);
* this device's ``devices`` row (``last_push_at``).

``partner_id`` is ``SELECT rc_current_partner()`` (the login's partner), read once per
batch (``partner_of``).  JSON goes to JSONB; floats are sent with ``repr`` (exact).
"""

from __future__ import annotations

import csv
import io
import json
import socket
import time
from collections.abc import Iterable
from typing import Any

import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import Json, execute_values

from race_control.central import schema as central
from race_control.store.models import Base
from race_control.sync.connection import CentralRejected, failure
from race_control.sync.outbox import ENTITY_KEYS, AppendRows, Batch, EntityChange

PAGE = 1000  # rows per INSERT … VALUES statement
REVIVABLE = {"session_streams"}  # link rows: a later insert after a delete is a new link


def partner_of(cur: Any) -> str:
    """The partner this login belongs to (``rc_current_partner()``), inside the batch's
    transaction (one query per batch: nothing cached across connections or logins)."""
    cur.execute("SELECT rc_current_partner()::text")
    row = cur.fetchone()
    if row is None or row[0] is None:
        raise CentralRejected(
            "this central login belongs to no timing partner (use the URL `central add-partner` printed)"
        )
    return str(row[0])


def _local_columns(table: str) -> list[str]:
    return [c.name for c in Base.metadata.tables[table].columns]


def _json_columns(table: str) -> set[str]:
    t = central.metadata.tables[table]
    return {c.name for c in t.columns if c.type.__class__.__name__ == "JSONB"}


def _value(v: Any, is_json: bool) -> Any:
    if is_json:
        return Json(v, dumps=_dumps)
    return v


def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _ident_list(names: Iterable[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _upsert_entities(cur: Any, partner: str, table: str, changes: list[EntityChange]) -> None:
    cols = _local_columns(table)
    keys = ENTITY_KEYS[table]
    json_cols = _json_columns(table)
    extra = ["hlc", "origin", "deleted"] + (["public"] if table == "display_sessions" else [])
    target = ["partner_id", *cols, *extra]
    updates = [c for c in cols if c not in keys] + extra
    sets = sql.SQL(", ").join(
        [sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates]
        + [sql.SQL("tx = pg_current_xact_id()::text::bigint")]
    )
    guard = sql.SQL("({t}.hlc, {t}.origin) < (EXCLUDED.hlc, EXCLUDED.origin)").format(t=sql.Identifier(table))
    if table not in REVIVABLE:
        guard = sql.SQL("{g} AND NOT {t}.deleted").format(g=guard, t=sql.Identifier(table))
    stmt = sql.SQL(
        "INSERT INTO {t} ({cols}) VALUES %s ON CONFLICT (partner_id, {keys}) DO UPDATE SET {sets} WHERE {guard}"
    ).format(
        t=sql.Identifier(table),
        cols=_ident_list(target),
        keys=_ident_list(keys),
        sets=sets,
        guard=guard,
    )
    rows = []
    for ch in changes:
        assert ch.row is not None
        values = [partner, *(_value(ch.row[c], c in json_cols) for c in cols), ch.hlc, ch.origin, False]
        if table == "display_sessions":
            values.append((ch.row.get("settings") or {}).get("public") is True)
        rows.append(values)
    execute_values(cur, stmt.as_string(cur), rows, page_size=PAGE)
    if table == "templates":
        versions = [
            (
                partner,
                ch.row["id"],
                ch.row["version"],
                ch.row["name"],
                Json(ch.row["body"], dumps=_dumps),
                ch.row["updated_at"],
                ch.origin,
            )
            for ch in changes
            if ch.row is not None
        ]
        execute_values(
            cur,
            "INSERT INTO template_versions (partner_id, template_id, version, name, body, saved_at, origin) "
            "VALUES %s ON CONFLICT DO NOTHING",
            versions,
            page_size=PAGE,
        )


def _tombstones(cur: Any, partner: str, table: str, changes: list[EntityChange]) -> None:
    keys = ENTITY_KEYS[table]
    v_cols = [*keys, "hlc", "origin"]
    match = sql.SQL(" AND ").join(sql.SQL("t.{c} = v.{c}").format(c=sql.Identifier(c)) for c in keys)
    stmt = sql.SQL(
        "UPDATE {t} AS t SET deleted = true, hlc = v.hlc, origin = v.origin, "
        "tx = pg_current_xact_id()::text::bigint "
        "FROM (VALUES %s) AS v ({vcols}) "
        "WHERE t.partner_id = {partner} AND {match} AND (t.hlc, t.origin) < (v.hlc, v.origin)"
    ).format(
        t=sql.Identifier(table),
        vcols=_ident_list(v_cols),
        partner=sql.Literal(partner),
        match=match,
    )
    rows = [(*ch.key.split(" "), ch.hlc, ch.origin) for ch in changes]
    execute_values(
        cur,
        stmt.as_string(cur),
        rows,
        template="(" + ", ".join(["%s"] * (len(keys)) + ["%s::bigint", "%s"]) + ")",
        page_size=PAGE,
    )


def _copy_appends(cur: Any, partner: str, a: AppendRows) -> None:
    """``a``'s rows by ``COPY`` (CSV, written by the C ``csv.writer`` from the tuples as read:
    JSON columns are the stored text, parsed by PostgreSQL once) into a temporary table, then
    one ``INSERT … SELECT … ON CONFLICT``.  Every append-table column is NOT NULL, so
    ``FORCE_NOT_NULL`` keeps an empty string an empty string; floats are written with
    ``repr`` (exact)."""
    cols = list(a.columns) if a.columns else _local_columns(a.local)
    ctable = central.metadata.tables[a.table]
    temp = sql.Identifier(f"rc_in_{a.table}")
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {cols} FROM {t} WITH NO DATA").format(
            tmp=temp, cols=_ident_list(cols), t=sql.Identifier(a.table)
        )
    )
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(a.rows)
    buf.seek(0)
    not_null = [c for c in cols if not ctable.c[c].nullable]
    force = sql.SQL(", FORCE_NOT_NULL ({})").format(_ident_list(not_null)) if not_null else sql.SQL("")
    cur.copy_expert(
        sql.SQL("COPY {tmp} ({cols}) FROM STDIN WITH (FORMAT csv{force})")
        .format(tmp=temp, cols=_ident_list(cols), force=force)
        .as_string(cur),
        buf,
    )
    keys = [c.name for c in central.metadata.tables[a.table].primary_key.columns]
    if a.table == "suppressions":
        changing = [c for c in cols if c not in keys]
        conflict = sql.SQL("ON CONFLICT ({keys}) DO UPDATE SET {sets}").format(
            keys=_ident_list(keys),
            sets=sql.SQL(", ").join(
                sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in changing
            ),
        )
    else:
        conflict = sql.SQL("ON CONFLICT DO NOTHING")
    insert = sql.SQL("INSERT INTO {t} (partner_id, {cols}) SELECT {partner}, {cols} FROM {tmp} ").format(
        t=sql.Identifier(a.table), cols=_ident_list(cols), partner=sql.Literal(partner), tmp=temp
    )
    if a.table != "suppressions":
        # first time (the bulk case): a plain INSERT under a savepoint, cheaper for the server
        # than ON CONFLICT's speculative insertion; a row already there (a batch sent again)
        # or written meanwhile by a concurrent transaction raises unique_violation: back to the
        # savepoint and the same rows with ON CONFLICT DO NOTHING (idempotent either way)
        cur.execute("SAVEPOINT rc_append")
        try:
            cur.execute(insert)
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT rc_append")
        else:
            cur.execute("RELEASE SAVEPOINT rc_append")
            return
    cur.execute(insert + conflict)


def _device(cur: Any, partner: str, device: str, now: float) -> None:
    cur.execute(
        "INSERT INTO devices (partner_id, id, name, last_push_at, created_at) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (partner_id, id) DO UPDATE SET last_push_at = EXCLUDED.last_push_at",
        (partner, device, socket.gethostname()[:200], now, now),
    )


def push_batch(pg: psycopg2.extensions.connection, batch: Batch) -> int:
    """Write ``batch`` centrally in one transaction and commit it; the number of rows sent.

    Raises ``SyncFailure`` (the transaction rolled back, or its outcome unknown if the
    connection broke during the commit: sending the batch again is safe either way)."""
    try:
        with pg.cursor() as cur:
            partner = partner_of(cur)
            by_table: dict[str, tuple[list[EntityChange], list[EntityChange]]] = {}
            for ch in batch.entities:
                live, dead = by_table.setdefault(ch.table, ([], []))
                (dead if ch.deleted else live).append(ch)
            for table in ENTITY_KEYS:  # a fixed order: two laptops never deadlock on each other
                live, dead = by_table.get(table, ([], []))
                if live:
                    _upsert_entities(cur, partner, table, live)
                if dead:
                    _tombstones(cur, partner, table, dead)
            for a in batch.appends:
                _copy_appends(cur, partner, a)
            _device(cur, partner, batch.device, time.time())
        pg.commit()
    except Exception as exc:
        try:
            if not pg.closed:
                pg.rollback()
        except Exception:
            pass
        raise failure(exc) from exc
    return batch.size


__all__ = ["partner_of", "push_batch"]
