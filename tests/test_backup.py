"""Backup and restore of a data dir, on real SQLite files and real `race-control` processes.

- A backup taken with `race-control backup` while `serve` runs and a CTP01 client streams reads,
  restored into a new data dir, serves the same sessions and the finishers up to the backup's
  point, all of them, in order, each with its read (one consistent instant of the store).
- `restore` refuses while an instance runs on the data dir (exit 2, nothing changed), and
  rejects a damaged file, a wrong checksum, a damaged database and a newer schema with a
  message naming the problem, changing nothing.
- Restore keeps the replaced store (with its -wal) and the settings aside.
- Automatic backups: during a race and at clean shutdown, into DIR/backups/, the newest K kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import signal
import sqlite3
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from race_control.app import RaceControl
from race_control.cli import main
from race_control.store.backup import (
    BackupError,
    automatic_backups,
    check_backup,
    create_backup,
    read_manifest,
    restore_backup,
    rotating_backup,
)
from race_control.store.database import Store
from tests.conftest import Api, make_settings
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.server_process import race_control_process, serve_env, start_serve
from tests.helpers.waiting import until

DB = "race-control.sqlite3"
RUNNERS = 600


def read_line(seq: int) -> bytes:
    """Read ``seq`` is bib ``seq``: every read is a new finisher (no duplicates, all on the roster)."""
    minutes, seconds = divmod(seq, 60)
    return f"CT01_33~{seq}~finish~{seq}~09:{minutes:02d}:{seconds:02d}.50~0~0FA22E~4\r\n".encode()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def stop(proc: asyncio.subprocess.Process) -> bytes:
    proc.send_signal(signal.SIGTERM)
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err, err
    return err


async def cli(*args: str, data_dir: Path) -> tuple[int, str, str]:
    """`race-control ARGS` as a subprocess."""
    proc = await race_control_process(*args, env=serve_env(data_dir))
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def api_for(data_dir: Path, http: aiohttp.ClientSession) -> Api:
    info = json.loads((data_dir / "server.json").read_text())
    token = (data_dir / "api-token").read_text().strip()
    return Api(http, f"http://127.0.0.1:{info['http_port']}", token)


STABLE = (
    "id",
    "event_id",
    "name",
    "mode",
    "template_id",
    "locations",
    "rules",
    "status",
    "timing_session_ids",
)


def stable(session: dict[str, Any]) -> dict[str, Any]:
    out = {k: session[k] for k in STABLE}
    out["display_path"] = session["display_url"].split("/", 3)[3]  # the host:port is the server's
    return out


# --- a backup taken mid-race, restored into a new data dir -------------------------------------
@pytest.mark.slow
async def test_backup_while_serving_restores_the_same_sessions_and_finishers(tmp_path: Path) -> None:
    source, target, file = tmp_path / "source", tmp_path / "target", tmp_path / "mid-race.zip"
    proc = await start_serve(source)
    client: RawCtp01Client | None = None
    try:
        async with aiohttp.ClientSession() as http:
            api = api_for(source, http)
            event = await api.ok("POST", "/api/events", {"name": "City 10K", "date": "2026-06-01"}, 201)
            roster = [
                {"bib": str(b), "first_name": f"Runner{b}", "last_name": "Lee"} for b in range(1, RUNNERS)
            ]
            await api.ok("POST", f"/api/events/{event['id']}/participants", roster)
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
            other = await api.ok(
                "POST",
                "/api/sessions",
                {"event_id": event["id"], "mode": "results", "name": "Big screen"},
                201,
            )
            info = json.loads((source / "server.json").read_text())
            client = await RawCtp01Client.connect(info["timing_port"])
            await client.handshake("conn-backup-1")
            streams = await until(lambda: api.ok("GET", "/api/timing/sessions"), what="the stream")
            for s in (session, other):
                await api.ok(
                    "POST", f"/api/sessions/{s['id']}/timing", {"timing_session_id": streams[0]["id"]}
                )

            async def finishers(sid: str) -> list[dict[str, Any]]:
                return await api.ok("GET", f"/api/sessions/{sid}/finishers")

            # before the backup: 100 reads, all stored and shown
            await client.send(b"".join(read_line(n) for n in range(1, 101)))
            await until(lambda: _has(finishers, session["id"], 100), what="100 finishers")

            # during the backup: reads keep coming
            sent = 100
            streaming = True

            async def stream() -> None:
                nonlocal sent
                assert client is not None
                while streaming and sent < RUNNERS - 60:
                    sent += 1
                    await client.send(read_line(sent))
                    await asyncio.sleep(0.003)

            feeder = asyncio.create_task(stream())
            await until(lambda: sent >= 250, what="reads streaming")
            # (shown, not only sent: on a loaded machine the screens lag the sender)
            await until(lambda: _has(finishers, session["id"], 250), what="250 finishers shown")
            shown_before = len(await finishers(session["id"]))  # stored and shown before the backup began
            code, out, err = await cli("backup", "--data-dir", str(source), str(file), data_dir=source)
            streaming = False
            await feeder
            assert code == 0, err
            assert f"to {file}" in out
            # after the backup: more reads that the backup cannot have
            await client.send(b"".join(read_line(n) for n in range(sent + 1, sent + 51)))
            sent += 50
            await until(lambda: _has(finishers, session["id"], sent), what=f"{sent} finishers")
            source_sessions = await api.ok("GET", "/api/sessions")
            source_finishers = {s["id"]: await finishers(s["id"]) for s in (session, other)}
        await client.close()
        client = None
    finally:
        if client is not None:
            await client.close()
        await stop(proc)

    manifest = check_backup(file)
    counts = manifest["counts"]
    assert manifest["schema_revision"] and manifest["app_version"]
    assert counts["events"] == 1 and counts["sessions"] == 2 and counts["participants"] == RUNNERS - 1
    # taken mid-race: with everything stored before it began, without the last 50
    assert 250 <= shown_before <= counts["reads"] < sent

    code, out, err = await cli("restore", "--data-dir", str(target), str(file), data_dir=target)
    assert code == 0, err
    assert "Restored" in out
    proc = await start_serve(target)
    try:
        async with aiohttp.ClientSession() as http:
            api = api_for(target, http)
            restored_sessions = await api.ok("GET", "/api/sessions")
            assert sorted(map(stable, restored_sessions), key=repr) == sorted(
                map(stable, source_sessions), key=repr
            )
            for sid, full in source_finishers.items():
                got = await api.ok("GET", f"/api/sessions/{sid}/finishers")
                # one instant of the store: every stored read of the snapshot has its finisher
                assert len(got) == counts["reads"], sid
                assert got == full[: len(got)], f"{sid}: the finishers up to the backup, in order"
                restored = next(s for s in restored_sessions if s["id"] == sid)
                assert restored["finishers"] == len(got) and restored["last_seq"] == got[-1]["seq"]
            stream = (await api.ok("GET", "/api/timing/sessions"))[0]
            assert stream["reads"] == counts["reads"]
    finally:
        await stop(proc)


async def _has(finishers: Any, sid: str, n: int) -> bool:
    return len(await finishers(sid)) >= n


def test_a_backup_has_the_commits_still_only_in_the_wal(tmp_path: Path) -> None:
    """The backup reads through SQLite (the WAL included), not the database file as it lies."""
    data_dir = tmp_path / "rc"
    _store_with_events(data_dir, 1)
    writer = sqlite3.connect(data_dir / DB)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")  # nothing reaches the main file
        for i in range(20):
            writer.execute("INSERT INTO events VALUES (?, 'R', '2026-06-01', 'UTC', 1.0, 1.0)", (f"w{i}",))
            writer.commit()
        assert (data_dir / f"{DB}-wal").stat().st_size > 0
        manifest = create_backup(data_dir, tmp_path / "b.zip")
    finally:
        writer.close()
    assert manifest["counts"]["events"] == 21
    restore_backup(tmp_path / "b.zip", tmp_path / "restored")
    assert _events(tmp_path / "restored" / DB) == 21


def test_a_backup_is_one_instant_while_another_connection_writes(tmp_path: Path) -> None:
    """A writer commits a read and its display event together, again and again, while a backup
    copies one page per step: the copy never has one without the other."""
    data_dir = tmp_path / "rc"
    _store_with_events(data_dir, 0)
    setup = sqlite3.connect(data_dir / DB)
    setup.execute(
        "INSERT INTO timing_streams (id, protocol, source_key, client, event_name, source_event_id, "
        "remote_addr, locations, reference_date, timezone, created_at, updated_at) VALUES "
        "('s', 'ctp01', 'k', '', '', '', '', '[]', '', 'UTC', 1, 1)"
    )
    setup.execute("INSERT INTO events VALUES ('e', 'R', '2026-06-01', 'UTC', 1.0, 1.0)")
    setup.execute(
        "INSERT INTO display_sessions (id, token, event_id, name, mode, locations, rules, status, "
        "created_at, updated_at) VALUES ('d', 't', 'e', '', 'results', '[]', '{}', 'open', 1, 1)"
    )
    setup.commit()
    setup.close()
    done = threading.Event()
    written = [0]

    def write() -> None:
        conn = sqlite3.connect(data_dir / DB, timeout=30)
        try:
            while not done.is_set():
                n = written[0] + 1
                with conn:
                    conn.execute(
                        "INSERT INTO reads VALUES ('s', 'finish', ?, 'tag', 't', ?, '', 1.0, 0, '', 0, ?, 1.0)",
                        (n, str(n), n),
                    )
                    conn.execute(
                        "INSERT INTO display_events VALUES ('d', ?, 'finisher', ?, 's', 'finish', ?, "
                        '\'{"pad": "' + "x" * 2000 + "\"}', 1.0)",
                        (n, str(n), n),
                    )
                written[0] = n
        finally:
            conn.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while written[0] < 200:  # a database of a few hundred pages, still growing
            time.sleep(0.01)
        manifests = [create_backup(data_dir, tmp_path / f"b{i}.zip", pages_per_step=1) for i in range(3)]
    finally:
        done.set()
        thread.join()
    counts = [m["counts"] for m in manifests]
    assert all(c["reads"] == c["display_events"] >= 200 for c in counts), counts
    assert counts[0]["reads"] < counts[-1]["reads"], "the writer went on during the backups"


# --- restore refuses while an instance runs -----------------------------------------------------
@pytest.mark.slow
async def test_restore_refuses_while_an_instance_runs_and_changes_nothing(tmp_path: Path) -> None:
    data_dir, file = tmp_path / "rc", tmp_path / "b.zip"
    proc = await start_serve(data_dir)
    try:
        code, _out, err = await cli("backup", "--data-dir", str(data_dir), str(file), data_dir=data_dir)
        assert code == 0, err
        before = sorted(p.name for p in data_dir.iterdir())
        inode = (data_dir / DB).stat().st_ino
        code, out, err = await cli("restore", "--data-dir", str(data_dir), str(file), data_dir=data_dir)
        assert code == 2, (out, err)
        assert f"pid {proc.pid}" in err, err  # it names the running instance
        assert "Traceback" not in err
        assert sorted(p.name for p in data_dir.iterdir()) == before
        assert (data_dir / DB).stat().st_ino == inode  # the live database was not swapped
        async with aiohttp.ClientSession() as http:  # and the instance still works
            assert await api_for(data_dir, http).ok("GET", "/api/events") == []
    finally:
        await stop(proc)


def test_restore_refuses_on_a_live_server_json_without_the_lock(tmp_path: Path) -> None:
    """An instance whose lock cannot be seen (an older version): its server.json with a live pid."""
    source = tmp_path / "source"
    _store_with_events(source, 2)
    file = tmp_path / "b.zip"
    create_backup(source, file)
    target = tmp_path / "target"
    _store_with_events(target, 5)
    (target / "server.json").write_text(json.dumps({"pid": 1, "http_url": "http://10.0.0.2:8080"}))
    with pytest.raises(BackupError, match=r"running on .*pid 1, http://10.0.0.2:8080"):
        restore_backup(file, target)
    assert _events(target / DB) == 5 and not list(target.glob("*.replaced-*"))


def test_restore_after_a_crash_is_not_refused_for_a_stale_server_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A killed instance leaves its server.json; after a reboot its pid may be another program's
    (here pid 1). The instance lock, which died with the instance, is what counts."""
    source, target = tmp_path / "source", tmp_path / "target"
    _store_with_events(source, 2)
    create_backup(source, tmp_path / "b.zip")
    _store_with_events(target, 5)
    (target / "server.json").write_text(json.dumps({"pid": 1, "http_url": "http://10.0.0.2:8080"}))
    assert main(["restore", "--data-dir", str(target), str(tmp_path / "b.zip")]) == 0, capsys.readouterr().err
    assert _events(target / DB) == 2


