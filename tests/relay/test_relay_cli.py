"""`race-control relay` as a user runs it: prints where it listens, serves a public session,
stops on SIGTERM, writes no file; bad arguments exit 2 with a message."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import aiohttp

from tests.helpers.server_process import race_control_process
from tests.helpers.waiting import finished
from tests.relay.central_rows import central_db, finisher_rows, push, session_rows


async def test_relay_command_serves_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "RACE_CONTROL_DATA_DIR": str(home / "data")}
    with central_db() as central:
        rows = session_rows()
        url = central.a["url"]
        for table in ("events", "display_sessions"):
            await asyncio.to_thread(push, url, table, rows[table])
        token = rows["display_sessions"][0]["token"]
        await asyncio.to_thread(
            push, url, "display_events", finisher_rows(rows["display_sessions"][0]["id"], 1, 3)
        )
        proc = await race_control_process(
            "relay", "--port", "0", "--poll-interval", "0.2", env={**env, "RACE_CONTROL_RELAY_DATABASE": url}
        )
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            found = re.search(r"serving (http://127\.0\.0\.1:\d+)/display/<token>", line)
            assert found, line
            base = found.group(1)
            assert central.a["partner_id"] in line
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/display/{token}") as page:
                    assert page.status == 200
                async with http.ws_connect(f"{base.replace('http', 'ws')}/display/{token}/ws") as ws:
                    hello = await ws.receive_json(timeout=5)
                    assert hello["type"] == "hello" and hello["last_seq"] == 3
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = await finished(proc, 30)
        assert proc.returncode == 0, (out, err)
        assert url.split("@")[0].split(":")[-1] not in (out + err).decode()  # never the password
    assert list(home.iterdir()) == []  # no data dir, no log file


async def test_relay_command_refuses_bad_arguments(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RACE_CONTROL_RELAY_DATABASE"}
    for args, message in (
        ((), "--database URL"),
        (("--database", "mysql://x@y/z"), "postgresql://"),
        (("--database", "postgresql://nobody:pw@127.0.0.1:5432/postgres", "--port", "70000"), "not a port"),
    ):
        proc = await race_control_process("relay", *args, env=env)
        out, err = await finished(proc, 30)
        assert proc.returncode == 2 and message in err.decode(), (args, out, err)
