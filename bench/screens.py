"""Concurrent screens: 2,000 WebSocket screens on one `race-control serve`, every finisher delivered.

Run: ``python -m bench.screens`` (defaults = the docs/benchmarks.md target: 1 session x 2,000 screens,
50 reads at 5 reads/s over one CTP01 connection).  ``--sessions 10`` spreads the screens over 10
display sessions, each bound to its own CTP01 stream (reads go round-robin over the streams).

The server runs as its own process.  The screens are held by ``--workers`` client processes
(multiprocessing, spawn), each with its own event loop and a share of the sockets, so the
measuring side's loop is not the bottleneck.  Every finisher a screen receives is recorded with
``time.time()`` (comparable across processes on one machine); latency runs from writing the
CT01_33 line to the CTP01 socket until the screen's socket yields the message.  Every screen must
receive every finisher of its session exactly once, in seq order, with the bib of the read that
produced it, and nothing from another session.  Server memory is read from
``/proc/<pid>/status`` (VmRSS now, VmHWM = peak).

``--spread`` measures the fan-out itself: one finisher at a time (default 20 reads at 2/s, so
one finisher's frames are out before the next read), and for each finisher the spread between
the first and the last screen to receive it (``time.time()`` in the workers: CLOCK_REALTIME, one
clock for every process on the machine), e.g. ``python -m bench.screens --spread --screens 2000``.
The server's screen caps are raised to the screen count (settings.json in its data dir).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import multiprocessing
import multiprocessing.connection
import os
import resource
import socket
import struct
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from bench._server import (
    BenchApi,
    memory_kib,
    percentile,
    print_problems,
    rss_report,
    served,
    server_warnings,
)
from bench.figures import Figure, at_least, holds, info
from race_control.config import local_timezone
from tests.helpers.ctp01_peer import RawCtp01Client

TARGET_SCREENS = 2000  # the product's target for concurrent screens on one laptop (>= 2,000)
SPREAD_SCREENS = 1000  # the fan-out spread's target is at 1,000 screens of one session

# --- shared plumbing (also used by bench.sessions and bench.slow_screen) ------------------------


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit (inherited by the server and the workers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


def read_line(seq: int, bib: int, tz: str, location: str = "finish") -> bytes:
    """A CT01_33 line timed now (in the server's zone), so the far-from-now check stays quiet."""
    t = dt.datetime.now(ZoneInfo(tz))
    stamp = f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 10_000:02d}"
    return f"CT01_33~{seq}~{location}~{bib}~{stamp}~0~0FA22E~1\r\n".encode()


@dataclass
class Race:
    """Display sessions, each bound to its own CTP01 stream."""

    event_id: str
    sessions: list[dict[str, Any]] = field(default_factory=list)
    clients: list[RawCtp01Client] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def ws_url(self, i: int) -> str:
        return str(self.sessions[i]["display_url"]).replace("http://", "ws://") + "/ws"

    async def close(self) -> None:
        for c in self.clients:
            await c.close()


async def build_race(api: BenchApi, info: dict[str, Any], n: int, roster: int, prefix: str) -> Race:
    """An event with ``roster`` runners (bibs 1..roster) and ``n`` results sessions, each bound to
    its own CTP01 connection (connection id ``{prefix}-{i}``)."""
    t0 = time.perf_counter()
    event = await api.post("/api/events", {"name": f"{prefix} bench", "date": dt.date.today().isoformat()})
    if roster:
        await api.post(
            f"/api/events/{event['id']}/participants",
            [
                {"bib": str(b), "first_name": "Runner", "last_name": f"No{b}", "city": "Boise"}
                for b in range(1, roster + 1)
            ],
        )
    race = Race(event["id"])
    t1 = time.perf_counter()
    sem = asyncio.Semaphore(32)

    async def create(i: int) -> dict[str, Any]:
        async with sem:
            return dict(await api.post("/api/sessions", {"event_id": event["id"], "mode": "results"}))

    race.sessions = list(await asyncio.gather(*(create(i) for i in range(n))))
    t2 = time.perf_counter()

    async def connect(i: int) -> RawCtp01Client:
        async with sem:
            client = await RawCtp01Client.connect(info["timing_port"])
            await client.handshake(f"{prefix}-{i}")
            return client

    race.clients = list(await asyncio.gather(*(connect(i) for i in range(n))))
    t3 = time.perf_counter()
    streams: dict[str, str] = {}
    while len(streams) < n:
        streams = {st["source_key"]: st["id"] for st in await api.get("/api/timing/sessions")}
        streams = {k: v for k, v in streams.items() if k.startswith(f"{prefix}-")}
        if len(streams) < n:
            await asyncio.sleep(0.05)

    async def bind(i: int) -> None:
        async with sem:
            sid = race.sessions[i]["id"]
            await api.post(f"/api/sessions/{sid}/timing", {"timing_session_id": streams[f"{prefix}-{i}"]})

    await asyncio.gather(*(bind(i) for i in range(n)))
    t4 = time.perf_counter()
    race.timings = {"event+roster": t1 - t0, "sessions": t2 - t1, "ctp01": t3 - t2, "bind": t4 - t3}
    return race


