"""Restart time of `race-control serve` on a stored race: SIGTERM, spawn, first 200, screens back.

Run: ``python -m bench.restart`` (defaults = issue #13's six combinations: 10,000, 250,000 and
1,000,000 reads x 1 and 20 display sessions; ``--sizes``, ``--sessions``, ``--screens`` per
session, ``--behind``, ``--cache DIR``).  Targets (issue #13): restart to the first
``GET /api/health`` 200 **< 3 s** and every screen resumed **< 10 s** after the spawn, server
RSS after start-up **< 500 MiB**, all at 250,000 reads x 20 sessions (judged at every size up to
that; 1,000,000 is diagnostic).

Setup per combination (N reads, S sessions): the store of ``bench.storage.build`` (the real 2021
race repeated with shifted bibs to N reads on one CTP01 stream, its roster, S sessions
round-robin over the four setups of ``bench.storage.SETUPS``, bound before the first read so
every decision is made live), built in-process through the app's own services and stopped
cleanly.  That is the fastest honest way we have: binding S sessions after the reads replays the
stream once per session, and ingest through a live server with 20 sessions bound runs at a few
thousand reads/s.  With ``--cache DIR`` the built store is kept in ``DIR/<N>x<S>`` (the layout of
``bench.storage --keep``, marked complete by ``DIR/<N>x<S>/restart-bench.json``) and copied into
a temporary data dir for each measurement, so a combination is built once across runs; a cached
store is migrated by the code under test when it starts (Alembic), so it may be reused across
commits that keep the schema's meaning.

Then, in that data dir, on fixed loopback ports: ``serve`` #1 starts (its spawn to first 200 is
reported as "first start after the build"); ``--screens`` WebSocket screens per session connect,
each answers the ``hello`` with ``resume`` ``after_seq = last_seq - 20`` (no epoch: a fresh
page) and reads until ``caught_up``, so each has seen messages and holds (epoch, last seq) as a
page would.  SIGTERM #1 (time to exit reported: it includes the backup at stop), spawn #2 and
measure from the spawn: the first ``/api/health`` 200 (polled every 10 ms), every screen's first
message (``hello``; each screen retries its WebSocket every 50 ms) and every screen resumed:
``resume`` with its epoch and ``after_seq = its last seq - --behind`` (default 50: as a page that
had shown those when the link dropped), answered by every finisher after it and ``caught_up``
(no ``rewind`` expected: a clean restart).  Then RSS: VmHWM (peak) and VmRSS once the server's
CPU time stops rising (settled).  The server's CPU time at its first 200 is reported next to the
wall time (on a loaded machine the wall time is mostly waiting for a core), and, once per run,
the floor: spawn to the first 200 on an empty data dir (the interpreter, the imports, a new store).

Bytecode (``--bytecode``): an installed Race Control has its modules compiled (pip compiles a
wheel's at install, the packaged app ships them), a source checkout under
``PYTHONDONTWRITEBYTECODE=1`` (this machine's environment) compiles all of ``race_control``'s
150 modules from source at every start (~0.3 s of CPU).  ``compiled`` (the default) compiles the
package under test once before measuring, as an install does; ``source`` removes its compiled
files first and measures the checkout as it is.  Only ``race_control``'s own ``__pycache__``
(ignored by git) is written or removed; the line printed first says which.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._probe import cpu_seconds, wait_quiet
from bench._server import TOKEN, memory_kib, raise_caps
from bench.figures import Figure, below, holds, info
from bench.stalls import free_port
from tests.helpers.server_process import race_control_process, serve_env

STARTUP_S = 3.0  # issue #13: restart to /api/health 200 in < 3 s at 250k x 20
RESUMED_S = 10.0  # issue #13: every screen resumed < 10 s after the restart
RSS_MIB = 500.0  # issue #13: server RSS after start-up < 500 MiB at 250k x 20
JUDGED = (250_000, 20)  # the targets' setup: judged at every size up to it
SEEN = 20  # finishers each screen receives before the restart
MARK = "restart-bench.json"


def bytecode(how: str) -> str:
    """The code under test compiled (``compiled``) or not (``source``); what was done."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("race_control")
    assert spec is not None and spec.submodule_search_locations
    package = Path(next(iter(spec.submodule_search_locations)))
    caches = sorted(package.rglob("__pycache__"))
    if how == "source":
        for cache in caches:
            shutil.rmtree(cache)
        return f"source: no compiled modules of {package} (compiled at every start)"
    if not compileall.compile_dir(package, quiet=1):
        raise RuntimeError(f"compiling {package} failed")
    return f"compiled: {package}'s modules compiled once, as an install does"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def build_store(data: Path, reads: int, sessions: int) -> dict[str, Any]:
    """``bench.storage.build`` into ``data``, stopped cleanly; wall and CPU time of the build."""
    import logging

    from bench.storage import build, cpu

    t0, c0 = time.perf_counter(), cpu()
    built = await build(data, reads, sessions)
    try:
        out = {"reads": built["reads"], "runners": built["runners"], "sessions": sessions}
    finally:
        await built["rc"].stop()
        logging.getLogger("race_control").setLevel(logging.NOTSET)
    out.update(build_s=time.perf_counter() - t0, build_cpu_s=cpu() - c0)
    return out


