"""Shared fixtures.  Data dirs always point at tmp paths; nothing reads files outside the repo."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from race_control.app import RaceControl
from race_control.config import Settings
from tests.helpers.ctp01_peer import RawCtp01Client

DATA = Path(__file__).parent / "data"

os.environ.pop("RACE_CONTROL_API_TOKEN", None)
os.environ.pop("RACE_CONTROL_DATA_DIR", None)


def make_settings(data_dir: Path, **kw: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        timing_port=0,
        public_host="127.0.0.1",
        timezone="America/New_York",
        **kw,
    )


class Api:
    """A tiny JSON client for the local API (with the bearer token)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http = session
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        kw: dict[str, Any] = {"headers": self.headers}
        if raw is not None:
            kw["data"] = raw
        elif body is not None:
            kw["json"] = body
        async with self.http.request(method, self.base + path, **kw) as r:
            data = await r.json(content_type=None) if r.content_type == "application/json" else await r.text()
            return r.status, data

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, data = await self.call(method, path, body)
        assert got == status, (got, data)
        return data


@pytest.fixture
async def rc(tmp_path: Path) -> AsyncIterator[RaceControl]:
    app = RaceControl(make_settings(tmp_path / "data"))
    await app.start()
    try:
        yield app
    finally:
        await RawCtp01Client.close_all()
        await app.stop()


@pytest.fixture
async def api(rc: RaceControl) -> AsyncIterator[Api]:
    assert rc.services is not None
    async with aiohttp.ClientSession() as http:
        yield Api(http, rc.http_url, rc.services.api_token)
