"""`race-control simulate` never claims a delivery it did not make.

A large race is played at full speed (``--speed 0``, the command line in a subprocess) into a
real server whose store is really slow: its SQLite database is held locked from another
connection (``BEGIN IMMEDIATE``), so the pipeline cannot commit, its backlog passes the
transports' limit and the server stops reading the socket (backpressure) -- for longer than
every timer of both sides: the server's dead-link timer (shortened here to 2 s), the simulator's
stall timeout (3 s) and the 2 s the simulator used to wait for its last ping.  Then the lock is
released.  Every read must be stored, over one connection, and the simulator must say
``0 undelivered`` and exit 0.

A server killed mid-run (``race-control serve`` in a subprocess, SIGKILL): restarted, the
simulator reconnects, resumes where the new server asks and in the end every read is stored
exactly once; not restarted, the simulator reports the reads no server confirmed, never more
reads delivered than the server had read, and exits 1.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import random
import re
import signal
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from race_control.timing.protocols.ctp01_settings import Ctp01Config
from race_control.timing.transports.ctp01_listener import Ctp01Listener
from tests.conftest import make_settings
from tests.helpers.live_app import running
from tests.helpers.server_process import race_control_process, serve_env, start_serve

pytestmark = pytest.mark.slow

READS = 60_000
# backpressure: the server reads up to 100,000 queued lines + reads (50,000 data lines) before it
# stops reading; twice that many reads leave 50,000 lines waiting in the sockets
BIG = 100_000
DEAD_AFTER = 2.0  # the server's dead-link timer in the backpressure test (40 s by default)
STALL = 3.0  # the simulator's own patience with a silent server in that test (60 s by default)
HOLD = 4 * DEAD_AFTER  # how long the database stays locked once the server has paused reading
EPOCH = 1_620_460_800  # 2021-05-08 08:00:00 as the controllers write it (wall clock counted as UTC)


def write_race(folder: Path, reads: int = READS, per_second: int = 0) -> Path:
    """A controller file of ``reads`` TO~ rows at one location (the folder's name).

    ``per_second`` > 0 spreads them that many to a second of race time (for paced playback),
    else they are 10 ms apart."""
    folder.mkdir(parents=True)
    rows = []
    for n in range(1, reads + 1):
        at = EPOCH + (n // per_second if per_second else n / 100)
        tag = 1000 + n % 5000
        rows.append(f"TO~{n}~{tag}~160~18~{at:.2f}~12000C~1~-60~{n // 5000 + 1}~P~10\r\n")
    (folder / "1.csv").write_text("".join(rows))
    return folder


def free_port() -> int:
    """A free port below the kernel's ephemeral range, for a server restarted on the same port: a
    port from the range (what binding port 0 gives) may be taken meanwhile as the local end of
    any connection on the machine (another test's), and the restarted server could not listen
    ("address already in use": it happened once on a loaded run)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(max(1024, low - 12_000), low), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


async def simulate_cli(*args: str) -> asyncio.subprocess.Process:
    """``race-control simulate ARGS`` as a user runs it."""
    return await race_control_process("simulate", *args, env=dict(os.environ))


class Records(logging.Handler):
    """Keeps the messages of one logger (the app may stop propagation to the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def matching(self, pattern: str) -> list[str]:
        return [m for m in self.messages if re.search(pattern, m)]


@contextmanager
def recorded(name: str) -> Iterator[Records]:
    logger, handler = logging.getLogger(name), Records()
    old = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def stored(db: Path, stream_id: str) -> tuple[int, int, int]:
    """(reads, distinct seqs, highest seq) of one stream, straight from the SQLite file."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT location || '/' || seq), max(seq) FROM reads WHERE stream_id = ?",
            (stream_id,),
        ).fetchone()
    return int(row[0]), int(row[1]), int(row[2] or 0)


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)
    assert condition(), what


