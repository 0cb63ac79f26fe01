"""The local HTTP API (``/api/*``): JSON in, JSON out, documented in resources/openapi.json.

Every handler validates first and changes state last, in one unit of work, so a bad
request is a 4xx with ``{"error": ...}`` naming the problem and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from race_control import analytics
from race_control.errors import Conflict, InputError, NotFound
from race_control.paths import resources_dir
from race_control.services import Services
from race_control.timing.ingest.controller_import import import_controller_files

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
MAX_BODY = 64 * 1024 * 1024


async def read_json(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise InputError(f"request body is larger than {MAX_BODY} bytes")
    raw = await request.read()
    if not raw:
        raise InputError("request body is empty; expected JSON")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"request body is not valid JSON: {exc}") from None


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
        }
    )


async def openapi(request: web.Request) -> web.Response:
    doc = json.loads((resources_dir() / "openapi.json").read_text("utf-8"))
    return web.json_response(doc)


async def create_event(request: web.Request) -> web.Response:
    info = await svc(request).events.create_event(await read_json(request))
    return web.json_response(info.to_json(), status=201)


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
    imported, rejected = await s.events.import_participants(event_id, await read_json(request))
    return web.json_response({"imported": imported, "rejected": [r.to_json() for r in rejected]})


async def list_participants(request: web.Request) -> web.Response:
    rows = svc(request).events.roster(request.match_info["event_id"])
    return web.json_response([{k: getattr(r, k) for k in r.__slots__ if k != "raw"} for r in rows])


async def list_timing(request: web.Request) -> web.Response:
    return web.json_response([st.to_json() for st in svc(request).timing.streams()])


async def get_timing(request: web.Request) -> web.Response:
    st = svc(request).timing.stream(request.match_info["stream_id"])
    if st is None:
        raise NotFound(f"timing session {request.match_info['stream_id'][:64]!r} does not exist")
    return web.json_response(st.to_json())


async def update_timing(request: web.Request) -> web.Response:
    s = svc(request)
    state = await s.timing.update_settings(request.match_info["stream_id"], await read_json(request))
    return web.json_response(state.to_json())


async def import_files(request: web.Request) -> web.Response:
    s = svc(request)
    result = await import_controller_files(s.timing, await read_json(request))
    return web.json_response(result, status=201)


def check_template(s: Services, template_id: object) -> None:
    if template_id is None:
        return
    if not isinstance(template_id, str) or not s.templates.exists(template_id):
        known = ", ".join(t["id"] for t in s.templates.list())
        raise InputError(f"'template_id' {str(template_id)[:64]!r} is not a known template ({known})")


async def list_templates(request: web.Request) -> web.Response:
    return web.json_response(svc(request).templates.list())


async def get_template(request: web.Request) -> web.Response:
    return web.json_response(svc(request).templates.get(request.match_info["template_id"]))


async def create_template(request: web.Request) -> web.Response:
    return web.json_response(await svc(request).templates.save(await read_json(request)), status=201)


async def update_template(request: web.Request) -> web.Response:
    s = svc(request)
    tid = request.match_info["template_id"]
    saved = await s.templates.save(await read_json(request), tid)
    for session in s.sessions.sessions():  # screens showing it redraw at once
        if session.template_id == tid and session.status == "open":
            s.hub.send_control(session.id, {"type": "template", "template": saved})
    return web.json_response(saved)


def session_json(s: Services, session: Any) -> dict[str, Any]:
    return {
        **session.to_json(),
        "display_url": s.display_url(session),
        "screens": len(s.hub.screens(session.id)),
    }


async def create_session(request: web.Request) -> web.Response:
    s = svc(request)
    body = await read_json(request)
    if isinstance(body, dict):
        check_template(s, body.get("template_id"))
        streams = body.get("timing_session_ids", [])
        if not isinstance(streams, list) or not all(isinstance(x, str) for x in streams):
            raise InputError("'timing_session_ids' must be a list of timing session ids")
        for sid in streams:
            if s.timing.stream(sid) is None:
                raise InputError(f"timing session {sid[:64]!r} does not exist")
    session = await s.sessions.create(body)
    for sid in body.get("timing_session_ids", []):
        await s.sessions.bind(session.id, sid)
    return web.json_response(session_json(s, session), status=201)


async def list_sessions(request: web.Request) -> web.Response:
    s = svc(request)
    return web.json_response([session_json(s, x) for x in s.sessions.sessions()])


async def get_session(request: web.Request) -> web.Response:
    s = svc(request)
    return web.json_response(session_json(s, s.sessions.get(request.match_info["session_id"])))


async def bind_timing(request: web.Request) -> web.Response:
    s = svc(request)
    session = s.sessions.get(request.match_info["session_id"])
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("timing_session_id"), str):
        raise InputError("body must be an object with 'timing_session_id' (a string)")
    stream_id = body["timing_session_id"]
    if s.timing.stream(stream_id) is None:
        raise NotFound(f"timing session {stream_id[:64]!r} does not exist")
    session = await s.sessions.bind(session.id, stream_id)
    return web.json_response(session_json(s, session))


async def update_session(request: web.Request) -> web.Response:
    s = svc(request)
    body = await read_json(request)
    if isinstance(body, dict) and body.get("template_id") is not None:
        check_template(s, body["template_id"])
    session, rerun = await s.sessions.update(request.match_info["session_id"], body)
    if session.status == "closed":
        await s.hub.close_session(session.id)
    if isinstance(body, dict) and "template_id" in body:
        template = s.templates.resolve(session.template_id, session.mode)
        s.hub.send_control(session.id, {"type": "template", "template": template})
    out = session_json(s, session)
    if rerun:
        out["rerun"] = rerun
    return web.json_response(out)


async def close_session(request: web.Request) -> web.Response:
    s = svc(request)
    session, _ = await s.sessions.update(request.match_info["session_id"], {"status": "closed"})
    await s.hub.close_session(session.id)
    return web.json_response(session_json(s, session))


async def session_suppressions(request: web.Request) -> web.Response:
    s = svc(request)
    try:
        limit = min(10_000, max(1, int(request.query.get("limit", "1000"))))
    except ValueError:
        raise InputError("'limit' must be an integer") from None
    bib = request.query.get("bib")
    return web.json_response(await s.sessions.suppressions(request.match_info["session_id"], bib, limit))


async def reload_screens(request: web.Request) -> web.Response:
    s = svc(request)
    session = s.sessions.get(request.match_info["session_id"])
    body = await read_json(request) if request.can_read_body else {}
    screen = body.get("screen_id") if isinstance(body, dict) else None
    return web.json_response({"reloaded": control_screens(s, session.id, {"type": "reload"}, screen)})


def control_screens(s: Services, session_id: str, message: dict[str, Any], screen: object) -> int:
    """Send a control message to one screen (``screen``) or all screens of a session."""
    if screen is not None and not isinstance(screen, str):
        raise InputError("'screen_id' must be a string")
    sent = s.hub.send_control(session_id, message, screen)
    if screen is not None and not sent:
        raise NotFound(f"screen {screen[:64]!r} is not connected to this session")
    return sent


async def unbind_timing(request: web.Request) -> web.Response:
    s = svc(request)
    session = await s.sessions.unbind(request.match_info["session_id"], request.match_info["stream_id"])
    return web.json_response(session_json(s, session))


async def session_analytics(request: web.Request) -> web.Response:
    s = svc(request)
    report = await analytics.session_analytics(s.sessions, s.hub, request.match_info["session_id"])
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
    session = s.sessions.get(request.match_info["session_id"])
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("to_session_id"), str):
        raise InputError("body must be an object with 'to_session_id' (and optionally 'screen_id')")
    target = s.sessions.get(body["to_session_id"])
    if target.status != "open":
        raise Conflict(f"display session {target.id} is closed")
    message = {"type": "switch", "url": f"/display/{target.token}"}
    sent = control_screens(s, session.id, message, body.get("screen_id"))
    return web.json_response({"switched": sent, "display_url": s.display_url(target)})


async def session_finishers(request: web.Request) -> web.Response:
    s = svc(request)
    session = s.sessions.get(request.match_info["session_id"])
    try:
        after = int(request.query.get("after_seq", "0"))
    except ValueError:
        raise InputError("'after_seq' must be an integer") from None
    return web.json_response(await s.sessions.events_after(session.id, after))


async def session_screens(request: web.Request) -> web.Response:
    s = svc(request)
    session = s.sessions.get(request.match_info["session_id"])
    return web.json_response([x.to_json() for x in s.hub.screens(session.id)])


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/health", health)
    r.add_get("/api/openapi.json", openapi)
    r.add_post("/api/events", create_event)
    r.add_get("/api/events", list_events)
    r.add_get("/api/events/{event_id}", get_event)
    r.add_post("/api/events/{event_id}/participants", import_participants)
    r.add_get("/api/events/{event_id}/participants", list_participants)
    r.add_get("/api/templates", list_templates)
    r.add_post("/api/templates", create_template)
    r.add_get("/api/templates/{template_id}", get_template)
    r.add_put("/api/templates/{template_id}", update_template)
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
