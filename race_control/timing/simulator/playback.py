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
with the real client.  Nothing here knows about our own server: it is a plain CTP01 peer.

A read counts as delivered only once the server has confirmed it: by answering a
``ping`` sent after it (a server answers pings in order, having read every line
before them; ``Ctp01Client.send_ping``), or by asking to resume after it.  While
reads flow a ``ping`` goes out every ``confirm_interval`` s; the run ends when
playback is over and a final ``ping``, sent after the last data line, is answered.
A server that stopped reading (backpressure) is waited for as long as it shows it
is alive: bytes from it (its own pings) or our send queue draining.  Only
``stall_timeout`` s without either, or a reset, count as doubt: the connection is
closed and a new one resumes where the server says.  Every connection ends
gracefully (FIN, then our own receive buffer drained until the server's EOF or
``linger`` s): closing a socket with unread data would send a reset, and a reset
makes the server's kernel drop whatever it had not read yet.  What no server
confirmed is reported as ``undelivered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from race_control.self_connect import check_not_self_connected
from race_control.timing.protocols.chronotrack_time import TIME_FORMATS, render_time
from race_control.timing.protocols.controller_files import FileRowError
from race_control.timing.protocols.ctp01_client import Ctp01Client
from race_control.timing.protocols.ctp01_feed import ClientState
from race_control.timing.protocols.ctp01_observations import ObservationLog
from race_control.timing.protocols.events import AuthenticationFailed, LinkDead
from race_control.timing.simulator.sources import (
    DEFAULT_TZ,
    PlayItem,
    SimSource,
    SimulationError,
    load_play_items,
)

__all__ = ["SimulationResult", "simulate"]

try:  # the kernel's send queue of a socket (Linux, macOS); elsewhere only asyncio's buffer is seen
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - Windows
    _OUTQ = None


