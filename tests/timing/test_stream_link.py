"""The shared timing transport: both live protocols stop reading their socket while storage is behind."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from race_control.timing.protocols.ctp01_settings import Ctp01Config
from race_control.timing.protocols.raceresult_client import RaceResultClient, RaceResultConfig
from race_control.timing.transports import stream_connection
from race_control.timing.transports.ctp01_listener import Ctp01Connection
from race_control.timing.transports.raceresult_connector import _DecoderConnection
from race_control.timing.transports.stream_connection import PAUSE_ABOVE, RESUME_BELOW, StreamLink


class FakeService:
    def __init__(self) -> None:
        self.backlog = 0
        self.failing = False  # the store works (TimingService.failing)
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
async def test_reading_pauses_above_the_backlog_and_resumes_below(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the link's own timer checks the backlog every TICK: made short, and waited for, not called
    monkeypatch.setattr(stream_connection, "TICK", 0.01)
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
        service.backlog = RESUME_BELOW + 1  # drained a little, not enough
        # the link's next tick is due within TICK, before this sleep ends (asyncio runs timers in
        # deadline order), so several ticks have seen this backlog
        await asyncio.sleep(stream_connection.TICK * 10)
        assert transport.paused
        service.backlog = RESUME_BELOW - 1
        async with asyncio.timeout(10):
            while transport.paused:
                await asyncio.sleep(0.005)
    finally:
        transport.close()
        conn.connection_lost(None)
        assert conn.consumer is not None
        await asyncio.wait_for(conn.consumer, 5)
