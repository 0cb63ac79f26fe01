"""Unique URL generation: ``new_token()`` alone, and the whole ``POST /api/sessions`` round trip.

Run: ``python -m bench.urls`` (defaults: 100,000 tokens, 2,000 sessions).  The target in docs/benchmarks.md
(< 1 ms) is about generating the unguessable URL, so the headline is ``race_control.ids.new_token``
timed call by call (``perf_counter_ns`` around each call; timer overhead included, so the figure
is an upper bound).  For context the whole API call is timed too, in this process: a real
``RaceControl`` (SQLite store in a temporary dir, aiohttp on a loopback port) and an aiohttp
client on the same loop, one request at a time: HTTP parsing, auth, validation, the session row
written to SQLite through the store's thread, the JSON reply.  ``SessionService.create`` is also
timed without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._server import percentile
from bench.figures import Figure, below, holds, info
from race_control.app import RaceControl
from race_control.config import Settings
from race_control.ids import new_token

TARGET_MS = 1.0


def time_tokens(n: int) -> dict[str, Any]:
    clock = time.perf_counter_ns
    per_call: list[float] = []
    tokens: set[str] = set()
    for _ in range(n):
        t0 = clock()
        tok = new_token()
        per_call.append((clock() - t0) / 1000)  # µs
        tokens.add(tok)
    t0 = clock()
    for _ in range(n):
        new_token()
    batch_us = (clock() - t0) / 1000 / n
    return {
        "p50": percentile(per_call, 0.5),
        "p99": percentile(per_call, 0.99),
        "max": max(per_call),
        "mean_batch": batch_us,
        "unique": len(tokens),
        "length": len(new_token()),
    }


async def time_api(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rc-bench-urls-") as tmp:
        rc = RaceControl(
            Settings(
                data_dir=Path(tmp),
                host="127.0.0.1",
                http_port=0,
                timing_port=0,
                public_host="127.0.0.1",
                api_token="bench-token",
            )
        )
        services = await rc.start()
        try:
            base = f"http://127.0.0.1:{rc.http_port}"
            headers = {"Authorization": "Bearer bench-token"}
            async with aiohttp.ClientSession(headers=headers) as http:
                async with http.post(
                    base + "/api/events", json={"name": "URL bench", "date": dt.date.today().isoformat()}
                ) as resp:
                    event_id = (await resp.json())["id"]
                body = {"event_id": event_id, "mode": "results"}
                api_ms: list[float] = []
                urls: set[str] = set()
                for i in range(n + 50):
                    t0 = time.perf_counter()
                    async with http.post(base + "/api/sessions", json=body) as resp:
                        data = await resp.json()
                    if i >= 50:  # warm-up excluded
                        api_ms.append((time.perf_counter() - t0) * 1000)
                    if resp.status != 201:
                        raise RuntimeError(f"POST /api/sessions: {resp.status} {data}")
                    urls.add(data["display_url"])
            create_ms: list[float] = []
            for _ in range(n):
                t0 = time.perf_counter()
                await services.ops.sessions.create(body)
                create_ms.append((time.perf_counter() - t0) * 1000)
        finally:
            await rc.stop()
    return {
        "api_p50": percentile(api_ms, 0.5),
        "api_p99": percentile(api_ms, 0.99),
        "api_mean": statistics.fmean(api_ms),
        "create_p50": percentile(create_ms, 0.5),
        "create_p99": percentile(create_ms, 0.99),
        "unique_urls": len(urls),
        "sample_url": next(iter(urls)),
    }


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=100_000)
    p.add_argument("--sessions", type=int, default=2_000, help="POST /api/sessions calls timed")
    a = p.parse_args(argv)
    t = time_tokens(a.tokens)
    r = asyncio.run(time_api(a.sessions))
    ok = "OK" if t["p99"] / 1000 < TARGET_MS else "MISSED"
    print(
        f"unique URL generation: new_token() x {a.tokens:,} ({t['length']} chars, 160 random bits, "
        f"{t['unique']:,} unique)"
    )
    print(
        f"  per call p50 {t['p50']:.2f} µs, p99 {t['p99']:.2f} µs, max {t['max']:.0f} µs; mean in a tight loop "
        f"{t['mean_batch']:.2f} µs  (target < {TARGET_MS:g} ms)  {ok}"
    )
    print(
        f"  context, POST /api/sessions round trip in-process x {a.sessions:,} (HTTP + auth + SQLite write): "
        f"p50 {r['api_p50']:.2f} ms, p99 {r['api_p99']:.2f} ms, mean {r['api_mean']:.2f} ms; "
        f"{r['unique_urls']:,} unique display URLs"
    )
    print(
        f"  context, SessionService.create without HTTP x {a.sessions:,}: p50 {r['create_p50']:.2f} ms, "
        f"p99 {r['create_p99']:.2f} ms"
    )
    return [
        below("urls", "new_token() p99", t["p99"] / 1000, "ms", TARGET_MS),
        holds("urls", "tokens unique", t["unique"] == a.tokens, t["unique"]),
        info("urls", "POST /api/sessions p99", r["api_p99"], "ms"),
    ]


if __name__ == "__main__":
    bench()
