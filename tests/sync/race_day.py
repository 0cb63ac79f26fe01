"""Every kind of local change a race day makes, through the real API and a real CTP01 socket.

``race_day(rc, api)`` creates an event, imports and edits participants, creates a template and
saves a second version, opens a display session (public), feeds CTP01 reads (finishers, a
duplicate that is suppressed, a resent seq with other content: a read conflict), binds and
unbinds a second stream, changes the session's rules (its suppressions are re-derived) and
closes another session.  Every synced table gets rows; returns the ids it made.
"""

from __future__ import annotations

from typing import Any

from race_control.app import RaceControl
from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.waiting import until


def read(seq: int, bib: int, clock: str, location: str = "finish") -> bytes:
    return f"CT01_33~{seq}~{location}~{bib}~{clock}~0~0FA22E~1\r\n".encode()


async def feed(rc: RaceControl, connection_id: str, lines: bytes, total: int) -> None:
    """A CTP01 controller sends ``lines``; returns once ``total`` reads of this process are stored."""
    assert rc.services is not None
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake(connection_id, ("finish",))
    await client.send(lines)
    pipeline = rc.services.pipeline
    await until(lambda: pipeline.committed_reads >= total, f"{total} reads stored")
    await pipeline.drain()
    await client.close()


async def race_day(rc: RaceControl, api: Api, *, reads: int = 12) -> dict[str, Any]:
    event = await api.ok("POST", "/api/events", {"name": "Sync 10K", "date": "2026-06-01"}, 201)
    eid = event["id"]
    roster = [
        {"bib": str(100 + n), "first_name": f"Ann{n}", "last_name": "Lee", "age": 30 + n} for n in range(20)
    ]
    roster[3]["city"] = 'Zürich \\ "quoted"\ttab'  # COPY's escapes and JSON's
    await api.ok("POST", f"/api/events/{eid}/participants", roster)
    await api.ok("PATCH", f"/api/events/{eid}/participants/101", {"alias": "Speedy", "hidden": True})

    base = await api.ok("GET", "/api/templates/results-classic")
    template = await api.ok("POST", "/api/templates", {**base, "name": "Sync board"}, 201)
    template = await api.ok("PUT", f"/api/templates/{template['id']}", {**template, "name": "Sync board v2"})

    lines = b"".join(read(n, 100 + n, f"09:{n:02d}:00.25") for n in range(1, reads + 1))
    lines += read(reads + 1, 101, "09:01:05.50")  # bib 101 again within the window: suppressed
    lines += b"garbled\\line\twith a tab\r\n"  # a bad line, stored raw: COPY's escapes
    await feed(rc, "sync-box-1", lines, reads + 1)
    streams = await api.ok("GET", "/api/timing/sessions")
    (stream,) = streams
    session = await api.ok(
        "POST",
        "/api/sessions",
        {"event_id": eid, "mode": "results", "name": "Finish", "timing_session_ids": [stream["id"]]},
        201,
    )
    await api.ok("PATCH", f"/api/sessions/{session['id']}", {"public": True})
    # the same seq with other content: kept as a read conflict (the stored read stays)
    await feed(rc, "sync-box-1", read(2, 999, "09:59:00.00"), reads + 1)

    await feed(rc, "sync-box-2", read(1, 150, "10:00:00.00"), reads + 2)
    streams = await api.ok("GET", "/api/timing/sessions")
    other = next(s for s in streams if s["id"] != stream["id"])
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": other["id"]})
    await api.ok("DELETE", f"/api/sessions/{session['id']}/timing/{other['id']}")
    await api.ok("PATCH", f"/api/sessions/{session['id']}", {"rules": {"duplicate_window": 120}})

    closed = await api.ok(
        "POST", "/api/sessions", {"event_id": eid, "mode": "pre-race", "name": "Start"}, 201
    )
    await api.ok("DELETE", f"/api/sessions/{closed['id']}")
    return {
        "event": eid,
        "template": template["id"],
        "session": session["id"],
        "stream": stream["id"],
        "other_stream": other["id"],
        "closed_session": closed["id"],
    }
