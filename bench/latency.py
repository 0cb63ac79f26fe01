"""Read → WebSocket latency: N sessions x M screens, paced reads over real CTP01 sockets.

Run: ``python -m bench.latency`` (defaults = the docs/benchmarks.md target setup: 20 sessions x 10
screens at 200 reads/s in total).  The server runs as its own process (`race-control serve`),
so the measuring client does not share its loop.  Latency is measured from the moment the
read's line is written to the CTP01 socket to the moment each screen receives its finisher.

In the same run, the same lines at the same pace go to the no-storage relay (``bench.relay``,
its own process: CTP01 in, WebSocket out, nothing stored) with the same screens; our p50 and
p99 are reported as ratios to the relay's (issue #13's target: p99 <= 1.5x the relay).
``--no-relay`` skips that reference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from bench._server import BenchApi, percentile, served
from bench.figures import Figure, below, holds, info
from tests.helpers.ctp01_peer import RawCtp01Client

TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_P99_VS_RELAY = 1.5  # ours / the no-storage relay, same run


async def race_control(
    http: aiohttp.ClientSession, info_: dict[str, Any], sessions: int, screens: int, total_reads: int
) -> tuple[list[RawCtp01Client], list[tuple[int, aiohttp.ClientWebSocketResponse]]]:
    """Sessions, CTP01 clients and screens on the `served()` server ``info_``."""
    api = BenchApi(http, info_)
    event = await api.post("/api/events", {"name": "Latency bench", "date": "2026-06-01"})
    await api.post(
        f"/api/events/{event['id']}/participants",
        [{"bib": str(b), "first_name": "Runner", "last_name": str(b)} for b in range(1, total_reads + 1)],
    )
    clients, sockets = [], []
    for i in range(sessions):
        session = await api.post("/api/sessions", {"event_id": event["id"], "mode": "results"})
        client = await RawCtp01Client.connect(info_["timing_port"])
        await client.handshake(f"bench-{i}")
        stream_id = None
        while stream_id is None:
            for st in await api.get("/api/timing/sessions"):
                if st["source_key"] == f"bench-{i}":
                    stream_id = st["id"]
        await api.post(f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream_id})
        clients.append(client)
        url = session["display_url"].replace("http://", "ws://") + "/ws"
        for _ in range(screens):
            ws = await http.ws_connect(url)
            hello = await ws.receive_json()
            await ws.send_json({"type": "resume", "after_seq": hello["last_seq"]})  # as a page does
            sockets.append((i, ws))
    return clients, sockets


@contextlib.asynccontextmanager
async def relay_process() -> AsyncIterator[tuple[int, int]]:
    """``python -m bench.relay`` in its own process; yields its (CTP01 port, HTTP port)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.relay", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if not line.startswith("relay "):
            raise RuntimeError(f"bench.relay did not start: {line!r}")
        ports = dict(kv.split("=") for kv in line.split()[1:])
        yield int(ports["ctp01"]), int(ports["http"])
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def relay_setup(
    http: aiohttp.ClientSession, ports: tuple[int, int], sessions: int, screens: int
) -> tuple[list[RawCtp01Client], list[tuple[int, aiohttp.ClientWebSocketResponse]]]:
    clients, sockets = [], []
    for i in range(sessions):
        client = await RawCtp01Client.connect(ports[0])
        await client.handshake(f"bench-{i}")
        clients.append(client)
        for _ in range(screens):
            ws = await http.ws_connect(f"ws://127.0.0.1:{ports[1]}/ws/bench-{i}")
            await ws.receive_json()  # hello
            sockets.append((i, ws))
    return clients, sockets


async def measure(
    clients: list[RawCtp01Client],
    sockets: list[tuple[int, aiohttp.ClientWebSocketResponse]],
    rate: float,
    total_reads: int,
) -> dict[str, float]:
    """Paced CT01_33 reads round-robin over ``clients``; every screen's finisher timed."""
    sessions = len(clients)
    screens = len(sockets) // max(1, sessions)
    sent_at: dict[tuple[int, int], float] = {}
    latencies: list[float] = []
    received = 0

    async def screen(idx: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal received
        async for msg in ws:
            now = time.time()
            if '"finisher"' not in msg.data:
                continue
            seq = int(msg.data.split('"seq":', 1)[1].split(",", 1)[0])
            latencies.append((now - sent_at[(idx, seq)]) * 1000)
            received += 1

    tasks = [asyncio.create_task(screen(i, ws)) for i, ws in sockets]
    interval = 1.0 / rate
    start = time.perf_counter()
    counters = [0] * sessions
    for n in range(total_reads):
        i = n % sessions
        counters[i] += 1
        seq = counters[i]
        # the read's time is now (the server runs in UTC here): its clock check stays quiet
        t = datetime.datetime.now(datetime.UTC)
        stamp = f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 10000:02d}"
        line = f"CT01_33~{seq}~finish~{n + 1}~{stamp}~0~0FA22E~1\r\n".encode()
        sent_at[(i, seq)] = time.time()
        clients[i].writer.write(line)
        delay = start + (n + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    expected = total_reads * screens
    deadline = time.perf_counter() + 30
    while received < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    for _, ws in sockets:
        await ws.close()
    for c in clients:
        await c.close()
    return {
        "reads": total_reads,
        "messages": received,
        "expected": expected,
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies) if latencies else float("nan"),
    }


