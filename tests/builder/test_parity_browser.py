"""Parity: what the builder's canvas draws is what a screen draws.

Every starter template (and one custom template with each overflow choice and the style panel's
border, radius, line height, letter case, shadow and opacity) is drawn twice in
headless Chromium with the builder's own sample finishers (window.RCB.SAMPLES: a 60-character
name, accents, right-to-left text, an unknown bib, a personal message, a bunch of 8):

- in the builder's canvas frame, choosing the sample in its menu;
- on a real screen page, /display/<token> of a session showing that template at 1280x720,
  fed the same runners over the real server: a roster of the sample's runners, a timing
  client sending a gun and then each runner's crossing at gun + the sample's time, so the
  server computes the same times and places (a lone runner finishes 9th, after the bunch).

Every block, every text inside it (the fitted span), every leaderboard row, the multi-up grid's
cards and their texts: the same text, and the same box scaled to design pixels within 2 px;
every block the same computed style (border, radius, line height, case, shadow, opacity).
Timers' digits are the one exception (a live clock: the builder's sample clock and the
session's gun differ), their boxes and labels are still compared.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page

from race_control.app import RaceControl
from tests.builder.helpers import canvas_frame, open_builder
from tests.conftest import Api
from tests.display.browser import chromium
from tests.templates.test_starters_browser import timing_stream

pytestmark = pytest.mark.browser

STARTERS = ["results-classic", "results-bold", "leaderboard-board", "pre-race-classic", "pre-race-sponsor"]
SINGLES = ["long", "accents", "rtl", "unknown", "message"]
TOLERANCE = 2.0  # design pixels
LIVE = "document.body.dataset.connection === 'live'"

# a custom results template with each overflow choice (shrink / ellipsis / wrap) on a screen
OVERFLOW = {
    "schema_version": 2,
    "name": "Parity overflow",
    "mode": "results",
    "canvas": {"width": 1920, "height": 1080},
    "blocks": [
        {
            "type": "name",
            "x": 40,
            "y": 40,
            "w": 900,
            "h": 160,
            "style": {
                "size": 140,
                "overflow": "shrink",
                "border": {"width": 8, "color": "#ff0000"},
                "radius": 30,
                "case": "upper",
            },
        },
        {
            "type": "name",
            "x": 40,
            "y": 220,
            "w": 900,
            "h": 160,
            "style": {"size": 140, "overflow": "ellipsis"},
        },
        {
            "type": "name",
            "x": 40,
            "y": 400,
            "w": 900,
            "h": 300,
            "style": {
                "size": 140,
                "overflow": "wrap",
                "line_height": 1.5,
                "shadow": {"x": 4, "y": 6, "blur": 10, "color": "rgba(0,0,0,0.6)"},
                "opacity": 0.8,
            },
        },
        {
            "type": "message",
            "x": 1000,
            "y": 40,
            "w": 860,
            "h": 300,
            "rotate": ["Welcome home!"],
            "style": {"size": 70, "overflow": "wrap"},
        },
        {
            "type": "city_state",
            "x": 1000,
            "y": 400,
            "w": 500,
            "h": 100,
            "style": {"size": 60, "overflow": "ellipsis"},
        },
        {
            "type": "time",
            "x": 1000,
            "y": 540,
            "w": 300,
            "h": 120,
            "style": {"size": 150, "overflow": "shrink"},
        },
        {
            "type": "text",
            "x": 40,
            "y": 760,
            "w": 1000,
            "h": 100,
            "style": {"size": 80, "overflow": "shrink"},
            "text": "Welcome to the {event_name}: thank you, volunteers and sponsors!",
        },
        {
            "type": "leaderboard",
            "x": 1400,
            "y": 700,
            "w": 480,
            "h": 360,
            "rows": 6,
            "source": "recent",
            "style": {"size": 30, "shadow": "soft", "weight": 300, "align": "right", "background": "#112233"},
        },
        # the finisher's team (none: empty_text), the last 5 finishers, the screen's QR code
        {
            "type": "team",
            "x": 40,
            "y": 880,
            "w": 600,
            "h": 80,
            "empty_text": "No team",
            "style": {"size": 50, "case": "title", "line_height": 2, "border": {"width": 3}},
        },
        {
            "type": "recent",
            "x": 660,
            "y": 870,
            "w": 720,
            "h": 200,
            "rows": 5,
            "title": "JUST IN",
            "style": {"size": 24},
        },
        {"type": "qr", "x": 1560, "y": 540, "w": 140, "h": 140},
    ],
}

# Every block, text, row and grid card of the stage, in design pixels, with its text.
GEOMETRY = """() => {
  const stage = document.getElementById('rc-stage');
  const s = stage.getBoundingClientRect(), k = s.width / stage.offsetWidth;
  const view = window.raceControl.state().view;
  const out = {};
  const box = e => { const r = e.getBoundingClientRect();
    return [(r.left - s.left) / k, (r.top - s.top) / k, r.width / k, r.height / k]; };
  const put = (key, e, timer) => { out[key] = {r: box(e), text: timer ? null : e.textContent}; };
  const layers = [['static', '.rc-static'], ['card', '.rc-card'], ['grid', '.rc-grid']];
  for (const [name, sel] of layers) {
    if (name === 'card' && view !== 'single') continue;
    if (name === 'grid' && view !== 'grid') continue;
    const layer = stage.querySelector(sel);
    Array.from(layer.children).forEach((b, i) => {
      const key = name + i + ' ' + b.className.replace(/ rc-enter| rc-row-new/g, '');
      const timer = b.classList.contains('rc-timer');
      put(key, b, true);
      const cs = getComputedStyle(b);
      out[key].css = [cs.borderTopWidth, cs.borderTopColor, cs.borderTopLeftRadius, cs.lineHeight,
        cs.textTransform, cs.boxShadow, cs.opacity, cs.fontWeight, cs.textAlign, cs.backgroundColor];
      b.querySelectorAll('.rc-t').forEach((t, j) => put(key + ' t' + j, t, timer && t.classList.contains('rc-digits')));
      b.querySelectorAll('.rc-row, .rc-board-title, .rc-timer-label, .rc-slide-title, .rc-slide-text')
        .forEach((r, j) => put(key + ' ' + r.className.split(' ')[0] + j, r, true));
    });
  }
  return out;
}"""


def compare(builder: dict[str, Any], screen: dict[str, Any], what: str) -> int:
    assert sorted(builder) == sorted(screen), (what, sorted(set(builder) ^ set(screen)))
    bad = []
    for key, b in builder.items():
        s = screen[key]
        if b["text"] != s["text"]:
            bad.append((key, "text", b["text"], s["text"]))
        if b.get("css") != s.get("css"):
            bad.append((key, "style", b.get("css"), s.get("css")))
        off = max(abs(x - y) for x, y in zip(b["r"], s["r"], strict=True))
        if off > TOLERANCE:
            bad.append((key, f"{off:.1f} px", [round(v, 1) for v in b["r"]], [round(v, 1) for v in s["r"]]))
    assert not bad, (what, bad)
    return len(builder)


def elapsed(text: str) -> dt.timedelta:
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return dt.timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2])


def read(seq: int, bib: str, clock: dt.datetime) -> bytes:
    return f"CT01_33~{seq}~finish~{bib}~{clock:%H:%M:%S}.00~0~0FA22E~1\r\n".encode()


WARM_UP = {"bib": "1", "first_name": "Warm", "last_name": "Up", "message": "First one in!"}


def roster(samples: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    fields = ("bib", "first_name", "last_name", "city", "state", "country", "division", "team", "message")
    runners = [f for kind in ["bunch", *SINGLES] for f in samples[kind] if f.get("known", True)]
    return [WARM_UP, *({k: f[k] for k in fields if k in f} for f in runners)]


async def builder_geometry(page: Page, sample: str, probe: str | None) -> dict[str, Any]:
    """The canvas frame's geometry once it draws `sample` (its first runner's name has `probe`)."""
    await page.select_option("#sample", sample)
    frame = canvas_frame(page)
    if probe is not None:
        layer = ".rc-grid" if sample == "bunch" else ".rc-card"
        await frame.wait_for_function(
            "([sel, probe]) => { const e = document.querySelector(sel);"
            " return !!e && e.textContent.includes(probe); }",
            arg=[layer + " .rc-t.rc-name", probe],
            polling=50,
        )
    await settled(frame)
    return await frame.evaluate(GEOMETRY)


async def settled(target: Any) -> None:
    """Every font the page asked for is in (a face for a script loads when that script first
    shows, and the page rebuilds when it arrives), and the rebuild has run."""
    await target.wait_for_function("document.fonts.status === 'loaded'", polling=50, timeout=10_000)
    await asyncio.sleep(0.15)


async def open_screen(browser: Browser, url: str) -> Page:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 720}, reduced_motion="reduce")
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(url)
    await page.wait_for_function(LIVE, timeout=30_000, polling=100)  # 5 screens start at once
    return page


def name_of(f: dict[str, Any]) -> str:
    if f.get("known", True) is False:
        return f"Bib {f['bib']}"
    return f"{f['first_name']} {f['last_name']}"


def probe_of(f: dict[str, Any]) -> str:
    """A part of the runner's name every name block shows (first, last or full)."""
    return f"Bib {f['bib']}" if f.get("known", True) is False else f["first_name"]


