"""Every starter (built-in) template on a real screen page in Chromium, with realistic finishers:
a bunch of 8 (the grid), then one runner alone with a long, accented name.  No block leaves the
canvas and no text leaves its block (the page shrinks, wraps, then clamps with an ellipsis).

Set ``RC_UPDATE_SCREENSHOTS=1`` to write docs/screenshots/template-<id>.png (1920x1080).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page

from race_control.app import RaceControl
from race_control.templates.service import builtin, builtin_ids
from tests.conftest import Api
from tests.display.browser import chromium
from tests.helpers.ctp01_peer import RawCtp01Client

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STARTERS = ["results-classic", "results-bold", "leaderboard-board", "pre-race-classic", "pre-race-sponsor"]
LIVE = "document.body.dataset.connection === 'live'"

BUNCH = [
    ("311", "Zoë", "Papadopoulou-Konstantinidou", "Thessaloníki", "", "GR", "F30-39"),
    ("312", "José Luis", "Hernández de la Fuente", "Guadalajara", "", "MX", "M40-49"),
    ("313", "Siobhán", "Ní Mhaoldomhnaigh", "Dún Laoghaire", "", "IE", "F20-29"),
    ("314", "Bjørn", "Østergaard", "Århus", "", "DK", "M50-59"),
    ("315", "Nguyễn", "Thị Minh Khai", "Westminster", "CA", "US", "F40-49"),
    ("316", "François-Xavier", "Lefèvre-Beaumont", "Saint-Étienne", "", "FR", "M30-39"),
    ("317", "Małgorzata", "Wiśniewska", "Kraków", "", "PL", "F50-59"),
    ("318", "Ólafur", "Guðmundsson", "Reykjavík", "", "IS", "M20-29"),
]
ALONE = (
    "320",
    "Maximiliana-Evangelina",
    "Wolfeschlegelsteinhausenbergerdorff",
    "Llanfairpwllgwyngyll",
    "",
    "GB",
    "F60-69",
)


def roster() -> list[dict[str, Any]]:
    return [
        {"bib": b, "first_name": f, "last_name": la, "city": c, "state": s, "country": co, "division": d}
        for b, f, la, c, s, co, d in [*BUNCH, ALONE]
    ]


def read(seq: int, bib: str, clock: dt.datetime) -> bytes:
    return f"CT01_33~{seq}~finish~{bib}~{clock:%H:%M:%S}.00~0~0FA22E~1\r\n".encode()


# Every block inside the canvas; every data text inside its block: it fits, or the page's own
# ellipsis / line clamp cuts it (text-overflow on a clipped box).  Names which block broke.
CHECK = """() => {
  const stage = document.getElementById('rc-stage');
  const s = stage.getBoundingClientRect();
  const k = s.width / stage.offsetWidth;
  const bad = [];
  const visible = e => { for (let n = e; n && n !== stage; n = n.parentElement) {
    const cs = getComputedStyle(n); if (cs.visibility === 'hidden' || cs.display === 'none') return false; }
    return true; };
  const where = e => e.className + ' ' + JSON.stringify((e.textContent || '').slice(0, 40));
  for (const b of stage.querySelectorAll('.rc-block, .rc-mini')) {
    if (!visible(b)) continue;
    const r = b.getBoundingClientRect();
    if (r.left < s.left - 1 || r.top < s.top - 1 || r.right > s.right + 1 || r.bottom > s.bottom + 1)
      bad.push('block off the canvas: ' + where(b));
  }
  let texts = 0;
  for (const t of stage.querySelectorAll('.rc-t')) {
    if (!visible(t) || !t.textContent) continue;
    texts++;
    const box = t.parentElement.getBoundingClientRect(), r = t.getBoundingClientRect();
    const clipped = getComputedStyle(t.parentElement).overflow === 'hidden';
    const inside = r.left >= box.left - 1 && r.right <= box.right + 1;
    const fits = t.scrollWidth <= t.clientWidth + 1 || getComputedStyle(t).textOverflow === 'ellipsis' ||
                 t.classList.contains('rc-clamp');
    const tall = r.bottom > box.bottom + 2 * k && !clipped;
    if (!inside || !fits || tall)
      bad.push('text overflows its block: ' + where(t) + ' ' + JSON.stringify({inside, fits, clipped, tall,
               box: [box.left, box.right, box.bottom], r: [r.left, r.right, r.bottom]}));
  }
  // a clock or countdown is drawn large in a box with room for it (the fit once shrank every
  // timer to its minimum, whatever the room: its text is as wide as its box)
  for (const t of stage.querySelectorAll('.rc-timer .rc-t')) {
    if (!visible(t) || !t.textContent) continue;
    const box = t.parentElement.getBoundingClientRect();
    const glyphs = parseFloat(getComputedStyle(t).fontSize) * k;
    if (glyphs < 0.35 * box.height)
      bad.push('timer drawn small in its box: ' + where(t) + ' ' + JSON.stringify({glyphs, box: [box.width, box.height]}));
  }
  return {bad, texts};
}"""


async def timing_stream(api: Api, port: int, name: str) -> tuple[RawCtp01Client, str]:
    """A timing client of its own (a new stream: no other template's finishers)."""
    before = {s["id"] for s in await api.ok("GET", "/api/timing/sessions")}
    client = await RawCtp01Client.connect(port)
    await client.handshake(name)
    for _ in range(200):
        new = [s["id"] for s in await api.ok("GET", "/api/timing/sessions") if s["id"] not in before]
        if new:
            return client, new[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no timing stream")


async def open_screen(browser: Any, url: str) -> Page:
    ctx = await browser.new_context(viewport={"width": 1920, "height": 1080}, reduced_motion="reduce")
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(url)
    await page.wait_for_function(LIVE, timeout=10_000)
    return page


async def check(page: Page, what: str) -> None:
    got = await page.evaluate(CHECK)
    assert got["texts"] > 0, what
    assert not got["bad"], (what, got["bad"])
    assert not page.errors, (what, page.errors)  # type: ignore[attr-defined]


def test_the_starters_are_built_ins() -> None:
    ids = builtin_ids()
    for tid in STARTERS:
        assert tid in ids and builtin(tid) is not None, tid


async def test_starter_templates_fit_on_a_real_screen(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    event = await api.ok(
        "POST", "/api/events", {"name": "Föhrenwald Frühlingslauf 10K", "date": "2026-06-01"}, 201
    )
    await api.ok("POST", f"/api/events/{event['id']}/participants", roster())
    gun = dt.datetime.now(ZoneInfo("America/New_York")).replace(microsecond=0)  # the stream's zone
    gun = gun - dt.timedelta(minutes=41, seconds=7)
    taken: list[Path] = []
    async with chromium() as browser:
        for tid in STARTERS:
            mode = builtin(tid)["mode"]  # type: ignore[index]
            body: dict[str, Any] = {"event_id": event["id"], "mode": mode, "template_id": tid, "name": tid}
            session = await api.ok("POST", "/api/sessions", body, 201)
            if mode == "pre-race":
                await api.ok(
                    "PATCH", f"/api/sessions/{session['id']}", {"starts_at": time.time() + 23 * 60 + 42}
                )
                page = await open_screen(browser, session["display_url"])
                await page.wait_for_function("document.querySelector('.rc-slide') !== null", timeout=10_000)
            else:
                if tid == "leaderboard-board":
                    await api.ok("PATCH", f"/api/sessions/{session['id']}", {"leaderboard_top": 8})
                client, stream = await timing_stream(api, rc.timing_port, tid)
                await client.send(f"CT01_33~1~finish~guntime~{gun:%H:%M:%S}.00~0~0FA22E~1\r\n".encode())
                seq = 1
                await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream})
                page = await open_screen(browser, session["display_url"])
                at = gun + dt.timedelta(minutes=38, seconds=12)
                await client.send(
                    b"".join(
                        read(seq + 1 + i, b[0], at + dt.timedelta(seconds=i)) for i, b in enumerate(BUNCH)
                    )
                )
                seq += len(BUNCH)
                await page.wait_for_function(
                    "(() => { const s = window.raceControl.state();"
                    " return s.view === 'grid' && s.current.length >= 7; })()",
                    timeout=15_000,
                )
                await check(page, f"{tid}: a bunch of 8")
                await page.wait_for_function("window.raceControl.state().shown.length >= 8", timeout=20_000)
                seq += 1
                await client.send(read(seq, ALONE[0], at + dt.timedelta(seconds=44)))
                await page.wait_for_function(
                    "(() => { const s = window.raceControl.state();"
                    " return s.view === 'single' && s.shown.length >= 9 && s.queued === 0; })()",
                    timeout=20_000,
                )
                if tid == "leaderboard-board":
                    await page.wait_for_function(
                        "document.querySelectorAll('.rc-row-lead').length >= 9", timeout=10_000
                    )
            await asyncio.sleep(0.3)
            await check(page, f"{tid}: one runner")
            path = tmp_path / f"template-{tid}.png"
            await page.screenshot(path=str(path))
            assert path.stat().st_size > 10_000, tid
            taken.append(path)
            await page.context.close()
            if mode == "results":
                await client.close()
    if os.environ.get("RC_UPDATE_SCREENSHOTS"):
        for path in taken:
            shutil.copy(path, SCREENSHOTS / path.name)
