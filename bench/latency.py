"""Read → WebSocket latency: N sessions x M screens, paced reads over real CTP01 sockets.

Run: ``python -m bench.latency`` (defaults = the docs/benchmarks.md target setup: 20 sessions x 10
screens at 200 reads/s in total).  The server runs as its own process (`race-control serve`),
so the measuring client does not share its loop.  Latency is measured from the moment the
read's line is written to the CTP01 socket to the moment each screen receives its finisher.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import time

import aiohttp

from bench._server import BenchApi, percentile, served
from tests.helpers.ctp01_peer import RawCtp01Client

TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0


async def run(sessions: int, screens: int, rate: float, duration: float) -> dict[str, float]:
    # limit=0: every screen holds a connection; the default pool (100) would block screen 101
    async with served() as info, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        api = BenchApi(http, info)
        event = await api.post("/api/events", {"name": "Latency bench", "date": "2026-06-01"})
        total_reads = int(rate * duration)
        await api.post(
            f"/api/events/{event['id']}/participants",
            [{"bib": str(b), "first_name": "Runner", "last_name": str(b)} for b in range(1, total_reads + 1)],
        )
        clients = []
        sent_at: dict[tuple[int, int], float] = {}
        latencies: list[float] = []
        received = 0
        sockets = []
        for i in range(sessions):
            session = await api.post("/api/sessions", {"event_id": event["id"], "mode": "results"})
            client = await RawCtp01Client.connect(info["timing_port"])
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
        for t in tasks:
            t.cancel()
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--screens", type=int, default=10, help="screens per session")
    p.add_argument("--rate", type=float, default=200.0, help="reads per second in total")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of paced reads")
    a = p.parse_args()
    r = asyncio.run(run(a.sessions, a.screens, a.rate, a.duration))
    print(
        f"read -> WebSocket latency, {a.sessions} sessions x {a.screens} screens, {a.rate:g} reads/s, "
        f"{r['reads']} reads, {r['messages']}/{r['expected']} finisher messages delivered"
    )
    ok50 = "OK" if r["p50"] < TARGET_P50_MS else "MISSED"
    ok99 = "OK" if r["p99"] < TARGET_P99_MS else "MISSED"
    print(f"  p50 {r['p50']:.2f} ms  (target < {TARGET_P50_MS} ms)  {ok50}")
    print(f"  p95 {r['p95']:.2f} ms")
    print(f"  p99 {r['p99']:.2f} ms  (target < {TARGET_P99_MS} ms)  {ok99}")
    print(f"  max {r['max']:.2f} ms")


if __name__ == "__main__":
    main()