async def test_builder_canvas_and_a_real_screen_draw_every_template_alike(rc: RaceControl, api: Api) -> None:
    custom = await api.ok("POST", "/api/templates", OVERFLOW, 201)
    templates = [*STARTERS, custom["id"]]
    async with chromium() as browser:
        probe = await open_builder(browser, api)
        samples = await probe.evaluate("window.RCB.SAMPLES")
        sess = await probe.evaluate("window.RCB.SAMPLE_SESSION")
        await probe.close()
        assert len(name_of(samples["long"][0])) == 60 and len(samples["bunch"]) == 8
        event = await api.ok("POST", "/api/events", {"name": sess["event_name"], "date": "2026-06-01"}, 201)
        await api.ok("POST", f"/api/events/{event['id']}/participants", roster(samples))
        # the stream's clock zone (as tests/templates/test_starters_browser.py); every finish is past
        gun = dt.datetime.now(ZoneInfo("America/New_York")).replace(microsecond=0) - dt.timedelta(
            hours=3, minutes=30
        )
        compared = 0
        for tid in templates:
            builder = await open_builder(browser, api, tid)
            mode = (await builder.evaluate("window.rcBuilder.doc()"))["mode"]
            body = {"event_id": event["id"], "mode": mode, "template_id": tid, "name": sess["name"]}
            if mode == "pre-race":
                session = await api.ok("POST", "/api/sessions", body, 201)
                starts = dt.datetime.now().timestamp() + sess["starts_in_minutes"] * 60
                await api.ok("PATCH", f"/api/sessions/{session['id']}", {"starts_at": starts})
                screen = await open_screen(browser, session["display_url"])
                await screen.wait_for_function("document.querySelector('.rc-slide') !== null", timeout=10_000)
                await settled(screen)
                got = await screen.evaluate(GEOMETRY)  # first: its slides rotate (5 s and more)
                want = await builder_geometry(builder, "none", None)
                compared += compare(want, got, f"{tid}: pre-race")
                assert not screen.errors, screen.errors  # type: ignore[attr-defined]
                await screen.context.close()
                await builder.close()
                continue
            # one session per lone runner (each is the 9th, after the same bunch), fed concurrently
            feeds = []
            for kind in SINGLES:
                session = await api.ok("POST", "/api/sessions", body, 201)
                client, stream = await timing_stream(api, rc.timing_port, f"{tid}-{kind}")
                await client.send(f"CT01_33~1~finish~guntime~{gun:%H:%M:%S}.00~0~0FA22E~1\r\n".encode())
                await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream})
                feeds.append((kind, session, client))

            async def feed(
                kind: str, session: dict[str, Any], client: Any
            ) -> tuple[Page, dict[str, Any] | None]:
                # A first runner (4:10:00, the slowest: no place changes; a personal message: no
                # rotating message used) comes in the same write as the bunch: on an idle screen
                # the first read of a bunch shows alone, so the 8 wait behind it and are drawn
                # together — whatever the machine's load (sent apart, a slow machine let the
                # first card's time run out before the bunch came, and the bunch split).
                screen = await open_screen(browser, session["display_url"])
                bunch = b"".join(
                    read(3 + i, f["bib"], gun + elapsed(f["time"])) for i, f in enumerate(samples["bunch"])
                )
                await client.send(read(2, WARM_UP["bib"], gun + elapsed("4:10:00")) + bunch)
                await screen.wait_for_function(
                    "(() => { const s = window.raceControl.state(); return s.view === 'grid' && s.current.length === 8; })()",
                    timeout=20_000,
                    polling=100,
                )
                await settled(screen)
                grid = await screen.evaluate(GEOMETRY) if kind == SINGLES[0] else None
                f = samples[kind][0]
                await client.send(read(11, f["bib"], gun + elapsed(f["time"])))
                await screen.wait_for_function(
                    "(() => { const s = window.raceControl.state();"
                    " return s.view === 'single' && s.shown.length === 10 && s.queued === 0; })()",
                    timeout=20_000,
                    polling=100,
                )
                await settled(screen)
                return screen, grid

            results = await asyncio.gather(*(feed(*f) for f in feeds))
            grid = results[0][1]
            assert grid is not None
            want = await builder_geometry(builder, "bunch", probe_of(samples["bunch"][0]))
            compared += compare(want, grid, f"{tid}: bunch of 8")
            for (kind, _session, client), (screen, _) in zip(feeds, results, strict=True):
                want = await builder_geometry(builder, kind, probe_of(samples[kind][0]))
                await settled(screen)
                got = await screen.evaluate(GEOMETRY)
                compared += compare(want, got, f"{tid}: {kind}")
                if tid == custom["id"]:  # the styles are drawn, not only alike
                    styles = [v["css"] for v in got.values() if "css" in v]
                    assert ["8px", "rgb(255, 0, 0)", "30px"] in [c[:3] for c in styles], styles
                    assert ["rgba(0, 0, 0, 0.6) 4px 6px 10px 0px", "0.8"] in [c[5:7] for c in styles], styles
                assert not screen.errors, screen.errors  # type: ignore[attr-defined]
                await screen.context.close()
                await client.close()
            assert not builder.errors, builder.errors  # type: ignore[attr-defined]
            await builder.close()
        assert compared > 500, compared


