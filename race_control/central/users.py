"""Central users as a partner's laptop sees them: through the partner's own login, whose
row-level security shows only that partner's users (blocking: call from an executor)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2

from race_control.central.connection import connect
from race_control.central.errors import translate

LOGIN_TIMEOUT = 5  # seconds: a login waits this long for the central database, then goes offline


@dataclass(frozen=True, slots=True)
class CentralUser:
    id: str
    email: str
    password_hash: str
    disabled: bool


def fetch_user(partner_url: str, email: str, *, timeout: float = LOGIN_TIMEOUT) -> CentralUser | None:
    """The partner's user with this (lower-case) e-mail, or None.  ``CentralUnavailable`` when the
    database cannot be reached, another ``CentralError`` when it refuses."""
    conn = connect(partner_url, timeout=timeout, application_name="race-control login")
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = %s", (f"{round(timeout * 1000)}ms",))
            cur.execute(
                "SELECT id, email, password_hash, disabled FROM public.users WHERE email = %s",
                (email,),
            )
            row = cur.fetchone()
    except psycopg2.Error as exc:
        raise translate(exc, partner_url) from None
    finally:
        conn.close()
    return None if row is None else CentralUser(row[0], row[1], row[2], bool(row[3]))
