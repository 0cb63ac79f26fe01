"""Event-driven waits for tests: poll a condition until it holds, never assert on elapsed time."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def until(cond: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """The first truthy value of ``cond()`` (a function or a coroutine function), polled every
    20 ms; AssertionError naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def finished(proc: asyncio.subprocess.Process, timeout: float = 60) -> tuple[bytes, bytes]:
    """What a subprocess printed once it ended; killed (and the test failed) if still running."""
    try:
        return await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"still running after {timeout} s: {out!r} {err!r}") from None
