"""The bundled fonts in real Chromium, with no network beyond our server and the page's own CSP
enforced: a screen page of a template naming every bundled font draws each text with that font
(the glyphs Chromium used, from DevTools' CSS.getPlatformFontsForNode, are the web font's, and
``document.fonts.check`` says its faces are loaded), each WOFF2 came from /display/fonts/ on our
server, and the Arabic and Hebrew faces come in for right-to-left names only."""

from __future__ import annotations

from typing import Any

import pytest

from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.browser import chromium, platform_fonts

pytestmark = pytest.mark.browser

TEXTS = [  # (font the block names, its text, the family Chromium must draw it with)
    ("inter", "Zoë Ní Mhaoldomhnaigh", "Inter"),
    ("barlow-condensed", "Małgorzata Wiśniewska", "Barlow Condensed"),
    ("oswald", "FINISH — Århus", "Oswald"),
    ("roboto-mono", "1:23:45.6", "Roboto Mono"),
    ("condensed", "Ólafur Guðmundsson", "Barlow Condensed"),  # an older name: the bundled face now
    ("inter", "مريم الحسيني", "Noto Sans Arabic"),
    ("oswald", "נועה כהן", "Noto Sans Hebrew"),
]


def template() -> dict[str, Any]:
    blocks = [
        {"type": "text", "x": 40, "y": 40 + 140 * i, "w": 1800, "h": 120, "text": t,
         "style": {"size": 90, "weight": 700, "font": font}}
        for i, (font, t, _) in enumerate(TEXTS)
    ]  # fmt: skip
    return {"name": "Every font", "mode": "pre-race", "theme": {"font": "inter"}, "blocks": blocks}


async def used_fonts(page: Any) -> list[list[dict[str, Any]]]:
    """Per text block, the fonts Chromium actually drew its glyphs with (DevTools protocol)."""

    async def texts(cdp: Any) -> list[int]:
        root = await cdp.send("DOM.getDocument", {"depth": -1})
        found = await cdp.send(
            "DOM.querySelectorAll", {"nodeId": root["root"]["nodeId"], "selector": ".rc-text .rc-t"}
        )
        return list(found["nodeIds"])

    return await platform_fonts(page, texts)


async def test_every_bundled_font_draws_its_text_offline_from_our_server(rc: RaceControl, api: Api) -> None:
    tpl = await api.ok("POST", "/api/templates", template(), 201)
    event = await api.ok("POST", "/api/events", {"name": "Fonts 5K", "date": "2026-06-01"}, 201)
    body = {"event_id": event["id"], "mode": "pre-race", "template_id": tpl["id"]}
    session = await api.ok("POST", "/api/sessions", body, 201)
    ours = rc.http_url
    async with chromium() as browser:
        ctx = await browser.new_context(bypass_csp=False, viewport={"width": 1920, "height": 1080})
        elsewhere: list[str] = []

        async def no_network(route: Any) -> None:  # the venue has no internet: only our server answers
            if route.request.url.startswith(ours):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort("internetdisconnected")

        await ctx.route("**/*", no_network)
        fetched: list[tuple[str, int, str]] = []
        page = await ctx.new_page()
        page.on(
            "response",
            lambda r: (
                fetched.append((r.url, r.status, r.headers.get("content-type", "")))
                if ".woff2" in r.url
                else None
            ),
        )
        violations: list[str] = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        await page.goto(session["display_url"])
        for _ in range(200):  # no wait_for_function: it needs eval, which the page's CSP refuses
            ready = await page.evaluate(
                "(n) => document.fonts.status === 'loaded' && document.querySelectorAll('.rc-text .rc-t').length === n",
                len(TEXTS),
            )
            if ready:
                break
            await page.wait_for_timeout(50)
        await page.evaluate("() => document.fonts.ready.then(() => true)")
        checks = await page.evaluate(
            """(texts) => texts.map(([font, text, family]) => document.fonts.check("700 90px '" + family + "'", text))""",
            [list(t) for t in TEXTS],
        )
        assert checks == [True] * len(TEXTS), checks
        loaded = await page.evaluate(
            "() => [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family.replace(/\"/g, ''))"
        )
        assert {family for _, _, family in TEXTS} <= set(loaded), loaded
        computed = await page.evaluate(
            "() => [...document.querySelectorAll('.rc-text')].map(e => getComputedStyle(e).fontFamily)"
        )
        for (font, _, family), value in zip(TEXTS, computed, strict=True):
            assert "Noto Sans Arabic" in value and "Noto Sans Hebrew" in value, value
            if "Noto" not in family:
                assert value.startswith(f'"{family}"') or value.startswith(family), (font, value)
        drawn = await used_fonts(page)
        for (font, text, family), used in zip(TEXTS, drawn, strict=True):
            main = max(used, key=lambda f: f["glyphCount"])
            assert main["familyName"].startswith(family) and main["isCustomFont"], (font, text, used)
        assert not elsewhere, elsewhere
        assert not violations, violations
        files = {url.split("/display/fonts/")[1].split("?")[0] for url, _, _ in fetched}
        assert all(url.startswith(ours + "/display/fonts/") and status == 200 and ctype == "font/woff2"
                   for url, status, ctype in fetched), fetched  # fmt: skip
        assert {"inter-latin-wght-normal.woff2", "barlow-condensed-latin-ext-800-normal.woff2",
                "oswald-latin-wght-normal.woff2", "roboto-mono-latin-wght-normal.woff2",
                "noto-sans-arabic-arabic-wght-normal.woff2", "noto-sans-hebrew-hebrew-wght-normal.woff2"} <= files, files  # fmt: skip
        assert "inter-cyrillic-wght-normal.woff2" not in files  # unicode-range: only what the texts need
        await ctx.close()
