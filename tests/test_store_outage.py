"""The database goes away mid-write: reads keep arriving, nothing is lost, doubled or shown early."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.test_resume import finishers, lines, setup_session

pytestmark = pytest.mark.slow


async def test_locked_database_delays_but_loses_nothing(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    assert rc.services is not None
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        await ws.receive_json(timeout=5)
        await client.send(lines(1, 3))
        assert [m["seq"] for m in await finishers(ws, 3)] == [1, 2, 3]

        # another process grabs the database: every write now fails after the busy timeout
        blocker = sqlite3.connect(rc.settings.database_path, timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            await client.send(lines(4, 10))
            for _ in range(100):
                health = await api.ok("GET", "/api/health")
                if health["store_failures"] >= 1:
                    break
                await asyncio.sleep(0.1)
            assert health["store_failures"] >= 1 and health["ingest_backlog"] > 0
            with pytest.raises(asyncio.TimeoutError):  # nothing is shown that is not stored
                while True:
                    msg = await ws.receive_json(timeout=0.5)
                    assert msg["type"] != "finisher", msg
        finally:
            blocker.rollback()
            blocker.close()
        got = await finishers(ws, 7)
        assert [m["seq"] for m in got] == list(range(4, 11))
        assert [m["bib"] for m in got] == [str(i) for i in range(4, 11)]
    await rc.services.pipeline.drain()
    db = sqlite3.connect(rc.settings.database_path)
    try:
        assert db.execute("select count(*) from reads").fetchone()[0] == 10
        assert db.execute("select count(*) from display_events").fetchone()[0] == 10
    finally:
        db.close()
    await client.close()