async def run(sessions: int, screens: int, rate: float, duration: float) -> dict[str, float]:
    total_reads = int(rate * duration)
    # limit=0: every screen holds a connection; the default pool (100) would block screen 101
    async with served() as info_, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        clients, sockets = await race_control(http, info_, sessions, screens, total_reads)
        return await measure(clients, sockets, rate, total_reads)


async def run_relay(sessions: int, screens: int, rate: float, duration: float) -> dict[str, float]:
    total_reads = int(rate * duration)
    async with (
        relay_process() as ports,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
    ):
        clients, sockets = await relay_setup(http, ports, sessions, screens)
        return await measure(clients, sockets, rate, total_reads)


def figures(r: dict[str, Any], relay: dict[str, Any] | None) -> list[Figure]:
    out = [
        holds("latency", "finishers delivered", r["messages"] == r["expected"], r["messages"], "messages"),
        below("latency", "read -> screen p50", r["p50"], "ms", TARGET_P50_MS),
        below("latency", "read -> screen p99", r["p99"], "ms", TARGET_P99_MS),
    ]
    if relay is not None:
        out += [
            holds(
                "latency",
                "relay: finishers delivered",
                relay["messages"] == relay["expected"],
                relay["messages"],
            ),
            info("latency", "relay (no storage) p50", relay["p50"], "ms"),
            info("latency", "relay (no storage) p99", relay["p99"], "ms"),
            Figure("latency", "p50 ours / relay", r["p50"], "ms", "", None, r["p50"] / relay["p50"]),
            below(
                "latency",
                "p99 ours / relay",
                r["p99"],
                "ms",
                TARGET_P99_VS_RELAY,
                ratio=r["p99"] / relay["p99"],
            ),
        ]
    return out


def report(name: str, r: dict[str, float], targets: bool = True) -> None:
    ok50 = f"  (target < {TARGET_P50_MS} ms)  " + ("OK" if r["p50"] < TARGET_P50_MS else "MISSED")
    ok99 = f"  (target < {TARGET_P99_MS} ms)  " + ("OK" if r["p99"] < TARGET_P99_MS else "MISSED")
    print(f"  {name}: {r['messages']}/{r['expected']} finisher messages delivered")
    print(f"    p50 {r['p50']:.2f} ms{ok50 if targets else ''}")
    print(f"    p95 {r['p95']:.2f} ms")
    print(f"    p99 {r['p99']:.2f} ms{ok99 if targets else ''}")
    print(f"    max {r['max']:.2f} ms")


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--screens", type=int, default=10, help="screens per session")
    p.add_argument("--rate", type=float, default=200.0, help="reads per second in total")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of paced reads")
    p.add_argument("--no-relay", action="store_true", help="skip the no-storage relay reference")
    a = p.parse_args(argv)
    r = asyncio.run(run(a.sessions, a.screens, a.rate, a.duration))
    relay = None if a.no_relay else asyncio.run(run_relay(a.sessions, a.screens, a.rate, a.duration))
    print(
        f"read -> WebSocket latency, {a.sessions} sessions x {a.screens} screens, {a.rate:g} reads/s, "
        f"{r['reads']} reads"
    )
    report("race-control serve", r)
    if relay is not None:
        report("no-storage relay (bench.relay), same lines, same screens", relay, False)
        v = "OK" if r["p99"] / relay["p99"] <= TARGET_P99_VS_RELAY else "MISSED"
        print(
            f"  ours / relay: p50 {r['p50'] / relay['p50']:.2f}x, p99 {r['p99'] / relay['p99']:.2f}x "
            f"(target p99 <= {TARGET_P99_VS_RELAY:g}x)  {v}"
        )
    return figures(r, relay)


if __name__ == "__main__":
    bench()
