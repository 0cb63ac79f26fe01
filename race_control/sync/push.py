"""Send one outbox ``Batch`` to the central PostgreSQL in ONE transaction (docs/sync.md#push).

``push_batch(pg, batch)`` (blocking, psycopg2: call it on the sync worker's thread, never on
the event loop) writes everything, commits, and returns the number of rows sent; the caller
then checks the batch off locally (``outbox.mark_pushed``).  Any failure rolls the central
transaction back and raises a ``SyncFailure`` (``connection.failure``): nothing of the batch
is half-applied and the local checkpoints have not moved, so the batch is simply read and
sent again.  Every statement is idempotent, so sending a batch twice (its commit got through
but the answer did not) changes nothing:

* entities: per table ``COPY`` (CSV) into a temporary table, then one ``INSERT … SELECT … ORDER
  BY <key> ON CONFLICT (partner_id, <key>) DO UPDATE … WHERE (t.hlc, t.origin) < (EXCLUDED.hlc,
  EXCLUDED.origin) AND NOT t.deleted`` (the newer change wins; a tombstone wins over everything;
  rows in key order, so two laptops writing the same rows take their locks in one order); tombstones are one ``UPDATE … FROM (VALUES
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
* template images the central database does not hold yet (``sync/images.py``);
* this device's ``devices`` row (``last_push_at``).

``partner_id`` is ``SELECT rc_current_partner()`` (the login's partner), read once per
batch (``partner_of``).  JSON goes to JSONB; floats are sent with ``repr`` (exact).

The client's share (the CSV text of every table) is ``encode_batch(batch)`` -> ``Encoded``: pure
Python, no connection, so the worker runs it for batch k+1 on another thread while batch k's
statements run on the server; ``push_batch`` takes a ``Batch`` (encoded then) or an ``Encoded``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import execute_values

from race_control.central import schema as central
from race_control.store.models import Base
from race_control.sync import images as sync_images
from race_control.sync.connection import CentralRejected, failure
from race_control.sync.outbox import ENTITY_KEYS, AppendRows, Batch, EntityChange

PAGE = 1000  # rows per VALUES statement (tombstones, template versions)
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


_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _ident_list(names: Iterable[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _csv(rows: Iterable[Iterable[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


# --- the client's share: CSV text ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityShape:
    """How one entity table travels: the temporary table's columns in CSV order (the local
    columns, then ``hlc, origin, deleted`` [``public``]), which of them are JSON, and which are
    nullable text sent as ``"=" + value`` (CSV has one empty field for both ``NULL`` and ``''``:
    the prefix keeps them apart; the ``INSERT`` takes it off again)."""

    table: str
    local: tuple[str, ...]
    columns: tuple[str, ...]
    json: tuple[int, ...]  # indexes into ``local``
    prefixed: tuple[int, ...]  # indexes into ``local``
    not_null: tuple[str, ...]  # FORCE_NOT_NULL: '' stays ''


@functools.cache
def entity_shape(table: str) -> EntityShape:
    local = tuple(_local_columns(table))
    ctable = central.metadata.tables[table]
    extra = ("hlc", "origin", "deleted") + (("public",) if table == "display_sessions" else ())
    json_cols = _json_columns(table)
    text_types = ("String", "Text", "Unicode", "UnicodeText")
    prefixed = tuple(
        i
        for i, c in enumerate(local)
        if ctable.c[c].nullable and ctable.c[c].type.__class__.__name__ in text_types
    )
    not_null = tuple(c for c in local if not ctable.c[c].nullable) + extra
    return EntityShape(
        table,
        local,
        local + extra,
        tuple(i for i, c in enumerate(local) if c in json_cols),
        prefixed,
        not_null,
    )


@dataclass(frozen=True, slots=True)
class EntityCsv:
    table: str
    live: list[EntityChange]  # upserted (their rows are the CSV)
    dead: list[EntityChange]  # tombstones
    csv: str


@dataclass(frozen=True, slots=True)
class AppendCsv:
    rows: AppendRows
    columns: tuple[str, ...]
    csv: str


@dataclass(frozen=True, slots=True)
class Encoded:
    """A ``Batch`` with the CSV text of its tables, ready for ``push_batch``."""

    batch: Batch
    entities: list[EntityCsv]  # in ``ENTITY_KEYS`` order (the lock order)
    appends: list[AppendCsv]

    @property
    def size(self) -> int:
        return self.batch.size

    @property
    def empty(self) -> bool:
        return self.batch.empty


def _public(settings: Any) -> bool:
    """A display session's central ``public``: its ``settings["public"]`` is exactly ``true``."""
    if isinstance(settings, str):
        settings = json.loads(settings) if settings else {}
    return isinstance(settings, dict) and settings.get("public") is True


