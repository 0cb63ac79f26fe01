"""A failing store stops the timing sockets being read at once, not after 100,000 lines.

While writes fail the server cannot keep what it reads anywhere but in memory; the controller
keeps its reads safely, so the server stops reading (TCP pushes back: the controller's send
buffer fills) until a batch is stored again, then takes everything in: each read stored once
and the bound stream's finishers shown.

Real server (in process), real CTP01 clients on real sockets, a real SQLite file locked by
another connection (``BEGIN EXCLUSIVE``), as in tests/test_store_outage.py.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from race_control.app import RaceControl
from race_control.timing.ingest.backpressure import PAUSE_ABOVE
from tests.conftest import Api
from tests.display.test_resume import finishers, lines, setup_session
from tests.helpers.ctp01_peer import RawCtp01Client

pytestmark = pytest.mark.slow
FLOOD = 300_000  # lines a controller has to send: far more than the kernel's socket buffers hold


def flood(first: int, last: int) -> bytes:
    return b"".join(
        f"CT01_33~{i}~finish~9{i}~10:00:00.00~0~0FA22E~1\r\n".encode() for i in range(first, last + 1)
    )


def count(db_path: object, sql: str) -> int:
    db = sqlite3.connect(str(db_path))
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


async def until(probe: object, what: str, tries: int = 1500) -> None:
    for _ in range(tries):
        if await probe():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_failing_store_stops_reading_until_it_stores_again(rc: RaceControl, api: Api) -> None:
    assert rc.services is not None
    pipeline = rc.services.pipeline
    session, client = await setup_session(api, rc.timing_port)
    other = await RawCtp01Client.connect(rc.timing_port)  # an unbound stream: its reads are only stored
    await other.handshake("flood")
    await until(
        lambda: _streams(api, 2),
        "the second stream attached",
    )
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        await ws.receive_json(timeout=5)
        await client.send(lines(1, 3))
        assert [m["seq"] for m in await finishers(ws, 3)] == [1, 2, 3]

        blocker = sqlite3.connect(rc.settings.database_path, timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            await client.send(lines(4, 10))

            async def failing() -> bool:
                return (await api.ok("GET", "/api/health"))["store_failures"] >= 1

            await until(failing, "a failed attempt to store")
            assert pipeline.failing
            other.writer.write(flood(1, FLOOD))  # no drain: the server decides how much it takes

            sizes: list[int] = []

            async def stopped() -> bool:
                """The controller's send buffer holds data and the server's backlog stopped growing."""
                sizes.append(pipeline.backlog)
                buffered = other.writer.transport.get_write_buffer_size()
                return buffered > 0 and len(sizes) > 10 and sizes[-1] == sizes[-10]

            await until(stopped, "the server to stop reading")
            # the server stopped at once: what it took in is a few packets, not PAUSE_ABOVE lines
            assert pipeline.backlog < PAUSE_ABOVE // 4, pipeline.backlog
            assert other.writer.transport.get_write_buffer_size() > 0  # the controller still holds reads
        finally:
            blocker.rollback()
            blocker.close()

        got = await finishers(ws, 7)
        assert [m["seq"] for m in got] == list(range(4, 11))
        await asyncio.wait_for(other.writer.drain(), 120)  # the server reads again: all of it leaves

        async def all_stored() -> bool:
            health = await api.ok("GET", "/api/health")
            return bool(health["committed_reads"] >= 10 + FLOOD and health["ingest_backlog"] == 0)

        await until(all_stored, "every read stored", tries=3000)
    assert not pipeline.failing
    db = rc.settings.database_path
    assert count(db, "select count(*) from reads") == 10 + FLOOD
    assert count(db, "select count(distinct stream_id || '/' || seq) from reads") == 10 + FLOOD
    assert count(db, f"select count(*) from display_events where session_id = '{session['id']}'") == 10
    await client.close()
    await other.close()


async def _streams(api: Api, n: int) -> bool:
    return len(await api.ok("GET", "/api/timing/sessions")) >= n
