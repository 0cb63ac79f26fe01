"""The central PostgreSQL schema: the local store's tables, one copy per timing partner.

Every synced table is the local table of the same name (``store/models.py``) with the same
columns and keys, plus ``partner_id`` (uuid, first column of the primary key: rows of two
partners never collide, and the key is the tenant index) and bookkeeping columns:

* *entity* tables (``ENTITY_TABLES``: rows change and may be deleted) carry ``hlc`` (the hybrid
  logical clock of the change, bigint: milliseconds << 16 | counter), ``origin`` (the device
  that made it), ``deleted`` (a tombstone: deletes are rows that win, never physical deletes)
  and ``tx`` (``pg_current_xact_id()`` of the transaction that wrote the row: pulls read the
  rows of finished transactions only, so no change is skipped; docs/sync.md#pull);
* *append* tables (``APPEND_TABLES``: rows are only ever added — reads, raw lines, display
  events…) are copied once, keyed exactly as locally; ``display_events`` also carry ``tx``
  (the relay follows them).

Central-only tables: ``timing_partners`` (one per login), ``users`` (central accounts, an
argon2 hash each), ``devices`` (sync state per laptop), ``template_versions`` (every saved
version of a template), ``presets`` (display-session and rule presets to share),
``template_images`` (the templates' images, one row per content hash and partner: central
migration c0003) and the ``results`` view (a session's finishers).  Row-level security on every table with a
``partner_id`` is created by the migrations (``central/migrations``), not here.

This module is the shape the sync code writes against; ``tests/central`` checks that the
migrations produce exactly it (a drift between the two fails there).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.types import TypeEngine

from race_control.store.models import Base

metadata = MetaData()

# tables whose rows change (upserted by hlc, tombstoned on delete) / only grow (copied once)
ENTITY_TABLES = (
    "events",
    "participants",
    "timing_streams",
    "display_sessions",
    "session_streams",
    "templates",
)
APPEND_TABLES = ("raw_lines", "timing_reads", "read_conflicts", "display_events", "suppressions")
# the local table each central table mirrors (the one renamed: centrally, reads are timing_reads)
LOCAL_NAME = {"timing_reads": "reads"}
# tables another device's rows come down from (docs/sync.md#what-is-shared)
SHARED_TABLES = ("events", "participants", "templates", "display_sessions", "presets")

CURRENT_TX = text("pg_current_xact_id()::text::bigint")


def _central_type(col_type: TypeEngine) -> TypeEngine:
    if isinstance(col_type, JSON):
        return JSONB()
    if isinstance(col_type, Float):
        return Double()  # local REAL is a double: copied exactly
    return col_type.copy() if hasattr(col_type, "copy") else col_type


def _partner_id() -> Column:
    return Column("partner_id", UUID(as_uuid=False), primary_key=True, nullable=False)


def _mirror(name: str, *, entity: bool) -> Table:
    local = Base.metadata.tables[LOCAL_NAME.get(name, name)]
    cols: list[Column] = [_partner_id()]
    for c in local.columns:
        cols.append(Column(c.name, _central_type(c.type), primary_key=c.primary_key, nullable=c.nullable))
    if entity:
        cols += [
            Column("hlc", BigInteger, nullable=False),
            Column("origin", String(64), nullable=False),
            Column("deleted", Boolean, nullable=False, server_default=text("false")),
        ]
    if entity or name == "display_events":
        cols.append(Column("tx", BigInteger, nullable=False, server_default=CURRENT_TX))
    table = Table(name, metadata, *cols)
    if entity or name == "display_events":
        Index(f"ix_{name}_partner_tx", table.c.partner_id, table.c.tx)
    return table


timing_partners = Table(
    "timing_partners",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("login", String(63), nullable=False, unique=True),  # its PostgreSQL role
    Column("created_at", Double, nullable=False),
)

users = Table(
    "users",
    metadata,
    _partner_id(),
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False),  # stored lower-case; unique per partner
    Column("password_hash", String(300), nullable=False),  # argon2id, PHC string
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)
Index("uq_users_partner_email", users.c.partner_id, users.c.email, unique=True)

devices = Table(
    "devices",
    metadata,
    _partner_id(),
    Column("id", String(36), primary_key=True),  # the laptop's device id (local sync_clock)
    Column("name", String(200), nullable=False, server_default=""),
    Column("last_push_at", Double, nullable=True),
    Column("last_pull_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
)

events = _mirror("events", entity=True)
participants = _mirror("participants", entity=True)
timing_streams = _mirror("timing_streams", entity=True)
display_sessions = _mirror("display_sessions", entity=True)
display_sessions.append_column(
    Column("public", Boolean, nullable=False, server_default=text("false"))
)  # served by `race-control relay` (settings["public"] locally)
Index("ix_display_sessions_token", display_sessions.c.token)  # the relay finds a screen's session
session_streams = _mirror("session_streams", entity=True)
templates = _mirror("templates", entity=True)

raw_lines = _mirror("raw_lines", entity=False)
timing_reads = _mirror("timing_reads", entity=False)
read_conflicts = _mirror("read_conflicts", entity=False)
display_events = _mirror("display_events", entity=False)
suppressions = _mirror("suppressions", entity=False)

template_versions = Table(
    "template_versions",
    metadata,
    _partner_id(),
    Column("template_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("body", JSONB, nullable=False),
    Column("saved_at", Double, nullable=False),
    Column("origin", String(64), nullable=False),
)

presets = Table(
    "presets",
    metadata,
    _partner_id(),
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),  # session | rules
    Column("name", String(200), nullable=False),
    Column("body", JSONB, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("hlc", BigInteger, nullable=False),
    Column("origin", String(64), nullable=False),
    Column("deleted", Boolean, nullable=False, server_default=text("false")),
    Column("tx", BigInteger, nullable=False, server_default=CURRENT_TX),
)
Index("ix_presets_partner_tx", presets.c.partner_id, presets.c.tx)

# the templates' images (local ``template_images``): ``id`` is the SHA-256 of ``data``, so a row
# never changes (pushed with ON CONFLICT DO NOTHING); ``origin`` the device that sent it first,
# ``tx`` its writing transaction (pulls follow it, as for the shared tables).  Central migration
# c0003 also checks the name, the extension and the size (``templates.images.MAX_IMAGE_BYTES``).
template_images = Table(
    "template_images",
    metadata,
    _partner_id(),
    Column("id", String(64), primary_key=True),
    Column("ext", String(8), nullable=False),  # png | jpg
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("origin", String(64), nullable=False),
    Column("tx", BigInteger, nullable=False, server_default=CURRENT_TX),
)
Index("ix_template_images_partner_tx", template_images.c.partner_id, template_images.c.tx)
IMAGE_TABLE = "template_images"

PARTNER_TABLES = tuple(t for t in metadata.tables if t != "timing_partners")

__all__ = [
    "APPEND_TABLES",
    "ENTITY_TABLES",
    "IMAGE_TABLE",
    "LOCAL_NAME",
    "PARTNER_TABLES",
    "SHARED_TABLES",
    "metadata",
]
