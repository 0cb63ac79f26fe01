"""Smoke test of the PyInstaller bundle (slow; opt in with RACE_CONTROL_PACKAGING_TEST=1).

Builds the bundle with packaging/build.sh unless it exists (RACE_CONTROL_PACKAGING_REBUILD=1
forces a build), or waits for the one scripts/test.sh started in the background
(RACE_CONTROL_PACKAGING_BUILD: the file its exit code lands in), then checks it carries every file of
race_control/resources and runs it offscreen: ``serve`` on free ports serves a display page of
a session created through the local API, ``demo`` replays the bundled race to its screens, and
the desktop app itself starts, serves, and shuts down cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from race_control.display_server.pages import STATIC
from race_control.paths import resources_dir

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "packaging" / "dist" / "race-control" / "race-control"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("RACE_CONTROL_PACKAGING_TEST") != "1", reason="set RACE_CONTROL_PACKAGING_TEST=1"
    ),
    pytest.mark.timeout(600),
]


def _wait_for_build(status: Path, timeout: float = 550) -> None:
    """scripts/test.sh builds the bundle in the background while the suite runs: wait for the
    file its exit code lands in (the build's own log is beside it)."""
    deadline = time.monotonic() + timeout
    while not status.is_file():
        assert time.monotonic() < deadline, f"the background bundle build wrote no {status} in {timeout} s"
        time.sleep(1)
    log = status.with_name("build.log")
    tail = log.read_text("utf-8", "replace")[-4000:] if log.is_file() else "(no build.log)"
    assert status.read_text().strip() == "0", f"packaging/build.sh failed:\n{tail}"


@pytest.fixture(scope="module")
def bundle() -> Path:
    if building := os.environ.get("RACE_CONTROL_PACKAGING_BUILD"):
        _wait_for_build(Path(building))
    elif os.environ.get("RACE_CONTROL_PACKAGING_REBUILD") == "1" or not BUNDLE.is_file():
        subprocess.run(["bash", str(ROOT / "packaging" / "build.sh")], check=True, cwd=ROOT, timeout=550)
    assert BUNDLE.is_file()
    return BUNDLE


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACE_CONTROL_")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp), XDG_CONFIG_HOME=str(tmp / "config"))
    return env


def _server(data: Path, proc: subprocess.Popen[bytes]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            return json.loads((data / "server.json").read_text("utf-8"))
        except (OSError, ValueError):
            time.sleep(0.2)
    raise AssertionError("the bundle never wrote server.json")


def _call(base: str, token: str, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    req = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def _serves_a_display_page(data: Path, info: dict[str, object]) -> None:
    base, token = str(info["http_url"]), (data / "api-token").read_text().strip()
    status, body = _call(base, token, "POST", "/api/events", {"name": "Bundle 5K", "date": "2026-06-01"})
    assert status == 201
    event = json.loads(body)
    status, body = _call(base, token, "POST", "/api/sessions", {"event_id": event["id"], "mode": "results"})
    url = json.loads(body)["display_url"]
    with urllib.request.urlopen(url, timeout=10) as r:
        page = r.read().decode()
    assert r.status == 200 and "rc-config" in page
    for name in STATIC:  # the resources travelled with the bundle (every display script and the CSS)
        with urllib.request.urlopen(base + "/display/static/" + name, timeout=10) as r:
            assert r.status == 200, name


def test_bundle_carries_every_resource(bundle: Path) -> None:
    source = resources_dir()
    wanted = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    # where race_control.paths looks inside a bundle: sys._MEIPASS/race_control/resources
    found = [p for p in bundle.parent.rglob("resources") if p.parent.name == "race_control"]
    assert found, "no race_control/resources in the bundle"
    bundled = sorted(str(p.relative_to(found[0])) for p in found[0].rglob("*") if p.is_file())
    assert bundled == wanted


def test_bundle_runs_the_demo(bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "demo"
    args = [str(bundle), "demo", "--data-dir", str(data), "--host", "127.0.0.1", "--public-host", "127.0.0.1"]
    proc = subprocess.run(
        [*args, "--http-port", "0", "--timing-port", "0", "--duration", "4"],
        env=_env(tmp_path),
        capture_output=True,
        timeout=120,
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0, (out, proc.stderr.decode())
    assert "runners (0 roster rows rejected)" in out, out  # the bundled roster
    assert "/display/" in out and "reads sent" in out, out  # the bundled 2021 race was replayed
    assert "all reads stored" in out, out


def test_bundle_serves_a_display_page(bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "serve"
    args = [str(bundle), "serve", "--data-dir", str(data), "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*args, "--http-port", "0", "--timing-port", "0"], env=_env(tmp_path), stdout=subprocess.PIPE
    )
    try:
        _serves_a_display_page(data, _server(data, proc))
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert b"all reads stored" in out


def test_bundled_desktop_app_starts_serves_and_stops(bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "desktop"
    data.mkdir()
    (data / "settings.json").write_text(
        json.dumps({"host": "127.0.0.1", "http_port": 0, "timing_port": 0, "public_host": "127.0.0.1"})
    )
    proc = subprocess.Popen(
        [str(bundle), "--data-dir", str(data)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _serves_a_display_page(data, _server(data, proc))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, (out, err)
    assert b"Traceback" not in err, err
    assert not (data / "server.json").exists()  # RaceControl.stop ran
