"""central.admin's checks, in-process: what add-partner and add-user refuse, and that a refusal
changes nothing."""

from __future__ import annotations

import psycopg2
import pytest

from race_control.central import admin
from race_control.central.errors import CentralConflict, CentralInputError, CentralNotFound
from tests.central.partners import two_partners

pytestmark = pytest.mark.postgres


def counts(url: str) -> tuple[int, int, int]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM timing_partners),"
                " (SELECT count(*) FROM pg_roles WHERE rolname ~ ('^' || current_database() || '_p_[0-9a-f]{12}$'))"
            )
            return cur.fetchone()
    finally:
        conn.close()


def test_bad_partners_and_users_are_refused_with_clear_messages_and_nothing_changes() -> None:
    with two_partners(rows=False) as c:
        a = c.a["partner_id"]
        admin.add_user(c.admin_url, a, "ann@example.com", "long enough")
        assert counts(c.admin_url) == (1, 2, 2)
        refusals = [
            (CentralInputError, "needs a name", lambda: admin.add_partner(c.admin_url, "  ")),
            (CentralInputError, "longer than 200", lambda: admin.add_partner(c.admin_url, "x" * 201)),
            (CentralInputError, "control characters", lambda: admin.add_partner(c.admin_url, "a\nb")),
            (CentralConflict, "has a partner named 'a' already", lambda: admin.add_partner(c.admin_url, "a")),
            (CentralInputError, "'nobody' is not an e-mail", lambda: admin.add_user(c.admin_url, a, "nobody", "long enough")),
            (CentralInputError, "is not an e-mail", lambda: admin.add_user(c.admin_url, a, "a b@example.com", "long enough")),
            (CentralInputError, "at least 8 characters", lambda: admin.add_user(c.admin_url, a, "b@example.com", "1234567")),
            (CentralInputError, "not a partner id", lambda: admin.add_user(c.admin_url, "A", "b@example.com", "long enough")),
            (CentralNotFound, "has no partner", lambda: admin.add_user(c.admin_url, "00000000-0000-0000-0000-000000000000", "b@example.com", "long enough")),
            (CentralConflict, "has a user 'ann@example.com' already", lambda: admin.add_user(c.admin_url, a, " ANN@example.com ", "long enough")),
        ]  # fmt: skip
        for error, message, call in refusals:
            with pytest.raises(error, match=message):
                call()
        assert counts(c.admin_url) == (1, 2, 2)
        # the same e-mail for another partner is another user
        admin.add_user(c.admin_url, c.b["partner_id"], "ann@example.com", "long enough")
        assert counts(c.admin_url) == (2, 2, 2)


def test_partner_urls_keep_the_admin_urls_host_port_database_and_options() -> None:
    url = admin.partner_url(
        "postgresql://admin:pw@db.example.com:6543/central?sslmode=require", "c_p_ab", "p/w@:x"
    )
    assert url == "postgresql://c_p_ab:p%2Fw%40%3Ax@db.example.com:6543/central?sslmode=require"
    assert admin.partner_url("postgresql://[::1]/central", "l", "p") == "postgresql://l:p@[::1]:5432/central"
