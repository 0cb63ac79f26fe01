"""Images picked in the builder go to the server's content store: checked, shrunk to the box
they fill and re-encoded by Pillow, stored once by hash; the block (or the background) then
shows /display/images/<sha256>.<ext>.  A file that is not an image, or too many pixels, is
refused with the reason shown in the builder and the template unchanged.  Real Chromium, real
files made by Pillow, the picker and a drop."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Page

from race_control.app import RaceControl
from tests.builder.helpers import canvas_frame, doc, open_builder, state
from tests.conftest import Api
from tests.display.browser import chromium

pytestmark = pytest.mark.browser

TEMPLATE = {
    "schema_version": 2,
    "name": "Images",
    "mode": "results",
    "canvas": {"width": 1920, "height": 1080},
    "blocks": [
        {
            "type": "image",
            "x": 1500,
            "y": 20,
            "w": 400,
            "h": 200,
            "src": "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode(),
        },
    ],
}


def png(w: int, h: int, path: Path) -> Path:
    img = Image.new("RGB", (w, h), (200, 30, 60))
    for x in range(0, w, 50):
        img.putpixel((x, h // 2), (255, 255, 255))
    img.save(path, format="PNG")
    return path


async def fetch(api: Api, path: str) -> tuple[int, bytes]:
    async with api.http.get(api.base + path) as r:
        return r.status, await r.read()


async def finished(page: Page) -> None:
    await page.wait_for_function("window.rcBuilder.state().uploads === 0", polling=50)


async def drop(page: Page, selector: str, name: str, data: bytes, mime: str) -> None:
    """A real drop event carrying a file (DataTransfer built in the page)."""
    await page.evaluate(
        """([sel, name, b64, mime]) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name, {type: mime}));
          const zone = document.querySelector(sel);
          zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
          zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        [selector, name, base64.b64encode(data).decode(), mime],
    )


async def test_an_image_block_and_the_background_upload_into_the_content_store(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    tpl = await api.ok("POST", "/api/templates", TEMPLATE, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        frame = canvas_frame(page)
        start = json.dumps(await doc(page), sort_keys=True)
        await page.locator(".box[data-index='0']").click()
        # a real PNG, 1600x800: stored at the block's 400x200
        await page.set_input_files(
            "#panel input[name='image-file']", str(png(1600, 800, tmp_path / "logo.png"))
        )
        await finished(page)
        src = (await doc(page))["blocks"][0]["src"]
        assert src.startswith("/display/images/") and src.endswith(".png"), src
        assert "Image stored: 400\u00d7200" in await page.text_content("#status")
        status, body = await fetch(api, src)
        assert status == 200 and hashlib.sha256(body).hexdigest() == src.split("/")[-1].split(".")[0]
        assert Image.open(io.BytesIO(body)).size == (400, 200)
        await frame.wait_for_function(
            "src => { const i = document.querySelector('.rc-image img'); return !!i && i.complete"
            " && i.naturalWidth === 400 && i.getAttribute('src') === src; }",
            arg=src,
        )
        after_block = json.dumps(await doc(page), sort_keys=True)
        assert (await state(page))["undo"] == 1  # one command
        # the same file again: the same hash, stored once
        await page.set_input_files("#panel input[name='image-file']", str(tmp_path / "logo.png"))
        await finished(page)
        assert (await doc(page))["blocks"][0]["src"] == src
        # a "PNG" that is an HTML file: refused, the reason in the builder, the template unchanged
        fake = tmp_path / "evil.png"
        fake.write_bytes(b"<!doctype html><html><body><script>alert(1)</script></body></html>")
        before = json.dumps(await doc(page), sort_keys=True)
        await page.set_input_files("#panel input[name='image-file']", str(fake))
        await finished(page)
        msg = await page.text_content("#status")
        assert "Image refused" in msg and "not a readable image" in msg, msg
        assert await page.get_attribute("#status", "class") == "status error"
        assert json.dumps(await doc(page), sort_keys=True) == before
        # too many pixels (8000x6000 > 40,000,000): refused with the numbers
        big = png(8000, 6000, tmp_path / "huge.png")
        await page.set_input_files("#panel input[name='image-file']", str(big))
        await finished(page)
        msg = await page.text_content("#status")
        assert "Image refused" in msg and "8000x6000 pixels" in msg, msg
        assert json.dumps(await doc(page), sort_keys=True) == before
        # the background, dropped on the template panel's zone: shrunk to the canvas (1920x1080)
        await page.keyboard.press("Escape")
        buf = io.BytesIO()
        Image.new("RGB", (3840, 2160), (10, 80, 40)).save(buf, format="PNG")
        await drop(page, ".drop[data-name='theme-image']", "bg.png", buf.getvalue(), "image/png")
        await finished(page)
        bg = (await doc(page))["theme"]["background_image"]
        assert bg.startswith("/display/images/") and bg != src
        _, body = await fetch(api, bg)
        assert Image.open(io.BytesIO(body)).size == (1920, 1080)
        await frame.wait_for_function(
            "bg => document.getElementById('rc-stage').style.backgroundImage.includes(bg)", arg=bg
        )
        after_bg = json.dumps(await doc(page), sort_keys=True)
        # undo / redo: each upload one command
        await page.keyboard.press("Control+z")
        assert json.dumps(await doc(page), sort_keys=True) == after_block
        await page.keyboard.press("Control+z")
        assert json.dumps(await doc(page), sort_keys=True) == start
        await page.keyboard.press("Control+Shift+z")
        await page.keyboard.press("Control+Shift+z")
        assert json.dumps(await doc(page), sort_keys=True) == after_bg
        # saved as the server stores it: the stored images, no inline data
        await page.click("#save")
        await page.wait_for_function("!window.rcBuilder.state().dirty")
        saved = await api.ok("GET", f"/api/templates/{tpl['id']}")
        assert saved["blocks"][0]["src"] == src and saved["theme"]["background_image"] == bg
        assert not page.errors, page.errors  # type: ignore[attr-defined]


async def test_the_upload_route_is_guarded_and_limits_size(rc: RaceControl, api: Api) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, format="PNG")
    # no builder cookie: 401, nothing stored
    async with api.http.post(
        api.base + "/builder/api/images?w=10&h=10",
        data=buf.getvalue(),
        headers={"X-Race-Control-Builder": "1", **api.headers},
    ) as r:
        assert r.status == 401 and "signed out" in (await r.json())["error"]
    async with chromium() as browser:
        page = await open_builder(browser, api)
        call = """async ([q, size, header]) => {
          const r = await fetch('/builder/api/images' + q, {method: 'POST', body: new Uint8Array(size),
            headers: header ? {'X-Race-Control-Builder': '1'} : {}});
          return [r.status, await r.json()]; }"""
        status, answer = await page.evaluate(call, ["?w=10&h=10", 10, False])
        assert status == 403 and "X-Race-Control-Builder" in answer["error"], answer
        status, answer = await page.evaluate(call, ["?w=0&h=10", 10, True])
        assert status == 400 and answer["error"].startswith("query w"), answer
        status, answer = await page.evaluate(call, ["?w=10&h=10", 10_000_001, True])
        assert status == 413 and "10,000,000 bytes" in answer["error"], answer
        status, answer = await page.evaluate(call, ["?w=10&h=10", 0, True])
        assert status == 400 and "empty" in answer["error"], answer