# --- restore rejects bad files ------------------------------------------------------------------
def _store_with_events(data_dir: Path, n: int) -> None:
    store = Store(data_dir / DB)
    try:
        store.migrate()
        with store.engine.begin() as conn:
            for i in range(n):
                conn.exec_driver_sql(
                    "INSERT INTO events VALUES (?, ?, '2026-06-01', 'UTC', 1.0, 1.0)", (f"e{i}", f"Race {i}")
                )
    finally:
        store.close()


def _events(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def _repack(
    good: Path, dest: Path, *, manifest: dict[str, Any] | None = None, db: bytes | None = None
) -> None:
    """``good`` with its manifest and/or database replaced (the rest as it was)."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(dest, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json" and manifest is not None:
                data = json.dumps(manifest).encode()
            if name == DB and db is not None:
                data = db
            out.writestr(name, data)


def _with_db(good: Path, dest: Path, change: Any) -> None:
    """``good`` whose database ``change(path)`` altered, with a manifest that matches it again."""
    work = dest.with_suffix(".sqlite3")
    with zipfile.ZipFile(good) as z:
        work.write_bytes(z.read(DB))
    change(work)
    manifest = read_manifest(good)
    manifest["database"]["sha256"] = sha256(work)
    _repack(good, dest, manifest=manifest, db=work.read_bytes())


def _newer_schema(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()


def _damaged_index(db: Path) -> None:
    """Zero the root page of an index: the file opens, SQLite's integrity check fails."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'ix_reads_stream_arrival'"
    ).fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)


