"""History routes (docs/history.md; documented in resources/openapi.json).

``GET /api/timing/sessions/{stream_id}/export`` (``?format=ct01_33`` default, or ``original``)
→ the stream as a recording ``race-control simulate`` plays; ``POST /api/timing/recordings``
(the recording as the body) → such a recording imported as a stream; ``GET
/api/sessions/{session_id}/results.csv`` → the session's finishers as CSV.  Both are streamed:
the response starts once the first page is read (``operations.history``); an unknown id or
format is a 404/400 before any byte is sent.
``GET /api/sessions/{session_id}/report.html`` → the printable race-day report
(``analytics_report``, drawn from the analytics answer).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web

from race_control import analytics, analytics_report
from race_control.display_server import session_history_routes
from race_control.display_server.api import MAX_IMPORT_BODY, _too_large, only_fields, read_json, svc
from race_control.display_server.errors import DisplayInputError
from race_control.display_server.services import Services
from race_control.latency import latency_summary
from race_control.operations.history import HistoryOperations


def _history(request: web.Request) -> HistoryOperations:
    s = svc(request)
    return HistoryOperations(s.store, s.timing, s.sessions, s.ops.changes)


async def _stream(
    request: web.Request, chunks: AsyncIterator[bytes], content_type: str, filename: str
) -> web.StreamResponse:
    first = await anext(chunks, b"")  # errors before this point are still a JSON 4xx
    response = web.StreamResponse(
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def export_stream(request: web.Request) -> web.StreamResponse:
    history = _history(request)
    fmt = request.query.get("format", "ct01_33")
    state = history.stream(request.match_info["stream_id"], fmt)
    suffix = "ctp" if fmt == "ct01_33" or state.protocol == "ctp01" else "txt"
    return await _stream(
        request,
        history.export_stream(state, fmt),
        "text/plain; charset=iso-8859-1",
        f"timing-{state.id}.{suffix}",
    )


async def results_csv(request: web.Request) -> web.StreamResponse:
    session_id = request.match_info["session_id"]
    chunks = _history(request).results_csv(session_id)
    return await _stream(
        request, chunks, "text/csv; charset=utf-8; header=present", f"results-{session_id[:64]}.csv"
    )


async def _raw_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_IMPORT_BODY:
        raise _too_large(MAX_IMPORT_BODY)
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > MAX_IMPORT_BODY:
            raise _too_large(MAX_IMPORT_BODY)
    return bytes(body)


async def report_page(s: Services, session_id: str) -> str:
    """The printable race-day report of a session (``analytics_report``), the analytics answer as
    a page: the route's body, and what the desktop's "Race-day report…" saves.
    ``SessionNotFound`` first."""
    session = s.sessions.get(session_id)
    report = await analytics.session_analytics(s.sessions, session.id, s.hub.latencies(session.id))
    screens = [
        {
            "screen": sc.screen_id or sc.id,
            "user_agent": sc.user_agent,
            "latency_ms": latency_summary(sc.latencies, digits=2),
            "samples": len(sc.latencies),
        }
        for sc in s.hub.screens(session.id)
    ]
    seen = (await session_history_routes.history_of(s).summary(session.id))["screens_seen"]
    return analytics_report.render_report(
        s.events.event(session.event_id).to_json(), session.to_json(), report, screens, time.time(), seen
    )


async def session_report(request: web.Request) -> web.Response:
    """The printable race-day report (``report_page``)."""
    page = await report_page(svc(request), request.match_info["session_id"])  # 404 first
    return web.Response(
        text=page,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": analytics_report.REPORT_CSP,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


RECORDING_FIELDS = ("content", "timezone", "date", "name")


async def import_recording(request: web.Request) -> web.Response:
    """The body is the recording itself (``export``'s output or a raw CTP01 log), or, sent as
    ``application/json``, ``{"content": text, "timezone"?, "date"?, "name"?}``; ``?timezone=``,
    ``?date=`` and ``?name=`` override what the recording's header says."""
    unknown = sorted(set(request.query) - set(RECORDING_FIELDS[1:]))
    if unknown:
        raise DisplayInputError(
            f"unknown parameter(s) {', '.join(k[:40] for k in unknown)}; known: timezone, date, name"
        )
    opts: dict[str, str | None] = {k: request.query.get(k) for k in RECORDING_FIELDS[1:]}
    if request.content_type == "application/json":
        body = only_fields(await read_json(request, MAX_IMPORT_BODY), RECORDING_FIELDS, "a recording")
        for key in RECORDING_FIELDS:
            if key in body and not isinstance(body[key], str):
                raise DisplayInputError(f"'{key}' must be a string")
        if "content" not in body:
            raise DisplayInputError("body must be an object with 'content' (the recording's text)")
        try:
            data = body["content"].encode("latin-1")
        except UnicodeEncodeError as exc:
            raise DisplayInputError(
                f"'content' holds {body['content'][exc.start]!r} at {exc.start}: CT01_33 lines are Latin-1"
            ) from None
        opts = {k: opts[k] or body.get(k) for k in opts}
    else:
        data = await _raw_body(request)
    summary = await _history(request).import_recording(
        data, timezone=opts["timezone"], date=opts["date"], name=opts["name"] or ""
    )
    return web.json_response(summary, status=201)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/timing/sessions/{stream_id}/export", export_stream)
    r.add_get("/api/sessions/{session_id}/results.csv", results_csv)
    r.add_get("/api/sessions/{session_id}/report.html", session_report)
    r.add_post("/api/timing/recordings", import_recording)
