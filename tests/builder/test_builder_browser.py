"""The builder in real Chromium: palette, mouse drag and resize with snapping, undo/redo, and
a save that restyles a connected screen without a reload."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from race_control.app import RaceControl
from tests.builder.helpers import box_center, canvas_frame, doc, open_builder, state
from tests.conftest import Api
from tests.display.browser import chromium

pytestmark = pytest.mark.browser
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "builder.png"


async def _custom_template(api: Api, blocks: list[dict]) -> dict:
    body = {
        "schema_version": 2,
        "name": "Builder test",
        "mode": "results",
        "canvas": {"width": 1920, "height": 1080},
        "blocks": blocks,
    }
    return await api.ok("POST", "/api/templates", body, 201)


async def test_palette_drag_resize_snap_and_undo_redo(rc: RaceControl, api: Api) -> None:
    anchor = {"type": "text", "x": 400, "y": 400, "w": 300, "h": 100, "text": "Anchor"}
    tpl = await _custom_template(api, [anchor])
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        k = (await state(page))["scale"]
        # add from the palette: a time block, centred, selected
        await page.click("#palette button[data-type='time']")
        d = await doc(page)
        assert [b["type"] for b in d["blocks"]] == ["text", "time"]
        t = d["blocks"][1]
        assert (await state(page))["selected"] == 1
        assert t["x"] == (1920 - t["w"]) // 2 and t["y"] == (1080 - t["h"]) // 2
        # the canvas frame drew it through the display page (a .rc-time block in its card layer)
        frame = canvas_frame(page)
        assert await frame.locator(".rc-card .rc-time").count() == 1
        # drag it with the mouse, far from any edge: lands on the 8 px grid
        x0, y0 = await box_center(page, 1)
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        await page.mouse.move(x0 + 100 * k, y0 + 203 * k, steps=8)
        await page.mouse.up()
        moved = (await doc(page))["blocks"][1]
        assert abs(moved["x"] - (t["x"] + 100)) <= 5 and moved["x"] % 8 == 0, moved
        assert abs(moved["y"] - (t["y"] + 203)) <= 5 and moved["y"] % 8 == 0, moved
        assert moved["w"] == t["w"]
        # resize by the south-east handle
        se = await page.locator(".box.selected .handle[data-h='se']").bounding_box()
        assert se is not None
        hx, hy = se["x"] + se["width"] / 2, se["y"] + se["height"] / 2
        await page.mouse.move(hx, hy)
        await page.mouse.down()
        await page.mouse.move(hx - 150 * k, hy - 61 * k, steps=6)
        await page.mouse.up()
        resized = (await doc(page))["blocks"][1]
        assert resized["x"] == moved["x"] and resized["y"] == moved["y"]
        assert abs(resized["w"] - (t["w"] - 150)) <= 5 and abs(resized["h"] - (t["h"] - 61)) <= 5, resized
        # drag the anchor so its left edge comes within a few px of the time block's left edge:
        # it snaps to exactly that edge (not to the grid), and a guide shows while dragging
        a = (await doc(page))["blocks"][0]
        ax, ay = await box_center(page, 0)
        want = resized["x"] + 3 - a["x"]  # 3 canvas px off the edge
        await page.mouse.move(ax, ay)
        await page.mouse.down()
        await page.mouse.move(ax + want * k, ay + 7 * k, steps=8)
        guides = (await state(page))["guides"]
        assert {"axis": "x", "at": resized["x"]} in guides, guides
        assert await page.locator(".guide[data-axis='x']").count() >= 1
        await page.mouse.up()
        snapped = (await doc(page))["blocks"][0]
        assert snapped["x"] == resized["x"], (snapped, resized)
        assert await page.locator(".guide").count() == 0
        # keyboard: nudge, shift-nudge, duplicate, layer order, lock, delete
        await page.keyboard.press("ArrowRight")
        await page.keyboard.press("Shift+ArrowDown")
        n = (await doc(page))["blocks"][0]
        assert (n["x"], n["y"]) == (snapped["x"] + 1, snapped["y"] + 10)
        await page.keyboard.press("Control+d")
        assert len((await doc(page))["blocks"]) == 3
        await page.click("#panel button[name='back']")
        await page.click("#panel button[name='lock']")
        locked = (await doc(page))["blocks"][0]
        assert locked["locked"] is True and locked["x"] == n["x"] + 20
        await page.keyboard.press("Delete")  # a locked block stays
        assert len((await doc(page))["blocks"]) == 3
        # undo everything, redo everything, undo again: the JSON of each step is identical
        states = []
        depth = (await state(page))["undo"]
        assert depth == 9, depth  # add, move, resize, snap-move, 2 nudges, duplicate, back, lock
        for _ in range(depth):
            states.append(json.dumps(await doc(page), sort_keys=True))
            await page.keyboard.press("Control+z")
        start = json.dumps(await doc(page), sort_keys=True)
        assert json.loads(start)["blocks"] == [anchor]
        for _ in range(depth):
            await page.keyboard.press("Control+Shift+z")
        assert json.dumps(await doc(page), sort_keys=True) == states[0]
        for i in range(depth):
            assert json.dumps(await doc(page), sort_keys=True) == states[i]
            await page.keyboard.press("Control+z")
        assert json.dumps(await doc(page), sort_keys=True) == start
        assert (await state(page))["redo"] == depth
        assert not page.errors, page.errors  # type: ignore[attr-defined]


async def test_save_restyles_a_connected_screen_without_a_reload(rc: RaceControl, api: Api) -> None:
    tpl = await _custom_template(api, [{"type": "name", "x": 56, "y": 300, "w": 1300, "h": 200}])
    event = await api.ok("POST", "/api/events", {"name": "Builder 5K", "date": "2026-06-01"}, 201)
    session = await api.ok(
        "POST", "/api/sessions", {"event_id": event["id"], "mode": "results", "template_id": tpl["id"]}, 201
    )
    async with chromium() as browser:
        screen = await browser.new_page(viewport={"width": 1280, "height": 720})
        await screen.goto(session["display_url"])
        await screen.wait_for_function("document.body.dataset.connection === 'live'", timeout=10_000)
        await screen.evaluate("window.__notReloaded = true")
        page = await open_builder(browser, api, tpl["id"])
        await page.click("#palette button[data-type='text']")
        text = page.locator("#panel input[name='text']")
        await text.fill("Builder says hello")
        await text.press("Enter")
        assert (await doc(page))["blocks"][1]["text"] == "Builder says hello"
        frame = canvas_frame(page)
        assert "Builder says hello" in await frame.inner_text(".rc-static")
        await page.click("#save")
        await page.wait_for_function("!window.rcBuilder.state().dirty", timeout=10_000)
        assert "Saved version 2" in await page.inner_text("#status")
        await screen.wait_for_function(
            "document.querySelector('.rc-static') && "
            "document.querySelector('.rc-static').textContent.includes('Builder says hello')",
            timeout=10_000,
        )
        assert await screen.evaluate("window.__notReloaded") is True
        versions = await api.ok("GET", f"/api/templates/{tpl['id']}/versions")
        assert [v["version"] for v in versions] == [2, 1]
        saved = await api.ok("GET", f"/api/templates/{tpl['id']}")
        assert saved["blocks"][1]["text"] == "Builder says hello"


async def test_builtin_saves_a_copy_and_samples_render_through_the_page(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    async with chromium() as browser:
        page = await open_builder(browser, api, "results-classic")
        frame = canvas_frame(page)
        # the sample finishers go through the page's own renderSingle()/renderGrid()
        await page.select_option("#sample", "rtl")
        await frame.wait_for_function("document.querySelector('.rc-name').textContent.includes('مريم')")
        assert await frame.get_attribute(".rc-card span.rc-name", "dir") == "auto"
        await page.select_option("#sample", "unknown")
        await frame.wait_for_function("document.querySelector('.rc-name').textContent === 'Bib 9999'")
        assert await frame.locator(".rc-block.rc-name.rc-unknown").count() == 1
        await page.select_option("#sample", "bunch")
        await frame.wait_for_function("window.raceControl.state().view === 'grid'")
        assert await frame.locator(".rc-grid .rc-mini").count() == 8
        # LED board: the canvas frame takes the new design size, the blocks scale with it
        await page.select_option("#canvas-size", "768x256")
        d = await doc(page)
        assert d["canvas"] == {"width": 768, "height": 256}
        assert max(b["x"] + b["w"] for b in d["blocks"]) <= 768
        size = await page.evaluate(
            "[document.getElementById('canvas-frame').offsetWidth, document.getElementById('canvas-frame').offsetHeight]"
        )
        assert size == [768, 256]
        await page.keyboard.press("Control+z")
        assert (await doc(page))["canvas"] == {"width": 1920, "height": 1080}
        await page.select_option("#sample", "long")
        await page.click("#palette button[data-type='leaderboard']")
        await page.click("#save")
        await page.wait_for_function(
            "window.rcBuilder.state().templateId !== 'results-classic'", timeout=10_000
        )
        new_id = (await state(page))["templateId"]
        assert page.url.endswith(f"/builder?template={new_id}")
        saved = await api.ok("GET", f"/api/templates/{new_id}")
        assert saved["name"] == "Results — classic (copy)" and len(saved["blocks"]) == 11
        await page.keyboard.press("Delete")  # the screenshot shows the template, its name block selected
        await page.click(".box[data-index='5']")
        await page.wait_for_timeout(300)
        shot = tmp_path / SCREENSHOT.name  # RC_UPDATE_SCREENSHOTS=1 rewrites docs/screenshots/builder.png
        await page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        if os.environ.get("RC_UPDATE_SCREENSHOTS"):
            shutil.copy(shot, SCREENSHOT)
        assert not page.errors, page.errors  # type: ignore[attr-defined]


async def test_builder_runs_under_its_strict_policy(rc: RaceControl, api: Api) -> None:
    code = await api.ok("POST", "/api/builder/codes", {"template_id": "results-classic"}, 201)
    async with chromium() as browser:
        context = await browser.new_context(bypass_csp=False, viewport={"width": 1600, "height": 900})
        page = await context.new_page()
        violations: list[str] = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        await page.goto(rc.http_url + code["path"])
        for _ in range(200):
            if await page.evaluate("() => !!(window.rcBuilder && window.rcBuilder.state().frameReady)"):
                break
            await page.wait_for_timeout(50)
        await page.click("#palette button[data-type='bib']")
        frame = canvas_frame(page)
        await page.wait_for_timeout(300)
        assert await frame.locator(".rc-card .rc-bib").count() == 2
        assert not violations, violations
        await context.close()