def prepared(work: Path, reads: int, sessions: int, cache: Path | None) -> dict[str, Any]:
    """A data dir ``work`` holding the built store: copied from the cache, or built (into the
    cache first when there is one)."""
    if cache is None:
        work.mkdir(parents=True, exist_ok=True)
        return {**asyncio.run(build_store(work, reads, sessions)), "cached": False}
    kept = cache / f"{reads}x{sessions}"
    mark = kept / MARK
    if mark.exists():
        built = {**json.loads(mark.read_text()), "cached": True}
    else:
        if kept.exists():
            shutil.rmtree(kept)  # a build that did not finish
        kept.mkdir(parents=True)
        built = asyncio.run(build_store(kept, reads, sessions))
        mark.write_text(json.dumps(built))
        built["cached"] = False
    t0 = time.perf_counter()
    shutil.copytree(kept, work, ignore=shutil.ignore_patterns(MARK, "server.json", "backups"))
    built["copy_s"] = time.perf_counter() - t0
    return built


class Screen:
    """One bench screen of a session: what a page keeps (its epoch and last seq) and when each
    thing happened after the restart's spawn."""

    def __init__(self, token: str, n: int) -> None:
        self.token = token
        self.screen_id = f"{n:024x}"
        self.epoch: str | None = None
        self.last = 0
        self.hello_at: float | None = None
        self.caught_up_at: float | None = None
        self.got: list[int] = []
        self.rewinds = 0
        self.caught_up_seq = -1
        self.connects = 0
        self.ready = asyncio.Event()

    async def session(self, http: aiohttp.ClientSession, url: str, after: int | None) -> None:
        """One connection: hello, resume (``after`` or ``last_seq - SEEN`` when None), messages up
        to ``caught_up``.  The first connection (``after`` None) then keeps its socket open until
        the server closes it (the SIGTERM), as a page does."""
        async with http.ws_connect(url, max_msg_size=0) as ws:
            self.connects += 1
            hello = json.loads(await ws.receive_str())
            self.hello_at = time.perf_counter()
            if hello.get("type") != "hello":
                raise RuntimeError(f"first message {hello.get('type')!r}, not hello")
            resume: dict[str, Any] = {
                "type": "resume",
                "screen_id": self.screen_id,
                "viewport": [1920, 1080],
                "version": "bench",
            }
            if after is None:  # a fresh page: no epoch, the last few finishers
                resume["after_seq"] = max(0, int(hello["last_seq"]) - SEEN)
            else:
                resume["after_seq"] = after
                resume["epoch"] = self.epoch
            await ws.send_str(json.dumps(resume))
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                m = json.loads(msg.data)
                kind = m.get("type")
                if kind in ("finisher", "correction") and isinstance(m.get("seq"), int):
                    self.got.append(m["seq"])
                    self.last = max(self.last, m["seq"])
                elif kind == "ping":
                    await ws.send_str(json.dumps({"type": "pong", "t": m.get("t")}))
                elif kind == "rewind":
                    self.rewinds += 1
                elif kind == "caught_up" and self.caught_up_at is None:
                    self.caught_up_at = time.perf_counter()
                    self.caught_up_seq = int(m["last_seq"])
                    self.last = max(self.last, self.caught_up_seq)
                    self.epoch = hello["epoch"]
                    self.ready.set()
                    if after is not None:
                        return

    async def back(self, http: aiohttp.ClientSession, url: str, after: int, until: float) -> None:
        """Reconnect every 50 ms until ``until`` (perf_counter) or caught up."""
        self.hello_at = self.caught_up_at = None
        self.got = []
        while self.caught_up_at is None and time.perf_counter() < until:
            try:
                await self.session(http, url, after)
            except (TimeoutError, aiohttp.ClientError, OSError, RuntimeError):
                pass
            if self.caught_up_at is None:
                await asyncio.sleep(0.05)


