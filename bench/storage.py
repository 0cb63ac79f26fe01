"""Store size and the session queries as the race grows: bytes per read, analytics, suppressions.

Run: ``python -m bench.storage`` (defaults = the docs/benchmarks.md targets: 250,000 reads, once
with 1 display session bound and once with 20).  The race is the real 2021 one (the four
controller folders of ``tests/data/chronotrack-2021``: 22,829 reads + guns on one CTP01 stream),
repeated with shifted bibs (``+ 10,000 x k``) until it holds ``--reads`` reads: a race of ~27,000
runners at 250,000, each bib but one in fifty in the roster.  The store is built through the
app's own services in-process (the CTP01 parser, ``TimingService``, the ingest pipeline, the
sessions bound before the first read, so every decision is made and stored live; the build's
wall and CPU time are printed), then measured:

* bytes per read: the SQLite file (``page_count x page_size`` after a checkpoint) / reads, and
  per table and index (``dbstat``); target < 400 MB at 250,000 reads x 20 sessions;
* ``GET /api/sessions/{id}/analytics``' work (``analytics.session_analytics``), timed per call
  (wall and CPU of this process), p50 / max over ``--queries`` calls: target < 50 ms;
* suppressions of one bib (``SessionService.suppressions(session, bib)``): target < 10 ms.

The sessions: ``--sessions`` of them, round-robin over four setups a race uses (finish line
with START1 as start mat, 19K split, 9K split, finish line with a 300 s window), all ignoring
the ChronoTrack test tags.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import resource
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.figures import Figure, below, holds, info

ROOT = Path(__file__).resolve().parents[1]
RACE = ROOT / "tests" / "data" / "chronotrack-2021"
FOLDERS = ("START1", "FINISH1", "9K", "19K")
TEST_TAGS = ["99995", "99996", "99997", "99998"]
TARGET_MB = 400.0  # at 250,000 reads x 20 sessions
TARGET_READS = 250_000
ANALYTICS_MS = 50.0
SUPPRESSIONS_MS = 10.0
SETUPS = (
    ("Finish line", {"locations": ["FINISH1"], "start_locations": ["START1"]}),
    ("19K split", {"locations": ["19K"], "duplicate_window": 300}),
    ("9K split", {"locations": ["9K"]}),
    ("Finish (5 min)", {"locations": ["FINISH1"], "duplicate_window": 300}),
)


FIRST = ("Anna", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi")
LAST = ("Smith", "García", "Müller", "Nguyen", "O'Brien", "Rossi", "Kowalski", "Silva", "Okafor")


def roster(bibs: set[str]) -> list[dict[str, Any]]:
    """A runner for every bib of the race but one in fifty (those finish as "Bib N")."""
    out = []
    for bib in sorted(bibs, key=lambda b: (len(b), b)):
        n = int(bib) if bib.isdigit() else 0
        if n % 50 == 7:
            continue
        out.append(
            {
                "bib": bib,
                "first_name": FIRST[n % len(FIRST)],
                "last_name": LAST[n % len(LAST)],
                "age": 18 + n % 60,
                "gender": "FM"[n % 2],
                "city": ("Boston", "Lyon", "Leeds", "Graz", "Porto")[n % 5],
                "division": ("Open", "Masters", "Juniors")[n % 3],
            }
        )
    return out


def race_lines(total: int) -> tuple[list[bytes], int, set[str]]:
    """CT01_33 lines of the 2021 race repeated with shifted bibs until ``total`` reads (guns once),
    in time order, seq per location; the number of tag reads; the bibs (test tags left out)."""
    from race_control.timing.simulator.sources import load_play_items

    items, _errors = load_play_items([RACE / f for f in FOLDERS])
    tags = [it for it in items if not it.is_gun]
    timeline: list[tuple[dt.datetime, int, Any, str]] = [
        (it.when, 0, it, "guntime") for it in items if it.is_gun
    ]
    n = 0
    k = 0
    bibs: set[str] = set()
    while n < total:
        for it in tags:
            if n >= total:
                break
            bib = it.tag if it.tag in TEST_TAGS or not it.tag.isdigit() else str(int(it.tag) + 10_000 * k)
            timeline.append((it.when, k, it, bib))
            if bib not in TEST_TAGS:
                bibs.add(bib)
            n += 1
        k += 1
    timeline.sort(key=lambda x: (x[0], x[1]))
    seqs: dict[str, int] = {}
    lines = []
    for when, _k, it, bib in timeline:
        seq = seqs[it.location] = seqs.get(it.location, 0) + 1
        clock = f"{when:%H:%M:%S}.{when.microsecond // 10_000:02d}"
        lines.append(
            f"CT01_33~{seq}~{it.location}~{bib}~{clock}~{it.lap}~{it.reader_id or '0'}~{it.gator}\r\n".encode()
        )
    return lines, n, bibs


async def build(data_dir: Path, reads: int, sessions: int) -> dict[str, Any]:
    """The race into a fresh store in ``data_dir`` through the app's services; returns the app
    still running (the caller measures, then stops it)."""
    from bench._server import in_process_settings
    from race_control.app import RaceControl
    from race_control.timing.protocols.ctp01_server import Ctp01Server
    from race_control.timing.protocols.ctp01_settings import Ctp01Config
    from race_control.timing.protocols.events import RawLine, TagRead

    lines, n, bibs = race_lines(reads)
    rc = RaceControl(in_process_settings(data_dir))
    logging.getLogger("race_control").setLevel(logging.ERROR)  # the backlog alert while building
    services = await rc.start()
    event = await services.events.create_event({"name": "Run On The Mountain", "date": "2021-05-08"})
    runners = roster(bibs)
    for i in range(0, len(runners), 1000):
        await services.events.import_participants(event.id, runners[i : i + 1000], "csv")
    stream = await services.timing.attach("ctp01", "storage-bench")
    ids = []
    for i in range(sessions):
        name, rules = SETUPS[i % len(SETUPS)]
        r = await services.ops.sessions.create(
            {
                "event_id": event.id,
                "name": f"{name} {i + 1}",
                "mode": "results",
                "rules": {**rules, "ignore_tags": TEST_TAGS},
                "timing_session_ids": [stream.id],
            }
        )
        ids.append(r.session.id)
    config = Ctp01Config(timezone="UTC", reference_date=dt.date(2021, 5, 8))
    proto = Ctp01Server(config, seed="x", now=0.0)
    proto.receive_data(
        b"SimpleClient~1.2.3~CTP01\r\nack~geteventinfo~Mountain~1~B\r\nack~getlocations~"
        + "~".join(FOLDERS).encode()
        + b"\r\nack~getconnectionid~storage-bench\r\n",
        0.0,
    )
    proto.begin_streaming({})
    t0, c0 = time.perf_counter(), cpu()
    for i in range(0, len(lines), 1400):
        now = time.time()
        for ev in proto.receive_data(b"".join(lines[i : i + 1400]), 1.0):
            if isinstance(ev, RawLine):
                services.timing.raw_line(stream, ev.line, now)
            elif isinstance(ev, TagRead):
                services.timing.accept(stream, ev, now)
        await asyncio.sleep(0)
    await services.pipeline.drain()
    await asyncio.sleep(0.2)
    return {
        "rc": rc,
        "services": services,
        "sessions": ids,
        "reads": n,
        "runners": len(runners),
        "ingest_s": time.perf_counter() - t0,
        "ingest_cpu_s": cpu() - c0,
    }


def sizes(db_path: Path) -> tuple[int, dict[str, int]]:
    """The file's bytes (after a checkpoint) and the bytes of each table and index."""
    db = sqlite3.connect(db_path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        total = db.execute("PRAGMA page_count").fetchone()[0] * page_size
        per = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    finally:
        db.close()
    return total, per


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def timed(fn: Any, count: int) -> tuple[list[float], list[float], Any]:
    wall, cpus, last = [], [], None
    for _ in range(count):
        c0, t0 = cpu(), time.perf_counter()
        last = await fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpus.append((cpu() - c0) * 1000)
    return wall, cpus, last


async def measure(data_dir: Path, reads: int, sessions: int, queries: int) -> dict[str, Any]:
    from race_control.analytics import session_analytics

    built = await build(data_dir, reads, sessions)
    services, ids = built["services"], built["sessions"]
    out: dict[str, Any] = {k: built[k] for k in ("reads", "runners", "ingest_s", "ingest_cpu_s")} | {
        "sessions": sessions
    }
    try:
        sid = ids[0]
        out["analytics"] = await timed(lambda: session_analytics(services.sessions, sid, []), queries)
        some = await services.sessions.suppressions(sid, None, 1000)
        bibs = sorted({r["bib"] for r in some})[:queries] or ["1"]
        got: list[int] = []

        async def one_bib() -> Any:
            rows = await services.sessions.suppressions(sid, bibs[len(got) % len(bibs)], 1000)
            got.append(len(rows))
            return rows

        out["by_bib"] = await timed(one_bib, queries)
        out["by_bib_rows"] = sum(got)
    finally:
        await built["rc"].stop()
        logging.getLogger("race_control").setLevel(logging.NOTSET)
    out["file"], out["tables"] = sizes(data_dir / "race-control.sqlite3")
    return out


def report(r: dict[str, Any]) -> None:
    n, s = r["reads"], r["sessions"]
    print(
        f"store of {n:,} reads x {s} session(s), {r['runners']:,} runners: reads in {r['ingest_s']:.1f} s "
        f"({r['ingest_cpu_s']:.1f} s CPU, this process: parser, app, DB thread)"
    )
    print(f"  file {r['file'] / 1e6:,.1f} MB = {r['file'] / n:,.0f} bytes per read")
    for name, b in sorted(r["tables"].items(), key=lambda kv: -kv[1])[:12]:
        print(f"    {name:<40} {b / 1e6:9.1f} MB  {b / n:7.0f} B/read")
    for key, what in (("analytics", "analytics of one session"), ("by_bib", "suppressions of one bib")):
        wall, cpus, _ = r[key]
        print(
            f"  {what}: wall p50 {statistics.median(wall):.2f} ms, max {max(wall):.2f} ms; "
            f"CPU p50 {statistics.median(cpus):.2f} ms ({len(wall)} calls)"
        )


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reads", type=int, default=TARGET_READS, help="reads in the store (default 250,000)")
    p.add_argument("--sessions", default="1,20", help="session counts to build a store for (default 1,20)")
    p.add_argument("--queries", type=int, default=20, help="calls timed per query (default 20)")
    p.add_argument("--keep", metavar="DIR", help="build the stores in DIR and keep them")
    a = p.parse_args(argv)
    counts = [int(x) for x in a.sessions.split(",") if x.strip()]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    figures: list[Figure] = []
    for count in counts:
        if a.keep:
            d = Path(a.keep) / f"{a.reads}x{count}"
            d.mkdir(parents=True, exist_ok=True)
            r = asyncio.run(measure(d, a.reads, count, a.queries))
        else:
            with tempfile.TemporaryDirectory(prefix="rc-bench-storage-") as tmp:
                r = asyncio.run(measure(Path(tmp), a.reads, count, a.queries))
        report(r)
        n = r["reads"]
        at = f"{n // 1000}k x {count}"
        per_read = r["file"] / n
        if count == 20:  # the target: < 400 MB at 250k x 20, i.e. < 1,600 bytes per read
            figures.append(
                below("storage", f"store bytes per read, {at}", per_read, "B", TARGET_MB * 1e6 / TARGET_READS)
            )
        else:
            figures.append(info("storage", f"store bytes per read, {at}", per_read, "B"))
        figures.append(
            below("storage", f"analytics API, {at}", statistics.median(r["analytics"][0]), "ms", ANALYTICS_MS)
        )
        figures.append(
            below(
                "storage",
                f"suppressions of one bib, {at}",
                statistics.median(r["by_bib"][0]),
                "ms",
                SUPPRESSIONS_MS,
            )
        )
        figures.append(
            holds("storage", f"suppressions found by bib, {at}", r["by_bib_rows"] > 0, r["by_bib_rows"])
        )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return figures


if __name__ == "__main__":
    bench()