BAD_FILES = {
    "cut short": (
        lambda good, bad: bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2]),
        "not a readable zip file",
    ),
    "not a backup": (lambda good, bad: bad.write_text("hello"), "not a readable zip file"),
    "no manifest": (
        lambda good, bad: zipfile.ZipFile(bad, "w").close(),
        "is not a Race Control backup: it has no manifest.json",
    ),
    "wrong checksum": (
        lambda good, bad: _repack(
            good, bad, manifest={**read_manifest(good), "database": {"name": DB, "sha256": "0" * 64}}
        ),
        f"the checksum of {DB} does not match the manifest",
    ),
    "changed database": (
        lambda good, bad: _repack(good, bad, db=zipfile.ZipFile(good).read(DB).replace(b"Race 1", b"Race 9")),
        f"the checksum of {DB} does not match the manifest",
    ),
    "damaged database": (
        lambda good, bad: _with_db(good, bad, _damaged_index),
        "its database is damaged (SQLite's integrity check",
    ),
    "newer schema": (
        lambda good, bad: _with_db(good, bad, _newer_schema),
        "its database has schema revision 9999, newer than this Race Control",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_restore_rejects_a_bad_file_naming_the_problem_and_changes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    _store_with_events(source, 3)
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    create_backup(source, good)
    make, problem = BAD_FILES[case]
    make(good, bad)
    _store_with_events(target, 5)
    (target / "settings.json").write_text('{"http_port": 8123}')
    before = sha256(target / DB)

    assert main(["restore", "--data-dir", str(target), "--with-settings", str(bad)]) == 2
    err = capsys.readouterr().err
    assert problem in err and str(bad) in err, err
    assert sha256(target / DB) == before and _events(target / DB) == 5
    assert (target / "settings.json").read_text() == '{"http_port": 8123}'
    assert not list(target.glob("*.replaced-*")) and not list(target.glob(".restore-*"))
    # the same file, unchanged, restores (so it was the change that was rejected)
    assert main(["restore", "--data-dir", str(target), str(good)]) == 0
    assert _events(target / DB) == 3


# --- what restore keeps aside -------------------------------------------------------------------
def test_restore_keeps_the_replaced_store_with_its_wal_and_the_settings_aside(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    _store_with_events(source, 2)
    (source / "settings.json").write_text('{"http_port": 9001}')
    file = tmp_path / "b.zip"
    create_backup(source, file)

    _store_with_events(target, 4)
    (target / "settings.json").write_text('{"http_port": 9002}')
    live = sqlite3.connect(target / DB)  # a -wal with a committed row not yet in the main file
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.execute("INSERT INTO events VALUES ('late', 'Late race', '2026-06-01', 'UTC', 1.0, 1.0)")
    live.commit()
    assert (target / f"{DB}-wal").stat().st_size > 0
    shutil.copy(target / DB, tmp_path / "main-only.sqlite3")
    shutil.copy(target / f"{DB}-wal", tmp_path / "main-only.sqlite3-wal")
    live.close()  # (closing checkpoints: the copies above hold the state before)
    (target / DB).unlink()
    shutil.copy(tmp_path / "main-only.sqlite3", target / DB)
    shutil.copy(tmp_path / "main-only.sqlite3-wal", target / f"{DB}-wal")

    result = restore_backup(file, target)
    assert _events(target / DB) == 2
    assert (target / "settings.json").read_text() == '{"http_port": 9002}'  # kept: no --with-settings
    assert not (target / f"{DB}-wal").exists()  # the old WAL must never meet the new database
    db_aside = next(p for p in result.kept_aside if p.name.startswith(f"{DB}.replaced-"))
    assert not db_aside.name.endswith(("-wal", "-shm"))  # the database moves first
    assert Path(f"{db_aside}-wal") in result.kept_aside and all(p.exists() for p in result.kept_aside)
    assert _events(db_aside) == 5  # the replaced store, with its WAL, opens whole

    again = restore_backup(file, target, with_settings=True)
    assert (target / "settings.json").read_text() == '{"http_port": 9001}'
    settings_aside = [p for p in again.kept_aside if p.name.startswith("settings.json.replaced-")]
    assert len(settings_aside) == 1 and settings_aside[0].read_text() == '{"http_port": 9002}'
    assert not set(result.kept_aside) & set(again.kept_aside)  # two restores: nothing overwritten
    assert db_aside.exists() and _events(db_aside) == 5


def test_backup_of_a_data_dir_without_a_database_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", "--data-dir", str(tmp_path / "empty"), str(tmp_path / "b.zip")]) == 2
    assert "there is no database to back up in" in capsys.readouterr().err
    assert not (tmp_path / "b.zip").exists() and not (tmp_path / "empty").exists()


# --- automatic backups --------------------------------------------------------------------------
def test_rotation_keeps_the_newest_k_and_skips_an_unchanged_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "rc"
    _store_with_events(data_dir, 0)
    store = Store(data_dir / DB)
    made = []
    try:
        for i in range(6):
            with store.engine.begin() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO events VALUES (?, 'R', '2026-06-01', 'UTC', 1.0, 1.0)", (f"x{i}",)
                )
            new, _removed = rotating_backup(data_dir, 4)
            assert new is not None
            made.append(new)
        unchanged, removed = rotating_backup(data_dir, 4)
    finally:
        store.close()
    assert unchanged is None and removed == []
    assert automatic_backups(data_dir) == made[-4:]
    assert [read_manifest(p)["counts"]["events"] for p in made[-4:]] == [3, 4, 5, 6]
    mine = data_dir / "backups" / "mine.zip"  # not an automatic backup: never rotated away
    mine.write_bytes(b"a file of the user's")
    _store_with_events(data_dir, 1)
    assert rotating_backup(data_dir, 1)[0] is not None
    assert len(automatic_backups(data_dir)) == 1 and mine.exists()


async def test_automatic_backups_during_a_race_and_at_shutdown(tmp_path: Path) -> None:
    data_dir = tmp_path / "rc"
    rc = RaceControl(make_settings(data_dir, backup_interval=0.2, backup_keep=3))
    await rc.start()
    seen: set[Path] = set()
    sent = 0
    try:
        assert rc.services is not None
        pipeline = rc.services.pipeline
        client = await RawCtp01Client.connect(rc.timing_port)
        await client.handshake("conn-auto-1")

        async def race_goes_on() -> bool:
            nonlocal sent
            sent += 1
            await client.send(read_line(sent))
            current = automatic_backups(data_dir)
            seen.update(current)
            assert len(current) <= 3 + 1  # (the newest is in place a moment before the oldest goes)
            return len(seen) >= 5

        await until(race_goes_on, timeout=60, what="five automatic backups")
        await until(lambda: pipeline.committed_reads == sent, what="every read stored")
        await client.close()
    finally:
        await rc.stop()
    kept = automatic_backups(data_dir)
    assert len(kept) == 3 and kept == sorted(seen | set(kept))[-3:]
    last = check_backup(kept[-1])
    assert last["counts"]["reads"] == sent  # the shutdown backup has every read
    assert 0 < read_manifest(kept[0])["counts"]["reads"] <= sent
    assert (data_dir / "backups").stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in kept)


