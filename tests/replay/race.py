"""A small stored race for the replay tests: a controller file imported through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Api

NINE_AM = 1620464400  # 2021-05-08 09:00:00 UTC (imported with timezone UTC: clock 32400 s)
RULES = {"duplicate_window": 10}


def race_lines(span: float, bibs: int = 40) -> list[str]:
    """``bibs`` finishers spread over ``span`` seconds from 09:00:00, a re-read of the first ten
    2 s after their finish (a duplicate) and bib 5 crossing again at the end (a second crossing)."""
    reads: list[tuple[float, str]] = []
    step = span / bibs
    for b in range(1, bibs + 1):
        reads.append((NINE_AM + (b - 1) * step, str(b)))
        if b <= 10:
            reads.append((NINE_AM + (b - 1) * step + 2, str(b)))
    reads.append((NINE_AM + span, "5"))
    reads.sort()
    return [
        f"TO~{i}~{tag}~160~18~{at:.2f}~12000C~8~-63~1~P~192" for i, (at, tag) in enumerate(reads, start=1)
    ]


async def stored_race(api: Api, tmp_path: Path, span: float, name: str = "FINISH") -> str:
    """Import the race as a timing stream; its id."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "1.csv").write_text("\n".join(race_lines(span)) + "\n")
    result = await api.ok("POST", "/api/timing/import", {"path": str(folder), "timezone": "UTC"}, 201)
    return str(result["timing_session_id"])


async def new_session(api: Api, event_id: str | None = None) -> dict[str, Any]:
    if event_id is None:
        event = await api.ok("POST", "/api/events", {"name": "Replay 5K", "date": "2021-05-08"}, 201)
        event_id = event["id"]
        await api.ok(
            "POST",
            f"/api/events/{event_id}/participants",
            [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "R"} for b in range(1, 41)],
        )
    body = {"event_id": event_id, "mode": "results", "rules": RULES}
    return dict(await api.ok("POST", "/api/sessions", body, 201))


def shown(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(bib, time, name) of every finisher message, in seq order."""
    rows = sorted((e for e in events if e["type"] == "finisher"), key=lambda e: e["seq"])
    return [(e["bib"], e["time"], e["name"]) for e in rows]
