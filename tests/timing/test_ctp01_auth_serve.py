"""CTP01 authentication end to end: `serve --ctp01-auth` and the SimpleClient simulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from race_control.timing.simulator.playback import simulate
from race_control.timing.simulator.sources import SimulationError
from tests.conftest import DATA
from tests.helpers.server_process import race_control_process, serve_env, start_serve

pytestmark = pytest.mark.slow


async def test_hmac_authentication_accepts_the_right_password_only(tmp_path: Path) -> None:
    env = serve_env(tmp_path, RACE_CONTROL_CTP01_USERS="finishpc:s3cret-pass")
    proc = await start_serve(tmp_path, "--ctp01-auth", "hmac-sha1", env=env)
    try:
        port = json.loads((tmp_path / "server.json").read_text())["timing_port"]
        source = DATA / "chronotrack-2021" / "19K"
        ok = await simulate(
            "127.0.0.1",
            port,
            [source],
            speed=0,
            user="finishpc",
            password="s3cret-pass",
            connection_id="auth-ok",
            linger=1.0,
        )
        assert ok.reads == 918 and ok.undelivered == 0
        with pytest.raises(SimulationError, match=r"(?i)auth"):
            await simulate(
                "127.0.0.1",
                port,
                [source],
                speed=0,
                user="finishpc",
                password="wrong",
                connection_id="auth-bad",
                max_retries=0,
                linger=0.5,
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0


async def test_authentication_without_accounts_is_refused_clearly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RACE_CONTROL_CTP01_USERS"}
    env["RACE_CONTROL_DATA_DIR"] = str(tmp_path)
    proc = await race_control_process(
        "serve", "--http-port", "0", "--timing-port", "0", "--ctp01-auth", "plaintext", env=env
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"RACE_CONTROL_CTP01_USERS" in err and b"Traceback" not in err


async def test_passwords_never_reach_the_store_or_the_raw_log(tmp_path: Path) -> None:
    """Plaintext authentication sends the password itself: it must not be kept anywhere."""
    env = serve_env(tmp_path, RACE_CONTROL_CTP01_USERS="finishpc:s3cret-pass")
    proc = await start_serve(tmp_path, "--ctp01-auth", "plaintext", env=env)
    try:
        port = json.loads((tmp_path / "server.json").read_text())["timing_port"]
        ok = await simulate(
            "127.0.0.1",
            port,
            [DATA / "chronotrack-2021" / "19K"],
            speed=0,
            user="finishpc",
            password="s3cret-pass",
            connection_id="secret-check",
            linger=1.0,
        )
        assert ok.reads == 918
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    db = sqlite3.connect(tmp_path / "race-control.sqlite3")
    try:
        stored = [r[0] for r in db.execute("select line from raw_lines where line like 'authorize~%'")]
    finally:
        db.close()
    assert stored == ["authorize~finishpc~***"]
    for log in (tmp_path / "logs").glob("*.log*"):
        assert b"s3cret-pass" not in log.read_bytes(), log
    assert b"authorize~finishpc~***" in (tmp_path / "logs" / "timing-raw.log").read_bytes()