async def test_backpressure_longer_than_every_timer_loses_nothing_on_one_connection(tmp_path: Path) -> None:
    race = write_race(tmp_path / "race" / "FINISH", BIG)
    settings = make_settings(tmp_path / "data")
    with recorded("race_control.timing.protocols.ctp01_server") as log:
        async with running(settings) as (rc, api):
            services = rc.services
            assert services is not None
            # the app's own listener keeps the 40 s dead-link timer; this one, on the same timing
            # service and store, has a short one, so the test outlasts it many times over
            listener = Ctp01Listener(
                services.timing, Ctp01Config(timezone="UTC", dead_after=DEAD_AFTER, ping_interval=0.5)
            )
            port = await listener.start("127.0.0.1", 0)
            lock: sqlite3.Connection | None = None

            def lock_the_store(stream: Any) -> None:
                # runs on the loop right after the stream's locations are committed, before any
                # of its reads can be: from here on the pipeline cannot store anything
                nonlocal lock
                if lock is None and stream.source_key == "bp" and "FINISH" in stream.locations:
                    lock = sqlite3.connect(settings.database_path, timeout=10, isolation_level=None)
                    lock.execute("BEGIN IMMEDIATE")

            services.timing.listeners.append(lock_the_store)
            try:
                sim = await simulate_cli(
                    *("--port", str(port), "--speed", "0", "--connection-id", "bp"),
                    *("--stall-timeout", str(STALL), str(race)),
                )
                await wait_for(lambda: log.matching("reading paused"), 60, "the server never paused reading")
                assert lock is not None
                paused_with = services.pipeline.backlog  # how much was read by then varies with load
                await asyncio.sleep(HOLD)  # paused all along: the backlog cannot drain
                assert services.pipeline.backlog >= paused_with > 0
                assert sim.returncode is None  # still waiting for the server to read its last lines
                lock.rollback()
                lock.close()
                lock = None
                out, err = await asyncio.wait_for(sim.communicate(), 90)
            finally:
                if lock is not None:
                    lock.close()
                if sim.returncode is None:
                    sim.kill()
                services.timing.listeners.remove(lock_the_store)
            summary = out.decode()
            assert sim.returncode == 0, (summary, err.decode())
            assert f"sent {BIG} reads" in summary
            assert "1 connection(s), 0 undelivered" in summary, summary

            await services.pipeline.drain()
            (stream,) = [s for s in await api.ok("GET", "/api/timing/sessions") if s["source_key"] == "bp"]
            assert stream["reads"] == BIG
            await listener.close()
    assert stored(settings.database_path, stream["id"]) == (BIG, BIG, BIG)
    # one connection, never dropped by the server
    assert len(log.matching(r"CTP01 client connected from")) == 1
    assert log.matching("closing link") == []