# --- screen workers ----------------------------------------------------------------------------


async def arecv(conn: multiprocessing.connection.Connection, timeout: float | None = None) -> Any:
    """``conn.recv()`` without blocking the loop (waits for the pipe to become readable)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)
    return conn.recv()


def _worker(
    conn: multiprocessing.connection.Connection,
    screens: list[tuple[int, int, str]],
    expected: int,
    compress: int,
) -> None:
    """Child process: hold ``screens`` [(screen index, session index, ws url)]."""
    raise_nofile(len(screens) * 2 + 256)
    asyncio.run(_worker_main(conn, screens, expected, compress))


async def _worker_main(
    conn: multiprocessing.connection.Connection,
    screens: list[tuple[int, int, str]],
    expected: int,
    compress: int,
) -> None:
    got: dict[int, list[tuple[int, float, str]]] = {idx: [] for idx, _, _ in screens}
    other: dict[int, dict[str, int]] = {idx: {} for idx, _, _ in screens}
    hello_seq: dict[int, int] = {}
    errors: list[str] = []
    state = {"finishers": 0, "complete_sent": False}
    sockets: list[tuple[int, aiohttp.ClientWebSocketResponse]] = []
    sem = asyncio.Semaphore(50)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def connect(idx: int, url: str) -> None:
            async with sem:
                try:
                    ws = await http.ws_connect(url, max_msg_size=0, compress=compress)
                    hello = json.loads((await ws.receive()).data)
                    hello_seq[idx] = hello.get("last_seq", -1)
                    await ws.send_json(
                        {"type": "resume", "after_seq": hello.get("last_seq", 0)}
                    )  # as a page does
                    sockets.append((idx, ws))
                except Exception as exc:  # reported to the parent
                    errors.append(f"screen {idx}: {exc!r}")

        await asyncio.gather(*(connect(idx, url) for idx, _, url in screens))

        async def listen(idx: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            mine = got[idx]
            async for msg in ws:
                now = time.time()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                kind = data.get("type")
                if kind == "finisher":
                    mine.append((data["seq"], now, str(data.get("bib"))))
                    state["finishers"] += 1
                    if expected and state["finishers"] >= expected and not state["complete_sent"]:
                        state["complete_sent"] = True
                        conn.send(("complete", now))
                else:
                    counts = other[idx]
                    counts[kind] = counts.get(kind, 0) + 1

        tasks = [asyncio.create_task(listen(idx, ws)) for idx, ws in sockets]
        conn.send(("ready", len(sockets), errors[:5], len(errors)))
        await arecv(conn)  # "stop"
        for t in tasks:
            t.cancel()
        for _, ws in sockets:
            await ws.close()
    conn.send(("result", got, other, hello_seq))


# --- raw screens: kernel receive timestamps (--spread) ------------------------------------------

SO_TIMESTAMPNS = 35  # Linux (= SCM_TIMESTAMPNS); the socket module does not name it
TIMESPEC = struct.Struct("qq")


class RawScreen:
    """A WebSocket screen on a plain socket that notes, for every frame, the kernel's receive
    timestamp (SO_TIMESTAMPNS: CLOCK_REALTIME when the last segment of the frame reached the
    socket), so a busy measuring process does not add its own scheduling to the spread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.frames: list[tuple[float, float, str]] = []  # (kernel time, app time, text)

    @classmethod
    async def connect(cls, url: str) -> tuple[RawScreen, dict[str, Any]]:
        rest = url.removeprefix("ws://")
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        await loop.sock_connect(sock, (host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(
            sock,
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
        )
        screen = cls(sock)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        head, _, screen.buf = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode("latin-1"))
        while not screen.frames:
            screen.parse(0.0, 0.0)
            if not screen.frames:
                screen.buf += await loop.sock_recv(sock, 65536)
        hello = json.loads(screen.frames.pop(0)[2])
        screen.send_text(json.dumps({"type": "resume", "after_seq": hello.get("last_seq", 0)}))
        return screen, hello

    def send_text(self, text: str) -> None:
        """One masked text frame (clients must mask, RFC 6455 5.3); tiny, so one send()."""
        payload, mask = text.encode(), os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.send(bytes((0x81, 0x80 | len(payload))) + mask + masked)

    def readable(self) -> None:
        """Read what is there (with its kernel timestamp) and parse the complete frames."""
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(TIMESPEC.size))
            except BlockingIOError:
                return
            if not data:
                return
            kernel = 0.0
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, ns = TIMESPEC.unpack(value[: TIMESPEC.size])
                    kernel = sec + ns / 1e9
            self.buf += data
            self.parse(kernel, time.time())

    def parse(self, kernel: float, now: float) -> None:
        buf = self.buf
        while len(buf) >= 2:
            n, at = buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, at = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < at + n:
                break
            if buf[0] & 0x0F == 1:
                self.frames.append((kernel, now, buf[at : at + n].decode()))
            buf = buf[at + n :]
        self.buf = buf


