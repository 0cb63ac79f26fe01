"""Property-based fuzzing of the whole local API from its own OpenAPI document (schemathesis).

`race-control serve` runs as a subprocess with real ids in place (an event, a display session,
a custom template, an imported timing stream), and schemathesis throws thousands of generated
requests at every documented operation.  The check: never a server error — bad input is a 4xx
with {"error": ...}.  (It found a 500 for a template whose `mode` was an object.)
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import DATA, Api
from tests.helpers.server_process import serve_env, start_serve

pytestmark = pytest.mark.slow


async def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    st = shutil.which("st") or shutil.which("schemathesis")
    if st is None:
        pytest.fail("schemathesis is not installed: run scripts/test.sh (pip install -e '.[test]')")
    data_dir = tmp_path / "rc"
    data_dir.mkdir()
    proc = await start_serve(data_dir, env=serve_env(data_dir, RACE_CONTROL_API_TOKEN="fuzz-token"))
    try:
        info = json.loads((data_dir / "server.json").read_text())
        base = f"http://127.0.0.1:{info['http_port']}"
        async with aiohttp.ClientSession() as http:
            api = Api(http, base, "fuzz-token")
            event = await api.ok("POST", "/api/events", {"name": "Fuzz", "date": "2026-06-01"}, 201)
            await api.ok("POST", f"/api/events/{event['id']}/participants", [{"bib": "1", "first_name": "A"}])
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
            base_template = await api.ok("GET", "/api/templates/results-classic")
            template = await api.ok("POST", "/api/templates", {**base_template, "name": "Fuzz"}, 201)
            imported = await api.ok(
                "POST", "/api/timing/import", {"path": str(DATA / "chronotrack-2021" / "19K")}, 201
            )
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            "[parameters]\n"
            f'event_id = "{event["id"]}"\nsession_id = "{session["id"]}"\n'
            f'template_id = "{template["id"]}"\nstream_id = "{imported["timing_session_id"]}"\n'
        )
        run = await asyncio.create_subprocess_exec(
            st,
            "--config-file",
            str(config),
            "run",
            f"{base}/api/openapi.json",
            "-H",
            "Authorization: Bearer fuzz-token",
            "--url",
            base,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "2021",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        out, _ = await asyncio.wait_for(run.communicate(), 240)
        report = out.decode(errors="replace")
        assert run.returncode == 0, report[-4000:]
        assert "passed" in report
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    server_log = (data_dir / "logs" / "race-control.log").read_text("utf-8")
    assert "unexpected error" not in server_log  # the API's safety net never had to answer
