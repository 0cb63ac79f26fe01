"""The fault tests' TCP proxy (tests/helpers/tcp_proxy.py) against a tiny echo server."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.helpers.tcp_proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: EchoServer = self.server  # type: ignore[assignment]
        got = 0
        try:
            while data := self.request.recv(server.chunk):
                got += len(data)
                if server.echo:
                    self.request.sendall(data)
                if server.slow:
                    time.sleep(0.001)  # a slow reader: bytes queue up in front of it
        except OSError:
            pass
        finally:
            with server.lock:
                server.received.append(got)
            server.ended.set()


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *, echo: bool = True, slow: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.echo = echo
        self.slow = slow
        self.chunk = 4096 if slow else 65536
        self.lock = threading.Lock()
        self.received: list[int] = []  # bytes each finished connection received
        self.ended = threading.Event()


@contextlib.contextmanager
def echo_server(*, echo: bool = True, slow: bool = False) -> Iterator[EchoServer]:
    server = EchoServer(echo=echo, slow=slow)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with echo_server() as server:
        yield server


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[TcpProxy]:
    with TcpProxy(*echo.server_address[:2]) as p:  # type: ignore[misc]
        yield p


def connect(proxy: TcpProxy, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def assert_reset(sock: socket.socket) -> None:
    """The peer reset the connection (an RST, not a clean FIN)."""
    with pytest.raises(ConnectionResetError):
        for _ in range(100):
            if not sock.recv(65536):  # a FIN would end here: no reset
                break
            # data delivered before the reset may still be read first
        else:
            raise AssertionError("the connection kept delivering data")


def assert_turned_away(proxy: TcpProxy) -> None:
    """A new connection is reset at once (on loopback the RST may even beat connect())."""
    try:
        s = connect(proxy)
    except ConnectionResetError:
        return
    with s:
        assert_reset(s)


def test_forwards_both_ways_and_counts(proxy: TcpProxy) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    with connect(proxy) as s:
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        assert recv_exactly(s, len(payload)) == payload
        sender.join()
    assert proxy.client_bytes == len(payload)
    assert proxy.server_bytes == len(payload)
    assert proxy.accepted == 1


def test_half_close_is_passed_on(proxy: TcpProxy, echo: EchoServer) -> None:
    with connect(proxy) as s:
        s.sendall(b"hello")
        s.shutdown(socket.SHUT_WR)
        assert recv_exactly(s, 5) == b"hello"
        assert s.recv(10) == b""  # the server's FIN came through
    assert echo.ended.wait(5)
    assert echo.received == [5]


def test_cut_resets_open_connections_and_accepts_new_ones(proxy: TcpProxy) -> None:
    with connect(proxy) as a, connect(proxy) as b:
        for s in (a, b):
            s.sendall(b"ping")
            assert recv_exactly(s, 4) == b"ping"
        assert proxy.cut() == 2
        assert_reset(a)
        assert_reset(b)
    assert proxy.open_connections == 0
    with connect(proxy) as c:
        c.sendall(b"again")
        assert recv_exactly(c, 5) == b"again"


def test_refuse_resets_new_connections_until_accepting_again(proxy: TcpProxy) -> None:
    with connect(proxy) as old:
        old.sendall(b"x")
        assert recv_exactly(old, 1) == b"x"
        proxy.refuse(True)
        assert_turned_away(proxy)
        old.sendall(b"y")  # refusing concerns new connections only
        assert recv_exactly(old, 1) == b"y"
    proxy.refuse(False)
    with connect(proxy) as s:
        s.sendall(b"z")
        assert recv_exactly(s, 1) == b"z"


def test_pause_holds_every_byte_until_resume(proxy: TcpProxy) -> None:
    with connect(proxy, timeout=0.3) as s:
        s.sendall(b"before")
        assert recv_exactly(s, 6) == b"before"
        proxy.pause()
        s.sendall(b"during")
        with pytest.raises(TimeoutError):
            s.recv(10)  # a partition: silence, not an error
        assert proxy.client_bytes == 6
        proxy.resume()
        s.settimeout(5)
        assert recv_exactly(s, 6) == b"during"


@pytest.mark.parametrize("n", [0, 1, 4095, 4096, 65537, 200_000])
def test_cut_after_bytes_delivers_exactly_n_client_bytes(n: int) -> None:
    with echo_server(echo=False, slow=True) as sink, TcpProxy(*sink.server_address[:2]) as proxy:  # type: ignore[misc]
        with connect(proxy) as first, connect(proxy) as second:
            first.sendall(b"a" * 1000)  # before arming: not counted against n
            second.sendall(b"a" * 1000)
            until_true(lambda: proxy.client_bytes == 2000)
            proxy.cut_after_bytes(n)
            reset: set[socket.socket] = set()  # the RST was reported to a send already
            while not proxy.cut_done.is_set():
                for sock in {first, second} - reset:
                    try:
                        sock.sendall(b"b" * 2500)
                    except ConnectionResetError:
                        reset.add(sock)
            assert proxy.cut_done.wait(5)
            for sock in {first, second} - reset:
                assert_reset(sock)
        assert proxy.client_bytes == 2000 + n
        until_true(lambda: len(sink.received) == 2)
        assert sum(sink.received) == 2000 + n  # the server got exactly those bytes, no more


def until_true(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_target_down_resets_the_client() -> None:
    with echo_server() as server:
        address = server.server_address[:2]
    with TcpProxy(*address) as proxy:  # type: ignore[misc]
        assert_turned_away(proxy)


def test_url_points_at_the_proxy(proxy: TcpProxy) -> None:
    assert proxy.url("postgresql://p_1:s3cr%40t@127.0.0.1:5432/db?sslmode=disable") == (
        f"postgresql://p_1:s3cr%40t@127.0.0.1:{proxy.port}/db?sslmode=disable"
    )
    assert proxy.url("postgresql://127.0.0.1:5432/db") == f"postgresql://127.0.0.1:{proxy.port}/db"


@pytest.mark.parametrize("skip", [0, 1])
def test_cut_after_a_pattern_delivers_through_it_even_split_across_packets(skip: int) -> None:
    with echo_server(echo=False) as sink, TcpProxy(*sink.server_address[:2]) as proxy:  # type: ignore[misc]
        proxy.cut_after(b"COMMIT\0", skip=skip, then_refuse=skip == 1)
        with connect(proxy) as s:
            total = 0
            for packet in [b"BEGIN\0xx", b"COMMIT\0", b"yyCOM", b"MIT\0after", b"more"]:
                with contextlib.suppress(ConnectionResetError):
                    s.sendall(packet)  # one packet at a time: the pattern straddles two
                total += len(packet)
                until_true(lambda t=total: proxy.cut_done.is_set() or proxy.client_bytes >= t)
                if proxy.cut_done.is_set():
                    break
            assert proxy.cut_done.wait(5)
            with contextlib.suppress(ConnectionResetError):
                s.recv(10)
        expected = b"BEGIN\0xxCOMMIT\0" if skip == 0 else b"BEGIN\0xxCOMMIT\0yyCOMMIT\0"
        assert proxy.client_bytes == len(expected)
        until_true(lambda: len(sink.received) == 1)
        assert sink.received == [len(expected)]
        if skip == 1:  # then_refuse: new connections are turned away from the cut on
            assert_turned_away(proxy)
        else:
            with connect(proxy) as again:
                again.sendall(b"z")
                until_true(lambda: proxy.client_bytes == len(expected) + 1)


def test_pause_after_delivers_through_the_point_then_freezes(proxy: TcpProxy) -> None:
    with connect(proxy, timeout=0.3) as s:
        proxy.pause_after(b"STOP")
        s.sendall(b"go on STOP and more")
        assert proxy.fired.wait(5)
        with pytest.raises(TimeoutError):
            s.recv(10)  # frozen, not cut: the echo waits in the proxy
        assert proxy.client_bytes == 10
        proxy.resume()
        s.settimeout(5)
        assert recv_exactly(s, 19) == b"go on STOP and more"  # nothing lost
    before = proxy.client_bytes
    proxy.pause_after_bytes(3)
    with connect(proxy, timeout=5) as s:
        s.sendall(b"abcdef")
        assert proxy.fired.wait(5)
        assert proxy.client_bytes == before + 3
        proxy.resume()
        assert recv_exactly(s, 6) == b"abcdef"
