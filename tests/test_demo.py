"""`race-control demo` as a user runs it: URLs printed, finishers flow, Ctrl-C exits cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.helpers.server_process import race_control_process

pytestmark = pytest.mark.slow


async def test_demo_prints_urls_and_streams_finishers(tmp_path: Path) -> None:
    env = {**os.environ}
    env.pop("RACE_CONTROL_API_TOKEN", None)
    proc = await race_control_process(
        "demo",
        *("--data-dir", str(tmp_path / "demo"), "--public-host", "127.0.0.1"),
        *("--duration", "120", "--speed", "30"),
        env=env,
    )
    assert proc.stdout is not None
    urls: list[str] = []
    lines: list[str] = []
    while len(urls) < 3:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, f"demo ended early: {lines}"
        lines.append(line)
        urls += re.findall(r"http://127\.0\.0\.1:\d+/display/[A-Za-z0-9_-]{22,}", line)
    finish_url = urls[0]
    got: list[dict[str, object]] = []
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(finish_url.replace("http", "ws") + "/ws") as ws,
    ):
        assert (await ws.receive_json(timeout=10))["type"] == "hello"
        while len(got) < 5:
            msg = await ws.receive_json(timeout=30)
            if msg["type"] == "finisher":
                got.append(msg)
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert all(m["location"] == "FINISH1" and m["time"] for m in got)
    assert any(m["known"] for m in got)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, every read stored
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = "".join(lines) + out.decode()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert "Replay" in text and "finishers shown at the finish" in text
