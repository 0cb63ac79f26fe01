"""Bad input is a 4xx naming the problem, or a rejected row with its reason — never a 500,
never half-applied, never a dead socket or ticker.  One test per bug the race-day review
found (docs/bad-input.md)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from race_control.app import RaceControl
from race_control.errors import InputError
from race_control.logging_setup import EscapeControlCharacters, safe
from race_control.progress import Progress
from race_control.roster.csv_import import parse_csv
from race_control.templates.service import validate_template
from tests.conftest import Api
from tests.display.test_resume import lines, setup_session
from tests.helpers.server_process import serve_env, start_serve


async def make_event(api: Api) -> dict[str, Any]:
    return await api.ok("POST", "/api/events", {"name": "Bad Input 10K", "date": "2026-06-01"}, 201)


async def until(check: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# --- sessions: NaN/Infinity and out-of-range times ---------------------------------------------


async def test_an_infinite_start_time_is_a_400_and_the_ticker_keeps_switching_other_sessions(
    rc: RaceControl, api: Api
) -> None:
    event = await make_event(api)
    victim = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "pre-race"}, 201)
    before = await api.ok("GET", f"/api/sessions/{victim['id']}")
    path = f"/api/sessions/{victim['id']}"
    for raw in (
        b'{"starts_at": Infinity}',
        b'{"starts_at": -Infinity}',
        b'{"switch_at": NaN}',
        b'{"starts_at": 1e999}',
    ):
        status, body = await api.call("PATCH", path, raw=raw)
        assert status == 400 and "not valid JSON" in body["error"], (raw, status, body)
    for value in (1e300, 4102444801, -1):  # JSON numbers, but no time of a race
        status, body = await api.call("PATCH", path, {"starts_at": value})
        assert status == 400 and "'starts_at'" in body["error"] and "2100" in body["error"], (value, body)
    assert await api.ok("GET", path) == before  # nothing half-applied
    # the once-a-second ticker still runs for everyone: another session switches on schedule
    other = await api.ok(
        "POST",
        "/api/sessions",
        {"event_id": event["id"], "mode": "pre-race", "switch_at": time.time() - 1},
        201,
    )

    async def switched() -> bool:
        return (await api.ok("GET", f"/api/sessions/{other['id']}"))["mode"] == "results"

    await until(switched, "the scheduled switch of the other session")
    assert (await api.ok("GET", path))["mode"] == "pre-race"  # the victim has no switch time


async def test_unknown_fields_are_a_400_naming_them_and_the_known_ones(rc: RaceControl, api: Api) -> None:
    event = await make_event(api)
    session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
    await api.ok("POST", f"/api/events/{event['id']}/participants", [{"bib": "1", "first_name": "A"}])
    sid = session["id"]
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/api/events", {"name": "X", "date": "2026-06-01", "colour": "red"}, "colour"),
        ("POST", "/api/sessions", {"event_id": event["id"], "mode": "results", "startsAt": 1}, "startsAt"),
        ("PATCH", f"/api/sessions/{sid}", {"name": "Finish", "colour": "red"}, "colour"),
        ("PATCH", f"/api/sessions/{sid}", {"event_id": event["id"]}, "event_id"),  # create only
        ("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": "x", "colour": "red"}, "colour"),
        ("POST", f"/api/sessions/{sid}/screens/reload", {"screen": "tv-1"}, "screen"),
        ("POST", f"/api/sessions/{sid}/screens/switch", {"to_session_id": "x", "to": "y"}, "to"),
        ("PATCH", f"/api/events/{event['id']}/participants/1", {"colour": "red"}, "colour"),
    ]
    for method, path, body, field in cases:
        status, data = await api.call(method, path, body)
        assert status == 400, (method, path, status, data)
        assert "unknown" in data["error"] and field in data["error"] and "known" in data["error"], data
    template = await api.ok("GET", "/api/templates/results-classic")
    status, data = await api.call("POST", "/api/templates", {**template, "name": "Mine", "script": "x"})
    assert status == 400 and "'script'" in data["error"] and "blocks" in data["error"], data
    assert [e["name"] for e in await api.ok("GET", "/api/events")] == ["Bad Input 10K"]
    assert (await api.ok("GET", f"/api/sessions/{session['id']}"))["name"] == session["name"]


# --- templates: NaN ---------------------------------------------------------------------------


async def test_nan_in_a_template_is_a_400_and_no_template_is_saved(rc: RaceControl, api: Api) -> None:
    base = await api.ok("GET", "/api/templates/results-classic")
    before = await api.ok("GET", "/api/templates")
    text = json.dumps({**base, "name": "NaN sizes"}).replace('"size": 46', '"size": NaN', 1)
    assert "NaN" in text
    status, body = await api.call("POST", "/api/templates", raw=text.encode())
    assert status == 400 and "NaN" in body["error"], body
    # and in-process (the desktop's template page saves through the same validator)
    broken = json.loads(json.dumps(base))
    broken["blocks"][0]["style"]["size"] = math.nan
    with pytest.raises(InputError, match=r"blocks\[0\]\.style\.size"):
        validate_template(broken)
    assert rc.services is not None
    with pytest.raises(InputError, match="finite"):
        await rc.services.ops.templates.save({**broken, "name": "NaN sizes"})
    assert await api.ok("GET", "/api/templates") == before


# --- roster: unicode digits and huge numbers in ages ---------------------------------------------


async def test_a_superscript_or_5000_digit_age_rejects_that_row_and_the_rest_imports(
    rc: RaceControl, api: Api
) -> None:
    event = await make_event(api)
    rows = [
        {"bib": "1", "first_name": "Ann", "age": "34"},
        {"bib": "2", "first_name": "Sup", "age": "²"},  # "²".isdigit() is True; int("²") raises
        {"bib": "3", "first_name": "Big", "age": "9" * 5000},  # int() refuses > 4300 digits
        {"bib": "4", "first_name": "Arabic", "age": "٣٤"},
        {"bib": "5", "first_name": "Bo", "age": 40},
    ]
    result = await api.ok("POST", f"/api/events/{event['id']}/participants", rows)
    assert result["imported"] == 2
    assert {r["index"]: ("'age'" in r["error"], r["bib"]) for r in result["rejected"]} == {
        2 - 1: (True, "2"),
        3 - 1: (True, "3"),
        4 - 1: (True, "4"),
    }
    roster = await api.ok("GET", f"/api/events/{event['id']}/participants")
    assert [(p["bib"], p["age"]) for p in roster] == [("1", 34), ("5", 40)]


async def test_a_csv_import_in_chunks_rejects_bad_ages_without_stopping_half_way(rc: RaceControl) -> None:
    assert rc.services is not None
    ops = rc.services.ops.roster
    event = (await ops.create_event({"name": "CSV 10K", "date": "2026-06-01"})).event
    text = "bib,first_name,age\n" + "".join(
        f"{n},Runner{n},{'²' if n == 3 else '9' * 5000 if n == 4 else 30}\n" for n in range(1, 8)
    )
    rows = parse_csv(text)
    result = await ops.import_in_chunks(event.id, rows, Progress(), source="csv", chunk=2)
    assert result.imported == 5  # the chunks after the bad rows were imported too
    assert [(r.index, r.bib) for r in result.rejected] == [(3, "3"), (4, "4")]  # rows count from 1
    assert all(f"row {r.index} " in r.error and "'age'" in r.error for r in result.rejected)
    assert [p.bib for p in rc.services.events.roster(event.id)] == ["1", "2", "5", "6", "7"]


# --- JSON structure and size ----------------------------------------------------------------------


async def test_deeply_nested_or_oversized_json_is_a_4xx(rc: RaceControl, api: Api) -> None:
    deep = (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"[" * 100_000)
    for raw in (*deep, b"[" * 33 + b"]" * 33):  # 33: json.loads would take it, the API does not
        status, body = await api.call("POST", "/api/events", raw=raw)
        assert status == 400 and "32 levels" in body["error"], (raw[:20], status, body)
    # 32 levels are fine (the body is still no event: a 400 for that, not for its depth)
    status, body = await api.call("POST", "/api/events", raw=b"[" * 32 + b"]" * 32)
    assert status == 400 and "levels" not in body["error"] and "JSON object" in body["error"], body
    big = json.dumps({"name": "x" * (1024 * 1024), "date": "2026-06-01"}).encode()
    async with api.http.post(f"{api.base}/api/events", data=io.BytesIO(big), headers=api.headers) as r:
        assert r.status == 413 and "1 MiB" in (await r.json())["error"]
    for raw in (b'"\\ud800"', b'{"name": "\xed\xa0\x80", "date": "2026-06-01"}', b"\xff\xfe{}"):
        status, body = await api.call("POST", "/api/events", raw=raw)
        assert status == 400, (raw, status, body)
    assert await api.ok("GET", "/api/events") == []
    # without a Content-Length (chunked), the limit holds as well
    event = await make_event(api)

    async def chunks() -> Any:
        for _ in range(2 * 1024):
            yield b"x" * 1024

    async with api.http.patch(
        f"{api.base}/api/events/{event['id']}/participants/1", data=chunks(), headers=api.headers
    ) as r:
        assert r.status == 413 and "1 MiB" in (await r.json())["error"]
    # an import may be larger than 1 MiB
    rows = [{"bib": str(n), "first_name": "R" * 100, "city": "C" * 100} for n in range(1, 6001)]
    assert len(json.dumps(rows)) > 1024 * 1024
    url = f"{api.base}/api/events/{event['id']}/participants"
    async with api.http.post(url, data=io.BytesIO(json.dumps(rows).encode()), headers=api.headers) as r:
        assert r.status == 200 and (await r.json())["imported"] == 6000


# --- headers, logs ----------------------------------------------------------------------------------


async def raw_request(port: int, head: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


async def test_a_non_utf8_authorization_is_a_401_and_client_text_never_forges_a_log_line(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "rc"
    data_dir.mkdir()
    proc = await start_serve(data_dir, env=serve_env(data_dir, RACE_CONTROL_API_TOKEN="good-token"))
    try:
        info = json.loads((data_dir / "server.json").read_text())
        port = info["http_port"]
        forged = quote("\n2026-06-01 08:00:00,000 ERROR   race_control.http: FORGED\x1b[31m")
        for auth in (b"Bearer \xff\xfe\x80", b"\xc3\x28", b"Bearer good-token\xff"):
            status, body = await raw_request(
                port,
                b"GET /api/events/x"
                + forged.encode()
                + b" HTTP/1.1\r\nHost: x\r\nAuthorization: "
                + auth
                + b"\r\nConnection: close\r\n\r\n",
            )
            assert status == 401 and b"token" in body, (auth, status, body)
        # a screen's message with control characters reaches the log escaped
        async with aiohttp.ClientSession() as http:
            api = Api(http, f"http://127.0.0.1:{port}", "good-token")
            event = await make_event(api)
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
            async with http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "hello"
                await ws.send_json({"type": "resume", "after_seq": "1\nERROR FORGED\x1b[31m"})
                await ws.send_json({"type": "pong", "t": "now"})  # a later message: the first was read
                await asyncio.sleep(0.2)
                assert not ws.closed
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    log = (data_dir / "logs" / "race-control.log").read_bytes()
    assert b"unexpected error" not in log and b"\x1b" not in log
    forged_lines = [line for line in log.decode("utf-8").splitlines() if "FORGED" in line]
    assert len(forged_lines) == 1, forged_lines  # the screen's one message, on one line of ours:
    assert "ignored resume after_seq 1\\nERROR FORGED\\x1b[31m (str, not a seq)" in forged_lines[0]


def test_log_messages_escape_control_characters_and_keep_their_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(EscapeControlCharacters())  # what configure_logging puts on every handler
    logger = logging.getLogger("tests.bad_input.escape")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("GET %s: %s", "/api/x\n2026-06-01 ERROR forged", "\x1b[2J\u2028\ud800 é")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed\r\nhere")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue().splitlines()
    assert out[0] == "GET /api/x\\n2026-06-01 ERROR forged: \\x1b[2J\\u2028\\ud800 é"
    assert out[1] == "failed\\r\\nhere" and out[2] == "Traceback (most recent call last):"
    assert safe("a\tb\x00\x9b") == "a\\tb\\x00\\x9b" and safe("é ok") == "é ok"
    assert safe(10**5000) == "<an integer of 16610 bits>" and len(safe("x" * 1000)) == 201


# --- screen WebSocket messages ---------------------------------------------------------------------


async def test_hostile_screen_messages_keep_the_socket_and_later_finishers_arrive(
    rc: RaceControl, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    session, client = await setup_session(api, rc.timing_port)
    ws_url = session["display_url"].replace("http", "ws") + "/ws"
    caught_up: list[int] = []

    async def next_finishers(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[int]:
        seqs: list[int] = []

        async def read() -> None:
            while len(seqs) < n:
                msg = await ws.receive_json()
                if msg["type"] == "finisher":
                    seqs.append(msg["seq"])
                elif msg["type"] == "caught_up":
                    caught_up.append(msg["last_seq"])

        await asyncio.wait_for(read(), 20)  # pings keep coming: a deadline for the whole wait
        return seqs

    async with api.http.ws_connect(ws_url) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await client.send(lines(1, 3))
        assert await next_finishers(ws, 3) == [1, 2, 3]
        hostile = [
            '{"type": "resume", "after_seq": 3, "viewport": [1' + "0" * 400 + ", 1]}",
            '{"type": "resume", "after_seq": -1}',
            '{"type": "resume", "after_seq": 2.5}',
            '{"type": "resume", "after_seq": "3"}',
            '{"type": "resume", "after_seq": NaN}',
            '{"type": "pong", "t": 1' + "0" * 400 + "}",  # float(10**400) overflows
            '{"type": "pong", "t": Infinity}',
            '{"type": "pong", "t": -1e308}',
            '{"type": "pong", "t": "x"}',
            '{"type": "rendered", "seq": 1' + "0" * 400 + "}",
            "[" * 3000,  # json.loads: RecursionError
            '{"type": "pong", "t": "' + "x" * 20_000 + '"}',  # too long to read
            "not json",
            "[]",
            # a seq beyond the session's last would make the screen skip every new finisher, and
            # 10**400 is more than SQLite can take: both are resumed from the last seq (3)
            '{"type": "resume", "after_seq": 1' + "0" * 400 + "}",
            '{"type": "resume", "after_seq": 9223372036854775807}',
            '{"type": "rendered", "seq": 3}',  # the marker: everything before it was read
        ]
        for text in hostile:
            await ws.send_str(text)

        async def marker_read() -> bool:
            screens = await api.ok("GET", f"/api/sessions/{session['id']}/screens")
            return screens[0]["last_seq_rendered"] >= 3

        await until(marker_read, "the screen's messages to be read")
        await client.send(lines(4, 6))
        assert await next_finishers(ws, 3) == [4, 5, 6]
        assert not ws.closed and caught_up and max(caught_up) == 3, caught_up
        screens = await api.ok("GET", f"/api/sessions/{session['id']}/screens")
        assert len(screens) == 1 and screens[0]["last_seq_sent"] == 6
        assert screens[0]["last_seq_rendered"] == 3 and screens[0]["viewport"] == []
        assert screens[0]["rtt_ms"] is None  # no pong answered a ping of ours
    warnings = caplog.text
    for logged in (
        "is beyond the session's last seq 3; resuming from 3",
        "ignored resume after_seq -1 (int, not a seq)",
        "ignored resume after_seq 3 (str, not a seq)",
        "ignored resume after_seq 2.5 (float, not a seq)",
        "ignored pong t=<an integer of 1329 bits>",
        "ignored pong t=-1e+308",
        "ignored a 20025-character message",
    ):
        assert logged in warnings, logged
    status, body = await api.call("GET", f"/api/sessions/{session['id']}/finishers?after_seq=1{'0' * 30}")
    assert status == 400 and "'after_seq'" in body["error"]
    assert [
        f["seq"] for f in await api.ok("GET", f"/api/sessions/{session['id']}/finishers?after_seq=4")
    ] == [5, 6]
    await client.close()