def _raw_worker(
    conn: multiprocessing.connection.Connection, screens: list[tuple[int, int, str]], expected: int, _c: int
) -> None:
    raise_nofile(len(screens) * 2 + 256)
    asyncio.run(_raw_worker_main(conn, screens, expected))


async def _raw_worker_main(
    conn: multiprocessing.connection.Connection, screens: list[tuple[int, int, str]], expected: int
) -> None:
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    held: dict[int, RawScreen] = {}
    hello_seq: dict[int, int] = {}
    sem = asyncio.Semaphore(50)

    async def connect(idx: int, url: str) -> None:
        async with sem:
            try:
                held[idx], hello = await RawScreen.connect(url)
                hello_seq[idx] = hello.get("last_seq", -1)
            except Exception as exc:  # reported to the parent
                errors.append(f"screen {idx}: {exc!r}")

    await asyncio.gather(*(connect(idx, url) for idx, _, url in screens))
    for screen in held.values():
        screen.frames.clear()  # caught_up (and anything before the first read)
        loop.add_reader(screen.sock.fileno(), screen.readable)
    conn.send(("ready", len(held), errors[:5], len(errors)))
    complete = False
    while True:
        try:
            await arecv(conn, 0.05)  # "stop"
            break
        except TimeoutError:
            pass
        if not complete and expected:
            n = sum(1 for s in held.values() for _, _, text in s.frames if '"finisher"' in text)
            if n >= expected:
                complete = True
                conn.send(("complete", time.time()))
    got: dict[int, list[tuple[int, float, str]]] = {}
    app: dict[int, list[tuple[int, float, str]]] = {}
    other: dict[int, dict[str, int]] = {}
    for idx, screen in held.items():
        loop.remove_reader(screen.sock.fileno())
        screen.sock.close()
        got[idx], app[idx], other[idx] = [], [], {}
        for kernel, now, text in screen.frames:
            data = json.loads(text)
            kind = data.get("type")
            if kind == "finisher":
                got[idx].append((data["seq"], kernel, str(data.get("bib"))))
                app[idx].append((data["seq"], now, str(data.get("bib"))))
            else:
                other[idx][kind] = other[idx].get(kind, 0) + 1
    conn.send(("result", got, other, hello_seq, app))


