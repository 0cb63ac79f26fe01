"""Shared bench plumbing: start `race-control serve` in a subprocess and talk to its API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from race_control.latency import percentile as hub_percentile
from tests.helpers.server_process import serve_env, start_serve

TOKEN = "bench-token"


@asynccontextmanager
async def served(data: Path | None = None) -> AsyncIterator[dict[str, Any]]:
    """A fresh `race-control serve` on free loopback ports; yields server.json plus ``token``,
    ``base`` and ``data_dir``.  In ``data`` (a data dir the caller owns, so the database file can
    be inspected after the server stopped: SIGTERM, clean shutdown), else in a temporary one.
    stderr goes to DIR/stderr.log so it can never fill a pipe."""
    if data is None:
        with tempfile.TemporaryDirectory(prefix="rc-bench-") as tmp:
            async with served(Path(tmp)) as info:
                yield info
        return
    raise_caps(data)
    env = serve_env(data, RACE_CONTROL_API_TOKEN=TOKEN, TZ="Etc/UTC")  # benches send UTC times of day
    with (data / "stderr.log").open("wb") as err:
        proc = await start_serve(data, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=err, wait=20)
    try:
        info = json.loads((data / "server.json").read_text())
        info.update(token=TOKEN, base=f"http://127.0.0.1:{info['http_port']}", data_dir=str(data))
        yield info
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 120)


# Every bench screen and timing client comes from 127.0.0.1, so the server's per-address and
# connection caps (race_control.config: 50 screens per address, 64 timing clients) would refuse
# the benches' own load (close code 4429, a reset at accept): a bench measures the server past them.
BENCH_CAPS = {
    "max_screens_per_address": 100_000,
    "max_screens_per_session": 100_000,
    "max_timing_connections": 4096,
}


def in_process_settings(data_dir: Path) -> Any:
    """Settings for an app run inside a bench's own process: loopback, free ports, a fixed
    token, UTC, no automatic backups."""
    from race_control.config import Settings

    return Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        timing_port=0,
        public_host="127.0.0.1",
        api_token="bench-token",
        timezone="UTC",
        backup_keep=0,
    )


def raise_caps(data: Path) -> None:
    """DIR/settings.json with the caps of ``BENCH_CAPS``; a cap the file already sets is kept."""
    path = data / "settings.json"
    settings = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**BENCH_CAPS, **settings}))


def server_log(info: dict[str, Any]) -> str:
    path = Path(info["data_dir"]) / "logs" / "race-control.log"
    return path.read_text("utf-8", "replace") if path.exists() else ""


def server_warnings(info: dict[str, Any]) -> list[str]:
    """The WARNING and ERROR lines of the server's log."""
    return [ln for ln in server_log(info).splitlines() if " WARNING " in ln or " ERROR " in ln]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of ``pid`` in KiB, from /proc (0 if unknown)."""
    out = {"VmRSS": 0, "VmHWM": 0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in out:
                out[key] = int(line.split()[1])
    return out


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def rss_report(
    idle: dict[str, int], loaded: str, mem: dict[str, int], after: str, end: dict[str, int]
) -> str:
    """``server RSS idle …, <loaded> …, <after> …, peak (VmHWM) …`` from three ``memory_kib``."""
    return (
        f"server RSS idle {mib(idle['VmRSS'])}, {loaded} {mib(mem['VmRSS'])}, "
        f"{after} {mib(end['VmRSS'])}, peak (VmHWM) {mib(end['VmHWM'])}"
    )


def print_problems(r: dict[str, Any]) -> None:
    """The screens' connect errors and the server's warnings, if any."""
    if r["connect_errors"]:
        print(f"  connect errors: {r['connect_errors']}")
    if r["log_warnings"]:
        print(f"  server warnings ({len(r['log_warnings'])}): {r['log_warnings'][:3]}")


class BenchApi:
    def __init__(self, http: aiohttp.ClientSession, info: dict[str, Any]) -> None:
        self.http = http
        self.base = info["base"]
        self.headers = {"Authorization": f"Bearer {info['token']}"}

    async def post(self, path: str, body: Any) -> Any:
        async with self.http.post(self.base + path, json=body, headers=self.headers) as r:
            data = await r.json()
            if r.status >= 300:
                raise RuntimeError(f"{path}: {r.status} {data}")
            return data

    async def get(self, path: str) -> Any:
        async with self.http.get(self.base + path, headers=self.headers) as r:
            return await r.json()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of unsorted ``values``; NaN when empty (a bench that got nothing)."""
    return hub_percentile(sorted(values), q) if values else float("nan")
