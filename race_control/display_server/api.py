"""The local HTTP API (``/api/*``): JSON in, JSON out, documented in resources/openapi.json.

Every handler validates first and changes state last, in one unit of work, so a bad
request is a 4xx with ``{"error": ...}`` naming the problem and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from race_control import analytics
from race_control.display_server.errors import DisplayInputError, DisplayNotFound, SyncNotConfigured
from race_control.display_server.services import Services
from race_control.display_server.strict_json import parse_strict
from race_control.paths import resources_dir

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
MiB = 1024 * 1024
MAX_BODY = 1 * MiB  # every route's body limit, except:
MAX_TEMPLATE_BODY = 8 * MiB  # a template (images inline as data: URLs; templates cap it at 4 MB)
MAX_IMPORT_BODY = 64 * MiB  # participants and controller-file imports
PARSE_OFF_LOOP = 256 * 1024  # bodies larger than this are parsed in an executor


def _too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    reason = (  # the API answers {"error": reason} (web.errors_middleware)
        f"request body is larger than {limit // MiB} MiB, the limit for this route "
        f"(imports may send up to {MAX_IMPORT_BODY // MiB} MiB)"
    )
    return web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit + 1, reason=reason)


async def read_json(request: web.Request, limit: int = MAX_BODY) -> Any:
    """The body as strict JSON (``strict_json.parse_strict``): 413 above ``limit`` bytes, even
    without a Content-Length (read in chunks, never more than ``limit`` + one chunk)."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    if len(body) <= PARSE_OFF_LOOP:
        return parse_strict(bytes(body))
    return await asyncio.get_running_loop().run_in_executor(None, parse_strict, bytes(body))


def only_fields(body: object, known: tuple[str, ...], what: str) -> dict[str, Any]:
    """``body`` if it is an object with no field outside ``known``; else a 400 naming them."""
    if not isinstance(body, dict):
        raise DisplayInputError(f"body must be a JSON object ({what}: {', '.join(known)})")
    unknown = sorted(str(k)[:40] for k in body if k not in known)
    if unknown:
        raise DisplayInputError(
            f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in {what}; known: {', '.join(known)}"
        )
    return body


def svc(request: web.Request) -> Services:
    return request.app[SERVICES]


async def health(request: web.Request) -> web.Response:
    s = svc(request)
    return web.json_response(
        {
            "status": "ok",
            "version": __import__("race_control").__version__,
            "timing_streams": len(s.timing.streams()),
            "display_sessions": len(s.sessions.sessions()),
            "screens": len(s.hub.screens()),
            "ingest_backlog": s.pipeline.backlog,
            "committed_reads": s.pipeline.committed_reads,
            "store_failures": s.pipeline.failures,
            "features": s.features.to_json(),
        }
    )


async def list_alerts(request: web.Request) -> web.Response:
    """What needs the operator now, newest first; ``?all=1`` adds the acknowledged ones."""
    everything = request.query.get("all", "0")
    if everything not in ("0", "1", "true", "false"):
        raise DisplayInputError("'all' must be 1 or 0")
    alerts = svc(request).alerts.alerts(include_acknowledged=everything in ("1", "true"))
    return web.json_response([a.to_json() for a in alerts])


async def acknowledge_alert(request: web.Request) -> web.Response:
    alert_id = request.match_info["alert_id"]
    alert = svc(request).alerts.acknowledge(alert_id)
    if alert is None:
        raise DisplayNotFound(f"alert {alert_id[:100]!r} does not exist (or was resolved and acknowledged)")
    return web.json_response(alert.to_json())


async def get_sync(request: web.Request) -> web.Response:
    """Central sync: configured, state, backlog, last success/error (docs/sync.md#state)."""
    return web.json_response(svc(request).sync.status().to_json())


