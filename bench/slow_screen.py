"""A stalled screen cannot slow the other screens or the timing path, and loses nothing.

Run: ``python -m bench.slow_screen`` (defaults: 20 normal screens on one display session, one
CTP01 stream at 200 reads/s for 10 s).  Two phases, each on a fresh `race-control serve`:

1. baseline: the 20 normal screens alone;
2. stalled: the same plus one screen that completes the WebSocket handshake and then stops
   reading (a raw asyncio connection with ``SO_RCVBUF`` 4 KiB and ``pause_reading()``), so the
   server's socket, then its transport buffer, then the hub's per-screen queue fill up.

Both phases report the normal screens' read -> screen latency (from writing the CT01_33 line to
the CTP01 socket until the screen's socket yields the finisher) and check that every normal
screen got every finisher exactly once in order.  In phase 2 the server log is searched for the
hub's "fell ... behind; catching up from the store" line (the queue overflowed and the screen
was switched to replay from the store); then the stalled screen resumes reading and must receive
every finisher 1..N exactly once, in seq order.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import time
from typing import Any

import aiohttp

from bench._server import BenchApi, percentile, served, server_log
from bench.figures import Figure, below, holds
from bench.screens import build_race, read_line
from race_control.config import local_timezone

TARGET_P50_MS = 2.0  # the normal screens keep the read -> screen target (bench.latency)
TARGET_P99_MS = 10.0


class StalledScreen:
    """A WebSocket screen on a raw socket that stops reading after the handshake."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str, rcvbuf: int = 4096) -> StalledScreen:
        rest = url.removeprefix("ws://")
        hostport, path = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: small window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: stalled-screen\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"WebSocket handshake failed: {head[:200]!r}")
        self = cls(reader, writer)
        hello = await self.frame()
        assert hello and hello.get("type") == "hello", hello
        return self

    def stall(self) -> None:
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]

    def resume(self) -> None:
        self.writer.transport.resume_reading()  # type: ignore[attr-defined]

    async def frame(self) -> dict[str, Any] | None:
        """The next text frame as JSON (server frames are unmasked and unfragmented); None on close."""
        while True:
            b0, b1 = await self.reader.readexactly(2)
            size = b1 & 0x7F
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(size)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                return None
            if opcode == 0x1:
                return dict(json.loads(payload))

    def close(self) -> None:
        self.writer.close()


