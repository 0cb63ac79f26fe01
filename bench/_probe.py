"""Event-loop stalls of `race-control serve` seen from outside: a client that asks all the time.

``Prober`` runs in its own thread with its own event loop (so the bench's own work cannot delay
it): every ``interval`` (10 ms) it sends ``GET /api/health`` and waits for the answer, and, when
given a screen's WebSocket URL, a WebSocket ping every ``interval`` on a connected screen
(``autoping`` off, so each pong and each server message is seen).  It records the time of every
answer; ``worst_gap(t0, t1)`` is the largest time between two answers in a window, the longest
the server left a client waiting.  A server that stalls its loop for X ms shows a gap of about X
+ ``interval``.  Failed requests (a server not up yet, restarting) are not answers; the screen
reconnects when its socket closes.

``cpu_seconds(pid)`` and ``wait_quiet(pid)`` tell when a server has finished an action that
goes on after its HTTP answer (work in slices or in the background): its CPU time stops rising.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import os
import threading
import time
from pathlib import Path

import aiohttp

TICK = os.sysconf("SC_CLK_TCK")


class Prober(threading.Thread):
    def __init__(self, base: str, token: str, ws_url: str | None = None, interval: float = 0.01) -> None:
        super().__init__(name="stall-prober", daemon=True)
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.ws_url = ws_url
        self.interval = interval
        self.health: list[float] = []  # perf_counter of every 200 answer
        self.health_waits: list[tuple[float, float]] = []  # (asked at, seconds until answered)
        self.screen: list[float] = []  # perf_counter of every pong / message on the screen
        self.errors = 0
        self.reconnects = 0
        self._halt = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            tasks = [asyncio.create_task(self._health(http))]
            if self.ws_url:
                tasks.append(asyncio.create_task(self._screen(http)))
            while not self._halt.is_set():
                await asyncio.sleep(0.05)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _health(self, http: aiohttp.ClientSession) -> None:
        url = self.base + "/api/health"
        while True:
            t = time.perf_counter()
            try:
                async with http.get(url, headers=self.headers) as r:
                    await r.read()
                    if r.status == 200:
                        self.health.append(time.perf_counter())
                        self.health_waits.append((t, self.health[-1] - t))
            except (TimeoutError, aiohttp.ClientError, OSError):
                self.errors += 1
            await asyncio.sleep(max(0.0, t + self.interval - time.perf_counter()))

    async def _screen(self, http: aiohttp.ClientSession) -> None:
        assert self.ws_url
        while True:
            try:
                async with http.ws_connect(self.ws_url, autoping=False, max_msg_size=0) as ws:
                    self.reconnects += 1
                    pinger = asyncio.create_task(self._ping(ws))
                    try:
                        async for msg in ws:
                            now = time.perf_counter()
                            if msg.type == aiohttp.WSMsgType.PING:
                                await ws.pong(msg.data)
                            elif msg.type in (aiohttp.WSMsgType.PONG, aiohttp.WSMsgType.TEXT):
                                self.screen.append(now)
                    finally:
                        pinger.cancel()
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.05)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not ws.closed:
                await ws.ping()
                await asyncio.sleep(self.interval)

    @staticmethod
    def worst_gap(times: list[float], t0: float, t1: float) -> float:
        """The largest time between two consecutive answers of ``times`` in [t0, t1], in
        seconds, counting the wait from ``t0`` to the first answer and from the last one to
        ``t1`` (an answer that never comes is a stall too).  NaN when there was no answer."""
        lo = bisect.bisect_left(times, t0)
        hi = bisect.bisect_right(times, t1)
        inside = times[lo:hi]
        if not inside:
            return float("nan")
        points = [t0, *inside, t1]
        return max(b - a for a, b in itertools.pairwise(points))

    def waits(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """(asked at, seconds waited) of each ``GET /api/health`` asked in [t0, t1]."""
        return [(at, w) for at, w in self.health_waits if t0 <= at <= t1]

    def answers(self, times: list[float], t0: float, t1: float) -> int:
        return bisect.bisect_right(times, t1) - bisect.bisect_left(times, t0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


async def wait_quiet(pid: int, *, window: float = 0.5, busy: float = 0.15, limit: float = 600.0) -> float:
    """Wait until ``pid`` used less than ``busy`` of a core over ``window`` seconds (an action it
    runs after its answer is over); returns when (perf_counter).  Gives up after ``limit`` s."""
    deadline = time.perf_counter() + limit
    last = cpu_seconds(pid)
    while time.perf_counter() < deadline:
        await asyncio.sleep(window)
        now = cpu_seconds(pid)
        if now - last < busy * window:
            return time.perf_counter() - window
        last = now
    return time.perf_counter()
