"""The per-block overflow choice (style.overflow), set in the builder's style panel and drawn by
the display page's own fit in the canvas frame: a 60-character name and a 60-character text in
each mode stay inside their block's box, each mode the way it says (shrink: one line, smaller,
nothing cut; ellipsis: one line at the block's size, cut; wrap: several lines, nothing cut), and
every change is undone and redone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Page

from race_control.app import RaceControl
from tests.builder.helpers import canvas_frame, doc, open_builder, state
from tests.conftest import Api
from tests.display.browser import chromium

pytestmark = pytest.mark.browser

TEXT = "Congratulations to every runner who crossed the line today!!"
assert len(TEXT) == 60
NAME = {"type": "name", "x": 60, "y": 100, "w": 1000, "h": 200, "style": {"size": 140, "weight": 900}}
PHRASE = {"type": "text", "x": 60, "y": 500, "w": 700, "h": 160, "text": TEXT, "style": {"size": 90}}

MEASURE = """(sel) => {
  const b = document.querySelector(sel), t = b.querySelector('.rc-t');
  const br = b.getBoundingClientRect(), tr = t.getBoundingClientRect(), cs = getComputedStyle(t);
  return {box: [br.left, br.top, br.right, br.bottom], text: [tr.left, tr.top, tr.right, tr.bottom],
          size: parseFloat(cs.fontSize), sw: t.scrollWidth, cw: t.clientWidth, sh: t.scrollHeight,
          ch: t.clientHeight, clamp: t.classList.contains('rc-clamp'), ellipsis: cs.textOverflow,
          content: t.textContent};
}"""


def check(m: dict[str, Any], mode: str, base: float, what: str) -> None:
    box, text = m["box"], m["text"]
    inside = (
        text[0] >= box[0] - 1 and text[1] >= box[1] - 1 and text[2] <= box[2] + 1 and text[3] <= box[3] + 1
    )
    assert inside, (what, mode, m)
    lines = (text[3] - text[1]) / (m["size"] * 1.12)
    if mode == "shrink":
        assert m["size"] < base and lines < 1.5 and m["sw"] <= m["cw"] + 1, (what, mode, m)
    elif mode == "ellipsis":
        assert m["size"] == base and lines < 1.5, (what, mode, m)
        assert m["sw"] > m["cw"] + 1 and m["ellipsis"] == "ellipsis", (what, mode, m)  # cut, with "…"
    elif mode == "wrap":
        room = box[3] - box[1]  # the wrapped lines, all of them, in the box's height
        assert lines >= 1.8 and m["sw"] <= m["cw"] + 1 and m["sh"] <= room + 1 and not m["clamp"], (
            what,
            mode,
            m,
        )


async def choose(page: Page, index: int, mode: str) -> None:
    await page.keyboard.press("Escape")
    await page.click(f".box[data-index='{index}']")
    await page.select_option("#panel select[name='style.overflow']", mode)
    await page.wait_for_timeout(100)  # the canvas redraws on the next animation frame


async def test_each_overflow_mode_keeps_a_60_character_text_in_its_box(rc: RaceControl, api: Api) -> None:
    body = {"schema_version": 2, "name": "Overflow", "mode": "results", "blocks": [NAME, PHRASE]}
    tpl = await api.ok("POST", "/api/templates", body, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        await page.select_option("#sample", "long")
        frame = canvas_frame(page)
        await frame.wait_for_function(
            "document.querySelector('.rc-card .rc-t.rc-name').textContent.length === 60"
        )
        start = json.dumps(await doc(page), sort_keys=True)
        snapshots = [start]
        for mode in ("shrink", "ellipsis", "wrap", ""):
            for index, sel, base in (
                (0, ".rc-card .rc-block.rc-name", 140),
                (1, ".rc-static .rc-block.rc-text", 90),
            ):
                await choose(page, index, mode)
                style = (await doc(page))["blocks"][index]["style"]
                assert style.get("overflow") == (mode or None), style
                snapshots.append(json.dumps(await doc(page), sort_keys=True))
                m = await frame.evaluate(MEASURE, sel)
                assert len(m["content"]) == 60
                check(m, mode, base, sel)
        # the panel shows "Lines" only for the automatic rule
        await choose(page, 0, "wrap")
        assert await page.locator("#panel input[name='lines']").count() == 0
        await page.keyboard.press("Control+z")
        depth = (await state(page))["undo"]
        assert depth == len(snapshots) - 1 == 8
        for i in range(depth, 0, -1):
            assert json.dumps(await doc(page), sort_keys=True) == snapshots[i]
            await page.keyboard.press("Control+z")
        assert json.dumps(await doc(page), sort_keys=True) == start
        for i in range(1, depth + 1):
            await page.keyboard.press("Control+Shift+z")
            assert json.dumps(await doc(page), sort_keys=True) == snapshots[i]
        await page.click("#save")
        await page.wait_for_function("!window.rcBuilder.state().dirty", timeout=10_000)
        saved = await api.ok("GET", f"/api/templates/{tpl['id']}")
        assert "overflow" not in saved["blocks"][0]["style"]
        assert not page.errors, page.errors  # type: ignore[attr-defined]