# The burst and per-mode layouts (docs/templates.md#builder): a results template laying out
# pre-race too (blocks with `modes`), its burst as a list of 6 and as 5 cards in 3 columns.
LAYOUTS = {
    "schema_version": 2,
    "name": "Parity layouts",
    "mode": "results",
    "canvas": {"width": 1920, "height": 1080},
    "theme": {"background": "#101820", "accent": "#3ddc97"},
    "blocks": [
        {
            "type": "text",
            "x": 56,
            "y": 30,
            "w": 1300,
            "h": 100,
            "text": "{event_name}",
            "modes": ["results", "pre-race"],
            "style": {"size": 70, "weight": 800},
        },
        {"type": "name", "x": 56, "y": 300, "w": 1328, "h": 230, "style": {"size": 150}},
        {"type": "time", "x": 56, "y": 600, "w": 800, "h": 200, "style": {"size": 150}},
        {
            "type": "leaderboard",
            "x": 1416,
            "y": 150,
            "w": 448,
            "h": 874,
            "rows": 4,
            "source": "recent",
            "title": "LATEST",
            "style": {"size": 34},
        },
        {
            "type": "text",
            "x": 120,
            "y": 250,
            "w": 1680,
            "h": 80,
            "text": "STARTS IN",
            "modes": ["pre-race"],
            "style": {"size": 56, "align": "center"},
        },
        {
            "type": "countdown",
            "x": 120,
            "y": 330,
            "w": 1680,
            "h": 330,
            "target": "auto",
            "modes": ["pre-race"],
            "style": {"size": 300, "align": "center"},
        },
    ],
}
BURSTS = [
    {"x": 56, "y": 150, "w": 1328, "h": 874, "layout": "list", "max": 6, "dwell_s": 30},
    {"x": 56, "y": 150, "w": 1328, "h": 874, "columns": 3, "max": 5, "dwell_s": 30},
]


