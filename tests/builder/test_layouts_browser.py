"""The builder's mode switch (edit the results or the pre-race layout of one template) and its
burst settings (how several finishers share the screen), in real Chromium: every change is one
command, undone and redone with identical JSON, and the canvas (the display page) draws them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from race_control.app import RaceControl
from tests.builder.helpers import canvas_frame, doc, open_builder, state
from tests.conftest import Api
from tests.display.browser import chromium

pytestmark = pytest.mark.browser

TEMPLATE = {
    "schema_version": 2,
    "name": "Layouts",
    "mode": "results",
    "canvas": {"width": 1920, "height": 1080},
    "grid": {"x": 56, "y": 150, "w": 1328, "h": 874},
    "blocks": [
        {"type": "name", "x": 56, "y": 300, "w": 1328, "h": 230, "style": {"size": 150}},
        {
            "type": "text",
            "x": 100,
            "y": 60,
            "w": 1200,
            "h": 100,
            "text": "ON BOTH",
            "modes": ["results", "pre-race"],
        },
    ],
}


async def boxes(page: Page) -> list[int]:
    return await page.evaluate(
        "Array.from(document.querySelectorAll('.box')).map(b => Number(b.dataset.index))"
    )


async def canvas_texts(page: Page) -> list[str]:
    return await canvas_frame(page).evaluate(
        "Array.from(document.querySelectorAll('.rc-static .rc-block')).map(b => b.textContent)"
    )


async def undo_redo_all(page: Page, history: list[str]) -> None:
    """Undo every step back to the first JSON, then redo them all: each JSON exactly as it was."""
    for want in reversed(history[:-1]):
        await page.keyboard.press("Control+z")
        assert json.dumps(await doc(page), sort_keys=True) == want
    for want in history[1:]:
        await page.keyboard.press("Control+Shift+z")
        assert json.dumps(await doc(page), sort_keys=True) == want


def dumped(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True)


async def test_the_mode_switch_edits_each_layout_and_every_change_undoes(rc: RaceControl, api: Api) -> None:
    tpl = await api.ok("POST", "/api/templates", TEMPLATE, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        frame = canvas_frame(page)
        history = [dumped(await doc(page))]
        assert await boxes(page) == [0, 1] and (await state(page))["editMode"] == "results"
        # pre-race: only the block listed for it, drawn by the page in its pre-race mode
        await page.click("#edit-mode button[data-mode='pre-race']")
        assert (await state(page))["editMode"] == "pre-race"
        assert await page.get_attribute("#edit-mode button[data-mode='pre-race']", "aria-pressed") == "true"
        await frame.wait_for_function("document.body.dataset.mode === 'pre-race'")
        assert await boxes(page) == [1]
        assert await canvas_texts(page) == ["ON BOTH"]
        assert dumped(await doc(page)) == history[0]  # a view, not a change
        assert (await state(page))["undo"] == 0
        # a block added here belongs to the pre-race layout only
        await page.click("#palette button[data-type='countdown']")
        d = await doc(page)
        assert d["blocks"][2]["type"] == "countdown" and d["blocks"][2]["modes"] == ["pre-race"]
        history.append(dumped(d))
        assert await boxes(page) == [1, 2]
        await frame.wait_for_function("document.querySelectorAll('.rc-static .rc-countdown').length === 1")
        # dragged near the (hidden) results name block's top edge (y 300): no snap, no guide to it
        await page.select_option("#grid-size", "1")
        k = (await state(page))["scale"]
        cd = d["blocks"][2]
        box = await page.locator(".box[data-index='2']").bounding_box()
        assert box is not None
        x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        await page.mouse.move(x0, y0 + (303 - cd["y"]) * k / 2, steps=3)
        await page.mouse.move(x0, y0 + (303 - cd["y"]) * k, steps=3)
        guides = (await state(page))["guides"]
        await page.mouse.up()
        moved = (await doc(page))["blocks"][2]
        assert abs(moved["y"] - 303) <= 1 and not any(g["at"] == 300 for g in guides), (moved, guides)
        history.append(dumped(await doc(page)))
        # the panel's "Shows in": the text leaves pre-race (one command), the selection goes
        await page.locator(".box[data-index='1']").click()
        await page.select_option("#panel select[name='modes']", "results")
        d = await doc(page)
        assert "modes" not in d["blocks"][1]  # the template's own mode: no list
        history.append(dumped(d))
        assert await boxes(page) == [2] and (await state(page))["selection"] == []
        await frame.wait_for_function("document.querySelectorAll('.rc-static .rc-text').length === 0")
        # results: the name and the text, not the countdown
        await page.click("#edit-mode button[data-mode='results']")
        await frame.wait_for_function("document.body.dataset.mode === 'results'")
        assert await boxes(page) == [0, 1]
        assert await frame.evaluate("document.querySelectorAll('.rc-countdown').length") == 0
        # Ctrl+A selects this layout's blocks only
        await page.mouse.click(5, 300)  # focus the page, not an input
        await page.keyboard.press("Control+a")
        assert (await state(page))["selection"] == [0, 1]
        # copied from results, pasted into pre-race: the copies belong to the pre-race layout
        await page.keyboard.press("Control+c")
        await page.click("#edit-mode button[data-mode='pre-race']")
        await page.mouse.click(5, 300)
        await page.keyboard.press("Control+v")
        await page.wait_for_function("window.rcBuilder.doc().blocks.length === 5")
        d = await doc(page)
        assert [b.get("modes") for b in d["blocks"]] == [None, None, ["pre-race"], ["pre-race"], ["pre-race"]]
        history.append(dumped(d))
        assert await boxes(page) == [2, 3, 4] and (await state(page))["selection"] == [3, 4]
        await undo_redo_all(page, history)
        assert (await state(page))["undo"] == 4
        # undone to the start: the pre-race layout is the text alone again
        for _ in range(4):
            await page.keyboard.press("Control+z")
        assert await boxes(page) == [1]
        assert not page.errors, page.errors  # type: ignore[attr-defined]


async def test_burst_settings_are_commands_and_the_canvas_draws_them(rc: RaceControl, api: Api) -> None:
    tpl = await api.ok("POST", "/api/templates", TEMPLATE, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        frame = canvas_frame(page)
        await page.select_option("#sample", "bunch")
        await frame.wait_for_function("document.querySelectorAll('.rc-grid .rc-mini').length === 8")
        history = [dumped(await doc(page))]
        panel = page.locator("#panel")
        # nothing selected: the template panel has the burst settings
        await panel.locator("select[name='grid.layout']").select_option("list")
        history.append(dumped(await doc(page)))
        await panel.locator("input[name='grid.max']").fill("6")
        await panel.locator("input[name='grid.max']").press("Enter")
        history.append(dumped(await doc(page)))
        await panel.locator("input[name='grid.dwell_s']").fill("2.5")
        await panel.locator("input[name='grid.dwell_s']").press("Enter")
        history.append(dumped(await doc(page)))
        d = await doc(page)
        assert d["grid"] == {
            "x": 56,
            "y": 150,
            "w": 1328,
            "h": 874,
            "layout": "list",
            "max": 6,
            "dwell_s": 2.5,
        }
        # the canvas: 6 rows of the list, each the grid's width, stacked in the grid's height
        await frame.wait_for_function(
            "document.querySelectorAll('.rc-grid .rc-mini.rc-mini-row').length === 6"
        )
        rows = await frame.evaluate(
            "Array.from(document.querySelectorAll('.rc-grid .rc-mini')).map(c =>"
            " [c.offsetLeft, c.offsetTop, c.offsetWidth, c.offsetHeight, c.querySelector('.rc-name').textContent])"
        )
        assert [r[4] for r in rows] == [
            "Ana Silva",
            "Bjørn Dæhlie",
            "Chen Wei",
            "Dmitri Volkov-Alexandrovich",
            "נועה כהן",
            "Bib 16",
        ]
        assert all(r[0] == 56 and abs(r[2] - 1328) <= 1 for r in rows), rows
        assert rows[0][1] == 150 and abs(rows[-1][1] + rows[-1][3] - (150 + 874)) <= 1, rows
        # cards again, 3 columns: 6 cards in 2 rows
        await panel.locator("select[name='grid.layout']").select_option("cards")
        history.append(dumped(await doc(page)))
        await panel.locator("input[name='grid.columns']").fill("3")
        await panel.locator("input[name='grid.columns']").press("Enter")
        history.append(dumped(await doc(page)))
        assert (await doc(page))["grid"] == {
            "x": 56,
            "y": 150,
            "w": 1328,
            "h": 874,
            "max": 6,
            "dwell_s": 2.5,
            "columns": 3,
        }
        await frame.wait_for_function(
            "(() => { const c = document.querySelectorAll('.rc-grid .rc-mini');"
            " return c.length === 6 && !c[0].classList.contains('rc-mini-row')"
            " && new Set(Array.from(c).map(e => e.offsetTop)).size === 2; })()"
        )
        # out-of-range input is clamped to what the schema allows (one command)
        await panel.locator("input[name='grid.max']").fill("40")
        await panel.locator("input[name='grid.max']").press("Enter")
        assert (await doc(page))["grid"]["max"] == 8
        history.append(dumped(await doc(page)))
        assert (await state(page))["undo"] == len(history) - 1
        await undo_redo_all(page, history)
        # saved: the server takes it (schema-valid)
        await page.click("#save")
        await page.wait_for_function("!window.rcBuilder.state().dirty")
        saved = await api.ok("GET", f"/api/templates/{tpl['id']}")
        assert saved["grid"]["max"] == 8 and saved["grid"]["columns"] == 3
        # pre-race has no burst settings
        await page.click("#edit-mode button[data-mode='pre-race']")
        assert await panel.locator("select[name='grid.layout']").count() == 0
        assert not page.errors, page.errors  # type: ignore[attr-defined]


SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "builder-burst.png"


async def test_screenshot_of_a_burst_of_8_in_the_builder_at_1280x720(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    async with chromium() as browser:
        ctx = await browser.new_context(viewport={"width": 1280, "height": 720})
        page = await open_builder(ctx, api, "results-classic")
        frame = canvas_frame(page)
        await page.select_option("#sample", "bunch")
        await frame.wait_for_function("document.querySelectorAll('.rc-grid .rc-mini').length === 8")
        await frame.wait_for_function("document.fonts.status === 'loaded'")
        # the burst panel is on screen beside the canvas (nothing selected)
        assert await page.locator("#panel select[name='grid.layout']").is_visible()
        names = await frame.evaluate(
            "Array.from(document.querySelectorAll('.rc-grid .rc-name')).map(e => e.textContent)"
        )
        assert len(names) == 8 and names[5] == "Bib 16"
        await page.wait_for_timeout(400)
        shot = (
            tmp_path / SCREENSHOT.name
        )  # RC_UPDATE_SCREENSHOTS=1 rewrites docs/screenshots/builder-burst.png
        await page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        if os.environ.get("RC_UPDATE_SCREENSHOTS"):
            shutil.copy(shot, SCREENSHOT)
        assert not page.errors, page.errors  # type: ignore[attr-defined]
        await ctx.close()


async def test_a_screen_drops_a_pre_race_layout_with_the_template_that_carried_it(
    rc: RaceControl, api: Api
) -> None:
    """A results template laying out pre-race restyles a pre-race screen; the session's next
    template, which lays out no pre-race, brings the page's built-in pre-race screen back."""
    a = await api.ok("POST", "/api/templates", TEMPLATE, 201)
    b = await api.ok(
        "POST", "/api/templates", {**TEMPLATE, "name": "Results only", "blocks": TEMPLATE["blocks"][:1]}, 201
    )
    event = await api.ok("POST", "/api/events", {"name": "Riverside 10K", "date": "2026-06-01"}, 201)
    body = {"event_id": event["id"], "mode": "pre-race", "template_id": a["id"], "name": "Start"}
    session = await api.ok("POST", "/api/sessions", body, 201)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(session["display_url"])
        texts = (
            "Array.from(document.querySelectorAll('.rc-static .rc-block')).map(e => e.textContent).join('|')"
        )
        await page.wait_for_function(f"({texts}) === 'ON BOTH'", timeout=15_000)
        assert await page.evaluate("document.body.dataset.mode") == "pre-race"
        await api.ok("PATCH", f"/api/sessions/{session['id']}", {"template_id": b["id"]})
        # the built-in pre-race screen (its slides), not the previous template's layout
        await page.wait_for_function("document.querySelector('.rc-slides') !== null", timeout=15_000)
        assert "ON BOTH" not in await page.evaluate(texts)
        await api.ok("PATCH", f"/api/sessions/{session['id']}", {"template_id": a["id"]})
        await page.wait_for_function(f"({texts}) === 'ON BOTH'", timeout=15_000)
        assert not errors, errors
