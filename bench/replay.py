"""Replay the whole recorded 2021 race at full speed into `race-control serve`, with screens.

Run: ``python -m bench.replay [--screens N]``.  The server runs as its own process.  The four
ChronoTrack controller folders of tests/data/chronotrack-2021 (START1, FINISH1, 9K, 19K) are
played by the built-in SimpleClient simulator (``simulate(..., speed=0)``) over CTP01.  Two
display sessions are bound to the stream before the first read: "Finish line" (FINISH1 is the
shared start/finish mat: ``start_locations`` FINISH1, ``min_time_since_start`` 900 s,
``duplicate_window`` 300 s) and "19K split"; N screens are connected to each.

Prints the wall time (first read sent → the last screen has the last finisher), reads/s (stored
reads / time until the last one is committed), finishers delivered per screen, and checks every
screen received every finisher exactly once, in seq order (1..last_seq, no gaps, no repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._server import BenchApi, memory_kib, served
from bench.figures import Figure, holds, info
from bench.ingest import db_count
from race_control.paths import resources_dir
from race_control.roster.csv_import import read_csv_file
from race_control.timing.simulator.playback import simulate
from race_control.timing.simulator.sources import SimSource
from tests.helpers.ctp01_peer import RawCtp01Client

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "chronotrack-2021"
ROSTER = resources_dir() / "demo" / "roster.csv"
FOLDERS = ("START1", "FINISH1", "9K", "19K")
CONNECTION_ID = "bench-replay-2021"
FINISH_RULES = {
    "locations": ["FINISH1"],
    "start_locations": ["FINISH1"],
    "min_time_since_start": 900,
    "duplicate_window": 300,
}
SPLIT_RULES = {"locations": ["19K"]}


class ScreenLog:
    def __init__(self, session: str) -> None:
        self.session = session
        self.seqs: list[int] = []
        self.last_at = 0.0


async def watch(ws: aiohttp.ClientWebSocketResponse, log: ScreenLog) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            continue
        data = json.loads(msg.data)
        if data.get("type") == "finisher":
            log.seqs.append(data["seq"])
            log.last_at = time.perf_counter()


async def run(screens: int, folders: tuple[str, ...] = FOLDERS) -> dict[str, Any]:
    out: dict[str, Any] = {"screens": screens}
    with tempfile.TemporaryDirectory(prefix="rc-bench-") as tmp:
        db_path = Path(tmp) / "race-control.sqlite3"
        connector = aiohttp.TCPConnector(limit=0)
        async with served(Path(tmp)) as info, aiohttp.ClientSession(connector=connector) as http:
            api = BenchApi(http, info)
            event = await api.post(
                "/api/events", {"name": "Run On The Mountain 2021", "date": "2021-05-08", "timezone": "UTC"}
            )
            roster = [{k: v for k, v in row.items() if k != "hidden"} for row in read_csv_file(ROSTER)]
            await api.post(f"/api/events/{event['id']}/participants", roster)
            finish = await api.post(
                "/api/sessions",
                {"event_id": event["id"], "mode": "results", "name": "Finish line", "rules": FINISH_RULES},
            )
            split = await api.post(
                "/api/sessions",
                {"event_id": event["id"], "mode": "results", "name": "19K split", "rules": SPLIT_RULES},
            )
            # make the stream exist (a handshake with the simulator's connection id), bind it,
            # then let the simulator connect as the same client: every read goes the live path
            probe = await RawCtp01Client.connect(info["timing_port"])
            await probe.handshake(CONNECTION_ID)
            await probe.close()
            stream = next(
                s for s in await api.get("/api/timing/sessions") if s["source_key"] == CONNECTION_ID
            )
            for s in (finish, split):
                await api.post(f"/api/sessions/{s['id']}/timing", {"timing_session_id": stream["id"]})

            logs: list[ScreenLog] = []
            tasks = []
            for s in (finish, split):
                url = s["display_url"].replace("http://", "ws://") + "/ws"
                for _ in range(screens):
                    ws = await http.ws_connect(url, max_msg_size=0)
                    hello = await ws.receive_json()
                    assert hello["type"] == "hello"
                    await ws.send_json({"type": "resume", "after_seq": hello["last_seq"]})  # as a page does
                    log = ScreenLog(s["id"])
                    logs.append(log)
                    tasks.append(asyncio.create_task(watch(ws, log)))

            first: list[float] = []

            def progress(_r: object) -> None:
                if not first:
                    first.append(time.perf_counter())

            t0 = time.perf_counter()
            sim = await simulate(
                "127.0.0.1",
                info["timing_port"],
                [SimSource(DATA / name, name) for name in folders],
                speed=0,
                tz="UTC",
                connection_id=CONNECTION_ID,
                event_name="21ROTM",
                on_progress=progress,
            )
            start = first[0]
            out["load"] = start - t0
            out["sim_elapsed"] = time.perf_counter() - start
            out["sent_reads"] = sim.reads
            out["sent_guns"] = sim.guns
            out["undelivered"] = sim.undelivered
            # wait until every read is committed, then until the screens have every finisher
            total = sim.reads + sim.guns
            deadline = time.perf_counter() + 120
            while time.perf_counter() < deadline:
                stored = db_count(db_path, kind=None)
                if stored >= total:
                    break
                await asyncio.sleep(0.02)
            out["committed_at"] = time.perf_counter() - start
            out["stored"] = stored
            await asyncio.sleep(0.2)
            last = {s["id"]: (await api.get(f"/api/sessions/{s['id']}"))["last_seq"] for s in (finish, split)}
            while time.perf_counter() < deadline:
                if all(len(log.seqs) >= last[log.session] for log in logs):
                    break
                await asyncio.sleep(0.02)
            out["wall"] = max(log.last_at for log in logs) - start if logs else out["committed_at"]
            streams = await api.get("/api/timing/sessions")
            out["stream_reads"] = sum(s["reads"] for s in streams)
            out["rss_peak_kib"] = memory_kib(int(info["pid"]))["VmHWM"]
            for t in tasks:
                t.cancel()
            out["finish_last_seq"] = last[finish["id"]]
            out["split_last_seq"] = last[split["id"]]
            problems = []
            for i, log in enumerate(logs):
                want = list(range(1, last[log.session] + 1))
                if log.seqs != want:
                    lost = len(set(want) - set(log.seqs))
                    doubled = len(log.seqs) - len(set(log.seqs))
                    problems.append(f"screen {i}: {len(log.seqs)} got, {lost} lost, {doubled} doubled")
            out["problems"] = problems
            out["per_screen"] = sorted({(log.session, len(log.seqs)) for log in logs})
        logfile = Path(tmp) / "logs" / "race-control.log"
        text = logfile.read_text("utf-8", "replace") if logfile.exists() else ""
        out["overflows"] = text.count("catching up from the store")
    return out


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--screens", type=int, default=50, help="screens per display session (default 50)")
    p.add_argument(
        "--folders",
        default=",".join(FOLDERS),
        help=f"controller folders to play (default {','.join(FOLDERS)}; e.g. 9K,19K for a quick run)",
    )
    a = p.parse_args(argv)
    folders = tuple(f.strip() for f in a.folders.split(",") if f.strip())
    unknown = [f for f in folders if f not in FOLDERS]
    if unknown or not folders:
        p.error(f"--folders: unknown {', '.join(unknown) or '(none)'}; known: {', '.join(FOLDERS)}")
    r = asyncio.run(run(a.screens, folders))
    print(
        f"2021 race replay ({', '.join(folders)}) at speed 0: {r['sent_reads']:,} reads + "
        f"{r['sent_guns']} gun times, 2 display sessions x {a.screens} screens"
    )
    print(
        f"  wall {r['wall']:.2f} s (first read sent -> last finisher on the last screen); "
        f"simulator done {r['sim_elapsed']:.2f} s, all committed {r['committed_at']:.2f} s "
        f"(loading the files before the first read: {r['load']:.2f} s)"
    )
    print(f"  {r['stored'] / r['committed_at']:,.0f} reads/s stored ({r['stored']:,} rows in reads)")
    print(
        f"  finishers per screen: finish line {r['finish_last_seq']:,}, 19K split {r['split_last_seq']:,}; "
        f"stream read count {r['stream_reads']:,}; server peak RSS {r['rss_peak_kib'] / 1024:.0f} MiB"
    )
    print(f"  screen queues that overflowed and caught up from the store: {r['overflows']}")
    if r["problems"]:
        print(f"  MISSED: {len(r['problems'])} screen(s) wrong: " + "; ".join(r["problems"][:5]))
    else:
        print(f"  OK: all {2 * a.screens} screens got every finisher once, in seq order")
    return [
        holds(
            "replay", "every finisher on every screen, in order", not r["problems"], 2 * a.screens, "screens"
        ),
        info("replay", "whole race to the last screen", r["wall"], "s"),
        info("replay", "reads stored", r["stored"] / r["committed_at"], "reads/s"),
    ]


if __name__ == "__main__":
    bench()