class ScreenPool:
    """``workers`` processes holding ``screens`` [(screen index, session index, ws url)] between them."""

    def __init__(
        self,
        screens: list[tuple[int, int, str]],
        workers: int,
        expected: dict[int, int],
        compress: int = 0,
        raw: bool = False,
    ) -> None:
        """``compress=15`` offers permessage-deflate like a browser does; ``raw``: ``RawScreen``s
        (kernel receive timestamps; their receipt in the worker's loop is in ``self.app``)."""
        self.app: dict[int, list[tuple[int, float, str]]] = {}
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.procs: list[Any] = []
        for w in range(workers):
            share = screens[w::workers]
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_raw_worker if raw else _worker,
                args=(child, share, sum(expected[s] for _, s, _ in share), compress),
                daemon=True,
            )
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)
        self.connected = 0
        self.errors: list[str] = []

    async def ready(self, timeout: float = 300) -> int:
        for p in self.pipes:
            _, n, errs, n_errs = await arecv(p, timeout)
            self.connected += n
            if n_errs:
                self.errors += [*errs, f"... {n_errs} connect errors in one worker"]
        return self.connected

    async def complete(self, timeout: float) -> float | None:
        """Wait until every worker has seen all its finishers; the last arrival time or None."""
        last = 0.0
        try:
            for p in self.pipes:
                msg = await arecv(p, max(0.01, timeout))
                last = max(last, msg[1])
        except TimeoutError:
            return None
        return last

    async def results(
        self,
    ) -> tuple[dict[int, list[tuple[int, float, str]]], dict[int, dict[str, int]], dict[int, int]]:
        got: dict[int, list[tuple[int, float, str]]] = {}
        other: dict[int, dict[str, int]] = {}
        hello: dict[int, int] = {}
        for p in self.pipes:
            p.send("stop")
        for p in self.pipes:
            while True:
                msg = await arecv(p, 120)
                if msg[0] == "result":
                    break
            got.update(msg[1])
            other.update(msg[2])
            hello.update(msg[3])
            if len(msg) > 4:
                self.app.update(msg[4])
        for proc in self.procs:
            proc.join(10)
        return got, other, hello


def check(
    got: dict[int, list[tuple[int, float, str]]],
    screens: list[tuple[int, int, str]],
    sent: dict[int, list[tuple[float, str]]],
) -> dict[str, Any]:
    """Per screen: exactly seqs 1..n of its session, in order, each with its read's bib.
    ``sent[session]`` = [(sent_at, bib)] indexed by seq - 1."""
    latencies: list[float] = []
    delivered = expected = bad_screens = dup = missing = disorder = foreign = 0
    for idx, session, _ in screens:
        want = sent.get(session, [])
        expected += len(want)
        rows = got.get(idx, [])
        seqs = [s for s, _, _ in rows]
        ok = seqs == list(range(1, len(want) + 1))
        seen: set[int] = set()
        for pos, (seq, t, bib) in enumerate(rows):
            if seq in seen:
                dup += 1
                continue
            seen.add(seq)
            if not 1 <= seq <= len(want) or want[seq - 1][1] != bib:
                foreign += 1
                ok = False
                continue
            if pos and rows[pos - 1][0] >= seq:
                disorder += 1
            delivered += 1
            latencies.append((t - want[seq - 1][0]) * 1000)
        missing += len(want) - len(seen & set(range(1, len(want) + 1)))
        bad_screens += not ok
    return {
        "delivered": delivered,
        "expected": expected,
        "bad_screens": bad_screens,
        "duplicates": dup,
        "missing": missing,
        "out_of_order": disorder,
        "foreign": foreign,
        "latencies": latencies,
        "last_arrival": max((t for rows in got.values() for _, t, _ in rows), default=0.0),
    }


# --- the benchmark -----------------------------------------------------------------------------


