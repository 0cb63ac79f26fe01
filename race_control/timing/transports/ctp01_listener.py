"""The asyncio transport for CTP01: a TCP server that ChronoTrack clients connect to.

Thin by design: bytes go into the sans-IO ``Ctp01Server`` through the shared
``StreamLink`` transport (replies written straight back from ``data_received``,
events queued to one consumer task per connection, which attaches the stream and
hands reads to the ingest pipeline; backpressure; the rotating raw-traffic log).
Only what is CTP01's own is here: the greeting, event info and locations, and who may
connect at all: with an allow-list (``timing_allow``) a client from outside it is closed
as soon as it is accepted (logged with its address, counted, a ``timing_refused`` alert);
an accepted client names its stream by its connection id, and the stream is attached with
the client's address so a stream connected from one address is not joined from another
(``TimingService.plan_attach``; docs/protocols/ctp01.md#connection-id).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from race_control.alerts import AlertBoard
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
from race_control.timing.transports.caps import CapReporter
from race_control.timing.transports.stream_connection import (
    MAX_UNIDENTIFIED_BYTES,
    MAX_UNIDENTIFIED_LINES,
    MAX_WRITE_BUFFER,
    StreamLink,
)

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
        self.refuse: Callable[[str], bool] | None = None  # host -> closed at once (the allow-list)
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        if self.refuse is not None and self.refuse(f"{peer[0]}:{peer[1]}" if peer else ""):
            self.refused = True
            assert isinstance(transport, asyncio.Transport)
            transport.abort()  # not a byte read from it, nothing started for it
            if self._on_done is not None:
                self._on_done()
            return
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.refused:
            super().connection_lost(exc)

    def _connected(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.peer_host = str(peer[0]) if peer else ""
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
            peer_host=self.peer_host,
        )

    def _locations(self) -> list[str]:
        return list(self.proto.locations)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Ctp01Listener:
    """Owns the listening socket; one ``Ctp01Connection`` per client.

    ``allow``: the networks clients may connect from (empty: any); ``refused`` counts the
    connections closed for coming from elsewhere.  At most ``max_connections`` clients are
    connected at once: one more is closed as soon as it is accepted (``cap_reached``), and each
    connection's caps (lines before it identifies, unsent bytes) come from ``limits``."""

    def __init__(
        self,
        service: TimingService,
        config: Ctp01Config,
        *,
        allow: Sequence[Network] = (),
        alerts: AlertBoard | None = None,
        max_connections: int = 64,
        max_unidentified_lines: int = MAX_UNIDENTIFIED_LINES,
        max_unidentified_bytes: int = MAX_UNIDENTIFIED_BYTES,
        max_write_buffer: int = MAX_WRITE_BUFFER,
    ) -> None:
        config.validate()
        self._service = service
        self._config = config
        self._allow = tuple(allow)
        self._alerts = alerts if alerts is not None else AlertBoard()
        self._server: asyncio.base_events.Server | None = None
        self.connections: set[Ctp01Connection] = set()
        self.refused = 0
        self.max_connections = max_connections
        self._limits = (max_unidentified_lines, max_unidentified_bytes, max_write_buffer)
        self.caps = CapReporter(alerts, log)

    def _make(self) -> Ctp01Connection:
        conn = Ctp01Connection(self._service, replace(self._config), lambda: self.connections.discard(conn))
        conn.refuse = self._refuse_at_accept
        conn.caps = self.caps
        conn.max_unidentified_lines, conn.max_unidentified_bytes, conn.max_write_buffer = self._limits
        self.connections.add(conn)
        return conn

    def _refuse_at_accept(self, peer: str) -> bool:
        """True if the client at ``peer`` ("host:port") is closed at once: outside the allow-list,
        or one more than ``max_connections`` (this one is already in ``connections``)."""
        host = peer.rsplit(":", 1)[0] if peer.count(":") else peer
        if self._allow and self._refuse(host):
            return True
        if len(self.connections) > self.max_connections:
            self.caps.hit(
                "max_timing_connections",
                self.max_connections,
                peer,
                f"a timing client at {peer} was closed at connect: {self.max_connections} timing "
                "connections are already open",
            )
            return True
        return False

    def _refuse(self, host: str) -> bool:
        """True (and logged, counted, alerted) if ``host`` is outside the allow-list."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            address = None
        if address is not None and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # ::ffff:192.168.1.5 on a dual-stack socket
        if address is not None and any(address in net for net in self._allow):
            return False
        self.refused += 1
        allowed = ", ".join(str(n) for n in self._allow)
        log.warning("CTP01 connection from %s refused: not in the timing allow-list (%s)", host, allowed)
        self._alerts.raise_alert(
            "timing_refused",
            host,
            f"a timing client at {host} tried to connect and was refused: it is not in the timing "
            f"allow-list ({allowed}). If it is one of your controllers, add its network in Settings "
            "(or --timing-allow)",
            severity="warning",
            refused=self.refused,
        )
        return True

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
