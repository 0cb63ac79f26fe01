"""Laptops of timing partners on one real central PostgreSQL: push and pull as the sync does.

``Laptop`` is a real ``RaceControl`` (its own data dir, so its own store and device id) with
an API client; ``push`` sends its whole outbox with the engine's ``outbox``/``push_batch``
(exactly what the sync worker sends), ``pull`` runs one ``Puller.round`` as the partner login.
``partners(n)`` is a migrated scratch central database with ``n`` partners.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2

from race_control.app import RaceControl
from race_control.central import admin
from race_control.central.schema import IMAGE_TABLE, SHARED_TABLES
from race_control.store.unit_of_work import Change
from race_control.sync import outbox
from race_control.sync.connection import connect
from race_control.sync.pull import Puller, load_cursors
from race_control.sync.push import push_batch
from tests.conftest import Api, make_settings
from tests.helpers.postgres import scratch_database
from tests.helpers.waiting import until


@dataclass
class Laptop:
    rc: RaceControl
    api: Api
    url: str  # its partner's login
    changes: list[Change] = field(default_factory=list)

    @property
    def store(self) -> Any:
        assert self.rc.services is not None
        return self.rc.services.store

    @property
    def ops(self) -> Any:
        assert self.rc.services is not None
        return self.rc.services.ops

    async def device(self) -> str:
        return str(await self.store.run(outbox.device_id))

    async def clock(self) -> int:
        return int(await self.store.run(lambda c: c.exec_driver_sql("SELECT hlc FROM sync_clock").scalar()))

    async def sync_row(self, tbl: str, key: str) -> tuple[Any, ...] | None:
        def _q(conn: Any) -> Any:
            return conn.exec_driver_sql(
                "SELECT hlc, origin, deleted, pending FROM sync_rows WHERE tbl = ? AND key = ?", (tbl, key)
            ).first()

        row = await self.store.run(_q)
        return tuple(row) if row is not None else None

    async def push(self) -> int:
        pg = await asyncio.to_thread(connect, self.url)
        sent = 0
        try:
            while True:
                batch = await self.store.run(outbox.read_batch)
                if batch.empty:
                    return sent
                sent += await asyncio.to_thread(push_batch, pg, batch)
                await self.store.run(outbox.mark_pushed, batch)
        finally:
            pg.close()

    async def pull(self, *, page: int = 500) -> int:
        pg = await asyncio.to_thread(connect, self.url)
        try:
            return await Puller(self.store, self.ops.remote, page=page).round(pg)
        finally:
            pg.close()

    async def pull_all(self, central: Central) -> int:
        """Pull until every shared table's cursor is past every central transaction so far:
        all of them were read.  (A pull reads below the oldest transaction still running on
        the whole server — other tests' too — so one pull may legitimately get nothing yet.)"""
        barrier = central.max_tx()
        applied = 0

        async def past() -> bool:
            nonlocal applied
            applied += await self.pull()
            cursors = await self.store.run(load_cursors)
            tables = (*SHARED_TABLES, IMAGE_TABLE)
            return all(t in cursors and cursors[t].tx_from > barrier for t in tables)

        # (other tests' transactions on the same server may hold the pull back for a while)
        await until(past, "the pull to read every central transaction", timeout=90)
        return applied


@contextlib.asynccontextmanager
async def laptop(tmp: Path, name: str, url: str, *, worker: bool = False) -> AsyncIterator[Laptop]:
    """A running laptop; ``worker``: configured with the central URL, so its sync worker pushes
    and pulls by itself (else the test pushes and pulls by hand)."""
    kw = {"central_url": url, "central_retry_min": 0.05, "central_retry_max": 0.3} if worker else {}
    rc = RaceControl(make_settings(tmp / name, **kw))
    await rc.start()
    try:
        assert rc.services is not None
        async with aiohttp.ClientSession() as http:
            lap = Laptop(rc, Api(http, rc.http_url, rc.services.api_token), url)
            rc.services.ops.changes.append(lap.changes.extend)
            if worker:
                rc.services.sync.round_interval = 1.0  # pull every second, not every 10 s
            yield lap
    finally:
        await rc.stop()


@dataclass
class Central:
    owner_url: str
    partners: list[dict[str, str]]

    def partner(self, i: int = 0) -> psycopg2.extensions.connection:
        """A connection as partner ``i``'s login (what another laptop would write with)."""
        return psycopg2.connect(self.partners[i]["url"])

    def owner(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.owner_url)
        conn.autocommit = True
        return conn

    def visible(self) -> bool:
        """Every shared row written so far is below the oldest running transaction (a pull
        started now reads them all)."""
        barrier = self.max_tx()
        conn = self.owner()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                return int(cur.fetchone()[0]) > barrier
        finally:
            conn.close()

    def max_tx(self) -> int:
        """The newest writing transaction of any shared row, of any partner."""
        conn = self.owner()
        try:
            with conn.cursor() as cur:
                tables = (*SHARED_TABLES, IMAGE_TABLE)
                cur.execute(" UNION ALL ".join(f"SELECT max(tx) FROM {t}" for t in tables))
                return max((r[0] for r in cur.fetchall() if r[0] is not None), default=0)
        finally:
            conn.close()


@contextlib.contextmanager
def partners(n: int = 1) -> Iterator[Central]:
    with scratch_database() as (owner_url, _dbname):
        admin.migrate(owner_url)
        yield Central(owner_url, [admin.add_partner(owner_url, f"Timing {i}") for i in range(n)])
