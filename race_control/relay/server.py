"""``race-control relay``: the display page and WebSocket of public sessions, from the central
PostgreSQL, for screens beyond the venue.

The same page (``display_server.pages.page_response``: HTML, scripts, CSP, config) and the same
hub (``display_server.hub.Hub``: hello, resume ``after_seq``, exactly-once in seq order, pings
every 2 s, bounded queues, catch-up pages) as the laptop; the hub's store is the central
``display_events`` table (``feed.Feed.backlog``) and what it publishes comes from the feed.  Only
sessions marked public (``display_sessions.public``) of the partner whose URL the relay uses are
served; any other token is 404, a closed public session 410, like the laptop.  The relay writes
nothing, anywhere: start as many as needed behind a load balancer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import cast

from aiohttp import web

from race_control.central.errors import CentralError
from race_control.display_server import font_routes, pages
from race_control.display_server.hub import Hub
from race_control.logging_setup import safe
from race_control.relay import reads
from race_control.relay.feed import IDLE_AFTER, POLL_INTERVAL, Feed
from race_control.relay.listener import Listener
from race_control.relay.reads import Reader
from race_control.store.database import Store
from race_control.templates.screen_filter import screen_payload_filter
from race_control.templates.service import TemplateService

SHUTDOWN_TIMEOUT = 5.0  # seconds a stopping relay waits for requests still being answered
log = logging.getLogger("race_control.relay")
RELAY = web.AppKey("relay", "Relay")
# screens behind a load balancer all come from its address: the per-address cap of the laptop
# (50) would refuse them, so the relay's caps are per session and high
MAX_SCREENS_PER_SESSION = 20_000
MAX_SCREENS_PER_ADDRESS = 20_000


@dataclass
class RelayOptions:
    url: str
    host: str = "127.0.0.1"
    port: int = 0
    poll_interval: float = POLL_INTERVAL
    idle_after: float = IDLE_AFTER
    catchup_threads: int = 2  # connections for screens' replays (the feed has one of its own)
    max_screens_per_session: int = MAX_SCREENS_PER_SESSION
    max_screens_per_address: int = MAX_SCREENS_PER_ADDRESS
    listen: bool = True  # False: poll only (tests of the poll)


@dataclass
class Relay:
    options: RelayOptions
    port: int = 0
    partner_id: str = ""
    _runner: web.AppRunner | None = None
    _listener: Listener | None = None
    _reader: Reader | None = None
    _catchups: Reader | None = None
    feed: Feed = field(init=False)
    hub: Hub = field(init=False)

    @property
    def url(self) -> str:
        host = self.options.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def listener(self) -> Listener | None:
        return self._listener

    async def start(self) -> Relay:
        """Connect (a wrong URL or a login that is no partner's fails here), then listen."""
        o = self.options
        self._reader = Reader(o.url, threads=1)
        try:
            self.partner_id = await self._reader.run(reads.partner_id)
        except BaseException:
            self._reader.close()
            raise
        self._catchups = Reader(o.url, threads=max(1, o.catchup_threads))
        templates = TemplateService(cast(Store, None))  # holds central rows only: never loads or saves
        feed_ref: list[Feed] = []
        self.hub = Hub(
            lambda sid, after, limit: feed_ref[0].backlog(sid, after, limit),
            None,
            lambda sid: feed_ref[0].session_of(sid).name or sid,
            resume_point=lambda sid, epoch, after: feed_ref[0].resume_point(sid, epoch, after),
        )
        self.hub.set_limits(
            per_session=o.max_screens_per_session,
            per_address=o.max_screens_per_address,
            store_catchups=max(1, o.catchup_threads),
        )
        self.feed = Feed(
            self._reader,
            self._catchups,
            self.hub,
            templates,
            poll_interval=o.poll_interval,
            idle_after=o.idle_after,
        )
        feed_ref.append(self.feed)
        self.hub.payload_filter = screen_payload_filter(self.feed.session_of, templates)
        self.hub.start()
        self.feed.start()
        if o.listen:
            self._listener = Listener(o.url, self.feed.wake_threadsafe)
            self._listener.start()
        app = create_app(self)
        # stopping waits at most SHUTDOWN_TIMEOUT for requests in flight (aiohttp's default is 60 s):
        # its screens were closed first (1001) and reconnect to another relay at once
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, o.host, o.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        log.info("relay for partner %s serving %s", self.partner_id, self.url)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # closes the screens (1001: they reconnect elsewhere)
            self._runner = None
        if hasattr(self, "feed"):
            await self.feed.stop()
            await self.hub.close()
        loop = asyncio.get_running_loop()
        if self._listener is not None:
            await loop.run_in_executor(None, self._listener.stop)
        for reader in (self._reader, self._catchups):
            if reader is not None:
                await loop.run_in_executor(None, reader.close)


# --- routes ------------------------------------------------------------------------------
def _not_found() -> web.Response:
    return pages.friendly(404, "This display link is not valid", "Ask the timer for the current screen URL.")


def _ended() -> web.Response:
    return pages.friendly(410, "This display has ended", "The timer closed this display session.")


def _unavailable(exc: CentralError) -> web.Response:
    log.warning("relay: cannot read the central database: %s", safe(exc))
    response = pages.friendly(503, "This display is not available right now", "It will come back by itself.")
    response.headers["Retry-After"] = "5"
    return response


async def page(request: web.Request) -> web.StreamResponse:
    feed = request.app[RELAY].feed
    try:
        session = await feed.lookup(request.match_info["token"])
    except CentralError as exc:
        return _unavailable(exc)
    if session is None or not session.served:
        return _not_found()
    if session.status != "open":
        return _ended()
    return pages.page_response(request, session.token, feed.screen_view(session), feed.template(session))


async def websocket(request: web.Request) -> web.StreamResponse:
    relay = request.app[RELAY]
    token = request.match_info["token"]
    try:
        watched = await relay.feed.watch(token)
        session = watched.session if watched else await relay.feed.lookup(token)
    except CentralError as exc:
        return _unavailable(exc)
    if session is None or not session.served:
        return _not_found()
    if watched is None:  # public but closed
        if request.headers.get("Upgrade", "").lower() == "websocket":
            # a browser only sees code 1006 for a refused upgrade: accept, then say why we close
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.close(code=4410, message=b"display session closed")
            return ws
        return _ended()
    return await relay.hub.serve(request, session.id, relay.feed.hello(watched))


async def health(request: web.Request) -> web.Response:
    relay = request.app[RELAY]
    listener = relay.listener
    return web.json_response(
        {
            "ok": True,
            "listening": bool(listener and listener.listening.is_set()),
            "sessions": len(relay.feed.watched()),
            "screens": len(relay.hub.screens()),
            "wakeups": relay.feed.wakeups,  # refreshes (NOTIFY or poll) that read the central tables
            "queries": relay.feed.queries,  # their queries (catch-ups from the table not counted)
            "delivered": relay.feed.delivered,  # sequenced messages handed to the screens' hub
            "store_pages": relay.hub.store_pages,  # catch-up pages read from the central table
        }
    )


def create_app(relay: Relay) -> web.Application:
    app = web.Application()
    app[RELAY] = relay
    app.router.add_get("/display/static/{name}", pages.static)
    font_routes.add_routes(app)  # the bundled fonts the page's fonts.css names
    app.router.add_get("/display/{token}", page)
    app.router.add_get("/display/{token}/ws", websocket)
    app.router.add_get("/health", health)

    async def _close_screens(_app: web.Application) -> None:
        await relay.hub.close()

    app.on_shutdown.append(_close_screens)
    return app