async def test_a_clean_shutdown_backs_up_every_read(tmp_path: Path) -> None:
    data_dir = tmp_path / "rc"
    settings = make_settings(data_dir, backup_interval=3600, backup_keep=2)  # no periodic one in this test
    for run, reads in enumerate((7, 0, 1), 1):
        rc = RaceControl(settings)
        await rc.start()
        try:
            assert rc.services is not None
            if reads:  # run 2: started and stopped, nothing else
                client = await RawCtp01Client.connect(rc.timing_port)
                await client.handshake("conn-shutdown-1")
                start = 1 + (7 if run > 1 else 0)
                await client.send(b"".join(read_line(n) for n in range(start, start + reads)))
                pipeline, n = rc.services.pipeline, reads
                await until(lambda: pipeline.committed_reads == n, what=f"{n} reads stored")  # noqa: B023
                await client.close()
        finally:
            await rc.stop()
        kept = automatic_backups(data_dir)
        # run 2 changed nothing: no second copy of the same store pushes an older one out
        assert len(kept) == {1: 1, 2: 1, 3: 2}[run], run
        assert read_manifest(kept[-1])["counts"]["reads"] == {1: 7, 2: 7, 3: 8}[run]


async def test_no_automatic_backups_when_switched_off(tmp_path: Path) -> None:
    data_dir = tmp_path / "rc"
    rc = RaceControl(make_settings(data_dir, backup_interval=0.05, backup_keep=0))
    await rc.start()
    try:
        client = await RawCtp01Client.connect(rc.timing_port)
        await client.handshake("conn-auto-2")
        await client.send(b"".join(read_line(n) for n in range(1, 6)))
        assert rc.services is not None
        await until(lambda: rc.services.pipeline.committed_reads == 5, what="5 reads stored")
        await asyncio.sleep(0.3)  # several intervals
        await client.close()
    finally:
        await rc.stop()
    assert automatic_backups(data_dir) == []
