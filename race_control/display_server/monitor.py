"""Periodic checks that feed the alert board (race_control.alerts) with what needs the operator.

The parts raise their own alerts where they see trouble happen (the ingest pipeline: storage
errors; the hub: lost screens; the timing streams: a clock far off, through
``TimingService.clock_listeners``).  What can only be seen by looking every so often is here:

- ``stream_silent``: a live timing stream bound to an open results-mode display session got
  reads during that race and none for ``silent_after`` seconds, while connected or recently
  connected (a dead mat, a controller that stopped forwarding, an unplugged cable);
- ``clock_off`` cleared: reads kept arriving for ``clock_ok_after`` seconds with no new clock
  warning (the warning is rewritten at most once a minute while reads are far off);
- ``backlog``: more than ``backlog_limit`` reads and raw lines wait to be stored;
- ``low_disk``: the data dir's filesystem has less than ``low_disk_bytes`` or
  ``low_disk_fraction`` free (checked every ``disk_every`` seconds, off the loop).

``tick`` runs from the app's once-a-second ticker, on the loop, and only reads memory.
The thresholds are attributes so an installation (or a test) can tune them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from typing import Any

from race_control.display_server.screens_seen import ScreensSeen
from race_control.display_server.services import Services
from race_control.timing.ingest.streams import StreamState

log = logging.getLogger("race_control.monitor")
SILENT_AFTER = 120.0  # s without reads from a stream whose race is on
RECENTLY_CONNECTED = 600.0  # s since a stream was last seen: still expected to send
CLOCK_OK_AFTER = 120.0  # s of reads without a new clock warning: the clock is right again
BACKLOG_LIMIT = 50_000  # reads and raw lines waiting to be stored
LOW_DISK_BYTES = 1 << 30  # 1 GiB
LOW_DISK_FRACTION = 0.05
CRITICAL_DISK_BYTES = 100 << 20  # below this the alert is critical: the store is about to fail
DISK_EVERY = 30.0


def stream_label(state: StreamState) -> str:
    """How the operator knows a stream: its event name (or source), protocol and address."""
    where = f", {state.remote_addr}" if state.remote_addr else ""
    return f"{state.event_name or state.source_key!r} ({state.protocol}{where})"


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds // 60:.0f} min"


class Monitor:
    def __init__(self, services: Services) -> None:
        self._s = services
        self.silent_after = SILENT_AFTER
        self.recently_connected = RECENTLY_CONNECTED
        self.clock_ok_after = CLOCK_OK_AFTER
        self.backlog_limit = BACKLOG_LIMIT
        self.low_disk_bytes = LOW_DISK_BYTES
        self.low_disk_fraction = LOW_DISK_FRACTION
        self.disk_every = DISK_EVERY
        self._clock_warned: dict[str, float] = {}  # stream id -> its last read when last warned
        self._disk_task: asyncio.Task[None] | None = None
        services.timing.clock_listeners.append(self._clock_warning)
        # every screen that connected, kept for the history (written in batches from ``tick``)
        self.screens_seen = ScreensSeen(services.store, services.hub)

    def start(self) -> None:
        self._disk_task = asyncio.create_task(self._watch_disk(), name="disk-watch")

    async def stop(self) -> None:
        try:
            await self.screens_seen.close()
        except Exception:  # the store failing at shutdown must not stop the rest of it
            log.exception("could not store the screens seen at shutdown")
        if self._disk_task is not None:
            self._disk_task.cancel()
            try:
                await self._disk_task
            except asyncio.CancelledError:
                pass
            self._disk_task = None

    def tick(self, now: float) -> None:
        self.screens_seen.tick(now)
        self._check_streams(now)
        self._check_clocks()
        backlog = self._s.pipeline.backlog
        self._s.alerts.hold(
            "backlog",
            "ingest",
            backlog > self.backlog_limit,
            f"about {round(backlog, -3):,} reads and raw lines wait to be stored (alert above "
            f"{self.backlog_limit:,}): the store is slow or failing, timing clients are slowed down",
        )

    # --- timing streams ---------------------------------------------------------------
    def _check_streams(self, now: float) -> None:
        races: dict[str, list[Any]] = {}  # stream id -> the open results-mode sessions it feeds
        for session in self._s.sessions.sessions():
            if session.status == "open" and session.mode == "results":
                for stream_id in session.streams:
                    races.setdefault(stream_id, []).append(session)
        alerts = self._s.alerts
        for state in self._s.timing.streams():
            bound = races.get(state.id, [])
            last = state.last_read_at
            active = alerts.is_active("stream_silent", state.id)
            silent = False
            # it got reads during this race (since its display session was made), then none for a while
            quiet = last is not None and now - last > self.silent_after
            if bound and state.live and quiet and any(last >= s.created_at for s in bound):  # type: ignore[operator]
                recent = state.connections > 0 or now - (state.last_seen_at or 0) < self.recently_connected
                silent = recent or active  # once raised, it stays until reads come (or the race ends)
            if silent:
                assert last is not None
                names = ", ".join(repr(s.name) for s in bound)
                alerts.hold(
                    "stream_silent",
                    state.id,
                    True,
                    f"no reads from timing stream {stream_label(state)} for {_ago(now - last)} while "
                    f"{names} {'is' if len(bound) == 1 else 'are'} on"
                    + ("" if state.connections else "; it is not connected"),
                    severity="critical",
                    stream_id=state.id,
                )
            elif active:
                alerts.clear("stream_silent", state.id)

    def _clock_warning(self, state: StreamState) -> None:
        self._clock_warned[state.id] = state.last_read_at or time.time()
        self._s.alerts.raise_alert(
            "clock_off",
            state.id,
            f"timing stream {stream_label(state)}: {state.last_clock_warning}",
            stream_id=state.id,
        )

    def _check_clocks(self) -> None:
        for stream_id, warned in list(self._clock_warned.items()):
            state = self._s.timing.stream(stream_id)
            if state is None or (state.last_read_at or 0) - warned > self.clock_ok_after:
                del self._clock_warned[stream_id]
                self._s.alerts.clear("clock_off", stream_id)

    # --- disk -------------------------------------------------------------------------
    async def _watch_disk(self) -> None:
        loop = asyncio.get_running_loop()
        path = self._s.settings.data_dir
        while True:
            checked = loop.time()
            try:
                usage = await loop.run_in_executor(None, shutil.disk_usage, path)
            except OSError as exc:
                log.warning("cannot check the free space of %s: %s", path, exc)
            else:
                self.check_disk(usage.free, usage.total)
            # a second at a time, so a changed ``disk_every`` counts from the last check
            while loop.time() - checked < self.disk_every:
                await asyncio.sleep(min(1.0, self.disk_every))

    def check_disk(self, free: int, total: int) -> None:
        low = free < self.low_disk_bytes or free < total * self.low_disk_fraction
        self._s.alerts.hold(
            "low_disk",
            "data_dir",
            low,
            f"only {free / 2**30:.1f} GiB ({100 * free / max(total, 1):.0f} %) free on the disk that "
            f"holds {self._s.settings.data_dir}: free some space (or move the data folder) before "
            "the store cannot write any more",
            severity="critical" if free < CRITICAL_DISK_BYTES else "warning",
        )
