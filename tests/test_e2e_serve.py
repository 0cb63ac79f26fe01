"""End to end through the real CLI: `race-control serve` as a subprocess on port 0.

A CTP01 client that splits lines across packets sends reads; the finisher arrives
on the display WebSocket.  The client then reconnects with the same connection id:
the server resumes from the stored sequence and the bound display keeps receiving.
SIGTERM shuts down cleanly with every read stored.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.server_process import start_serve

pytestmark = pytest.mark.slow


async def test_serve_read_to_screen_and_reconnect(tmp_path: Path) -> None:
    data_dir = tmp_path / "rc"
    proc = await start_serve(data_dir)
    try:
        info = json.loads((data_dir / "server.json").read_text())
        assert set(info) >= {"http_url", "http_port", "timing_port", "pid"} and info["pid"] == proc.pid
        token_file = data_dir / "api-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        base = f"http://127.0.0.1:{info['http_port']}"
        async with aiohttp.ClientSession() as http:
            api = Api(http, base, token_file.read_text().strip())
            event = await api.ok("POST", "/api/events", {"name": "City 5K", "date": "2026-06-01"}, 201)
            imported = await api.ok(
                "POST",
                f"/api/events/{event['id']}/participants",
                [
                    {"bib": "101", "first_name": "Ann", "last_name": "Lee", "city": "Boise", "state": "ID"},
                    {"bib": "102", "first_name": "Raj", "last_name": "Patel"},
                ],
            )
            assert imported == {"imported": 2, "rejected": []}
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)

            client = await RawCtp01Client.connect(info["timing_port"])
            starts = await client.handshake("conn-e2e-1", ("start", "finish"))
            assert starts == ["start~start", "start~finish"]
            for _ in range(50):
                streams = await api.ok("GET", "/api/timing/sessions")
                if streams:
                    break
                await asyncio.sleep(0.02)
            assert len(streams) == 1
            stream = streams[0]
            assert stream["protocol"] == "ctp01" and stream["connected"] is True
            assert stream["client"].startswith("SimpleClient") and stream["event_name"] == "Test Race"
            await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream["id"]})

            ws_url = session["display_url"].replace("http://", "ws://") + "/ws"
            async with http.ws_connect(ws_url) as ws:
                hello = await ws.receive_json(timeout=5)
                assert hello["type"] == "hello"
                # one read split across many small packets, one unknown bib, one duplicate
                await client.send(
                    b"CT01_33~1~finish~101~08:38:58.97~0~0FA22E~4\r\n"
                    b"CT01_33~2~finish~0999~08:39:01.62~0~04BE82~2\r\n"
                    b"CT01_33~3~finish~101~08:39:02.10~0~04BE82~2\r\n",
                    chunk=7,
                )
                first = await ws.receive_json(timeout=5)
                second = await ws.receive_json(timeout=5)
                assert first["type"] == "finisher" and first["seq"] == 1
                assert (first["bib"], first["name"], first["city"], first["location"]) == (
                    "101",
                    "Ann Lee",
                    "Boise",
                    "finish",
                )
                assert (second["seq"], second["bib"], second["name"]) == (2, "999", "Bib 999")

                # the client drops and reconnects with the same connection id: resume from seq 3
                await client.close()
                client = await RawCtp01Client.connect(info["timing_port"])
                starts = await client.handshake("conn-e2e-1", ("start", "finish"))
                assert "start~finish~3" in starts and "start~start" in starts
                # it resends seq 3 (inclusive resume) and goes on with new reads
                await client.send(
                    b"CT01_33~3~finish~101~08:39:02.10~0~04BE82~2\r\n"
                    b"CT01_33~4~finish~102~08:40:11.00~0~04BE82~2\r\n"
                )
                third = await ws.receive_json(timeout=5)
                assert (third["seq"], third["bib"], third["name"]) == (3, "102", "Raj Patel")
                streams = await api.ok("GET", "/api/timing/sessions")
                assert len(streams) == 1 and streams[0]["reads"] == 4
            await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err, err
    assert not (data_dir / "server.json").exists()
    db = sqlite3.connect(data_dir / "race-control.sqlite3")
    try:
        assert db.execute("select count(*) from reads").fetchone()[0] == 4
        assert db.execute("select count(*) from display_events").fetchone()[0] == 3
        assert db.execute("select count(*) from raw_lines where line like 'CT01_33%'").fetchone()[0] == 5
    finally:
        db.close()
