"""The builder's font picker in real Chromium: it lists the server's bundled fonts (and nothing
else), choosing one restyles the block in the canvas — drawn with that web font, fetched from
this server — and is one undoable command; the theme's font likewise; the save keeps both."""

from __future__ import annotations

from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.templates import fonts
from tests.builder.helpers import canvas_frame, doc, open_builder
from tests.conftest import Api
from tests.display.browser import chromium, platform_fonts

pytestmark = pytest.mark.browser


async def drawn_with(page: Any, frame_url_end: str, selector: str) -> list[dict[str, Any]]:
    """The fonts Chromium drew ``selector``'s glyphs with, in the frame (DevTools protocol)."""

    def find(node: dict[str, Any]) -> dict[str, Any] | None:
        if node.get("documentURL", "").endswith(frame_url_end):
            return node
        for child in [
            *node.get("children", []),
            *([node["contentDocument"]] if "contentDocument" in node else []),
        ]:
            got = find(child)
            if got:
                return got
        return None

    async def the_node(cdp: Any) -> list[int]:
        root = await cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
        frame_doc = find(root["root"])
        assert frame_doc is not None
        found = await cdp.send("DOM.querySelector", {"nodeId": frame_doc["nodeId"], "selector": selector})
        return [found["nodeId"]]

    (used,) = await platform_fonts(page, the_node)
    return used


async def test_the_font_picker_restyles_the_canvas_with_a_bundled_font(rc: RaceControl, api: Api) -> None:
    body = {
        "name": "Fonts in the builder",
        "mode": "results",
        "blocks": [{"type": "text", "x": 100, "y": 100, "w": 1400, "h": 200, "text": "Małgorzata Ørsted"}],
    }
    tpl = await api.ok("POST", "/api/templates", body, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        woff2: list[str] = []
        page.on("response", lambda r: woff2.append(r.url) if ".woff2" in r.url and r.status == 200 else None)
        await page.wait_for_function("document.querySelector(\"#panel select[name='theme.font']\") !== null")
        listed = await page.eval_on_selector_all(
            "#panel select[name='theme.font'] option", "os => os.map(o => o.value)"
        )
        assert listed == ["", *fonts.names()]
        await page.select_option("#panel select[name='theme.font']", "roboto-mono")
        assert (await doc(page))["theme"]["font"] == "roboto-mono"
        await page.click(".box[data-index='0']")
        picker = "#panel select[name='style.font']"
        assert await page.eval_on_selector_all(picker + " option", "os => os.map(o => o.value)") == [
            "",
            *fonts.names(),
        ]
        await page.select_option(picker, "oswald")
        assert (await doc(page))["blocks"][0]["style"]["font"] == "oswald"
        frame = canvas_frame(page)
        await frame.wait_for_function(
            "getComputedStyle(document.querySelector('.rc-text')).fontFamily.startsWith('Oswald')"
        )
        await frame.evaluate("document.fonts.ready.then(() => true)")
        assert await frame.evaluate("document.fonts.check(\"700 100px 'Oswald'\", 'Małgorzata Ørsted')")
        used = await drawn_with(page, "/builder/canvas", ".rc-text .rc-t")
        assert [(f["familyName"], f["isCustomFont"]) for f in used] == [("Oswald", True)], used
        assert any(u.startswith(rc.http_url + "/display/fonts/oswald-latin-") for u in woff2), woff2
        assert "Oswald" in await page.eval_on_selector(
            "#panel .font-sample", "e => getComputedStyle(e).fontFamily"
        )
        # one command each: undo takes the block back to the theme's font, then the theme to none
        await page.keyboard.press("Control+z")
        assert "font" not in (await doc(page))["blocks"][0].get("style", {})
        await page.keyboard.press("Control+z")
        assert "font" not in (await doc(page)).get("theme", {})
        await page.keyboard.press("Control+Shift+z")
        await page.keyboard.press("Control+Shift+z")
        await page.click("#save")
        await page.wait_for_function("!window.rcBuilder.state().dirty", timeout=10_000)
        saved = await api.ok("GET", f"/api/templates/{tpl['id']}")
        assert saved["theme"]["font"] == "roboto-mono" and saved["blocks"][0]["style"]["font"] == "oswald"
        assert not page.errors, page.errors  # type: ignore[attr-defined]
