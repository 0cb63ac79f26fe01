"""The sessions' write lock: a plain asyncio lock until storage fails, then fail-fast."""

from __future__ import annotations

import asyncio

import pytest

from race_control.errors import RaceControlError
from race_control.sessions.write_lock import WriteLock
from race_control.store.database import StoreError


async def test_it_is_an_ordinary_lock_until_blocked() -> None:
    lock = WriteLock()
    order: list[str] = []

    async def second() -> None:
        async with lock:
            order.append("second")

    async with lock:
        assert lock.locked()
        waiter = asyncio.create_task(second())
        await asyncio.sleep(0)
        order.append("first")
    await waiter
    assert order == ["first", "second"] and not lock.locked()


async def test_blocked_acquire_raises_store_error_at_once_and_names_the_problem() -> None:
    lock = WriteLock()
    lock.block(StoreError("the database /data/rc.sqlite3 failed: disk I/O error"))
    with pytest.raises(StoreError, match=r"/data/rc\.sqlite3 failed: disk I/O error") as info:
        async with lock:
            pytest.fail("entered a blocked lock")
    assert isinstance(info.value, RaceControlError) and info.value.retryable
    assert not lock.locked()
    lock.unblock()
    async with lock:
        assert lock.blocked is None


async def test_a_waiter_fails_when_the_holder_blocks_the_lock_before_releasing_it() -> None:
    """The pipeline holds the lock for a write that fails; who queued behind it gets the error."""
    lock = WriteLock()
    await lock.acquire()
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    lock.block(StoreError("the database x failed: database is locked"))
    lock.release()
    with pytest.raises(StoreError, match="database is locked"):
        await waiter
    assert not lock.locked()  # the waiter handed the lock back


async def test_the_blocker_re_enters_while_others_are_refused() -> None:
    lock = WriteLock()
    lock.block(StoreError("the database x failed: database or disk is full"))
    async with lock.acquire_blocked():
        assert lock.locked()
        with pytest.raises(StoreError):
            await lock.acquire()
        lock.unblock()
    async with lock:
        pass
