"""A screen that stops reading overflows its bounded queue, never slows the others, and
catches up from the session's recent log (then the store) once it reads again.

Through the public path: ``Hub.serve`` behind a real aiohttp server on loopback, two real
WebSocket clients.  The stalled one has a tiny receive buffer and simply stops reading, so TCP
pushes back until the hub's send to it blocks and its queue overflows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from race_control.display_server import hub as hub_module
from race_control.display_server.hub import Hub

SESSION = "s1"
PAD = "x" * 4000  # a big finisher fills the TCP buffers in a few hundred messages


def finisher(seq: int) -> dict[str, Any]:
    return {"type": "finisher", "seq": seq, "bib": str(seq), "name": PAD, "read_at": 0}


def small_receive_buffer(addr_info: Any) -> socket.socket:
    """A client socket whose kernel receive buffer stays small (no autotuning)."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


@asynccontextmanager
async def served(hub: Hub, last_seq: int = 0) -> AsyncIterator[str]:
    """``hub`` serving one session's screens at ws://127.0.0.1:PORT/ws (hello: ``last_seq``)."""

    async def screen(request: web.Request) -> web.WebSocketResponse:
        return await hub.serve(request, SESSION, {"type": "hello", "last_seq": last_seq})

    app = web.Application()
    app.router.add_get("/ws", screen)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        await hub.close()
        await runner.cleanup()


async def connect(http: aiohttp.ClientSession, url: str, agent: str) -> aiohttp.ClientWebSocketResponse:
    """A screen as the page does it: hello, then ``resume`` from 0, answered by ``caught_up``."""
    ws = await http.ws_connect(url, headers={"User-Agent": agent}, max_msg_size=0)
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.send_json({"type": "resume", "after_seq": 0})
    assert await ws.receive_json(timeout=5) == {"type": "caught_up", "last_seq": 0}
    return ws


async def until(cond: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_stalled_screen_overflows_and_catches_up_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "QUEUE_LIMIT", 10)
    monkeypatch.setattr(hub_module, "RECENT", 40)  # older messages must come from the store
    stored: dict[int, dict[str, Any]] = {}
    store_pages: list[int] = []

    async def backlog(session_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        assert session_id == SESSION
        store_pages.append(after)
        return [stored[s] for s in sorted(stored) if s > after][:limit]

    hub = Hub(backlog)
    logs = Records()
    hub_log = logging.getLogger("race_control.display.hub")
    hub_log.addHandler(logs)
    fast_seen: list[dict[str, Any]] = []
    try:
        async with (
            served(hub) as url,
            aiohttp.ClientSession() as fast_http,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(socket_factory=small_receive_buffer)
            ) as slow_http,
        ):
            fast = await connect(fast_http, url, "tablet")
            slow = await connect(slow_http, url, "TV")  # ...and from now on it reads nothing
            (tv,) = [s.id for s in hub.screens(SESSION) if s.user_agent == "TV"]
            store_pages.clear()  # the two resumes from 0 each asked the store for a page

            async def read_fast() -> None:
                async for msg in fast:
                    fast_seen.append(json.loads(msg.data))

            reader = asyncio.create_task(read_fast())

            def overflowed() -> bool:
                return any(tv in m and "behind" in m for m in logs.messages)

            seq = last_before_overflow = 0
            while not overflowed() or seq < last_before_overflow + 100:
                assert seq < 20_000, "the stalled screen never overflowed"
                seq += 1
                stored[seq] = finisher(seq)
                hub.publish(SESSION, [finisher(seq)])
                # the other screen gets each finisher while the stalled one holds its sender
                await until(lambda n=seq: len(fast_seen) == n, f"finisher {seq} on the tablet")
                if not overflowed():
                    last_before_overflow = seq
            total = seq
            assert [m["seq"] for m in fast_seen] == list(range(1, total + 1))  # never held back
            assert not any(tv not in m for m in logs.messages if "behind" in m)  # only the TV fell behind
            assert not store_pages  # nothing needed the store yet

            # the TV reads again: every finisher exactly once, in order, then caught_up
            got: list[dict[str, Any]] = []
            try:
                async with asyncio.timeout(30):
                    while not got or got[-1] != {"type": "caught_up", "last_seq": total}:
                        got.append(await slow.receive_json())
            except TimeoutError:
                seen = [m.get("seq", m["type"]) for m in got]
                raise AssertionError(f"no caught_up at {total}; the TV got {seen}") from None
            seqs = [m["seq"] for m in got if m["type"] == "finisher"]
            assert seqs == list(range(1, total + 1))
            assert store_pages, "the catch-up should have paged through the store"
            assert min(store_pages) < total - 40  # older than the recent log reaches
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        hub_log.removeHandler(logs)
