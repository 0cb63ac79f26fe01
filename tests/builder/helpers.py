"""Opening the template builder in Chromium the way a timer does: a one-time code from the API."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

from tests.conftest import Api


async def open_builder(
    browser: Browser | BrowserContext, api: Api, template_id: str = "", **page_kw: Any
) -> Page:
    """A builder page (a new page of the browser, 1920x1080, or of a context: its viewport)."""
    body = {"template_id": template_id} if template_id else {}
    code = await api.ok("POST", "/api/builder/codes", body, 201)
    if isinstance(browser, BrowserContext):
        page = await browser.new_page()
    else:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080}, **page_kw)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(api.base + code["path"])
    await page.wait_for_function("window.rcBuilder && window.rcBuilder.state().frameReady", timeout=10_000)
    # the canvas frame has drawn the template through the display page's build()
    await page.wait_for_function(
        "document.getElementById('canvas-frame').contentWindow.RC.view !== null", timeout=10_000
    )
    return page


def canvas_frame(page: Page) -> Any:
    frame = page.frame(url=lambda u: u.endswith("/builder/canvas"))
    assert frame is not None
    return frame


async def doc(page: Page) -> dict[str, Any]:
    return await page.evaluate("window.rcBuilder.doc()")


async def state(page: Page) -> dict[str, Any]:
    return await page.evaluate("window.rcBuilder.state()")


async def box_center(page: Page, index: int) -> tuple[float, float]:
    box = await page.locator(f".box[data-index='{index}']").bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
