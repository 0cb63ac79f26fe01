"""Sustained durable ingest: CT01_33 reads over CTP01 into `race-control serve`, until stored.

Run: ``python -m bench.ingest`` (defaults: 200,000 reads over 4 CTP01 connections, no display
session bound).  The server runs as its own process.  Each connection does the SimpleClient
handshake, then pushes pre-rendered ``CT01_33`` lines as fast as the socket takes them.  The
clock runs from the first data byte until ``select count(*) from reads`` in the server's SQLite
file (read from this process, WAL) equals the number of reads sent: a read counts only once it
is committed.  After SIGTERM the count is checked again in the closed database file.

``--sessions N`` binds N display sessions (each to every stream, results mode) so the crossing
engine and the display-event writes are part of the measured path.

While the reads stream in, a prober (``bench/_probe.py``, its own thread and loop) asks
``GET /api/health`` every 10 ms: its p99 and worst wait, and the longest gap between answers,
are the loop's stalls under full-speed ingest (issue #13: p99 < 50 ms).

``--in-process`` measures without sockets or a server process, stage by stage:
``Ctp01Server.receive_data`` (framing + parsing), ``TimingService.accept`` + ``raw_line`` →
``IngestPipeline`` → SQLite, and both together.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from bench._probe import Prober
from bench._server import BenchApi, memory_kib, percentile, served
from bench.figures import Figure, at_least, below, holds, info
from race_control.config import local_timezone
from tests.helpers.ctp01_peer import RawCtp01Client

TARGET = 50_000  # reads/s, durable, one process, 20 sessions bound: the target in docs/benchmarks.md
HEALTH_P99_MS = 50.0  # /api/health while the reads stream in (issue #13)
CHUNK = 64 * 1024


def now_cs(tz: str) -> int:
    """Hundredths of a second since midnight, now, in ``tz`` (what a correctly set controller
    clock would send; times far from now make the server warn on every read)."""
    t = dt.datetime.now(ZoneInfo(tz))
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 100 + t.microsecond // 10_000


def render_lines(conn: int, count: int, start_cs: int, location: str = "finish") -> bytes:
    """``count`` CT01_33 lines for one connection: seq 1..count, bibs cycling, 10 reads per
    hundredth of a second from ``start_cs`` (hundredths since midnight)."""
    start_cs = min(start_cs, 24 * 360_000 - count // 10 - 1)  # never past midnight
    out = []
    for seq in range(1, count + 1):
        cs = start_cs + seq // 10
        hh, rest = divmod(cs, 360_000)
        mm, rest = divmod(rest, 6_000)
        ss, hs = divmod(rest, 100)
        bib = (seq * 7 + conn) % 20_000 + 1
        out.append(
            f"CT01_33~{seq}~{location}~{bib}~{hh:02d}:{mm:02d}:{ss:02d}.{hs:02d}~0~0FA22E~{conn % 8 + 1}\r\n"
        )
    return "".join(out).encode()


def db_count(path: Path, kind: str | None = "tag") -> int:
    """Committed rows in ``reads`` (only ``kind`` rows unless None), read from another process."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        if kind is None:
            return int(db.execute("select count(*) from reads").fetchone()[0])
        return int(db.execute("select count(*) from reads where kind = ?", (kind,)).fetchone()[0])
    finally:
        db.close()


# --- over the wire -----------------------------------------------------------------------------


async def run_served(total: int, conns: int, sessions: int) -> dict[str, Any]:
    per = total // conns
    total = per * conns
    start_cs = now_cs(local_timezone())  # `serve` reads times in the machine's zone
    payloads = [render_lines(i, per, start_cs) for i in range(conns)]
    result: dict[str, Any] = {"reads": total, "conns": conns, "sessions": sessions}
    with tempfile.TemporaryDirectory(prefix="rc-bench-") as tmp:
        db_path = Path(tmp) / "race-control.sqlite3"
        async with served(Path(tmp)) as info, aiohttp.ClientSession() as http:
            await _drive(info, http, payloads, total, sessions, db_path, result)
        # the server has stopped (SIGTERM, clean shutdown): count what is on disk
        result["committed_final"] = db_count(db_path)
    return result


