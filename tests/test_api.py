"""The local API: auth, validation (4xx naming the problem, nothing half-applied), routes."""

from __future__ import annotations

import json

import aiohttp

from race_control.display_server.api import add_routes as add_api_routes
from race_control.paths import resources_dir
from tests.conftest import Api


async def make_event(api: Api) -> str:
    data = await api.ok("POST", "/api/events", {"name": "Spring 10K", "date": "2026-05-03"}, status=201)
    return data["id"]


async def test_health_is_public_and_everything_else_needs_the_token(api: Api) -> None:
    async with api.http.get(api.base + "/api/health") as r:
        assert r.status == 200
        assert (await r.json())["status"] == "ok"
    for method, path in [
        ("GET", "/api/events"),
        ("POST", "/api/events"),
        ("GET", "/api/timing/sessions"),
        ("POST", "/api/sessions"),
        ("GET", "/api/openapi.json"),
    ]:
        async with api.http.request(method, api.base + path) as r:
            assert r.status == 401, path
            assert "token" in (await r.json())["error"]
        async with api.http.request(method, api.base + path, headers={"Authorization": "Bearer nope"}) as r:
            assert r.status == 401, path


async def test_create_event_validates_every_field(api: Api) -> None:
    cases = [
        (b"not json", "not valid JSON"),
        (b"", "empty"),
        (b"[]", "JSON object"),
        (json.dumps({"date": "2026-05-03"}).encode(), "'name'"),
        (json.dumps({"name": "X"}).encode(), "'date'"),
        (json.dumps({"name": "X", "date": "2026-13-01"}).encode(), "not a valid"),
        (json.dumps({"name": "X", "date": "2026-05-03", "timezone": "Mars/Base"}).encode(), "time zone"),
        (json.dumps({"name": "", "date": "2026-05-03"}).encode(), "'name'"),
    ]
    for raw, needle in cases:
        status, body = await api.call("POST", "/api/events", raw=raw)
        assert status == 400, (raw, body)
        assert needle in body["error"], (raw, body)
    assert await api.ok("GET", "/api/events") == []  # nothing was created
    created = await api.ok(
        "POST",
        "/api/events",
        {"name": "Spring 10K", "date": "2026-05-03", "timezone": "Europe/Paris"},
        status=201,
    )
    assert created["timezone"] == "Europe/Paris" and len(created["id"]) == 36


async def test_participants_import_rejects_bad_rows_and_keeps_good_ones(api: Api) -> None:
    event_id = await make_event(api)
    rows = [
        {"bib": "0101", "first_name": "Ann", "last_name": "Lee", "age": 34, "city": "Boise", "state": "ID"},
        {"bib": "", "first_name": "No", "last_name": "Bib"},
        {"bib": "102", "first_name": "Bo", "age": "old"},
        {"bib": "101", "first_name": "Dup", "last_name": "Licate"},
        {"bib": 103, "last_name": "Numeric"},
        "not an object",
        {"bib": "104"},
    ]
    result = await api.ok("POST", f"/api/events/{event_id}/participants", rows)
    assert result["imported"] == 2
    errors = {r["index"]: r["error"] for r in result["rejected"]}
    assert set(errors) == {1, 2, 3, 5, 6}
    assert "'bib' is required" in errors[1]
    assert "'age'" in errors[2]
    assert "more than once" in errors[3]
    assert "first_name" in errors[6]
    roster = await api.ok("GET", f"/api/events/{event_id}/participants")
    assert [p["bib"] for p in roster] == ["101", "103"]
    # re-import updates in place (upsert by normalized bib)
    await api.ok(
        "POST",
        f"/api/events/{event_id}/participants",
        [{"bib": "101", "first_name": "Anne", "last_name": "Lee"}],
    )
    roster = await api.ok("GET", f"/api/events/{event_id}/participants")
    assert roster[0]["first_name"] == "Anne" and len(roster) == 2


async def test_participants_errors(api: Api) -> None:
    status, body = await api.call("POST", "/api/events/nope/participants", [])
    assert status == 404 and "does not exist" in body["error"]
    event_id = await make_event(api)
    status, body = await api.call("POST", f"/api/events/{event_id}/participants", {"bib": "1"})
    assert status == 400 and "JSON array" in body["error"]


async def test_sessions_validation_and_display_urls(api: Api) -> None:
    event_id = await make_event(api)
    bad = [
        ({"mode": "results"}, 400, "'event_id'"),
        ({"event_id": "nope", "mode": "results"}, 404, "does not exist"),
        ({"event_id": event_id, "mode": "party"}, 400, "'mode'"),
        ({"event_id": event_id, "mode": "results", "template_id": "nope"}, 400, "template"),
        ({"event_id": event_id, "mode": "results", "locations": "finish"}, 400, "locations"),
        ({"event_id": event_id, "mode": "results", "timing_session_ids": ["nope"]}, 400, "timing session"),
        (
            {"event_id": event_id, "mode": "results", "rules": {"duplicate_window": -1}},
            400,
            "duplicate_window",
        ),
    ]
    for body, status, needle in bad:
        got, data = await api.call("POST", "/api/sessions", body)
        assert got == status and needle in data["error"], (body, got, data)
    assert await api.ok("GET", "/api/sessions") == []
    a = await api.ok(
        "POST", "/api/sessions", {"event_id": event_id, "mode": "results", "locations": ["finish"]}, 201
    )
    b = await api.ok("POST", "/api/sessions", {"event_id": event_id, "mode": "pre-race"}, 201)
    assert a["display_url"].startswith("http://127.0.0.1:") and "/display/" in a["display_url"]
    token_a = a["display_url"].rsplit("/", 1)[1]
    assert len(token_a) >= 22 and token_a != b["display_url"].rsplit("/", 1)[1]  # >= 128 bits of base64
    assert a["locations"] == ["finish"]
    async with api.http.get(a["display_url"]) as r:
        assert r.status == 200 and "text/html" in r.content_type
    async with api.http.get(api.base + "/display/not-a-real-token") as r:
        assert r.status == 404
    async with api.http.get(api.base + "/display/not-a-real-token/ws") as r:
        assert r.status == 404
    got, data = await api.call("POST", f"/api/sessions/{a['id']}/timing", {"timing_session_id": "nope"})
    assert got == 404 and "timing session" in data["error"]
    got, data = await api.call("POST", f"/api/sessions/{a['id']}/timing", {})
    assert got == 400 and "timing_session_id" in data["error"]
    got, data = await api.call("POST", "/api/sessions/nope/timing", {"timing_session_id": "x"})
    assert got == 404


async def test_openapi_document_matches_the_routes(api: Api) -> None:
    served = await api.ok("GET", "/api/openapi.json")
    on_disk = json.loads((resources_dir() / "openapi.json").read_text("utf-8"))
    assert served == on_disk
    documented = {(m.upper(), p) for p, item in on_disk["paths"].items() for m in item}
    real = aiohttp.web.Application()
    add_api_routes(real)
    routes = set()
    for resource in real.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        for route in resource:
            if route.method != "HEAD":
                routes.add((route.method, path))
    assert routes == documented
