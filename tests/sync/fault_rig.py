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
``GET /api/sync``, as a user sees it —, the store has nothing left to send, and central equals
local (``tests/helpers/central_compare.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from race_control.app import RaceControl
from race_control.central import admin
from race_control.sync.connection import CentralTarget
from race_control.sync.worker import SyncWorker
from tests.conftest import Api, make_settings
from tests.helpers.central_compare import differences
from tests.helpers.waiting import until
from tests.sync.fault_checks import local_pending

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
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # before the app stops

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
            r = Rig(
                rc,
                Api(http, rc.http_url, rc.services.api_token),
                owner_url,
                partner["partner_id"],
                partner["url"],
            )
            try:
                yield r
            finally:
                for close in r.closing:  # before the app stops
                    await close()
    finally:
        await rc.stop()


async def synced(r: Rig, timeout: float = 30.0) -> dict[str, int]:
    """Wait until ``GET /api/sync`` says idle with nothing pending, the store itself has
    nothing left to send, and central == local (the local row count per table).  Checked until
    it holds (rows derived from the last reads may still be written meanwhile); on timeout the
    last differences are the error."""
    last: list[str] = []

    async def converged() -> dict[str, int] | None:
        s = await r.sync_status()
        if not (s["state"] == "idle" and s["backlog"] == 0 and s["last_success"]):
            last[:] = [f"GET /api/sync: {s}"]
            return None
        pending = await asyncio.to_thread(local_pending, r.db_path)
        if pending:
            last[:] = [f"{pending} rows not checked off in the store"]
            return None
        counts, problems = await asyncio.to_thread(differences, r.db_path, r.owner_url, r.partner_id)
        last[:] = problems
        return None if problems else counts

    try:
        return await until(converged, "central == local", timeout)
    except AssertionError:
        raise AssertionError("central != local:\n  " + "\n  ".join(last)) from None