async def _drive(
    info: dict[str, Any],
    http: aiohttp.ClientSession,
    payloads: list[bytes],
    total: int,
    sessions: int,
    db_path: Path,
    result: dict[str, Any],
) -> None:
    api = BenchApi(http, info)
    pid = int(info["pid"])
    clients = []
    for i in range(len(payloads)):
        c = await RawCtp01Client.connect(info["timing_port"])
        await c.handshake(f"ingest-{i}")
        clients.append(c)
    while len(await api.get("/api/timing/sessions")) < len(payloads):
        await asyncio.sleep(0.02)
    if sessions:
        event = await api.post("/api/events", {"name": "Ingest bench", "date": "2026-06-01"})
        streams = await api.get("/api/timing/sessions")
        for _ in range(sessions):
            s = await api.post("/api/sessions", {"event_id": event["id"], "mode": "results"})
            for st in streams:
                await api.post(f"/api/sessions/{s['id']}/timing", {"timing_session_id": st["id"]})
    result["rss_idle_kib"] = memory_kib(pid)["VmHWM"]

    async def push(c: RawCtp01Client, data: bytes) -> None:
        view = memoryview(data)
        for off in range(0, len(view), CHUNK):
            c.writer.write(view[off : off + CHUNK])
            await c.writer.drain()

    prober = Prober(info["base"], info["token"])
    prober.start()
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    senders = asyncio.gather(*(push(c, d) for c, d in zip(clients, payloads, strict=True)))
    accepted_at = sent_at = None
    committed = 0
    deadline = start + max(120.0, total / 500)  # (20 sessions store ~2,000 reads/s)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
        if sent_at is None and senders.done():
            sent_at = time.perf_counter()
        if accepted_at is None:
            streams = await api.get("/api/timing/sessions")
            if sum(st["reads"] for st in streams) >= total:
                accepted_at = time.perf_counter()
        committed = db_count(db_path)
        if committed >= total:
            break
    end = time.perf_counter()
    prober.stop()
    asked = prober.waits(start, end)
    waits = [w for _, w in asked]
    result["health_answers"] = len(waits)
    result["health_p99_ms"] = percentile(waits, 0.99) * 1000  # (NaN when none came)
    result["health_max_ms"] = max(waits, default=float("nan")) * 1000
    result["health_gap_ms"] = Prober.worst_gap(prober.health, start, end) * 1000
    slow = sorted(asked, key=lambda a: -a[1])[:5]
    result["health_slowest"] = ", ".join(f"{w * 1000:.0f} ms at {at - start:.1f} s" for at, w in slow)
    await senders
    result["committed_live"] = committed
    result["elapsed"] = end - start
    result["sent"] = (sent_at or end) - start
    result["accepted"] = (accepted_at or end) - start
    result["rss_peak_kib"] = memory_kib(pid)["VmHWM"]
    health = await api.get("/api/health")
    result["store_failures"] = health.get("store_failures")
    for c in clients:
        await c.close()


# --- in process --------------------------------------------------------------------------------


async def run_in_process(total: int, conns: int, sessions: int) -> dict[str, Any]:
    from race_control.roster.service import EventService
    from race_control.sessions.read_consumer import SessionReadConsumer
    from race_control.sessions.service import SessionService
    from race_control.store.database import Store
    from race_control.store.unit_of_work import UnitOfWork
    from race_control.timing.ingest.pipeline import IngestPipeline
    from race_control.timing.ingest.streams import TimingService
    from race_control.timing.protocols.ctp01_server import Ctp01Server
    from race_control.timing.protocols.ctp01_settings import Ctp01Config
    from race_control.timing.protocols.events import RawLine, TagRead

    per = total // conns
    total = per * conns
    payloads = [render_lines(i, per, now_cs("UTC")) for i in range(conns)]
    out: dict[str, Any] = {"reads": total, "conns": conns, "sessions": sessions}

    # stage 1: framing + parsing (sans-IO server), fed in 64 KiB chunks like the socket does
    config = Ctp01Config(timezone="UTC", reference_date=dt.datetime.now(dt.UTC).date())
    parsed: list[list[Any]] = []
    t0 = time.perf_counter()
    for i, data in enumerate(payloads):
        proto = Ctp01Server(config, seed="x", now=0.0)
        proto.receive_data(
            b"SimpleClient~1.2.3~CTP01\r\nack~geteventinfo~B~1~B\r\nack~getlocations~finish\r\n"
            + f"ack~getconnectionid~ingest-{i}\r\n".encode(),
            0.0,
        )
        proto.begin_streaming({})
        events: list[Any] = []
        for off in range(0, len(data), CHUNK):
            events.extend(proto.receive_data(data[off : off + CHUNK], 1.0))
        parsed.append(events)
    out["parse"] = time.perf_counter() - t0
    reads = sum(isinstance(e, TagRead) for evs in parsed for e in evs)
    assert reads == total, (reads, total)

    with tempfile.TemporaryDirectory(prefix="rc-bench-") as tmp:
        store = Store(Path(tmp) / "race-control.sqlite3")
        store.migrate()
        events_svc = EventService(store, "UTC")
        await events_svc.load()
        sessions_svc = SessionService(store, events_svc)
        pipeline = IngestPipeline(store, SessionReadConsumer(sessions_svc))
        timing = TimingService(store, pipeline, timezone="UTC")
        pipeline.start()
        states = [await timing.attach("ctp01", f"ingest-{i}") for i in range(conns)]
        if sessions:
            event = await events_svc.create_event({"name": "Ingest bench", "date": "2026-06-01"})
            for _ in range(sessions):  # created with the streams bound, as the API's create does
                async with sessions_svc.lock:
                    uow = UnitOfWork(store)
                    body = {"event_id": event.id, "mode": "results"}
                    await sessions_svc.plan_create(uow, body, dict.fromkeys(st.id for st in states))
                    await uow.commit()

        # stage 2: accept + pipeline + commit; the events are handed over in socket-sized slices
        # round-robin across the connections, yielding to the loop between slices (as the
        # listener's consumer tasks do), so the flusher commits while reads keep arriving
        t0 = time.perf_counter()
        slices = [[evs[i : i + 1400] for i in range(0, len(evs), 1400)] for evs in parsed]
        for k in range(max(len(s) for s in slices)):
            for st, conn_slices in zip(states, slices, strict=True):
                if k >= len(conn_slices):
                    continue
                now = time.time()
                for ev in conn_slices[k]:
                    if isinstance(ev, RawLine):
                        timing.raw_line(st, ev.line, now)
                    elif isinstance(ev, TagRead):
                        timing.accept(st, ev, now)
            await asyncio.sleep(0)
        queued = time.perf_counter() - t0
        await pipeline.drain()
        out["pipeline"] = time.perf_counter() - t0
        out["queued"] = queued
        await pipeline.stop()
        store.close()
        out["committed_final"] = db_count(Path(tmp) / "race-control.sqlite3")
    return out


