"""Exactly once when a batch fails half-way inside the central database (issue #10).

A trigger installed by the test (as superuser) on a random synced table raises on one random
row for the first ``k`` (1-3) attempts to write it: whatever the batch wrote before that row,
in that table or in the tables before it, must not stay (one transaction per batch).  Whenever
the worker shows the failure (``error``, the trigger's message as ``last_error``) and no
attempt has got past the trigger yet, the central database must hold nothing the app has not
checked off.  The worker retries by itself with backoff (no local write, no Sync now), and in
the end central == local.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from tests.helpers.waiting import until
from tests.sync import fault_scene
from tests.sync.fault_checks import central_ahead
from tests.sync.fault_rig import Rig, rig, synced

SEEDS = (21, 22, 23)
# central table -> (local table, its key columns)
TARGETS = {
    "timing_reads": ("reads", ("stream_id", "location", "seq")),
    "raw_lines": ("raw_lines", ("stream_id", "n")),
    "display_events": ("display_events", ("session_id", "seq")),
    "participants": ("participants", ("id",)),
}


class FailingRow:
    """A trigger that raises on one row of ``table`` for the first ``k`` times it is written."""

    def __init__(self, owner_url: str, table: str, match: dict[str, Any], k: int) -> None:
        self.owner_url, self.k = owner_url, k
        self.name = f"faults_fail_{secrets.token_hex(4)}"
        self.seq = f"{self.name}_attempts"
        self.table = table
        self._exec(
            sql.SQL(
                "CREATE SEQUENCE {seq};"
                "CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
                " SET search_path = public AS $f$"
                " BEGIN"
                "   IF to_jsonb(NEW) @> {match}::jsonb AND nextval({seq_name}) <= {k} THEN"
                "     RAISE EXCEPTION 'injected failure on % (attempt %)', TG_TABLE_NAME, currval({seq_name});"
                "   END IF;"
                "   RETURN NEW;"
                " END $f$;"
                "CREATE TRIGGER {fn} BEFORE INSERT OR UPDATE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION {fn}();"
            ).format(
                seq=sql.Identifier(self.seq),
                fn=sql.Identifier(self.name),
                match=sql.Literal(json.dumps(match)),
                seq_name=sql.Literal(self.seq),
                k=sql.Literal(k),
                table=sql.Identifier(table),
            )
        )

    def _exec(self, statement: sql.Composable) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.owner_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def attempts(self) -> int:
        """How often the row was written (failed or not) so far."""
        ((value, called),) = self._exec(
            sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(self.seq))
        )
        return int(value) if called else 0

    def drop(self) -> None:
        self._exec(
            sql.SQL("DROP TRIGGER {fn} ON {table}; DROP FUNCTION {fn}(); DROP SEQUENCE {seq}").format(
                fn=sql.Identifier(self.name), table=sql.Identifier(self.table), seq=sql.Identifier(self.seq)
            )
        )


def random_row(r: Rig, local: str, keys: tuple[str, ...], rng: random.Random) -> dict[str, Any]:
    with sqlite3.connect(f"file:{r.db_path}?mode=ro", uri=True) as db:
        rows = db.execute(f"SELECT {', '.join(keys)} FROM {local}").fetchall()
    assert rows, f"no {local} rows to fail on"
    return dict(zip(keys, rng.choice(rows), strict=True))


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_batch_failing_half_way_leaves_nothing_and_is_retried_alone(
    seed: int, tmp_path: Path, central_db: str
) -> None:
    rng = random.Random(seed)
    async with rig(tmp_path, central_db, f"Batch {seed}") as r:
        race = await fault_scene.build(r.api, r.rc.timing_port, rng, name=f"batch-{seed}")
        r.closing.append(race.close)
        await race.feed(rng.randint(250, 400))
        await fault_scene.settled(r.api, race.sent)
        table = rng.choice(sorted(TARGETS))
        local, keys = TARGETS[table]
        match = {**random_row(r, local, keys, rng), "partner_id": r.partner_id}
        k = rng.randint(1, 3)
        failing = FailingRow(central_db, table, match, k)
        try:
            errors: list[str] = []  # every failure the worker published
            checked = 0  # times central was seen between two failed attempts
            worker = r.start_worker(r.partner_url, retry_min=0.3, retry_max=0.6)
            worker.on_status.append(
                lambda st: errors.append(st.last_error or "") if st.state == "error" else None
            )

            async def past_the_trigger() -> bool:
                nonlocal checked
                if worker.status().state == "error":
                    ahead = await asyncio.to_thread(central_ahead, r.db_path, central_db, r.partner_id)
                    if await asyncio.to_thread(failing.attempts) <= k:  # none got through meanwhile
                        assert ahead == 0, f"a failed batch left {ahead} rows centrally"
                        checked += 1
                return worker.status().state == "idle" and await asyncio.to_thread(failing.attempts) > k

            await until(past_the_trigger, f"the row written a {k + 1}th time", timeout=30)
            assert checked >= 1, "central was never looked at between two failed attempts"
            assert len(errors) >= k and all("injected failure" in e for e in errors), errors
            await race.feed(rng.randint(1, 30))  # life goes on
            await fault_scene.settled(r.api, race.sent)
            counts = await synced(r)
            assert counts["timing_reads"] == race.sent
            assert failing.attempts() >= k + 1
        finally:
            failing.drop()
