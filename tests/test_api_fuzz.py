"""Property-based fuzzing of the whole local API from its own OpenAPI document (schemathesis).

`race-control serve` runs as a subprocess with real ids in place (an event, a display session,
a custom template, an imported timing stream), and schemathesis throws thousands of generated
requests at every documented operation — valid ones and, as the document says
``additionalProperties: false`` and gives number ranges, ones with unknown fields and numbers
out of range.  The check: never a server error — bad input is a 4xx with {"error": ...}.  (It
found a 500 for a template whose `mode` was an object.)  What a schema cannot describe —
``NaN``/``Infinity``, 100,000-deep nesting, bodies over the limit, a non-UTF-8 header, an age
of "²" — is thrown at every documented operation by the second test.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import signal
from pathlib import Path
from typing import Any

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
            preset = await api.ok(
                "POST", "/api/presets", {"name": "Fuzz", "kind": "rules", "session_id": session["id"]}, 201
            )
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            "[parameters]\n"
            f'event_id = "{event["id"]}"\nsession_id = "{session["id"]}"\n'
            f'template_id = "{template["id"]}"\nstream_id = "{imported["timing_session_id"]}"\n'
            f'preset_id = "{preset["id"]}"\n'
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


def hostile_bodies(schema: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Bodies no JSON schema describes, for an operation whose body has ``schema``."""
    obj = schema.get("type") == "object" or "$ref" in schema
    sample = (
        b'{"name": "x", "bib": "1", "first_name": "A", "age": "\xc2\xb2"}'
        if obj
        else b'[{"bib": "1", "first_name": "A", "age": "\xc2\xb2"}]'
    )
    return [
        ("NaN", b'{"name": NaN, "starts_at": NaN}' if obj else b"[NaN]"),
        ("Infinity", b'{"starts_at": Infinity, "x": -Infinity}' if obj else b"[Infinity]"),
        ("1e999", b'{"starts_at": 1e999}' if obj else b"[1e999]"),
        ("deep", b"[" * 100_000 + b"]" * 100_000),
        ("deep object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        ("unclosed", b"[" * 100_000),
        (
            "unknown field",
            b'{"no_such_field_anywhere": 1}' if obj else b'[{"bib": "1", "first_name": "A", "no_such": {}}]',
        ),
        ("huge int", b'{"starts_at": 1' + b"0" * 4000 + b', "leaderboard_top": 1' + b"0" * 4000 + b"}"),
        ("unicode digits", sample),
        ("5000-digit age", b'[{"bib": "2", "first_name": "B", "age": "' + b"9" * 5000 + b'"}]'),
        ("lone surrogate", b'{"name": "\\ud800", "date": "2026-06-01"}'),
        ("not UTF-8", b'{"name": "\xff\xfe"}'),
        ("NUL", b'{"name": "a\\u0000b", "bib": "\\u0000"}'),
        ("over 64 MiB", b" " * (64 * 1024 * 1024 + 1)),
    ]


async def test_every_operation_answers_hostile_bodies_and_headers_with_a_4xx(tmp_path: Path) -> None:
    data_dir = tmp_path / "rc"
    data_dir.mkdir()
    proc = await start_serve(data_dir, env=serve_env(data_dir, RACE_CONTROL_API_TOKEN="fuzz-token"))
    try:
        info = json.loads((data_dir / "server.json").read_text())
        port = info["http_port"]
        base = f"http://127.0.0.1:{port}"
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,  # the builder's cookie
        ):
            api = Api(http, base, "fuzz-token")
            # the builder's own routes (/builder/api/*) take its cookie and write header, not the token
            code = await api.ok("POST", "/api/builder/codes", {}, 201)
            async with http.get(base + code["path"]) as r:
                assert r.status == 200
            builder_headers = {**api.headers, "X-Race-Control-Builder": "1"}
            event = await api.ok("POST", "/api/events", {"name": "Fuzz", "date": "2026-06-01"}, 201)
            await api.ok("POST", f"/api/events/{event['id']}/participants", [{"bib": "1", "first_name": "A"}])
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
            base_template = await api.ok("GET", "/api/templates/results-classic")
            template = await api.ok("POST", "/api/templates", {**base_template, "name": "Fuzz"}, 201)
            imported = await api.ok(
                "POST", "/api/timing/import", {"path": str(DATA / "chronotrack-2021" / "19K")}, 201
            )
            preset = await api.ok(
                "POST", "/api/presets", {"name": "Fuzz", "kind": "rules", "session_id": session["id"]}, 201
            )
            ids = {
                "event_id": event["id"],
                "session_id": session["id"],
                "template_id": template["id"],
                "stream_id": imported["timing_session_id"],
                "bib": "1",
                "alert_id": "none",
                "account_id": "none",
                "provider_event_id": "none",
                "source": "fuzz",
                "preset_id": preset["id"],
                "version": "1",
                "name": "0" * 64 + ".png",  # /display/images/{name}
            }
            doc = await api.ok("GET", "/api/openapi.json")
            answers: list[tuple[str, str, str, int]] = []
            for path, item in doc["paths"].items():
                url = path.format(**ids)
                for method, op in item.items():
                    # a non-UTF-8 token (and path bytes that decode to control characters)
                    if op.get("security") != []:  # not a public route (/api/health, screens' images)
                        head = (
                            f"{method.upper()} {url}%0a%1b[31mFORGED HTTP/1.1\r\nHost: x\r\n".encode()
                            + b"Authorization: Bearer \xff\xfe\x80fuzz-token\r\nContent-Length: 0\r\n"
                            + b"Connection: close\r\n\r\n"
                        )
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                        writer.write(head)
                        status = int((await asyncio.wait_for(reader.read(), 30)).split(b" ", 2)[1])
                        writer.close()
                        answers.append((method, path, "non-UTF-8 Authorization", status))
                        assert status == 401, (method, path, status)
                    body = op.get("requestBody")
                    if body is None:
                        continue
                    content = body["content"]  # JSON, or a file (the builder's image upload)
                    schema = (content.get("application/json") or next(iter(content.values()))).get(
                        "schema", {}
                    )
                    for name, raw in hostile_bodies(schema):
                        headers = builder_headers if path.startswith("/builder/") else api.headers
                        async with http.request(
                            method, base + url, data=io.BytesIO(raw), headers=headers
                        ) as r:
                            answers.append((method, path, name, r.status))
                            error = (await r.json()).get("error") if r.status >= 400 else None
                            assert r.status < 500 and (r.status < 400 or error), (
                                method,
                                path,
                                name,
                                r.status,
                            )
                            if name in ("NaN", "Infinity", "1e999", "deep", "deep object", "unclosed"):
                                assert r.status == 400, (method, path, name, r.status, error)
                            if name == "over 64 MiB":
                                assert r.status == 413, (method, path, name, r.status)
            assert len({(m, p) for m, p, _, _ in answers}) >= 30  # every documented operation
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    server_log = (data_dir / "logs" / "race-control.log").read_bytes()
    assert b"unexpected error" not in server_log and b"\x1b" not in server_log
