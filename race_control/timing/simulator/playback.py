"""Replay recorded timing data into a CTP01 server, as ChronoTrack SimpleClient would send it.

``race-control simulate`` (``simulator_cli``) is how the demo (and anyone without
a ChronoTrack box) feeds our server: it connects like SimpleClient, answers the
server's commands through the sans-IO ``Ctp01Client`` and plays reads in time
order at N-times speed.  What is played, and how sources are merged, is
``simulator_sources``.

Pacing follows the data's time gaps divided by ``speed`` (0 = as fast as
possible); a gap longer than ``max_gap`` wall seconds is shortened, so a folder
holding two sessions days apart does not stall the demo.  All observations go
into one ``ObservationLog`` that survives reconnects: when the server drops us we
reconnect with backoff and it resumes with ``start~<loc>~<seq>``, exactly as
with the real client.  The run ends when playback is over, the current
connection has delivered everything, and the server answered a final ``ping``
(proof it read the lines; if it does not answer within ``linger`` s we stop
anyway).  Nothing here knows about our own server: it is a plain CTP01 peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from race_control.timing.protocols.chronotrack_time import TIME_FORMATS, render_time
from race_control.timing.protocols.controller_files import FileRowError
from race_control.timing.protocols.ctp01_client import Ctp01Client
from race_control.timing.protocols.ctp01_feed import ClientState
from race_control.timing.protocols.ctp01_observations import ObservationLog
from race_control.timing.protocols.events import AuthenticationFailed, LinkDead, PingAnswered
from race_control.timing.simulator.sources import (
    DEFAULT_TZ,
    PlayItem,
    SimSource,
    SimulationError,
    load_play_items,
)

__all__ = ["SimulationResult", "simulate"]


@dataclass(slots=True)
class SimulationResult:
    sent: int = 0  # data lines written, resends included
    delivered: int = 0  # distinct observations delivered at least once
    reads: int = 0  # tag observations played
    guns: int = 0
    total: int = 0  # items to play
    locations: tuple[str, ...] = ()
    connections: int = 0
    undelivered: int = 0
    bad_rows: list[FileRowError] = field(default_factory=list)
    elapsed: float = 0.0
    stopped: bool = False


class _Runner:
    def __init__(
        self, host: str, port: int, items: list[PlayItem], opts: dict, result: SimulationResult
    ) -> None:
        self.host, self.port, self.items, self.o, self.result = host, port, items, opts, result
        self.log = ObservationLog()
        self.client: Ctp01Client | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.played = 0
        self.playback_done = not items
        self.current: dt.datetime | None = items[0].when if items else None
        self.wake = asyncio.Event()
        self.stop_event: asyncio.Event = opts["stop_event"] or asyncio.Event()
        self.best: dict[str, int] = {}
        self.sent_before = 0

    # --- playback -----------------------------------------------------------------------------

    async def playback(self) -> None:
        loop = asyncio.get_running_loop()
        speed, max_gap = self.o["speed"], self.o["max_gap"]
        fast_until: dt.time | None = self.o["fast_until"]
        start = loop.time()
        elapsed = 0.0
        prev = self.items[0].when if self.items else None
        for i, item in enumerate(self.items):
            if fast_until is not None and item.when.time() < fast_until:
                prev = item.when  # rehearsal fast-forward: everything before this time goes at once
            elif speed > 0 and prev is not None:
                gap = max((item.when - prev).total_seconds(), 0.0) / speed
                elapsed += gap if max_gap is None else min(gap, max_gap)
            prev = item.when
            delay = start + elapsed - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), delay)
            elif i % 256 == 0:
                await asyncio.sleep(0)  # let the connection read commands between bursts
            if self.stop_event.is_set():
                break
            self._play(item)
            if self.writer is not None and self.writer.transport.get_write_buffer_size() > 1 << 18:
                with contextlib.suppress(OSError):
                    await self.writer.drain()
        self.playback_done = True
        self.wake.set()

    def _play(self, item: PlayItem) -> None:
        self.current = item.when
        fmt = self.o["time_format"]
        t: str | dt.datetime = render_time(item.when, fmt) if fmt else item.when
        target = (
            self.client if self.client is not None and self.client.state is not ClientState.CLOSED else None
        )
        if target is None:
            self.log.add(item.location, item.tag, t, item.lap, item.reader_id, item.gator)
        elif item.is_gun:
            target.add_gun_time(item.location, t, item.reader_id)
        else:
            target.add_observation(item.location, item.tag, t, item.lap, item.reader_id, item.gator)
        self.played += 1
        if item.is_gun:
            self.result.guns += 1
        else:
            self.result.reads += 1
        self._flush()
        self._progress()
        self.wake.set()

    # --- connection ---------------------------------------------------------------------------

    def _flush(self) -> None:
        if self.client is None or self.writer is None:
            return
        data = self.client.data_to_send()
        self._account()
        if data and not self.writer.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                self.writer.write(data)

    def _account(self) -> None:
        c = self.client
        if c is None:
            return
        self.result.sent = self.sent_before + c.data_lines_sent
        for loc in self.log.locations:
            self.best[loc] = max(self.best.get(loc, 0), min(c.sent_through(loc), self.log.last_seq(loc)))
        self.result.delivered = sum(self.best.values())

    def _progress(self) -> None:
        if self.o["on_progress"] is not None:
            self.o["on_progress"](self.result)

    async def connections(self) -> None:
        failures = 0
        ever = False
        while True:
            if self.stop_event.is_set():
                self.result.stopped = True
                return
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.o["connect_timeout"]
                )
            except (OSError, TimeoutError) as exc:
                failures += 1
                if not ever or failures > self.o["max_retries"]:
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "timed out"
                    raise SimulationError(f"cannot connect to {self.host}:{self.port}: {reason}") from exc
                await self._backoff(failures)
                continue
            ever = True
            self.result.connections += 1
            try:
                finished, ready = await self._session(reader, writer)
            finally:
                await self._close(writer)
            if finished:
                return
            failures = 0 if ready else failures + 1
            if failures > self.o["max_retries"]:
                raise SimulationError(f"{self.host}:{self.port} keeps dropping the connection")
            await self._backoff(max(failures, 1))

    async def _backoff(self, failures: int) -> None:
        delay = min(self.o["backoff"] * 2 ** (failures - 1), self.o["backoff_max"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), delay)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        self._account()
        if self.client is not None:
            self.sent_before += self.client.data_lines_sent
        self.client = self.writer = None
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[bool, bool]:
        """One connection; returns (run finished, handshake completed)."""
        loop = asyncio.get_running_loop()
        o = self.o
        client = Ctp01Client(
            o["program"],
            o["version"],
            event_name=o["event_name"],
            event_id=o["event_id"],
            description=o["description"],
            connection_id=o["connection_id"],
            user=o["user"],
            password=o["password"],
            log=self.log,
            connected_at=self.current,
        )
        self.client, self.writer = client, writer
        client.initiate()
        self._flush()
        ping_deadline: float | None = None
        drain_deadline: float | None = None
        read_task: asyncio.Task[bytes] = asyncio.ensure_future(reader.read(65536))
        try:
            while True:
                now = loop.time()
                if self.stop_event.is_set():
                    self.result.stopped = True
                    return True, True
                if self.playback_done and ping_deadline is None:
                    drain_deadline = drain_deadline or now + o["drain_timeout"]
                    if client.caught_up() or now >= drain_deadline:
                        if client.state is not ClientState.READY:
                            return True, False  # never got through the handshake: give up
                        client.send_ping(now)  # its ack proves the server has read every line
                        self._flush()
                        ping_deadline = now + o["linger"]
                if ping_deadline is not None and now >= ping_deadline:
                    return True, True
                self.wake.clear()
                wake_task = asyncio.ensure_future(self.wake.wait())
                timeout = min(d for d in (ping_deadline, drain_deadline, now + 1.0) if d is not None) - now
                await asyncio.wait(
                    {read_task, wake_task}, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED
                )
                wake_task.cancel()
                if not read_task.done():
                    continue
                try:
                    data = read_task.result()
                except OSError:
                    data = b""
                if not data:
                    return False, client.state is ClientState.READY
                read_task = asyncio.ensure_future(reader.read(65536))
                for ev in client.receive_data(data, loop.time()):
                    if isinstance(ev, AuthenticationFailed):
                        raise SimulationError(f"server rejected user {ev.user!r}: {ev.reason}")
                    if isinstance(ev, LinkDead):
                        self._flush()
                        return False, False
                    if isinstance(ev, PingAnswered) and ping_deadline is not None:
                        self._flush()
                        return True, True
                self._flush()
        finally:
            read_task.cancel()

    async def run(self) -> None:
        play = asyncio.ensure_future(self.playback())
        try:
            await self.connections()
        finally:
            play.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await play
            self._account()
            self.result.undelivered = len(self.log) - self.result.delivered


async def simulate(
    host: str,
    port: int,
    sources: Sequence[SimSource | Path | str],
    *,
    speed: float = 1.0,
    tz: str = DEFAULT_TZ,
    time_format: str | None = None,
    date: dt.date | None = None,
    max_gap: float | None = 30.0,
    fast_until: dt.time | None = None,
    program: str = "SimpleClient",
    version: str = "1.2.3",
    event_name: str = "Race Control demo",
    event_id: str = "1",
    description: str = "Replayed ChronoTrack data",
    connection_id: str = "race-control-simulator",
    user: str | None = None,
    password: str | None = None,
    connect_timeout: float = 5.0,
    max_retries: int = 20,
    backoff: float = 0.2,
    backoff_max: float = 5.0,
    drain_timeout: float = 10.0,
    linger: float = 2.0,
    stop_event: asyncio.Event | None = None,
    on_progress: Callable[[SimulationResult], None] | None = None,
) -> SimulationResult:
    """Play ``sources`` into the CTP01 server at ``host:port``; see the module doc.

    Raises ``SimulationError`` for a missing/unreadable source, a server that
    cannot be reached on the first try (later drops are retried ``max_retries``
    times with exponential backoff) or rejected credentials.
    """
    if speed < 0:
        raise SimulationError("speed must be >= 0")
    if time_format is not None and time_format not in TIME_FORMATS:
        raise SimulationError(f"unknown time format {time_format!r}")
    started = time.monotonic()
    items, errors = load_play_items(sources, tz=tz, date=date)
    result = SimulationResult(total=len(items), bad_rows=errors)
    result.locations = tuple(dict.fromkeys(it.location for it in items))
    opts = dict(locals())  # every keyword option, by name, for the runner
    runner = _Runner(host, port, items, opts, result)
    try:
        await runner.run()
    finally:
        result.elapsed = time.monotonic() - started
    return result
