"""Concurrent isolated display sessions: 1,000 sessions, each bound to its own CTP01 stream.

Run: ``python -m bench.sessions`` (defaults = the docs/benchmarks.md target: 1,000 display sessions, 1,000
CTP01 connections, one screen per session).  The server runs as its own process; the screens are
held by ``--workers`` client processes (see ``bench.screens``).

Setup is timed phase by phase through the public API: create the sessions (``POST
/api/sessions``, 32 in flight), connect and handshake the CTP01 clients, bind each stream to its
session (``POST /api/sessions/{id}/timing``), connect the screens.  Then every stream sends one
read (stream i, seq 1, bib i+1), all 1,000 in one burst.  Each screen must receive exactly one
finisher, its own (seq 1, its bib), and no finisher of any other session.  Delivery time runs from
the first read written to the last screen receiving its finisher.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

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
from bench.screens import (
    ScreenPool,
    build_race,
    check,
    raise_nofile,
    read_line,
)
from race_control.config import local_timezone

TARGET_SESSIONS = 1000  # the product's target for isolated display sessions (>= 1,000)


async def run(sessions: int, workers: int) -> dict[str, Any]:
    raise_nofile(sessions * 3 + 1024)
    tz = local_timezone()
    async with served() as info, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        api = BenchApi(http, info)
        pid = int(info["pid"])
        r: dict[str, Any] = {"mem_idle": memory_kib(pid)}
        race = await build_race(api, info, sessions, sessions, "iso")
        r["setup"] = dict(race.timings)
        layout = [(i, i, race.ws_url(i)) for i in range(sessions)]
        pool = ScreenPool(layout, workers, dict.fromkeys(range(sessions), 1))
        t0 = time.perf_counter()
        r["connected"] = await pool.ready()
        r["setup"]["screens"] = time.perf_counter() - t0
        r["connect_errors"] = pool.errors
        await asyncio.sleep(0.5)
        r["mem_ready"] = memory_kib(pid)

        sent: dict[int, list[tuple[float, str]]] = {}
        for i, client in enumerate(race.clients):
            line = read_line(1, i + 1, tz)
            sent[i] = [(time.time(), str(i + 1))]
            client.writer.write(line)
        first = min(t for rows in sent.values() for t, _ in rows)
        r["all_complete"] = await pool.complete(timeout=60) is not None
        await asyncio.sleep(1.0)  # grace: a finisher shown twice or on a foreign screen would arrive now
        r["mem_end"] = memory_kib(pid)
        got, other, _ = await pool.results()
        r.update(check(got, layout, sent))
        r["delivery_s"] = r["last_arrival"] - first
        r["other_types"] = sorted({k for o in other.values() for k in o})
        await race.close()
        r["log_warnings"] = server_warnings(info)
    return r


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=TARGET_SESSIONS)
    p.add_argument("--workers", type=int, default=2, help="client processes holding the screens")
    a = p.parse_args(argv)
    r = asyncio.run(run(a.sessions, a.workers))
    s = r["setup"]
    lat = r["latencies"]
    print(
        f"isolated display sessions: {a.sessions} sessions x 1 CTP01 stream x 1 screen ({r['connected']} connected)"
    )
    print(
        f"  setup {sum(s.values()) - s['event+roster']:.1f} s: create sessions {s['sessions']:.1f} s, "
        f"CTP01 connect+handshake {s['ctp01']:.1f} s, bind {s['bind']:.1f} s, screens {s['screens']:.1f} s "
        f"(event + {a.sessions}-runner roster {s['event+roster']:.2f} s, not counted)"
    )
    ok = (
        r["connected"] >= TARGET_SESSIONS
        and r["delivered"] == r["expected"]
        and not (r["bad_screens"] or r["foreign"] or r["duplicates"])
    )
    print(
        f"  one read per stream in one burst: {r['delivered']}/{r['expected']} screens got exactly their own "
        f"finisher; wrong screens {r['bad_screens']}, foreign finishers {r['foreign']}, duplicates "
        f"{r['duplicates']}, missing {r['missing']}  (target >= {TARGET_SESSIONS} isolated sessions)  "
        f"{'OK' if ok else 'MISSED'}"
    )
    print(
        f"  delivery: all {r['expected']} finishers on their screens {r['delivery_s'] * 1000:.0f} ms after the "
        f"first read; per read p50 {percentile(lat, 0.5):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms, "
        f"max {max(lat, default=float('nan')):.1f} ms"
    )
    m0, m1, m2 = r["mem_idle"], r["mem_ready"], r["mem_end"]
    print(f"  {rss_report(m0, f'with {a.sessions} sessions+streams+screens', m1, 'after delivery', m2)}")
    print(f"  other message types seen by screens: {r['other_types']}")
    print_problems(r)
    return [
        at_least("sessions", "isolated sessions", r["connected"], "sessions", TARGET_SESSIONS),
        holds(
            "sessions",
            "each screen exactly its own finisher",
            r["delivered"] == r["expected"] and not (r["bad_screens"] or r["foreign"] or r["duplicates"]),
            r["delivered"],
            "screens",
        ),
        info("sessions", "burst delivered to all", r["delivery_s"] * 1000, "ms"),
    ]


if __name__ == "__main__":
    bench()
