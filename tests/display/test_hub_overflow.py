"""A screen that stops reading overflows its bounded queue, never slows the others, and
catches up from the session's recent log (then the store) once it reads again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from race_control.display_server import hub as hub_module
from race_control.display_server.hub import Hub, Screen


class StallingSocket:
    """Stands in for aiohttp's WebSocketResponse: send_str blocks while ``stalled`` is clear."""

    def __init__(self, stalled: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.flowing = asyncio.Event()
        if not stalled:
            self.flowing.set()
        self.closed = False

    async def send_str(self, text: str) -> None:
        await self.flowing.wait()
        self.sent.append(json.loads(text))


def finisher(seq: int) -> dict[str, Any]:
    return {"type": "finisher", "seq": seq, "bib": str(seq), "read_at": 0}


async def test_stalled_screen_overflows_and_catches_up_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "QUEUE_LIMIT", 10)
    monkeypatch.setattr(hub_module, "RECENT", 40)  # older messages must come from the store
    stored: dict[int, dict[str, Any]] = {}

    async def backlog(session_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        return [stored[s] for s in sorted(stored) if s > after][:limit]

    hub = Hub(backlog)
    slow_ws, fast_ws = StallingSocket(stalled=True), StallingSocket()
    slow = Screen("s1", slow_ws, "10.0.0.9", "TV")  # type: ignore[arg-type]
    fast = Screen("s1", fast_ws, "10.0.0.8", "tablet")  # type: ignore[arg-type]
    hub._screens["s1"] = {slow, fast}
    tasks = [asyncio.create_task(hub._send_loop(s)) for s in (slow, fast)]
    try:
        for seq in range(1, 101):
            stored[seq] = finisher(seq)
            hub.publish("s1", [finisher(seq)])
            await asyncio.sleep(0)
        for _ in range(100):
            if len(fast_ws.sent) == 100:
                break
            await asyncio.sleep(0.01)
        assert [m["seq"] for m in fast_ws.sent] == list(range(1, 101))  # never held back
        assert slow.resume_from is not None or slow.buffering  # it overflowed into catch-up
        slow_ws.flowing.set()
        for _ in range(200):
            seqs = [m["seq"] for m in slow_ws.sent if m["type"] == "finisher"]
            if seqs and seqs[-1] == 100:
                break
            await asyncio.sleep(0.01)
        assert seqs == list(range(1, 101))  # every finisher once, in order (store + recent log)
        assert any(m["type"] == "caught_up" for m in slow_ws.sent)
    finally:
        for t in tasks:
            t.cancel()
