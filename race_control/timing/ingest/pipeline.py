"""The ingest pipeline: group commit of raw lines, reads and what they caused.

Socket readers call ``submit`` (never blocks, never awaits).  One flusher task takes
everything queued, lets its ``ReadConsumer`` (the display sessions, passed in by the
app: timing does not import sessions) derive a batch under the consumer's lock, writes
raw lines + reads + the batch in ONE transaction on the DB thread, and only then
publishes it.  So a read is durable before anything derived from it is used, and a
batch is all-or-nothing.

If the database fails, the batch is kept (nothing is dropped) and the lock is
``block``ed with the error and released while the pipeline backs off; it re-enters
with ``acquire_blocked`` to retry and ``unblock``s once stored.  Meanwhile whoever
else wants the lock gets ``StoreError`` at once instead of hanging behind the
outage, and nothing can be derived (take display seqs) ahead of the pending batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from operator import attrgetter
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

from race_control.alerts import AlertBoard
from race_control.store.database import Store, StoreError
from race_control.store.models import RawLine, Read, ReadMinute
from race_control.timing.ingest.stored_read import StoredRead

log = logging.getLogger("race_control.timing.ingest.pipeline")
ReadListener = Callable[[list[StoredRead]], None]
MAX_BATCH = 5_000  # per transaction: same throughput as 20k (bench.ingest), 4x shorter loop stalls
# a batch's reads are derived and published on the loop (every bound session decides each one
# and makes its messages): the next batch takes as many reads as the last batch's pace says fit
# in this much loop time, for each of the two
DERIVE_BUDGET = 0.01  # seconds
MIN_BATCH = 50
FIRST_RETRY, MAX_RETRY = 0.05, 5.0  # seconds between attempts to store a failed batch (doubling)


class Batch(Protocol):
    """What a consumer derived from a batch of reads; stored in the reads' transaction."""

    def write(self, conn: Connection) -> None: ...


class ConsumerLock(Protocol):
    """A lock that can be blocked while storage fails (``sessions.write_lock.WriteLock``)."""

    def acquire_blocked(self) -> AbstractAsyncContextManager[None]: ...
    def block(self, error: BaseException) -> None: ...
    def unblock(self) -> None: ...


B = TypeVar("B", bound=Batch)


class ReadConsumer(Protocol[B]):
    """Who turns new reads into more rows (display events) and, once stored, publishes them.

    ``derive`` runs with ``lock`` held and must not await; ``publish`` runs after the commit,
    with no await between the lock's release and the call.
    """

    @property
    def lock(self) -> ConsumerLock: ...
    def derive(self, reads: list[StoredRead]) -> B: ...
    def publish(self, batch: B) -> None: ...


