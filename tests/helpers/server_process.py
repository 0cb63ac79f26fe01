"""`race-control` as a subprocess, the way a user runs it (tests and bench).

``race_control_process`` starts any subcommand; ``start_serve`` starts ``serve`` on
loopback (free ports unless given) in a data dir and returns once the server has
written its ``server.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

PIPE = asyncio.subprocess.PIPE
_Out = int | IO[Any] | None


def serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment with ``RACE_CONTROL_DATA_DIR`` set and no inherited API token
    (unless ``extra`` sets one), plus ``extra``."""
    env = {**os.environ, "RACE_CONTROL_DATA_DIR": str(data_dir)}
    env.pop("RACE_CONTROL_API_TOKEN", None)
    return {**env, **extra}


async def race_control_process(
    *args: str, env: dict[str, str], stdout: _Out = PIPE, stderr: _Out = PIPE
) -> asyncio.subprocess.Process:
    """``python -m race_control ARGS`` with this interpreter."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "race_control", *args, stdout=stdout, stderr=stderr, env=env
    )


async def start_serve(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    http_port: int = 0,
    timing_port: int = 0,
    stdout: _Out = PIPE,
    stderr: _Out = PIPE,
    wait: float = 30.0,  # start-up on a loaded 2-core machine took 17 s (imports alone ~5 s)
) -> asyncio.subprocess.Process:
    """`race-control serve` on 127.0.0.1 with ``data_dir`` (and ``args``), once its
    ``server.json`` exists.  A stale ``server.json`` (left by a killed server) is removed
    first.  AssertionError, with what the server printed, if it ends or is not up in ``wait``
    seconds."""
    (data_dir / "server.json").unlink(missing_ok=True)
    proc = await race_control_process(
        "serve",
        *("--host", "127.0.0.1", "--http-port", str(http_port), "--timing-port", str(timing_port)),
        *args,
        env=serve_env(data_dir) if env is None else env,
        stdout=stdout,
        stderr=stderr,
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if (data_dir / "server.json").exists():
            return proc
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.025)
    if proc.returncode is None:
        proc.kill()
    out, err = await proc.communicate()
    raise AssertionError(f"server did not start: {out!r} {err!r}")


class ServeProcess:
    """One data dir's `race-control serve`, started and stopped again on the same ports (so
    screen URLs and the timing address stay the same across restarts)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.info: dict[str, Any] = {}

    async def start(self) -> None:
        ports = {"http_port": self.info.get("http_port", 0), "timing_port": self.info.get("timing_port", 0)}
        self.proc = await start_serve(self.data_dir, stdout=asyncio.subprocess.DEVNULL, **ports)
        self.info = json.loads((self.data_dir / "server.json").read_text())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.info['http_port']}"

    @property
    def token(self) -> str:
        return (self.data_dir / "api-token").read_text().strip()

    async def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: a clean stop (exit 0, no traceback); SIGKILL: the process just dies."""
        assert self.proc is not None
        self.proc.send_signal(how)
        _out, err = await asyncio.wait_for(self.proc.communicate(), 30)
        if how == signal.SIGKILL:
            assert self.proc.returncode == -signal.SIGKILL
        else:
            assert self.proc.returncode == 0, err
            assert b"Traceback" not in err, err
        self.proc = None
