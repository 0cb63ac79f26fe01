"""The team, recent-finishers and QR code blocks, placed from the builder's palette: each shows
on the builder's canvas (the builder's sample finishers; the sample QR of its preview URL) and,
saved, on a real screen page under its strict CSP, fed finishers over the real server: the team
of the runner on the card, the recent list growing newest first as each finisher arrives, and
the screen's own QR code image loaded from this server."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page

from race_control.app import RaceControl
from tests.builder.helpers import canvas_frame, doc, open_builder
from tests.conftest import Api
from tests.display.browser import chromium
from tests.templates.test_new_blocks import expected, modules
from tests.templates.test_starters_browser import timing_stream

pytestmark = pytest.mark.browser

START = {
    "schema_version": 2,
    "name": "Palette blocks",
    "mode": "results",
    "canvas": {"width": 1920, "height": 1080},
    "blocks": [{"type": "name", "x": 40, "y": 40, "w": 1000, "h": 160, "style": {"size": 120}}],
}
RUNNERS = [
    {"bib": "21", "first_name": "Ada", "last_name": "Quick", "team": "Harbour Harriers"},
    {"bib": "22", "first_name": "Ben", "last_name": "Steady"},
    {"bib": "23", "first_name": "Cleo", "last_name": "Swift", "team": "Hill Runners"},
]
ORDINAL = {1: "1st", 2: "2nd", 3: "3rd"}
# what the page shows: blocks' texts, the recent rows, the QR image (src, loaded width)
LOOK = """() => {
  const text = sel => { const e = document.querySelector(sel); return e ? e.textContent : null; };
  const img = document.querySelector('.rc-qr img');
  return {
    team: text('.rc-block.rc-team'),
    recent: Array.from(document.querySelectorAll('.rc-recent .rc-recent-row')).map(r => r.textContent),
    qr: img ? [img.getAttribute('src'), img.naturalWidth, img.complete] : null,
    shown: window.raceControl.state().shown.length
  };
}"""


async def until(target: Any, ok: Any, what: str, timeout: float = 15.0) -> dict[str, Any]:
    """Poll LOOK (page.evaluate works under the page's CSP, wait_for_function's eval would not)."""
    got: dict[str, Any] = {}
    for _ in range(int(timeout / 0.05)):
        got = await target.evaluate(LOOK)
        if ok(got):
            return got
        await asyncio.sleep(0.05)
    raise AssertionError((what, got))


def read(seq: int, bib: str, clock: dt.datetime) -> bytes:
    return f"CT01_33~{seq}~finish~{bib}~{clock:%H:%M:%S}.00~0~0FA22E~1\r\n".encode()


async def place_from_palette(page: Page) -> None:
    for kind in ("team", "recent", "qr"):
        await page.click(f"#palette button[data-type='{kind}']")
    assert [b["type"] for b in (await doc(page))["blocks"]] == ["name", "team", "recent", "qr"]


async def test_palette_blocks_show_on_the_canvas_and_on_a_real_screen(rc: RaceControl, api: Api) -> None:
    tpl = await api.ok("POST", "/api/templates", START, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        await place_from_palette(page)
        frame = canvas_frame(page)
        samples = await page.evaluate("window.RCB.SAMPLES")
        long, bunch = samples["long"][0], samples["bunch"]
        got = await until(frame, lambda g: g["qr"] and g["qr"][1] > 0 and len(g["recent"]) == 5, "canvas")
        assert got["team"] == long["team"]
        # the lone sample runner, then the bunch behind them newest first (rows: 5 by default)
        assert (
            got["recent"][0]
            == f"9th  #{long['bib']}  {long['first_name']} {long['last_name']}  {long['time']}"
        )
        assert [r.split("  ")[1] for r in got["recent"][1:]] == [f"#{f['bib']}" for f in bunch[::-1][:4]]
        assert got["qr"][0] == "/builder/qr.svg"
        # the sample QR encodes the builder's preview URL (regenerated with qrcode, module by module)
        svg = await frame.evaluate("fetch('/builder/qr.svg').then(r => r.text())")
        assert modules(svg) == expected(f"{api.base}/builder/canvas")[1]
        await page.select_option("#sample", "unknown")  # a runner without a team: the empty text
        await frame.wait_for_function("document.querySelector('.rc-block.rc-team').textContent === ''")
        await page.click("#save")
        await page.wait_for_function("!window.rcBuilder.state().dirty", timeout=10_000)
        assert not page.errors, page.errors  # type: ignore[attr-defined]
        saved = await api.ok("GET", f"/api/templates/{tpl['id']}")
        assert [b["type"] for b in saved["blocks"]] == ["name", "team", "recent", "qr"]

        event = await api.ok("POST", "/api/events", {"name": "Palette 5K", "date": "2026-06-01"}, 201)
        await api.ok("POST", f"/api/events/{event['id']}/participants", RUNNERS)
        body = {"event_id": event["id"], "mode": "results", "template_id": tpl["id"]}
        session = await api.ok("POST", "/api/sessions", body, 201)
        client, stream = await timing_stream(api, rc.timing_port, "palette")
        gun = dt.datetime.now(ZoneInfo("America/New_York")).replace(microsecond=0) - dt.timedelta(minutes=30)
        await client.send(f"CT01_33~1~finish~guntime~{gun:%H:%M:%S}.00~0~0FA22E~1\r\n".encode())
        await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream})

        context = await browser.new_context(bypass_csp=False, viewport={"width": 1280, "height": 720})
        screen = await context.new_page()
        violations: list[str] = []
        screen.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        await screen.goto(session["display_url"])
        token = session["display_url"].rsplit("/", 1)[1]
        got = await until(screen, lambda g: g["qr"] and g["qr"][1] > 0, "screen qr")
        assert got["qr"][0] == f"/display/{token}/qr.svg" and got["recent"] == []
        for n, runner in enumerate(RUNNERS, start=1):
            await client.send(read(n + 1, runner["bib"], gun + dt.timedelta(minutes=20, seconds=n)))
            got = await until(
                screen, lambda g, n=n: g["shown"] == n and len(g["recent"]) == n, f"finisher {n}"
            )
            name = f"{runner['first_name']} {runner['last_name']}"
            assert got["team"] == runner.get("team", ""), got
            assert got["recent"][0] == f"{ORDINAL[n]}  #{runner['bib']}  {name}  20:0{n}", got  # newest first
            assert [r.split("  ")[1] for r in got["recent"]] == [f"#{r['bib']}" for r in RUNNERS[:n][::-1]]
        assert not violations, violations
        await client.close()
        await context.close()


# the builder's canvas sizes (docs/templates.md#builder): TV, phone upright, LED walls and boards
SIZES = ["1920x1080", "1080x1920", "1280x720", "960x540", "768x384", "768x256", "512x256"]


async def test_each_canvas_size_is_offered_stored_and_scaled_to_the_screen(api: Api) -> None:
    tpl = await api.ok("POST", "/api/templates", START, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        offered = await page.eval_on_selector_all("#canvas-size option", "os => os.map(o => o.value)")
        assert offered == SIZES
        for size in SIZES[1:] + SIZES[:1]:
            w, h = (int(v) for v in size.split("x"))
            await page.select_option("#canvas-size", size)
            d = await doc(page)
            assert d["canvas"] == {"width": w, "height": h}, size
            assert all(b["x"] + b["w"] <= w and b["y"] + b["h"] <= h for b in d["blocks"]), (
                size,
                d["blocks"],
            )
        await page.select_option("#canvas-size", "512x256")
        await page.click("#save")
        await page.wait_for_function("!window.rcBuilder.state().dirty", timeout=10_000)
        assert (await api.ok("GET", f"/api/templates/{tpl['id']}"))["canvas"] == {"width": 512, "height": 256}
        event = await api.ok("POST", "/api/events", {"name": "Board 5K", "date": "2026-06-01"}, 201)
        body = {"event_id": event["id"], "mode": "results", "template_id": tpl["id"]}
        session = await api.ok("POST", "/api/sessions", body, 201)
        screen = await browser.new_page(viewport={"width": 1280, "height": 720})
        await screen.goto(session["display_url"])
        await screen.wait_for_function("document.body.dataset.connection === 'live'", timeout=10_000)
        # the 512x256 design scaled 2.5x to the 1280-wide screen, letterboxed top and bottom
        r = await screen.evaluate(
            "(() => { const r = document.getElementById('rc-stage').getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })()"
        )
        assert [round(v) for v in r] == [0, 40, 1280, 640], r
        assert not page.errors, page.errors  # type: ignore[attr-defined]


async def test_the_panel_edits_the_new_blocks_options(api: Api) -> None:
    tpl = await api.ok("POST", "/api/templates", START, 201)
    async with chromium() as browser:
        page = await open_builder(browser, api, tpl["id"])
        frame = canvas_frame(page)
        await page.click("#palette button[data-type='recent']")  # added and selected
        rows = page.locator("#panel input[name='rows']")
        await rows.fill("25")
        await rows.press("Enter")
        assert (await doc(page))["blocks"][1]["rows"] == 20  # kept within 1-20
        await rows.fill("3")
        await rows.press("Enter")
        got = await until(frame, lambda g: len(g["recent"]) == 3, "3 rows")
        assert got["recent"][0].startswith("9th  #1042")
        await page.click("#palette button[data-type='team']")
        empty = page.locator("#panel input[name='empty_text']")
        await empty.fill("Unattached")
        await empty.press("Enter")
        await page.select_option("#sample", "unknown")
        await frame.wait_for_function(
            "document.querySelector('.rc-block.rc-team').textContent === 'Unattached'"
        )
        assert not page.errors, page.errors  # type: ignore[attr-defined]
