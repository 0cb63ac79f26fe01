"""Everything the API shows survives a restart of `race-control serve`: once stopped with SIGTERM,
once killed with SIGKILL.

A real server subprocess gets an event with a roster, a custom template, two CTP01 streams fed
by real clients and display sessions that differ in every setting a session holds: results and
pre-race, rules (line filter, start mats, minimum time, duplicate window, waves), a leaderboard,
a countdown and a schedule, a template, streams bound at creation, bound later and unbound, a
first-finisher switch, a scheduled switch, a rule change after reads, unknown bibs, and a
session closed while its stream goes on.  The JSON of every session, stream, template, stored
finisher and suppression, and what a screen is told when it connects, must be the same after
each restart — except the fields listed in RUNTIME, which describe this process, not the data.
"""

from __future__ import annotations

import asyncio
import copy
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.server_process import ServeProcess

pytestmark = pytest.mark.slow

# Legitimately different in a new process: live connections and the clock of the answer.
RUNTIME = {
    "session": {"screens"},  # screens connected now
    "stream": {"connected"},  # a controller connected now
    "hello": {"server_time", "epoch"},  # this server's clock; its epoch (new at every start-up)
}

RUNNERS = [
    {"bib": str(b), "first_name": f"Runner{b}", "last_name": "X", "wave": "A", "division": d}
    for b, d in ((1, "F30-39"), (2, "M30-39"), (3, "F30-39"), (4, "M40-49"), (5, "F30-39"))
] + [
    {"bib": str(b), "first_name": f"Runner{b}", "last_name": "Y", "division": "M30-39"} for b in range(6, 11)
]


def read(seq: int, location: str, bib: str, at: str) -> bytes:
    return f"CT01_33~{seq}~{location}~{bib}~{at}~0~0FA22E~1\r\n".encode()


class Server(ServeProcess):
    def api(self, http: aiohttp.ClientSession) -> Api:
        return Api(http, self.base_url, self.token)


async def wait_for(probe: Any, done: Any, what: str, tries: int = 1000) -> Any:
    for _ in range(tries):
        value = await probe()
        if done(value):
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}: {value!r}")


async def stream_of(
    api: Api, port: int, conn_id: str, locations: tuple[str, ...]
) -> tuple[str, RawCtp01Client]:
    client = await RawCtp01Client.connect(port)
    await client.handshake(conn_id, locations)
    streams = await wait_for(
        lambda: api.ok("GET", "/api/timing/sessions"),
        lambda ss: any(s["source_key"] == conn_id for s in ss),
        f"stream {conn_id}",
    )
    return next(s["id"] for s in streams if s["source_key"] == conn_id), client


async def settled(api: Api, reads: int) -> None:
    """Every read sent is stored and decided, and no automatic change is still being written."""
    await wait_for(
        lambda: api.ok("GET", "/api/health"),
        lambda h: h["committed_reads"] >= reads and h["ingest_backlog"] == 0,
        f"{reads} reads stored",
    )


async def setup(api: Api, port: int) -> tuple[list[str], str]:
    """Build the scene; the session ids and the custom template's id."""
    event = await api.ok("POST", "/api/events", {"name": "Round Trip 10K", "date": "2026-06-01"}, 201)
    eid = event["id"]
    await api.ok("POST", f"/api/events/{eid}/participants", RUNNERS)
    base = await api.ok("GET", "/api/templates/results-classic")
    mine = copy.deepcopy(base)
    mine["name"] = "Sponsor blue"
    mine["theme"]["accent"] = "#1e90ff"
    template = await api.ok("POST", "/api/templates", mine, 201)
    mine["theme"]["accent"] = "#ff4500"
    template = await api.ok("PUT", f"/api/templates/{template['id']}", mine)  # version 2

    a, client_a = await stream_of(api, port, "roundtrip-a", ("start", "finish"))
    b, client_b = await stream_of(api, port, "roundtrip-b", ("finish",))
    await api.ok("PATCH", f"/api/timing/sessions/{a}", {"timezone": "UTC", "reference_date": "2026-06-01"})

    def create(body: dict[str, Any]) -> Any:
        return api.ok("POST", "/api/sessions", {"event_id": eid, **body}, 201)

    finish = await create(
        {
            "mode": "results",
            "name": "Finish line",
            "template_id": template["id"],
            "leaderboard_top": 5,
            "rules": {
                "locations": ["finish"],
                "start_locations": ["start"],
                "min_time_since_start": 60,
                "duplicate_window": 120,
                "waves": {"A": "09:00:00"},
            },
            "timing_session_ids": [a, b],  # bound in the same action
        }
    )
    start_area = await create(
        {
            "mode": "pre-race",
            "name": "Start area",
            "starts_at": time.time() + 7200,
            "switch_at": time.time() + 86000,
        }
    )
    await api.ok("POST", f"/api/sessions/{start_area['id']}/timing", {"timing_session_id": a})
    scheduled = await create(
        {"mode": "pre-race", "name": "Scheduled", "switch_at": time.time() - 1, "leaderboard_top": 3}
    )
    closed = await create({"mode": "results", "name": "Closed early", "rules": {"duplicate_window": 5}})
    await api.ok("POST", f"/api/sessions/{closed['id']}/timing", {"timing_session_id": b})
    unbound = await create({"mode": "results", "name": "Unbound B"})
    for stream in (a, b):
        await api.ok("POST", f"/api/sessions/{unbound['id']}/timing", {"timing_session_id": stream})
    rerun = await create({"mode": "results", "name": "Rules changed", "leaderboard_top": 10})
    await api.ok("POST", f"/api/sessions/{rerun['id']}/timing", {"timing_session_id": a})

    sent = 0
    batch_a = [
        read(1, "start", "guntime", "09:00:00.00"),
        *(read(1 + b_, "start", str(b_), f"09:00:{b_ * 5:02d}.00") for b_ in range(1, 6)),
        read(1, "finish", "3", "09:00:50.00"),  # 35 s after its start: too soon
        read(2, "finish", "1", "09:20:00.00"),
        read(3, "finish", "1", "09:20:30.00"),  # duplicate
        read(4, "finish", "999", "09:30:00.00"),  # not in the roster
        read(5, "finish", "2", "09:31:10.00"),
        read(6, "finish", "4", "09:35:45.25"),
        read(7, "finish", "3", "09:40:00.00"),
    ]
    await client_a.send(b"".join(batch_a))
    sent += len(batch_a)
    batch_b = [read(1, "finish", "6", "09:25:00.00"), read(2, "finish", "6", "09:25:03.00")]
    await client_b.send(b"".join(batch_b))
    sent += len(batch_b)
    await settled(api, sent)

    await api.ok("DELETE", f"/api/sessions/{closed['id']}")
    await api.ok("DELETE", f"/api/sessions/{unbound['id']}/timing/{b}")
    changed = await api.ok("PATCH", f"/api/sessions/{rerun['id']}", {"rules": {"locations": ["finish"]}})
    assert changed["rerun"]["shown_before_but_not_now"] == 5  # the start mat reads it showed
    batch_b = [read(3, "finish", "7", "09:26:00.00"), read(4, "finish", "6", "09:26:00.00")]
    await client_b.send(b"".join(batch_b))  # the closed session does not see these
    sent += len(batch_b)
    await settled(api, sent)
    await wait_for(
        lambda: api.ok("GET", "/api/sessions"),
        lambda ss: (
            [s["mode"] for s in ss if s["id"] in (start_area["id"], scheduled["id"])] == ["results"] * 2
        ),
        "the automatic switches",
    )
    for client in (client_a, client_b):
        await client.close()
    await wait_for(
        lambda: api.ok("GET", "/api/timing/sessions"),
        lambda ss: not any(s["connected"] for s in ss),
        "disconnects",
    )
    ids = [finish["id"], start_area["id"], scheduled["id"], closed["id"], unbound["id"], rerun["id"]]
    return ids, template["id"]


