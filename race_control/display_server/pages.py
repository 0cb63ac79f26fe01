"""Screen routes: ``/display/{token}`` (the page), its WebSocket, and static assets.

The page is served with the session's config embedded as JSON whose ``<``, ``>``
and ``&`` are escaped, so no participant or template text can break out of the
``<script type="application/json">`` element.  Unknown tokens get 404, closed
sessions 410, each with a friendly page.
"""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

from aiohttp import web

from race_control.display_server.api import SERVICES
from race_control.display_server.hub import HEARTBEAT
from race_control.display_server.services import Services
from race_control.paths import resources_dir
from race_control.sessions.service import LiveSession

# Served from resources/display/ by exact name only (no directory listing, no paths). The page
# loads the scripts in this order (page.html); they share state through one `window.RC` object.
SCRIPTS = (
    "rc-util.js",
    "rc-state.js",
    "rc-template.js",
    "rc-stage.js",
    "rc-cards.js",
    "rc-render.js",
    "rc-queue.js",
    "rc-link.js",
    "display.js",
)
STATIC = (*SCRIPTS, "display.css")
# The page's Content-Security-Policy (docs/display-protocol.md#csp): scripts only from our own
# files, never eval (tests bypass the policy with Playwright's bypass_csp, the page never needs
# eval); connections only to this server: 'self', plus its own ws:/wss: origin spelled out for
# CSP2-era TV browsers whose 'self' does not match WebSockets.  frame-ancestors 'self': a screen
# link holds its session's token and is meant to be the whole screen; no other site may frame it
# (embed in a venue's site through the relay or a plain link instead).
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def ws_origins(request: web.Request) -> str:
    """``ws://host wss://host`` for the host the screen asked for (nothing if it is not a plain
    host[:port]: then only 'self' applies)."""
    host = request.host
    return f"ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""


def page_csp(request: web.Request) -> str:
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self'; connect-src 'self' {ws_origins(request)}".rstrip()
        + "; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )


NOT_FOUND_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{background:#0b1020;color:#e8ecf6;font:32px system-ui,sans-serif;display:grid;place-items:center;
height:100vh;margin:0;text-align:center}}small{{display:block;font-size:20px;opacity:.7;margin-top:1em}}</style>
</head><body><div>{title}<small>{detail}</small></div></body></html>"""


def json_for_script(value: Any) -> str:
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def friendly(status: int, title: str, detail: str) -> web.Response:
    """A small readable page for a screen link that does not work (404, 410, 503)."""
    body = NOT_FOUND_PAGE.format(title=html.escape(title), detail=html.escape(detail))
    return web.Response(status=status, text=body, content_type="text/html")


def _lookup(request: web.Request) -> tuple[Services, LiveSession | web.Response]:
    s = request.app[SERVICES]
    session = s.sessions.by_token(request.match_info["token"])
    if session is None:
        return s, friendly(404, "This display link is not valid", "Ask the timer for the current screen URL.")
    if session.status != "open":
        return s, friendly(410, "This display has ended", "The timer closed this display session.")
    return s, session


async def page(request: web.Request) -> web.StreamResponse:
    s, found = _lookup(request)
    if isinstance(found, web.Response):
        return found
    return page_response(
        request,
        found.token,
        s.sessions.screen_view(found),
        s.templates.resolve(found.template_id, found.mode),
    )


def page_response(
    request: web.Request, token: str, session_view: dict[str, Any], template: dict[str, Any]
) -> web.Response:
    """The screen page for ``token`` with its config embedded (also served by the relay)."""
    page_html = (resources_dir() / "display" / "page.html").read_text("utf-8")
    config = {
        "token": token,
        "ws_url": f"/display/{token}/ws",
        "session": session_view,
        "template": template,
    }
    # the CSP first: participant text in the config must not be able to hold the placeholder
    body = page_html.replace("{{WS_ORIGINS}}", html.escape(ws_origins(request))).replace(
        "{{CONFIG_JSON}}", json_for_script(config)
    )
    return web.Response(
        text=body,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": page_csp(request),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


async def websocket(request: web.Request) -> web.StreamResponse:
    s, found = _lookup(request)
    if isinstance(found, web.Response):
        session = s.sessions.by_token(request.match_info["token"])
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if session is not None and found.status == 410 and upgrade:
            # a browser only sees code 1006 for a refused upgrade: accept, then say why we close
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.close(code=4410, message=b"display session closed")
            return ws
        return found
    hello = hello_message(
        s.sessions.screen_view(found),
        s.templates.resolve(found.template_id, found.mode),
        found.next_seq - 1,
        s.sessions.epoch(found.id),
    )
    if found.leaderboard_top:
        hello["leaderboard"] = found.leaderboard(found.leaderboard_top)
    return await s.hub.serve(request, found.id, hello)


def hello_message(
    session_view: dict[str, Any], template: dict[str, Any], last_seq: int, epoch: str
) -> dict[str, Any]:
    """The first message on every screen socket (docs/display-protocol.md; also the relay's)."""
    return {
        "type": "hello",
        "session": session_view,
        "template": template,
        "last_seq": last_seq,
        "epoch": epoch,
        "server_time": round(time.time() * 1000),
        "heartbeat_ms": round(HEARTBEAT * 1000),
    }


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.FileResponse(resources_dir() / "display" / name, headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/display/static/{name}", static)
    app.router.add_get("/display/{token}", page)
    app.router.add_get("/display/{token}/ws", websocket)
