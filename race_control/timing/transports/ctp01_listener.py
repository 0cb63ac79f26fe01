"""The asyncio transport for CTP01: a TCP server that ChronoTrack clients connect to.

Thin by design: bytes go into the sans-IO ``Ctp01Server`` through the shared
``StreamLink`` transport (replies written straight back from ``data_received``,
events queued to one consumer task per connection, which attaches the stream and
hands reads to the ingest pipeline; backpressure; the rotating raw-traffic log).
Only what is CTP01's own is here: the greeting, event info and locations.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace

from race_control.timing.ingest.streams import StreamState, TimingService
from race_control.timing.protocols.ctp01_server import Ctp01Server
from race_control.timing.protocols.ctp01_settings import Ctp01Config
from race_control.timing.protocols.events import (
    ConnectionIdentified,
    EventInfo,
    Greeting,
    Locations,
    NewLocation,
    TimingEvent,
)
from race_control.timing.transports.stream_connection import StreamLink

log = logging.getLogger("race_control.timing.protocols.ctp01_server")
raw_log = logging.getLogger("race_control.raw.ctp01")


class Ctp01Connection(StreamLink[Ctp01Server]):
    """One ChronoTrack client: the shared transport, plus CTP01's greeting, event and locations."""

    log = log
    raw_log = raw_log
    what = "CTP01 client"
    label = "CTP01"
    failed = "CTP01 connection %s failed"
    task_prefix = "ctp01"

    def __init__(
        self, service: TimingService, config: Ctp01Config, on_done: Callable[[], None] | None = None
    ) -> None:
        proto = Ctp01Server(config, seed=secrets.token_hex(16), now=time.time())
        super().__init__(service, proto, on_done=on_done)

    def _connected(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        log.info("CTP01 client connected from %s", self._peer)

    async def _handle_other(self, event: TimingEvent) -> None:
        stream = self.stream
        if isinstance(event, Locations):
            if stream is not None:
                await self._service.set_locations(stream, list(event.names))
        elif isinstance(event, NewLocation):
            if stream is not None:
                await self._service.set_locations(stream, [event.location])
        elif isinstance(event, Greeting | EventInfo):
            log.info("CTP01 %s: %s", self._peer, event)

    def _apply_clock(self, stream: StreamState) -> None:
        self.proto.set_clock(stream.timezone, dt.date.fromisoformat(stream.reference_date))

    async def _attach(self, event: ConnectionIdentified) -> StreamState:
        greeting = self.proto.greeting
        info = self.proto.event_info
        return await self._service.attach(
            "ctp01",
            event.connection_id,
            client=f"{greeting.program} {greeting.version}" if greeting else "",
            event_name=info.name if info else "",
            source_event_id=info.event_id if info else "",
            remote_addr=self._peer,
        )

    def _locations(self) -> list[str]:
        return list(self.proto.locations)


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
