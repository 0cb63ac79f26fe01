"""The aiohttp application: API + display routes, auth and error middlewares.

Run inside an existing loop with ``AppRunner``/``TCPSite`` (see ``app.py``).
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from race_control.display_server import api, font_routes, pages, qr_routes
from race_control.display_server.services import Services
from race_control.errors import Conflict, InputError, NotFound, RaceControlError
from race_control.logging_setup import safe

log = logging.getLogger("race_control.http")
PUBLIC_API = {"/api/health"}
JSON_APIS = ("/api/", "/builder/api/")  # answer errors as {"error": ...} (the builder's routes too)


@web.middleware
async def errors_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith(JSON_APIS) and exc.status >= 400:
            reason = exc.reason if exc.status != 405 else f"method {request.method} is not allowed here"
            return web.json_response({"error": reason}, status=exc.status)
        raise
    except InputError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except NotFound as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except Conflict as exc:
        return web.json_response({"error": str(exc)}, status=409)
    except RaceControlError as exc:  # not the client's fault: 503 if trying later can help (storage)
        log.error("%s %s failed: %s", request.method, safe(request.path), exc)
        if exc.retryable:
            return web.json_response({"error": str(exc)}, status=503, headers={"Retry-After": "5"})
        return web.json_response({"error": str(exc)}, status=500)
    except Exception as exc:  # a bug: log it whole, answer in the API's shape, change nothing more
        if not request.path.startswith(JSON_APIS):
            raise
        log.exception("%s %s: unexpected error", request.method, safe(request.path))
        return web.json_response(
            {"error": f"internal error ({type(exc).__name__}); details are in the server log"}, status=500
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    if request.path.startswith("/api/") and request.path not in PUBLIC_API:
        token = request.app[api.SERVICES].api_token
        given = request.headers.get("Authorization", "")
        # header bytes that are not UTF-8 arrive as surrogates (surrogateescape): compare bytes
        # that way, never .encode() them plainly (that raised: a 500 instead of a 401)
        if not given.startswith("Bearer ") or not hmac.compare_digest(
            given[7:].strip().encode("utf-8", "surrogateescape"), token.encode()
        ):
            return web.json_response(
                {
                    "error": "missing or wrong API token: send 'Authorization: Bearer <token>' (see DIR/api-token)"
                },
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    return await handler(request)


def create_app(services: Services) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, auth_middleware], client_max_size=api.MAX_IMPORT_BODY
    )
    app[api.SERVICES] = services
    api.add_routes(app)
    pages.add_routes(app)
    qr_routes.add_routes(app)
    font_routes.add_routes(app)

    async def _close_screens(_app: web.Application) -> None:
        await services.hub.close()

    app.on_shutdown.append(_close_screens)
    return app
