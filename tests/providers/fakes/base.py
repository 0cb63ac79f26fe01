"""A fake provider server on loopback (aiohttp), with faults a test switches on.

``FakeProvider`` runs one aiohttp app on 127.0.0.1 (a free port) and records every request
(path, query, headers).  ``fault(match, kind, times=1, **kw)`` makes the next ``times``
requests whose path contains ``match`` fail:

* ``"429"`` — HTTP 429 with ``Retry-After: kw["retry_after"]`` (if given);
* ``"500"`` / ``"503"`` — that status;
* ``"malformed"`` — a 200 whose body is not JSON (half a document);
* ``"slow"`` — the answer comes after ``kw["delay"]`` seconds;
* ``"drop"`` — the connection is closed without an answer.

A subclass serves the provider's real wire shapes and adds its own switches (a shape change,
an expired token, rows that change between pages).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    match: str
    kind: str
    times: int = 1
    kw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeProvider:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fault(self, match: str, kind: str, times: int = 1, **kw: Any) -> None:
        self.faults.append(Fault(match, kind, times, kw))

    def paths(self, contains: str = "") -> list[str]:
        return [r.path for r in self.requests if contains in r.path]

    async def handle(self, request: web.Request) -> web.StreamResponse:  # the provider's routes
        raise NotImplementedError

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(Seen(request.method, request.path, dict(request.query), dict(request.headers)))
        for f in self.faults:
            if f.times > 0 and f.match in request.path:
                f.times -= 1
                if f.kind == "429":
                    headers = {"Retry-After": str(f.kw["retry_after"])} if "retry_after" in f.kw else {}
                    return web.json_response({"error": "slow down"}, status=429, headers=headers)
                if f.kind in ("500", "502", "503"):
                    return web.Response(text="upstream trouble", status=int(f.kind))
                if f.kind == "malformed":
                    return web.Response(text='{"participants": [{"user": ', content_type="application/json")
                if f.kind == "slow":
                    await asyncio.sleep(f.kw.get("delay", 0.5))
                    break
                if f.kind == "drop":
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=500)
                raise AssertionError(f"unknown fault {f.kind}")
        return await handler(request)

    async def start(self) -> FakeProvider:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeProvider:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
