"""An in-process ``RaceControl`` with an API client, and waiting for its ingest to catch up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp

from race_control.app import RaceControl
from race_control.config import Settings
from tests.conftest import Api

T = TypeVar("T")


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[RaceControl, Api]]:
    """Start ``RaceControl`` on ``settings``; yield it and an API client; stop it at the end."""
    app = RaceControl(settings)
    await app.start()
    try:
        assert app.services is not None
        async with aiohttp.ClientSession() as http:
            yield app, Api(http, app.http_url, app.services.api_token)
    finally:
        await app.stop()


async def drain_until(
    rc: RaceControl, probe: Callable[[], Awaitable[T]], done: Callable[[T], object], timeout: float = 20.0
) -> T:
    """Drain the ingest pipeline, then ``probe()``, until ``done`` says yes or ``timeout`` seconds
    have passed (a store that retries a locked database takes seconds, more under load); the
    last probe's value (the caller asserts on it)."""
    assert rc.services is not None
    deadline = time.monotonic() + timeout
    while True:
        await rc.services.pipeline.drain()
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)


async def wait_last_seq(rc: RaceControl, api: Api, session_id: str, seq: int) -> dict[str, Any]:
    """The display session once its ``last_seq`` is ``seq`` (every read so far is a crossing)."""
    session: dict[str, Any] = await drain_until(
        rc, lambda: api.ok("GET", f"/api/sessions/{session_id}"), lambda s: s["last_seq"] == seq
    )
    return session
