"""Make the real SQLite store refuse a write: a trigger that aborts the transaction.

The failure is SQLite's own (``RAISE(ABORT)`` inside the action's transaction), so an
action's writes roll back exactly as they would on a full disk or a constraint error.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from race_control.store.database import Store, StoreError

MESSAGE = "refused by the test"
FAILURES = (StoreError, DBAPIError)  # what a failed transaction raises to the action


async def refuse(store: Store, table: str, op: str = "INSERT", when: str = "1") -> str:
    """From now on, ``op`` (INSERT, UPDATE, DELETE) on ``table`` fails while ``when`` holds
    (an SQL condition on NEW/OLD).  Returns the trigger's name (for ``allow``)."""
    name = f"refuse_{table}_{op.lower()}"

    def _create(conn: Connection) -> None:
        conn.exec_driver_sql(
            f"CREATE TRIGGER {name} BEFORE {op} ON {table} WHEN {when} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )

    await store.run(_create)
    return name


async def allow(store: Store, name: str) -> None:
    def _drop(conn: Connection) -> None:
        conn.exec_driver_sql(f"DROP TRIGGER {name}")

    await store.run(_drop)
