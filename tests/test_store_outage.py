"""The database fails mid-race: reads keep arriving, nothing is lost, doubled or shown early,
and the API answers 503 naming the problem -- at once for what needs the sessions' lock --
instead of hanging until the storage is back.

The failures are real: another program locking the database file, and a server process
whose file-size limit (``RLIMIT_FSIZE``, set from outside with ``prlimit``) makes every
write fail the way a full disk does.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from race_control.app import RaceControl
from race_control.config import Settings
from tests.conftest import Api
from tests.display.test_resume import finishers, lines, setup_session
from tests.helpers.server_process import start_serve

pytestmark = pytest.mark.slow
PATIENCE = 30.0  # seconds: generous; an answer that needs the storage back never comes


async def _wait_store_failure(api: Api) -> dict[str, Any]:
    """/api/health once the pipeline has failed to store a batch (it has one pending)."""
    for _ in range(300):
        health = await api.ok("GET", "/api/health")
        if health["store_failures"] >= 1:
            break
        await asyncio.sleep(0.1)
    assert health["store_failures"] >= 1 and health["ingest_backlog"] > 0, health
    return health


async def _nothing_shown(ws: aiohttp.ClientWebSocketResponse) -> None:
    """No finisher reaches the screen (it is not stored): the socket stays quiet of them."""
    with pytest.raises(asyncio.TimeoutError):
        while True:
            msg = await ws.receive_json(timeout=0.5)
            assert msg["type"] != "finisher", msg


def _count(db_path: Path, table: str) -> int:
    db = sqlite3.connect(db_path)
    try:
        return int(db.execute(f"select count(*) from {table}").fetchone()[0])
    finally:
        db.close()


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
            await _wait_store_failure(api)
            # needs the sessions' lock, which the pending batch keeps: refused at once, not queued
            status, body = await asyncio.wait_for(
                api.call("PATCH", f"/api/sessions/{session['id']}", {"name": "Finish line"}), PATIENCE
            )
            assert status == 503, body
            assert str(rc.settings.database_path) in body["error"] and "database is locked" in body["error"]
            assert "reads are kept and retried" in body["error"]  # refused by the blocked lock
            status, body = await asyncio.wait_for(
                api.call("POST", "/api/events", {"name": "Other 5K", "date": "2026-06-02"}), PATIENCE
            )
            assert status == 503 and "database is locked" in body["error"], body
            await _nothing_shown(ws)  # nothing is shown that is not stored
        finally:
            blocker.rollback()
            blocker.close()
        got = await finishers(ws, 7)
        assert [m["seq"] for m in got] == list(range(4, 11))
        assert [m["bib"] for m in got] == [str(i) for i in range(4, 11)]
    updated = await api.ok("PATCH", f"/api/sessions/{session['id']}", {"name": "Finish line"})
    assert updated["name"] == "Finish line"
    await rc.services.pipeline.drain()
    assert _count(rc.settings.database_path, "reads") == 10
    assert _count(rc.settings.database_path, "display_events") == 10
    await client.close()


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="prlimit(2) is Linux-only")
async def test_a_server_that_cannot_write_answers_503_and_catches_up(tmp_path: Path) -> None:
    """`race-control serve` whose writes all fail (file-size limit 1 byte, as with a full disk)."""
    data_dir = tmp_path / "rc"
    db_path = Settings(data_dir=data_dir).database_path
    proc = await start_serve(data_dir, stdout=asyncio.subprocess.DEVNULL)
    assert proc.stderr is not None
    stderr = asyncio.create_task(proc.stderr.read())  # drained: the failing log writes complain there
    try:
        info = json.loads((data_dir / "server.json").read_text())
        async with aiohttp.ClientSession() as http:
            api = Api(
                http, f"http://127.0.0.1:{info['http_port']}", (data_dir / "api-token").read_text().strip()
            )
            session, client = await setup_session(api, info["timing_port"])
            async with http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
                await ws.receive_json(timeout=5)
                await client.send(lines(1, 3))
                assert [m["seq"] for m in await finishers(ws, 3)] == [1, 2, 3]

                soft, hard = resource.prlimit(proc.pid, resource.RLIMIT_FSIZE)
                resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, hard))
                try:
                    status, body = await asyncio.wait_for(
                        api.call("POST", "/api/events", {"name": "Other 5K", "date": "2026-06-02"}), PATIENCE
                    )
                    assert status == 503, body
                    assert str(db_path) in body["error"] and "disk I/O error" in body["error"]
                    await client.send(lines(4, 10))
                    await _wait_store_failure(api)
                    status, body = await asyncio.wait_for(
                        api.call("PATCH", f"/api/sessions/{session['id']}", {"name": "Finish line"}), PATIENCE
                    )
                    assert status == 503 and "disk I/O error" in body["error"], body
                    assert "reads are kept and retried" in body["error"]  # refused by the blocked lock
                    await _nothing_shown(ws)
                finally:
                    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (soft, hard))

                got = await finishers(ws, 7)
                assert [m["seq"] for m in got] == list(range(4, 11))
                assert [m["bib"] for m in got] == [str(i) for i in range(4, 11)]
            await api.ok("POST", "/api/events", {"name": "Other 5K", "date": "2026-06-02"}, 201)
            assert (await api.ok("PATCH", f"/api/sessions/{session['id']}", {"name": "Finish line"}))[
                "name"
            ] == ("Finish line")
            await client.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), PATIENCE) == 0, (await stderr)[-3000:]
        stderr.cancel()
    assert _count(db_path, "reads") == 10
    assert _count(db_path, "display_events") == 10
    assert _count(db_path, "events") == 2