class IngestPipeline:
    def __init__(self, store: Store, consumer: ReadConsumer[Any], alerts: AlertBoard | None = None) -> None:
        self._store = store
        self._consumer = consumer
        # told when storing fails (a `storage_error` naming the cause) and heals; its own when none given
        self._alerts = alerts if alerts is not None else AlertBoard()
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
        self._failing = False  # the last attempt to store a batch failed (backpressure.must_pause)
        self._take = MIN_BATCH  # reads the next batch takes (_pace: the first one learns the pace)

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

    @property
    def failing(self) -> bool:
        """The last attempt to store a batch failed and none has been stored since: the
        transports stop reading their sockets until it is (``backpressure``)."""
        return self._failing

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
        while True:
            await self._wake.wait()
            self._wake.clear()
            raw, self._raw = self._raw[:MAX_BATCH], self._raw[MAX_BATCH:]
            reads, self._reads = self._reads[: self._take], self._reads[self._take :]
            self._in_flight = len(raw) + len(reads)
            if self._raw or self._reads:
                self._wake.set()
            if not raw and not reads:
                self._idle.set()
                continue
            lock = self._consumer.lock
            # only this task blocks the lock, and it unblocks before it takes the next batch
            async with lock.acquire_blocked():
                started = time.perf_counter()
                batch = self._consumer.derive(reads)
                derived_in = time.perf_counter() - started
                error = await self._store_batch(raw, reads, batch, 0)
                if error is not None:
                    lock.block(error)
            # Retry outside the lock, hand-written rather than with tenacity: the first attempt
            # differs (it derives the batch), the lock must be released across each sleep and
            # blocked/unblocked around the outage, and it never gives up (that would drop reads);
            # as tenacity callbacks that is longer than this loop, and one more dependency.
            delay = FIRST_RETRY
            attempt = 0
            while error is not None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY)
                attempt += 1
                async with lock.acquire_blocked():
                    error = await self._store_batch(raw, reads, batch, attempt)
                    if error is None:
                        lock.unblock()
                        log.info("stored %d reads after %d retries; storage works again", len(reads), attempt)
                        self._alerts.clear("storage_error", "store")
                    else:
                        lock.block(error)
            self._failing = False
            # no await from the release to the publish: nothing else can publish newer seqs first
            self.committed_reads += len(reads)
            self._in_flight = 0
            started = time.perf_counter()
            self._consumer.publish(batch)
            for fn in self._listeners:
                try:
                    fn(reads)
                except Exception:
                    log.exception("read listener failed")
            self._pace(len(reads), max(derived_in, time.perf_counter() - started))
            # not held while idle: with 20 sessions a batch is ~100,000 rows and their messages
            del raw, reads, batch
            if not self._raw and not self._reads:
                self._idle.set()
            else:  # the loop's other work between this publish and the next derive (the wake
                await asyncio.sleep(0)  # event is set: waiting on it would not yield)

    def _pace(self, reads: int, seconds: float) -> None:
        """Size the next batch so its derive and its publish (``seconds``: the longer of the two)
        each take about ``DERIVE_BUDGET`` of the loop: 20 sessions deciding 5,000 reads held it
        ~1 s, and publishing their 100,000 messages as long, while every screen, ping and API
        call waited."""
        if reads >= MIN_BATCH:
            per_read = seconds / reads
            fits = int(DERIVE_BUDGET / per_read) if per_read > 0 else MAX_BATCH
            self._take = max(MIN_BATCH, min(MAX_BATCH, fits))

    async def _store_batch(
        self, raw: list[dict[str, object]], reads: list[StoredRead], batch: Batch, attempt: int
    ) -> StoreError | None:
        """Write one batch; ``None`` once stored, else the failure (as ``StoreError``) to retry on."""
        try:
            await self._store.run(_write_batch, raw, reads, batch)
        except Exception as exc:  # keep the batch whatever failed: dropping it would lose reads
            self.failures += 1
            self._failing = True
            self.last_error = str(exc)
            self._alerts.raise_alert(
                "storage_error",
                "store",
                f"cannot store reads: {exc}. {self.backlog} reads and raw lines are kept in memory "
                "and retried; nothing new is shown until they are stored",
                severity="critical",
                attempts=attempt + 1,
            )
            if isinstance(exc, StoreError):
                log.error("could not store %d reads (attempt %d, retrying): %s", len(reads), attempt + 1, exc)
                return exc
            if attempt == 0:  # not the storage: a bug; its traceback once, then retry like the rest
                log.exception("storing %d reads failed (a bug?); retrying so nothing is lost", len(reads))
            return StoreError(f"storing reads failed ({type(exc).__name__}: {exc}); see the log")
        return None


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
# the analytics' reads per stream and minute of the batch's new tag reads (those past the last
# rowid: an INSERT OR IGNORE'd one is not counted), one statement for the batch; store migration
# 0018 dropped 0015's trigger that did it row by row (~2 of the ~10 µs a read cost to store)
_LAST_READ = f"SELECT coalesce(max(rowid), 0) FROM {Read.__tablename__}"
_MINUTE = "(CAST(clock / 60 AS INTEGER) - (clock < 0 AND clock / 60 <> CAST(clock / 60 AS INTEGER)))"
_COUNT_MINUTES = (
    f"INSERT INTO {ReadMinute.__tablename__} (stream_id, minute, reads) "
    f"SELECT stream_id, {_MINUTE}, count(*) FROM {Read.__tablename__} WHERE rowid > ? AND kind = 'tag' "
    "GROUP BY 1, 2 ON CONFLICT (stream_id, minute) DO UPDATE SET reads = reads + excluded.reads"
)


def _write_batch(
    conn: Connection, raw: list[dict[str, object]], reads: list[StoredRead], batch: Batch
) -> None:
    # the driver's own cursor, in this transaction (~25 µs a statement less than
    # ``exec_driver_sql``: a read's batch is on the read → screen path)
    cur = conn.connection.cursor()
    try:
        if raw:
            cur.executemany(_INSERT_RAW, [(r["stream_id"], r["n"], r["received_at"], r["line"]) for r in raw])
        if reads:
            (before,) = cur.execute(_LAST_READ).fetchone()
            cur.executemany(_INSERT_READ, [_read_row(r) for r in reads])
            cur.execute(_COUNT_MINUTES, (before,))
    finally:
        cur.close()
    batch.write(conn)
