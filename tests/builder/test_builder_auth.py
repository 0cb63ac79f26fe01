"""The builder is the API token's: a one-time code becomes an HttpOnly SameSite=Strict cookie;
without it every builder route answers 401, and saves need the builder's header."""

from __future__ import annotations

import aiohttp

from race_control.app import RaceControl
from tests.conftest import Api


async def test_builder_routes_need_the_token_code_and_cookie(rc: RaceControl, api: Api) -> None:
    base = rc.http_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path in ("/builder", "/builder?template=results-classic", "/builder/canvas"):
            async with http.get(base + path) as r:
                assert r.status == 401, path
                assert "needs the API token" in await r.text()
        async with http.get(base + "/builder/api/templates") as r:
            assert r.status == 401 and "signed out" in (await r.json())["error"]
        async with http.get(base + "/builder?code=made-up") as r:
            assert r.status == 401
        # the code itself needs the API token
        async with http.post(base + "/api/builder/codes", json={}) as r:
            assert r.status == 401
        bad = await api.call("POST", "/api/builder/codes", {"template_id": "no-such"})
        assert bad[0] == 404
        bad = await api.call("POST", "/api/builder/codes", {"other": 1})
        assert bad[0] == 400
        code = await api.ok("POST", "/api/builder/codes", {"template_id": "results-classic"}, 201)
        assert code["expires_in"] <= 120 and code["code"] in code["path"]
        async with http.get(base + code["path"], allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/builder?template=results-classic"  # no code left in the URL
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/builder" in cookie
        async with http.get(base + "/builder?template=results-classic") as r:
            assert r.status == 200
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        async with http.get(base + "/builder/canvas") as r:
            assert r.status == 200 and "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
        async with http.get(base + "/builder/api/templates/results-classic") as r:
            assert r.status == 200 and (await r.json())["name"]
        body = {"schema_version": 2, "name": "Made here", "mode": "results", "blocks": []}
        async with http.post(base + "/builder/api/templates", json=body) as r:
            assert r.status == 403  # no builder header: a form elsewhere cannot save
        headers = {"X-Race-Control-Builder": "1", "Origin": "http://evil.example"}
        async with http.post(base + "/builder/api/templates", json=body, headers=headers) as r:
            assert r.status == 403
        async with http.post(
            base + "/builder/api/templates", json=body, headers={"X-Race-Control-Builder": "1"}
        ) as r:
            assert r.status == 201
            made = await r.json()
        async with http.put(
            base + f"/builder/api/templates/{made['id']}",
            json={**body, "blocks": [{"type": "text", "x": 20000, "y": 0, "w": 10, "h": 10}]},
            headers={"X-Race-Control-Builder": "1"},
        ) as r:
            assert r.status == 400 and "blocks[0]" in (await r.json())["error"]
        # a code is spent once
        async with http.get(base + code["path"], allow_redirects=False) as r:
            assert r.status == 401
    # another browser (no cookie) is still refused
    async with aiohttp.ClientSession() as other, other.get(base + "/builder/canvas") as r:
        assert r.status == 401
