"""The asyncio transport for CTP01: a TCP server that ChronoTrack clients connect to.

Thin by design: bytes go into the sans-IO ``Ctp01Server``; its replies are written
straight back from ``data_received`` (so handshakes and pings are answered within
microseconds); the events it yields are queued to one consumer task per
connection, which attaches the stream and hands reads to the ingest pipeline.
The socket reader never awaits storage or screens.  Every byte in and out goes to
the rotating raw-traffic log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import replace

from race_control.timing.ctp01 import Ctp01Server
from race_control.timing.ctp01_settings import Ctp01Config
from race_control.timing.events import (
    BadLine,
    ConnectionIdentified,
    EventInfo,
    Greeting,
    GunTime,
    LinkDead,
    Locations,
    NewLocation,
    RawLine,
    TagRead,
    TimingEvent,
)
from race_control.timing.service import StreamState, TimingService

log = logging.getLogger("race_control.timing.ctp01")
raw_log = logging.getLogger("race_control.raw.ctp01")
TICK = 1.0
PAUSE_ABOVE = 100_000  # queued reads + raw lines before sockets stop being read
RESUME_BELOW = 20_000


class Ctp01Connection(asyncio.Protocol):
    def __init__(
        self, service: TimingService, config: Ctp01Config, on_done: Callable[[], None] | None = None
    ) -> None:
        self._service = service
        self._on_done = on_done
        now = time.time()
        self._proto = Ctp01Server(config, seed=secrets.token_hex(16), now=now)
        self._queue: asyncio.Queue[tuple[float, list[TimingEvent]] | None] = asyncio.Queue()
        self._transport: asyncio.Transport | None = None
        self._peer = "?"
        self._stream: StreamState | None = None
        self._pending_raw: list[tuple[str, float]] = []
        self.consumer: asyncio.Task[None] | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._paused = False

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # notice a vanished peer even when both sides are idle
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        log.info("CTP01 client connected from %s", self._peer)
        self.consumer = asyncio.get_running_loop().create_task(self._consume(), name=f"ctp01-{self._peer}")
        self._schedule_tick()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        raw_log.debug("%s <- %r", self._peer, data)
        events = self._proto.receive_data(data, now)
        self._flush()
        if events:
            self._queue.put_nowait((now, events))
        if self._service.backlog > PAUSE_ABOVE and self._transport and not self._paused:
            # storage is behind: stop reading this socket (TCP pushes back on the client, which keeps
            # the reads) instead of growing memory; _tick resumes once the backlog drains
            self._paused = True
            self._transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        log.info("CTP01 client %s disconnected%s", self._peer, f": {exc}" if exc else "")
        if self._ticker:
            self._ticker.cancel()
        self._queue.put_nowait(None)

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    # --- helpers --------------------------------------------------------------------------
    def _flush(self) -> None:
        out = self._proto.data_to_send()
        if out and self._transport and not self._transport.is_closing():
            raw_log.debug("%s -> %r", self._peer, out)
            self._transport.write(out)

    def _schedule_tick(self) -> None:
        self._ticker = asyncio.get_running_loop().call_later(TICK, self._tick)

    def _tick(self) -> None:
        now = time.time()
        if self._paused and self._service.backlog < RESUME_BELOW and self._transport:
            self._paused = False
            self._transport.resume_reading()
        events = self._proto.tick(now)
        self._flush()
        if events:
            self._queue.put_nowait((now, events))
        if self._transport and not self._transport.is_closing():
            self._schedule_tick()

    async def _consume(self) -> None:
        try:
            while (item := await self._queue.get()) is not None:
                received_at, events = item
                for event in events:
                    await self._handle(event, received_at)
        except Exception:
            log.exception("CTP01 connection %s failed", self._peer)
            if self._transport:
                self._transport.close()
        finally:
            if self._on_done is not None:
                self._on_done()
            if self._stream is not None:
                if self._stream_changed in self._service.listeners:
                    self._service.listeners.remove(self._stream_changed)
                self._service.detach(self._stream)
            elif self._pending_raw:
                log.warning(
                    "CTP01 client %s left before identifying itself; its %d lines are only in the raw log",
                    self._peer,
                    len(self._pending_raw),
                )

    async def _handle(self, event: TimingEvent, received_at: float) -> None:
        stream = self._stream
        if isinstance(event, RawLine):
            if stream is None:
                self._pending_raw.append((event.line, received_at))
            else:
                self._service.raw_line(stream, event.line, received_at)
        elif isinstance(event, TagRead | GunTime):
            if stream is not None:
                self._service.accept(stream, event, received_at)
        elif isinstance(event, ConnectionIdentified):
            await self._identified(event)
        elif isinstance(event, Locations):
            if stream is not None:
                await self._service.set_locations(stream, list(event.names))
        elif isinstance(event, NewLocation):
            if stream is not None:
                await self._service.set_locations(stream, [event.location])
        elif isinstance(event, BadLine):
            if stream is not None:
                stream.bad_lines += 1
            log.warning("CTP01 %s: bad line %r: %s", self._peer, event.line[:120], event.reason)
        elif isinstance(event, LinkDead):
            log.warning("CTP01 %s: closing link: %s", self._peer, event.reason)
            if self._transport:
                self._transport.close()
        elif isinstance(event, Greeting | EventInfo):
            log.info("CTP01 %s: %s", self._peer, event)

    def _stream_changed(self, stream: StreamState) -> None:
        """The operator changed this stream's time zone or date: read the next times that way."""
        if stream is self._stream and not self._proto.closed:
            self._proto.set_clock(stream.timezone, dt.date.fromisoformat(stream.reference_date))

    async def _identified(self, event: ConnectionIdentified) -> None:
        greeting = self._proto.greeting
        info = self._proto.event_info
        client = f"{greeting.program} {greeting.version}" if greeting else ""
        self._stream = stream = await self._service.attach(
            "ctp01",
            event.connection_id,
            client=client,
            event_name=info.name if info else "",
            source_event_id=info.event_id if info else "",
            remote_addr=self._peer,
        )
        self._proto.set_clock(stream.timezone, dt.date.fromisoformat(stream.reference_date))
        self._service.listeners.append(self._stream_changed)
        for line, at in self._pending_raw:
            self._service.raw_line(stream, line, at)
        self._pending_raw.clear()
        if self._proto.locations:
            await self._service.set_locations(stream, list(self._proto.locations))
        self._proto.begin_streaming(stream.cursors())
        self._flush()


class Ctp01Listener:
    """Owns the listening socket; one ``Ctp01Connection`` per client."""

    def __init__(self, service: TimingService, config: Ctp01Config) -> None:
        config.validate()
        self._service = service
        self._config = config
        self._server: asyncio.base_events.Server | None = None
        self.connections: set[Ctp01Connection] = set()

    def _make(self) -> Ctp01Connection:
        conn = Ctp01Connection(self._service, replace(self._config), lambda: self.connections.discard(conn))
        self.connections.add(conn)
        return conn

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make, host, port, reuse_address=True)
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in self.connections:  # Server.close_clients() needs Python 3.13
                conn.close()
            await self._server.wait_closed()
            self._server = None
        # let each connection hand its last reads to the pipeline before it is flushed
        tasks = [c.consumer for c in list(self.connections) if c.consumer is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        self.connections.clear()
