"""The builder's style panel in real Chromium: size, weight, colour, alignment, line height,
letter case, background, border, radius, shadow and opacity, each set in the panel as one
undoable command, restyle the block on the canvas (the display page's own renderer) — and a real
screen page of the saved template draws the block with the very same computed style."""

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

BLOCK = {"type": "text", "x": 100, "y": 100, "w": 1400, "h": 500, "text": "Style me now"}

# (control, value typed or chosen, what the block's style then says)
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("style.size", "120", {"size": 120}),
    ("style.weight", "300", {"weight": 300}),
    ("style.color", "#00ff00", {"color": "#00ff00"}),
    ("style.background", "#0000ff", {"background": "#0000ff"}),
    ("style.align", "right", {"align": "right"}),
    ("style.line_height", "1.6", {"line_height": 1.6}),
    ("style.case", "upper", {"case": "upper"}),
    ("style.border.width", "6", {"border": {"width": 6}}),
    ("style.border.color", "#ff0000", {"border": {"width": 6, "color": "#ff0000"}}),
    ("style.radius", "30", {"radius": 30}),
    ("style.shadow", "strong", {"shadow": "strong"}),
    ("style.opacity", "0.6", {"opacity": 0.6}),
]

COMPUTED = """(sel) => {
  const b = document.querySelector(sel), t = b.querySelector('.rc-t');
  const cs = getComputedStyle(b), ts = getComputedStyle(t);
  return {fontSize: cs.fontSize, fontWeight: cs.fontWeight, color: cs.color,
          background: cs.backgroundColor, textAlign: cs.textAlign, justify: cs.justifyContent,
          lineHeight: ts.lineHeight, textTransform: ts.textTransform, borderStyle: cs.borderTopStyle,
          borderWidth: cs.borderTopWidth, borderColor: cs.borderTopColor, radius: cs.borderTopLeftRadius,
          shadow: cs.boxShadow, opacity: cs.opacity};
}"""

EXPECTED = {
    "fontSize": "120px",
    "fontWeight": "300",
    "color": "rgb(0, 255, 0)",
    "background": "rgb(0, 0, 255)",
    "textAlign": "right",
    "justify": "flex-end",
    "lineHeight": "192px",  # 1.6 x 120 px, on the text itself
    "textTransform": "uppercase",
    "borderStyle": "solid",
    "borderWidth": "6px",
    "borderColor": "rgb(255, 0, 0)",
    "radius": "30px",
    "shadow": "rgba(0, 0, 0, 0.8) 0px 10px 32px 0px",
    "opacity": "0.6",
}


async def set_control(page: Page, name: str, value: str) -> None:
    control = page.locator(f"#panel [name='{name}']")
    if await control.evaluate("e => e.tagName") == "SELECT":
        await control.select_option(value)
    else:
        await control.fill(value)
        await control.press("Enter")


def dumped(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True)


async def test_each_style_control_restyles_canvas_and_screen_as_one_undoable_step(
    rc: RaceControl, api: Api
) -> None:
    body = {"schema_version": 2, "name": "Styled", "mode": "pre-race", "blocks": [BLOCK]}
    tpl = await api.ok("POST", "/api/templates", body, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        await page.click(".box[data-index='0']")
        history = [dumped(await doc(page))]
        want: dict[str, Any] = {}
        for name, value, says in STEPS:
            await set_control(page, name, value)
            want.update(says)
            assert (await doc(page))["blocks"][0]["style"] == want, name
            history.append(dumped(await doc(page)))
            assert (await state(page))["undo"] == len(history) - 1, name  # one command each
        frame = canvas_frame(page)
        await frame.wait_for_function(
            "getComputedStyle(document.querySelector('.rc-static .rc-text')).opacity === '0.6'"
        )
        on_canvas = await frame.evaluate(COMPUTED, ".rc-static .rc-block.rc-text")
        assert on_canvas == EXPECTED

        # undo walks back one control at a time, redo forward again
        for i in range(len(history) - 1, 0, -1):
            assert dumped(await doc(page)) == history[i]
            await page.keyboard.press("Control+z")
        assert dumped(await doc(page)) == history[0]
        assert (await frame.evaluate(COMPUTED, ".rc-static .rc-block.rc-text"))["opacity"] == "1"
        for i in range(1, len(history)):
            await page.keyboard.press("Control+Shift+z")
            assert dumped(await doc(page)) == history[i]

        await page.click("#save")
        await page.wait_for_function("!window.rcBuilder.state().dirty", timeout=10_000)
        saved = await api.ok("GET", f"/api/templates/{tpl['id']}")
        assert saved["blocks"][0]["style"] == want
        assert not page.errors, page.errors  # type: ignore[attr-defined]

        event = await api.ok("POST", "/api/events", {"name": "Style 5K", "date": "2026-06-01"}, 201)
        session = await api.ok(
            "POST",
            "/api/sessions",
            {"event_id": event["id"], "mode": "pre-race", "template_id": tpl["id"]},
            201,
        )
        screen = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await screen.goto(session["display_url"])
        for _ in range(200):  # no wait_for_function: it needs eval, which the page's CSP refuses
            if await screen.evaluate(
                "() => document.querySelectorAll('.rc-static .rc-text .rc-t').length === 1"
            ):
                break
            await screen.wait_for_timeout(50)
        on_screen = await screen.evaluate(COMPUTED, ".rc-static .rc-block.rc-text")
        assert on_screen == EXPECTED == on_canvas
