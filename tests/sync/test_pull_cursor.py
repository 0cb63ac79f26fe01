"""The pull cursor never skips a row of a slow central transaction: a transaction that wrote a
row before a pull ran and commits after it still has its row pulled (a cursor at the highest
``tx`` seen would have moved past it for ever).  And pages: a pull in pages of one row gets
every row exactly as a pull in one page does."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg2

from race_control.templates.service import builtin
from tests.helpers.waiting import until
from tests.sync.laptops import laptop, partners

OTHER = "laptop-" + uuid.uuid4().hex[:8]


def write_template(conn: psycopg2.extensions.connection, name: str, hlc: int) -> tuple[str, int]:
    """Another laptop's push of a new template, in ``conn``'s open transaction: (id, tx)."""
    body = {**(builtin("results-classic") or {}), "name": name}
    tid = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO templates (id, name, mode, version, body, created_at, updated_at, hlc, origin)"
            " VALUES (%s, %s, 'results', 1, %s, 1.0, 1.0, %s, %s) RETURNING tx",
            (tid, name, json.dumps(body), hlc, OTHER),
        )
        return tid, int(cur.fetchone()[0])


async def names(lap: Any) -> set[str]:
    return {t["name"] for t in await lap.api.ok("GET", "/api/templates") if not t["builtin"]}


async def test_a_slow_transaction_committed_after_a_pull_is_still_pulled(tmp_path: Path) -> None:
    with partners(1) as central:
        async with laptop(tmp_path, "b", central.partners[0]["url"]) as b:
            slow, fast = central.partner(), central.partner()
            try:
                _slow, slow_tx = write_template(slow, "Slow", 1 << 40)  # not committed yet
                _fast, fast_tx = write_template(fast, "Fast", 2 << 40)
                fast.commit()
                assert slow_tx < fast_tx  # the slow one began first: its tx is the lower one
                for _ in range(3):  # pulls while the slow transaction is open
                    await b.pull()
                assert "Slow" not in await names(b)  # not visible yet, of course
                slow.commit()

                async def both() -> bool:
                    await b.pull()
                    return await names(b) == {"Slow", "Fast"}

                await until(both, "the slow transaction's row to be pulled too")
            finally:
                slow.close()
                fast.close()


async def test_pages_of_one_row_get_every_row(tmp_path: Path) -> None:
    with partners(1) as central:
        async with laptop(tmp_path, "b", central.partners[0]["url"]) as b:
            conn = central.partner()
            try:
                for i in range(3):  # three in one transaction: one tx, pages inside it
                    write_template(conn, f"Same tx {i}", (10 + i) << 40)
                conn.commit()
                for i in range(2):
                    write_template(conn, f"Own tx {i}", (20 + i) << 40)
                    conn.commit()
            finally:
                conn.close()
            applied = 0

            async def all_five() -> bool:
                nonlocal applied
                applied += await b.pull(page=1)
                return len(await names(b)) == 5

            await until(all_five, "five templates pulled in pages of one")
            assert await names(b) == {"Same tx 0", "Same tx 1", "Same tx 2", "Own tx 0", "Own tx 1"}
            assert applied == 5  # each once
            assert await b.pull_all(central) == 0


async def test_a_pulled_session_brings_its_event_along(tmp_path: Path) -> None:
    """With pages of one row, the first page has the first event only, while the session (and
    runner) of the second comes in it too: their event comes with them (a foreign key here)."""
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            first = await a.api.ok("POST", "/api/events", {"name": "First", "date": "2026-06-01"}, 201)
            second = await a.api.ok("POST", "/api/events", {"name": "Second", "date": "2026-06-02"}, 201)
            await a.api.ok(
                "POST", f"/api/events/{second['id']}/participants", [{"bib": "5", "first_name": "Flo"}]
            )
            session = await a.api.ok(
                "POST", "/api/sessions", {"event_id": second["id"], "mode": "results"}, 201
            )
            await a.push()
            await until(central.visible, "A's push to be below every running transaction")
            # one round in pages of one row: its first page has the first event, the runner and
            # the session (both of the second event), and the cursors move past all three
            assert await b.pull(page=1) == 4
            assert {e["id"] for e in await b.api.ok("GET", "/api/events")} == {first["id"], second["id"]}
            assert [s["id"] for s in await b.api.ok("GET", "/api/sessions")] == [session["id"]]
            roster = await b.api.ok("GET", f"/api/events/{second['id']}/participants")
            assert [p["bib"] for p in roster] == ["5"]
