"""Tenant isolation by PostgreSQL itself: connected as partner A, every trick we know to read,
change or add partner B's rows fails, and A's own reads and writes work — for every table.

Each partner has rows in every partner table (tests/central/partners.py).  The database owner
(a superuser) checks afterwards that B's rows are exactly what they were.
"""

from __future__ import annotations

import io
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras
import pytest

from race_control.central.schema import PARTNER_TABLES, metadata
from tests.central.partners import Central, insert, row_for, two_partners

pytestmark = pytest.mark.postgres

READ_ONLY = ("users", "timing_partners")
WRITABLE = tuple(t for t in PARTNER_TABLES if t not in READ_ONLY)
ALL = (*PARTNER_TABLES, "timing_partners")


def connect(url: str) -> Any:
    conn = psycopg2.connect(url)
    conn.autocommit = True  # a refused statement leaves nothing to roll back
    return conn


def partner_ids(cur: Any, table: str) -> list[str]:
    col = "id" if table == "timing_partners" else "partner_id"
    cur.execute(f"SELECT {col}::text FROM {table}")
    return [r[0] for r in cur.fetchall()]


def _text(value: Any) -> str:
    return str(bytes(value)) if isinstance(value, memoryview) else str(value)  # bytea: its bytes


def snapshot(central: Central, partner_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of one partner, read by the owner (RLS does not filter a superuser)."""
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            out = {}
            for table in PARTNER_TABLES:
                cur.execute(f"SELECT * FROM {table} WHERE partner_id = %s ORDER BY 2, 3", (partner_id,))
                out[table] = [tuple(map(_text, r)) for r in cur.fetchall()]
            cur.execute("SELECT * FROM timing_partners WHERE id = %s", (partner_id,))
            out["timing_partners"] = [tuple(map(str, r)) for r in cur.fetchall()]
            return out
    finally:
        conn.close()


def refused(
    cur: Any, statement: str, params: Any = None, *, error: type = psycopg2.errors.InsufficientPrivilege
) -> str:
    with pytest.raises(error) as e:
        cur.execute(statement, params)
    return str(e.value)


def sees_only_own(cur: Any, me: str, why: str) -> None:
    for table in ALL:
        ids = partner_ids(cur, table)
        want = 1 if table == "timing_partners" else 2
        assert ids == [me] * want, f"{why}: {table} shows {ids}"


@pytest.fixture
def central() -> Any:
    with two_partners() as c:
        yield c


def test_a_reads_only_its_own_rows_in_every_table_and_view(central: Central) -> None:
    a, b = central.a["partner_id"], central.b["partner_id"]
    for me, partner in ((a, central.a), (b, central.b)):
        conn = connect(partner["url"])
        try:
            with conn.cursor() as cur:
                sees_only_own(cur, me, "plain SELECT")
                for table in ALL:
                    col = "id" if table == "timing_partners" else "partner_id"
                    other = b if me == a else a
                    cur.execute(f"SELECT count(*) FROM {table} WHERE {col} = %s", (other,))
                    assert cur.fetchone()[0] == 0, f"{table}: the other partner's rows by key"
                    for copy in (f"COPY {table} TO STDOUT", f"COPY (SELECT * FROM {table}) TO STDOUT"):
                        out = io.StringIO()
                        cur.copy_expert(copy, out)
                        lines = out.getvalue().splitlines()
                        want = 1 if table == "timing_partners" else 2
                        assert len(lines) == want and all(other not in line for line in lines), (copy, lines)
                        assert all(me in line for line in lines), (copy, lines)
                    # an error that prints a value (a cast of a text column) aimed at the other
                    # partner's rows: the policy filters first (security barrier), so it never
                    # sees one of theirs
                    text_col = _text_column(table)
                    if text_col is not None:
                        theirs = "B" if me == a else "A"
                        try:
                            cur.execute(
                                f"SELECT 1 FROM {table} WHERE {col} = %s AND {text_col}::int = 1", (other,)
                            )
                            assert cur.fetchall() == []
                        except psycopg2.errors.InvalidTextRepresentation as exc:
                            assert f'"{theirs}' not in str(exc), (table, str(exc))
                cur.execute("SELECT partner_id::text, bib FROM results")
                assert sorted(cur.fetchall()) == sorted((me, bib) for bib in {r for r in _bibs(central, me)})
                cur.execute("SELECT public.rc_current_partner()::text")
                assert cur.fetchone()[0] == me
        finally:
            conn.close()


def _text_column(table: str) -> str | None:
    from sqlalchemy import String

    t = metadata.tables[table]
    return next((c.name for c in t.columns if isinstance(c.type, String) and not c.primary_key), None)


def _bibs(central: Central, partner_id: str) -> set[str]:
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT bib FROM display_events WHERE partner_id = %s", (partner_id,))
            return {r[0] for r in cur.fetchall()}
    finally:
        conn.close()


def test_a_writes_its_own_rows_in_every_writable_table(central: Central) -> None:
    a = central.a["partner_id"]
    conn = connect(central.a["url"])
    try:
        with conn.cursor() as cur:
            for table in WRITABLE:
                row = row_for(table, a, "A", 3)
                del row["partner_id"]  # a laptop may omit it: the default is its own partner
                insert(cur, table, row)
                explicit = row_for(table, a, "A", 4)
                insert(cur, table, explicit)
                cur.execute(f"SELECT count(*) FROM {table}")
                assert cur.fetchone()[0] == 4, table
                column = _plain_column(table)
                cur.execute(f"UPDATE {table} SET {column} = {column}")
                assert cur.rowcount == 4, table
                keys = [c.name for c in metadata.tables[table].primary_key.columns]
                cols = ", ".join(explicit)
                marks = ", ".join(["%s"] * len(explicit))
                cur.execute(
                    f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({', '.join(keys)})"
                    f" DO UPDATE SET {column} = EXCLUDED.{column}",
                    list(explicit.values()),
                )
                assert cur.rowcount == 1, table
            sees_only_own_counts = {t: len(partner_ids(cur, t)) for t in WRITABLE}
            assert set(sees_only_own_counts.values()) == {4}
            cur.execute("SELECT count(*) FROM users")
            assert cur.fetchone()[0] == 2
    finally:
        conn.close()


def _plain_column(table: str) -> str:
    t = metadata.tables[table]
    return next(c.name for c in t.columns if not c.primary_key)


def test_a_cannot_add_change_or_remove_b_rows_in_any_table(central: Central) -> None:
    a, b = central.a["partner_id"], central.b["partner_id"]
    before = snapshot(central, b)
    conn = connect(central.a["url"])
    try:
        with conn.cursor() as cur:
            for table in WRITABLE:
                keys = [c.name for c in metadata.tables[table].primary_key.columns]
                column = _plain_column(table)
                # a row with B's partner_id
                msg = refused(cur, *_insert_sql(row_for(table, b, "X", 5), table))
                assert "row-level security" in msg, (table, msg)
                # B's exact key, upserted over
                theirs = row_for(table, b, "B", 1)
                sql, params = _insert_sql(theirs, table)
                refused(
                    cur,
                    sql + f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {column} = EXCLUDED.{column}",
                    params,
                )
                refused(cur, sql + " ON CONFLICT DO NOTHING", params)
                # B's rows by their key: nothing matches
                cur.execute(f"UPDATE {table} SET {column} = {column} WHERE partner_id = %s", (b,))
                assert cur.rowcount == 0, table
                cur.execute(f"UPDATE {table} SET partner_id = %s WHERE partner_id = %s", (a, b))
                assert cur.rowcount == 0, table
                # own rows handed to B
                msg = refused(cur, f"UPDATE {table} SET partner_id = %s", (b,))
                assert "row-level security" in msg, (table, msg)
                # no deletes at all (tombstones), no TRUNCATE (it ignores RLS)
                refused(cur, f"DELETE FROM {table} WHERE partner_id = %s", (b,))
                refused(cur, f"DELETE FROM {table}")
                refused(cur, f"TRUNCATE {table}")
                # COPY FROM straight into the table
                refused(
                    cur,
                    f"COPY {table} FROM STDIN",
                    error=psycopg2.errors.FeatureNotSupported,
                )
            for table in READ_ONLY:
                refused(cur, *_insert_sql(row_for(table, a, "A", 6), table))
                refused(cur, f"UPDATE {table} SET {_plain_column(table)} = {_plain_column(table)}")
                refused(cur, f"DELETE FROM {table}")
                refused(cur, f"TRUNCATE {table}")
    finally:
        conn.close()
    assert snapshot(central, b) == before
    after_a = snapshot(central, a)
    assert all(len(after_a[t]) == 2 for t in PARTNER_TABLES)  # and A's own rows were not moved


def _insert_sql(row: dict[str, Any], table: str) -> tuple[str, list[Any]]:
    return (
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
        list(row.values()),
    )


def test_session_tricks_never_change_whose_rows_a_sees(central: Central) -> None:
    a, b = central.a["partner_id"], central.b["partner_id"]
    b_login = central.b["url"].split("//")[1].split(":")[0]
    group = f"{central.dbname}_partner"
    conn = connect(central.a["url"])
    try:
        with conn.cursor() as cur:
            # roles: the group (a member may), B's login, a superuser, a built-in role (it may not)
            cur.execute(f'SET ROLE "{group}"')
            sees_only_own(cur, a, "SET ROLE to the group")
            cur.execute("SELECT current_user, session_user")
            assert cur.fetchone()[0] == group
            cur.execute("RESET ROLE")
            refused(cur, f'SET ROLE "{b_login}"')
            refused(cur, "SET ROLE postgres")
            refused(cur, "SET ROLE pg_read_all_data")
            refused(cur, f'SET SESSION AUTHORIZATION "{b_login}"')
            refused(cur, "SET SESSION AUTHORIZATION postgres")
            refused(cur, "SELECT set_config('role', %s, false)", (b_login,))
            refused(cur, "SELECT set_config('session_authorization', %s, false)", (b_login,))
            sees_only_own(cur, a, "after refused role changes")
            # settings a tenant id could have been kept in: there is none to set
            cur.execute("SELECT set_config('rc.partner_id', %s, false)", (b,))
            cur.execute("SET application_name = %s", (b,))
            sees_only_own(cur, a, "after set_config of a made-up tenant setting")
            # row security off: an error, never the rows
            cur.execute("SET row_security = off")
            for table in ALL:
                refused(cur, f"SELECT * FROM {table}")
            cur.execute("SELECT set_config('row_security', 'off', false)")
            refused(cur, "SELECT * FROM events")
            cur.execute("RESET ALL")
            sees_only_own(cur, a, "after RESET ALL")
            # shadows in pg_temp: a timing_partners that maps A's login to B, a function of our name
            cur.execute(
                "CREATE TEMP TABLE timing_partners AS SELECT %s::uuid AS id, 'x'::text AS name,"
                " session_user::text AS login, 0::float8 AS created_at",
                (b,),
            )
            cur.execute(
                f"CREATE FUNCTION pg_temp.rc_current_partner() RETURNS uuid LANGUAGE sql AS $$ SELECT '{b}'::uuid $$"
            )
            cur.execute("SET search_path = pg_temp, public")
            cur.execute("SELECT public.rc_current_partner()::text, rc_current_partner()::text")
            assert cur.fetchone() == (a, a)
            cur.execute("SELECT count(*) FROM public.events WHERE partner_id = pg_temp.rc_current_partner()")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FROM public.events")
            assert cur.fetchone()[0] == 2
            cur.execute("RESET search_path")
            cur.execute("DROP TABLE pg_temp.timing_partners")
            sees_only_own(cur, a, "with shadows in pg_temp")
            msg = refused(
                cur, *_insert_sql(row_for("events", b, "X", 7), "events")
            )  # the temp function does not vouch for B either
            assert "row-level security" in msg
    finally:
        conn.close()


def test_a_cannot_create_functions_tables_policies_or_switch_security_off(central: Central) -> None:
    a = central.a["partner_id"]
    conn = connect(central.a["url"])
    try:
        with conn.cursor() as cur:
            refused(cur, "CREATE FUNCTION public.leak() RETURNS int LANGUAGE sql AS 'SELECT 1'")
            refused(cur, "CREATE FUNCTION leak() RETURNS int LANGUAGE sql AS 'SELECT 1'")
            refused(
                cur,
                "CREATE OR REPLACE FUNCTION public.rc_current_partner() RETURNS uuid LANGUAGE sql"
                " AS $$ SELECT NULL::uuid $$",
            )
            refused(cur, "ALTER FUNCTION public.rc_current_partner() SECURITY INVOKER")
            refused(cur, "CREATE TABLE public.mine (x int)")
            refused(cur, "CREATE SCHEMA mine")
            refused(cur, "CREATE EXTENSION dblink")
            refused(cur, "CREATE VIEW public.all_events AS SELECT * FROM public.events")
            for table in ALL:
                refused(cur, f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
                refused(cur, f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
                refused(cur, f"CREATE POLICY everything ON {table} USING (true)")
                refused(cur, f"DROP POLICY {table}_own ON {table}")
                cur.execute(f"GRANT SELECT ON {table} TO PUBLIC")  # a warning: nothing granted
                assert "no privileges were granted" in conn.notices[-1], conn.notices
                cur.execute("SELECT has_table_privilege('public', %s, 'SELECT')", (table,))
                assert cur.fetchone() == (False,), table
                refused(cur, f"ALTER TABLE {table} OWNER TO CURRENT_USER")
                refused(
                    cur,
                    f"CREATE TRIGGER t BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
                )
            sees_only_own(cur, a, "after the refused DDL")
    finally:
        conn.close()


def test_other_partners_sessions_and_large_objects_stay_private(central: Central) -> None:
    a_conn, b_conn = connect(central.a["url"]), connect(central.b["url"])
    try:
        with a_conn.cursor() as a, b_conn.cursor() as b:
            b.execute("SELECT 'secret-of-b', pg_backend_pid()")
            b_pid = b.fetchone()[1]
            a.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (b_pid,))
            assert a.fetchone()[0] == "<insufficient privilege>"
            b.execute("SELECT lo_from_bytea(0, 'secret of b'::bytea)")
            oid = b.fetchone()[0]
            refused(a, "SELECT lo_get(%s)", (oid,))
            refused(a, "SELECT lo_unlink(%s)", (oid,))
            a.execute("LISTEN rc_changes")  # allowed: a channel carries no rows
            a.execute("SELECT 1")
            assert a.fetchone() == (1,)
    finally:
        a_conn.close()
        b_conn.close()
