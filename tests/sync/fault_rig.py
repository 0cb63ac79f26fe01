"""The rig of the in-process sync fault tests: a real app, a real central database, a worker.

``Rig`` holds a started ``RaceControl`` (real SQLite store, HTTP API, CTP01 port), its ``api``
client, a partner of a migrated central database (``owner_url``, ``partner_id``,
``partner_url``) and the ``SyncWorker`` pushing the app's store to ``central_url`` (the
partner's URL, usually pointed through a ``TcpProxy``).  The worker is the app's own class,
made the way ``RaceControl.start`` makes it (``services.sync``, hooked to
``Operations.changes``) but with small batches (``max_entities``/``max_append``) so that a
batch is on its way whenever a fault hits, and short retry backoffs so that recovery takes
fractions of a second (the app has no setting for the batch size).

``synced(rig)`` waits until the worker says idle with an empty backlog — through
``GET /api/sync``, as a user sees it — and then compares central with local
(``tests/helpers/central_compare.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from race_control.app import RaceControl
from race_control.central import admin
from race_control.sync.connection import CentralTarget
from race_control.sync.worker import SyncWorker
from tests.conftest import Api, make_settings
from tests.helpers.central_compare import assert_central_equals_local
from tests.helpers.waiting import until

BATCH_ENTITIES = 20
BATCH_ROWS = 150  # per append table: ~5 tables x 150 rows (tens of KB) per batch


@dataclass
class Rig:
    rc: RaceControl
    api: Api
    owner_url: str
    partner_id: str
    partner_url: str
    worker: SyncWorker | None = None

    @property
    def db_path(self) -> Path:
        return self.rc.settings.database_path

    def start_worker(self, central_url: str, **kw: Any) -> SyncWorker:
        assert self.rc.services is not None
        opts: dict[str, Any] = {
            "retry_min": 0.05,
            "retry_max": 0.4,
            "interval": 0.05,
            "debounce": 0.02,
            "max_entities": BATCH_ENTITIES,
            "max_append": BATCH_ROWS,
            **kw,
        }
        worker = SyncWorker(
            self.rc.services.store, CentralTarget(central_url), alerts=self.rc.services.alerts, **opts
        )
        self.rc.services.sync = worker
        self.rc.services.ops.changes.append(worker.poke)
        worker.start()
        self.worker = worker
        return worker

    async def sync_status(self) -> dict[str, Any]:
        return await self.api.ok("GET", "/api/sync")


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, owner_url: str, name: str) -> AsyncIterator[Rig]:
    """A started app (no worker yet) and a new partner of the central database at ``owner_url``."""
    partner = admin.add_partner(owner_url, name)
    rc = RaceControl(make_settings(tmp_path / "data"))
    await rc.start()
    try:
        assert rc.services is not None
        async with aiohttp.ClientSession() as http:
            yield Rig(
                rc,
                Api(http, rc.http_url, rc.services.api_token),
                owner_url,
                partner["partner_id"],
                partner["url"],
            )
    finally:
        await rc.stop()


async def synced(r: Rig, timeout: float = 30.0) -> dict[str, int]:
    """Wait until ``GET /api/sync`` says idle with nothing pending, then central == local
    (the local row count per table)."""

    async def idle() -> dict[str, Any] | None:
        s = await r.sync_status()
        return s if s["state"] == "idle" and s["backlog"] == 0 and s["last_success"] else None

    await until(idle, "the sync to be idle with an empty backlog", timeout)
    return assert_central_equals_local(r.db_path, r.owner_url, r.partner_id)
