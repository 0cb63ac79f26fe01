"""What stays private (docs/operations.md#what-stays-private), against a real `race-control serve`:
credentials never stored or logged, private file modes, CSV cells that cannot run formulas."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from tests.helpers.server_process import serve_env, start_serve
from tests.test_operations import files_holding

pytestmark = pytest.mark.slow

GREETING = b"SimpleClient~1.2.3~CTP01\r\n"


async def ctp01_login(port: int, chunks: list[bytes], connection_id: str) -> None:
    """A CTP01 client on a real socket whose ``authorize`` line goes out as ``chunks``, one TCP
    write each (Nagle off, a pause between them, so the server reads them apart); then it names
    its stream and proves with a ping that the server has read every line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        writer.write(GREETING)
        head = (await asyncio.wait_for(reader.readline(), 10)).decode()
        for _ in range(int(head.strip().rsplit("~", 1)[1])):  # the server's request lines
            await asyncio.wait_for(reader.readline(), 10)
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.2)  # its own packet (not a timing assertion)
        lines = []
        while (line := (await asyncio.wait_for(reader.readline(), 10)).decode().strip()) != "getconnectionid":
            lines.append(line)
        assert lines[0] == "ack~authorize", lines
        writer.write(f"ack~getconnectionid~{connection_id}\r\nping\r\n".encode())
        while (await asyncio.wait_for(reader.readline(), 10)).strip() != b"ack~ping":
            pass
    finally:
        writer.close()
        await writer.wait_closed()


def stored_authorize_lines(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return sorted(
            r[0] for r in db.execute("select line from raw_lines where lower(line) like 'authorize~%'")
        )


async def wait_for(condition, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_password_in_any_case_or_split_across_packets_is_kept_nowhere(tmp_path: Path) -> None:
    env = serve_env(tmp_path, RACE_CONTROL_CTP01_USERS="timer:UPPERsecret1,split:splitsecret2")
    proc = await start_serve(tmp_path, "--ctp01-auth", "plaintext", env=env)
    database = tmp_path / "race-control.sqlite3"
    try:
        port = json.loads((tmp_path / "server.json").read_text())["timing_port"]
        await ctp01_login(port, [b"AUTHORIZE~timer~UPPERsecret1\r\n"], "privacy-upper")
        # split inside the command word and inside the secret itself
        await ctp01_login(port, [b"auth", b"orize~split~split", b"secret2\r\n"], "privacy-split")
        expected = ["AUTHORIZE~timer~***", "authorize~split~***"]
        await wait_for(lambda: stored_authorize_lines(database) == expected, "both stored, redacted")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)
    for secret in (b"secret2", b"cret", b"UPPERsecret1"):
        assert files_holding(tmp_path, database, secret) == [], secret
    assert stored_authorize_lines(database) == expected
    raw_log = (tmp_path / "logs" / "timing-raw.log").read_bytes()
    assert b"AUTHORIZE~timer~***" in raw_log and b"authorize~split~***" in raw_log
