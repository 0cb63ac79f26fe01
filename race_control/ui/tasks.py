"""Coroutines started by widgets: tracked, so shutdown can cancel them, and never silent.

A button handler that needs a service starts a coroutine with ``spawn`` (the same
idea as ``qasync.asyncSlot``, plus bookkeeping).  An exception that escapes it goes
to ``sys.excepthook``, which the app replaces with "log it and show it" (errors.py).
Expected, user-caused failures (``InputError``, ``Conflict``, ``NotFound``) are
usually caught by the page and shown next to the field instead.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

_tasks: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
    """Run ``coro`` on the (qasync) loop; its exception, if any, reaches ``sys.excepthook``."""
    task = asyncio.ensure_future(coro)
    if name:
        task.set_name(name)
    _tasks.add(task)
    task.add_done_callback(_done)
    return task


def _done(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        sys.excepthook(type(exc), exc, exc.__traceback__)


def pending() -> list[asyncio.Task[Any]]:
    return [t for t in _tasks if not t.done()]


async def cancel_all(timeout: float = 5.0) -> None:
    """Shutdown: cancel every coroutine a widget started and wait for them to unwind."""
    tasks = pending()
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
