"""``race-control central migrate|add-partner|add-user`` run for real (``python -m race_control``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg2
import pytest

from race_control.central import admin
from race_control.central.admin import head_revision
from race_control.central.passwords import verify_password
from tests.helpers.postgres import scratch_database

pytestmark = pytest.mark.postgres
NO_SUCH = "00000000-0000-0000-0000-000000000001"


def central(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACE_CONTROL_")}
    return subprocess.run(
        [sys.executable, "-m", "race_control", "central", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_migrate_add_partner_and_add_user_from_the_command_line() -> None:
    with scratch_database() as (url, db):
        admin.migrate(url)  # migrated before: the command says so and changes nothing
        done = central("migrate", "--database", url)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"127.0.0.1:5432/{db} is at central schema revision {head_revision()}"
        done = central("add-partner", "--database", url, "--name", "Finish Line Timing")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 1
        partner = json.loads(lines[0])
        assert set(partner) == {"partner_id", "url"}
        assert partner["url"].startswith(f"postgresql://{db}_p_")
        assert partner["url"].endswith(f"@127.0.0.1:5432/{db}")

        done = central(
            "add-user", "--database", url, "--partner", partner["partner_id"], "--email", "Ann@Example.com",
            stdin="correct horse battery\nsecond line is not read\n",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        user = json.loads(done.stdout)
        assert user["email"] == "ann@example.com"
        assert "correct horse" not in done.stdout + done.stderr
        conn = psycopg2.connect(partner["url"])  # the partner's own login reads its user
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT id, email, password_hash FROM users")
                (uid, email, stored), *rest = cur.fetchall()
        finally:
            conn.close()
        assert rest == []
        assert (uid, email) == (user["user_id"], "ann@example.com")
        assert stored.startswith("$argon2id$")
        assert verify_password(stored, "correct horse battery")
        assert not verify_password(stored, "correct horse battery\n")

        # the same e-mail again: refused, status 1, one line naming the problem
        done = central(
            "add-user", "--database", url, "--partner", partner["partner_id"], "--email", "ann@example.com",
            stdin="another password\n",
        )  # fmt: skip
        assert done.returncode == 1
        assert "has a user 'ann@example.com' already" in done.stderr
        assert "Traceback" not in done.stderr


FAILURES = [  # one per way out; admin's own checks are tested in-process (test_admin.py)
    (("add-user", "--partner", "not-a-uuid", "--email", "a@b.cc"), "long enough\n", 2, "not a partner id"),
    (("add-user", "--partner", NO_SUCH, "--email", "a@b.cc"), "", 2, "no password on standard input"),
    (
        ("add-user", "--partner", NO_SUCH, "--email", "a@b.cc"),
        "long enough\n",
        1,
        f"has no partner {NO_SUCH}",
    ),
    (("add-user", "--partner", "x"), "", 2, "required: --email"),
]


def test_failures_exit_with_one_clear_line_and_change_nothing() -> None:
    with scratch_database() as (url, _db):
        admin.migrate(url)
        for args, stdin, status, message in FAILURES:
            done = central(args[0], "--database", url, *args[1:], stdin=stdin)
            assert done.returncode == status, (args, done)
            assert message in done.stderr, (args, done.stderr)
            assert "Traceback" not in done.stderr
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM timing_partners)")
                assert cur.fetchone() == (0, 0)
        finally:
            conn.close()


def test_an_unreachable_or_unmigrated_database_is_named_without_its_password() -> None:
    done = central("migrate", "--database", "postgresql://admin:hunter2-secret@127.0.0.1:1/central")
    assert done.returncode == 1
    assert "cannot reach 127.0.0.1:1/central" in done.stderr
    assert "hunter2-secret" not in done.stderr and "Traceback" not in done.stderr
    with scratch_database() as (url, db):
        done = central("add-partner", "--database", url, "--name", "A")
    assert done.returncode == 1
    assert f"127.0.0.1:5432/{db} is not migrated" in done.stderr
