"""``services.sync`` when no central database is configured (``NoSync``): in a module of its own,
so a start-up without central sync imports none of it (psycopg2, the central schema: issue #13)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from race_control.sync.status import OFF, SyncStatus

if TYPE_CHECKING:
    from race_control.sync.worker import RoundHook


class NoSync:
    """``services.sync`` when no central database is configured: always off, same interface."""

    configured = False

    def __init__(self) -> None:
        self.on_status: list[Callable[[SyncStatus], None]] = []

    def status(self) -> SyncStatus:
        return OFF

    def add_round(self, fn: RoundHook) -> None:
        del fn

    def request(self) -> None:
        pass

    def poke(self, *_: Any) -> None:
        pass

    def start(self) -> None:
        pass

    async def stop(self, timeout: float = 10.0) -> None:
        del timeout
