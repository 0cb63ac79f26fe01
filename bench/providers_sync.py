"""Provider roster sync at scale: a fake RunSignUp with 50,000 participants (2,500 a page) into
the store, then a full re-sync with 500 changed runners.

Run: ``python -m bench.providers_sync [--participants 50000] [--changes 500]``.  Everything runs in
one process and one event loop: the app (``RaceControl``, its real store on a temporary data
dir) and the fake RunSignUp of ``tests/providers/fakes`` on loopback — so the times include
serving the fake's JSON.  Measured: the first sync end to end (``POST /api/events/{id}/sync``
with ``apply: true``: fetch 21 pages, plan, one transaction), its preview, and a full re-sync
with ``--changes`` renamed runners; peak RSS growth of the process (the fake's copy of the
roster included) over the first sync.  Targets (issue #11): first sync < 10 s with < 200 MiB
peak RSS growth; re-sync of 50,000 with 500 changes < 3 s.  Each figure is printed against its
target, with the CPU seconds the process spent on it (all threads: the loop, the fake and the
store's thread) and the load average (the machine is shared: wall times grow with it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.figures import Figure, below
from race_control.app import RaceControl
from race_control.config import Settings
from tests.providers.fakes.runsignup import FakeRunSignUp, person

FIRST_S, RSS_MIB, RESYNC_S = 10.0, 200.0, 3.0  # issue #11's targets


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def verdict(value: float, target: float) -> str:
    return "meets" if value < target else "MISSES"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main(participants: int, changes: int) -> list[Figure]:
    fake = FakeRunSignUp()
    fake.add_race(48213, "Big City Marathon", [(903311, "Marathon", "26.2 Miles"), (903312, "10K", "10K")])
    fake.participants[48213] = [
        person(
            1_000_000 + i,
            903311 if i % 3 else 903312,
            i,
            f"First{i}",
            f"Last{i}",
            modified=1_768_000_000 + i % 1000,
        )
        for i in range(1, participants + 1)
    ]
    with tempfile.TemporaryDirectory(prefix="providers-bench-") as tmp:
        st = Settings(
            data_dir=Path(tmp) / "rc", host="127.0.0.1", http_port=0, timing_port=0, public_host="127.0.0.1"
        )
        rc = RaceControl(st)
        await fake.start()
        await rc.start()
        try:
            assert rc.services is not None
            headers = {"Authorization": f"Bearer {rc.services.api_token}"}
            timeout = aiohttp.ClientTimeout(total=1800)
            async with aiohttp.ClientSession(headers=headers, base_url=rc.http_url, timeout=timeout) as http:

                async def call(method: str, path: str, body: object) -> dict:
                    async with http.request(method, path, json=body) as r:
                        data = await r.json()
                        assert r.status in (200, 201), (r.status, data)
                        return data

                event = await call("POST", "/api/events", {"name": "Big City", "date": "2026-04-12"})
                account = await call(
                    "POST",
                    "/api/providers/accounts",
                    {
                        "provider": "runsignup",
                        "label": "bench",
                        "credentials": {"api_key": fake.api_key, "api_secret": fake.api_secret},
                        "base_url": fake.url + "/Rest",
                    },
                )
                body = {"account_id": account["id"], "provider_event_id": "48213", "apply": False}
                sync = f"/api/events/{event['id']}/sync"
                load0 = load()
                t0, c0 = time.perf_counter(), time.process_time()
                preview = await call("POST", sync, body)
                t_preview, c_preview = time.perf_counter() - t0, time.process_time() - c0
                rss0 = rss_mib()
                t0, c0 = time.perf_counter(), time.process_time()
                first = await call("POST", sync, {**body, "apply": True})
                t_first, c_first = time.perf_counter() - t0, time.process_time() - c0
                rss1 = rss_mib()
                for row in fake.participants[48213][:changes]:
                    row["user"]["first_name"] += "-renamed"
                    row["last_modified"] += 5000
                t0, c0 = time.perf_counter(), time.process_time()
                again = await call("POST", sync, {**body, "apply": True, "full": True})
                t_again, c_again = time.perf_counter() - t0, time.process_time() - c0
        finally:
            await rc.stop()
            await fake.stop()
    print(f"participants {participants}, pages {first['pages']}; load average {load0} -> {load()}")
    print(
        f"preview (fetch + plan, nothing applied): {t_preview:.2f} s ({c_preview:.2f} s CPU), "
        f"added {preview['added']}"
    )
    print(
        f"first sync applied: {t_first:.2f} s ({c_first:.2f} s CPU), added {first['added']} — "
        f"target < {FIRST_S:.0f} s: {verdict(t_first, FIRST_S)}"
    )
    print(
        f"peak RSS over the first sync: {rss0:.0f} -> {rss1:.0f} MiB (+{rss1 - rss0:.0f}) — "
        f"target < {RSS_MIB:.0f} MiB: {verdict(rss1 - rss0, RSS_MIB)}"
    )
    print(
        f"full re-sync with {changes} changes: {t_again:.2f} s ({c_again:.2f} s CPU), changed "
        f"{again['changed']}, unchanged {again['unchanged']} — target < {RESYNC_S:.0f} s: "
        f"{verdict(t_again, RESYNC_S)}"
    )
    return [
        below("providers_sync", f"provider first sync, {participants:,}", t_first, "s", FIRST_S),
        below("providers_sync", "peak RSS growth, first sync", rss1 - rss0, "MiB", RSS_MIB),
        below("providers_sync", f"full re-sync, {changes} changes", t_again, "s", RESYNC_S),
    ]


def bench(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=50_000)
    parser.add_argument("--changes", type=int, default=500)
    args = parser.parse_args(argv)
    return asyncio.run(main(args.participants, args.changes))


if __name__ == "__main__":
    bench()
