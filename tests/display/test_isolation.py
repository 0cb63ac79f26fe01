"""50 display sessions on 50 timing streams: each screen sees only its own stream's finishers."""

from __future__ import annotations

import asyncio

import aiohttp

from race_control.app import RaceControl
from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client

N = 50


async def test_fifty_sessions_never_cross_contaminate(rc: RaceControl, api: Api) -> None:
    event = await api.ok("POST", "/api/events", {"name": "Many races", "date": "2026-06-01"}, 201)
    clients, sockets = [], []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for i in range(N):
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
            client = await RawCtp01Client.connect(rc.timing_port)
            await client.handshake(f"race-{i}")
            clients.append(client)
            stream = None
            while stream is None:
                stream = next(
                    (
                        s
                        for s in await api.ok("GET", "/api/timing/sessions")
                        if s["source_key"] == f"race-{i}"
                    ),
                    None,
                )
            await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream["id"]})
            ws = await http.ws_connect(session["display_url"].replace("http", "ws") + "/ws")
            await ws.receive_json(timeout=5)
            sockets.append(ws)
        # every stream sends 3 reads whose bibs encode the stream: 1000*i + k
        for i, client in enumerate(clients):
            await client.send(
                b"".join(
                    f"CT01_33~{k}~finish~{1000 * i + k}~09:00:0{k}.00~0~0FA22E~1\r\n".encode()
                    for k in (1, 2, 3)
                )
            )

        async def collect(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
            got: list[str] = []
            while len(got) < 3:
                msg = await ws.receive_json(timeout=10)
                if msg["type"] == "finisher":
                    got.append(msg["bib"])
            return got

        results = await asyncio.gather(*(collect(ws) for ws in sockets))
        for i, bibs in enumerate(results):
            assert bibs == [str(1000 * i + k) for k in (1, 2, 3)]
        for ws in sockets:  # and nothing else arrives
            try:
                msg = await ws.receive_json(timeout=0.2)
                assert msg["type"] != "finisher", msg
            except TimeoutError:
                pass
            await ws.close()
    for c in clients:
        await c.close()
