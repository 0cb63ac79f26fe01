"""Keeps every open display session's snapshot (``sessions.snapshot``) fresh while the race runs.

Every ``interval`` seconds (longer after a costly round: ``BUDGET``) it looks for sessions whose state moved since their last snapshot and
takes one of each that decided ``min_reads`` reads since, or whose last is older than
``max_age``, or that was rebuilt (new rules or streams); ``stop`` takes one of every session that
moved at all (a clean shutdown: the next start-up decides nothing again).

Each capture holds the sessions' write lock for one session's copies, made in slices with the
loop running between them, so every read the session decided is committed and none is
half-decided while screens and the API go on; the encoding runs on a
worker thread and only the write of the finished bytes goes through the store's thread.  While
storage is failing (the lock is blocked) nothing is taken.  A crash loses at most what was
decided since the last snapshot: start-up decides those reads again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from race_control.sessions import snapshot_queries as sq
from race_control.sessions.live import LiveSession
from race_control.sessions.service import SessionService
from race_control.sessions.snapshot import Captured, capture_sliced, encode, encode_unknown, fingerprint_of
from race_control.store.database import Store, StoreError

log = logging.getLogger(__name__)

__all__ = ["SnapshotKeeper"]

BUDGET = 20.0  # the next round waits at least this many times as long as the last one took


@dataclass
class _Taken:
    fingerprint: str
    pos: dict[str, int]
    last_seq: int
    decided: int
    at: float  # monotonic


class SnapshotKeeper:
    def __init__(
        self,
        sessions: SessionService,
        store: Store,
        *,
        interval: float = 10.0,
        min_reads: int = 20_000,
        max_age: float = 60.0,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self.interval = interval
        self.min_reads = min_reads
        self.max_age = max_age
        self._taken: dict[str, _Taken] = {}
        self._task: asyncio.Task[None] | None = None
        self.written = 0  # snapshots written since start (for tests and the log)

    def start(self) -> None:
        # a session start-up continued from its snapshot with no read after it: as stored; the
        # rest (replayed, or reads decided after the snapshot) are due at the first round
        for s in self._sessions.sessions():
            if self._sessions.from_snapshot.get(s.id) == 0:
                self._taken[s.id] = self._mark(s)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="session-snapshots")

    async def stop(self) -> None:
        """Stop the rounds, then snapshot every session that moved (call after the last read is
        committed: ingest stopped)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.take(force=True)

    async def _run(self) -> None:
        pause = self.interval
        while True:
            await asyncio.sleep(pause)
            began = time.perf_counter()
            try:
                await self.take()
            except Exception:  # a snapshot is an optimisation: never let it stop the rounds
                log.exception("session snapshots failed; start-up replays the reads instead")
            # a big race's round costs real CPU next to ingest: at most ~5 % of the time on it
            pause = max(self.interval, BUDGET * (time.perf_counter() - began))

    def _mark(self, s: LiveSession) -> _Taken:
        return _Taken(
            fingerprint_of(s),
            dict(s.decided_to),
            s.next_seq - 1,
            s.finishers + s.suppressed,
            time.monotonic(),
        )

    def _due(self, s: LiveSession, force: bool) -> bool:
        if s.status != "open" or not s.streams:
            return False  # closed: it keeps its final counts and decides nothing
        last = self._taken.get(s.id)
        if last is None or last.fingerprint != fingerprint_of(s):
            return True
        if last.pos == s.decided_to and last.last_seq == s.next_seq - 1:
            return False
        if force:
            return True
        moved = s.finishers + s.suppressed - last.decided
        return moved >= self.min_reads or time.monotonic() - last.at >= self.max_age

    async def take(self, *, force: bool = False) -> int:
        """Snapshot the sessions that are due; how many were written.  Sessions that share an
        engine are captured under one hold of the lock, with one copy of the engine between them
        (``capture_sliced``), and encode a state they share once; one such group's copies are held
        at a time (a round of twenty sessions' copies at once was a peak of its own)."""
        written = 0
        groups: dict[int, list[LiveSession]] = {}  # by engine: sessions that decide alike
        for s in self._sessions.sessions():
            if self._due(s, force):
                groups.setdefault(id(s.engine), []).append(s)
        for group in groups.values():
            try:
                async with self._sessions.lock:
                    engines: dict[int, dict[str, list[Any]]] = {}
                    taken = []
                    for s in group:
                        if self._due(s, force):  # a rebuild may have run while we waited
                            taken.append((s, await capture_sliced(s, engines), self._mark(s)))
                    del engines
            except StoreError:
                return written  # storage is failing: the reads come first
            written += await self._write(taken)
        self.written += written
        if written:
            log.debug("session snapshots: %d written", written)
        return written

    async def _write(self, taken: list[tuple[LiveSession, Captured, _Taken]]) -> int:
        """Encode (off the loop) and store ``taken``'s snapshots, emptying it as it goes."""
        loop = asyncio.get_running_loop()
        encoded: list[tuple[dict[str, Any], bytes]] = []  # sessions sharing a state encode it once
        written = 0
        taken.reverse()
        while taken:
            s, c, mark = taken.pop()
            blob = next((b for st, b in encoded if st == c.state), None)
            if blob is None:
                blob, unknown = await loop.run_in_executor(None, encode, c)
                encoded.append((c.state, blob))
            else:
                unknown = await loop.run_in_executor(None, encode_unknown, c)
            await self._store.run(
                sq.save_snapshot, c.session_id, c.fingerprint, c.last_seq, time.time(), blob, unknown
            )
            self._taken[s.id] = mark
            written += 1
        return written
