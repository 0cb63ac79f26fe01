"""The ingest pipeline: group commit of raw lines, reads and what they caused.

Socket readers call ``submit`` (never blocks, never awaits).  One flusher task takes
everything queued, lets the display sessions derive crossings (under the sessions'
lock), writes raw lines + reads + display events + suppressions in ONE transaction
on the DB thread, and only then publishes to screens.  So a read is durable before
anything derived from it is used, and a batch is all-or-nothing.  If the database
fails, the batch is kept and retried with backoff; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from operator import attrgetter

from sqlalchemy import Connection

from race_control.sessions.live import Derived
from race_control.sessions.queries import write_derived
from race_control.sessions.service import SessionService
from race_control.store.database import Store
from race_control.store.models import RawLine, Read
from race_control.timing.ingest.stored_read import StoredRead

log = logging.getLogger("race_control.timing.ingest.pipeline")
ReadListener = Callable[[list[StoredRead]], None]
MAX_BATCH = 5_000  # per transaction: same throughput as 20k (bench.ingest), 4x shorter loop stalls


class IngestPipeline:
    def __init__(self, store: Store, sessions: SessionService) -> None:
        self._store = store
        self._sessions = sessions
        self._raw: list[dict[str, object]] = []
        self._reads: list[StoredRead] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[ReadListener] = []
        self.committed_reads = 0
        self._in_flight = 0
        self.failures = 0
        self.last_error = ""

    def add_listener(self, fn: ReadListener) -> None:
        """Called on the loop with each committed batch of reads (live previews, counters)."""
        self._listeners.append(fn)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-flusher")

    def submit_raw(self, stream_id: str, n: int, received_at: float, line: str) -> None:
        self._raw.append({"stream_id": stream_id, "n": n, "received_at": received_at, "line": line})
        self._kick()

    def submit_read(self, read: StoredRead) -> None:
        self._reads.append(read)
        self._kick()

    def _kick(self) -> None:
        if not self._wake.is_set():
            self._idle.clear()
            self._wake.set()

    @property
    def backlog(self) -> int:
        """Reads and raw lines not yet committed (queued plus the batch being written)."""
        return len(self._raw) + len(self._reads) + self._in_flight

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed and published."""
        while self._raw or self._reads or not self._idle.is_set():
            await self._idle.wait()
            if self._raw or self._reads:
                self._kick()
                await asyncio.sleep(0)

    async def stop(self) -> None:
        if self._task is None:
            return
        await asyncio.wait_for(self.drain(), timeout=30)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def _run(self) -> None:
        delay = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            raw, self._raw = self._raw[:MAX_BATCH], self._raw[MAX_BATCH:]
            reads, self._reads = self._reads[:MAX_BATCH], self._reads[MAX_BATCH:]
            self._in_flight = len(raw) + len(reads)
            if self._raw or self._reads:
                self._wake.set()
            if not raw and not reads:
                self._idle.set()
                continue
            async with self._sessions.lock:
                derived = self._sessions.derive(reads)
                while True:
                    try:
                        await self._store.run(_write_batch, raw, reads, derived)
                        break
                    except Exception as exc:  # the disk or DB failed: keep the batch, retry
                        self.failures += 1
                        self.last_error = str(exc)
                        log.error("could not store %d reads (retrying in %.1fs): %s", len(reads), delay, exc)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 5.0)
                delay = 0.05
            self.committed_reads += len(reads)
            self._in_flight = 0
            self._sessions.publish(derived)
            for fn in self._listeners:
                try:
                    fn(reads)
                except Exception:
                    log.exception("read listener failed")
            if not self._raw and not self._reads:
                self._idle.set()


_READ_COLUMNS = StoredRead.__slots__  # the reads table's columns, in StoredRead's field order
# plain driver-level executemany with tuples: the same rows as the SQLAlchemy Core inserts, without
# per-row bind processing (which holds the GIL the socket readers need): ~1.5x faster per batch
_INSERT_RAW = (
    f"INSERT OR IGNORE INTO {RawLine.__tablename__} (stream_id, n, received_at, line) VALUES (?, ?, ?, ?)"
)
_INSERT_READ = (
    f"INSERT OR IGNORE INTO {Read.__tablename__} ({', '.join(_READ_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_READ_COLUMNS))})"
)
_read_row = attrgetter(*_READ_COLUMNS)


def _write_batch(
    conn: Connection, raw: list[dict[str, object]], reads: list[StoredRead], derived: Derived
) -> None:
    if raw:
        conn.exec_driver_sql(
            _INSERT_RAW, [(r["stream_id"], r["n"], r["received_at"], r["line"]) for r in raw]
        )
    if reads:
        conn.exec_driver_sql(_INSERT_READ, [_read_row(r) for r in reads])
    write_derived(conn, derived)
