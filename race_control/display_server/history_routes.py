"""History routes (docs/history.md; documented in resources/openapi.json).

``GET /api/timing/sessions/{stream_id}/export`` (``?format=ct01_33`` default, or ``original``)
→ the stream as a recording ``race-control simulate`` plays; ``POST /api/timing/recordings``
(the recording as the body) → such a recording imported as a stream; ``GET
/api/sessions/{session_id}/results.csv`` → the session's finishers as CSV.  Both are streamed:
the response starts once the first page is read (``operations.history``); an unknown id or
format is a 404/400 before any byte is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from race_control.display_server.api import MAX_IMPORT_BODY, _too_large, svc
from race_control.display_server.errors import DisplayInputError
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


async def import_recording(request: web.Request) -> web.Response:
    """The body is the recording itself (``export``'s output or a raw CTP01 log, any content
    type); ``?timezone=`` and ``?date=`` override what its header says."""
    if request.content_length is not None and request.content_length > MAX_IMPORT_BODY:
        raise _too_large(MAX_IMPORT_BODY)
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > MAX_IMPORT_BODY:
            raise _too_large(MAX_IMPORT_BODY)
    unknown = sorted(set(request.query) - {"timezone", "date", "name"})
    if unknown:
        raise DisplayInputError(
            f"unknown parameter(s) {', '.join(k[:40] for k in unknown)}; known: timezone, date, name"
        )
    q = request.query
    summary = await _history(request).import_recording(
        bytes(body), timezone=q.get("timezone"), date=q.get("date"), name=q.get("name", "")
    )
    return web.json_response(summary, status=201)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/timing/sessions/{stream_id}/export", export_stream)
    r.add_get("/api/sessions/{session_id}/results.csv", results_csv)
    r.add_post("/api/timing/recordings", import_recording)
