"""The visual template builder (docs/templates.md#builder): its page, its canvas and the
cookie-authenticated routes it saves through.

Who may open it: whoever holds the API token.  The token never goes into a URL: a client
with the token asks ``POST /api/builder/codes`` for a one-time code (valid 120 s), opens
``/builder?code=<code>&template=<id>``; the server spends the code, sets an ``HttpOnly``,
``SameSite=Strict`` cookie (path ``/builder``, 12 h) and redirects to the same URL without
the code.  Every ``/builder`` route but its static files needs that cookie (401 page or JSON
otherwise); writes also need the header ``X-Race-Control-Builder: 1`` and, when the browser
sends one, an ``Origin`` equal to this server's (no other site can make a browser save).

``/builder/canvas`` is the page the builder frames as its canvas: the display page's own
scripts (``/display/static/*.js``) without a session, so the canvas is the real renderer.
Saves go through the same operation as ``PUT``/``POST /api/templates`` (a new version; open
sessions showing the template restyle at once).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from race_control.display_server.api import MAX_TEMPLATE_BODY, read_json, svc
from race_control.display_server.pages import friendly, ws_origins
from race_control.display_server.qr_routes import origin, svg_response
from race_control.paths import resources_dir
from race_control.templates.images import MAX_IMAGE_BYTES, MAX_SIDE

CODE_TTL = 120.0  # seconds a one-time code may wait before it is spent
SESSION_TTL = 12 * 3600.0  # a builder cookie's life
MAX_PENDING = 200  # codes and cookies kept at most (oldest dropped)
COOKIE = "rc_builder"
WRITE_HEADER = "X-Race-Control-Builder"
STATIC = (
    "builder.js",
    "builder-arrange.js",
    "builder-canvas.js",
    "builder-commands.js",
    "builder-samples.js",
    "builder.css",
)


@dataclass
class BuilderAuth:
    """One-time codes and the builder cookies they became (in memory: a restart logs out)."""

    codes: dict[str, tuple[float, str]] = field(default_factory=dict)  # code -> (expires, template)
    sessions: dict[str, float] = field(default_factory=dict)  # cookie value -> expires

    def _purge(self, now: float) -> None:
        for table in (self.codes, self.sessions):
            for key in [k for k, v in table.items() if (v[0] if isinstance(v, tuple) else v) <= now]:
                del table[key]
            while len(table) > MAX_PENDING:
                del table[next(iter(table))]

    def new_code(self, template_id: str) -> str:
        now = time.monotonic()
        self._purge(now)
        code = secrets.token_urlsafe(24)
        self.codes[code] = (now + CODE_TTL, template_id)
        return code

    def spend(self, code: str) -> str | None:
        """A new cookie value for a valid unspent code (the code is gone either way)."""
        now = time.monotonic()
        self._purge(now)
        found = self.codes.pop(code, None)
        if found is None:
            return None
        cookie = secrets.token_urlsafe(32)
        self.sessions[cookie] = now + SESSION_TTL
        self._purge(now)
        return cookie

    def valid(self, cookie: str | None) -> bool:
        if not cookie:
            return False
        now = time.monotonic()
        for known, expires in self.sessions.items():
            if hmac.compare_digest(known.encode(), cookie.encode("utf-8", "surrogateescape")):
                return expires > now
        return False


AUTH = web.AppKey("builder_auth", BuilderAuth)


def builder_csp(request: web.Request) -> str:
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def canvas_csp(request: web.Request) -> str:
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        f"connect-src 'self' {ws_origins(request)}".rstrip()
        + "; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )


def _html(request: web.Request, name: str, csp: str) -> web.Response:
    body = (resources_dir() / "builder" / name).read_text("utf-8")
    return web.Response(
        text=body,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _signed_in(request: web.Request) -> bool:
    return request.app[AUTH].valid(request.cookies.get(COOKIE))


def _refused_page() -> web.Response:
    resp = friendly(
        401,
        "The template builder needs the API token",
        "Open the builder from Race Control: POST /api/builder/codes with the API token gives a one-time link.",
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _refused_json(why: str) -> web.Response:
    return web.json_response({"error": why}, status=401)


async def create_code(request: web.Request) -> web.Response:
    """``POST /api/builder/codes`` (API token): a one-time code and the builder URL it opens."""
    body: Any = {}
    if request.can_read_body:
        body = await read_json(request)
    if not isinstance(body, dict) or set(body) - {"template_id"}:
        return web.json_response({"error": 'body must be {} or {"template_id": "<id>"}'}, status=400)
    template_id = body.get("template_id", "")
    if template_id != "":
        if not isinstance(template_id, str):
            return web.json_response({"error": "template_id must be a string"}, status=400)
        svc(request).templates.get(template_id)  # 404 for a template that does not exist
    code = request.app[AUTH].new_code(template_id)
    url = f"/builder?code={code}" + (f"&template={quote(template_id, safe='')}" if template_id else "")
    base = svc(request).public_base_url
    return web.json_response(
        {"code": code, "expires_in": CODE_TTL, "path": url, "url": f"{base}{url}" if base else url},
        status=201,
    )


async def builder_page(request: web.Request) -> web.StreamResponse:
    code = request.query.get("code")
    if code is not None:
        cookie = request.app[AUTH].spend(code)
        if cookie is None:
            return _refused_page()
        template = request.query.get("template", "")
        where = "/builder" + (f"?template={quote(template, safe='')}" if template else "")
        # the code leaves the address bar (and the history) at once
        resp = web.Response(
            status=303,
            headers={"Location": where, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )
        resp.set_cookie(
            COOKIE,
            cookie,
            max_age=int(SESSION_TTL),
            path="/builder",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )
        return resp
    if not _signed_in(request):
        return _refused_page()
    return _html(request, "builder.html", builder_csp(request))


async def canvas_page(request: web.Request) -> web.StreamResponse:
    if not _signed_in(request):
        return _refused_page()
    return _html(request, "canvas.html", canvas_csp(request))


async def builder_qr(request: web.Request) -> web.StreamResponse:
    """The canvas's sample for a ``qr`` block: the builder's preview URL (a screen shows its own)."""
    if not _signed_in(request):
        return _refused_page()
    return svg_response(f"{origin(request)}/builder/canvas")


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.FileResponse(resources_dir() / "builder" / name, headers={"Cache-Control": "no-cache"})


def _api_guard(request: web.Request, write: bool) -> web.Response | None:
    if not _signed_in(request):
        return _refused_json("the builder is signed out: open it again from Race Control")
    if write:
        if request.headers.get(WRITE_HEADER) != "1":
            return web.json_response(
                {"error": f"a builder save needs the header {WRITE_HEADER}: 1"}, status=403
            )
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return web.json_response(
                {"error": "a builder save must come from this server's page"}, status=403
            )
    return None


async def list_templates(request: web.Request) -> web.Response:
    return _api_guard(request, False) or web.json_response(svc(request).templates.list())


async def get_template(request: web.Request) -> web.Response:
    return _api_guard(request, False) or web.json_response(
        svc(request).templates.get(request.match_info["template_id"])
    )


async def list_versions(request: web.Request) -> web.Response:
    refused = _api_guard(request, False)
    if refused:
        return refused
    return web.json_response(await svc(request).ops.templates.versions(request.match_info["template_id"]))


async def create_template(request: web.Request) -> web.Response:
    refused = _api_guard(request, True)
    if refused:
        return refused
    result = await svc(request).ops.templates.save(await read_json(request, MAX_TEMPLATE_BODY))
    return web.json_response(result.template, status=201)


async def update_template(request: web.Request) -> web.Response:
    refused = _api_guard(request, True)
    if refused:
        return refused
    body = await read_json(request, MAX_TEMPLATE_BODY)
    result = await svc(request).ops.templates.save(body, request.match_info["template_id"])
    # how many open sessions restyled their screens: a header, so the body stays a template
    return web.json_response(result.template, headers={"X-Sessions-Restyled": str(result.sessions_updated)})


async def upload_image(request: web.Request) -> web.Response:
    """``POST /builder/api/images?w=<px>&h=<px>``: the body is one image file (PNG, JPEG, GIF
    or WebP, at most ``MAX_IMAGE_BYTES``); it is checked, shrunk to fit the ``w`` x ``h`` box it
    fills (canvas pixels), re-encoded without metadata and stored once by content hash.  201
    ``{"src": "/display/images/<sha256>.<ext>", "width", "height", "bytes"}``; 400 naming the
    reason (not an image, SVG, too many pixels), 413 for a file over the byte limit."""
    refused = _api_guard(request, True)
    if refused:
        return refused
    too_big = {"error": f"the image is larger than {MAX_IMAGE_BYTES:,} bytes, the limit for an image"}
    if request.content_length is not None and request.content_length > MAX_IMAGE_BYTES:
        return web.json_response(too_big, status=413)
    data = bytearray()
    while chunk := await request.content.readany():
        data += chunk
        if len(data) > MAX_IMAGE_BYTES:
            return web.json_response(too_big, status=413)
    box = []
    for key in ("w", "h"):
        raw = request.query.get(key, "")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_SIDE:
            return web.json_response(
                {"error": f"query {key} must be the box's size in canvas pixels, 1 to {MAX_SIDE}"}, status=400
            )
        box.append(int(raw))
    if not data:
        return web.json_response({"error": "the body must be the image file; it is empty"}, status=400)
    img = await svc(request).ops.templates.store_image(bytes(data), (box[0], box[1]), "the image")
    return web.json_response(
        {"src": img.ref, "width": img.width, "height": img.height, "bytes": len(img.data)}, status=201
    )


def add_routes(app: web.Application) -> None:
    app[AUTH] = BuilderAuth()
    r = app.router
    r.add_post("/api/builder/codes", create_code)
    r.add_get("/builder", builder_page)
    r.add_get("/builder/canvas", canvas_page)
    r.add_get("/builder/qr.svg", builder_qr)
    r.add_get("/builder/static/{name}", static)
    r.add_get("/builder/api/templates", list_templates)
    r.add_post("/builder/api/templates", create_template)
    r.add_get("/builder/api/templates/{template_id}", get_template)
    r.add_put("/builder/api/templates/{template_id}", update_template)
    r.add_get("/builder/api/templates/{template_id}/versions", list_versions)
    r.add_post("/builder/api/images", upload_image)
