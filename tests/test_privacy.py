"""What stays private (docs/operations.md#what-stays-private), against a real `race-control serve`:
credentials never stored or logged, private file modes, CSV cells that cannot run formulas."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import signal
import socket
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from race_control.app import RaceControl
from race_control.private_files import PrivateRotatingFileHandler, private_dir
from race_control.spreadsheet import csv_cell
from race_control.timing.simulator.playback import simulate
from tests.conftest import DATA, Api
from tests.display.test_resume import lines, setup_session
from tests.helpers.live_app import drain_until, wait_last_seq
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


def loose_modes(data_dir: Path) -> list[str]:
    """Everything under ``data_dir`` (and itself) that another account could read or enter."""
    wanted = {True: 0o700, False: 0o600}
    return [
        f"{p} {oct(stat.S_IMODE(p.stat().st_mode))}"
        for p in [data_dir, *sorted(data_dir.rglob("*"))]
        if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) != wanted[p.is_dir()]
    ]


async def test_the_data_dir_is_0700_and_every_file_in_it_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # a data dir and a settings file made by an older version, open to everyone: tightened
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    (data_dir / "settings.json").write_text("{}", "utf-8")
    os.chmod(data_dir / "settings.json", 0o644)
    old_umask = os.umask(0o022)  # what most machines have: 0755 dirs, 0644 files
    try:
        proc = await start_serve(data_dir)
    finally:
        os.umask(old_umask)
    try:
        port = json.loads((data_dir / "server.json").read_text())["timing_port"]
        result = await simulate(
            "127.0.0.1", port, [DATA / "chronotrack-2021" / "19K"], speed=0, connection_id="modes", linger=0.5
        )
        assert result.reads == 918
        assert (data_dir / "race-control.sqlite3-wal").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    names = {p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*")}
    assert {"race-control.sqlite3", "logs/race-control.log", "logs/timing-raw.log", "api-token"} <= names
    assert any(n.startswith("backups/") for n in names), names  # the backup at clean shutdown
    assert loose_modes(data_dir) == []
    assert "made it 0o700" in (data_dir / "logs" / "race-control.log").read_text("utf-8")


def test_rotated_logs_are_0600_too(tmp_path: Path) -> None:
    """A log file opened after start-up (a rollover) is 0600 from its first byte."""
    old_umask = os.umask(0o022)
    handler = PrivateRotatingFileHandler(
        private_dir(tmp_path / "logs") / "x.log", maxBytes=200, backupCount=3
    )
    try:
        logger = logging.getLogger("race_control.test_privacy.rotation")
        logger.addHandler(handler)
        logger.propagate = False
        for i in range(40):
            logger.warning("participant line %d %s", i, "x" * 40)
    finally:
        logger.removeHandler(handler)
        handler.close()
        os.umask(old_umask)
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["x.log", "x.log.1", "x.log.2", "x.log.3"]
    assert loose_modes(tmp_path / "logs") == []


HOSTILE_BIBS = ["=1+2", "@SUM(1)", "+9", "-3"]


async def test_analytics_csv_cells_never_start_a_formula(rc: RaceControl, api: Api) -> None:
    """Unknown bibs come from the mats: one shaped like a formula is shown, not run."""
    session, client = await setup_session(api, rc.timing_port)
    sid = session["id"]
    data = lines(1, 2) + b"".join(
        f"CT01_33~{3 + i}~finish~{bib}~09:00:{10 + i}.00~0~0FA22E~1\r\n".encode()
        for i, bib in enumerate(HOSTILE_BIBS)
    )
    await client.send(data)
    await wait_last_seq(rc, api, sid, 2)
    report = await drain_until(
        rc,
        lambda: api.ok("GET", f"/api/sessions/{sid}/analytics"),
        lambda r: r["reads"] == 2 + len(HOSTILE_BIBS),
    )
    assert set(report["unknown_bibs"]) == set(HOSTILE_BIBS)
    async with api.http.get(api.base + f"/api/sessions/{sid}/analytics?format=csv", headers=api.headers) as r:
        assert r.status == 200
        text = await r.text()
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    (bibs,) = [row[1] for row in csv.reader(io.StringIO(text)) if row[:1] == ["unknown bibs"]]
    assert bibs.startswith("'") and set(bibs[1:].split(" ")) == set(HOSTILE_BIBS)  # shown, unchanged
    await client.close()


def test_csv_cell_neutralizes_text_only() -> None:
    assert [csv_cell(v) for v in ["=A1", "+1", "-x", "@x", "\tx", "\rx", "ok", "", -3, 2.5]] == [
        "'=A1", "'+1", "'-x", "'@x", "'\tx", "'\rx", "ok", "", -3, 2.5,
    ]  # fmt: skip
