"""A TCP proxy for fault tests: sits between the app and PostgreSQL and breaks the network.

One thread runs a selector over non-blocking sockets, so the proxy works the same whether the
app under test runs in this process (asyncio) or in a subprocess, and every control takes
effect at once (no thread is stuck in a ``recv`` that would delay a reset).  Controls, safe to
call from any thread; each returns once the proxy thread has carried it out:

* ``cut()``: every open connection is reset mid-stream (``SO_LINGER`` 0 then close: both
  peers get an RST, as when a router drops the flow); new connections are still accepted.
* ``refuse(True)``: new connections are reset at once (the server seems down); ``refuse(False)``
  accepts again.
* ``pause()`` / ``resume()``: no byte moves in either direction (a partition: the peers see
  silence, not an error; their own timeouts have to notice).  What was in flight is delivered
  after ``resume()``, as TCP retransmits after a partition heals.
* ``cut_after_bytes(n)``: once ``n`` more bytes from clients have been forwarded (counted over
  all connections from now on), exactly those reach the servers (the proxy stops reading from
  both sides and waits, up to 2 s, until the servers' kernels have taken every byte), then every
  connection is reset: a deterministic cut point in the middle of a batch.  No answer the
  server gives to those bytes reaches the client (e.g. a COMMIT that went through, its reply
  lost).  ``cut_after(pattern)`` does the same right after a client sent ``pattern``.
  ``cut_done`` is set once the cut happened; ``then_refuse=True`` (either call) also refuses new
  connections from that very moment, so no retry slips in before the test looks.
* ``pause_after_bytes(n)`` / ``pause_after(pattern)``: the same points, but the proxy freezes
  there (as ``pause()``) instead of cutting: e.g. to kill the app exactly after its COMMIT
  reached the server and before the answer reached the app.  ``fired`` (= ``cut_done``).

``client_bytes`` / ``server_bytes`` count the bytes forwarded each way, ``accepted`` the
connections accepted, ``resets`` the connections this proxy reset.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import selectors
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 65536
_HIGH_WATER = 1 << 20  # stop reading a side while this much waits to be written to the other


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Side:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out = bytearray()  # bytes waiting to be written to this side
        self.eof = False  # this side sent FIN (nothing more to read from it)
        self.shut = False  # we sent FIN to this side
        self.tail = b""  # the end of the last packet from it (cut_after's pattern may straddle)
        self.unread = b""  # read past a pause point: forwarded once the proxy runs again


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = _Side(client)
        self.server = _Side(server)

    def other(self, side: _Side) -> _Side:
        return self.server if side is self.client else self.client


class TcpProxy:
    """``TcpProxy(host, port).start()``; ``port`` is where to connect instead of the target."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._calls: list[tuple[Callable[[], object], threading.Event]] = []
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._refusing = False
        self._paused = False
        self._cut_budget: int | None = None  # client bytes still allowed before the armed cut
        self._cut_pattern: bytes | None = None  # cut once a client sent this (cut_after)
        self._cut_skip = 0  # occurrences of the pattern to let through first
        self._refuse_after_cut = False
        self._pause_instead = False  # the armed point freezes the proxy instead of cutting
        self._draining_until: float | None = None  # the cut is due: delivering, then reset
        self._running = False
        self._thread = threading.Thread(target=self._loop, name=f"tcp-proxy-{self.port}", daemon=True)
        self.cut_done = threading.Event()  # the armed cut (or pause) happened
        self.fired = self.cut_done
        self.last_client_bytes = b""  # the last bytes forwarded from a client (diagnostics)
        self.client_bytes = 0
        self.server_bytes = 0
        self.accepted = 0
        self.resets = 0

    # ---- life cycle -------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._sel.register(self._listener, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._running = True
        self._thread.start()
        return self

    def close(self) -> None:
        """Reset every connection and stop listening."""
        if not self._running:
            return
        self._call(self._stop)
        self._thread.join(5)
        self._wake_w.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, url: str) -> str:
        """``url`` (a postgresql:// URL of the target) pointed at this proxy instead."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    # ---- controls ---------------------------------------------------------------------------

    def cut(self) -> int:
        """Reset every open connection; how many there were."""
        return self._call(self._cut_all)  # type: ignore[return-value]

    def refuse(self, on: bool = True) -> None:
        def set_refusing() -> None:
            self._refusing = on

        self._call(set_refusing)

    def pause(self) -> None:
        def set_paused() -> None:
            self._paused = True

        self._call(set_paused)

    def resume(self) -> None:
        def set_running() -> None:
            self._paused = False

        self._call(set_running)

    def cut_after_bytes(self, n: int, *, then_refuse: bool = False) -> None:
        """Cut every connection once ``n`` more client bytes have been forwarded (``n`` >= 0);
        ``then_refuse``: and refuse new connections from that moment (until ``refuse(False)``)."""
        if n < 0:
            raise ValueError(f"cut_after_bytes needs n >= 0, not {n}")
        self._arm(budget=n, then_refuse=then_refuse)

    def cut_after(self, pattern: bytes, *, skip: int = 0, then_refuse: bool = False) -> None:
        """Cut every connection right after a client sent ``pattern`` (its ``skip + 1``-th
        occurrence from now, over all connections): e.g. ``b"COMMIT\\0"``, the end of
        psycopg2's commit message — the server commits, its answer never arrives."""
        if not pattern:
            raise ValueError("cut_after needs a pattern")
        self._arm(pattern=pattern, skip=skip, then_refuse=then_refuse)

    def pause_after_bytes(self, n: int) -> None:
        """Like ``cut_after_bytes`` but freeze instead of cutting: the bytes up to the point
        are delivered, then nothing moves until ``resume()`` (e.g. to kill the app right there)."""
        if n < 0:
            raise ValueError(f"pause_after_bytes needs n >= 0, not {n}")
        self._arm(budget=n, pause=True)

    def pause_after(self, pattern: bytes, *, skip: int = 0) -> None:
        """Like ``cut_after`` but freeze instead of cutting (the server has what the client
        sent through ``pattern``; its answer waits in the proxy until ``resume()``)."""
        if not pattern:
            raise ValueError("pause_after needs a pattern")
        self._arm(pattern=pattern, skip=skip, pause=True)

    def _arm(
        self,
        *,
        budget: int | None = None,
        pattern: bytes | None = None,
        skip: int = 0,
        then_refuse: bool = False,
        pause: bool = False,
    ) -> None:
        def arm() -> None:
            self.cut_done.clear()
            self._refuse_after_cut, self._pause_instead = then_refuse, pause
            for pair in self._pairs:
                pair.client.tail = b""
            self._cut_pattern, self._cut_skip = pattern, skip
            self._cut_budget = budget
            if budget == 0:
                self._start_cut()

        self._call(arm)

    def disarm(self) -> None:
        """Forget an armed ``cut_after_bytes`` that has not fired."""

        def clear() -> None:
            self._cut_budget = None
            self._cut_pattern = None
            self._draining_until = None

        self._call(clear)

    @property
    def open_connections(self) -> int:
        return self._call(lambda: len(self._pairs))  # type: ignore[return-value]

    # ---- the proxy thread -------------------------------------------------------------------

    def _call(self, fn: Callable[[], object]) -> object:
        if threading.current_thread() is self._thread or not self._running:
            return fn()
        done = threading.Event()
        box: list[object] = []
        with self._lock:
            self._calls.append((lambda: box.append(fn()), done))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if not done.wait(10):
            raise AssertionError("the TCP proxy thread did not answer within 10 s")
        return box[0] if box else None

    def _loop(self) -> None:
        while self._running:
            if not self._paused and self._draining_until is None:
                for pair in [p for p in self._pairs if p.client.unread]:
                    data, pair.client.unread = pair.client.unread, b""
                    self._forward(pair, pair.client, data)
                    self._flush(pair, pair.server)
            self._update_interest()
            draining = self._draining_until is not None
            for key, mask in self._sel.select(timeout=0.002 if draining else 0.5):
                if key.data == "wake":
                    self._run_calls()
                elif key.data == "listen":
                    self._accept()
                else:
                    pair, side = key.data
                    if pair in self._pairs:
                        self._service(pair, side, mask)
            if self._draining_until is not None and (
                self._drained() or time.monotonic() > self._draining_until
            ):
                self._finish_cut()
        self._run_calls()

    def _run_calls(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            calls, self._calls = self._calls, []
        for fn, done in calls:
            try:
                fn()
            finally:
                done.set()

    def _stop(self) -> None:
        self._cut_all()
        self._running = False
        for sock in (self._listener, self._wake_r):
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(sock)
            sock.close()
        self._sel.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.accepted += 1
            if self._refusing:
                _reset(client)
                self.resets += 1
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)  # the target is down: so are we
                self.resets += 1
                continue
            try:
                for s in (client, server):
                    s.setblocking(False)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the client is gone already: close both, or they leak with this thread
                _reset(client)
                _reset(server)
                self.resets += 1
                continue
            pair = _Pair(client, server)
            self._pairs.append(pair)

    def _update_interest(self) -> None:
        """Watch each socket for what it can do now: read while the other side's queue is
        short (and not paused), write while its own queue holds bytes (and not paused)."""
        for pair in self._pairs:
            for side in (pair.client, pair.server):
                mask = 0
                if not self._paused:
                    if (
                        not side.eof
                        and len(pair.other(side).out) < _HIGH_WATER
                        and self._draining_until is None
                    ):
                        mask |= selectors.EVENT_READ
                    if side.out:
                        mask |= selectors.EVENT_WRITE
                key = self._sel.get_map().get(side.sock)
                if key is not None and mask == 0:
                    self._sel.unregister(side.sock)
                elif key is None and mask:
                    self._sel.register(side.sock, mask, (pair, side))
                elif key is not None and key.events != mask:
                    self._sel.modify(side.sock, mask, (pair, side))

    def _service(self, pair: _Pair, side: _Side, mask: int) -> None:
        other = pair.other(side)
        if mask & selectors.EVENT_READ and self._draining_until is None:
            try:
                data = side.sock.recv(_CHUNK)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._drop(pair, reset=True)  # a reset on one side is passed on to the other
                return
            if data is not None:
                if not data:
                    side.eof = True
                else:
                    self._forward(pair, side, data)
                    if pair not in self._pairs:
                        return
        if mask & selectors.EVENT_WRITE and side.out and not self._flush(pair, side):
            return
        if other.out and not self._flush(pair, other):
            return
        self._half_close(pair)

    def _forward(self, pair: _Pair, side: _Side, data: bytes) -> None:
        other = pair.other(side)
        if side is pair.client:
            if self._cut_pattern is not None:
                end = self._pattern_end(side, data)
                if end is not None:
                    self._cut_budget = end
            if self._cut_budget is not None:
                if len(data) >= self._cut_budget:
                    data, rest = data[: self._cut_budget], data[self._cut_budget :]
                    self._cut_budget = 0
                    if self._pause_instead:
                        side.unread = rest  # forwarded after resume(); a cut just loses it
                else:
                    self._cut_budget -= len(data)
            self.client_bytes += len(data)
            self.last_client_bytes = (self.last_client_bytes + data)[-512:]
        else:
            self.server_bytes += len(data)
        other.out += data
        if self._cut_budget == 0:
            self._start_cut()

    def _pattern_end(self, side: _Side, data: bytes) -> int | None:
        """Where in ``data`` the armed pattern's awaited occurrence ends, if it is in it (the
        pattern may straddle two packets: the side keeps the tail of the last one)."""
        assert self._cut_pattern is not None
        pattern = self._cut_pattern
        window = side.tail + data
        start = 0
        while (i := window.find(pattern, start)) >= 0:
            start = i + 1
            end = i + len(pattern) - len(side.tail)
            if end <= 0:
                continue  # wholly in the tail: counted with the last packet
            if self._cut_skip == 0:
                self._cut_pattern = None
                side.tail = b""
                return end
            self._cut_skip -= 1
        side.tail = window[-(len(pattern) - 1) :] if len(pattern) > 1 else b""
        return None

    def _start_cut(self) -> None:
        """The armed cut is due: read nothing more from anyone, deliver what clients sent up
        to the cut point (until the servers' kernels have acknowledged it), then reset."""
        self._cut_budget = None
        self._draining_until = time.monotonic() + 2.0

    def _drained(self) -> bool:
        for pair in self._pairs:
            if pair.server.out:
                return False
            try:
                raw = fcntl.ioctl(pair.server.sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            except OSError:
                continue
            if struct.unpack("i", raw)[0]:
                return False  # still in the kernel's send queue: an RST would discard it
        return True

    def _finish_cut(self) -> None:
        self._draining_until = None
        if self._pause_instead:
            self._paused = True
        else:
            if self._refuse_after_cut:
                self._refusing = True
            self._cut_all()
        self.cut_done.set()

    def _flush(self, pair: _Pair, side: _Side) -> bool:
        """Write what waits for ``side``; False if the pair is gone."""
        while side.out:
            try:
                sent = side.sock.send(side.out)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF):
                    self._drop(pair, reset=True)
                    return False
                raise
            del side.out[:sent]
        return True

    def _half_close(self, pair: _Pair) -> None:
        """A side that sent FIN gets its FIN passed on once its bytes are delivered; a pair
        with both directions finished is closed."""
        for side in (pair.client, pair.server):
            other = pair.other(side)
            if side.eof and not other.out and not other.shut:
                with contextlib.suppress(OSError):
                    other.sock.shutdown(socket.SHUT_WR)
                other.shut = True
        if pair.client.shut and pair.server.shut:
            self._drop(pair, reset=False)

    def _drop(self, pair: _Pair, *, reset: bool) -> None:
        if pair not in self._pairs:
            return
        self._pairs.remove(pair)
        for side in (pair.client, pair.server):
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(side.sock)
            if reset:
                _reset(side.sock)
            else:
                side.sock.close()
        if reset:
            self.resets += 1

    def _cut_all(self) -> int:
        pairs = list(self._pairs)
        for pair in pairs:
            self._drop(pair, reset=True)
        return len(pairs)
