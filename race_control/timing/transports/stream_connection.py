"""The asyncio side shared by the live timing transports (CTP01 server, RACE RESULT client).

One ``StreamLink`` per TCP connection: bytes go into a sans-IO machine
(``LineLink``); its replies are written straight back from ``data_received`` (so
handshakes and pings are answered within microseconds); the events it yields are
queued to one consumer task, which attaches the stream (on
``ConnectionIdentified``), hands every raw line and read to ``TimingService``,
applies the stream's clock (and follows the operator's changes to it), then lets
the machine resume from the stream's stored cursors.  The socket reader never
awaits storage or screens; above a pipeline backlog it stops reading the socket
(TCP pushes back on the peer, which keeps the reads) until the backlog drains.
Traffic goes to the protocol's rotating raw-traffic log: what we send as written, what we
receive one framed line at a time, in the form the machine stores it (``RawLine``: credentials
redacted whatever their case or however TCP split them; an over-long line is only named in the
main log).

Nothing that was read is dropped.  A line answered in ``data_received`` (a ``ping``'s
``ack~ping`` proves to the peer that every earlier line was read) is already queued;
when the connection resets, the consumer still works through the queue (a cut-off last
line is kept in the raw log, not parsed: ``end_of_input``); a storage failure while
attaching the stream or saving its locations is retried, with reading paused, instead of
ending the link and its queue.  While reading is paused the machine is told
(``reading_paused``), so its dead-link timer never closes a link for the silence we
imposed on it.

A subclass names its protocol (loggers, log wording, task name) and says how it
attaches its stream, which clock and locations it starts with, and what it does
with the events only it knows.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import ClassVar, Generic, Protocol, TypeVar

from race_control.errors import RaceControlError
from race_control.timing.ingest import backpressure
from race_control.timing.ingest.streams import StreamState, TimingService
from race_control.timing.protocols.events import (
    BadLine,
    ConnectionIdentified,
    GunTime,
    LinkDead,
    RawLine,
    TagRead,
    TimingEvent,
)
from race_control.timing.transports.caps import CapReporter

TICK = 1.0
# sockets stop being read above the pipeline backlog that also stops a file import (one limit)
PAUSE_ABOVE, RESUME_BELOW = backpressure.PAUSE_ABOVE, backpressure.RESUME_BELOW
FIRST_RETRY, MAX_RETRY = 0.05, 5.0  # seconds between attempts when the store fails (doubling)
# caps against a peer that floods or never reads (Settings.max_unidentified_*, max_client_write_buffer)
MAX_UNIDENTIFIED_LINES = 10_000  # lines before the peer names its stream (kept in memory until then)
MAX_UNIDENTIFIED_BYTES = 4 * 1024 * 1024
MAX_WRITE_BUFFER = 1024 * 1024  # our unsent bytes to a peer that does not read them
SEND_BUFFER = 64 * 1024  # kernel send buffer: a peer that stops reading shows up in our own buffer


_READ_EVENTS = (RawLine, TagRead, GunTime)  # handled without awaiting anything


class Machine(Protocol):
    """What a transport needs of a sans-IO protocol machine."""

    @property
    def closed(self) -> bool: ...

    def receive_data(self, data: bytes, now: float) -> list[TimingEvent]: ...

    def tick(self, now: float) -> list[TimingEvent]: ...

    def data_to_send(self) -> bytes: ...

    def begin_streaming(self, cursors: Mapping[str, int]) -> None: ...

    def reading_paused(self, now: float) -> None: ...

    def reading_resumed(self, now: float) -> None: ...

    def end_of_input(self) -> list[TimingEvent]: ...


M = TypeVar("M", bound=Machine)


READ_SIZE = 2 * 1024  # bytes handed to data_received at most at a time (get_buffer)


class StreamLink(asyncio.BufferedProtocol, Generic[M]):
    """One connection: feeds the machine, queues its events, hands them to ``TimingService``."""

    log: ClassVar[logging.Logger]
    raw_log: ClassVar[logging.Logger]
    what: ClassVar[str]  # "CTP01 client": connected, disconnected, left before identifying
    label: ClassVar[str]  # "CTP01": bad lines, closing the link
    failed: ClassVar[str]  # the message (with the peer's %s) when the consumer fails
    task_prefix: ClassVar[str]

    def __init__(
        self, service: TimingService, proto: M, peer: str = "?", on_done: Callable[[], None] | None = None
    ) -> None:
        self._service = service
        self.proto = proto
        self._peer = peer
        # the peer's address when it names its own stream (CTP01 connection id): a stream
        # connected from one address is not joined from another (TimingService.plan_attach)
        self.peer_host = ""
        self._on_done = on_done
        self._queue: asyncio.Queue[tuple[float, list[TimingEvent]] | None] = asyncio.Queue()
        self._consuming = False  # the consumer task has queued events to work through
        self._transport: asyncio.Transport | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._pending_raw: list[tuple[str, float]] = []
        self._read_buffer = memoryview(bytearray(READ_SIZE))
        self._paused = False
        self._paused_at = 0.0
        self._queued = 0  # events waiting in the queue (the consumer's backlog)
        self._retrying = False  # the consumer is waiting for the store to work again
        self.stream: StreamState | None = None
        self.consumer: asyncio.Task[None] | None = None
        self.reads = 0
        # caps (the listener sets them from Settings); hits are reported to ``caps``
        self.caps: CapReporter | None = None
        self.max_unidentified_lines = MAX_UNIDENTIFIED_LINES
        self.max_unidentified_bytes = MAX_UNIDENTIFIED_BYTES
        self.max_write_buffer = MAX_WRITE_BUFFER
        self._identified_seen = False  # the machine has yielded ConnectionIdentified
        self._unidentified_lines = 0
        self._unidentified_bytes = 0
        self.capped = ""  # the cap this link was closed for ("" = none)

    # --- what a protocol says -------------------------------------------------------------
    def _connected(self, transport: asyncio.Transport) -> None:
        """The socket is up (before the consumer starts)."""

    async def _attach(self, event: ConnectionIdentified) -> StreamState:
        raise NotImplementedError

    def _apply_clock(self, stream: StreamState) -> None:
        """Read the next times in the stream's time zone and date."""
        raise NotImplementedError

    def _locations(self) -> list[str]:
        """Locations the machine knows of when the stream is attached."""
        return []

    async def _handle_other(self, event: TimingEvent) -> None:
        """An event only this protocol knows."""

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # notice a vanished peer even when both sides are idle
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            # our replies are small: a small kernel buffer makes a peer that stops reading show up
            # in the transport's buffer (max_write_buffer) instead of hiding megabytes in the kernel
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self._connected(transport)
        self.consumer = asyncio.get_running_loop().create_task(
            self._consume(), name=f"{self.task_prefix}-{self._peer}"
        )
        self._flush()  # whatever the machine queued on construction (a client's handshake)
        self._schedule_tick()

    # asyncio reads up to 256 KiB a callback into a plain Protocol: ~5,000 reads parsed and
    # accepted in one go, ~200 ms of a loop that four full-speed connections kept busy for over
    # a second between two answers to anything else.  A buffered protocol chooses its buffer:
    # at most READ_SIZE (~40 reads, well under a ms) a callback, the loop's other work between.
    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._read_buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        events = self.proto.receive_data(data, now)
        self._log_inbound(events)
        self._flush()
        if not self._identified_seen:
            self._count_unidentified(len(data), events)
        if events:
            if (
                self.stream is not None
                and not self._consuming
                and all(type(e) in _READ_EVENTS for e in events)
            ):
                # the common case, reads on an identified stream with nothing queued before them:
                # hand them over now (nothing to await), saving a task switch per packet
                for event in events:
                    self._handle_read(event, now)
            else:
                self._enqueue(now, events)
        if not self._paused and self._behind():
            # storage is behind: stop reading this socket (TCP pushes back on the peer, which keeps
            # the reads) instead of growing memory; _tick resumes once the backlog drains
            self._pause(now)

    def connection_lost(self, exc: Exception | None) -> None:
        self.log.info("%s %s disconnected%s", self.what, self._peer, f": {exc}" if exc else "")
        if self._ticker:
            self._ticker.cancel()
        if events := self.proto.end_of_input():
            self._log_inbound(events)
            self._enqueue(time.time(), events)
        self._queue.put_nowait(None)  # after everything read: the consumer hands all of it over

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    # --- caps -----------------------------------------------------------------------------
    def _count_unidentified(self, size: int, events: list[TimingEvent]) -> None:
        """Until the peer names its stream its lines wait in memory: bounded by lines and bytes."""
        if any(isinstance(e, ConnectionIdentified) for e in events):
            self._identified_seen = True
            return
        self._unidentified_bytes += size
        self._unidentified_lines += sum(1 for e in events if isinstance(e, RawLine))
        if self._unidentified_lines > self.max_unidentified_lines:
            cap, value = "max_unidentified_lines", self.max_unidentified_lines
        elif self._unidentified_bytes > self.max_unidentified_bytes:
            cap, value = "max_unidentified_bytes", self.max_unidentified_bytes
        else:
            return
        self._close_for_cap(
            cap,
            value,
            f"{self.what} {self._peer} sent {self._unidentified_lines} lines "
            f"({self._unidentified_bytes} bytes) without identifying its stream; closed",
        )

    def _close_for_cap(self, cap: str, value: int, message: str) -> None:
        if self.capped or self._transport is None:
            return
        self.capped = cap
        self._transport.abort()  # unsent bytes are dropped: the peer is not reading them anyway
        if self.caps is not None:
            self.caps.hit(cap, value, self._peer, message)
        else:
            self.log.warning("%s (%s = %s)", message, cap, value)

    # --- helpers --------------------------------------------------------------------------
    def _log_inbound(self, events: list[TimingEvent]) -> None:
        """Each line read, as the machine stores it (never the packet: a packet may hold part of
        a password line, which only the framed line can redact).  Bytes with a line break, so
        the log reads back as the stream that was received."""
        if self.raw_log.isEnabledFor(logging.DEBUG):
            for event in events:
                if type(event) is RawLine:
                    self.raw_log.debug(
                        "%s <- %r", self._peer, event.line.encode("latin-1", "replace") + b"\r\n"
                    )

    def _enqueue(self, now: float, events: list[TimingEvent]) -> None:
        self._consuming = True
        self._queued += len(events)
        self._queue.put_nowait((now, events))

    def _behind(self) -> bool:
        """Storage fails or is too far behind, or this link's own consumer is (backpressure)."""
        return backpressure.must_pause(self._service, self._queued) or self._retrying

    def _pause(self, now: float) -> None:
        if self._paused or self._transport is None or self._transport.is_closing():
            return
        self._paused, self._paused_at = True, now
        self._transport.pause_reading()
        self.proto.reading_paused(now)  # its dead-link clock stops: the silence is ours
        self.log.info(
            "%s %s: reading paused, %d lines waiting to be stored",
            self.label,
            self._peer,
            self._service.backlog + self._queued,
        )

    def _resume(self, now: float) -> None:
        self._paused = False
        self.proto.reading_resumed(now)
        if self._transport is not None:
            self._transport.resume_reading()
        self.log.info("%s %s: reading resumed after %.1f s", self.label, self._peer, now - self._paused_at)

    def _flush(self) -> None:
        out = self.proto.data_to_send()
        if out and self._transport and not self._transport.is_closing():
            self.raw_log.debug("%s -> %r", self._peer, out)
            self._transport.write(out)
            try:
                size = self._transport.get_write_buffer_size()
            except NotImplementedError:  # a transport that does not buffer (a test's fake)
                return
            if size > self.max_write_buffer:
                self._close_for_cap(
                    "max_client_write_buffer",
                    self.max_write_buffer,
                    f"{self.what} {self._peer} does not read what we send ({size} bytes unsent); closed",
                )

    def _schedule_tick(self) -> None:
        self._ticker = asyncio.get_running_loop().call_later(TICK, self._tick)

    def _tick(self) -> None:
        now = time.time()
        if self._paused and backpressure.may_resume(self._service, self._queued) and not self._retrying:
            self._resume(now)
        elif not self._paused and self._behind():
            self._pause(now)  # the store started failing while this link was quiet
        events = self.proto.tick(now)
        self._flush()
        if events:
            self._enqueue(now, events)
        if self._transport and not self._transport.is_closing():
            self._schedule_tick()

    async def _consume(self) -> None:
        try:
            while (item := await self._queue.get()) is not None:
                received_at, events = item
                for event in events:
                    await self._handle_retrying(event, received_at)
                    self._queued -= 1
                if self._queue.empty():
                    self._consuming = False  # later reads may take the direct path again
        except Exception:
            self.log.exception(self.failed, self._peer)
            self.close()
        finally:
            if self._on_done is not None:
                self._on_done()
            if self.stream is not None:
                if self._stream_changed in self._service.listeners:
                    self._service.listeners.remove(self._stream_changed)
                self._service.detach(self.stream, self.peer_host)
            elif self._pending_raw:
                self.log.warning(
                    "%s %s left before identifying itself; its %d lines are only in the raw log",
                    self.what,
                    self._peer,
                    len(self._pending_raw),
                )

    async def _handle_retrying(self, event: TimingEvent, received_at: float) -> None:
        """``_handle``, retried while the store fails (a retryable error): the event, and every
        line queued behind it, was read from the peer and must not be dropped.  Reading stays
        paused meanwhile, so the queue does not grow."""
        delay = FIRST_RETRY
        while True:
            try:
                await self._handle(event, received_at)
            except RaceControlError as exc:
                if not exc.retryable:
                    raise
                if not self._retrying:
                    self.log.warning(
                        "%s %s: %s; retrying, reading paused meanwhile", self.label, self._peer, exc
                    )
                self._retrying = True
                self._pause(time.time())
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY)
                continue
            if self._retrying:
                self._retrying = False
                self.log.info("%s %s: storage works again", self.label, self._peer)
            return

    def _handle_read(self, event: TimingEvent, received_at: float) -> None:
        """Raw lines and reads: synchronous hand-over to the timing service."""
        stream = self.stream
        if isinstance(event, RawLine):
            if stream is None:
                self._pending_raw.append((event.line, received_at))
            else:
                self._service.raw_line(stream, event.line, received_at)
        elif stream is not None and self._service.accept(stream, event, received_at):  # type: ignore[arg-type]
            self.reads += 1

    async def _handle(self, event: TimingEvent, received_at: float) -> None:
        if type(event) in _READ_EVENTS:
            self._handle_read(event, received_at)
        elif isinstance(event, ConnectionIdentified):
            await self._identified(event)
        elif isinstance(event, BadLine):
            if self.stream is not None:
                self.stream.bad_lines += 1
            self.log.warning("%s %s: bad line %r: %s", self.label, self._peer, event.line[:120], event.reason)
        elif isinstance(event, LinkDead):
            self.log.warning("%s %s: closing link: %s", self.label, self._peer, event.reason)
            self.close()
        else:
            await self._handle_other(event)

    def _stream_changed(self, stream: StreamState) -> None:
        """The operator changed this stream's time zone or date: read the next times that way."""
        if stream is self.stream and not self.proto.closed:
            self._apply_clock(stream)

    async def _identified(self, event: ConnectionIdentified) -> None:
        # may be retried after a storage failure: attach once, then the rest again
        if self.stream is None:
            self.stream = await self._attach(event)
            self._apply_clock(self.stream)
            self._service.listeners.append(self._stream_changed)
            for line, at in self._pending_raw:
                self._service.raw_line(self.stream, line, at)
            self._pending_raw.clear()
        stream = self.stream
        if locations := self._locations():
            await self._service.set_locations(stream, locations)
        self.proto.begin_streaming(stream.cursors())
        self._flush()