async def request_sync(request: web.Request) -> web.Response:
    """Sync now: 202 with the status; 409 when no central database is configured."""
    sync = svc(request).sync
    if not sync.configured:
        raise SyncNotConfigured(
            "no central database is configured (serve --central-url, env RACE_CONTROL_CENTRAL_URL "
            "or the desktop Settings)"
        )
    sync.request()
    return web.json_response(sync.status().to_json(), status=202)


async def get_metrics(request: web.Request) -> web.Response:
    # (prometheus_client when /metrics is first scraped: not at start-up)
    from race_control.display_server.metrics import CONTENT_TYPE, metrics_text

    return web.Response(body=metrics_text(svc(request)), headers={"Content-Type": CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    doc = json.loads((resources_dir() / "openapi.json").read_text("utf-8"))
    return web.json_response(doc)


async def create_event(request: web.Request) -> web.Response:
    result = await svc(request).ops.roster.create_event(await read_json(request))
    return web.json_response(result.event.to_json(), status=201)


async def list_events(request: web.Request) -> web.Response:
    return web.json_response([e.to_json() for e in svc(request).events.events()])


async def get_event(request: web.Request) -> web.Response:
    s = svc(request)
    info = s.events.event(request.match_info["event_id"])
    return web.json_response({**info.to_json(), "participants": len(s.events.roster(info.id))})


async def import_participants(request: web.Request) -> web.Response:
    s = svc(request)
    event_id = request.match_info["event_id"]
    s.events.event(event_id)  # 404 before reading a large body
    result = await s.ops.roster.import_participants(event_id, await read_json(request, MAX_IMPORT_BODY))
    return web.json_response(
        {"imported": result.imported, "rejected": [r.to_json() for r in result.rejected]}
    )


def participant_json(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in row.__slots__ if k != "raw"}


async def list_participants(request: web.Request) -> web.Response:
    rows = svc(request).events.roster(request.match_info["event_id"])
    return web.json_response([participant_json(r) for r in rows])


async def edit_participant(request: web.Request) -> web.Response:
    s = svc(request)
    event_id, bib = request.match_info["event_id"], request.match_info["bib"]
    s.events.event(event_id)  # 404 before the body
    result = await s.ops.roster.edit_participant(event_id, bib, await read_json(request))
    return web.json_response(participant_json(result.participant))


async def list_timing(request: web.Request) -> web.Response:
    return web.json_response([st.to_json() for st in svc(request).timing.streams()])


async def get_timing(request: web.Request) -> web.Response:
    st = svc(request).timing.stream(request.match_info["stream_id"])
    if st is None:
        raise DisplayNotFound(f"timing session {request.match_info['stream_id'][:64]!r} does not exist")
    return web.json_response(st.to_json())


async def update_timing(request: web.Request) -> web.Response:
    s = svc(request)
    state = await s.ops.timing.set_clock(request.match_info["stream_id"], await read_json(request))
    return web.json_response(state.to_json())


async def import_files(request: web.Request) -> web.Response:
    s = svc(request)
    result = await s.ops.timing.import_files(await read_json(request, MAX_IMPORT_BODY))
    return web.json_response(result.summary, status=201)


async def list_templates(request: web.Request) -> web.Response:
    return web.json_response(svc(request).templates.list())


async def get_template(request: web.Request) -> web.Response:
    return web.json_response(svc(request).templates.get(request.match_info["template_id"]))


async def create_template(request: web.Request) -> web.Response:
    result = await svc(request).ops.templates.save(await read_json(request, MAX_TEMPLATE_BODY))
    return web.json_response(result.template, status=201)


async def update_template(request: web.Request) -> web.Response:
    body = await read_json(request, MAX_TEMPLATE_BODY)
    result = await svc(request).ops.templates.save(body, request.match_info["template_id"])
    return web.json_response(result.template)


async def list_presets(request: web.Request) -> web.Response:
    return web.json_response(svc(request).ops.presets.list())


async def save_preset(request: web.Request) -> web.Response:
    return web.json_response(await svc(request).ops.presets.save(await read_json(request)), status=201)


async def session_from_preset(request: web.Request) -> web.Response:
    s = svc(request)
    s.ops.presets.get(request.match_info["preset_id"])  # 404 before the body
    result = await s.ops.presets.create_session(request.match_info["preset_id"], await read_json(request))
    return web.json_response(session_json(s, result.session), status=201)


def session_json(s: Services, session: Any) -> dict[str, Any]:
    return {
        **session.to_json(),
        "display_url": s.display_url(session),
        "screens": len(s.hub.screens(session.id)),
    }


async def create_session(request: web.Request) -> web.Response:
    s = svc(request)
    result = await s.ops.sessions.create(await read_json(request))
    return web.json_response(session_json(s, result.session), status=201)


async def list_sessions(request: web.Request) -> web.Response:
    s = svc(request)
    return web.json_response([session_json(s, x) for x in s.sessions.sessions()])


async def get_session(request: web.Request) -> web.Response:
    s = svc(request)
    return web.json_response(session_json(s, s.sessions.get(request.match_info["session_id"])))


async def bind_timing(request: web.Request) -> web.Response:
    s = svc(request)
    s.sessions.get(request.match_info["session_id"])  # 404 before the body
    body = only_fields(await read_json(request), ("timing_session_id",), "a binding")
    if not isinstance(body.get("timing_session_id"), str):
        raise DisplayInputError("body must be an object with 'timing_session_id' (a string)")
    result = await s.ops.sessions.bind(request.match_info["session_id"], body["timing_session_id"])
    return web.json_response(session_json(s, result.session))


async def update_session(request: web.Request) -> web.Response:
    s = svc(request)
    result = await s.ops.sessions.update(request.match_info["session_id"], await read_json(request))
    out = session_json(s, result.session)
    if result.rerun:
        out["rerun"] = result.rerun
    return web.json_response(out)


async def close_session(request: web.Request) -> web.Response:
    s = svc(request)
    result = await s.ops.sessions.close(request.match_info["session_id"])
    return web.json_response(session_json(s, result.session))


async def session_suppressions(request: web.Request) -> web.Response:
    s = svc(request)
    try:
        limit = min(10_000, max(1, int(request.query.get("limit", "1000"))))
    except ValueError:
        raise DisplayInputError("'limit' must be an integer") from None
    bib = request.query.get("bib")
    return web.json_response(await s.sessions.suppressions(request.match_info["session_id"], bib, limit))


async def reload_screens(request: web.Request) -> web.Response:
    s = svc(request)
    s.sessions.get(request.match_info["session_id"])  # 404 before the body
    body = await read_json(request) if request.can_read_body else {}
    screen = only_fields(body, ("screen_id",), "a reload").get("screen_id")
    result = s.ops.sessions.reload_screens(request.match_info["session_id"], screen)
    return web.json_response({"reloaded": result.sent})


async def unbind_timing(request: web.Request) -> web.Response:
    s = svc(request)
    result = await s.ops.sessions.unbind(request.match_info["session_id"], request.match_info["stream_id"])
    return web.json_response(session_json(s, result.session))


async def session_analytics(request: web.Request) -> web.Response:
    s = svc(request)
    sid = request.match_info["session_id"]
    report = await analytics.session_analytics(s.sessions, sid, s.hub.latencies(sid))
    if request.query.get("format") == "csv":
        return web.Response(
            text=analytics.analytics_csv(report),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="analytics-{report["session_id"]}.csv"'},
        )
    return web.json_response(report)


async def switch_screens(request: web.Request) -> web.Response:
    """Move a screen (or all screens) of this session to another session: it navigates there."""
    s = svc(request)
    s.sessions.get(request.match_info["session_id"])  # 404 before the body
    body = only_fields(await read_json(request), ("to_session_id", "screen_id"), "a switch")
    if not isinstance(body.get("to_session_id"), str):
        raise DisplayInputError("body must be an object with 'to_session_id' (and optionally 'screen_id')")
    result = s.ops.sessions.move_screens(
        request.match_info["session_id"], body["to_session_id"], body.get("screen_id")
    )
    assert result.target is not None
    return web.json_response({"switched": result.sent, "display_url": s.display_url(result.target)})


async def session_finishers(request: web.Request) -> web.Response:
    s = svc(request)
    session = s.sessions.get(request.match_info["session_id"])
    try:
        after = int(request.query.get("after_seq", "0"))
    except ValueError:
        after = -1
    if not 0 <= after < 2**63:  # SQLite's integers are 64-bit: a larger one raised (a 500)
        raise DisplayInputError("'after_seq' must be a whole number 0 or more")
    return web.json_response(await s.sessions.events_after(session.id, after))


async def session_screens(request: web.Request) -> web.Response:
    s = svc(request)
    session = s.sessions.get(request.match_info["session_id"])
    return web.json_response([x.to_json() for x in s.hub.screens(session.id)])


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/health", health)
    r.add_get("/api/openapi.json", openapi)
    r.add_get("/api/alerts", list_alerts)
    r.add_post("/api/alerts/{alert_id}/acknowledge", acknowledge_alert)
    r.add_get("/api/metrics", get_metrics)
    r.add_get("/api/sync", get_sync)
    r.add_post("/api/sync", request_sync)
    r.add_post("/api/events", create_event)
    r.add_get("/api/events", list_events)
    r.add_get("/api/events/{event_id}", get_event)
    r.add_post("/api/events/{event_id}/participants", import_participants)
    r.add_get("/api/events/{event_id}/participants", list_participants)
    r.add_patch("/api/events/{event_id}/participants/{bib}", edit_participant)
    r.add_get("/api/templates", list_templates)
    r.add_post("/api/templates", create_template)
    r.add_get("/api/templates/{template_id}", get_template)
    r.add_put("/api/templates/{template_id}", update_template)
    r.add_get("/api/presets", list_presets)
    r.add_post("/api/presets", save_preset)
    r.add_post("/api/presets/{preset_id}/sessions", session_from_preset)
    r.add_get("/api/timing/sessions", list_timing)
    r.add_get("/api/timing/sessions/{stream_id}", get_timing)
    r.add_patch("/api/timing/sessions/{stream_id}", update_timing)
    r.add_post("/api/timing/import", import_files)
    r.add_post("/api/sessions", create_session)
    r.add_get("/api/sessions", list_sessions)
    r.add_get("/api/sessions/{session_id}", get_session)
    r.add_patch("/api/sessions/{session_id}", update_session)
    r.add_delete("/api/sessions/{session_id}", close_session)
    r.add_get("/api/sessions/{session_id}/suppressions", session_suppressions)
    r.add_get("/api/sessions/{session_id}/analytics", session_analytics)
    r.add_post("/api/sessions/{session_id}/screens/reload", reload_screens)
    r.add_post("/api/sessions/{session_id}/screens/switch", switch_screens)
    r.add_post("/api/sessions/{session_id}/timing", bind_timing)
    r.add_delete("/api/sessions/{session_id}/timing/{stream_id}", unbind_timing)
    r.add_get("/api/sessions/{session_id}/finishers", session_finishers)
    r.add_get("/api/sessions/{session_id}/screens", session_screens)
    from race_control.display_server import (  # they import this module's helpers
        provider_routes,
        roster_routes,
    )

    provider_routes.add_routes(app)
    from race_control.display_server import builder_routes, template_routes

    template_routes.add_routes(app)
    roster_routes.add_routes(app)
    builder_routes.add_routes(app)
    from race_control.display_server import replay_routes  # the replay routes (docs/history.md#replay)

    replay_routes.add_routes(app)
    from race_control.display_server import history_routes  # exports (docs/history.md)

    history_routes.add_routes(app)
    from race_control.display_server import session_history_routes  # docs/history.md#history

    session_history_routes.add_routes(app)
