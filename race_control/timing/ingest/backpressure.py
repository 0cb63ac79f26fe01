"""How far storage may fall behind before reads stop being taken in: one limit for every source.

The ingest pipeline queues reads and raw lines until they are committed; its ``backlog``
is how many are waiting.  Above ``PAUSE_ABOVE`` the live transports stop reading their
sockets (TCP pushes back on the controller, which keeps the reads) and a file import stops
feeding, until the backlog is back under ``RESUME_BELOW``.  So memory stays bounded however
fast reads arrive, from a socket or from a file of a million rows.

Loop rule: ``wait_for_room`` runs on the event loop and only sleeps; nothing here blocks.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["PAUSE_ABOVE", "POLL", "RESUME_BELOW", "Backlogged", "wait_for_room"]

PAUSE_ABOVE = 100_000  # queued reads + raw lines before sources stop being taken in
RESUME_BELOW = 20_000
POLL = 0.05  # seconds between looks at the backlog while waiting for it to drain


class Backlogged(Protocol):
    """Anything with the pipeline's backlog (``IngestPipeline``, ``TimingService``)."""

    @property
    def backlog(self) -> int: ...


async def wait_for_room(source: Backlogged) -> bool:
    """If the backlog is above ``PAUSE_ABOVE``, wait until it is below ``RESUME_BELOW``.

    Returns whether it had to wait.  Always yields to the loop once, so a caller feeding a
    long list in chunks lets the socket readers, the flusher and the screens run between them.
    """
    if source.backlog <= PAUSE_ABOVE:
        await asyncio.sleep(0)
        return False
    while source.backlog >= RESUME_BELOW:
        await asyncio.sleep(POLL)
    return True
