"""Exactly once when PostgreSQL itself goes away mid-sync (issue #10).

A private cluster (tests/helpers/pg_cluster.py: never the shared server) holds the central
database.  The app's worker reaches it through a TcpProxy only so that the stop lands at an
exact point: the proxy freezes right after a random number of bytes of a batch, or right
after a batch's COMMIT reached the server (committed, answer not yet back), and then the
cluster is stopped — ``immediate`` (a crash: no checkpoint, WAL recovery at the next start)
or ``fast`` (backends told to quit) — kept down for a random while, and started again.  No
local write, no Sync now, no restart of the app afterwards: the worker must come back alone,
and central == local.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from race_control.central import admin
from tests.helpers.pg_cluster import PgCluster, running_cluster
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.waiting import until
from tests.sync import fault_scene
from tests.sync.fault_rig import rig, synced

SEEDS = (31, 32, 33)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    """One private cluster for the module."""
    with running_cluster() as c:
        yield c


@pytest.fixture(scope="module")
def central_db(cluster: PgCluster) -> Iterator[str]:
    url = cluster.create_database("central")
    admin.migrate(url)
    yield url


def test_the_private_cluster_survives_an_immediate_stop(cluster: PgCluster) -> None:
    conn = cluster.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS faults_probe (x int); INSERT INTO faults_probe VALUES (1)")
    cluster.stop("immediate")
    with pytest.raises(psycopg2.OperationalError), conn.cursor() as cur:
        cur.execute("SELECT 1")  # the server is gone, not just idle
    cluster.start()
    again = cluster.connect()
    try:
        with again.cursor() as cur:
            cur.execute("SELECT count(*) FROM faults_probe")
            assert cur.fetchone() == (1,)  # committed before the crash: recovered
            cur.execute("DROP TABLE faults_probe")
    finally:
        again.close()


@pytest.mark.parametrize("seed", SEEDS)
async def test_postgresql_stopped_mid_sync_and_started_again(
    seed: int,
    tmp_path: Path,
    cluster: PgCluster,
    central_db: str,
) -> None:
    rng = random.Random(seed)
    mode = rng.choice(["immediate", "immediate", "fast"])
    at_commit = rng.random() < 0.5
    with TcpProxy("127.0.0.1", cluster.port) as proxy:
        async with rig(tmp_path, central_db, f"Restart {seed}") as r:
            race = await fault_scene.build(r.api, r.rc.timing_port, rng, name=f"restart-{seed}")
            r.closing.append(race.close)
            await race.feed(rng.randint(200, 350))
            if at_commit:
                proxy.pause_after(b"COMMIT\0", skip=rng.randint(0, 2))
            else:
                proxy.pause_after_bytes(rng.randint(1, 120_000))
            worker = r.start_worker(proxy.url(r.partner_url))
            for _ in range(40):
                if await asyncio.to_thread(proxy.fired.wait, 0.25):
                    break
                await race.feed(rng.randint(20, 60))  # keep batches going out until the point
            assert proxy.fired.is_set(), "no batch reached the stop point"
            await asyncio.to_thread(cluster.stop, mode)
            proxy.resume()  # what was in flight meets a dead server
            await race.feed(rng.randint(10, 50))  # reads go on while the database is down
            await until(lambda: worker.status().state == "offline", "the worker to say offline")
            await asyncio.sleep(rng.uniform(0.1, 0.8))
            await asyncio.to_thread(cluster.start)
            await fault_scene.settled(r.api, race.sent)
            counts = await synced(r)  # the worker came back by itself
            assert counts["timing_reads"] == race.sent
            assert worker.status().last_error is not None