def _json_text(v: Any) -> str:
    return v if isinstance(v, str) else _encode_json(v)


def _entity_csv(table: str, live: list[EntityChange]) -> str:
    shape = entity_shape(table)
    local, json_idx, prefixed = shape.local, shape.json, shape.prefixed
    sessions = table == "display_sessions"
    rows = []
    for ch in live:
        row = ch.row
        assert row is not None
        values = [row[c] for c in local]
        for i in json_idx:  # stored text as read (outbox); a decoded value is encoded
            if not isinstance(values[i], str):
                values[i] = _encode_json(values[i])
        for i in prefixed:
            if values[i] is not None:
                values[i] = "=" + str(values[i])
        values += (ch.hlc, ch.origin, False)
        if sessions:
            values.append(_public(row.get("settings")))
        rows.append(values)
    return _csv(rows)


def encode_batch(batch: Batch) -> Encoded:
    """The CSV text of every table of ``batch`` (no connection: any thread)."""
    by_table: dict[str, tuple[list[EntityChange], list[EntityChange]]] = {}
    for ch in batch.entities:
        live, dead = by_table.setdefault(ch.table, ([], []))
        (dead if ch.deleted else live).append(ch)
    entities = [
        EntityCsv(table, live, dead, _entity_csv(table, live) if live else "")
        for table in ENTITY_KEYS  # a fixed order: two laptops never deadlock on each other
        for live, dead in [by_table.get(table, ([], []))]
        if live or dead
    ]
    appends = [
        AppendCsv(a, tuple(a.columns) if a.columns else tuple(_local_columns(a.local)), _csv(a.rows))
        for a in batch.appends
    ]
    return Encoded(batch, entities, appends)


# --- the server's share ----------------------------------------------------------------------


def _copy(cur: Any, temp: sql.Identifier, columns: Iterable[str], not_null: Iterable[str], text: str) -> None:
    force = list(not_null)
    options = sql.SQL(", FORCE_NOT_NULL ({})").format(_ident_list(force)) if force else sql.SQL("")
    cur.copy_expert(
        sql.SQL("COPY {tmp} ({cols}) FROM STDIN WITH (FORMAT csv{force})")
        .format(tmp=temp, cols=_ident_list(columns), force=options)
        .as_string(cur),
        io.StringIO(text),
    )


