"""Shared bench plumbing: start `race-control serve` in a subprocess and talk to its API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp


@asynccontextmanager
async def served() -> AsyncIterator[dict[str, Any]]:
    """Yield server.json (plus the token) of a fresh `race-control serve` on free loopback ports."""
    with tempfile.TemporaryDirectory(prefix="rc-bench-") as tmp:
        data = Path(tmp)
        env = {**os.environ, "RACE_CONTROL_DATA_DIR": str(data), "RACE_CONTROL_API_TOKEN": "bench-token"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "race_control",
            "serve",
            "--host",
            "127.0.0.1",
            "--http-port",
            "0",
            "--timing-port",
            "0",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            for _ in range(400):
                if (data / "server.json").exists():
                    break
                await asyncio.sleep(0.025)
            info = json.loads((data / "server.json").read_text())
            info["token"] = "bench-token"
            info["base"] = f"http://127.0.0.1:{info['http_port']}"
            info["data_dir"] = str(data)
            yield info
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)


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
    data = sorted(values)
    return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")
