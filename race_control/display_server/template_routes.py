"""The template history and portable-file routes, and the images screens load
(docs/templates.md; documented in resources/openapi.json).

``GET /api/templates/{id}/versions``, ``GET /api/templates/{id}/versions/{version}`` (a
preview: that version's template), ``POST /api/templates/{id}/versions/{version}/restore``,
``GET /api/templates/{id}/export`` (the portable file), ``POST /api/templates/import`` (that
file as the body: 201 with the new template, or 400 naming what is wrong) and
``GET /display/images/{sha256}.{png|jpg}`` — public like the display page (screens have no API
token; the name is the image's content hash), cached forever by the screens' browsers since
the bytes under a name never change.
"""

from __future__ import annotations

import re

from aiohttp import web

from race_control.display_server.api import MiB, read_json, svc
from race_control.display_server.errors import DisplayInputError, DisplayNotFound
from race_control.templates.images import REF_RE

MAX_TEMPLATE_FILE = 48 * MiB  # a template and up to 100 images in base64
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _version(request: web.Request) -> int:
    raw = request.match_info["version"]
    if not raw.isdigit() or not 1 <= int(raw) < 2**31:
        raise DisplayInputError(f"version must be a whole number 1 or more, not {raw[:20]!r}")
    return int(raw)


async def list_versions(request: web.Request) -> web.Response:
    return web.json_response(await svc(request).ops.templates.versions(request.match_info["template_id"]))


async def get_version(request: web.Request) -> web.Response:
    ops = svc(request).ops.templates
    return web.json_response(await ops.version(request.match_info["template_id"], _version(request)))


async def restore_version(request: web.Request) -> web.Response:
    ops = svc(request).ops.templates
    result = await ops.restore(request.match_info["template_id"], _version(request))
    return web.json_response(result.template)


async def export_template(request: web.Request) -> web.Response:
    doc = await svc(request).ops.templates.export_file(request.match_info["template_id"])
    name = _SAFE_NAME.sub("-", str(doc["template"].get("name", "template"))).strip("-.")[:60] or "template"
    return web.json_response(
        doc, headers={"Content-Disposition": f'attachment; filename="{name}.rctemplate.json"'}
    )


async def import_template(request: web.Request) -> web.Response:
    result = await svc(request).ops.templates.import_file(await read_json(request, MAX_TEMPLATE_FILE))
    return web.json_response(result.template, status=201)


async def image(request: web.Request) -> web.Response:
    m = REF_RE.match(request.path)
    found = await svc(request).ops.templates.image(m.group(1)) if m else None
    if found is None or found.ext != m.group(2):  # type: ignore[union-attr]
        raise DisplayNotFound("no such image")
    return web.Response(
        body=found.data,
        content_type=found.media_type,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/templates/{template_id}/versions", list_versions)
    r.add_get("/api/templates/{template_id}/versions/{version}", get_version)
    r.add_post("/api/templates/{template_id}/versions/{version}/restore", restore_version)
    r.add_get("/api/templates/{template_id}/export", export_template)
    r.add_post("/api/templates/import", import_template)
    r.add_get("/display/images/{name}", image)