# --- main -------------------------------------------------------------------------------------


def verdict(rate: float) -> str:
    return "OK" if rate >= TARGET else "MISSED"


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reads", type=int, default=200_000, help="reads in total (default 200,000)")
    p.add_argument("--conns", type=int, default=4, help="CTP01 connections in parallel (default 4)")
    p.add_argument("--sessions", type=int, default=0, help="display sessions bound to every stream")
    p.add_argument("--in-process", action="store_true", help="pipeline + store alone, no sockets")
    a = p.parse_args(argv)
    if a.in_process:
        r = asyncio.run(run_in_process(a.reads, a.conns, a.sessions))
        n = r["reads"]
        print(f"in-process ingest, {n:,} reads from {a.conns} streams, {a.sessions} display session(s) bound")
        print(f"  parse (Ctp01Server.receive_data): {r['parse']:.2f} s = {n / r['parse']:,.0f} reads/s")
        print(
            f"  accept -> pipeline -> SQLite:     {r['pipeline']:.2f} s = {n / r['pipeline']:,.0f} reads/s"
            f"  (handing over took {r['queued']:.2f} s)"
        )
        both = r["parse"] + r["pipeline"]
        print(f"  both, serially:                   {both:.2f} s = {n / both:,.0f} reads/s")
        print(f"  stored: {r['committed_final']:,}/{n:,}")
        return [
            info("ingest", "in-process parse", n / r["parse"], "reads/s"),
            info("ingest", "in-process accept -> SQLite", n / r["pipeline"], "reads/s"),
            holds("ingest", "in-process: every read stored", r["committed_final"] == n, r["committed_final"]),
        ]
    r = asyncio.run(run_served(a.reads, a.conns, a.sessions))
    n = r["reads"]
    rate = n / r["elapsed"]
    print(
        f"durable ingest over CTP01, {n:,} reads on {a.conns} connections, "
        f"{a.sessions} display session(s) bound"
    )
    print(f"  {rate:,.0f} reads/s committed  (target >= {TARGET:,})  {verdict(rate)}")
    print(
        f"  all sent {r['sent']:.2f} s, all accepted {r['accepted']:.2f} s, "
        f"all committed {r['elapsed']:.2f} s after the first byte"
    )
    print(
        f"  reads in the DB: {r['committed_live']:,} live, {r['committed_final']} after the server stopped; "
        f"store failures {r['store_failures']}"
    )
    print(
        f"  server peak RSS (VmHWM) {r['rss_peak_kib'] / 1024:.0f} MiB "
        f"(before the reads: {r['rss_idle_kib'] / 1024:.0f} MiB)"
    )
    print(
        f"  GET /api/health every 10 ms while ingesting: {r['health_answers']} answers, p99 "
        f"{r['health_p99_ms']:.0f} ms (target < {HEALTH_P99_MS:.0f} ms), worst {r['health_max_ms']:.0f} ms, "
        f"longest gap between answers {r['health_gap_ms']:.0f} ms; slowest: {r['health_slowest']}"
    )
    label = f"durable ingest, {a.sessions} session(s) bound"
    return [
        at_least("ingest", label, rate, "reads/s", TARGET),
        below(
            "ingest",
            f"/api/health p99 while ingesting, {a.sessions} session(s)",
            r["health_p99_ms"],
            "ms",
            HEALTH_P99_MS,
        ),
        holds(
            "ingest",
            "every read in the DB after SIGTERM",
            r["committed_final"] == n,
            r["committed_final"],
            "reads",
        ),
        info("ingest", "server peak RSS", r["rss_peak_kib"] / 1024, "MiB"),
    ]


if __name__ == "__main__":
    bench()
