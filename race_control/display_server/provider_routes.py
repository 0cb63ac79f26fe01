"""The providers' API routes (docs/providers.md#api; documented in resources/openapi.json).

``GET /api/providers``, ``POST``/``GET /api/providers/accounts``,
``GET /api/providers/accounts/{id}/events``, ``POST /api/events/{event_id}/sync`` and
``GET /api/providers/accounts/{id}/events/{provider_event_id}/results`` (the provider's results,
each matched to our participant by its synced registration, docs/providers.md#results).
Credentials go in once and never come out: the account's JSON names the credential fields only.
A provider that answers but unusably (malformed JSON, a shape we do not know, an HTTP error) is
502 with the provider's, the path's and the field's names in ``error``; one that stays
unavailable through the retries is 503 (with ``Retry-After``); refused credentials are 400.
"""

from __future__ import annotations

from aiohttp import web

from race_control.display_server.api import read_json, svc
from race_control.display_server.errors import DisplayNotFound
from race_control.operations.provider_results import ProviderResults
from race_control.operations.provider_sync import ProviderSyncOperations
from race_control.providers.errors import ProviderRemoteError, ProviderUnavailable
from race_control.providers.registry import providers


def _ops(request: web.Request) -> ProviderSyncOperations:
    ops = svc(request).ops.providers
    if ops is None:
        raise DisplayNotFound("providers are not available in this instance")
    return ops


def _remote_failed(exc: ProviderRemoteError) -> web.Response:
    if isinstance(exc, ProviderUnavailable):
        return web.json_response({"error": str(exc)}, status=503, headers={"Retry-After": "30"})
    return web.json_response({"error": str(exc)}, status=502)


async def list_providers(request: web.Request) -> web.Response:
    return web.json_response(providers())


async def create_account(request: web.Request) -> web.Response:
    account = await _ops(request).create_account(await read_json(request))
    return web.json_response(account.to_json(), status=201)


async def list_accounts(request: web.Request) -> web.Response:
    return web.json_response([a.to_json() for a in _ops(request).accounts.accounts()])


async def account_events(request: web.Request) -> web.Response:
    ops = _ops(request)
    try:
        events = await ops.list_events(request.match_info["account_id"])
    except ProviderRemoteError as exc:
        return _remote_failed(exc)
    return web.json_response([e.to_json() for e in events])


async def sync_event(request: web.Request) -> web.Response:
    ops = _ops(request)
    event_id = request.match_info["event_id"]
    svc(request).events.event(event_id)  # 404 before the body
    try:
        result = await ops.sync(event_id, await read_json(request))
    except ProviderRemoteError as exc:
        return _remote_failed(exc)
    return web.json_response(result)


async def event_results(request: web.Request) -> web.Response:
    ops = _ops(request)
    services = svc(request)
    options = dict(request.query)
    if options.get("event_id"):
        services.events.event(options["event_id"])  # 404 before the fetch
    results = ProviderResults(services.store, ops.accounts)
    try:
        got = await results.fetch(
            request.match_info["account_id"], request.match_info["provider_event_id"], options
        )
    except ProviderRemoteError as exc:
        return _remote_failed(exc)
    return web.json_response([r.to_json() for r in got])


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/providers", list_providers)
    r.add_post("/api/providers/accounts", create_account)
    r.add_get("/api/providers/accounts", list_accounts)
    r.add_get("/api/providers/accounts/{account_id}/events", account_events)
    r.add_get("/api/providers/accounts/{account_id}/events/{provider_event_id}/results", event_results)
    r.add_post("/api/events/{event_id}/sync", sync_event)
