"""The central migrations: idempotent, and they make exactly ``central/schema.py``."""

from __future__ import annotations

import psycopg2
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from race_control.central import admin
from race_control.central.errors import CentralAuthError, CentralInputError, CentralUnavailable
from race_control.central.schema import PARTNER_TABLES, metadata
from tests.helpers.postgres import scratch_database

pytestmark = pytest.mark.postgres


def _engine(url: str):  # type: ignore[no-untyped-def]
    return create_engine(url.replace("postgresql://", "postgresql+psycopg2://"), poolclass=NullPool)


def test_migrate_twice_changes_nothing_and_makes_the_schema_of_central_schema_py() -> None:
    with scratch_database() as (url, _db):
        head = admin.head_revision()
        assert admin.current_revision(url) is None
        assert admin.migrate(url) == head
        engine = _engine(url)
        try:
            with engine.connect() as conn:
                before = _catalog(conn)
            assert admin.migrate(url) == head  # again: nothing to do, nothing changed
            assert admin.current_revision(url) == head
            with engine.connect() as conn:
                assert _catalog(conn) == before
                ctx = MigrationContext.configure(
                    conn,
                    opts={"compare_type": True, "version_table": admin.VERSION_TABLE},
                )
                diff = compare_metadata(ctx, metadata)
                assert diff == [], f"the migrations and central/schema.py differ: {diff}"
                _same_shape(conn)
        finally:
            engine.dispose()


