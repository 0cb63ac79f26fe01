"""History exports at scale: a 250,000-read stream through ``GET .../export`` and back through
``POST /api/timing/recordings``.

Run: ``python -m bench.history_export [--reads 250000]``.  The stream's reads are written into a
fresh data dir's store first (two locations, as a finish and a start mat would give them); then
the app (``RaceControl``) starts on it in this process and a client on loopback downloads the
export while a ticker task on the same loop records the longest time the loop did not run (the
same ticker runs alone for as long first: the baseline of a loaded machine).  Then the recording
is posted back and the clock runs until every read is stored.  What it shows: the export is
streamed (the process's resident memory grows by a page's worth, not the stream's) and the loop keeps running while it is read.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import Connection, func, select

from bench.figures import Figure, info
from race_control.app import RaceControl
from race_control.config import Settings
from race_control.store.database import Store
from race_control.store.models import Read, TimingStream


def _fill(conn: Connection, reads: int) -> None:
    conn.execute(
        TimingStream.__table__.insert().values(
            id="bench-stream", protocol="ctp01", source_key="bench", locations=["FINISH", "START"],
            reference_date="2026-06-01", timezone="UTC", created_at=0.0, updated_at=0.0,
        )
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    for i in range(reads):
        loc, seq = ("FINISH", i // 2 + 1) if i % 2 else ("START", i // 2 + 1)
        tag = str(1 + i % 20_000)
        rows.append(
            {
                "stream_id": "bench-stream", "location": loc, "seq": seq, "kind": "tag", "tag": tag,
                "bib": tag, "time_text": "", "clock": 28_800 + i * 0.05, "lap": 1 + i // 40_000,
                "reader_id": "0FA22E", "gator": 1, "raw_n": i + 1, "received_at": 0.0,
            }
        )  # fmt: skip
        if len(rows) == 50_000:
            conn.execute(Read.__table__.insert(), rows)
            rows.clear()
    if rows:
        conn.execute(Read.__table__.insert(), rows)


def _rss() -> int:
    """Resident set size now, in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


async def _worst_stall(stop: asyncio.Event, tick: float = 0.005) -> tuple[float, int]:
    """The longest the loop did not run while ``stop`` is unset, and the highest RSS seen."""
    worst, last, rss = 0.0, time.perf_counter(), _rss()
    while not stop.is_set():
        await asyncio.sleep(tick)
        now = time.perf_counter()
        worst, last, rss = max(worst, now - last - tick), now, max(rss, _rss())
    return worst, rss


def _count(conn: Connection, stream_id: str) -> int:
    t = Read.__table__
    return conn.execute(select(func.count()).where(t.c.stream_id == stream_id)).scalar_one()


async def run(reads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp:
        data = Path(tmp) / "rc"
        data.mkdir()
        store = Store(data / "race-control.sqlite3")
        try:
            store.migrate()
            await store.run(_fill, reads)
        finally:
            store.close()
        st = Settings(data_dir=data, host="127.0.0.1", http_port=0, timing_port=0, public_host="127.0.0.1")
        rc = RaceControl(st)
        await rc.start()
        try:
            assert rc.services is not None
            headers = {"Authorization": f"Bearer {rc.services.api_token}"}
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(headers=headers, base_url=rc.http_url, timeout=timeout) as http:
                gc.collect()  # the fill's garbage: its full collection is not the export's
                stop = asyncio.Event()
                idle = asyncio.create_task(_worst_stall(stop))
                await asyncio.sleep(2.0)
                stop.set()
                baseline, rss0 = await idle
                stop = asyncio.Event()
                ticker = asyncio.create_task(_worst_stall(stop))
                t0 = time.perf_counter()
                size, first, path = 0, None, Path(tmp) / "export.ctp"
                async with http.get("/api/timing/sessions/bench-stream/export") as r:
                    assert r.status == 200, await r.text()
                    with path.open("wb") as f:  # to disk: the client holds no copy
                        async for chunk in r.content.iter_any():
                            first = first or time.perf_counter() - t0
                            size += len(chunk)
                            f.write(chunk)
                export_s = time.perf_counter() - t0
                stop.set()
                stall, rss1 = await ticker
                body = path.read_bytes()
                lines = body.count(b"\nCT01_33~")
                assert lines == reads, (lines, reads)
                t1 = time.perf_counter()
                async with http.post("/api/timing/recordings", data=body) as r:
                    summary = await r.json()
                    assert r.status == 201, summary
                await rc.services.pipeline.drain()
                stored = await rc.services.store.run(_count, summary["timing_session_id"])
                import_s = time.perf_counter() - t1
                assert stored == reads, (stored, reads)
        finally:
            await rc.stop()
    return {
        "export_s": export_s,
        "first_byte_s": first or 0.0,
        "mb": size / 1e6,
        "stall_ms": stall * 1000,
        "baseline_stall_ms": baseline * 1000,
        "rss_growth_mb": (rss1 - rss0) / 2**20,
        "import_s": import_s,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=250_000)
    args = parser.parse_args(argv)
    out = asyncio.run(run(args.reads))
    load = os.getloadavg()[0]
    print(
        f"export of {args.reads} reads: {out['export_s']:.2f} s ({out['mb']:.1f} MB, first byte "
        f"{out['first_byte_s'] * 1000:.0f} ms), worst loop stall {out['stall_ms']:.0f} ms (idle baseline "
        f"{out['baseline_stall_ms']:.0f} ms), peak RSS +{out['rss_growth_mb']:.0f} MiB while exporting; "
        f"import back {out['import_s']:.2f} s; load average {load:.1f}"
    )
    return out


def bench(argv: list[str] | None = None) -> list[Figure]:
    """For ``python -m bench``: the figures of ``main`` (no targets set: all diagnostic)."""
    out = main(argv)
    return [
        info("history_export", "export of the stream", out["export_s"], "s"),
        info("history_export", "worst loop stall while exporting", out["stall_ms"], "ms"),
        info("history_export", "RSS growth while exporting", out["rss_growth_mb"], "MiB"),
        info("history_export", "recording imported back, all stored", out["import_s"], "s"),
    ]


if __name__ == "__main__":
    main()
