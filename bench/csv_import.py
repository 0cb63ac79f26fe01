"""Roster CSV import at scale: 50,000 rows through the API into the store.

Run: ``python -m bench.csv_import [--rows 50000] [--runs 1]``.  The app (``RaceControl``, its
real store on a temporary data dir) runs in this process; the client posts the file (semicolon
delimited, a UTF-8 BOM, a title line, a custom column, cp1252 names — what an Excel export
looks like) to ``POST /api/events/{id}/roster/import`` with ``apply: true`` over loopback.  The
clock runs from the request until its answer, i.e. until the one transaction (50,000
participants, their links, the saved mapping) committed; the rows are then counted in the
store.  Also timed: the mapping preview (``/roster/preview``) and the re-sync preview of the
same file again (``apply: false``: every runner unchanged).  Target (issue #11): < 2 s end to end.
The import is printed with the CPU seconds the process spent on it (all threads: the loop, the
executor and the store's thread) and the load average: the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import text

from bench.figures import Figure, below
from race_control.app import RaceControl
from race_control.config import Settings

TARGET_S = 2.0


def roster_file(rows: int) -> bytes:
    lines = ["Participants export;;;;;;;", "Bib;First Name;Last Name;Gender;Age;City;Team;Shirt Size"]
    for i in range(1, rows + 1):
        lines.append(
            f"{i:05d};Zoë{i};Müller{i};{'MF'[i % 2]};{18 + i % 60};Boise;Team {i % 40};{'SML'[i % 3]}"
        )
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


async def once(rows: int) -> dict[str, float]:
    raw = roster_file(rows)
    with tempfile.TemporaryDirectory(prefix="csv-bench-") as tmp:
        st = Settings(
            data_dir=Path(tmp) / "rc", host="127.0.0.1", http_port=0, timing_port=0, public_host="127.0.0.1"
        )
        rc = RaceControl(st)
        await rc.start()
        try:
            assert rc.services is not None
            headers = {"Authorization": f"Bearer {rc.services.api_token}"}
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(headers=headers, base_url=rc.http_url, timeout=timeout) as http:

                async def call(path: str, body: object) -> dict:
                    async with http.post(path, json=body) as r:
                        data = await r.json()
                        assert r.status in (200, 201), (r.status, data)
                        return data

                event = await call("/api/events", {"name": "Big City", "date": "2026-04-12"})
                base = f"/api/events/{event['id']}/roster"
                body = {"content_base64": base64.b64encode(raw).decode(), "source": "bench"}
                t0 = time.perf_counter()
                preview = await call(base + "/preview", body)
                t1, c1 = time.perf_counter(), time.process_time()
                done = await call(base + "/import", {**body, "apply": True})
                t2, c2 = time.perf_counter(), time.process_time()
                again = await call(base + "/import", {**body, "apply": False})
                t3 = time.perf_counter()
            assert preview["entrants"] == rows and not preview["errors"], preview["errors"][:3]
            assert done["added"] == rows and not done["quarantined"], done["quarantined"][:3]
            assert again["unchanged"] == rows, {k: again[k] for k in ("added", "changed", "unchanged")}

            def count(conn: object) -> int:
                return conn.execute(  # type: ignore[attr-defined]
                    text("select count(*) from participants where event_id = :e"), {"e": event["id"]}
                ).scalar_one()

            stored = await rc.services.store.run(count)
            assert stored == rows, stored
        finally:
            await rc.stop()
    return {
        "preview": t1 - t0,
        "import": t2 - t1,
        "import_cpu": c2 - c1,
        "resync_preview": t3 - t2,
        "mib": len(raw) / 2**20,
    }


async def main(rows: int, runs: int) -> list[Figure]:
    figures = []
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for n in range(1, runs + 1):
        r = await once(rows)
        verdict = "PASS" if r["import"] < TARGET_S else "MISS"
        print(
            f"run {n}: {rows:,} rows ({r['mib']:.1f} MiB): import applied end to end {r['import']:.2f} s "
            f"({r['import_cpu']:.2f} s CPU; target < {TARGET_S:.0f} s: {verdict}); mapping preview {r['preview']:.2f} s; "
            f"re-sync preview of the same file {r['resync_preview']:.2f} s"
        )
        figures.append(
            below("csv_import", f"roster CSV import, {rows:,} rows, run {n}", r["import"], "s", TARGET_S)
        )
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return figures


def bench(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args(argv)
    return asyncio.run(main(args.rows, args.runs))


if __name__ == "__main__":
    bench()
