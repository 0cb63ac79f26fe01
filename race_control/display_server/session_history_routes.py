"""Session history routes (docs/history.md#history; documented in resources/openapi.json).

``GET /api/history/sessions`` → every display session, open or closed, newest first, paged;
``GET /api/history/sessions/{session_id}`` → one read-only, with a page of its finishers and
of its suppressions; ``GET /api/events/{event_id}/history?bib=`` → that bib in every session of
the event.  All read only (``operations.session_history``); a bad parameter is a 400 naming it.
"""

from __future__ import annotations

from aiohttp import web

from race_control.display_server.api import svc
from race_control.display_server.services import Services
from race_control.operations import history_params
from race_control.operations.session_history import SessionHistory


def history_of(s: Services) -> SessionHistory:
    """The history over the running services (connected screens count as seen at once)."""
    return SessionHistory(s.store, s.events, s.sessions, s.hub.screens)


async def list_sessions(request: web.Request) -> web.Response:
    q = history_params.list_query(request.query)
    return web.json_response(await history_of(svc(request)).list_sessions(q))


async def get_session(request: web.Request) -> web.Response:
    q = history_params.page_query(request.query)
    return web.json_response(await history_of(svc(request)).session(request.match_info["session_id"], q))


async def bib_history(request: web.Request) -> web.Response:
    s = svc(request)
    s.events.event(request.match_info["event_id"])  # 404 before the parameters
    bib = history_params.bib_param(request.query)
    return web.json_response(await history_of(s).bib_history(request.match_info["event_id"], bib))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/history/sessions", list_sessions)
    r.add_get("/api/history/sessions/{session_id}", get_session)
    r.add_get("/api/events/{event_id}/history", bib_history)
