"""The bundled fonts as screens load them (docs/templates.md#fonts): public like the display
page, no API token, served by the local server and the relay alike.

``GET /display/fonts/fonts.css`` — the ``@font-face`` rules (``templates.fonts.font_face_css``);
each file's URL carries its content hash, so the CSS is revalidated (``no-cache``) and the files
are cached for a year, ``immutable``.
``GET /display/fonts/fonts.json`` — the font list the builder's style panel offers.
``GET /display/fonts/{file}.woff2`` — a bundled file by exact name, ``font/woff2``, ``nosniff``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from aiohttp import web

from race_control.templates import fonts

YEAR = "public, max-age=31536000, immutable"


def _headers(cache: str) -> dict[str, str]:
    return {
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


@lru_cache(maxsize=1)
def _css() -> tuple[bytes, str]:
    body = fonts.font_face_css().encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


async def font_css(request: web.Request) -> web.Response:
    body, etag = _css()
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={**_headers("no-cache"), "ETag": etag})
    return web.Response(
        body=body, content_type="text/css", charset="utf-8", headers={**_headers("no-cache"), "ETag": etag}
    )


async def font_list(request: web.Request) -> web.Response:
    return web.json_response(
        {"default": fonts.DEFAULT, "fonts": fonts.catalog()}, headers=_headers("no-cache")
    )


async def font_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in fonts.files():  # exact names only: no paths, no listing
        raise web.HTTPNotFound(text="no such font file")
    resp = web.FileResponse(fonts.font_dir() / name, headers=_headers(YEAR))
    resp.content_type = "font/woff2"
    return resp


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/display/fonts/fonts.css", font_css)
    r.add_get("/display/fonts/fonts.json", font_list)
    r.add_get("/display/fonts/{name}", font_file)
