"""An imported template's images on a real screen: Chromium, the page's own CSP enforced, every
request that would leave this server refused — the images load from /display/images/."""

from __future__ import annotations

import copy

import pytest

from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.browser import chromium
from tests.templates import pictures

pytestmark = pytest.mark.browser


async def test_the_page_shows_an_imported_templates_images_from_this_server_only(
    rc: RaceControl, api: Api
) -> None:
    file = await api.ok("GET", "/api/templates/results-classic/export")
    t = copy.deepcopy(file["template"])
    t["name"] = "Logo screen"
    t["theme"]["background_image"] = pictures.data_url(pictures.png((2400, 1350), (0, 40, 90)))
    t["blocks"].append(
        {
            "type": "image",
            "x": 1500,
            "y": 900,
            "w": 300,
            "h": 150,
            "src": pictures.data_url(pictures.png((900, 450))),
        }
    )
    saved = await api.ok("POST", "/api/templates/import", {**file, "template": t}, 201)
    logo = saved["blocks"][-1]["src"]
    event = await api.ok("POST", "/api/events", {"name": "Logo 5K", "date": "2026-06-01"}, 201)
    session = await api.ok(
        "POST", "/api/sessions", {"event_id": event["id"], "mode": "results", "template_id": saved["id"]}, 201
    )
    origin = session["display_url"].split("/display/")[0]
    async with chromium() as browser:
        context = await browser.new_context(bypass_csp=False)
        elsewhere: list[str] = []

        async def only_here(route):  # type: ignore[no-untyped-def]
            if route.request.url.startswith(origin + "/"):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_here)
        page = await context.new_page()
        await page.goto(session["display_url"])
        loaded = None
        for _ in range(200):
            loaded = await page.evaluate(
                """(src) => { const i = [...document.images].find(i => i.getAttribute('src') === src);
                              return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null }""",
                logo,
            )
            if loaded:
                break
            await page.wait_for_timeout(50)
        assert loaded == [300, 150]
        bg = await page.evaluate(
            "() => getComputedStyle(document.querySelector('.rc-stage') || document.body).backgroundImage"
        )
        assert saved["theme"]["background_image"] in bg, bg
        status = await page.evaluate(
            "(u) => fetch(u).then(r => r.status)", saved["theme"]["background_image"]
        )
        assert status == 200
        assert elsewhere == []
        await context.close()
