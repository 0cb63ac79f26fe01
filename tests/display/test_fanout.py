"""Fan-out: one frame per message, written as is to every screen that keeps up; a screen whose
transport buffer is full takes the queue path and still gets everything exactly once, in order.

Through the public path: ``Hub.serve`` behind a real aiohttp server on loopback, real aiohttp
WebSocket clients (their frame parser checks every frame the hub writes)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web

from race_control.display_server import hub as hub_module
from race_control.display_server.frames import direct_transport
from race_control.display_server.hub import Hub
from tests.display.test_hub_overflow import SESSION, connect, finisher, served, small_receive_buffer, until

SCREENS = 40
NAME = "Zoë Ñúñez 漢字"  # encoded as \u escapes (json.dumps' default, as the hub encodes)


async def no_backlog(_session: str, _after: int, _limit: int) -> list[dict[str, Any]]:
    return []


def encoded(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def sized(seq: int, size: int) -> dict[str, Any]:
    """A finisher whose encoded text is exactly ``size`` bytes (every frame-length form:
    7-bit up to 125, 16-bit from 126, 64-bit from 65,536)."""
    message = {"type": "finisher", "seq": seq, "bib": str(seq), "name": NAME, "pad": ""}
    message["pad"] = "p" * (size - len(encoded(message).encode()))
    assert len(encoded(message).encode()) == size
    return message


async def test_every_screen_gets_the_same_frames_in_order() -> None:
    hub = Hub(no_backlog)
    hub.set_limits(per_session=SCREENS, per_address=SCREENS)
    sizes = [100, 125, 126, 127, 1000, 65535, 65536, 70_000, 200]
    messages: list[tuple[str, dict[str, Any]]] = []
    for seq, size in enumerate(sizes * 3, start=1):
        messages.append(("finisher", sized(seq, size)))
        if seq % 4 == 0:
            messages.append(("control", {"type": "mode", "mode": "results", "n": seq}))
    expected = [encoded(m) for _, m in messages]
    async with served(hub) as url, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sockets = await asyncio.gather(*(connect(http, url, f"screen {i}") for i in range(SCREENS)))
        got: list[list[str]] = [[] for _ in sockets]

        async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            while len(got[i]) < len(expected):
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, f"screen {i}: {msg.type} {msg.data!r}"
                got[i].append(msg.data)

        readers = asyncio.gather(*(read(i, ws) for i, ws in enumerate(sockets)))
        for kind, message in messages:
            if kind == "finisher":
                hub.publish(SESSION, [message])
            else:
                assert hub.send_control(SESSION, message) == SCREENS
            await asyncio.sleep(0.002)
        async with asyncio.timeout(30):
            await readers
        screens = hub.screens(SESSION)
        assert all(s.direct_frames > 0 for s in screens), "the one-frame path was never taken"
        assert all(s.last_sent == len(sizes) * 3 for s in screens)
    for i, texts in enumerate(got):
        assert texts == expected, f"screen {i} got other bytes or another order"


async def test_a_screen_with_a_full_buffer_takes_the_queue_and_gets_everything_once() -> None:
    hub = Hub(no_backlog)
    async with (
        served(hub) as url,
        aiohttp.ClientSession() as fast_http,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(socket_factory=small_receive_buffer)
        ) as slow_http,
    ):
        fast = await connect(fast_http, url, "tablet")
        slow = await connect(slow_http, url, "TV")  # ...and from now on it reads nothing
        (tv,) = [s for s in hub.screens(SESSION) if s.user_agent == "TV"]
        assert tv.transport is not None
        fast_seen: list[int] = []

        async def read_fast() -> None:
            async for msg in fast:
                fast_seen.append(json.loads(msg.data)["seq"])

        reader = asyncio.create_task(read_fast())
        seq = 0

        def publish() -> None:
            nonlocal seq
            seq += 1
            hub.publish(SESSION, [finisher(seq)])
            frame = len(encoded(finisher(seq)).encode()) + 4
            # backpressure: the buffer stays bounded.  The one-frame path writes only below the
            # high-water mark; aiohttp's writer (the queue path) looks at flow control once per
            # SEND_BUFFER bytes it wrote (the hub's writer_limit), so it may add that on top
            assert tv.transport is not None
            assert tv.transport.get_write_buffer_size() <= tv.high_water + hub_module.SEND_BUFFER + 2 * frame

        while tv.queued_frames < 50:  # the TV's buffer is full: its messages wait in its queue
            assert seq < 5000, "the stalled screen never took the queue path"
            publish()
            await until(lambda n=seq: len(fast_seen) == n, f"finisher {seq} on the tablet")
        direct_at_stall = tv.direct_frames
        assert direct_at_stall > 0  # it was on the one-frame path before it stalled
        assert fast_seen == list(range(1, seq + 1))  # the stalled screen held nobody back

        # the TV reads again while finishers keep coming: its queue drains in order first, and
        # only then does it go back to the one-frame path
        got: list[int] = []

        async def read_slow() -> None:
            while len(got) < seq or seq < total:
                got.append((await slow.receive_json())["seq"])

        total = seq + 300
        slow_reader = asyncio.create_task(read_slow())
        while seq < total:
            for _ in range(3):
                publish()
            await asyncio.sleep(0.001)
        async with asyncio.timeout(30):
            await slow_reader
        assert got == list(range(1, total + 1))  # exactly once, in seq order
        assert tv.direct_frames > direct_at_stall, "the screen never came back to the one-frame path"
        await until(lambda: len(fast_seen) == total, "every finisher on the tablet")
        assert fast_seen == list(range(1, total + 1))
        reader.cancel()


async def test_a_deflate_screen_is_never_written_directly() -> None:
    """permessage-deflate: each socket has its own compressor, so no shared frame fits it."""
    seen: list[tuple[int | bool, bool]] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=request.query["deflate"] == "1")  # the client offers it
        await ws.prepare(request)
        seen.append((ws.compress, direct_transport(ws, request) is None))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            for deflate in ("1", "0"):
                ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws?deflate={deflate}", compress=15)
                await ws.receive()
                await ws.close()
    finally:
        await runner.cleanup()
    assert seen[0][0] and seen[0][1], "a deflate screen would get the shared uncompressed frame"
    assert seen[1] == (0, False)  # an uncompressed screen does get it


async def test_a_catch_up_is_written_in_few_sends_in_order_and_with_backpressure() -> None:
    """A screen resuming from far behind gets its pages as batches of frames, one transport
    write per ``PAGE_WRITE`` bytes instead of one per message (each write is a system call
    that lets a busy thread take the GIL from the loop: issue #13's stalls), in seq order, and
    never more than a batch above the transport's high-water mark while it reads slowly."""
    total = 3000
    stored = [
        {"type": "finisher", "seq": i, "bib": str(i), "name": NAME, "pad": "p" * 250}
        for i in range(1, total + 1)
    ]

    async def store_page(_session: str, after: int, limit: int) -> list[dict[str, Any]]:
        return stored[after : after + limit]

    hub = Hub(store_page)
    writes: list[int] = []  # the transport's buffered bytes after each write
    async with (
        served(hub, last_seq=total) as url,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=small_receive_buffer)) as http,
    ):
        ws = await http.ws_connect(url, max_msg_size=0)
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        (tv,) = hub.screens(SESSION)
        t = tv.transport
        assert t is not None
        write = t.write

        def counted(data: bytes) -> None:
            write(data)
            writes.append(t.get_write_buffer_size())

        t.write = counted  # type: ignore[method-assign]
        await ws.send_json({"type": "resume", "after_seq": 0})
        seqs: list[int] = []
        while True:
            msg = await ws.receive_json(timeout=10)
            if msg["type"] == "caught_up":
                assert msg["last_seq"] == total
                break
            seqs.append(msg["seq"])
            if len(seqs) < 200:
                await asyncio.sleep(0.002)  # a slow screen at first: the buffer fills
        await ws.close()
    assert seqs == list(range(1, total + 1))
    frame = len(encoded(stored[0]).encode()) + 4
    batches = total * frame / hub_module.PAGE_WRITE + total / hub_module.PAGE + 5
    assert len(writes) <= batches, f"{len(writes)} writes for {total} messages (at most ~{batches:.0f})"
    assert max(writes) <= tv.high_water + hub_module.PAGE_WRITE + 2 * frame, max(writes)
