"""Sans-IO: a link we stopped reading (backpressure) is never timed out for its silence, and the
end of a connection reports an unfinished last line without parsing it.

Driven with bytes and explicit ``now`` values, like the protocol tests; no sockets, no clocks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from race_control.timing.protocols.ctp01_server import Ctp01Server
from race_control.timing.protocols.ctp01_settings import Ctp01Config
from race_control.timing.protocols.events import BadLine, LinkDead, RawLine, TagRead, TimingEvent
from race_control.timing.protocols.line_link import LineLink
from race_control.timing.protocols.raceresult_client import RaceResultClient, RaceResultConfig

T0 = 1_700_000_000.0
DAY = dt.date(2023, 11, 14)


def wire(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode("latin-1")


def ctp01_ready() -> Ctp01Server:
    """A CTP01 server link through the handshake at T0, dead after 40 s of silence."""
    server = Ctp01Server(Ctp01Config(dead_after=40.0, reference_date=DAY), seed="s", now=T0)
    server.receive_data(wire("SimpleClient~1.2.3~CTP01"), T0)
    server.receive_data(
        wire("ack~geteventinfo~E~1~d", "ack~getlocations~finish", "ack~getconnectionid~c1"), T0
    )
    assert server.connection_id == "c1"
    server.begin_streaming({})
    return server


def raceresult_ready() -> RaceResultClient:
    """A RACE RESULT link through the handshake at T0, dead after 40 s of silence."""
    client = RaceResultClient(
        RaceResultConfig(dead_after=40.0, timezone="UTC", reference_date=DAY), address="x:3601", now=T0
    )
    client.receive_data(
        wire(
            "SETPROTOCOL;2.0",
            "GETCONFIG;GENERAL;BOXNAME;FINISH;D-1",
            "GETSTATUS;0000-00-00;00:10:00.000;1;1;1;3;0",
            "GETTIME;0000-00-00;09:00:01.000",
            "PASSINGS;0;3",
        ),
        T0,
    )
    client.begin_streaming({})
    return client


def dead(events: list[TimingEvent]) -> list[LinkDead]:
    return [e for e in events if isinstance(e, LinkDead)]


@pytest.mark.parametrize("make", [ctp01_ready, raceresult_ready], ids=["ctp01", "raceresult"])
def test_dead_link_timer_stands_still_while_reading_is_paused(make: Callable[[], LineLink]) -> None:
    link = make()
    link.reading_paused(T0 + 5)
    assert link.paused
    # ten minutes of silence while we are not reading: the link stays up
    for t in range(10, 600, 10):
        assert dead(link.tick(T0 + t)) == [], t  # type: ignore[attr-defined]
    assert not link.closed
    # the silence counts again from the moment reading resumes, not from the last byte
    link.reading_resumed(T0 + 600)
    assert not link.paused
    assert dead(link.tick(T0 + 639)) == []  # type: ignore[attr-defined]
    (died,) = dead(link.tick(T0 + 641))  # type: ignore[attr-defined]
    assert "for 41.0 s" in died.reason and link.closed


@pytest.mark.parametrize("make", [ctp01_ready, raceresult_ready], ids=["ctp01", "raceresult"])
def test_an_unpaused_silent_link_still_dies(make: Callable[[], LineLink]) -> None:
    link = make()
    (died,) = dead(link.tick(T0 + 41))  # type: ignore[attr-defined]
    assert "no data" in died.reason


def test_handshake_timeout_does_not_count_paused_time() -> None:
    server = Ctp01Server(Ctp01Config(handshake_timeout=30.0, reference_date=DAY), seed="s", now=T0)
    server.receive_data(wire("SimpleClient~1.2.3~CTP01"), T0)  # greeted; identification pending
    server.reading_paused(T0 + 5)
    assert dead(server.tick(T0 + 100)) == []
    server.reading_resumed(T0 + 100)  # 95 s paused: 5 s of the handshake used so far
    assert dead(server.tick(T0 + 120)) == []  # 25 s
    (died,) = dead(server.tick(T0 + 126))  # 31 s
    assert "handshake not completed" in died.reason


def test_end_of_input_keeps_a_cut_off_line_raw_and_unparsed() -> None:
    server = ctp01_ready()
    events = server.receive_data(
        b"CT01_33~1~finish~101~10:00:00.00~1~R1~1\r\nCT01_33~2~finish~102~10:00:0", T0 + 1
    )
    assert [e.seq for e in events if isinstance(e, TagRead)] == [1]  # the complete line, at once
    tail = server.end_of_input()
    assert tail[0] == RawLine("CT01_33~2~finish~102~10:00:0")
    assert isinstance(tail[1], BadLine) and "middle of this line" in tail[1].reason
    assert not any(isinstance(e, TagRead) for e in tail)
    assert server.end_of_input() == []  # nothing left after that


def test_end_of_input_after_a_whole_line_reports_nothing() -> None:
    server = ctp01_ready()
    server.receive_data(b"CT01_33~1~finish~101~10:00:00.00~1~R1~1\r\n", T0 + 1)
    assert server.end_of_input() == []
