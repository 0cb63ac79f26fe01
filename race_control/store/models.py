"""SQLAlchemy models of the local store (SQLite at the venue; the same shapes sync centrally).

Keys are chosen so rows can be copied to the central PostgreSQL without renumbering:
entities use time-ordered UUID text ids; high-volume rows (raw lines, reads, display
events) use composite natural keys that start with their owning entity's UUID
(``stream_id, n`` / ``stream_id, location, seq`` / ``session_id, seq``).  Every table
has ``created_at`` (and entities ``updated_at``) for incremental sync.
Schema changes go through Alembic migrations in ``store/migrations``.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> float:
    return time.time()


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, local to `timezone`
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("event_id", "bib", name="uq_participants_event_bib"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # no index of its own: uq_participants_event_bib (event_id, bib) serves lookups by event (0016)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    bib: Mapped[str] = mapped_column(String(32))  # normalized (no spaces, no leading zeros)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gender: Mapped[str] = mapped_column(String(32), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    division: Mapped[str] = mapped_column(String(100), default="")
    team: Mapped[str] = mapped_column(String(200), default="")
    wave: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(String(500), default="")
    alias: Mapped[str] = mapped_column(String(200), default="")  # shown instead of the name
    hidden: Mapped[bool] = mapped_column(default=False)  # privacy opt-out: shown as "Bib N"
    source: Mapped[str] = mapped_column(String(64), default="api")
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # fields the timer edited here (not from an import): a later import must not silently undo them
    local_fields: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class TimingStream(Base):
    """One timing stream: a CTP01 connection id (survives reconnects), an imported file set..."""

    __tablename__ = "timing_streams"
    __table_args__ = (UniqueConstraint("protocol", "source_key", name="uq_timing_streams_source"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(32))  # ctp01 | raceresult | controller-file
    source_key: Mapped[str] = mapped_column(String(200))  # e.g. the CTP01 connection id
    client: Mapped[str] = mapped_column(String(200), default="")
    event_name: Mapped[str] = mapped_column(String(200), default="")
    source_event_id: Mapped[str] = mapped_column(String(100), default="")
    remote_addr: Mapped[str] = mapped_column(String(100), default="")
    locations: Mapped[list[str]] = mapped_column(JSON, default=list)
    reference_date: Mapped[str] = mapped_column(String(10), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    live: Mapped[bool] = mapped_column(default=True, server_default="1")  # False: replays, imported files
    bad_lines: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clock_warnings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_clock_warning: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # a connection claimed another stream's id while that one was connected from another address:
    # it got this stream of its own instead (the claimed stream's id), flagged for the operator
    claimed_from: Mapped[str] = mapped_column(String(36), default="", server_default="")
    suspect: Mapped[bool] = mapped_column(default=False, server_default="0")
    last_seen_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class RawLine(Base):
    """Every inbound protocol line, stored before anything derived from it is used."""

    __tablename__ = "raw_lines"
    stream_id: Mapped[str] = mapped_column(ForeignKey("timing_streams.id"), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[float] = mapped_column(Float)
    line: Mapped[str] = mapped_column(Text)


class Read(Base):
    """A tag read or gun time, unique per (stream, location, source sequence)."""

    __tablename__ = "reads"
    # arrival order within a stream: re-running rules, previews and history read it this way
    # a bib's reads of a stream: the location-filtered suppressions of one bib (migration 0015)
    __table_args__ = (
        Index("ix_reads_stream_arrival", "stream_id", "raw_n"),
        Index("ix_reads_stream_bib", "stream_id", "bib"),
    )
    stream_id: Mapped[str] = mapped_column(ForeignKey("timing_streams.id"), primary_key=True)
    location: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # tag | gun
    tag: Mapped[str] = mapped_column(String(32))
    bib: Mapped[str] = mapped_column(String(32))
    time_text: Mapped[str] = mapped_column(String(40))
    clock: Mapped[float] = mapped_column(Float)
    lap: Mapped[int] = mapped_column(Integer, default=0)
    reader_id: Mapped[str] = mapped_column(String(16), default="")
    gator: Mapped[int] = mapped_column(Integer, default=0)
    raw_n: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[float] = mapped_column(Float)


class ReadConflict(Base):
    """A (location, seq) a stream sent again with OTHER content than the stored read.

    The stored read stays what it was (first come); this row is the other one, next to its raw
    line (``raw_lines`` (stream_id, raw_n)), so nothing the stream said is silently dropped.
    A resend of the same content is no conflict (a reconnecting client resends its cursor).
    """

    __tablename__ = "read_conflicts"
    stream_id: Mapped[str] = mapped_column(ForeignKey("timing_streams.id"), primary_key=True)
    location: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    raw_n: Mapped[int] = mapped_column(Integer, primary_key=True)  # the conflicting line
    kind: Mapped[str] = mapped_column(String(8))  # tag | gun
    tag: Mapped[str] = mapped_column(String(32))
    time_text: Mapped[str] = mapped_column(String(40))
    lap: Mapped[int] = mapped_column(Integer, default=0)
    reader_id: Mapped[str] = mapped_column(String(16), default="")
    gator: Mapped[int] = mapped_column(Integer, default=0)
    remote_addr: Mapped[str] = mapped_column(String(100), default="")  # who sent it
    received_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class DisplaySession(Base):
    __tablename__ = "display_sessions"
    __table_args__ = (Index("ix_display_sessions_created", "created_at"),)  # history: newest first
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    mode: Mapped[str] = mapped_column(String(16))  # results | pre-race
    template_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locations: Mapped[list[str]] = mapped_column(JSON, default=list)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default="{}"
    )  # countdown, schedule, mode history
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class SessionStream(Base):
    __tablename__ = "session_streams"
    session_id: Mapped[str] = mapped_column(ForeignKey("display_sessions.id"), primary_key=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("timing_streams.id"), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class DisplayEvent(Base):
    """What a display session announced, in order; screens resume from here."""

    __tablename__ = "display_events"
    # history: finishers counted per session from the index; a bib's finishes and corrections
    __table_args__ = (Index("ix_display_events_kind_bib", "session_id", "kind", "bib"),)
    session_id: Mapped[str] = mapped_column(ForeignKey("display_sessions.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # finisher | correction | ...
    bib: Mapped[str] = mapped_column(String(32), default="")
    stream_id: Mapped[str] = mapped_column(String(36), default="")
    location: Mapped[str] = mapped_column(String(32), default="")
    read_seq: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Suppression(Base):
    """A read a display session did not show, and why (so an operator can see it)."""

    __tablename__ = "suppressions"
    __table_args__ = (
        Index("ix_suppressions_session", "session_id", "created_at"),
        # a bib's suppressions in a session, newest first, from the index alone (the API, the
        # history); replaced 0014's (session_id, bib), which left the order to a scan
        Index("ix_suppressions_bib_time", "session_id", "bib", "created_at"),
    )
    session_id: Mapped[str] = mapped_column(ForeignKey("display_sessions.id"), primary_key=True)
    stream_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    location: Mapped[str] = mapped_column(String(32), primary_key=True)
    read_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    bib: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(32), server_default="")  # stable: duplicate, too_soon, …
    reason: Mapped[str] = mapped_column(String(200))  # for people; its wording may change
    created_at: Mapped[float] = mapped_column(Float, default=now)


class ReadMinute(Base):
    """Tag reads per stream and timing-clock minute (``clock // 60``): the analytics' reads per
    minute, counted by the ingest pipeline (``_write_batch``) in the reads' own transaction (store
    migrations 0015, 0018).
    Per stream, not per session: it grows with the reads only."""

    __tablename__ = "read_minutes"
    stream_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    reads: Mapped[int] = mapped_column(Integer)


class FinisherMinute(Base):
    """Finishers a display session announced per timing-clock minute of their read (counted by
    ``sessions.queries.write_derived`` with the batch's display events: migrations 0015, 0018)."""

    __tablename__ = "finisher_minutes"
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    finishers: Mapped[int] = mapped_column(Integer)


class UnknownBib(Base):
    """A bib a display session announced as "Bib N" (not in the roster when it crossed), once
    (added by ``sessions.queries.write_derived`` with the display events: migrations 0015, 0018):
    the analytics' unknown bibs."""

    __tablename__ = "unknown_bibs"
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bib: Mapped[str] = mapped_column(String(32), primary_key=True)


class SuppressionCount(Base):
    """How many reads a display session suppressed, per reason code: triggers on
    ``suppressions`` count the stored rows; ``location_filtered`` decisions are not stored as
    rows (a read at a location the session does not show is recomputed from the read and the
    rules: ``sessions.queries.filtered_reads``), so ``sessions.queries.write_derived`` counts
    them here itself, in the same transaction (migration 0015)."""

    __tablename__ = "suppression_counts"
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class SessionSnapshot(Base):
    """What a display session had derived from its reads at a position (``sessions.snapshot``):
    start-up continues from it instead of replaying every stored read.  Derived and local: not
    synced, safe to drop (the session is then replayed from its reads)."""

    __tablename__ = "session_snapshots"
    session_id: Mapped[str] = mapped_column(ForeignKey("display_sessions.id"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # rules + streams it holds for
    last_seq: Mapped[int] = mapped_column(Integer)  # the session's last display seq when taken
    taken_at: Mapped[float] = mapped_column(Float)
    state: Mapped[bytes] = mapped_column(LargeBinary)  # zlib marshal records (format 3)
    unknown: Mapped[bytes] = mapped_column(LargeBinary)  # its "Bib N" finishes (zlib JSON)


class ScreenSeen(Base):
    """A distinct screen that connected to a display session (``screen``: the page's stored
    screen id, else ``address <ip>``), kept after it left and across restarts: the history's
    "screens seen".  Written in batches by ``display_server.screens_seen``; local, not synced."""

    __tablename__ = "screens_seen"
    session_id: Mapped[str] = mapped_column(ForeignKey("display_sessions.id"), primary_key=True)
    screen: Mapped[str] = mapped_column(String(80), primary_key=True)
    screen_id: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(100), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    viewport: Mapped[str] = mapped_column(String(16), default="")  # "1920x1080", "" unknown
    connections: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Template(Base):
    __tablename__ = "templates"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class TemplateVersion(Base):
    """Every saved version of a custom template, its body as it was saved (docs/templates.md#versions).

    Local history of this laptop (not a synced table: the central copy keeps its own
    ``template_versions`` from the pushes).  ``origin`` says what made it: saved, restored,
    imported, synced (another laptop's, pulled) or existing (what migration 0013 found)."""

    __tablename__ = "template_versions"
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_at: Mapped[float] = mapped_column(Float, default=now)
    origin: Mapped[str] = mapped_column(String(16), default="saved")


class TemplateImage(Base):
    """A template image, re-encoded, stored once by the SHA-256 of its bytes (docs/templates.md#images);
    screens load it from ``/display/images/<sha256>.<ext>``."""

    __tablename__ = "template_images"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    ext: Mapped[str] = mapped_column(String(8))  # png | jpg
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class User(Base):
    """A local account of the desktop app: only a password verifier is stored, never the password."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    verifier: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(16), default="local")  # local | central (later)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class SyncClock(Base):
    """One row: this laptop's device id and hybrid logical clock (docs/sync.md#the-clock).

    ``applying`` is 1 only while pulled central rows are written: the sync triggers then
    record nothing, so a pulled row is not sent back."""

    __tablename__ = "sync_clock"
    device: Mapped[str] = mapped_column(String(36), primary_key=True)
    hlc: Mapped[int] = mapped_column(BigInteger)
    applying: Mapped[int] = mapped_column(Integer)


class SyncRow(Base):
    """An entity row that changed (written by SQLite triggers in the change's transaction):
    the clock and origin of its last change, whether it was deleted, whether it is ``pending``
    (not yet central) and since when (``changed_at``).  ``key`` is the row's id
    (session_streams: ``session_id + ' ' + stream_id``)."""

    __tablename__ = "sync_rows"
    __table_args__ = (Index("ix_sync_rows_pending", "pending", "hlc"),)
    tbl: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    hlc: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(36))
    deleted: Mapped[bool] = mapped_column()
    pending: Mapped[bool] = mapped_column()
    changed_at: Mapped[float] = mapped_column(Float)


class SyncPull(Base):
    """Per shared central table, how far the pull has read (docs/sync.md#pull): every central
    row with ``tx < tx_from`` was seen, and of the others those up to ``(after_tx, after_key)``
    in ``(tx, id)`` order.  Written in the same transaction as the pulled rows it covers."""

    __tablename__ = "sync_pull"
    tbl: Mapped[str] = mapped_column(String(32), primary_key=True)
    tx_from: Mapped[int] = mapped_column(BigInteger)
    after_tx: Mapped[int] = mapped_column(BigInteger)
    after_key: Mapped[str] = mapped_column(String(80))


class Preset(Base):
    """A display-session or rules preset (``kind`` session | rules): a named ``body`` to set up
    a session from, shared with the timing partner's other laptops (synced like templates)."""

    __tablename__ = "presets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class SyncCursor(Base):
    """Per append-only table (raw_lines, reads, ...): the highest rowid already central, and how
    often a delete from the table lowered it (``resets``: a batch read before one is not
    checked off, since SQLite may have given its rowids to new rows)."""

    __tablename__ = "sync_cursors"
    tbl: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_rowid: Mapped[int] = mapped_column(BigInteger)
    resets: Mapped[int] = mapped_column(Integer)


class ProviderAccount(Base):
    """An account at a registration/scoring provider (docs/providers.md).  No secret here: the
    credentials are in the secret store (``race_control.secrets``), named after this id."""

    __tablename__ = "provider_accounts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))  # runsignup | ctlive | ...
    label: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500), default="")  # "" = the provider's own
    credential_fields: Mapped[list[str]] = mapped_column(JSON, default=list)  # names only
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class ProviderLink(Base):
    """A provider registration of an event's runner: the local participant it is, its status at
    the provider (active, removed, transferred, ...) and the provider's raw row."""

    __tablename__ = "provider_links"
    __table_args__ = (Index("ix_provider_links_participant", "participant_id"),)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    registration_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    participant_id: Mapped[str] = mapped_column(String(36), default="")  # "" : never in the roster
    account_id: Mapped[str] = mapped_column(String(36), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    synced_at: Mapped[float] = mapped_column(Float, default=now)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class ProviderSync(Base):
    """Per (event, account, provider event): where the next incremental pull starts."""

    __tablename__ = "provider_syncs"
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider_event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_sync_at: Mapped[float] = mapped_column(Float, default=now)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class RosterMapping(Base):
    """A roster file source's saved column mapping (``{field: column header}``) and the headers
    of the file it was saved from: the next file of that source imports with it."""

    __tablename__ = "roster_mappings"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), default="csv")  # csv | active
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    headers: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)
