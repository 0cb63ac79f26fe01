"""One Race Control per data dir (race_control/instance.py): a second one, started the way a user
starts it, exits 2 naming the first (pid, URL) and changes nothing in the data dir; the lock is
the OS's, so it goes with the process (a killed instance leaves none behind)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from pathlib import Path

import pytest

from race_control.app import RaceControl
from race_control.instance import DataDirInUse, InstanceLock, held_by, is_locked
from tests.conftest import make_settings
from tests.helpers.server_process import race_control_process, serve_env, start_serve
from tests.helpers.waiting import finished

SERVE_ARGS = ("serve", "--host", "127.0.0.1", "--http-port", "0", "--timing-port", "0")


def snapshot(data_dir: Path) -> dict[str, tuple[str, int]]:
    """Every file directly in the data dir whose change would matter: its content hash and mtime."""
    names = ("server.json", "api-token", "race-control.sqlite3")
    out = {}
    for name in names:
        p = data_dir / name
        out[name] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0


async def test_a_second_serve_on_a_data_dir_in_use_exits_2_naming_the_first_and_changes_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    first = await start_serve(data, wait=60)
    try:
        info = json.loads((data / "server.json").read_text("utf-8"))
        assert info["pid"] == first.pid
        before = snapshot(data)

        second = await race_control_process(*SERVE_ARGS, env=serve_env(data))
        out, err = await finished(second)
        text = err.decode()
        assert second.returncode == 2, (out, err)
        assert f"pid {first.pid}" in text and info["http_url"] in text, text
        assert str(data) in text and "Traceback" not in text, text

        assert snapshot(data) == before  # server.json kept, no migration, no new token
        assert first.returncode is None  # the first one runs on
        assert held_by(data) is not None
    finally:
        await stop_process(first)
    assert not (data / "server.json").exists()
    assert held_by(data) is None
    third = await start_serve(data, wait=60)  # the data dir is free again
    await stop_process(third)


async def test_a_killed_instance_leaves_no_lock_behind(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = await start_serve(data, wait=60)
    assert is_locked(data)
    first.kill()  # no clean shutdown: server.json stays, the OS drops the lock
    await asyncio.wait_for(first.communicate(), 30)
    assert (data / "server.json").exists()
    assert not is_locked(data)
    again = await start_serve(data, wait=60)
    await stop_process(again)


async def test_a_second_instance_in_one_process_fails_before_touching_the_store(tmp_path: Path) -> None:
    """The lock in RaceControl.start itself (the CLI's early check aside): the second gets
    DataDirInUse naming the first; its stop() leaves the first's server.json in place."""
    data = tmp_path / "data"
    first = RaceControl(make_settings(data))
    await first.start()
    try:
        server_json = (data / "server.json").read_bytes()
        second = RaceControl(make_settings(data))
        with pytest.raises(DataDirInUse) as caught:
            await second.start()
        assert caught.value.running.url == first.http_url
        assert first.http_url in str(caught.value) and "pid " in str(caught.value)
        assert not caught.value.retryable
        assert second.services is None  # no store was opened
        await second.stop()
        assert (data / "server.json").read_bytes() == server_json
        assert first.services is not None
    finally:
        await first.stop()
    second = RaceControl(make_settings(data))
    await second.start()  # free again
    await second.stop()


def test_held_by_names_the_holder_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert held_by(missing) is None and not missing.exists()
    data = tmp_path / "data"
    data.mkdir()
    assert held_by(data) is None and list(data.iterdir()) == []

    with InstanceLock(data):
        running = held_by(data)
        assert running is not None and running.pid is None
        assert "starting up" in running.describe()
        (data / "server.json").write_text(json.dumps({"pid": 4321, "http_url": "http://10.0.0.5:8080"}))
        running = held_by(data)
        assert running is not None and (running.pid, running.url) == (4321, "http://10.0.0.5:8080")
        assert is_locked(data)
    assert held_by(data) is None and not is_locked(data)