def _catalog(conn) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Tables, columns, keys, indexes, policies, grants and the view: what a second run could change."""
    insp = inspect(conn)
    out: dict[str, object] = {}
    for t in insp.get_table_names():
        out[t] = (
            [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in insp.get_columns(t)],
            insp.get_pk_constraint(t)["constrained_columns"],
            sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in insp.get_indexes(t)),
        )
    out["views"] = {v: insp.get_view_definition(v) for v in insp.get_view_names()}
    rows = conn.exec_driver_sql(
        "SELECT tablename, policyname, roles::text, cmd, qual, with_check FROM pg_policies ORDER BY 1, 2"
    ).all()
    out["policies"] = [tuple(r) for r in rows]
    out["grants"] = sorted(
        tuple(r)
        for r in conn.exec_driver_sql(
            "SELECT table_name, grantee, privilege_type FROM information_schema.role_table_grants"
            " WHERE table_schema = 'public'"
        )
    )
    out["versions"] = conn.exec_driver_sql(f"SELECT * FROM {admin.VERSION_TABLE}").all()
    return out


def _same_shape(conn) -> None:  # type: ignore[no-untyped-def]
    """What compare_metadata does not compare: primary keys (columns and order) and column order."""
    insp = inspect(conn)
    assert set(insp.get_table_names()) == {*metadata.tables, admin.VERSION_TABLE}
    for name, table in metadata.tables.items():
        assert [c["name"] for c in insp.get_columns(name)] == [c.name for c in table.columns], name
        assert insp.get_pk_constraint(name)["constrained_columns"] == [
            c.name for c in table.primary_key.columns
        ], name
    assert insp.get_view_names() == ["results"]


def test_every_table_forces_row_level_security_and_the_group_never_deletes() -> None:
    """Every table in ``public`` (whichever migration made it), not only the ones known today."""
    with scratch_database() as (url, db):
        admin.migrate(url)
        group_name = f"{db}_partner"
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                    " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> %s",
                    (admin.VERSION_TABLE,),
                )
                flags = {name: (rls, force) for name, rls, force in cur.fetchall()}
                cur.execute("SELECT tablename, roles::text FROM pg_policies")
                with_policy = {name: roles for name, roles in cur.fetchall()}
                cur.execute(
                    "SELECT c.relname, p FROM pg_class c, unnest(ARRAY['DELETE', 'TRUNCATE', 'REFERENCES',"
                    " 'TRIGGER']) AS p WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v')"
                    " AND (has_table_privilege(%s, c.oid, p) OR has_table_privilege('public', c.oid, p))",
                    (group_name,),
                )
                too_much = cur.fetchall()
                cur.execute(
                    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
                    " AND c.relkind IN ('r', 'v') AND has_table_privilege('public', c.oid, 'SELECT')"
                )
                public_reads = cur.fetchall()
                cur.execute(
                    "SELECT rolcanlogin, rolinherit, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
                    (group_name,),
                )
                group = cur.fetchone()
                cur.execute("SELECT has_table_privilege(%s, 'public.users', 'INSERT')", (group_name,))
                writes_users = cur.fetchone()[0]
        finally:
            conn.close()
    assert set(flags) == {*PARTNER_TABLES, "timing_partners"}
    for table, on in flags.items():
        assert on == (True, True), table
        assert with_policy.get(table) == "{" + group_name + "}", table
    assert too_much == []
    assert public_reads == []
    assert not writes_users
    assert group == (False, True, False, False)


def test_migrate_errors_name_the_database_and_never_the_password() -> None:
    with pytest.raises(CentralUnavailable, match=r"127\.0\.0\.1:1/central") as e:
        admin.migrate("postgresql://someone:s3cret-pw@127.0.0.1:1/central")
    assert "s3cret-pw" not in str(e.value)
    assert e.value.retryable
    with pytest.raises(CentralInputError, match="postgresql://"):
        admin.migrate("mysql://x@127.0.0.1/central")
    with scratch_database() as (url, db):
        admin.migrate(url)
        partner = admin.add_partner(url, "A")
        with pytest.raises(CentralAuthError, match=f"superuser.*{db}|{db}.*superuser") as e:
            admin.migrate(partner["url"])  # a partner's login may not migrate
        assert not e.value.retryable
        password = partner["url"].split(":")[2].split("@")[0]
        assert password not in str(e.value)


def test_an_owner_with_bypassrls_and_createrole_may_set_up_the_database() -> None:
    """The documented alternative to a superuser: the database's owner with BYPASSRLS and
    CREATEROLE migrates, adds partners and users, and the partners are isolated all the same."""
    from tests.helpers.postgres import with_database

    with scratch_database() as (url, db):
        owner = f"{db}_owner"
        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE ROLE "{owner}" LOGIN BYPASSRLS CREATEROLE')
                cur.execute(f'ALTER DATABASE "{db}" OWNER TO "{owner}"')
        finally:
            conn.close()
        owner_url = with_database(f"postgresql://{owner}@127.0.0.1:5432/postgres", db)
        assert admin.migrate(owner_url) == admin.head_revision()
        a, b = admin.add_partner(owner_url, "A"), admin.add_partner(owner_url, "B")
        admin.add_user(owner_url, a["partner_id"], "ann@example.com", "long enough")
        admin.add_user(owner_url, b["partner_id"], "bob@example.com", "long enough")
        for partner, email in ((a, "ann@example.com"), (b, "bob@example.com")):
            conn = psycopg2.connect(partner["url"])
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT email FROM users")
                    assert cur.fetchall() == [(email,)]
                    cur.execute("SELECT id::text FROM timing_partners")
                    assert cur.fetchall() == [(partner["partner_id"],)]
            finally:
                conn.close()


def test_two_migrations_at_once_wait_for_each_other() -> None:
    import threading

    with scratch_database() as (url, _db):
        results: list[object] = []
        start = threading.Barrier(3)

        def run() -> None:
            start.wait()
            try:
                results.append(admin.migrate(url))
            except Exception as exc:  # the test reports it below
                results.append(exc)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == [admin.head_revision()] * 3


def test_results_shows_each_bibs_newest_finisher_or_correction_per_session() -> None:
    with scratch_database() as (url, _db):
        admin.migrate(url)
        partner = admin.add_partner(url, "A")["partner_id"]
        rows = [  # (session, seq, kind, bib)
            ("s1", 1, "finisher", "101"),
            ("s1", 2, "finisher", "102"),
            ("s1", 3, "correction", "101"),  # 101's newest
            ("s1", 4, "control", "101"),  # not a finisher event
            ("s2", 1, "finisher", "101"),  # another session: its own result
            ("s2", 5, "correction", "102"),
            ("s2", 6, "finisher", "102"),  # newer than the correction
        ]
        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for session, seq, kind, bib in rows:
                    cur.execute(
                        "INSERT INTO display_events (partner_id, session_id, seq, kind, bib, stream_id,"
                        " location, read_seq, payload, created_at) VALUES (%s, %s, %s, %s, %s, 'st', 'FIN', 0,"
                        " '{}', 0)",
                        (partner, session, seq, kind, bib),
                    )
                cur.execute("SELECT session_id, bib, seq, kind FROM results ORDER BY 1, 2")
                got = cur.fetchall()
        finally:
            conn.close()
    assert got == [
        ("s1", "101", 3, "correction"),
        ("s1", "102", 2, "finisher"),
        ("s2", "101", 1, "finisher"),
        ("s2", "102", 6, "finisher"),
    ]
