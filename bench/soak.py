"""Memory over a long race: a 10-hour race played compressed, the server's RSS every race minute.

Run: ``python -m bench.soak`` (defaults = issue #13's setup: 1,000,000 reads, 20 display sessions
bound to every stream, 200 screens, a 10-hour race played in 10 real minutes).  ``race-control
serve`` runs as its own process.  The reads are the real 2021 race's (``bench.storage.race_lines``:
the four controller folders repeated with shifted bibs until ``--reads``, its roster loaded, so
~120,000 runners at 1,000,000 reads), in time order, sent round-robin over ``--conns`` CTP01
connections at an even pace, each timed at the moment it is sent (so the server's far-from-now
clock check stays quiet).  The 20 sessions use the four setups of ``bench.storage`` (finish line
with START1 as start mat, 19K split, 9K split, finish with a 300 s window).  The screens are
spread evenly over the sessions and held by ``--workers`` client processes that read every
message (``hello``, ``resume`` as a page does, then everything).

Every race minute (``--duration`` / (``--race-hours`` x 60) real seconds) the server's VmRSS is
sampled from /proc; after the last read is stored, once more.  The figure is the growth from
the end of the warm-up (``--warmup``, 20 % of the race) to the end: target < 50 MiB (the issue:
no growth after warm-up).  Memory that grows with the runners of the race (a ranking holds
every finisher) shows up here as growth.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import multiprocessing.connection
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._server import BenchApi, memory_kib, served, server_warnings
from bench.figures import Figure, below, holds, info
from bench.ingest import db_count
from bench.screens import arecv, raise_nofile
from bench.storage import FOLDERS, SETUPS, TEST_TAGS, race_lines, roster
from tests.helpers.ctp01_peer import RawCtp01Client

TARGET_GROWTH_MIB = 50.0


def race_reads(total: int) -> tuple[list[tuple[str, str, str, str, str]], int, set[str]]:
    """(location, bib, lap, reader, gator) of the 2021 race repeated to ``total`` reads, in time
    order (guns included); the number of tag reads; the bibs."""
    lines, n, bibs = race_lines(total)
    out = []
    for ln in lines:
        p = ln.decode().rstrip("\r\n").split("~")
        out.append((p[2], p[3], p[5], p[6], p[7]))
    return out, n, bibs


def render(seq: int, read: tuple[str, str, str, str, str], now: dt.datetime) -> bytes:
    loc, bib, lap, reader, gator = read
    clock = f"{now:%H:%M:%S}.{now.microsecond // 10_000:02d}"
    return f"CT01_33~{seq}~{loc}~{bib}~{clock}~{lap}~{reader}~{gator}\r\n".encode()


# --- the screens, in client processes ----------------------------------------------------------


def _worker(conn: multiprocessing.connection.Connection, urls: list[str]) -> None:
    raise_nofile(len(urls) * 2 + 256)
    asyncio.run(_worker_main(conn, urls))


async def _worker_main(conn: multiprocessing.connection.Connection, urls: list[str]) -> None:
    counts = [0] * len(urls)
    closed = [False] * len(urls)
    errors: list[str] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sockets: list[tuple[int, aiohttp.ClientWebSocketResponse]] = []
        for i, url in enumerate(urls):
            try:
                ws = await http.ws_connect(url, max_msg_size=0)
                hello = await ws.receive_json()
                await ws.send_json({"type": "resume", "after_seq": hello.get("last_seq", 0)})
                sockets.append((i, ws))
            except Exception as exc:  # reported to the parent
                errors.append(f"screen {i}: {exc!r}")

        async def listen(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    counts[i] += 1
            closed[i] = True

        tasks = [asyncio.create_task(listen(i, ws)) for i, ws in sockets]
        conn.send(("ready", len(sockets), errors[:5]))
        await arecv(conn)  # "stop"
        for t in tasks:
            t.cancel()
        conn.send(("done", counts, sum(closed)))


class Screens:
    def __init__(self, urls: list[str], workers: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        for w in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, urls[w::workers]), daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    async def ready(self) -> tuple[int, list[str]]:
        n, errors = 0, []
        for p in self.pipes:
            _, k, errs = await arecv(p, 600)
            n += k
            errors += errs
        return n, errors

    async def stop(self) -> tuple[list[int], int]:
        counts: list[int] = []
        closed = 0
        for p in self.pipes:
            p.send("stop")
        for p in self.pipes:
            _, c, k = await arecv(p, 60)
            counts += c
            closed += k
        for proc in self.procs:
            proc.join(10)
        return counts, closed


# --- the race ----------------------------------------------------------------------------------


async def run(
    reads: int, sessions: int, screens: int, conns: int, workers: int, duration: float, hours: float
) -> dict[str, Any]:
    raise_nofile(screens * 2 + 1024)
    items, n, bibs = race_reads(reads)
    r: dict[str, Any] = {"reads": n, "lines": len(items)}
    with tempfile.TemporaryDirectory(prefix="rc-bench-soak-") as tmp:
        data = Path(tmp)
        connector = aiohttp.TCPConnector(limit=0)
        async with served(data) as info_, aiohttp.ClientSession(connector=connector) as http:
            api = BenchApi(http, info_)
            pid = int(info_["pid"])
            r["rss_start"] = memory_kib(pid)["VmRSS"]
            event = await api.post("/api/events", {"name": "Soak bench", "date": "2026-06-01"})
            runners = roster(bibs)
            for i in range(0, len(runners), 5000):
                await api.post(f"/api/events/{event['id']}/participants", runners[i : i + 5000])
            clients = []
            for i in range(conns):
                c = await RawCtp01Client.connect(info_["timing_port"])
                await c.handshake(f"soak-{i}", FOLDERS)
                clients.append(c)
            streams = [
                s for s in await api.get("/api/timing/sessions") if s["source_key"].startswith("soak-")
            ]
            ids, urls = [], []
            for i in range(sessions):
                name, rules = SETUPS[i % len(SETUPS)]
                s = await api.post(
                    "/api/sessions",
                    {
                        "event_id": event["id"],
                        "name": f"{name} {i + 1}",
                        "mode": "results",
                        "rules": {**rules, "ignore_tags": TEST_TAGS},
                    },
                )
                for st in streams:
                    await api.post(f"/api/sessions/{s['id']}/timing", {"timing_session_id": st["id"]})
                ids.append(s["id"])
                urls.append(s["display_url"].replace("http://", "ws://") + "/ws")
            pool = Screens([urls[k % sessions] for k in range(screens)], workers)
            r["connected"], r["connect_errors"] = await pool.ready()
            await asyncio.sleep(1.0)
            r["rss_ready"] = memory_kib(pid)["VmRSS"]

            minutes = max(1, round(hours * 60))
            per_minute = duration / minutes
            samples: list[tuple[int, int, int]] = []  # (race minute, reads sent, VmRSS KiB)
            seqs = [dict.fromkeys(FOLDERS, 0) | {"guntime": 0} for _ in clients]
            sent = 0
            start = time.perf_counter()
            next_minute = 1
            late = 0.0
            while sent < len(items) or next_minute <= minutes:
                now = time.perf_counter() - start
                due = min(len(items), int(len(items) * min(1.0, now / duration)))
                if due > sent:
                    t = dt.datetime.now(dt.UTC)
                    batch: list[list[bytes]] = [[] for _ in clients]
                    for k in range(sent, due):
                        c = k % len(clients)
                        loc = items[k][0]
                        seqs[c][loc] = seqs[c].get(loc, 0) + 1
                        batch[c].append(render(seqs[c][loc], items[k], t))
                    for c, lines in zip(clients, batch, strict=True):
                        if lines:
                            c.writer.write(b"".join(lines))
                    sent = due
                    await asyncio.gather(*(c.writer.drain() for c in clients))
                if now >= next_minute * per_minute:
                    late = max(late, now - next_minute * per_minute)
                    samples.append((next_minute, sent, memory_kib(pid)["VmRSS"]))
                    next_minute += 1
                await asyncio.sleep(0.02)
            r["send_s"] = time.perf_counter() - start
            r["late_s"] = late
            db = data / "race-control.sqlite3"
            t0 = time.perf_counter()
            while db_count(db, kind=None) < len(items) and time.perf_counter() - t0 < 600:
                await asyncio.sleep(0.5)
            r["drain_s"] = time.perf_counter() - t0
            r["stored"] = db_count(db, kind=None)
            await asyncio.sleep(2.0)  # the screens get the last finishers
            r["rss_end"] = memory_kib(pid)["VmRSS"]
            r["hwm"] = memory_kib(pid)["VmHWM"]
            counts, closed = await pool.stop()
            r["messages"] = counts
            r["closed"] = closed
            health = await api.get("/api/health")
            r["store_failures"] = health.get("store_failures")
            r["session_keys"] = sorted(await api.get(f"/api/sessions/{ids[0]}"))
            for c in clients:
                await c.close()
            r["log_warnings"] = server_warnings(info_)
    r["samples"] = samples
    return r


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reads", type=int, default=1_000_000, help="reads in the race (default 1,000,000)")
    p.add_argument("--sessions", type=int, default=20, help="display sessions bound to every stream")
    p.add_argument("--screens", type=int, default=200, help="screens, spread over the sessions")
    p.add_argument("--conns", type=int, default=2, help="CTP01 connections the reads are spread over")
    p.add_argument("--workers", type=int, default=2, help="client processes holding the screens")
    p.add_argument("--duration", type=float, default=600.0, help="real seconds the race is played in")
    p.add_argument("--race-hours", type=float, default=10.0, help="race hours it stands for")
    p.add_argument("--warmup", type=float, default=0.2, help="share of the race that is warm-up")
    a = p.parse_args(argv)
    r = asyncio.run(run(a.reads, a.sessions, a.screens, a.conns, a.workers, a.duration, a.race_hours))
    samples = r["samples"]
    mib = [kib / 1024 for _, _, kib in samples]
    print(
        f"soak: {r['reads']:,} reads ({r['lines']:,} lines with the guns) over {a.conns} CTP01 connections, "
        f"{a.sessions} sessions bound to every stream, {r['connected']}/{a.screens} screens; a "
        f"{a.race_hours:g}-hour race in {a.duration:g} s (sent in {r['send_s']:.0f} s, stored "
        f"{r['drain_s']:.1f} s later; a sample at most {r['late_s']:.2f} s late)"
    )
    print("  server VmRSS (MiB) every race minute:")
    for i in range(0, len(samples), 10):
        row = samples[i : i + 10]
        print(f"    min {row[0][0]:>4}: " + " ".join(f"{kib / 1024:6.0f}" for _, _, kib in row))
    warm_i = min(len(samples) - 1, max(0, int(len(samples) * a.warmup) - 1))
    warm = mib[warm_i]
    end = r["rss_end"] / 1024
    growth = end - warm
    pct = growth / warm * 100 if warm else float("nan")
    ok = growth < TARGET_GROWTH_MIB
    print(
        f"  idle {r['rss_start'] / 1024:.0f} MiB, with sessions + screens {r['rss_ready'] / 1024:.0f} MiB, "
        f"after warm-up (race minute {samples[warm_i][0]}, {samples[warm_i][1]:,} reads) {warm:.0f} MiB, "
        f"at the end {end:.0f} MiB, peak (VmHWM) {r['hwm'] / 1024:.0f} MiB"
    )
    print(
        f"  growth after warm-up: {growth:+.0f} MiB ({pct:+.0f} %)  (target < {TARGET_GROWTH_MIB:g} MiB)  "
        f"{'OK' if ok else 'MISSED'}"
    )
    msgs = r["messages"]
    print(
        f"  stored {r['stored']:,}/{r['lines']:,} rows, store failures {r['store_failures']}; screen messages "
        f"min {min(msgs, default=0):,} max {max(msgs, default=0):,} total {sum(msgs):,}; screens closed by "
        f"the server {r['closed']}"
    )
    if r["connect_errors"]:
        print(f"  connect errors: {r['connect_errors']}")
    if r["log_warnings"]:
        print(f"  server warnings ({len(r['log_warnings'])}): {r['log_warnings'][:3]}")
    return [
        below("soak", "RSS growth after warm-up", growth, "MiB", TARGET_GROWTH_MIB),
        info("soak", "RSS growth after warm-up", pct, "%"),
        info("soak", "RSS at the end", end, "MiB"),
        info("soak", f"reads sent in (paced for {a.duration:g} s)", r["send_s"], "s"),
        info("soak", "peak RSS (VmHWM)", r["hwm"] / 1024, "MiB"),
        holds("soak", "every read stored", r["stored"] >= r["lines"], r["stored"], "rows"),
        holds(
            "soak",
            "every screen connected and stayed open",
            r["connected"] == a.screens and len(msgs) == a.screens and not r["closed"],
            r["connected"],
            "screens",
        ),
        info("soak", "messages the screens read", sum(msgs), "messages"),
    ]


if __name__ == "__main__":
    bench()