async def test_store_locked_while_the_stream_attaches_the_link_waits_and_keeps_every_read(
    tmp_path: Path,
) -> None:
    """The store fails (locked) when the stream is to be attached: the link retries, reading
    paused and its dead-link timer stopped, instead of dropping the connection and its queue."""
    reads = 2_000
    race = write_race(tmp_path / "race" / "FINISH", reads)
    settings = make_settings(tmp_path / "data")
    with recorded("race_control.timing.protocols.ctp01_server") as log:
        async with running(settings) as (rc, api):
            services = rc.services
            assert services is not None
            listener = Ctp01Listener(
                services.timing, Ctp01Config(timezone="UTC", dead_after=DEAD_AFTER, ping_interval=0.5)
            )
            port = await listener.start("127.0.0.1", 0)
            lock = sqlite3.connect(settings.database_path, timeout=10, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            try:
                sim = await simulate_cli(
                    *("--port", str(port), "--speed", "0", "--connection-id", "attach"),
                    *("--stall-timeout", str(STALL), str(race)),
                )
                # the busy timeout (5 s) runs out: attaching fails (and is retried)
                await wait_for(lambda: log.matching("database is locked"), 60, "attach never failed")
                await asyncio.sleep(HOLD)
            finally:
                lock.rollback()
                lock.close()
            out, err = await asyncio.wait_for(sim.communicate(), 90)
            summary = out.decode()
            assert sim.returncode == 0, (summary, err.decode())
            assert "1 connection(s), 0 undelivered" in summary, summary
            await services.pipeline.drain()
            (stream,) = [
                s for s in await api.ok("GET", "/api/timing/sessions") if s["source_key"] == "attach"
            ]
            assert stream["reads"] == reads
            await listener.close()
    assert stored(settings.database_path, stream["id"]) == (reads, reads, reads)
    assert len(log.matching(r"CTP01 client connected from")) == 1
    assert log.matching("closing link|connection .* failed") == []


def server_json(data_dir: Path) -> dict[str, Any]:
    return dict(json.loads((data_dir / "server.json").read_text()))


async def stream_reads(http: aiohttp.ClientSession, data_dir: Path, key: str) -> int:
    """The stream's ``reads`` per GET /api/timing/sessions (0 while it does not exist)."""
    url = server_json(data_dir)["http_url"] + "/api/timing/sessions"
    async with http.get(url, headers={"Authorization": "Bearer test-token"}) as r:
        assert r.status == 200
        streams = await r.json()
    return sum(s["reads"] for s in streams if s["source_key"] == key)


async def kill_mid_run(tmp_path: Path, *, max_retries: int) -> tuple[Path, int, asyncio.subprocess.Process]:
    """Start ``serve``, play the race paced (~6 s) into it and SIGKILL the server once a quarter
    of the reads are stored; returns (data dir, timing port, the running simulator)."""
    race = write_race(tmp_path / "race" / "FINISH", per_second=1000)  # 60 s of race time
    data_dir = tmp_path / "data"
    env = serve_env(data_dir, RACE_CONTROL_API_TOKEN="test-token")
    timing_port = free_port()
    server = await start_serve(data_dir, timing_port=timing_port, env=env, stdout=None, stderr=None)
    sim = await simulate_cli(
        *("--port", str(timing_port), "--speed", "10", "--connection-id", "kill"),
        *("--max-retries", str(max_retries), str(race)),
    )
    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(60):
                while await stream_reads(http, data_dir, "kill") < READS // 4:
                    await asyncio.sleep(0.05)
        assert sim.returncode is None, "the run ended before the server was killed"
    finally:
        server.send_signal(signal.SIGKILL)
        await server.wait()
    return data_dir, timing_port, sim


async def test_server_killed_and_restarted_mid_run_every_read_stored_once(tmp_path: Path) -> None:
    data_dir, timing_port, sim = await kill_mid_run(tmp_path, max_retries=30)
    env = serve_env(data_dir, RACE_CONTROL_API_TOKEN="test-token")
    server = await start_serve(data_dir, timing_port=timing_port, env=env, stdout=None, stderr=None)
    try:
        out, err = await asyncio.wait_for(sim.communicate(), 100)
        summary = out.decode()
        assert sim.returncode == 0, (summary, err.decode())
        assert f"sent {READS} reads" in summary and ", 0 undelivered" in summary, summary
        connections = int(re.search(r"(\d+) connection\(s\)", summary)[1])  # type: ignore[index]
        assert connections >= 2  # it really reconnected to the new server
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(30):
                while await stream_reads(http, data_dir, "kill") < READS:
                    await asyncio.sleep(0.05)
            assert await stream_reads(http, data_dir, "kill") == READS
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 30)
        if sim.returncode is None:
            sim.kill()
    with sqlite3.connect(data_dir / "race-control.sqlite3") as conn:
        (stream_id,) = conn.execute("SELECT id FROM timing_streams WHERE source_key = 'kill'").fetchone()
    assert stored(data_dir / "race-control.sqlite3", stream_id) == (READS, READS, READS)


def lines_read_by_server(data_dir: Path) -> set[int]:
    """Seqs of every data line the server read, from its raw-traffic log (written per packet)."""
    data = b"".join(
        ast.literal_eval(line.split(" <- ", 1)[1])
        for path in sorted((data_dir / "logs").glob("timing-raw.log*"))
        for line in path.read_text("utf-8").splitlines()
        if " <- b" in line
    )
    return {
        int(f[1])
        for f in (raw.split("~") for raw in data.decode("latin-1").splitlines())
        if f[0] == "CT01_33"
    }


async def test_server_killed_for_good_undelivered_reads_are_reported(tmp_path: Path) -> None:
    data_dir, _, sim = await kill_mid_run(tmp_path, max_retries=2)
    out, err = await asyncio.wait_for(sim.communicate(), 100)
    summary = out.decode()
    assert sim.returncode == 1, (summary, err.decode())
    undelivered = int(re.search(r"(\d+) undelivered", summary)[1])  # type: ignore[index]
    assert "were not confirmed by the server" in err.decode()
    assert undelivered > 0
    # what it claims delivered, the server had really read (its raw log holds every packet read)
    assert READS - undelivered <= len(lines_read_by_server(data_dir))
