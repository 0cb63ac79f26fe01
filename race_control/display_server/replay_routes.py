"""The replay routes (docs/history.md#replay; documented in resources/openapi.json).

``POST /api/sessions/{session_id}/replay`` starts replaying a stored timing stream into the
session (202 with the replay's progress), ``GET`` shows the running or latest replay's progress,
``PATCH`` pauses, resumes or re-speeds the running one, ``DELETE`` stops it.  The work is
``operations.replay.ReplayOperations``: the app's one ``Operations.replay``, which the desktop's
Replay dialog uses too (so each sees the replay the other started).
"""

from __future__ import annotations

from aiohttp import web

from race_control.display_server.api import SERVICES, read_json
from race_control.operations.replay import ReplayOperations


def replays(request: web.Request) -> ReplayOperations:
    return request.app[SERVICES].ops.replay


async def start_replay(request: web.Request) -> web.Response:
    replays_ = replays(request)
    session_id = request.match_info["session_id"]
    request.app[SERVICES].sessions.get(session_id)  # 404 before the body
    replay = await replays_.start(session_id, await read_json(request))
    return web.json_response(replay.to_json(), status=202)


async def get_replay(request: web.Request) -> web.Response:
    return web.json_response(replays(request).status(request.match_info["session_id"]).to_json())


async def change_replay(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    # the body first (400 names what is wrong with it), then the replay (404 none, 409 stopped)
    replay = await replays(request).update(session_id, await read_json(request))
    return web.json_response(replay.to_json())


async def stop_replay(request: web.Request) -> web.Response:
    replay = await replays(request).stop(request.match_info["session_id"])
    return web.json_response(replay.to_json())


async def _close(app: web.Application) -> None:
    await app[SERVICES].ops.replay.close()


def add_routes(app: web.Application) -> None:
    app.on_shutdown.append(_close)
    r = app.router
    r.add_post("/api/sessions/{session_id}/replay", start_replay)
    r.add_get("/api/sessions/{session_id}/replay", get_replay)
    r.add_patch("/api/sessions/{session_id}/replay", change_replay)
    r.add_delete("/api/sessions/{session_id}/replay", stop_replay)