def _upsert_entities(cur: Any, partner: str, e: EntityCsv) -> None:
    table, shape = e.table, entity_shape(e.table)
    keys = ENTITY_KEYS[table]
    prefixed = {shape.local[i] for i in shape.prefixed}
    temp = sql.Identifier(f"rc_ent_{table}")
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {cols} FROM {t} WITH NO DATA").format(
            tmp=temp,
            t=sql.Identifier(table),
            cols=sql.SQL(", ").join(
                sql.SQL("{c}::text AS {c}").format(c=sql.Identifier(c))
                if c in prefixed
                else sql.Identifier(c)
                for c in shape.columns
            ),
        )
    )
    _copy(cur, temp, shape.columns, shape.not_null, e.csv)
    updates = [c for c in shape.columns if c not in keys]
    sets = sql.SQL(", ").join(
        [sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates]
        + [sql.SQL("tx = pg_current_xact_id()::text::bigint")]
    )
    guard = sql.SQL("({t}.hlc, {t}.origin) < (EXCLUDED.hlc, EXCLUDED.origin)").format(t=sql.Identifier(table))
    if table not in REVIVABLE:
        guard = sql.SQL("{g} AND NOT {t}.deleted").format(g=guard, t=sql.Identifier(table))
    values = sql.SQL(", ").join(
        sql.SQL("substr({c}, 2)").format(c=sql.Identifier(c)) if c in prefixed else sql.Identifier(c)
        for c in shape.columns
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {t} (partner_id, {cols}) SELECT {partner}, {values} FROM {tmp} ORDER BY {keys} "
            "ON CONFLICT (partner_id, {keys}) DO UPDATE SET {sets} WHERE {guard}"
        ).format(
            t=sql.Identifier(table),
            cols=_ident_list(shape.columns),
            partner=sql.Literal(partner),
            values=values,
            tmp=temp,
            keys=_ident_list(keys),
            sets=sets,
            guard=guard,
        )
    )
    if table == "templates":
        versions = [
            (
                partner,
                ch.row["id"],
                ch.row["version"],
                ch.row["name"],
                _json_text(ch.row["body"]),
                ch.row["updated_at"],
                ch.origin,
            )
            for ch in e.live
            if ch.row is not None
        ]
        execute_values(
            cur,
            "INSERT INTO template_versions (partner_id, template_id, version, name, body, saved_at, origin) "
            "VALUES %s ON CONFLICT DO NOTHING",
            versions,
            template="(%s, %s, %s, %s, %s::jsonb, %s, %s)",
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


def _copy_appends(cur: Any, partner: str, e: AppendCsv) -> None:
    """``e``'s rows by ``COPY`` (CSV, written by the C ``csv.writer`` from the tuples as read:
    JSON columns are the stored text, parsed by PostgreSQL once) into a temporary table, then
    one ``INSERT … SELECT``.  Every append-table column is NOT NULL, so ``FORCE_NOT_NULL``
    keeps an empty string an empty string; floats are written with ``repr`` (exact)."""
    a, cols = e.rows, list(e.columns)
    ctable = central.metadata.tables[a.table]
    temp = sql.Identifier(f"rc_in_{a.table}")
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {cols} FROM {t} WITH NO DATA").format(
            tmp=temp, cols=_ident_list(cols), t=sql.Identifier(a.table)
        )
    )
    _copy(cur, temp, cols, [c for c in cols if not ctable.c[c].nullable], e.csv)
    keys = [c.name for c in ctable.primary_key.columns]
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


def push_batch(pg: psycopg2.extensions.connection, batch: Batch | Encoded) -> int:
    """Write ``batch`` centrally in one transaction and commit it; the number of rows sent.
    A ``Batch`` is encoded first (``encode_batch``); an ``Encoded`` is sent as it is.

    Raises ``SyncFailure`` (the transaction rolled back, or its outcome unknown if the
    connection broke during the commit: sending the batch again is safe either way)."""
    encoded = batch if isinstance(batch, Encoded) else encode_batch(batch)
    try:
        with pg.cursor() as cur:
            partner = partner_of(cur)
            for e in encoded.entities:  # ENTITY_KEYS order
                if e.live:
                    _upsert_entities(cur, partner, e)
                if e.dead:
                    _tombstones(cur, partner, e.table, e.dead)
            for a in encoded.appends:
                _copy_appends(cur, partner, a)
            if encoded.batch.images is not None:  # the content-hash image store (sync/images.py)
                sync_images.push(cur, partner, encoded.batch.device, encoded.batch.images)
            _device(cur, partner, encoded.batch.device, time.time())
        pg.commit()
    except Exception as exc:
        try:
            if not pg.closed:
                pg.rollback()
        except Exception:
            pass
        raise failure(exc) from exc
    return encoded.size


__all__ = ["Encoded", "encode_batch", "entity_shape", "partner_of", "push_batch"]
