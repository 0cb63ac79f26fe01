"""How far storage may fall behind before reads stop being taken in: one limit for every source.

The ingest pipeline queues reads and raw lines until they are committed; its ``backlog``
is how many are waiting.  Above ``PAUSE_ABOVE`` the live transports stop reading their
sockets (TCP pushes back on the controller, which keeps the reads) and a file import stops
feeding, until the backlog is back under ``RESUME_BELOW``.  So memory stays bounded however
fast reads arrive, from a socket or from a file of a million rows.

A failing store (``failing``: its last attempt to store a batch failed) pauses them at once,
whatever the backlog: the controller keeps its reads, which are safer there than in the
memory of a server that cannot store them; they resume once a batch is stored again.

Loop rule: ``wait_for_room`` runs on the event loop and only sleeps; nothing here blocks.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["PAUSE_ABOVE", "POLL", "RESUME_BELOW", "Backlogged", "may_resume", "must_pause", "wait_for_room"]

PAUSE_ABOVE = 100_000  # queued reads + raw lines before sources stop being taken in
RESUME_BELOW = 20_000
POLL = 0.05  # seconds between looks at the backlog while waiting for it to drain


class Backlogged(Protocol):
    """Anything with the pipeline's backlog (``IngestPipeline``, ``TimingService``)."""

    @property
    def backlog(self) -> int: ...

    @property
    def failing(self) -> bool: ...


def must_pause(source: Backlogged, own: int = 0) -> bool:
    """Stop taking reads in: the store fails, or it (or the caller's ``own`` queue) is too far behind."""
    return source.failing or source.backlog > PAUSE_ABOVE or own > PAUSE_ABOVE


def may_resume(source: Backlogged, own: int = 0) -> bool:
    """Take reads in again: the store works and has caught up (with the caller's ``own`` queue)."""
    return not source.failing and source.backlog < RESUME_BELOW and own < RESUME_BELOW


async def wait_for_room(source: Backlogged) -> bool:
    """If the backlog is above ``PAUSE_ABOVE`` or the store fails, wait until the backlog is
    below ``RESUME_BELOW`` and a batch was stored.

    Returns whether it had to wait.  Always yields to the loop once, so a caller feeding a
    long list in chunks lets the socket readers, the flusher and the screens run between them.
    """
    if not must_pause(source):
        await asyncio.sleep(0)
        return False
    while not may_resume(source):
        await asyncio.sleep(POLL)
    return True
