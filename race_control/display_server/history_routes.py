"""History routes (docs/history.md; documented in resources/openapi.json).

``GET /api/timing/sessions/{stream_id}/export`` (``?format=ct01_33`` default, or ``original``)
→ the stream as a recording ``race-control simulate`` plays; ``GET
/api/sessions/{session_id}/results.csv`` → the session's finishers as CSV.  Both are streamed:
the response starts once the first page is read (``operations.history``); an unknown id or
format is a 404/400 before any byte is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from race_control.display_server.api import svc
from race_control.operations.history import HistoryOperations


def _history(request: web.Request) -> HistoryOperations:
    s = svc(request)
    return HistoryOperations(s.store, s.timing, s.sessions)


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


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/timing/sessions/{stream_id}/export", export_stream)
    r.add_get("/api/sessions/{session_id}/results.csv", results_csv)
