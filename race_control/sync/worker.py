"""The sync worker: pushes the outbox to the central database whenever one is configured.

``SyncWorker(store, target, ...)`` is made inside the running loop (``RaceControl.start``);
``start()`` / ``stop()``; ``status()`` is a ``SyncStatus``; ``request()`` is "Sync now";
``on_status`` listeners get every new status (on the loop); ``poke()`` says "something changed
locally" (the app hooks it to ``Operations.changes``).

When it runs (docs/sync.md#push): at start; ``debounce`` seconds after a local change; every
``interval`` seconds it checks the local backlog (rows written by ingest, which is no
operation) and runs when there is one, and at least every ``round_interval`` seconds anyway
(the round hooks pull what other laptops shared); batch after batch while a backlog remains;
at once on ``request()``.  A failed round is retried on its own after an exponential backoff
with jitter (``retry_min`` doubling up to ``retry_max``), whether or not anything changes
locally meanwhile; local changes do not cut a backoff short (an unreachable server is not
hammered by every read), ``request()`` does.  Failures are ``offline`` (cannot reach it:
timeout, reset, restart) or ``error`` (it said no: password, schema, privilege, a refused
row), both retried.

Threads: all psycopg2 work runs on the worker's own single thread (one connection, used by
one thread), local reads and check-offs through ``store.run`` (the store's thread), the CSV
encoding of a batch (``push.encode_batch``) on an encoder thread; the loop never blocks.  While
batch k is on its way, k+1 is read (``read_batch(..., after=k)``) and encoded; it is pushed only
after k committed and was checked off.  A batch is checked off locally only after the central commit
(``outbox.mark_pushed``), so a round cut anywhere is simply done again.

Round hooks: ``add_round(fn)`` registers ``async fn(link) -> int | None`` called after every
successful push round with a ``CentralLink``: ``await link.run(f, *args)`` runs ``f(pg, *args)``
on the sync thread with the open connection; ``link.connect()`` opens another one (blocking,
for that thread); ``link.store`` is the local store.  What it returns is counted as pulled
rows; a ``SyncFailure`` it raises fails the round like a push failure.  (The pull of shared
rows, ``sync/pull.py``, registers itself here.)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions

from race_control.alerts import AlertBoard
from race_control.store.database import Store, StoreError
from race_control.sync.connection import CentralRejected, CentralTarget, SyncFailure, connect, failure
from race_control.sync.off import NoSync
from race_control.sync.outbox import MAX_ENTITIES, Backlog, Batch, backlog, mark_pushed, read_batch
from race_control.sync.push import Encoded, encode_batch, push_batch
from race_control.sync.status import SyncStatus

log = logging.getLogger("race_control.sync")
T = TypeVar("T")
StatusListener = Callable[[SyncStatus], None]
ALERT_KEY = "central"
# append rows per table per batch: reading a batch holds the store's one thread (ingest commits
# wait meanwhile), ~0.1-0.4 s for 5,000 rows of each of two tables; a bench may ask for more
WORKER_MAX_APPEND = 5000


def backoff(failures: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: ``base * 2**(failures-1)``
    capped at ``cap``, of which a random half ("equal jitter": laptops that lost the same
    server do not come back in step, and the wait never collapses to nothing)."""
    delay = min(cap, base * (2 ** max(0, failures - 1)))
    return delay / 2 + rng() * delay / 2


class CentralLink:
    """What a round hook gets: the open central connection (on the sync thread) and the store."""

    def __init__(self, worker: SyncWorker) -> None:
        self._worker = worker
        self.store = worker.store
        self.target = worker.target

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(pg, *args)`` on the sync thread with the worker's open connection."""
        return await self._worker._on_thread(self._worker._with_connection, fn, *args)

    def connect(self) -> psycopg2.extensions.connection:
        """A new connection to the same database (blocking: call it on a worker thread)."""
        return connect(self.target)


RoundHook = Callable[[CentralLink], Awaitable[int | None]]


