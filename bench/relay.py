"""The no-storage relay bench.latency compares against: CTP01 in, WebSocket out, nothing stored.

Run by ``bench.latency`` as its own process, as ``race-control serve`` is (``python -m bench.relay``
prints ``relay ctp01=PORT http=PORT`` once it listens on free loopback ports).  It does the least
a live results screen needs: the same sans-IO ``Ctp01Server`` (handshake, framing, parsing), then
each tag read becomes a finisher message (``{"type": "finisher", "seq": n, ...}``, seq counted
per connection id) sent to every WebSocket at ``/ws/{connection_id}``.  No database, no roster,
no crossing engine, no de-duplication, no catch-up: the floor under our server's read -> screen
latency on the same machine in the same minutes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time

from aiohttp import web

from race_control.timing.protocols.ctp01_server import Ctp01Server
from race_control.timing.protocols.ctp01_settings import Ctp01Config
from race_control.timing.protocols.events import ConnectionIdentified, TagRead


class Relay:
    def __init__(self) -> None:
        self.screens: dict[str, set[web.WebSocketResponse]] = {}
        self.seq: dict[str, int] = {}
        self.sending: set[asyncio.Task[None]] = set()

    def publish(self, channel: str, read: TagRead) -> None:
        self.seq[channel] = seq = self.seq.get(channel, 0) + 1
        data = json.dumps(
            {
                "type": "finisher",
                "seq": seq,
                "bib": read.tag,
                "location": read.location,
                "time": read.time_text,
            }
        )
        screens = tuple(self.screens.get(channel, ()))
        if screens:
            task = asyncio.ensure_future(self.fan_out(data, screens))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)

    @staticmethod
    async def fan_out(data: str, screens: tuple[web.WebSocketResponse, ...]) -> None:
        for ws in screens:
            if not ws.closed:
                await ws.send_str(data)  # a frame this small is written at once; the await only drains

    async def screen(self, request: web.Request) -> web.WebSocketResponse:
        channel = request.match_info["channel"]
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.screens.setdefault(channel, set()).add(ws)
        await ws.send_json({"type": "hello", "last_seq": self.seq.get(channel, 0)})
        try:
            async for _msg in ws:
                pass  # a screen's resume is nothing to a relay that keeps nothing
        finally:
            self.screens[channel].discard(ws)
        return ws


class Ctp01Relay(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.proto = Ctp01Server(Ctp01Config(), seed=secrets.token_hex(16), now=time.time())
        self.channel = ""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for event in self.proto.receive_data(data, time.time()):
            if isinstance(event, TagRead):
                self.relay.publish(self.channel, event)
            elif isinstance(event, ConnectionIdentified):
                self.channel = event.connection_id
                self.proto.begin_streaming({})
        out = self.proto.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)


async def serve() -> None:
    relay = Relay()
    app = web.Application()
    app.router.add_get("/ws/{channel}", relay.screen)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Ctp01Relay(relay), "127.0.0.1", 0)
    ctp_port = server.sockets[0].getsockname()[1]
    print(f"relay ctp01={ctp_port} http={http_port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        await runner.cleanup()


if __name__ == "__main__":
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
