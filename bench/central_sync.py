"""Central sync of a whole race: a 245,000-read local store pushed to a scratch central PostgreSQL.

Run: ``python3 bench/central_sync.py`` (or ``python -m bench.central_sync``; ``--reads``,
``--participants`` for other sizes, ``--keep DIR`` to build the store once and reuse it,
``--loop`` for the round's steps one after the other and timed each, ``--no-resume``).  Target: the central sync of a
245,000-read race in < 15 s, resumable, and at most 3x a bare ``COPY`` of the same rows measured
in the same run.

1. The local store: a fresh data dir, written by the app itself (a ``RaceControl`` in this
   process, no sockets): one event with 27,000 participants (``EventService.import_participants``
   in chunks of 1,000, as the CSV import does), four CTP01 timing streams (start, 5K, 10K,
   finish: ``TimingService.attach``), two display sessions in results mode (finish line, 10K)
   bound to their streams (``ops.sessions.create``), then 245,000 ``CT01_33`` lines parsed by the
   real ``Ctp01Server`` and fed, in race-time order, to ``TimingService.raw_line``/``accept`` →
   ``IngestPipeline`` → SQLite.  So every read has its raw line, the sessions' crossing engine
   writes display events (finishers) and suppressions (repeat reads on the mat), exactly as on
   race day.  Each participant crosses each mat (about 3 % do not start or finish), with 1-4
   reads per crossing.
2. A scratch central database (``rc_bench_<hex>``, dropped at the end with its logins), migrated
   with ``race_control.central.admin.migrate``, and a partner login (``add_partner``).
3. The reference, same run, same server: a bare ``COPY`` of exactly the rows the sync sends
   (every synced table: the append tables and the entities, the same columns as the central
   tables, ``partner_id`` filled in) into plain *logged* tables of the central tables' shape
   (``CREATE TABLE ... (LIKE <central table> INCLUDING ALL)``: same columns, defaults, primary
   keys and indexes; no RLS, no triggers) in a schema of the same database, as the owner, in one
   transaction: the same durability (``synchronous_commit`` as the server has it, logged tables,
   one commit).  The clock includes reading the rows out of SQLite and encoding them as COPY text,
   as the sync must do too.  The reference runs twice (before and after the sync) and the faster
   one is the one compared against (the stricter ratio).
4. The measured figure: the real sync path — the engine's outbox and push (``read_batch`` →
   ``push_batch`` → ``mark_pushed``) until the backlog is 0, through the partner's login with
   RLS on.  Then "resumable": on a second scratch database and a copy of the same store, the
   sync is cut half-way (the partner's backend is terminated during a batch), then resumed; it
   must finish with every table's rows exactly once (central counts = local counts, no key
   twice), and the resumed run is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import io
import logging
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python3 bench/central_sync.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg2
from psycopg2 import sql

from bench.figures import Figure, below, holds
from race_control.central import schema as central_schema

TARGET_S = 15.0
TARGET_RATIO = 3.0
ADMIN_URL = os.environ.get("RACE_CONTROL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

# the race: mats in order, the share of all reads each one sees, minutes after 08:00 UTC when the
# first and the last participant cross it
MATS = (("start", 0.22, 0, 25), ("5k", 0.22, 15, 70), ("10k", 0.22, 30, 130), ("finish", 0.34, 45, 200))
SESSIONS = (("Finish line", "finish"), ("10K split", "10k"))
FIRST_NAMES = ("Anna", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi")
LAST_NAMES = ("Smith", "García", "Müller", "Nguyen", "O'Brien", "Rossi", "Kowalski", "Silva", "Okafor")


# --- 1. the local store -----------------------------------------------------------------------


def participants_rows(n: int, rnd: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "bib": str(i),
            "first_name": rnd.choice(FIRST_NAMES),
            "last_name": rnd.choice(LAST_NAMES),
            "age": rnd.randint(16, 80),
            "gender": rnd.choice("FM"),
            "city": rnd.choice(("Boston", "Lyon", "Leeds", "Graz", "Porto")),
            "country": rnd.choice(("USA", "FRA", "GBR", "AUT", "POR")),
            "division": rnd.choice(("Open", "Masters", "Juniors")),
            "team": rnd.choice(("", "", "Harriers", "Road Runners")),
            "wave": rnd.choice(("A", "B", "C")),
            "shirt_size": rnd.choice(("S", "M", "L", "XL")),  # an unknown column: kept in `raw`
        }
        for i in range(1, n + 1)
    ]


def race_lines(total: int, participants: int, rnd: random.Random) -> list[tuple[float, int, bytes]]:
    """(seconds since midnight UTC, mat index, CT01_33 line) for every read of the race, in time
    order: each mat's share of ``total``, spread over the participants who cross it, 1-4 reads
    per crossing a few tenths apart; each mat numbers its reads 1..n (the controller's seq)."""
    out: list[tuple[float, int, bytes]] = []
    crossers = [b for b in range(1, participants + 1) if rnd.random() > 0.03]
    remaining = total
    for m, (location, share, first_min, last_min) in enumerate(MATS):
        count = remaining if m == len(MATS) - 1 else round(total * share)
        remaining -= count
        order = crossers[:]
        rnd.shuffle(order)
        base, extra = divmod(count, len(order))
        t0, span = 8 * 3600 + first_min * 60, (last_min - first_min) * 60
        seq = 0
        for k, bib in enumerate(order):
            t = t0 + span * (k / len(order)) ** 1.5  # the field thins out towards the end
            for r in range(base + (1 if k < extra else 0)):
                seq += 1
                cs = round((t + r * 0.3) * 100)
                hh, rest = divmod(cs, 360_000)
                mm, rest = divmod(rest, 6_000)
                ss, hs = divmod(rest, 100)
                line = f"CT01_33~{seq}~{location}~{bib}~{hh:02d}:{mm:02d}:{ss:02d}.{hs:02d}~0~0FA22E~{r % 4 + 1}\r\n"
                out.append((cs / 100, m, line.encode()))
    out.sort(key=lambda x: x[0])
    return out


async def build_store(data_dir: Path, reads: int, participants: int, seed: int) -> dict[str, Any]:
    """Write the race into a fresh store in ``data_dir`` through the app's own services."""
    from bench._server import in_process_settings
    from race_control.app import RaceControl
    from race_control.timing.protocols.ctp01_server import Ctp01Server
    from race_control.timing.protocols.ctp01_settings import Ctp01Config
    from race_control.timing.protocols.events import RawLine, TagRead

    rnd = random.Random(seed)
    today = dt.datetime.now(dt.UTC).date()
    midnight = dt.datetime.combine(today, dt.time(), dt.UTC).timestamp()
    lines = race_lines(reads, participants, rnd)
    rc = RaceControl(in_process_settings(data_dir))
    # the bench feeds reads faster than a race does: the ingest backlog alert would fire (and
    # print) while the store is built; it is not what is measured here
    logging.getLogger("race_control").setLevel(logging.ERROR)
    services = await rc.start()
    out: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        event = await services.events.create_event({"name": "City Marathon", "date": today.isoformat()})
        rows = participants_rows(participants, rnd)
        for i in range(0, len(rows), 1000):
            imported, rejected = await services.events.import_participants(
                event.id, rows[i : i + 1000], "csv"
            )
            assert imported == len(rows[i : i + 1000]) and not rejected, rejected[:3]
        out["roster_s"] = time.perf_counter() - t0
        streams = [await services.timing.attach("ctp01", f"mat-{loc}") for loc, *_ in MATS]
        for name, loc in SESSIONS:
            stream = streams[[m[0] for m in MATS].index(loc)]
            await services.ops.sessions.create(
                {"event_id": event.id, "name": name, "mode": "results", "timing_session_ids": [stream.id]}
            )
        # parse with the real CTP01 server, one per mat (its handshake first)
        config = Ctp01Config(timezone="UTC", reference_date=today)
        protos = []
        for loc, *_ in MATS:
            proto = Ctp01Server(config, seed="x", now=0.0)
            proto.receive_data(
                f"SimpleClient~1.2.3~CTP01\r\nack~geteventinfo~Marathon~1~B\r\nack~getlocations~{loc}\r\n"
                f"ack~getconnectionid~mat-{loc}\r\n".encode(),
                0.0,
            )
            proto.begin_streaming({})
            protos.append(proto)
        t0 = time.perf_counter()
        fed = 0
        for i in range(0, len(lines), 1400):  # socket-sized slices, yielding to the loop between them
            for t, m, raw in lines[i : i + 1400]:
                received = midnight + t  # it arrives live, when it happens (no clock warnings)
                for ev in protos[m].receive_data(raw, 1.0):
                    if isinstance(ev, RawLine):
                        services.timing.raw_line(streams[m], ev.line, received)
                    elif isinstance(ev, TagRead):
                        services.timing.accept(streams[m], ev, received)
                        fed += 1
            await asyncio.sleep(0)
        await services.pipeline.drain()
        out["ingest_s"] = time.perf_counter() - t0
        assert fed == reads, (fed, reads)
        await asyncio.sleep(0.5)  # the sessions' derived writes settle
    finally:
        await rc.stop()
        logging.getLogger("race_control").setLevel(logging.NOTSET)
    return out


def synced_tables() -> list[tuple[str, str, list[str]]]:
    """(central table, local table, columns sent) for every synced table: the central table's
    columns without ``partner_id`` and the bookkeeping the server fills in (``tx``) or the
    entity sync adds (``hlc``, ``origin``, ``deleted``: given fixed values in the reference)."""
    out = []
    for name in (*central_schema.ENTITY_TABLES, *central_schema.APPEND_TABLES):
        t = central_schema.metadata.tables[name]
        local = central_schema.LOCAL_NAME.get(name, name)
        cols = [
            c.name
            for c in t.columns
            if c.name not in ("partner_id", "tx", "hlc", "origin", "deleted", "public")
        ]
        out.append((name, local, cols))
    return out


def local_counts(db_path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {
            name: int(db.execute(f"SELECT count(*) FROM {local}").fetchone()[0])
            for name, local, _ in synced_tables()
        }
    finally:
        db.close()


# --- 2. scratch central database ----------------------------------------------------------------


def scratch_central() -> contextlib.AbstractContextManager[tuple[str, str]]:
    """(owner URL, name) of a new database ``rc_bench_<hex>``; dropped afterwards with every role
    whose name starts with it (the partner logins ``add_partner`` made for it)."""
    from tests.helpers.postgres import scratch_database

    return scratch_database(prefix="rc_bench_")


def migrate_central(owner_url: str) -> None:
    try:
        from race_control.central.admin import migrate
    except ImportError:  # the migrations are not in yet: the schema module's shape, for the reference
        from sqlalchemy import create_engine

        engine = create_engine(owner_url.replace("postgresql://", "postgresql+psycopg2://", 1))
        central_schema.metadata.create_all(engine)
        engine.dispose()
        return
    migrate(owner_url)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (a PostgreSQL backend: the
    server's work for one connection; same machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_of(owner_url: str, login: str) -> float:
    """CPU seconds of the (one) backend of ``login`` now."""
    conn = psycopg2.connect(owner_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE usename = %s", (login,))
            pids = [r[0] for r in cur.fetchall()]
    finally:
        conn.close()
    return sum(proc_cpu(pid) for pid in pids)


def checkpoint(owner_url: str) -> None:
    """A CHECKPOINT (and the OS page cache flushed) before a measured phase, so neither run pays
    for the other's dirty pages."""
    conn = psycopg2.connect(owner_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CHECKPOINT")
    finally:
        conn.close()


# --- 3. the reference: a bare COPY of the same rows -------------------------------------------------


def reference_copy(owner_url: str, db_path: Path, partner_id: str, schema: str) -> dict[str, Any]:
    """COPY every synced row into plain tables ``schema.<central table>`` (LIKE the central ones,
    INCLUDING ALL), one transaction; seconds for reading + encoding, COPY, commit.

    Encoding is as cheap as Python gets (so the reference is not slowed by its own client):
    SQLite yields the rows with ``partner_id`` (and the entities' fixed ``hlc, origin, deleted``)
    already in them, ``csv.writer.writerows`` (C) writes them, COPY reads CSV; ``FORCE_NOT_NULL``
    on the NOT NULL columns keeps an empty string an empty string (NULL only where allowed)."""
    conn = psycopg2.connect(owner_url)
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for name, _local, _cols in synced_tables():
            cur.execute(
                sql.SQL("CREATE TABLE {}.{} (LIKE public.{} INCLUDING ALL)").format(
                    sql.Identifier(schema), sql.Identifier(name), sql.Identifier(name)
                )
            )
    checkpoint(owner_url)
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    backend = conn.get_backend_pid()
    cpu0, server0 = time.process_time(), proc_cpu(backend)
    read_s = copy_s = 0.0
    rows = 0
    per_table: dict[str, float] = {}
    entities = set(central_schema.ENTITY_TABLES)
    t_all = time.perf_counter()
    try:
        with conn.cursor() as cur:
            for name, local, cols in synced_tables():
                t0 = time.perf_counter()
                extra = ["hlc", "origin", "deleted"] if name in entities else []
                fixed = ", 0, 'bench', 0" if extra else ""
                select = f"SELECT ?, {', '.join(cols)}{fixed} FROM {local}"
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows(db.execute(select, (partner_id,)))
                buf.seek(0)
                t1 = time.perf_counter()
                table = central_schema.metadata.tables[name]
                not_null = [c for c in ["partner_id", *cols, *extra] if not table.c[c].nullable]
                stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({}))").format(
                    sql.Identifier(schema),
                    sql.Identifier(name),
                    sql.SQL(", ").join(map(sql.Identifier, ["partner_id", *cols, *extra])),
                    sql.SQL(", ").join(map(sql.Identifier, not_null)),
                )
                cur.copy_expert(stmt.as_string(conn), buf)
                rows += cur.rowcount
                read_s += t1 - t0
                copy_s += time.perf_counter() - t1
                per_table[name] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.commit()
        commit_s = time.perf_counter() - t0
        total_s = time.perf_counter() - t_all
        client_cpu, server_cpu = time.process_time() - cpu0, proc_cpu(backend) - server0
    finally:
        db.close()
        conn.close()
    return {
        "total_s": total_s,
        "read_s": read_s,
        "copy_s": copy_s,
        "commit_s": commit_s,
        "rows": rows,
        "tables": per_table,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
    }


def central_counts(owner_url: str, schema: str, partner_id: str) -> dict[str, tuple[int, int]]:
    """table -> (rows of ``partner_id``, distinct primary keys among them)."""
    out = {}
    conn = psycopg2.connect(owner_url)
    try:
        with conn.cursor() as cur:
            for name, *_ in synced_tables():
                keys = [c.name for c in central_schema.metadata.tables[name].primary_key.columns]
                cur.execute(
                    sql.SQL("SELECT count(*), count(DISTINCT ({})) FROM {}.{} WHERE partner_id = %s").format(
                        sql.SQL(", ").join(map(sql.Identifier, keys)),
                        sql.Identifier(schema),
                        sql.Identifier(name),
                    ),
                    (partner_id,),
                )
                n, distinct = cur.fetchone()
                out[name] = (int(n), int(distinct))
    finally:
        conn.close()
    return out


# --- 4. the real sync path --------------------------------------------------------------------


def _partner_login(url: str) -> str:
    from urllib.parse import urlsplit

    return str(urlsplit(url).username)


async def sync_with_worker(db_path: Path, partner_url: str, owner_url: str) -> dict[str, Any]:
    """The app's ``SyncWorker`` on the store, from ``start()`` until it reports idle with a
    backlog of 0 (its round: ``read_batch`` on the store's thread, ``encode_batch`` on its encoder
    thread, ``push_batch`` on its sync thread, ``mark_pushed``, ``backlog``, batch after batch;
    batch k+1 is read and encoded while k is pushed)."""
    from race_control.store.database import Store
    from race_control.sync.connection import CentralTarget
    from race_control.sync.outbox import backlog
    from race_control.sync.worker import SyncWorker

    store = Store(db_path)
    store.migrate()
    before = store.run_sync(backlog).rows
    done = asyncio.Event()
    seen: dict[str, Any] = {"batches": 0, "states": []}

    def on_status(st: Any) -> None:
        if st.state not in seen["states"][-1:]:
            seen["states"].append(st.state)
        if st.state == "idle" and st.backlog == 0 and st.last_success is not None:
            done.set()
        if st.state in ("offline", "error"):
            seen["error"] = st.last_error
            done.set()

    worker = SyncWorker(store, CentralTarget(partner_url))
    worker.on_status.append(on_status)
    t0, cpu0 = time.perf_counter(), time.process_time()
    worker.start()
    try:
        await asyncio.wait_for(done.wait(), 600)
        elapsed, client_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        server_cpu = backend_cpu_of(owner_url, _partner_login(partner_url))
    finally:
        await worker.stop()
        after = store.run_sync(backlog).rows
        store.close()
    if "error" in seen:
        raise RuntimeError(f"the sync failed: {seen['error']}")
    return {
        "s": elapsed,
        "backlog_before": before,
        "backlog_after": after,
        "pushed": worker.status().pushed,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
    }


def sync_with_loop(db_path: Path, partner_url: str, stop_after: int | None = None) -> dict[str, Any]:
    """The worker's round written out, its steps one after the other (``read_batch`` →
    ``push_batch``, which encodes, → ``mark_pushed`` → ``backlog``, the local calls through
    ``Store.run_sync``: the store's thread), timed per step; no overlap, unlike the worker.
    ``stop_after``: return after that many batches (the rest stays pending)."""
    from race_control.store.database import Store
    from race_control.sync.connection import connect
    from race_control.sync.outbox import backlog, mark_pushed, read_batch
    from race_control.sync.push import push_batch

    store = Store(db_path)
    store.migrate()
    before = store.run_sync(backlog).rows
    steps = {"read": 0.0, "push": 0.0, "mark": 0.0, "backlog": 0.0}
    pushed = batches = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    pg = connect(partner_url)
    backend = pg.get_backend_pid()
    try:
        while stop_after is None or batches < stop_after:
            t = time.perf_counter()
            batch = store.run_sync(read_batch)
            steps["read"] += time.perf_counter() - t
            if batch.empty:
                break
            t = time.perf_counter()
            pushed += push_batch(pg, batch)
            steps["push"] += time.perf_counter() - t
            t = time.perf_counter()
            store.run_sync(mark_pushed, batch)
            steps["mark"] += time.perf_counter() - t
            t = time.perf_counter()
            store.run_sync(backlog)
            steps["backlog"] += time.perf_counter() - t
            batches += 1
        elapsed, client_cpu, server_cpu = (
            time.perf_counter() - t0,
            time.process_time() - cpu0,
            proc_cpu(backend),
        )
    finally:
        pg.close()
        after = store.run_sync(backlog).rows
        store.close()
    return {
        "s": elapsed,
        "backlog_before": before,
        "backlog_after": after,
        "pushed": pushed,
        "batches": batches,
        "steps": steps,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
    }


def interrupt(db_path: Path, owner_url: str, partner_url: str) -> dict[str, Any]:
    """Sync about half the race, then break it the two ways that matter:

    1. a batch commits centrally but the app dies before checking it off locally (the store is
       closed without ``mark_pushed``, as a kill would leave it): the same rows go again;
    2. the next batch is cut mid-transaction: the partner's backend is terminated
       (``pg_terminate_backend``, what a dropped network or a server restart does) while one
       of the batch's statements runs; ``push_batch`` raises, nothing was committed.

    Returns what was pushed before and the failure seen."""
    import threading

    from race_control.store.database import Store
    from race_control.sync.connection import SyncFailure, connect
    from race_control.sync.outbox import MAX_APPEND, MAX_ENTITIES, backlog, mark_pushed, read_batch
    from race_control.sync.push import push_batch

    store = Store(db_path)
    store.migrate()
    total = store.run_sync(backlog).rows
    # batches of the worker's size, smaller only for a small race (so that "half-way" is several
    # batches in and the cut batch is big enough to be caught mid-statement)
    limits = (max(100, min(MAX_ENTITIES, total // 40)), max(500, min(MAX_APPEND, total // 30)))
    pushed = batches = 0
    pg = connect(partner_url)
    try:
        while pushed < total // 2:
            batch = store.run_sync(read_batch, *limits)
            pushed += push_batch(pg, batch)
            store.run_sync(mark_pushed, batch)
            batches += 1
        batch = store.run_sync(read_batch, *limits)  # 1. committed centrally, never checked off
        push_batch(pg, batch)
    finally:
        store.close()  # "killed": the check-off of the last batch never happened
    unmarked = batch.size
    store = Store(db_path)
    store.migrate()
    login = _partner_login(partner_url)
    killed: dict[str, Any] = {"failure": None}

    def killer(ready: threading.Event) -> None:  # 2. terminate the backend mid-transaction
        # Deterministic, whatever the machine's load: the owner holds a SHARE lock on
        # ``devices`` (the batch's last statement, after every row of it was sent), waits
        # until the partner's backend is blocked on that lock, and terminates it there.
        owner = psycopg2.connect(owner_url)
        try:
            with owner.cursor() as cur:
                cur.execute("LOCK TABLE devices IN SHARE MODE")
                ready.set()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    cur.execute("SELECT pg_stat_clear_snapshot()")  # a fresh view each poll
                    cur.execute(
                        "SELECT pid, left(query, 60) FROM pg_stat_activity WHERE usename = %s "
                        "AND state = 'active' AND wait_event_type = 'Lock'",
                        (login,),
                    )
                    row = cur.fetchone()
                    if row:
                        cur.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                        killed["during"] = row[1]
                        return
                    time.sleep(0.005)
                killed["during"] = "nothing: the batch never waited on the lock"
        finally:
            owner.rollback()
            owner.close()

    try:
        batch = store.run_sync(read_batch, *limits)
        ready = threading.Event()
        thread = threading.Thread(target=killer, args=(ready,))
        thread.start()
        ready.wait(30)
        try:
            push_batch(pg, batch)
        except SyncFailure as exc:
            killed["failure"] = f"{type(exc).__name__}: {exc}"
        finally:
            thread.join()
        if killed["failure"] is None:  # not cut: counted as done, and the bench reports FAIL
            store.run_sync(mark_pushed, batch)
            pushed += batch.size
            batches += 1
    finally:
        pg.close()
        left = store.run_sync(backlog).rows
        store.close()
    return {
        "batches_done": batches,
        "pushed": pushed,
        "unmarked": unmarked,
        "cut": killed,
        "backlog_left": left,
        "total": total,
    }


def verify_mirror(owner_url: str, dbname: str, partner: dict[str, str], db_path: Path) -> dict[str, int]:
    """Every synced table holds exactly the local rows centrally, once (tests/sync/mirror.py:
    row by row, values equal, floats exactly); the counts."""
    from race_control.store.database import sqlite_engine
    from tests.sync.mirror import Central, assert_mirrored

    engine = sqlite_engine(db_path)
    try:
        return assert_mirrored(engine, Central(owner_url, dbname, partner["url"], partner["partner_id"]))
    finally:
        engine.dispose()


# --- main -------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_sync(db_path: Path, partner_url: str, owner_url: str, loop: bool) -> dict[str, Any]:
    if loop:
        return sync_with_loop(db_path, partner_url)
    return asyncio.run(sync_with_worker(db_path, partner_url, owner_url))


def bench(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reads", type=int, default=245_000, help="reads in the race (default 245,000)")
    p.add_argument("--participants", type=int, default=27_000, help="participants (default 27,000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", metavar="DIR", help="build the store in DIR and keep it (reused if there)")
    p.add_argument(
        "--loop",
        action="store_true",
        help="the worker's round written out, timed per step, instead of SyncWorker",
    )
    p.add_argument("--no-resume", action="store_true", help="skip the interrupted + resumed run")
    a = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="rc-bench-central-"))
    try:
        data = Path(a.keep) if a.keep else tmp / "data"
        pristine = data / "race-control.sqlite3"
        if not pristine.exists():
            t0 = time.perf_counter()
            built = asyncio.run(build_store(data, a.reads, a.participants, a.seed))
            print(
                f"local store: built in {time.perf_counter() - t0:.1f} s "
                f"(roster {built['roster_s']:.1f} s, ingest {built['ingest_s']:.1f} s), "
                f"{pristine.stat().st_size / 2**20:.0f} MiB"
            )
        else:
            print(f"local store: {pristine} (reused)")
        counts = local_counts(pristine)
        reads = counts["timing_reads"]
        total_rows = sum(counts.values())
        print(f"  {total_rows:,} rows to sync: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v))
        print(f"  {load()}")

        with scratch_central() as (owner_url, dbname):
            migrate_central(owner_url)
            partner = admin_add_partner(owner_url)
            store_a = tmp / "a" / "race-control.sqlite3"
            store_a.parent.mkdir()
            shutil.copy(pristine, store_a)
            ref = [reference_copy(owner_url, pristine, partner["partner_id"], "bench_ref")]
            checkpoint(owner_url)
            print(f"  {load()}")
            sync = run_sync(store_a, partner["url"], owner_url, a.loop)
            checkpoint(owner_url)
            ref.append(reference_copy(owner_url, pristine, partner["partner_id"], "bench_ref"))
            got = central_counts(owner_url, "public", partner["partner_id"])
            exact = all(got[k] == (v, v) for k, v in counts.items())
            ref_got = central_counts(owner_url, "bench_ref", partner["partner_id"])
            assert all(ref_got[k] == (v, v) for k, v in counts.items()), (ref_got, counts)
            print(f"  {load()}")

        best = min(ref, key=lambda r: r["total_s"])
        rr = best["tables"]["timing_reads"] + best["tables"]["raw_lines"]
        print(
            f"reference, bare COPY of the same {best['rows']:,} rows into plain logged tables of the central "
            "shape (owner, no RLS, same server): "
            + " / ".join(f"{r['total_s']:.2f} s" for r in ref)
            + " (before / after)"
        )
        print(
            f"  best {best['total_s']:.2f} s: SQLite read + CSV encode {best['read_s']:.2f} s, COPY {best['copy_s']:.2f} s, "
            f"commit {best['commit_s']:.2f} s; of it reads + raw lines alone {rr:.2f} s"
        )
        how = "read_batch/push_batch/mark_pushed loop" if a.loop else "SyncWorker"
        print(
            f"sync ({how}, partner login, RLS on): {sync['pushed']:,} rows, backlog {sync['backlog_before']:,} -> "
            f"{sync['backlog_after']:,}, central = local in every table, each key once: {exact}"
        )
        if "steps" in sync:
            st = sync["steps"]
            print(
                f"  {sync['batches']} batches: read_batch {st['read']:.2f} s, push_batch {st['push']:.2f} s, "
                f"mark_pushed {st['mark']:.2f} s, backlog {st['backlog']:.2f} s"
            )
        ref_cpu = best["client_cpu"] + best["server_cpu"]
        sync_cpu = sync["client_cpu"] + sync["server_cpu"]
        print(
            f"CPU (load-independent): sync {sync_cpu:.1f} s (this process {sync['client_cpu']:.1f} s, its PostgreSQL "
            f"backend {sync['server_cpu']:.1f} s) vs the best reference {ref_cpu:.1f} s ({best['client_cpu']:.1f} + "
            f"{best['server_cpu']:.1f} s): {sync_cpu / ref_cpu:.2f}x"
        )
        ratio = sync["s"] / best["total_s"]
        ok_time = sync["s"] < TARGET_S and exact and sync["backlog_after"] == 0
        ok_ratio = ratio <= TARGET_RATIO
        print(
            f"central sync {reads:,} reads: {sync['s']:.2f} s (target < {TARGET_S:.0f} s)  "
            f"{sync['pushed'] / sync['s']:,.0f} rows/s, {reads / sync['s']:,.0f} reads/s  {verdict(ok_time)}"
        )
        print(f"ratio vs bare COPY: {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x)  {verdict(ok_ratio)}")
        print(f"  (vs COPY of reads + raw lines alone: {sync['s'] / rr:.2f}x)")

        ok_resume = True
        if not a.no_resume:
            with scratch_central() as (owner_url, dbname):
                migrate_central(owner_url)
                partner = admin_add_partner(owner_url)
                store_b = tmp / "b" / "race-control.sqlite3"
                store_b.parent.mkdir()
                shutil.copy(pristine, store_b)
                cut = interrupt(store_b, owner_url, partner["url"])
                resumed = run_sync(store_b, partner["url"], owner_url, a.loop)
                t0 = time.perf_counter()
                try:
                    mirrored = verify_mirror(owner_url, dbname, partner, store_b)
                    mirror_ok = sum(mirrored.values()) == total_rows
                except AssertionError as exc:
                    mirrored, mirror_ok = {}, False
                    print(f"  NOT MIRRORED: {exc}")
                verify_s = time.perf_counter() - t0
                got = central_counts(owner_url, "public", partner["partner_id"])
                once = all(got[k] == (v, v) for k, v in counts.items())
            ok_resume = (
                cut["cut"].get("failure") is not None and mirror_ok and once and resumed["backlog_after"] == 0
            )
            print(
                f"resumable: {cut['batches_done']} batches ({cut['pushed']:,} rows) synced, then one batch of "
                f"{cut['unmarked']:,} rows committed centrally but never checked off locally (store closed), then the "
                f"next cut mid-transaction (backend terminated during {cut['cut'].get('during')!r}): "
                f"{cut['cut'].get('failure')}"
            )
            print(
                f"  resumed with a fresh {how}: backlog {resumed['backlog_before']:,} -> {resumed['backlog_after']:,}, "
                f"{resumed['pushed']:,} rows sent again or for the first time; afterwards every table central = local "
                f"row by row ({verify_s:.1f} s to check), each key once: {mirror_ok and once}"
            )
            print(f"resumed run: {resumed['s']:.2f} s  {verdict(ok_resume)}")
        print(f"  {load()}")
        print("PASS" if ok_time and ok_ratio and ok_resume else "FAIL")
        what = f"central sync, {reads:,} reads"
        out = [
            holds(
                "central_sync", "central = local in every table, each key once", exact, sync["pushed"], "rows"
            ),
            below("central_sync", what, sync["s"], "s", TARGET_S),
            below("central_sync", f"{what} / bare COPY", sync["s"], "s", TARGET_RATIO, ratio=ratio),
        ]
        if not a.no_resume:
            out.append(holds("central_sync", "resumable after a cut", ok_resume, resumed["pushed"], "rows"))
        return out
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            for sub in ("a", "b"):
                shutil.rmtree(tmp / sub, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)


def admin_add_partner(owner_url: str) -> dict[str, str]:
    from race_control.central.admin import add_partner

    return add_partner(owner_url, "Bench Timing")


if __name__ == "__main__":
    bench()
