"""The roster file routes (docs/providers.md#roster-files; documented in resources/openapi.json).

``POST /api/events/{event_id}/roster/preview`` (the mapping preview), ``POST
/api/events/{event_id}/roster/import`` (``apply`` false: the re-sync preview; true: import),
``GET /api/roster/mappings`` and ``PUT /api/roster/mappings/{source}`` (saved mappings).  The
file travels in the JSON body (``content`` text or ``content_base64`` bytes), up to the import
body limit.
"""

from __future__ import annotations

from aiohttp import web

from race_control.display_server.api import MAX_IMPORT_BODY, read_json, svc


async def preview_file(request: web.Request) -> web.Response:
    s = svc(request)
    event_id = request.match_info["event_id"]
    s.events.event(event_id)  # 404 before reading a large body
    return web.json_response(
        await s.ops.roster_files.preview(event_id, await read_json(request, MAX_IMPORT_BODY))
    )


async def import_file(request: web.Request) -> web.Response:
    s = svc(request)
    event_id = request.match_info["event_id"]
    s.events.event(event_id)
    body = await read_json(request, MAX_IMPORT_BODY)
    return web.json_response(await s.ops.roster_files.import_file(event_id, body))


async def list_mappings(request: web.Request) -> web.Response:
    return web.json_response(await svc(request).ops.roster_files.mappings())


async def save_mapping(request: web.Request) -> web.Response:
    ops = svc(request).ops.roster_files
    return web.json_response(await ops.save_mapping(request.match_info["source"], await read_json(request)))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/events/{event_id}/roster/preview", preview_file)
    r.add_post("/api/events/{event_id}/roster/import", import_file)
    r.add_get("/api/roster/mappings", list_mappings)
    r.add_put("/api/roster/mappings/{source}", save_mapping)