def without(doc: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


async def snapshot(api: Api, session_ids: list[str], template_id: str) -> dict[str, Any]:
    """Everything the API and a connecting screen say, minus RUNTIME fields."""
    out: dict[str, Any] = {
        "sessions": [without(s, RUNTIME["session"]) for s in await api.ok("GET", "/api/sessions")],
        "streams": [without(s, RUNTIME["stream"]) for s in await api.ok("GET", "/api/timing/sessions")],
        "templates": await api.ok("GET", "/api/templates"),
        "template": await api.ok("GET", f"/api/templates/{template_id}"),
    }
    for sid in session_ids:
        one = without(await api.ok("GET", f"/api/sessions/{sid}"), RUNTIME["session"])
        out[sid] = {
            "session": one,
            "finishers": await api.ok("GET", f"/api/sessions/{sid}/finishers"),
            "suppressions": await api.ok("GET", f"/api/sessions/{sid}/suppressions"),
        }
        if one["status"] == "open":
            async with api.http.ws_connect(one["display_url"].replace("http", "ws") + "/ws") as ws:
                out[sid]["hello"] = without(await ws.receive_json(timeout=5), RUNTIME["hello"])
    for stream in out["streams"]:
        out[stream["id"]] = without(
            await api.ok("GET", f"/api/timing/sessions/{stream['id']}"), RUNTIME["stream"]
        )
    return out


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Each path where the two documents differ (a readable failure)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            out += differences(before.get(key, "<missing>"), after.get(key, "<missing>"), f"{path}.{key}")
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d
            for i, (x, y) in enumerate(zip(before, after, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


async def test_every_session_stream_and_template_survives_sigterm_and_sigkill(tmp_path: Path) -> None:
    server = Server(tmp_path / "rc")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            api = server.api(http)
            session_ids, template_id = await setup(api, server.info["timing_port"])
            before = await snapshot(api, session_ids, template_id)
        # the scene is what it should be: each kind of state is really there to lose
        by_id = {sid: before[sid]["session"] for sid in session_ids}
        finish, start_area, scheduled, closed, unbound, rerun = (by_id[sid] for sid in session_ids)
        assert finish["leaderboard_top"] == 5 and finish["template_id"] == template_id
        assert finish["unknown_bibs"] == ["999"] and len(finish["timing_session_ids"]) == 2
        assert [e["bib"] for e in before[finish["id"]]["hello"]["leaderboard"]["entries"]] == [
            "1",
            "999",
            "2",
            "4",
            "3",
        ]
        assert (start_area["mode"], start_area["mode_changed_by"]) == ("results", "first finisher")
        assert start_area["starts_at"] and start_area["switch_at"]
        assert (scheduled["mode"], scheduled["mode_changed_by"], scheduled["switch_at"]) == (
            "results",
            "schedule",
            None,
        )
        assert closed["status"] == "closed" and (closed["finishers"], closed["suppressed"]) == (1, 1)
        assert len(unbound["timing_session_ids"]) == 1
        assert rerun["rules"]["locations"] == ["finish"] and rerun["suppressed"] > 0
        assert before["template"]["version"] == 2

        for how in (signal.SIGTERM, signal.SIGKILL):
            await server.stop(how)
            await server.start()
            async with aiohttp.ClientSession() as http:
                after = await snapshot(server.api(http), session_ids, template_id)
            assert not differences(before, after), f"after {how.name}:\n" + "\n".join(
                differences(before, after)
            )
    finally:
        if server.proc is not None:
            await server.stop(signal.SIGTERM)
