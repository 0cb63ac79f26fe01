"""The team, recent and qr blocks and the canvas sizes the builder offers (docs/templates.md):
the schema takes them (a bad option is a 400 naming its JSON path, nothing stored), they survive
an export/import round trip, a team block is what lets a screen get a finisher's team, and the
QR code a screen shows is served by this server: an SVG of the screen's own URL (regenerated
here with the ``qrcode`` package and compared module by module); an unknown token is a 404."""

from __future__ import annotations

import re
from typing import Any

import pytest
import qrcode

from race_control.app import RaceControl
from race_control.templates.service import template_fields, validate_template
from tests.conftest import Api

NOT_STORED = ("id", "version")
# the builder's canvas sizes (builder.html #canvas-size)
SIZES = [(1920, 1080), (1080, 1920), (1280, 720), (960, 540), (768, 384), (768, 256), (512, 256)]


def body(width: int = 1920, height: int = 1080, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "name": "New blocks",
        "mode": "results",
        "canvas": {"width": width, "height": height},
        "blocks": [
            {"type": "team", "x": 10, "y": 10, "w": 300, "h": 60, "empty_text": "No team"},
            {"type": "recent", "x": 10, "y": 80, "w": 300, "h": 160, "rows": 20, "title": "JUST IN"},
            {"type": "qr", "x": 320, "y": 10, "w": 120, "h": 120, "alt": "Scan me"},
        ],
        **extra,
    }


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_new_blocks_and_every_canvas_size_are_valid(width: int, height: int) -> None:
    t = body(width, height)
    assert validate_template(t)["canvas"] == {"width": width, "height": height}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda t: t["blocks"][1].update(rows=21), r"\$\.blocks\[1\]\.rows"),
        (lambda t: t["blocks"][1].update(rows=0), r"\$\.blocks\[1\]\.rows"),
        (lambda t: t["blocks"][1].update(rows=2.5), r"\$\.blocks\[1\]\.rows"),
        (lambda t: t["blocks"][0].update(type="teams"), r"blocks\[0\]"),
        (lambda t: t["canvas"].update(width=0), r"canvas\.width"),
        (lambda t: t["canvas"].update(height=20000), r"canvas\.height"),
    ],
)
async def test_a_bad_option_is_a_400_naming_its_path_and_nothing_is_stored(
    api: Api, change: Any, path: str
) -> None:
    before = await api.ok("GET", "/api/templates")
    t = body()
    change(t)
    status, data = await api.call("POST", "/api/templates", t)
    assert status == 400, (status, data)
    assert re.search(path, data["error"]), data
    assert await api.ok("GET", "/api/templates") == before


async def test_the_new_blocks_survive_export_and_import(api: Api) -> None:
    first = await api.ok("POST", "/api/templates", body(512, 256), 201)
    assert [b["type"] for b in first["blocks"]] == ["team", "recent", "qr"]
    exported = await api.ok("GET", f"/api/templates/{first['id']}/export")
    again = await api.ok("POST", "/api/templates/import", exported, 201)
    assert again["id"] != first["id"]
    assert {k: v for k, v in again.items() if k not in NOT_STORED} == {
        k: v for k, v in first.items() if k not in NOT_STORED
    }
    assert again["canvas"] == {"width": 512, "height": 256}


def test_only_a_team_block_gives_screens_the_team() -> None:
    assert "team" in template_fields(body())
    without = body()
    without["blocks"] = without["blocks"][1:]
    assert "team" not in template_fields(without)
    # the recent list shows place, bib, name and time
    assert {"place", "bib", "name", "time"} <= template_fields(without)


def modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules of one of our QR SVGs: its path's unit squares (column, row)."""
    m = re.search(r'<path d="([^"]*)"', svg)
    assert m is not None, svg[:200]
    return {(int(c), int(r)) for c, r in re.findall(r"M(\d+) (\d+)h1v1h-1z", m.group(1))}


def expected(text: str) -> tuple[int, set[tuple[int, int]]]:
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    rows = code.get_matrix()
    return len(rows), {(c, r) for r, row in enumerate(rows) for c, dark in enumerate(row) if dark}


async def test_a_screen_gets_a_qr_code_of_its_own_url_from_this_server(rc: RaceControl, api: Api) -> None:
    event = await api.ok("POST", "/api/events", {"name": "QR 10K", "date": "2026-06-01"}, 201)
    session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
    token = session["display_url"].rsplit("/", 1)[1]
    async with api.http.get(f"{api.base}/display/{token}/qr.svg") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age" in r.headers["Cache-Control"]
        svg = await r.text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "<script" not in svg
    size, dark = expected(f"{api.base}/display/{token}")
    assert f'viewBox="0 0 {size} {size}"' in svg
    assert modules(svg) == dark
    # another URL would give other modules: the compare can tell
    assert expected(f"{api.base}/display/{token}x")[1] != dark

    async with api.http.get(f"{api.base}/display/not-a-token/qr.svg") as r:
        assert r.status == 404
        assert r.headers["Content-Type"].startswith("text/html")
    status, _ = await api.call("DELETE", f"/api/sessions/{session['id']}")
    assert status in (200, 204), status
    async with api.http.get(f"{api.base}/display/{token}/qr.svg") as r:
        assert r.status == 410


async def test_the_builder_sample_qr_needs_the_builder_cookie(api: Api) -> None:
    async with api.http.get(f"{api.base}/builder/qr.svg") as r:
        assert r.status == 401
