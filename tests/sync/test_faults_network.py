"""Exactly once through a broken network: the sync worker talks to a real PostgreSQL through a
TCP proxy (tests/helpers/tcp_proxy.py) that cuts, refuses and partitions the connection at
random points while batches are on their way and reads keep arriving (issue #10).

Each run (one seed) builds a race through the real API and CTP01 port, lets a backlog pile up,
starts the worker (batches of 20 entities / 150 rows per table), and then, three times while
more reads and roster edits arrive, breaks the network:

* ``cut``: reset every connection after a random number of bytes from the app (1 B - 150 KB
  from now: inside some statement of one of the next few batches);
* ``commit``: reset right after the app sent a batch's COMMIT (the 1st to 3rd from now): the
  server commits, the answer never arrives — the test checks central is then ahead of what the
  app checked off, and the batch is sent again;
* ``refuse``: a random cut, then every new connection refused for a random while;
* ``pause``: at a random moment no byte moves for a random while (a partition), which then
  heals (everything in flight is delivered) or ends in a reset.

After the last fault nothing is done for the worker (no local write, no Sync now): it must
recover on its own, and then every synced table holds centrally exactly the local rows.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.waiting import until
from tests.sync import fault_scene
from tests.sync.fault_checks import ahead_by_table, central_ahead
from tests.sync.fault_rig import Rig, rig, synced

SEEDS = (11, 12)


async def until_cut(race: fault_scene.Race, proxy: TcpProxy, rng: random.Random) -> None:
    """Keep reads coming (so batches keep going out) until the armed cut happened."""
    for _ in range(40):
        await race.feed(rng.randint(30, 90))
        if await asyncio.to_thread(proxy.cut_done.wait, 0.5):
            return
    raise AssertionError("the armed cut never happened: no batch was on its way")


async def fault(kind: str, r: Rig, race: fault_scene.Race, proxy: TcpProxy, rng: random.Random) -> None:
    if kind == "cut":  # anywhere in the next ~3 batches: a statement, a COPY, the COMMIT
        proxy.cut_after_bytes(rng.randint(1, 150_000))
        await until_cut(race, proxy, rng)
    elif kind == "commit":  # the COMMIT reaches the server, its answer never reaches the app
        proxy.cut_after(b"COMMIT\0", skip=rng.randint(0, 2), then_refuse=True)
        await until_cut(race, proxy, rng)
        assert central_ahead(r.db_path, r.owner_url, r.partner_id) > 0, (
            f"the cut COMMIT went through: {proxy.last_client_bytes[-100:]!r}; central ahead by "
            f"table {ahead_by_table(r.db_path, r.owner_url, r.partner_id)}, "
            f"worker {r.worker.status() if r.worker else None}"
        )
        await asyncio.sleep(rng.uniform(0, 0.3))
        proxy.refuse(False)
    elif kind == "refuse":  # cut, then the server seems gone for a while
        proxy.cut_after_bytes(rng.randint(1, 150_000), then_refuse=True)
        await until_cut(race, proxy, rng)
        await race.feed(rng.randint(20, 80))
        await until(lambda: r.worker is not None and r.worker.status().state == "offline", "offline")
        await asyncio.sleep(rng.uniform(0.1, 0.5))
        proxy.refuse(False)
    elif kind == "pause":  # a partition at a random moment, healed or ended by a reset
        threshold = proxy.client_bytes + rng.randint(1, 60_000)
        feeding = asyncio.create_task(race.feed(rng.randint(150, 300)))
        await until(lambda: proxy.client_bytes >= threshold, "bytes on their way to pause")
        proxy.pause()
        await feeding
        await asyncio.sleep(rng.uniform(0.1, 0.5))
        if rng.random() < 0.5:
            proxy.cut()  # the partition ends with the connection gone (a NAT forgot it)
        proxy.resume()
    else:  # pragma: no cover
        raise ValueError(kind)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["cut", "commit", "refuse", "pause"])
async def test_network_faults_mid_batch_lose_and_duplicate_nothing(
    kind: str, seed: int, tmp_path: Path, central_db: str, proxy: TcpProxy
) -> None:
    rng = random.Random(f"{kind}-{seed}")
    async with rig(tmp_path, central_db, f"Net {kind} {seed}") as r:
        race = await fault_scene.build(r.api, r.rc.timing_port, rng, name=f"{kind}-{seed}")
        r.closing.append(race.close)
        await race.feed(200)  # a backlog before the central database is reachable
        worker = r.start_worker(proxy.url(r.partner_url))
        for _ in range(3):
            if rng.random() < 0.5:
                await race.edit()
            await fault(kind, r, race, proxy, rng)
        await race.feed(rng.randint(1, 50))
        await race.close()
        await fault_scene.settled(r.api, race.sent)
        counts = await synced(r)  # recovered by itself: no Sync now, no restart
        assert counts["timing_reads"] == race.sent
        assert worker.status().last_error is not None  # the worker did see the faults
        if kind != "pause":
            assert proxy.resets >= 3