def spread(got: dict[int, list[tuple[int, float, str]]]) -> dict[str, list[float]]:
    """Per finisher (seq): last minus first screen's receipt (ms), and every screen's receipt
    after the first screen's (ms)."""
    by_seq: dict[int, list[float]] = {}
    for rows in got.values():
        for seq, t, _ in rows:
            by_seq.setdefault(seq, []).append(t)
    spreads: list[float] = []
    offsets: list[float] = []
    for times in by_seq.values():
        first = min(times)
        spreads.append((max(times) - first) * 1000)
        offsets += [(t - first) * 1000 for t in times]
    return {"spreads": spreads, "offsets": offsets}


async def run(
    sessions: int, screens: int, reads: int, rate: float, workers: int, compress: int, raw: bool = False
) -> dict[str, Any]:
    raise_nofile(screens + sessions + 1024)
    tz = local_timezone()
    with tempfile.TemporaryDirectory(prefix="rc-bench-") as tmp:
        caps = {"max_screens_per_session": screens, "max_screens_per_address": screens}
        (Path(tmp) / "settings.json").write_text(json.dumps(caps))
        return await _run(Path(tmp), sessions, screens, reads, rate, workers, compress, tz, raw)


async def _run(
    data: Path,
    sessions: int,
    screens: int,
    reads: int,
    rate: float,
    workers: int,
    compress: int,
    tz: str,
    raw: bool,
) -> dict[str, Any]:
    async with served(data) as info, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        api = BenchApi(http, info)
        pid = int(info["pid"])
        r: dict[str, Any] = {"mem_idle": memory_kib(pid)}
        race = await build_race(api, info, sessions, reads, "screens")
        layout = [(i, i % sessions, race.ws_url(i % sessions)) for i in range(screens)]
        per_session = [len(range(s, reads, sessions)) for s in range(sessions)]
        pool = ScreenPool(layout, workers, dict(enumerate(per_session)), compress, raw)
        t0 = time.perf_counter()
        r["connected"] = await pool.ready()
        r["connect_s"] = time.perf_counter() - t0
        r["connect_errors"] = pool.errors
        await asyncio.sleep(1.0)
        r["mem_connected"] = memory_kib(pid)

        sent: dict[int, list[tuple[float, str]]] = {s: [] for s in range(sessions)}
        interval = 1.0 / rate
        start = time.perf_counter()
        for n in range(reads):
            s = n % sessions
            seq = len(sent[s]) + 1
            bib = n + 1
            line = read_line(seq, bib, tz)
            sent[s].append((time.time(), str(bib)))
            race.clients[s].writer.write(line)
            delay = start + (n + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        r["send_s"] = time.perf_counter() - start
        r["all_complete"] = await pool.complete(timeout=60) is not None
        await asyncio.sleep(1.0)  # grace: anything sent twice would arrive now
        r["mem_end"] = memory_kib(pid)
        got, other, hello = await pool.results()
        r.update(check(got, layout, sent))
        r.update(spread(got))
        if pool.app:  # raw screens: `got` has kernel receive times, `app` the workers' receipt
            app = spread(pool.app)
            r["app_spreads"], r["app_offsets"] = app["spreads"], app["offsets"]
        r["other_types"] = dict(sum((Counter(o) for o in other.values()), Counter()))
        r["hello_last_seq"] = sorted(set(hello.values()))
        await race.close()
        r["log_warnings"] = server_warnings(info)
        r["stderr"] = (Path(info["data_dir"]) / "stderr.log").read_text("utf-8", "replace")[-2000:]
    return r


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=1, help="display sessions (one CTP01 stream each)")
    p.add_argument(
        "--screens",
        type=int,
        help=f"screens in total, spread over the sessions (default {TARGET_SCREENS:,}; {SPREAD_SCREENS:,} with --spread)",
    )
    p.add_argument("--reads", type=int, help="reads in total, round-robin over the streams (default 50)")
    p.add_argument("--rate", type=float, help="reads per second in total (default 5)")
    p.add_argument("--workers", type=int, default=4, help="client processes holding the screens")
    p.add_argument(
        "--spread",
        action="store_true",
        help="report each finisher's first-to-last screen spread (defaults: 20 reads at 2/s)",
    )
    p.add_argument(
        "--compress",
        action="store_true",
        help="screens offer permessage-deflate, as browsers do (the server then deflates per screen)",
    )
    a = p.parse_args(argv)
    a.screens = a.screens or (SPREAD_SCREENS if a.spread else TARGET_SCREENS)
    a.reads = a.reads or (20 if a.spread else 50)
    a.rate = a.rate or (2.0 if a.spread else 5.0)
    if a.spread and a.compress:
        p.error("--spread screens are raw sockets without permessage-deflate: leave out --compress")
    r = asyncio.run(run(a.sessions, a.screens, a.reads, a.rate, a.workers, 15 if a.compress else 0, a.spread))
    lat = r["latencies"]
    print(
        f"concurrent screens: {a.sessions} session(s) x {a.screens // a.sessions} screens "
        f"({r['connected']}/{a.screens} connected in {r['connect_s']:.1f} s by {a.workers} client processes), "
        f"{a.reads} reads at {a.rate:g}/s{', permessage-deflate' if a.compress else ''}"
    )
    need = SPREAD_SCREENS if a.spread else TARGET_SCREENS  # what the run's own target is at
    ok = r["connected"] >= need and r["delivered"] == r["expected"] and not r["bad_screens"]
    print(
        f"  delivered {r['delivered']}/{r['expected']} finisher messages; screens with a wrong sequence "
        f"{r['bad_screens']}, duplicates {r['duplicates']}, missing {r['missing']}, out of order "
        f"{r['out_of_order']}, foreign {r['foreign']}  (target >= {need} screens, every "
        f"finisher delivered)  {'OK' if ok else 'MISSED'}"
    )
    print(
        f"  read -> screen latency p50 {percentile(lat, 0.5):.1f} ms, p95 {percentile(lat, 0.95):.1f} ms, "
        f"p99 {percentile(lat, 0.99):.1f} ms, max {max(lat, default=float('nan')):.1f} ms"
    )
    sp, off = r["spreads"], r["offsets"]
    target = ""
    if a.spread:
        met = percentile(sp, 0.99) < 20
        target = f" (target p99 < 20 ms at 1,000 screens of one session)  {'OK' if met else 'MISSED'}"
    print(
        f"  first -> last screen spread per finisher: p50 {percentile(sp, 0.5):.1f} ms, "
        f"p99 {percentile(sp, 0.99):.1f} ms, max {max(sp, default=float('nan')):.1f} ms "
        f"{target}; "
        f"screen after the first: p50 {percentile(off, 0.5):.1f} ms, p99 {percentile(off, 0.99):.1f} ms"
        + (" (kernel receive timestamps)" if "app_spreads" in r else "")
    )
    if "app_spreads" in r:
        sp, off = r["app_spreads"], r["app_offsets"]
        print(
            f"  the same as the client processes' loops saw it (their own scheduling on these cores "
            f"included): spread p50 {percentile(sp, 0.5):.1f} ms, p99 {percentile(sp, 0.99):.1f} ms; "
            f"screen after the first p50 {percentile(off, 0.5):.1f} ms, p99 {percentile(off, 0.99):.1f} ms"
        )
    m0, m1, m2 = r["mem_idle"], r["mem_connected"], r["mem_end"]
    print(
        f"  {rss_report(m0, 'with screens', m1, 'after the stream', m2)}; "
        f"~{(m1['VmRSS'] - m0['VmRSS']) / max(1, r['connected']):.0f} KiB per screen"
    )
    print(f"  other messages seen by screens: {r['other_types']}; hello last_seq {r['hello_last_seq']}")
    print_problems(r)
    return [
        at_least("screens", "screens connected", r["connected"], "screens", need),
        holds(
            "screens",
            "every finisher on every screen, in order",
            r["delivered"] == r["expected"] and not r["bad_screens"],
            r["delivered"],
            "messages",
        ),
        info("screens", "read -> last screen p99", percentile(lat, 0.99), "ms"),
        info("screens", "server RSS with screens", m1["VmRSS"] / 1024, "MiB"),
    ]


if __name__ == "__main__":
    bench()