class SyncWorker:
    def __init__(
        self,
        store: Store,
        target: CentralTarget,
        *,
        alerts: AlertBoard | None = None,
        retry_min: float = 1.0,
        retry_max: float = 60.0,
        interval: float = 2.0,
        round_interval: float = 10.0,
        debounce: float = 0.2,
        backlog_alert: float = 300.0,
        max_entities: int = MAX_ENTITIES,
        max_append: int = WORKER_MAX_APPEND,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.target = target
        self.alerts = alerts if alerts is not None else AlertBoard()
        self.retry_min, self.retry_max = retry_min, retry_max
        self.interval, self.round_interval, self.debounce = interval, round_interval, debounce
        self.backlog_alert = backlog_alert
        self.max_entities, self.max_append = max_entities, max_append
        self._rng = rng
        self.on_status: list[StatusListener] = []
        self._rounds: list[RoundHook] = []
        self._status = SyncStatus(configured=True, state="idle", central=target.public)
        self._thread: ThreadPoolExecutor | None = None
        self._encoder: ThreadPoolExecutor | None = None
        self._pg: psycopg2.extensions.connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._requested = False
        self._changed = False
        self._failures = 0
        self._last_round = 0.0
        self._stopping = False

    # -- interface -------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return True

    def status(self) -> SyncStatus:
        return self._status

    def add_round(self, fn: RoundHook) -> None:
        """Run ``fn(link)`` after every successful push round (see the module docstring)."""
        self._rounds.append(fn)

    def request(self) -> None:
        """Sync now (also cuts a retry backoff short)."""
        self._requested = True
        self._wake.set()

    def poke(self, *_: Any) -> None:
        """Something changed locally: a round soon (after ``debounce``), unless backing off.
        Takes any arguments, so it can be an ``Operations.changes`` listener as it is."""
        self._changed = True
        self._wake.set()

    def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="race-control-sync")
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="race-control-sync-encode")
        self._requested = True  # at start
        self._task = asyncio.create_task(self._main(), name="race-control-sync")
        log.info("central sync to %s", self.target.public)

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch on its way (at most ``timeout`` s), then close the connection."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                log.warning("central sync: the batch on its way did not finish in %.0f s; left", timeout)
                task.cancel()
            except Exception:  # logged by _main already
                pass
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.submit(self._close)  # after whatever still runs there
            thread.shutdown(wait=False)
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            encoder.shutdown(wait=False)

    # -- the loop --------------------------------------------------------------------------

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        next_check = loop.time()
        while not self._stopping:
            now = loop.time()
            retry_at = self._retry_at(loop)
            wait = max(0.0, min(next_check, retry_at if retry_at is not None else next_check) - now)
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:
                break
            now = loop.time()
            requested, changed = self._requested, self._changed
            self._requested = self._changed = False
            retry_at = self._retry_at(loop)
            if requested:
                pass
            elif retry_at is not None and now < retry_at:  # backing off: local changes wait
                self._changed = self._changed or changed
                if now >= next_check:  # the backlog (and its alert) stay current meanwhile
                    next_check = now + self.interval
                    await self._due(now)
                continue
            elif retry_at is not None:
                pass  # the retry is due
            elif changed:
                await asyncio.sleep(self.debounce)  # gather a burst of changes into one round
            elif now >= next_check:
                next_check = now + self.interval
                if not await self._due(now):
                    continue
            else:
                continue
            await self._round()
            next_check = loop.time() + self.interval

    def _retry_at(self, loop: asyncio.AbstractEventLoop) -> float | None:
        if self._status.next_attempt is None:
            return None
        return loop.time() + (self._status.next_attempt - time.time())

    async def _due(self, now: float) -> bool:
        """The periodic check: a backlog (ingest wrote rows), or a round is due for the hooks."""
        try:
            known = await self.store.run(backlog)
        except StoreError as exc:
            log.warning("central sync: cannot read the backlog: %s", exc)
            return False
        self._publish(backlog=known.rows, backlog_since=known.since)
        return known.rows > 0 or (bool(self._rounds) and now - self._last_round >= self.round_interval)

    async def _round(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_round = loop.time()
        try:
            known = await self.store.run(backlog)
            self._publish(state="syncing", backlog=known.rows, backlog_since=known.since)
            sent_any = False
            batch = await self._read_next(None)
            while not self._stopping and not batch.empty:
                # batch k on the sync thread (the server's work) while k+1 is read (store
                # thread) and encoded (encoder thread); k+1 goes only once k is checked off
                pushing = asyncio.ensure_future(self._on_thread(self._with_connection, push_batch, batch))
                try:
                    following = await self._read_next(batch.batch)
                except asyncio.CancelledError:  # stop() gave up waiting: k ends on its thread alone
                    pushing.cancel()
                    raise
                except Exception:  # the read failed: k finishes first, then the round fails
                    await asyncio.wait([pushing])
                    if not pushing.cancelled():
                        pushing.exception()  # retrieved (k is sent again next round either way)
                    raise
                sent = await pushing  # k's failure drops k+1: the round is retried
                sent_any = True
                await self.store.run(mark_pushed, batch.batch)
                known = await self.store.run(backlog)
                self._publish(
                    pushed=self._status.pushed + sent, backlog=known.rows, backlog_since=known.since
                )
                batch = following
            if not self._stopping:
                if not sent_any:  # nothing to push: still prove the server answers (a kept
                    await self._on_thread(self._with_connection, _ping)  # connection may be dead)
                link = CentralLink(self)
                for hook in list(self._rounds):
                    pulled = await hook(link)
                    if pulled:
                        self._publish(pulled=self._status.pulled + int(pulled))
        except SyncFailure as exc:
            self._failed(exc)
        except StoreError as exc:  # the local store: retried like the network
            self._failed(SyncFailure(f"local store: {exc}"))
        except asyncio.CancelledError:
            raise
        except psycopg2.Error as exc:  # from a round hook's own statements
            self._failed(failure(exc, password=self.target.password))
        except Exception as exc:  # a bug: logged with its traceback, retried
            log.exception("central sync round failed")
            self._failed(failure(exc))
        else:
            self._failures = 0
            known = await self._backlog_or_none()
            self._publish(
                state="idle",
                last_success=time.time(),
                next_attempt=None,
                **({"backlog": known.rows, "backlog_since": known.since} if known else {}),
            )

    async def _read_next(self, after: Batch | None) -> Encoded:
        """The next batch (leaving out ``after``, still on its way), read on the store's thread
        and encoded on the encoder thread (the store's thread stays free for the ingest)."""
        batch = await self.store.run(read_batch, self.max_entities, self.max_append, after)
        if batch.empty:
            return encode_batch(batch)
        if self._encoder is None:
            raise SyncFailure("central sync is stopped")
        return await asyncio.get_running_loop().run_in_executor(self._encoder, encode_batch, batch)

    async def _backlog_or_none(self) -> Backlog | None:
        try:
            return await self.store.run(backlog)
        except StoreError:
            return None

    def _failed(self, exc: SyncFailure) -> None:
        self._failures += 1
        delay = backoff(self._failures, self.retry_min, self.retry_max, self._rng)
        if self._thread is not None:
            self._thread.submit(self._close)  # a new connection next time
        state = "offline" if exc.retryable else "error"
        message = str(exc)
        level = logging.WARNING if self._failures in (1, 10) or self._failures % 100 == 0 else logging.DEBUG
        log.log(
            level, "central sync %s (attempt %d, next in %.1f s): %s", state, self._failures, delay, message
        )
        now = time.time()
        self._publish(state=state, last_error=message, last_error_at=now, next_attempt=now + delay)

    # -- the sync thread -------------------------------------------------------------------

    async def _on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._thread is None:
            raise SyncFailure("central sync is stopped")
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _with_connection(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pg is None or self._pg.closed:
            self._pg = connect(self.target)
        return fn(self._pg, *args)

    def _close(self) -> None:
        pg, self._pg = self._pg, None
        if pg is not None:
            try:
                pg.close()
            except Exception:  # closing a broken connection
                pass

    # -- status ----------------------------------------------------------------------------

    def _publish(self, **changes: Any) -> None:
        new = replace(self._status, **changes)
        if new == self._status:
            self._hold_alert()
            return
        self._status = new
        self._hold_alert()
        for listener in list(self.on_status):
            try:
                listener(new)
            except Exception:  # a listener's bug must not stop sync
                log.exception("sync status listener failed")

    def _hold_alert(self) -> None:
        s = self._status
        old = s.backlog_since is not None and time.time() - s.backlog_since > self.backlog_alert
        failing = s.state == "error"
        if failing:
            message = f"central sync fails: {s.last_error}; {s.backlog} rows not in the central database yet"
        elif old:
            minutes = (time.time() - (s.backlog_since or 0)) / 60
            message = (
                f"{s.backlog} rows not in the central database yet, the oldest for {minutes:.0f} min"
                + (f" ({s.last_error})" if s.state == "offline" and s.last_error else "")
            )
        else:
            message = ""
        self.alerts.hold(
            "sync_backlog",
            ALERT_KEY,
            failing or old,
            message,
            severity="critical" if failing else "warning",
            backlog=s.backlog,
        )


def _ping(pg: psycopg2.extensions.connection) -> None:
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT rc_current_partner()")
            row = cur.fetchone()
        pg.rollback()
    except Exception as exc:
        raise failure(exc) from exc
    if row is None or row[0] is None:
        raise CentralRejected(
            "this central login belongs to no timing partner (use the URL `central add-partner` printed)"
        )


__all__ = ["CentralLink", "NoSync", "SyncWorker", "backoff"]
