"""A small race for the sync fault tests, made through the real API and a real CTP01 client.

``build(api, timing_port, rng)`` makes an event with a roster, a template of its own, a CTP01
stream (start and finish mats), a results session bound to it, and a second session bound then
unbound (so ``session_streams`` holds a tombstone); ``Race.feed(n)`` sends ``n`` more reads
(random bibs, some unknown, some duplicates: finishers, suppressions, display events), and
``Race.edit()`` changes a random participant (an entity changing while batches are on their
way).  Every synced table gets rows.  ``settled(api, n)``: ``n`` reads stored and decided.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.waiting import until

RUNNERS = 60


def read_line(seq: int, location: str, bib: str, at: float) -> bytes:
    cs = round(at * 100)  # hundredths of a second since midnight
    hh, rest = divmod(cs, 360_000)
    mm, rest = divmod(rest, 6000)
    ss, cc = divmod(rest, 100)
    return f"CT01_33~{seq}~{location}~{bib}~{hh:02d}:{mm:02d}:{ss:02d}.{cc:02d}~0~0FA22E~1\r\n".encode()


@dataclass
class Race:
    api: Api
    rng: random.Random
    event_id: str
    stream_id: str
    session_ids: list[str]
    client: RawCtp01Client
    sent: int = 0
    clock: float = 9 * 3600.0  # the mats' time of day (s)
    seqs: dict[str, int] = field(default_factory=lambda: {"start": 0, "finish": 0})

    async def feed(self, n: int, *, chunk: int = 50) -> None:
        """Send ``n`` reads in packets of ``chunk`` lines."""
        lines = []
        for _ in range(n):
            location = "start" if self.rng.random() < 0.2 else "finish"
            self.seqs[location] += 1
            self.clock += self.rng.uniform(0.01, 2.0)
            roll = self.rng.random()
            bib = str(self.rng.randint(900, 999)) if roll < 0.05 else str(self.rng.randint(1, RUNNERS))
            lines.append(read_line(self.seqs[location], location, bib, self.clock))
        for i in range(0, len(lines), chunk):
            await self.client.send(b"".join(lines[i : i + chunk]))
        self.sent += n

    async def edit(self) -> None:
        bib = str(self.rng.randint(1, RUNNERS))
        await self.api.ok(
            "PATCH",
            f"/api/events/{self.event_id}/participants/{bib}",
            {"team": f"Team {self.rng.randint(1, 10**6)}", "city": f"City {self.rng.random()!r}"},
        )

    async def close(self) -> None:
        """Close the CTP01 connection (again: a no-op)."""
        await self.client.close()


async def settled(api: Api, reads: int, timeout: float = 30.0) -> None:
    async def done() -> bool:
        h = await api.ok("GET", "/api/health")
        return h["committed_reads"] >= reads and h["ingest_backlog"] == 0

    await until(done, f"{reads} reads stored", timeout)


async def build(api: Api, timing_port: int, rng: random.Random, name: str = "faults") -> Race:
    event = await api.ok("POST", "/api/events", {"name": f"Fault Run {name}", "date": "2026-06-01"}, 201)
    eid = event["id"]
    runners: list[dict[str, Any]] = [
        {
            "bib": str(b),
            "first_name": f"Runner{b}",
            "last_name": rng.choice(["Ö'Brien", "Smith", "Núñez", "李"]),
            "division": rng.choice(["F30-39", "M30-39", "M40-49"]),
            "age": rng.randint(18, 80),
        }
        for b in range(1, RUNNERS + 1)
    ]
    await api.ok("POST", f"/api/events/{eid}/participants", runners)
    mine = copy.deepcopy(await api.ok("GET", "/api/templates/results-classic"))
    mine["name"] = "Fault blue"
    mine["theme"]["accent"] = "#1e90ff"
    await api.ok("POST", "/api/templates", mine, 201)

    client = await RawCtp01Client.connect(timing_port)
    await client.handshake(f"faults-{name}", ("start", "finish"))

    async def stream() -> str | None:
        ss = await api.ok("GET", "/api/timing/sessions")
        return next((s["id"] for s in ss if s["source_key"] == f"faults-{name}"), None)

    sid = await until(stream, "the CTP01 stream")
    await api.ok("PATCH", f"/api/timing/sessions/{sid}", {"timezone": "UTC", "reference_date": "2026-06-01"})
    finish = await api.ok(
        "POST",
        "/api/sessions",
        {
            "event_id": eid,
            "mode": "results",
            "name": "Finish",
            "rules": {"locations": ["finish"], "duplicate_window": 30},
            "timing_session_ids": [sid],
        },
        201,
    )
    other = await api.ok("POST", "/api/sessions", {"event_id": eid, "mode": "results", "name": "Other"}, 201)
    await api.ok("POST", f"/api/sessions/{other['id']}/timing", {"timing_session_id": sid})
    await api.ok("DELETE", f"/api/sessions/{other['id']}/timing/{sid}")  # a session_streams tombstone
    return Race(api, rng, eid, sid, [finish["id"], other["id"]], client)