async def test_the_burst_and_the_pre_race_layout_draw_alike_in_the_builder_and_on_a_screen(
    rc: RaceControl, api: Api
) -> None:
    async with chromium() as browser:
        probe = await open_builder(browser, api)
        samples = await probe.evaluate("window.RCB.SAMPLES")
        sess = await probe.evaluate("window.RCB.SAMPLE_SESSION")
        await probe.close()
        event = await api.ok("POST", "/api/events", {"name": sess["event_name"], "date": "2026-06-01"}, 201)
        await api.ok("POST", f"/api/events/{event['id']}/participants", roster(samples))
        gun = dt.datetime.now(ZoneInfo("America/New_York")).replace(microsecond=0) - dt.timedelta(
            hours=3, minutes=30
        )
        compared = 0
        for n, grid in enumerate(BURSTS):
            tpl = await api.ok(
                "POST", "/api/templates", {**LAYOUTS, "name": f"Parity layouts {n}", "grid": grid}, 201
            )
            body = {
                "event_id": event["id"],
                "mode": "results",
                "template_id": tpl["id"],
                "name": sess["name"],
            }
            session = await api.ok("POST", "/api/sessions", body, 201)
            client, stream = await timing_stream(api, rc.timing_port, f"layouts-{n}")
            await client.send(f"CT01_33~1~finish~guntime~{gun:%H:%M:%S}.00~0~0FA22E~1\r\n".encode())
            await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream})
            screen = await open_screen(browser, session["display_url"])
            await client.send(read(2, WARM_UP["bib"], gun + elapsed("4:10:00")))
            await screen.wait_for_function("window.raceControl.state().shown.length === 1", timeout=20_000)
            bunch = b"".join(
                read(3 + i, f["bib"], gun + elapsed(f["time"])) for i, f in enumerate(samples["bunch"])
            )
            await client.send(bunch)
            # the screen shows the first `max` of the 8 together (the rest wait for the next page)
            await screen.wait_for_function(
                "max => { const s = window.raceControl.state(); return s.view === 'grid' && s.current.length === max; }",
                arg=grid["max"],
                timeout=20_000,
                polling=100,
            )
            await settled(screen)
            got = await screen.evaluate(GEOMETRY)
            cards = [k for k in got if k.startswith("grid") and " t" not in k]
            assert len(cards) == grid["max"], cards
            assert all(("rc-mini-row" in k) == (grid.get("layout") == "list") for k in cards), cards
            builder = await open_builder(browser, api, tpl["id"])
            want = await builder_geometry(builder, "bunch", probe_of(samples["bunch"][0]))
            compared += compare(want, got, f"burst {grid}")
            if n == 0:
                # grid.dwell_s (30 s) holds the page: the adaptive dwell (6 cards, 2 waiting: 2.5 s)
                # would have moved on to the 2 left by now
                await asyncio.sleep(4)
                s = await screen.evaluate("window.raceControl.state()")
                assert s["view"] == "grid" and len(s["current"]) == 6 and s["queued"] == 2, s
            assert not screen.errors, screen.errors  # type: ignore[attr-defined]
            await screen.context.close()
            await client.close()
            # the same template's pre-race layout: a pre-race session of it, and the builder switched
            body["mode"] = "pre-race"
            session = await api.ok("POST", "/api/sessions", body, 201)
            starts = dt.datetime.now().timestamp() + sess["starts_in_minutes"] * 60
            await api.ok("PATCH", f"/api/sessions/{session['id']}", {"starts_at": starts})
            screen = await open_screen(browser, session["display_url"])
            await screen.wait_for_function("document.querySelector('.rc-countdown') !== null", timeout=10_000)
            await settled(screen)
            got = await screen.evaluate(GEOMETRY)
            await builder.click("#edit-mode button[data-mode='pre-race']")
            await canvas_frame(builder).wait_for_function("document.body.dataset.mode === 'pre-race'")
            want = await builder_geometry(builder, "none", None)
            # the pre-race layout: the two texts and the countdown, no results block
            assert sorted(k for k in want if not k.endswith(" t0")) == [
                "static0 rc-block rc-text",
                "static1 rc-block rc-text",
                "static2 rc-block rc-countdown rc-timer",
            ], sorted(want)
            compared += compare(want, got, f"pre-race layout {n}")
            assert not screen.errors, screen.errors  # type: ignore[attr-defined]
            assert not builder.errors, builder.errors  # type: ignore[attr-defined]
            await screen.context.close()
            await builder.close()
        assert compared > 60, compared