def _unsent(writer: asyncio.StreamWriter) -> int:
    """Bytes written and not yet taken by the peer: asyncio's buffer plus the kernel's send queue."""
    queued = writer.transport.get_write_buffer_size()
    sock = writer.get_extra_info("socket")
    if _OUTQ is not None and sock is not None:
        with contextlib.suppress(OSError, ValueError):
            queued += struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0]
    return queued


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
    gave_up: str = ""  # why the run ended with reads unconfirmed ("" = it did not give up)


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
        # location -> highest seq a server confirmed holding (the latest connection's word wins:
        # a restarted server that lost reads asks for them again, and they count as undelivered)
        self.confirmed: dict[str, int] = {}
        self.sent_before = 0
        self.written = 0  # bytes written on the current connection

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
            await self._drain()
        self.playback_done = True
        self.wake.set()

    async def _drain(self) -> None:
        """Wait while the server does not take our lines (it may have paused reading); the log
        keeps the reads meanwhile.  Gives up on a writer the session has dropped."""
        w = self.writer
        while (
            w is not None
            and w is self.writer
            and not w.is_closing()
            and not self.stop_event.is_set()
            and w.transport.get_write_buffer_size() > 1 << 18
        ):
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                await asyncio.wait_for(w.drain(), 1.0)

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
                self.written += len(data)

    def _account(self) -> None:
        c = self.client
        if c is None:
            return
        self.result.sent = self.sent_before + c.data_lines_sent
        for loc, seq in c.confirmed.items():
            self.confirmed[loc] = min(seq, self.log.last_seq(loc))
        self.result.delivered = sum(self.confirmed.values())

    def _all_confirmed(self) -> bool:
        return all(self.confirmed.get(loc, 0) >= self.log.last_seq(loc) for loc in self.log.locations)

    @staticmethod
    def _unconfirmed(client: Ctp01Client) -> bool:
        """Something was sent on this connection that no answered ping covers yet."""
        return any(client.confirmed.get(loc, 0) < client.sent_through(loc) for loc in client.log.locations)

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
                check_not_self_connected(writer, self.host, self.port)
            except (OSError, TimeoutError) as exc:
                failures += 1
                if not ever or failures > self.o["max_retries"]:
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "timed out"
                    message = f"cannot connect to {self.host}:{self.port}: {reason}"
                    if not ever:
                        raise SimulationError(message) from exc
                    self.result.gave_up = message  # the reads not confirmed so far are undelivered
                    return
                await self._backoff(failures)
                continue
            ever = True
            self.result.connections += 1
            try:
                finished, ready = await self._session(reader, writer)
            finally:
                await self._close(reader, writer)
            if finished:
                return
            failures = 0 if ready else failures + 1
            if failures > self.o["max_retries"]:
                self.result.gave_up = f"{self.host}:{self.port} keeps dropping the connection"
                return
            await self._backoff(max(failures, 1))

    async def _backoff(self, failures: int) -> None:
        delay = min(self.o["backoff"] * 2 ** (failures - 1), self.o["backoff_max"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), delay)

    async def _close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """End the connection gracefully: FIN after our last byte, then read (and drop) what the
        server still sends until its EOF or ``linger`` s, and only then close.  Closing with unread
        bytes in our receive buffer would send a reset instead, and a reset makes the server's
        kernel drop every line it had not read yet."""
        self._account()
        if self.client is not None:
            self.sent_before += self.client.data_lines_sent
        self.client = self.writer = None
        if not writer.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()  # sent once asyncio's buffer is flushed
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                async with asyncio.timeout(self.o["linger"]):
                    while await reader.read(65536):
                        pass
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
        self.written = 0
        client.initiate()
        self._flush()
        confirm_every, stall_timeout = o["confirm_interval"], o["stall_timeout"]
        next_confirm: float | None = None  # the next periodic ping, once the handshake is done
        pinged_at: float | None = None  # when our ping (one at a time) went out, until it is answered
        # playback done and some location never started: give up once the server, reading us all
        # along, has not asked for it for drain_timeout s (a server that is not reading is waited for)
        drain_deadline: float | None = None
        heard_at = loop.time()  # last sign of life: bytes from the server or our send queue draining
        taken = 0  # bytes the server's side has taken off our send queue
        read_task: asyncio.Task[bytes] = asyncio.ensure_future(reader.read(65536))
        try:
            while True:
                now = loop.time()
                if self.stop_event.is_set():
                    self.result.stopped = True
                    return True, True
                self._account()
                if client.state is ClientState.READY:
                    if self.playback_done and self._all_confirmed():
                        return True, True  # the server has read every line: done
                    next_confirm = next_confirm or now + confirm_every
                    if pinged_at is not None and not client.pings_outstanding:  # answered
                        slow = now - pinged_at > confirm_every  # it had stopped reading for a while
                        if self.playback_done and not client.caught_up() and (drain_deadline is None or slow):
                            drain_deadline = now + o["drain_timeout"]
                        pinged_at = None
                    elif pinged_at is not None and now - pinged_at > confirm_every:
                        drain_deadline = None  # not reading us now: not starting is not its choice
                    if not client.pings_outstanding:
                        ping = False
                        if self.playback_done and client.caught_up():
                            ping = True  # the final ping, after the last data line
                        elif self.playback_done and drain_deadline is not None and now >= drain_deadline:
                            if not self._unconfirmed(client):
                                self.result.gave_up = "the server never asked for some locations"
                                return True, True
                            ping = True
                        elif now >= next_confirm and (self.playback_done or self._unconfirmed(client)):
                            ping = True  # confirm what went out so far (or probe a server that waits)
                        if ping:
                            client.send_ping(now)
                            self._flush()
                            pinged_at, next_confirm = now, now + confirm_every
                unsent = _unsent(writer)
                if self.written - unsent > taken:
                    taken, heard_at = self.written - unsent, now
                waiting = unsent > 0 or client.pings_outstanding or client.state is not ClientState.READY
                if not waiting:
                    heard_at = now
                elif now - heard_at >= stall_timeout:
                    return False, client.state is ClientState.READY  # gone quiet: doubt, reconnect
                self.wake.clear()
                wake_task = asyncio.ensure_future(self.wake.wait())
                deadlines = [now + 1.0, heard_at + stall_timeout]
                deadlines += [d for d in (next_confirm, drain_deadline) if d is not None and d > now]
                await asyncio.wait(
                    {read_task, wake_task},
                    timeout=max(min(deadlines) - now, 0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                wake_task.cancel()
                if not read_task.done():
                    continue
                try:
                    data = read_task.result()
                except OSError:
                    data = b""
                if not data:
                    return False, client.state is ClientState.READY  # EOF or reset: doubt, reconnect
                heard_at = loop.time()
                read_task = asyncio.ensure_future(reader.read(65536))
                for ev in client.receive_data(data, loop.time()):
                    if isinstance(ev, AuthenticationFailed):
                        raise SimulationError(f"server rejected user {ev.user!r}: {ev.reason}")
                    if isinstance(ev, LinkDead):
                        self._flush()
                        return False, False
                self._flush()
        finally:
            read_task.cancel()
            self._account()

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
            if self.result.gave_up:  # what it never got to play is not delivered either
                self.result.undelivered += self.result.total - self.played


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
    confirm_interval: float = 1.0,
    stall_timeout: float = 60.0,
    stop_event: asyncio.Event | None = None,
    on_progress: Callable[[SimulationResult], None] | None = None,
) -> SimulationResult:
    """Play ``sources`` into the CTP01 server at ``host:port``; see the module doc.

    Raises ``SimulationError`` for a missing/unreadable source, a server that
    cannot be reached on the first try or rejected credentials.  Later drops are
    retried ``max_retries`` times with exponential backoff; after that the run ends
    with ``gave_up`` saying why and every read no server confirmed in ``undelivered``.
    ``drain_timeout``: how long to wait at the end for a server that never asks for
    some location; ``linger``: the grace for the server's EOF when closing;
    ``stall_timeout``: how long a connection may show no sign of life (no byte from
    the server, nothing taken off our send queue) while we wait on it.
    """
    if speed < 0:
        raise SimulationError("speed must be >= 0")
    if not stall_timeout > 0 or not confirm_interval > 0:
        raise SimulationError("stall_timeout and confirm_interval must be > 0")
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
