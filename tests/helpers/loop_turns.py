"""Counting the event loop's turns while a coroutine runs: proof it let other work run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Turns:
    count = 0


@asynccontextmanager
async def loop_turns() -> AsyncIterator[Turns]:
    """``turns.count``: how often another coroutine ran (once per turn of the loop) inside the
    ``async with`` block."""
    turns = Turns()

    async def other() -> None:
        while True:
            turns.count += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(other())
    await asyncio.sleep(0)
    turns.count = 0
    try:
        yield turns
    finally:
        task.cancel()
