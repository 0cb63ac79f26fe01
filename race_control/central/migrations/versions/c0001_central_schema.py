"""central schema: tables, the results view, row-level security

The DDL is written out here (not taken from ``central/schema.py``): a migration is frozen, the
live metadata moves on.  ``tests/central`` checks that the migrated database equals
``central/schema.py``.

Isolation (docs/sync.md#isolation): a group role ``<database>_partner`` (NOLOGIN) holds the
table privileges; every partner login (``central add-partner``) is a member.  Row-level security
is enabled and forced on every table with a ``partner_id`` and on ``timing_partners``; the
policies compare ``partner_id`` with ``rc_current_partner()``: the partner whose ``login`` is
``session_user``.

Revision ID: c0001
Revises:
Create Date: 2026-12-01 10:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None

TIMING_PARTNERS = (
    """
    CREATE TABLE public.timing_partners (
        id UUID NOT NULL,
        name VARCHAR(200) NOT NULL,
        login VARCHAR(63) NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (login)
    )
    """,
)

TABLES = (
    """
    CREATE TABLE public.devices (
        partner_id UUID NOT NULL,
        id VARCHAR(36) NOT NULL,
        name VARCHAR(200) DEFAULT '' NOT NULL,
        last_push_at DOUBLE PRECISION,
        last_pull_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (partner_id, id)
    )
    """,
    """
    CREATE TABLE public.display_events (
        partner_id UUID NOT NULL,
        session_id VARCHAR(36) NOT NULL,
        seq INTEGER NOT NULL,
        kind VARCHAR(16) NOT NULL,
        bib VARCHAR(32) NOT NULL,
        stream_id VARCHAR(36) NOT NULL,
        location VARCHAR(32) NOT NULL,
        read_seq INTEGER NOT NULL,
        payload JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
        PRIMARY KEY (partner_id, session_id, seq)
    )
    """,
    """
    CREATE INDEX ix_display_events_partner_tx ON public.display_events (partner_id, tx)
    """,
    """
    CREATE TABLE public.display_sessions (
        partner_id UUID NOT NULL,
        id VARCHAR(36) NOT NULL,
        token VARCHAR(64) NOT NULL,
        event_id VARCHAR(36) NOT NULL,
        name VARCHAR(200) NOT NULL,
        mode VARCHAR(16) NOT NULL,
        template_id VARCHAR(64),
        locations JSONB NOT NULL,
        rules JSONB NOT NULL,
        status VARCHAR(16) NOT NULL,
        settings JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        hlc BIGINT NOT NULL,
        origin VARCHAR(64) NOT NULL,
        deleted BOOLEAN DEFAULT false NOT NULL,
        tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
        public BOOLEAN DEFAULT false NOT NULL,
        PRIMARY KEY (partner_id, id)
    )
    """,
    """
    CREATE INDEX ix_display_sessions_partner_tx ON public.display_sessions (partner_id, tx)
    """,
    """
    CREATE INDEX ix_display_sessions_token ON public.display_sessions (token)
    """,
    """
    CREATE TABLE public.events (
        partner_id UUID NOT NULL,
        id VARCHAR(36) NOT NULL,
        name VARCHAR(200) NOT NULL,
        date VARCHAR(10) NOT NULL,
        timezone VARCHAR(64) NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        hlc BIGINT NOT NULL,
        origin VARCHAR(64) NOT NULL,
        deleted BOOLEAN DEFAULT false NOT NULL,
        tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
        PRIMARY KEY (partner_id, id)
    )
    """,
    """
    CREATE INDEX ix_events_partner_tx ON public.events (partner_id, tx)
    """,
    """
    CREATE TABLE public.participants (
        partner_id UUID NOT NULL,
        id VARCHAR(36) NOT NULL,
        event_id VARCHAR(36) NOT NULL,
        bib VARCHAR(32) NOT NULL,
        first_name VARCHAR(200) NOT NULL,
        last_name VARCHAR(200) NOT NULL,
        age INTEGER,
        gender VARCHAR(32) NOT NULL,
        city VARCHAR(200) NOT NULL,
        state VARCHAR(100) NOT NULL,
        country VARCHAR(100) NOT NULL,
        division VARCHAR(100) NOT NULL,
        team VARCHAR(200) NOT NULL,
        wave VARCHAR(64) NOT NULL,
        message VARCHAR(500) NOT NULL,
        alias VARCHAR(200) NOT NULL,
        hidden BOOLEAN NOT NULL,
        source VARCHAR(64) NOT NULL,
        raw JSONB NOT NULL,
        local_fields JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        hlc BIGINT NOT NULL,
        origin VARCHAR(64) NOT NULL,
        deleted BOOLEAN DEFAULT false NOT NULL,
        tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
        PRIMARY KEY (partner_id, id)
    )
    """,
    """
    CREATE INDEX ix_participants_partner_tx ON public.participants (partner_id, tx)
    """,
    """
    CREATE TABLE public.presets (
        partner_id UUID NOT NULL,
        id VARCHAR(36) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        name VARCHAR(200) NOT NULL,
        body JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        hlc BIGINT NOT NULL,
        origin VARCHAR(64) NOT NULL,
        deleted BOOLEAN DEFAULT false NOT NULL,
        tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
        PRIMARY KEY (partner_id, id)
    )
    """,
    """
    CREATE INDEX ix_presets_partner_tx ON public.presets (partner_id, tx)
    """,
    """
    CREATE TABLE public.raw_lines (
        partner_id UUID NOT NULL,
        stream_id VARCHAR(36) NOT NULL,
        n INTEGER NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        line TEXT NOT NULL,
        PRIMARY KEY (partner_id, stream_id, n)
    )
    """,
    """
    CREATE TABLE public.read_conflicts (
        partner_id UUID NOT NULL,
        stream_id VARCHAR(36) NOT NULL,
        location VARCHAR(32) NOT NULL,
        seq INTEGER NOT NULL,
        raw_n INTEGER NOT NULL,
        kind VARCHAR(8) NOT NULL,
        tag VARCHAR(32) NOT NULL,
        time_text VARCHAR(40) NOT NULL,
        lap INTEGER NOT NULL,
        reader_id VARCHAR(16) NOT NULL,
        gator INTEGER NOT NULL,
        remote_addr VARCHAR(100) NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (partner_id, stream_id, location, seq, raw_n)
    )
    """,
    """
    CREATE TABLE public.session_streams (
        partner_id UUID NOT NULL,
        session_id VARCHAR(36) NOT NULL,
        stream_id VARCHAR(36) NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        hlc BIGINT NOT NULL,
        origin VARCHAR(64) NOT NULL,
        deleted BOOLEAN DEFAULT false NOT NULL,
        tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
        PRIMARY KEY (partner_id, session_id, stream_id)
    )
    """,
    """
    CREATE INDEX ix_session_streams_partner_tx ON public.session_streams (partner_id, tx)
    """,
    """
    CREATE TABLE public.suppressions (
        partner_id UUID NOT NULL,
        session_id VARCHAR(36) NOT NULL,
        stream_id VARCHAR(36) NOT NULL,
        location VARCHAR(32) NOT NULL,
        read_seq INTEGER NOT NULL,
        bib VARCHAR(32) NOT NULL,
        code VARCHAR(32) NOT NULL,
        reason VARCHAR(200) NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (partner_id, session_id, stream_id, location, read_seq)
    )
    """,
    """
    CREATE TABLE public.template_versions (
        partner_id UUID NOT NULL,
        template_id VARCHAR(64) NOT NULL,
        version INTEGER NOT NULL,
        name VARCHAR(200) NOT NULL,
        body JSONB NOT NULL,
        saved_at DOUBLE PRECISION NOT NULL,
        origin VARCHAR(64) NOT NULL,
        PRIMARY KEY (partner_id, template_id, version)
    )
    """,
    """
    CREATE TABLE public.templates (
        partner_id UUID NOT NULL,
        id VARCHAR(64) NOT NULL,
        name VARCHAR(200) NOT NULL,
        mode VARCHAR(16) NOT NULL,
        version INTEGER NOT NULL,
        body JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        hlc BIGINT NOT NULL,
        origin VARCHAR(64) NOT NULL,
        deleted BOOLEAN DEFAULT false NOT NULL,
        tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
        PRIMARY KEY (partner_id, id)
    )
    """,
    """
    CREATE INDEX ix_templates_partner_tx ON public.templates (partner_id, tx)
    """,
    """
    CREATE TABLE public.timing_reads (
        partner_id UUID NOT NULL,
        stream_id VARCHAR(36) NOT NULL,
        location VARCHAR(32) NOT NULL,
        seq INTEGER NOT NULL,
        kind VARCHAR(8) NOT NULL,
        tag VARCHAR(32) NOT NULL,
        bib VARCHAR(32) NOT NULL,
        time_text VARCHAR(40) NOT NULL,
        clock DOUBLE PRECISION NOT NULL,
        lap INTEGER NOT NULL,
        reader_id VARCHAR(16) NOT NULL,
        gator INTEGER NOT NULL,
        raw_n INTEGER NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (partner_id, stream_id, location, seq)
    )
    """,
    """
    CREATE TABLE public.timing_streams (
        partner_id UUID NOT NULL,
        id VARCHAR(36) NOT NULL,
        protocol VARCHAR(32) NOT NULL,
        source_key VARCHAR(200) NOT NULL,
        client VARCHAR(200) NOT NULL,
        event_name VARCHAR(200) NOT NULL,
        source_event_id VARCHAR(100) NOT NULL,
        remote_addr VARCHAR(100) NOT NULL,
        locations JSONB NOT NULL,
        reference_date VARCHAR(10) NOT NULL,
        timezone VARCHAR(64) NOT NULL,
        live BOOLEAN NOT NULL,
        bad_lines INTEGER NOT NULL,
        clock_warnings INTEGER NOT NULL,
        last_clock_warning VARCHAR(500) NOT NULL,
        claimed_from VARCHAR(36) NOT NULL,
        suspect BOOLEAN NOT NULL,
        last_seen_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        hlc BIGINT NOT NULL,
        origin VARCHAR(64) NOT NULL,
        deleted BOOLEAN DEFAULT false NOT NULL,
        tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
        PRIMARY KEY (partner_id, id)
    )
    """,
    """
    CREATE INDEX ix_timing_streams_partner_tx ON public.timing_streams (partner_id, tx)
    """,
    """
    CREATE TABLE public.users (
        partner_id UUID NOT NULL,
        id VARCHAR(36) NOT NULL,
        email VARCHAR(254) NOT NULL,
        password_hash VARCHAR(300) NOT NULL,
        disabled BOOLEAN DEFAULT false NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (partner_id, id)
    )
    """,
    """
    CREATE UNIQUE INDEX uq_users_partner_email ON public.users (partner_id, email)
    """,
)

# the tables rows of one partner live in (all of them but timing_partners)
PARTNER_TABLES = (
    "devices",
    "display_events",
    "display_sessions",
    "events",
    "participants",
    "presets",
    "raw_lines",
    "read_conflicts",
    "session_streams",
    "suppressions",
    "template_versions",
    "templates",
    "timing_reads",
    "timing_streams",
    "users",
)
READ_ONLY = ("users",)  # partners read their users; only the database owner adds them

# SECURITY DEFINER: it reads timing_partners as its owner (whom RLS does not filter).  A fixed
# search_path with pg_temp last and every name qualified: a partner's temporary tables or
# functions named like ours are never used.  STABLE: one value per statement.
CURRENT_PARTNER = """
CREATE FUNCTION public.rc_current_partner() RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.id FROM public.timing_partners AS p
    WHERE p.login::pg_catalog.text OPERATOR(pg_catalog.=) SESSION_USER::pg_catalog.text
