"""The shared timing transport: both live protocols stop reading their socket while storage is behind."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from race_control.timing.protocols.ctp01_settings import Ctp01Config
from race_control.timing.protocols.raceresult_client import RaceResultClient, RaceResultConfig
from race_control.timing.transports.ctp01_listener import Ctp01Connection
from race_control.timing.transports.raceresult_connector import _DecoderConnection
from race_control.timing.transports.stream_connection import PAUSE_ABOVE, RESUME_BELOW, StreamLink


class FakeService:
    def __init__(self) -> None:
        self.backlog = 0
        self.listeners: list[Any] = []


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.closed = False
        self.written: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return self.closed

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True


def ctp01(service: Any) -> StreamLink[Any]:
    return Ctp01Connection(service, Ctp01Config())


def raceresult(service: Any) -> StreamLink[Any]:
    proto = RaceResultClient(RaceResultConfig(), address="192.0.2.7:3601", now=time.time())
    return _DecoderConnection(service, proto, "192.0.2.7:3601")


@pytest.mark.parametrize("make", [ctp01, raceresult])
async def test_reading_pauses_above_the_backlog_and_resumes_below(make: Any) -> None:
    service = FakeService()
    conn = make(service)
    transport = FakeTransport()
    conn.connection_made(transport)
    try:
        conn.data_received(b"")
        assert not transport.paused
        service.backlog = PAUSE_ABOVE + 1
        conn.data_received(b"")
        assert transport.paused
        conn._tick()  # still behind
        assert transport.paused
        service.backlog = RESUME_BELOW - 1
        conn._tick()
        assert not transport.paused
    finally:
        transport.close()
        conn.connection_lost(None)
        assert conn.consumer is not None
        await asyncio.wait_for(conn.consumer, 5)
