"""The asyncio transport for RACE RESULT decoders: we connect out to ``host:3601``.

Thin by design, like ``ctp01_listener``: bytes go into the sans-IO
``RaceResultClient`` through the shared ``StreamLink`` transport (its commands
written straight back from ``data_received``; its events queued to one consumer
task per connection, which attaches the stream on ``ConnectionIdentified``, hands
every raw line and read to ``TimingService`` and then lets the machine resume from
the stream's stored cursors; backpressure).  The socket reader never awaits
storage or screens.

``RaceResultConnector`` owns the reconnect loop: a decoder that is off, rebooting
or out of Wi-Fi range is retried forever with exponential backoff (reset after a
connection that got as far as identifying the decoder) until ``stop()``.  Every
byte in and out goes to the rotating raw-traffic log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any

from race_control.self_connect import check_not_self_connected
from race_control.timing.ingest.streams import StreamState, TimingService
from race_control.timing.protocols.events import ConnectionIdentified
from race_control.timing.protocols.raceresult_client import DEFAULT_PORT, RaceResultClient, RaceResultConfig
from race_control.timing.transports.stream_connection import StreamLink

__all__ = ["RaceResultConnector", "parse_decoder_address"]

log = logging.getLogger("race_control.timing.protocols.raceresult_client")
raw_log = logging.getLogger("race_control.raw.raceresult")


def parse_decoder_address(text: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` → (host, port); ValueError names the problem."""
    s = text.strip()
    host, port = s, DEFAULT_PORT
    if s.startswith("["):
        end = s.find("]")
        if end == -1 or (s[end + 1 :] and not s[end + 1 :].startswith(":")):
            raise ValueError(f"bad decoder address {text!r} (expected [v6-address]:port)")
        host, rest = s[1:end], s[end + 2 :]
        port_text = rest or str(DEFAULT_PORT)
    elif s.count(":") == 1:
        host, port_text = s.split(":")
    else:
        port_text = str(DEFAULT_PORT)  # a bare IPv6 address has many colons and no port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"bad port in decoder address {text!r}")
    port = int(port_text)
    if not host:
        raise ValueError(f"decoder address {text!r} has no host")
    return host, port


class _DecoderConnection(StreamLink[RaceResultClient]):
    """One TCP connection to the decoder: the shared transport, plus the decoder's identity."""

    log = log
    raw_log = raw_log
    what = "RACE RESULT decoder"
    label = "RACE RESULT"
    failed = "RACE RESULT decoder %s: connection failed"
    task_prefix = "rr"

    def _apply_clock(self, stream: StreamState) -> None:
        # the stream's zone and day are the per-source settings (editable later): read on that axis
        day = dt.date.fromisoformat(stream.reference_date) if stream.reference_date else None
        self.proto.set_clock(stream.timezone, day or self.proto.reference_date)

    async def _attach(self, event: ConnectionIdentified) -> StreamState:
        status = self.proto.status()
        cfg = self.proto.config
        stream = await self._service.attach(
            "raceresult",
            event.connection_id,
            client=f"RACE RESULT {status['box_name'] or 'decoder'}".strip(),
            remote_addr=self._peer,
            timezone=cfg.timezone,
            reference_date=cfg.reference_date.isoformat() if cfg.reference_date else None,
        )
        if status["operation_mode"] is False:
            log.warning(
                "RACE RESULT %s is in test mode: it stores no passings until STARTOPERATION", self._peer
            )
        return stream

    def _locations(self) -> list[str]:
        return [self.proto.location] if self.proto.location else []


class RaceResultConnector:
    """Keeps one decoder connected until ``stop()``; reads go to ``TimingService``."""

    def __init__(
        self,
        service: TimingService,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        location: str | None = None,
        timezone: str = "UTC",
        reference_date: dt.date | None = None,
        set_time: bool = False,
        start_operation: bool = False,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._service = service
        self.host, self.port = host, port
        self._config = RaceResultConfig(
            location=location,
            timezone=timezone,
            reference_date=reference_date,
            set_time=set_time,
            start_operation=start_operation,
        )
        self._config.validate()
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._connect_timeout = connect_timeout
        self._task: asyncio.Task[None] | None = None
        self._conn: _DecoderConnection | None = None
        self._last: dict[str, object] = {}
        self.connects = 0
        self.last_error = ""
        self.reads = 0

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"rr-{self.address}")

    async def stop(self) -> None:
        """Close the link, let its last reads reach the pipeline, end the reconnect loop."""
        task, self._task = self._task, None
        conn = self._conn
        if conn is not None:
            conn.close()
            if conn.consumer is not None:
                await asyncio.wait([conn.consumer], timeout=10)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def status(self) -> dict[str, Any]:
        conn = self._conn
        proto = conn.proto.status() if conn is not None else self._last
        return {
            "address": self.address,
            "connected": conn is not None,
            "connects": self.connects,
            "last_error": self.last_error,
            "reads": self.reads + (conn.reads if conn is not None else 0),
            "stream_id": conn.stream.id if conn is not None and conn.stream is not None else None,
            **proto,
        }

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._backoff_initial
        while True:
            conn: _DecoderConnection | None = None
            try:
                proto = RaceResultClient(self._config, address=self.address, now=time.time())
                conn = _DecoderConnection(self._service, proto, self.address)
                transport, _ = await asyncio.wait_for(
                    loop.create_connection(lambda c=conn: c, self.host, self.port), self._connect_timeout
                )
                check_not_self_connected(transport, self.host, self.port)
                self._conn = conn
                self.connects += 1
                log.info("connected to RACE RESULT decoder %s", self.address)
                assert conn.consumer is not None
                await asyncio.shield(conn.consumer)
                if conn.stream is not None:
                    delay = self._backoff_initial  # it worked: retry quickly next time
                self.last_error = "link dead" if conn.proto.closed else "disconnected"
            except (OSError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.info("RACE RESULT decoder %s unreachable: %s", self.address, self.last_error)
            finally:
                if conn is not None and self._conn is conn:
                    self._last = conn.proto.status()
                    self.reads += conn.reads
                    self._conn = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)