$$
"""

# a display session's finishers: per bib its newest finisher or correction
RESULTS = """
CREATE VIEW public.results WITH (security_invoker = true) AS
SELECT DISTINCT ON (e.partner_id, e.session_id, e.bib)
    e.partner_id, e.session_id, e.bib, e.seq, e.kind, e.stream_id, e.location, e.read_seq,
    e.payload, e.created_at
FROM public.display_events AS e
WHERE e.kind IN ('finisher', 'correction')
ORDER BY e.partner_id, e.session_id, e.bib, e.seq DESC
"""


def _names() -> tuple[str, str, str]:
    bind = op.get_bind()
    db = bind.execute(sa.text("SELECT current_database()")).scalar_one()
    if len(db) > 48:  # role names are cut at 63: <db>_partner and <db>_p_<12 hex> must fit
        raise RuntimeError(f"the database name {db!r} is longer than 48 characters")
    quote = bind.dialect.identifier_preparer.quote_identifier
    return quote(db), quote(f"{db}_partner"), f"{db}_partner"


def upgrade() -> None:
    bind = op.get_bind()
    db, group, group_name = _names()
    for stmt in TIMING_PARTNERS:
        op.execute(stmt)
    op.execute(CURRENT_PARTNER)
    for stmt in TABLES:
        op.execute(stmt)
    for table in PARTNER_TABLES:
        op.execute(
            f"ALTER TABLE public.{table} ALTER COLUMN partner_id SET DEFAULT public.rc_current_partner()"
        )
    op.execute(RESULTS)

    # the group role of this database's partners (roles are per server: the name carries the database's)
    # (NOSUPERUSER ... NOBYPASSRLS are CREATE ROLE's defaults; only a superuser may state them)
    existing = bind.execute(
        sa.text(
            "SELECT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication"
            " OR rolbypassrls FROM pg_roles WHERE rolname = :n"
        ),
        {"n": group_name},
    ).first()
    if existing is None:
        op.execute(f"CREATE ROLE {group} NOLOGIN")
    elif existing[0]:
        raise RuntimeError(
            f"the role {group_name} exists and may log in or holds attributes a partners' group must"
            " not have: drop it or make it NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        )

    # nobody but the owner creates anything: no tables, functions or policies of a partner's own
    op.execute(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
    op.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {group}")  # temp tables: the push's COPY
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {group}")
    op.execute("REVOKE ALL ON FUNCTION public.rc_current_partner() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION public.rc_current_partner() TO {group}")

    # never DELETE (deletes are tombstones) nor TRUNCATE (it ignores row-level security)
    for table in PARTNER_TABLES:
        op.execute(f"REVOKE ALL ON public.{table} FROM PUBLIC")
        privileges = "SELECT" if table in READ_ONLY else "SELECT, INSERT, UPDATE"
        op.execute(f"GRANT {privileges} ON public.{table} TO {group}")
        op.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE public.{table} FORCE ROW LEVEL SECURITY")
        if table in READ_ONLY:
            op.execute(
                f"CREATE POLICY {table}_own ON public.{table} FOR SELECT TO {group}"
                " USING (partner_id = (SELECT public.rc_current_partner()))"
            )
        else:
            op.execute(
                f"CREATE POLICY {table}_own ON public.{table} FOR ALL TO {group}"
                " USING (partner_id = (SELECT public.rc_current_partner()))"
                " WITH CHECK (partner_id = (SELECT public.rc_current_partner()))"
            )
    op.execute("REVOKE ALL ON public.timing_partners FROM PUBLIC")
    op.execute(f"GRANT SELECT ON public.timing_partners TO {group}")
    op.execute("ALTER TABLE public.timing_partners ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE public.timing_partners FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY timing_partners_own ON public.timing_partners FOR SELECT TO {group}"
        " USING (id = (SELECT public.rc_current_partner()))"
    )
    op.execute("REVOKE ALL ON public.results FROM PUBLIC")
    op.execute(f"GRANT SELECT ON public.results TO {group}")


def downgrade() -> None:
    db, group, _ = _names()
    op.execute("DROP VIEW public.results")
    for table in (*PARTNER_TABLES, "timing_partners"):
        op.execute(f"DROP TABLE public.{table}")
    op.execute("DROP FUNCTION public.rc_current_partner()")
    op.execute(f"REVOKE ALL ON DATABASE {db} FROM {group}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {group}")
