"""A connection to a local port nobody listens on that reached itself (``race_control.self_connect``).

Linux sometimes gives a client connecting to a free local port that same port as its own, and
the connect succeeds to nobody; the client then holds the port its server needs to restart on.
Made here for real: a socket bound to a free port and connected to it.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from race_control.self_connect import SelfConnected, check_not_self_connected
from race_control.timing.simulator.playback import simulate
from race_control.timing.simulator.sources import SimulationError
from tests.timing.test_simulator import FakeCtp01Server


def self_connected() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.connect(s.getsockname())  # TCP's simultaneous open, with itself
    assert s.getsockname() == s.getpeername()
    return s


async def test_a_connection_to_itself_is_refused_and_gives_the_port_back() -> None:
    sock = self_connected()
    port = sock.getsockname()[1]
    _reader, writer = await asyncio.open_connection(sock=sock)
    with pytest.raises(SelfConnected, match=rf"nothing listens on 127\.0\.0\.1:{port}"):
        check_not_self_connected(writer, "127.0.0.1", port)
    await asyncio.sleep(0)  # the transport's close runs on the next turn of the loop
    assert sock.fileno() == -1
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", port)  # free again
    server.close()
    await server.wait_closed()


async def test_a_real_connection_passes() -> None:
    async def hang_up(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()
        await w.wait_closed()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        check_not_self_connected(writer, "127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


async def test_the_simulator_counts_a_connection_to_itself_as_nobody_listening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "FINISH").mkdir()
    (tmp_path / "FINISH" / "1.csv").write_text("TO~1~101~160~18~1620460855.40~12000C~8~-60~1~P~10\r\n")
    real = asyncio.open_connection
    held: list[socket.socket] = []

    async def reaching_itself(host: str, port: int, **kw: object) -> object:
        held.append(self_connected())  # what the kernel did to the simulator's connect
        return await real(sock=held[-1])

    monkeypatch.setattr(asyncio, "open_connection", reaching_itself)
    async with FakeCtp01Server() as srv, asyncio.timeout(20):
        with pytest.raises(SimulationError, match="nothing listens"):
            await simulate("127.0.0.1", srv.port, [tmp_path / "FINISH" / "1.csv"], speed=0, max_retries=0)
    await asyncio.sleep(0.05)  # the transport's close runs on a later turn of the loop
    assert held and held[0].fileno() == -1
    assert srv.received == []
