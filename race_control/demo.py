"""`race-control demo`: serve a bundled sample race, replayed by the built-in SimpleClient.

The reads are a real recorded race (ChronoTrack controller files, 2021-05-08: a shared
start/finish mat FINISH1, splits at 9K and 19K); the roster is made up
(``resources/demo/roster.csv``).  The simulated client connects to our own timing
port over TCP exactly as the ChronoTrack software would, so the demo exercises the
whole path: CTP01 → store → crossing rules → screens.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
from collections.abc import Coroutine
from typing import Any

from race_control.app import RaceControl
from race_control.paths import resources_dir
from race_control.roster.csv_import import read_csv_file
from race_control.timing.ingest.streams import StreamState
from race_control.timing.simulator.playback import SimulationResult, simulate
from race_control.timing.simulator.sources import SimSource

log = logging.getLogger("race_control.demo")
DEMO_CONNECTION_ID = "race-control-demo"
RACE_DATE = dt.date(2021, 5, 8)
# waves start 08:00:55-09:00:55 on FINISH1 (the shared mat); the first finishers arrive
# around 09:25, so everything before 09:20 is sent at once (starts, 9K splits)
FAST_UNTIL = dt.time(9, 20)


def replay_2021(
    port: int,
    *,
    speed: float,
    fast_until: dt.time,
    max_gap: float,
    connection_id: str,
    stop_event: asyncio.Event,
) -> Coroutine[Any, Any, SimulationResult]:
    """The bundled 2021 race (FINISH1, 9K, 19K) played by the SimpleClient simulator into
    ``port`` on this machine (the demo, the UI screenshots)."""
    race = resources_dir() / "demo" / "chronotrack-2021"
    sources = [SimSource(race / name, name) for name in ("FINISH1", "9K", "19K")]
    return simulate(
        "127.0.0.1",
        port,
        sources,
        speed=speed,
        tz="UTC",
        date=RACE_DATE,
        fast_until=fast_until,
        max_gap=max_gap,
        event_name="21ROTM",
        event_id="2021",
        description="Run On The Mountain 2021",
        connection_id=connection_id,
        stop_event=stop_event,
    )


async def run_demo(rc: RaceControl, args: argparse.Namespace, stop: asyncio.Event) -> None:
    services = rc.services
    assert services is not None
    demo_dir = resources_dir() / "demo"
    event = await services.events.create_event(
        {"name": "Run On The Mountain 2021 (demo)", "date": RACE_DATE.isoformat(), "timezone": "UTC"}
    )
    imported, rejected = await services.events.import_participants(
        event.id, read_csv_file(demo_dir / "roster.csv"), source="demo-csv"
    )
    rules = {
        "locations": ["FINISH1"],
        "start_locations": ["FINISH1"],  # one mat for start and finish: first read starts chip time
        "min_time_since_start": 900,
        "duplicate_window": 300,  # the kids' race loops past the mat every ~50 s
    }
    create = services.ops.sessions.create
    results = (
        await create({"event_id": event.id, "mode": "results", "name": "Finish line", "rules": rules})
    ).session
    prerace = (
        await create({"event_id": event.id, "mode": "pre-race", "name": "Start area", "rules": rules})
    ).session
    splits = (
        await create({"event_id": event.id, "mode": "results", "name": "19K split", "locations": ["19K"]})
    ).session
    print(f"Demo event: {event.name}: {imported} runners ({len(rejected)} roster rows rejected)")
    print("Open these on any screen on this network:")
    print(f"  Finish line (results):        {services.display_url(results)}")
    print(f"  Start area (pre-race→results): {services.display_url(prerace)}")
    print(f"  19K split (results):          {services.display_url(splits)}")
    print(f"Local API: {rc.http_url}/api  (token in {services.settings.data_dir / 'api-token'})", flush=True)

    bound = asyncio.Event()

    def bind_when_seen(stream: StreamState) -> None:
        if stream.source_key == DEMO_CONNECTION_ID and not bound.is_set():
            bound.set()
            # a replay of 2021: read its times on that day, and do not warn that they are not "now"
            stream.live = False
            stream.timezone, stream.reference_date = "UTC", RACE_DATE.isoformat()
            settings = {"timezone": "UTC", "reference_date": RACE_DATE.isoformat()}
            asyncio.get_running_loop().create_task(services.timing.update_settings(stream.id, settings))
            for s in (results, prerace, splits):
                asyncio.get_running_loop().create_task(services.ops.sessions.bind(s.id, stream.id))

    services.timing.listeners.append(bind_when_seen)
    sim = asyncio.create_task(
        replay_2021(
            rc.timing_port,
            speed=args.speed,
            fast_until=FAST_UNTIL,
            max_gap=5.0,
            connection_id=DEMO_CONNECTION_ID,
            stop_event=stop,
        ),
        name="demo-simulator",
    )
    waiters = [asyncio.create_task(stop.wait())]
    if args.duration:
        waiters.append(asyncio.create_task(asyncio.sleep(args.duration)))
    await asyncio.wait([sim, *waiters], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    for w in waiters:
        w.cancel()
    result = await sim
    print(
        f"Replay {'finished' if not result.stopped else 'stopped'}: {result.reads} reads sent "
        f"({results.finishers} finishers shown at the finish, {splits.finishers} at 19K)",
        flush=True,
    )