async def phase(stalled: bool, normal: int, rate: float, duration: float) -> dict[str, Any]:
    tz = local_timezone()
    total = int(rate * duration)
    r: dict[str, Any] = {"reads": total}
    async with served() as info, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        api = BenchApi(http, info)
        race = await build_race(api, info, 1, total, "slow")
        url = race.ws_url(0)
        screens = []
        for _ in range(normal):
            ws = await http.ws_connect(url)
            hello = await ws.receive_json()
            await ws.send_json({"type": "resume", "after_seq": hello["last_seq"]})  # as a page does
            screens.append(ws)
        slow = await StalledScreen.open(url) if stalled else None
        if slow:
            slow.stall()
        sent_at: list[float] = []
        latencies: list[float] = []
        seqs: list[list[int]] = [[] for _ in screens]

        async def listen(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                now = time.time()
                if '"finisher"' not in msg.data:
                    continue
                seq = json.loads(msg.data)["seq"]
                seqs[i].append(seq)
                latencies.append((now - sent_at[seq - 1]) * 1000)

        tasks = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(screens)]
        client = race.clients[0]
        interval = 1.0 / rate
        start = time.perf_counter()
        for n in range(total):
            line = read_line(n + 1, n + 1, tz)
            sent_at.append(time.time())
            client.writer.write(line)
            delay = start + (n + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        r["send_s"] = time.perf_counter() - start
        deadline = time.perf_counter() + 30
        while sum(map(len, seqs)) < total * normal and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        want = list(range(1, total + 1))
        r["normal_ok"] = sum(s == want for s in seqs)
        r["delivered"] = sum(map(len, seqs))
        r["p50"], r["p95"], r["p99"] = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
        r["max"] = max(latencies, default=float("nan"))
        if slow:
            fell = [ln for ln in server_log(info).splitlines() if " fell " in ln and "behind" in ln]
            r["overflows"] = len(fell)
            r["overflow_line"] = fell[0].split(": ", 1)[-1] if fell else ""
            t0 = time.perf_counter()
            slow.resume()
            got: list[int] = []
            kinds: dict[str, int] = {}

            async def take(screen: StalledScreen, timeout: float) -> bool:
                """One frame of the stalled screen into got/kinds; False once its socket ended."""
                msg = await asyncio.wait_for(screen.frame(), timeout)
                if msg is None:
                    return False
                kind = str(msg.get("type"))
                kinds[kind] = kinds.get(kind, 0) + 1
                if kind == "finisher":
                    got.append(int(msg["seq"]))
                return True

            try:
                while (not got or got[-1] < total) and await take(slow, 30):
                    pass
                # a caught_up may follow the last finisher; anything sent twice would arrive now
                while await take(slow, 1.0):
                    pass
            except TimeoutError:
                pass
            r["resume_s"] = time.perf_counter() - t0
            r["slow_got"] = len(got)
            r["slow_unique"] = len(set(got))
            r["slow_in_order"] = got == want
            r["slow_kinds"] = kinds
            slow.close()
        for t in tasks:
            t.cancel()
        for ws in screens:
            await ws.close()
        await race.close()
    return r


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--screens", type=int, default=20, help="normal screens")
    p.add_argument("--rate", type=float, default=200.0, help="reads per second")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of paced reads")
    p.add_argument("--no-baseline", action="store_true", help="skip phase 1 (e.g. for a long stall)")
    a = p.parse_args(argv)
    base = None if a.no_baseline else asyncio.run(phase(False, a.screens, a.rate, a.duration))
    slow = asyncio.run(phase(True, a.screens, a.rate, a.duration))
    print(
        f"stalled screen: 1 session, {a.screens} normal screens, one CTP01 stream at {a.rate:g} reads/s "
        f"for {a.duration:g} s ({slow['reads']} reads)"
    )
    for name, r in (("without the stalled screen", base), ("with a stalled screen     ", slow)):
        if r is None:
            continue
        print(
            f"  {name}: normal screens p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms, p99 {r['p99']:.2f} ms, "
            f"max {r['max']:.1f} ms; {r['delivered']}/{r['reads'] * a.screens} delivered, "
            f"{r['normal_ok']}/{a.screens} screens exactly 1..{r['reads']} in order"
        )
    ok = slow["p50"] < TARGET_P50_MS and slow["p99"] < TARGET_P99_MS and slow["normal_ok"] == a.screens
    print(
        f"  normal screens with the stall vs target p50 < {TARGET_P50_MS} ms, p99 < {TARGET_P99_MS} ms: "
        f"{'OK' if ok else 'MISSED'}"
    )
    over = slow["overflows"]
    print(
        f"  stalled screen's queue overflowed into catch-up from the store: "
        f"{'yes, ' + str(over) + ' time(s) (' + slow['overflow_line'] + ')' if over else 'no'}"
    )
    resumed = slow["slow_in_order"] and slow["slow_unique"] == slow["reads"]
    print(
        f"  after resuming: {slow['slow_got']} finishers ({slow['slow_unique']} distinct) of {slow['reads']} in "
        f"{slow['resume_s']:.2f} s, exactly once in seq order: {'OK' if resumed else 'MISSED'}; "
        f"messages {slow['slow_kinds']}"
    )
    return [
        below("slow_screen", "normal screens p50, with a stall", slow["p50"], "ms", TARGET_P50_MS),
        below("slow_screen", "normal screens p99, with a stall", slow["p99"], "ms", TARGET_P99_MS),
        holds("slow_screen", "normal screens all exact", slow["normal_ok"] == a.screens, slow["normal_ok"]),
        holds("slow_screen", "stalled screen loses nothing", resumed, slow["slow_unique"], "finishers"),
    ]


if __name__ == "__main__":
    bench()