async def spawn(data: Path, http_port: int, timing_port: int) -> asyncio.subprocess.Process:
    (data / "server.json").unlink(missing_ok=True)
    raise_caps(data)
    env = serve_env(data, RACE_CONTROL_API_TOKEN=TOKEN, TZ="Etc/UTC")
    err = (data / "stderr.log").open("ab")
    try:
        return await race_control_process(
            "serve",
            *("--host", "127.0.0.1", "--http-port", str(http_port), "--timing-port", str(timing_port)),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
        )
    finally:
        err.close()


async def first_health(
    http: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process, limit: float
) -> float:
    """perf_counter of the first ``GET /api/health`` 200, polled every 10 ms."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"serve exited with status {proc.returncode} before answering")
        try:
            async with http.get(base + "/api/health") as r:
                await r.read()
                if r.status == 200:
                    return time.perf_counter()
        except (TimeoutError, aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(0.01)
    raise RuntimeError(f"no /api/health 200 within {limit:g} s")


async def stop(proc: asyncio.subprocess.Process) -> float:
    t0 = time.perf_counter()
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 900)
    if proc.returncode != 0:
        raise RuntimeError(f"serve exited with status {proc.returncode} on SIGTERM")
    return time.perf_counter() - t0


async def measure(data: Path, per_session: int, behind: int, limit: float) -> dict[str, Any]:
    http_port, timing_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    ws_base = f"ws://127.0.0.1:{http_port}"
    r: dict[str, Any] = {}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=limit)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
        t0 = time.perf_counter()
        proc = await spawn(data, http_port, timing_port)
        try:
            r["first_start_s"] = await first_health(http, base, proc, limit) - t0
            r["first_start_cpu_s"] = cpu_seconds(proc.pid)
            print(
                f"  serve #1 (first start after the build): first 200 {r['first_start_s']:.2f} s, "
                f"{r['first_start_cpu_s']:.1f} s CPU",
                flush=True,
            )
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with http.get(base + "/api/sessions", headers=headers) as resp:
                sessions = await resp.json()
            screens = [
                Screen(s["display_url"].rstrip("/").rsplit("/", 1)[1], i * per_session + j)
                for i, s in enumerate(sessions)
                for j in range(per_session)
            ]
            urls = {sc: f"{ws_base}/display/{sc.token}/ws" for sc in screens}
            first = [asyncio.create_task(sc.session(http, urls[sc], None)) for sc in screens]
            await asyncio.wait_for(asyncio.gather(*(sc.ready.wait() for sc in screens)), limit)
            r["seen"] = sum(len(sc.got) for sc in screens)
            r["sessions"] = len(sessions)
            before = {sc: sc.last for sc in screens}
            # the screens stay connected until the SIGTERM closes them (a page reconnects then)
            await wait_quiet(proc.pid)
        finally:
            r["stop_s"] = await stop(proc)
        await asyncio.gather(*first, return_exceptions=True)  # closed by the server's shutdown
        print(
            f"  screens connected and caught up; SIGTERM -> exit {r['stop_s']:.2f} s; spawning #2", flush=True
        )
        spawned = time.perf_counter()
        proc = await spawn(data, http_port, timing_port)
        try:
            until = spawned + limit
            tasks = [
                asyncio.create_task(sc.back(http, urls[sc], max(0, before[sc] - behind), until))
                for sc in screens
            ]
            r["health_s"] = await first_health(http, base, proc, limit) - spawned
            r["health_cpu_s"] = cpu_seconds(proc.pid)
            print(f"  serve #2: first 200 {r['health_s']:.2f} s, {r['health_cpu_s']:.1f} s CPU", flush=True)
            await asyncio.gather(*tasks)
            missing = [sc for sc in screens if sc.caught_up_at is None or sc.hello_at is None]
            if missing:
                raise RuntimeError(f"{len(missing)} of {len(screens)} screens not resumed in {limit:g} s")
            hellos = sorted(sc.hello_at - spawned for sc in screens if sc.hello_at is not None)
            resumed = sorted(sc.caught_up_at - spawned for sc in screens if sc.caught_up_at is not None)
            r["first_message_s"] = hellos[-1]
            r["resumed_s"] = resumed[-1]
            r["resumed_p50_s"] = resumed[len(resumed) // 2]
            r["screens"] = len(screens)
            r["rewinds"] = sum(sc.rewinds for sc in screens)
            r["replayed"] = sum(len(sc.got) for sc in screens)
            r["exact"] = sum(
                sc.got == sorted(set(sc.got))
                and (not sc.got or sc.got[0] > before[sc] - behind)
                and max([*sc.got, sc.caught_up_seq]) >= before[sc]
                and sc.rewinds == 0
                for sc in screens
            )
            r["peak"] = memory_kib(proc.pid)["VmHWM"]
            r["cpu_to_resumed_s"] = cpu_seconds(proc.pid)
            await wait_quiet(proc.pid)
            r["settled"] = memory_kib(proc.pid)
            r["settled_s"] = time.perf_counter() - spawned
        finally:
            r["stop2_s"] = await stop(proc)
    return r


async def floor(data: Path, limit: float) -> dict[str, float]:
    """Spawn to the first 200 on an empty data dir: the interpreter, the imports, a new store."""
    http_port, timing_port = free_port(), free_port()
    data.mkdir(parents=True, exist_ok=True)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        t0 = time.perf_counter()
        proc = await spawn(data, http_port, timing_port)
        try:
            s = await first_health(http, f"http://127.0.0.1:{http_port}", proc, limit) - t0
            cpu = cpu_seconds(proc.pid)
            rss = memory_kib(proc.pid)["VmRSS"] / 1024
        finally:
            await stop(proc)
    return {"floor_s": s, "floor_cpu_s": cpu, "floor_rss_mib": rss}


def run_one(
    reads: int, sessions: int, per_session: int, behind: int, cache: Path | None, limit: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rc-bench-restart-") as tmp:
        work = Path(tmp) / "data"
        print(f"{reads:,} x {sessions}: building the store (load average {load()}) ...", flush=True)
        built = prepared(work, reads, sessions, cache)
        how = "cached" if built["cached"] else "built"
        print(
            f"  store {how}: {built['reads']:,} reads, {built['runners']:,} runners, {sessions} sessions; "
            f"build {built['build_s']:.1f} s wall, {built['build_cpu_s']:.1f} s CPU"
            + (f"; copied in {built['copy_s']:.1f} s" if "copy_s" in built else "")
            + f"; file {(work / 'race-control.sqlite3').stat().st_size / 1e6:,.0f} MB",
            flush=True,
        )
        print(f"  restarting (load average {load()}) ...", flush=True)
        r = asyncio.run(measure(work, per_session, behind, limit))
    r.update(built)
    r["load"] = load()
    print(
        f"  first start after the build: first 200 {r['first_start_s']:.2f} s "
        f"({r['first_start_cpu_s']:.1f} s CPU); {r['screens']} screens saw "
        f"{r['seen']:,} finishers; SIGTERM -> exit {r['stop_s']:.2f} s\n"
        f"  restart: first /api/health 200 {r['health_s']:.2f} s after the spawn "
        f"({r['health_cpu_s']:.1f} s server CPU); every screen's first "
        f"message {r['first_message_s']:.2f} s; every screen resumed (caught_up) {r['resumed_s']:.2f} s "
        f"(p50 {r['resumed_p50_s']:.2f} s), {r['replayed']:,} finishers replayed, {r['rewinds']} rewinds, "
        f"{r['exact']}/{r['screens']} exact\n"
        f"  server RSS settled {r['settled']['VmRSS'] / 1024:.0f} MiB, peak (VmHWM) "
        f"{r['settled']['VmHWM'] / 1024:.0f} MiB ({r['peak'] / 1024:.0f} MiB when the last screen resumed), "
        f"server CPU {r['cpu_to_resumed_s']:.1f} s to then; second stop {r['stop2_s']:.2f} s; "
        f"load average {r['load']}",
        flush=True,
    )
    return r


def figures_of(r: dict[str, Any], reads: int, sessions: int) -> list[Figure]:
    at = f"{reads // 1000}k x {sessions}" if reads >= 1000 else f"{reads} x {sessions}"
    judged = reads <= JUDGED[0] and sessions <= JUDGED[1]
    rss = r["settled"]["VmRSS"] / 1024
    out = [
        holds(
            "restart",
            f"every screen resumed exactly, no rewind, {at}",
            r["exact"] == r["screens"],
            r["exact"],
            "screens",
        )
    ]
    if judged:
        out += [
            below("restart", f"restart to first /api/health 200, {at}", r["health_s"], "s", STARTUP_S),
            below("restart", f"restart to every screen resumed, {at}", r["resumed_s"], "s", RESUMED_S),
            below("restart", f"server RSS after start-up, {at}", rss, "MiB", RSS_MIB),
        ]
    else:
        out += [
            info("restart", f"restart to first /api/health 200, {at}", r["health_s"], "s"),
            info("restart", f"restart to every screen resumed, {at}", r["resumed_s"], "s"),
            info("restart", f"server RSS after start-up, {at}", rss, "MiB"),
        ]
    out += [
        info("restart", f"server peak RSS (VmHWM), {at}", r["settled"]["VmHWM"] / 1024, "MiB"),
        info("restart", f"server CPU to the first 200, {at}", r["health_cpu_s"], "s"),
        info("restart", f"SIGTERM to exit, {at}", r["stop_s"], "s"),
        info("restart", f"building the store, {at}", r["build_s"], "s"),
    ]
    return out


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,250000,1000000", help="reads in the store (comma-separated)")
    p.add_argument("--sessions", default="1,20", help="display sessions bound (comma-separated)")
    p.add_argument("--screens", type=int, default=1, help="screens per session (default 1)")
    p.add_argument(
        "--behind",
        type=int,
        default=50,
        help="each screen resumes this many seqs before its last (default 50)",
    )
    p.add_argument("--cache", metavar="DIR", help="keep the built stores in DIR/<N>x<S> and reuse them")
    p.add_argument("--limit", type=float, default=900.0, help="seconds a start-up may take (default 900)")
    p.add_argument("--no-floor", action="store_true", help="skip the empty-data-dir start (the floor)")
    p.add_argument(
        "--bytecode",
        choices=("compiled", "source"),
        default="compiled",
        help="race_control's modules compiled first as an install does (default), or from source",
    )
    a = p.parse_args(argv)
    sizes = [int(x) for x in a.sizes.split(",") if x.strip()]
    counts = [int(x) for x in a.sessions.split(",") if x.strip()]
    cache = Path(a.cache) if a.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    print(f"bench.restart: {len(sizes) * len(counts)} combinations, load average {load()}", flush=True)
    print(f"bytecode: {bytecode(a.bytecode)}", flush=True)
    out: list[Figure] = []
    if not a.no_floor:
        with tempfile.TemporaryDirectory(prefix="rc-bench-restart-") as tmp:
            fl = asyncio.run(floor(Path(tmp) / "empty", a.limit))
        print(
            f"floor: spawn to the first 200 on an empty data dir {fl['floor_s']:.2f} s "
            f"({fl['floor_cpu_s']:.1f} s server CPU), RSS {fl['floor_rss_mib']:.0f} MiB",
            flush=True,
        )
        out += [
            info("restart", "floor: spawn to the first 200, empty data dir", fl["floor_s"], "s"),
            info("restart", "floor: server CPU to the first 200, empty data dir", fl["floor_cpu_s"], "s"),
        ]
    rows = []
    for reads in sizes:
        for sessions in counts:
            r = run_one(reads, sessions, a.screens, a.behind, cache, a.limit)
            out += figures_of(r, reads, sessions)
            rows.append((reads, sessions, r))
    print(
        "reads x sessions  build   first 200 (server CPU)  screens resumed  RSS settled / peak"
        "  SIGTERM->exit  load"
    )
    for reads, sessions, r in rows:
        print(
            f"{reads:>9,} x {sessions:<3}  {r['build_s']:6.0f} s  {r['health_s']:7.2f} s "
            f"({r['health_cpu_s']:5.1f} s)  {r['resumed_s']:13.2f} s"
            f"  {r['settled']['VmRSS'] / 1024:7.0f} / {r['settled']['VmHWM'] / 1024:.0f} MiB"
            f"  {r['stop_s']:11.2f} s  {r['load']}"
        )
    return out


if __name__ == "__main__":
    bench()
