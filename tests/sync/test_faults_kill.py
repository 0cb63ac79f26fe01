"""Exactly once when the app is killed (SIGKILL) in the middle of a batch (issue #10).

``race-control serve --central-url`` runs as a subprocess (env RACE_CONTROL_CENTRAL_URL, short
retry settings in its settings.json) and syncs through a TcpProxy to the real PostgreSQL while
a CTP01 client feeds it reads.  The proxy freezes the sync at an exact point — a random byte of
a batch, or right after a batch's COMMIT reached the server (the batch is central, the app has
not checked it off) — and the app is killed there with SIGKILL.  It is started again on the same
data dir: the worker sends what was not checked off again, and central == local.  The default
batch size is used (the app has no setting for it): the few hundred reads of a run are one or
two batches, so the random byte lands inside a batch's statements.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from race_control.central import admin
from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.server_process import ServeProcess
from tests.helpers.tcp_proxy import TcpProxy
from tests.sync import fault_scene
from tests.sync.fault_checks import central_ahead
from tests.sync.fault_rig import synced

SEEDS = (41, 42)


@dataclass
class Served:
    """What ``synced`` needs of a served app (the rig of the in-process tests has the same)."""

    api: Api
    db_path: Path
    owner_url: str
    partner_id: str

    async def sync_status(self) -> dict[str, Any]:
        return await self.api.ok("GET", "/api/sync")


async def reconnect(race: fault_scene.Race, port: int, name: str) -> None:
    """The timing client reconnects to the restarted app with the same connection id."""
    await race.close()
    race.client = await RawCtp01Client.connect(port)
    await race.client.handshake(f"faults-{name}", ("start", "finish"))


@pytest.mark.parametrize("seed", SEEDS)
async def test_kill_9_mid_batch_then_restart(
    seed: int, tmp_path: Path, central_db: str, proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    partner = admin.add_partner(central_db, f"Kill {seed}")
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "settings.json").write_text(json.dumps({"central_retry_min": 0.05, "central_retry_max": 0.5}))
    monkeypatch.setenv("RACE_CONTROL_CENTRAL_URL", proxy.url(partner["url"]))
    server = ServeProcess(data)
    name = f"kill-{seed}"
    async with aiohttp.ClientSession() as http:
        await server.start()
        try:
            api = Api(http, server.base_url, server.token)
            served = Served(api, data / "race-control.sqlite3", central_db, partner["partner_id"])
            race = await fault_scene.build(api, server.info["timing_port"], rng, name=name)
            kills = 0
            for at_commit in (False, True) if rng.random() < 0.5 else (True, False):
                await race.feed(rng.randint(150, 300))
                if at_commit:
                    proxy.pause_after(b"COMMIT\0", skip=rng.randint(0, 1))
                else:
                    proxy.pause_after_bytes(rng.randint(1, 150_000))
                for _ in range(40):
                    if await asyncio.to_thread(proxy.fired.wait, 0.25):
                        break
                    await race.feed(rng.randint(20, 60))
                assert proxy.fired.is_set(), "no batch reached the kill point"
                await server.stop(signal.SIGKILL)  # frozen mid-batch: the app dies right there
                kills += 1
                if at_commit:  # the batch is central, the app never checked it off
                    ahead = await asyncio.to_thread(
                        central_ahead, served.db_path, central_db, partner["partner_id"]
                    )
                    assert ahead > 0, "the COMMIT before the kill went through"
                proxy.resume()
                await server.start()
                await reconnect(race, server.info["timing_port"], name)
            await race.feed(rng.randint(1, 40))
            stored = (await api.ok("GET", "/api/health"))["committed_reads"]
            await fault_scene.settled(api, stored)
            counts = await synced(served)  # type: ignore[arg-type]
            assert counts["timing_reads"] > 0 and kills == 2
        finally:
            await race.close()
            if server.proc is not None:
                await server.stop()
