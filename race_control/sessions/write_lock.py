"""The sessions' write lock: an ``asyncio.Lock`` that fails fast while storage is down.

Everything that assigns display sequence numbers (the ingest pipeline's batches, a bind,
a rule change, a roster correction) holds this lock from deciding to storing, so seqs are
stored in the order they were given.  When the pipeline cannot store a batch it keeps it,
``block``s the lock with the error and releases it while it backs off.  Until it stores
the batch and ``unblock``s, everyone else's ``acquire`` raises ``StoreError`` at once
(API: 503) instead of queueing behind the outage, and nothing can take seqs after the
pending batch's.  Only the holder of the block re-enters, through ``acquire_blocked``.

Loop rule: like ``asyncio.Lock``, use it from the one event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from race_control.store.database import StoreError

__all__ = ["WriteLock"]


class WriteLock:
    """``asyncio.Lock`` (``acquire``/``release``/``locked``/``async with``) plus a block."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._error: BaseException | None = None

    @property
    def blocked(self) -> BaseException | None:
        """The storage failure the lock is blocked with, or ``None``."""
        return self._error

    def block(self, error: BaseException) -> None:
        """From now on ``acquire`` raises ``StoreError`` naming ``error``, until ``unblock``."""
        self._error = error

    def unblock(self) -> None:
        self._error = None

    def locked(self) -> bool:
        return self._lock.locked()

    async def acquire(self) -> bool:
        """Wait for the lock; ``StoreError`` at once while blocked (also if blocked meanwhile)."""
        self._raise_if_blocked()
        await self._lock.acquire()
        if self._error is not None:  # blocked while we waited
            self._lock.release()
            self._raise_if_blocked()
        return True

    def release(self) -> None:
        self._lock.release()

    @asynccontextmanager
    async def acquire_blocked(self) -> AsyncIterator[None]:
        """Hold the lock even while blocked: for the one who blocked it, to retry its write."""
        async with self._lock:
            yield

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def _raise_if_blocked(self) -> None:
        error = self._error
        if error is not None:
            # a new exception each time: one raised over and over would grow its traceback
            raise StoreError(
                f"{error}; reads are kept and retried, try this again once it is fixed"
            ) from error
