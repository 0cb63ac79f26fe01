"""Display seqs are never trusted across a lost tail of the store: the per-session epoch.

A real `race-control serve` process, a real CTP01 client and a real WebSocket screen.  The
screen sees finishers 1..10; the server stops; the end of the store is lost the way a power cut
on a disk that lied about flushing loses it (the last transactions: display events 7..10 and the
reads and raw lines they came from are deleted from the SQLite file); the server starts again
and new reads become finishers 7..10 *again*, for other runners.  The screen comes back with its
old epoch and after_seq=10: it must be told to rewind to 6 and get the new 7..10 (without the
epoch it would skip them: the server's history also reaches 10).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.server_process import ServeProcess

pytestmark = pytest.mark.slow


def read(seq: int, bib: int) -> bytes:
    return f"CT01_33~{seq}~finish~{bib}~09:{seq:02d}:00.00~0~0FA22E~1\r\n".encode()


class Server(ServeProcess):
    def api(self, http: aiohttp.ClientSession) -> Api:
        return Api(http, self.base_url, self.token)


async def until(probe: Any, done: Any, what: str) -> Any:
    value = None
    for _ in range(1500):
        value = await probe()
        if done(value):
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}: {value!r}")


async def feed(api: Api, port: int, reads: bytes, total: int) -> None:
    """A CTP01 controller (the same connection id each time) sends ``reads``; returns once this
    server process has stored ``total`` reads and has nothing left to decide."""
    client = await RawCtp01Client.connect(port)
    await client.handshake("epoch-box", ("finish",))
    await client.send(reads)
    await until(
        lambda: api.ok("GET", "/api/health"),
        lambda h: h["committed_reads"] >= total and h["ingest_backlog"] == 0,
        f"{total} reads stored",
    )
    await client.close()


async def screen(ws_url: str, http: aiohttp.ClientSession, resume: dict[str, Any]) -> dict[str, Any]:
    """Connect, send ``resume``, collect until `caught_up`: the hello, a rewind, the finishers."""
    out: dict[str, Any] = {"rewind": None, "finishers": []}
    async with http.ws_connect(ws_url) as ws:
        await ws.send_json({"type": "resume", **resume})
        while True:
            msg = await ws.receive_json(timeout=10)
            if msg["type"] == "hello":
                out["hello"] = msg
            elif msg["type"] == "rewind":
                assert not out["finishers"], "the rewind comes before the replay"
                out["rewind"] = msg
            elif msg["type"] == "finisher":
                out["finishers"].append((msg["seq"], msg["bib"]))
            elif msg["type"] == "caught_up":
                return out


def lose_tail(db: Path, session_id: str, after_seq: int) -> None:
    """What a lost tail is: the display events after ``after_seq``, and the reads (and their raw
    lines) they were decided from, were never durable."""
    with sqlite3.connect(db) as conn:
        lost = conn.execute(
            "SELECT stream_id, location, read_seq FROM display_events WHERE session_id = ? AND seq > ?",
            (session_id, after_seq),
        ).fetchall()
        assert len(lost) == 4
        for stream_id, location, read_seq in lost:
            (raw_n,) = conn.execute(
                "SELECT raw_n FROM reads WHERE stream_id = ? AND location = ? AND seq = ?",
                (stream_id, location, read_seq),
            ).fetchone()
            conn.execute(
                "DELETE FROM reads WHERE stream_id = ? AND location = ? AND seq = ?",
                (stream_id, location, read_seq),
            )
            conn.execute("DELETE FROM raw_lines WHERE stream_id = ? AND n >= ?", (stream_id, raw_n))
        conn.execute("DELETE FROM display_events WHERE session_id = ? AND seq > ?", (session_id, after_seq))
    conn.close()


async def test_a_screen_from_before_a_lost_tail_gets_the_finishers_that_reused_its_seqs(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path / "rc")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            api = server.api(http)
            port = server.info["timing_port"]
            event = await api.ok("POST", "/api/events", {"name": "Epoch 5K", "date": "2026-06-01"}, 201)
            await feed(api, port, b"".join(read(n, 100 + n) for n in range(1, 11)), 10)
            (stream,) = await api.ok("GET", "/api/timing/sessions")
            session = await api.ok(
                "POST",
                "/api/sessions",
                {"event_id": event["id"], "mode": "results", "timing_session_ids": [stream["id"]]},
                201,
            )
            ws_url = session["display_url"].replace("http", "ws") + "/ws"
            first = await screen(ws_url, http, {"after_seq": 0})
            assert first["finishers"] == [(n, str(100 + n)) for n in range(1, 11)]
            old_epoch = first["hello"]["epoch"]
            assert old_epoch

        await server.stop()
        lose_tail(server.data_dir / "race-control.sqlite3", session["id"], 6)
        await server.start()

        async with aiohttp.ClientSession() as http:
            api = server.api(http)
            # the controller's new reads (other runners) take display seqs 7..10 again
            await feed(api, port, b"".join(read(n, 200 + n) for n in range(7, 11)), 4)
            finishers = await api.ok("GET", f"/api/sessions/{session['id']}/finishers")
            assert [(f["seq"], f["bib"]) for f in finishers][-4:] == [(n, str(200 + n)) for n in range(7, 11)]

            back = await screen(ws_url, http, {"after_seq": 10, "epoch": old_epoch})
            assert back["hello"]["epoch"] != old_epoch  # a new epoch at every start-up
            assert back["rewind"] == {"type": "rewind", "after_seq": 6, "epoch": back["hello"]["epoch"]}
            assert back["finishers"] == [(n, str(200 + n)) for n in range(7, 11)]

            # the fixed interface: a resume without an epoch is taken as it comes
            plain = await screen(ws_url, http, {"after_seq": 8})
            assert plain["rewind"] is None and [s for s, _ in plain["finishers"]] == [9, 10]
            # an epoch this server never had: everything from the start
            stranger = await screen(ws_url, http, {"after_seq": 10, "epoch": "0123456789abcdef"})
            assert stranger["rewind"]["after_seq"] == 0 and len(stranger["finishers"]) == 10
    finally:
        if server.proc is not None:
            await server.stop()


async def test_a_clean_restart_replays_nothing_twice(tmp_path: Path) -> None:
    """Nothing lost: a screen from the previous epoch resumes where it was (no rewind, no replay
    of what it has); after two restarts its epoch still resolves through the history."""
    server = Server(tmp_path / "rc")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            api = server.api(http)
            port = server.info["timing_port"]
            event = await api.ok("POST", "/api/events", {"name": "Epoch 5K", "date": "2026-06-01"}, 201)
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
            await feed(api, port, b"".join(read(n, 100 + n) for n in range(1, 6)), 5)
            (stream,) = await api.ok("GET", "/api/timing/sessions")
            await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream["id"]})
            ws_url = session["display_url"].replace("http", "ws") + "/ws"
            first = await screen(ws_url, http, {"after_seq": 0})
            assert [s for s, _ in first["finishers"]] == [1, 2, 3, 4, 5]
            old_epoch = first["hello"]["epoch"]
        for _ in range(2):
            await server.stop()
            await server.start()
        async with aiohttp.ClientSession() as http:
            api = server.api(http)
            await feed(api, port, b"".join(read(n, 100 + n) for n in range(6, 8)), 2)
            back = await screen(ws_url, http, {"after_seq": 5, "epoch": old_epoch})
            assert back["rewind"] is None
            assert [s for s, _ in back["finishers"]] == [6, 7]
    finally:
        if server.proc is not None:
            await server.stop()
