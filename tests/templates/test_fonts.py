"""The bundled fonts (docs/templates.md#fonts): the registry, the files and their licences, the
routes screens load them from (types and cache headers), and the model's rule — a template may
name only a bundled font: a save or an import naming another is a 400 naming the field by its
path; a template stored or synced before the rule loads with the default font instead."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from race_control.paths import resources_dir
from race_control.templates import fonts
from race_control.templates.schema import schema
from tests.conftest import Api, make_settings
from tests.helpers.live_app import running

FONT_DIR = resources_dir() / "fonts"
CSS_URL = re.compile(r"url\((/display/fonts/([a-z0-9-]+\.woff2)\?v=([0-9a-f]{16}))\)")


def custom(**theme_or_style: Any) -> dict[str, Any]:
    return {
        "name": "Fonts",
        "mode": "results",
        "theme": theme_or_style.get("theme", {}),
        "blocks": [
            {
                "type": "text",
                "x": 10,
                "y": 10,
                "w": 600,
                "h": 100,
                "text": "Zoë",
                "style": theme_or_style.get("style", {}),
            }
        ],
    }


def test_every_bundled_file_is_in_the_registry_with_its_licence() -> None:
    on_disk = sorted(p.name for p in FONT_DIR.glob("*.woff2"))
    assert on_disk == sorted(fonts.files())
    for name in on_disk:
        assert (FONT_DIR / name).read_bytes()[:4] == b"wOF2", name
    for font in fonts.FONTS.values():
        licence = (FONT_DIR / font.licence).read_text("utf-8")
        assert "SIL Open Font License" in licence and font.family.split()[0] in licence, font.key
    assert [k for k, f in fonts.FONTS.items() if f.choosable] == [
        "inter",
        "barlow-condensed",
        "oswald",
        "roboto-mono",
    ]
    # right-to-left names: the Arabic and Hebrew faces are in every stack, after the chosen family
    for name in fonts.names():
        assert "'Noto Sans Arabic', 'Noto Sans Hebrew'" in fonts.stack(name), name


def test_the_schema_and_the_display_page_name_the_same_fonts_as_the_registry() -> None:
    s = schema()
    assert s["properties"]["theme"]["properties"]["font"]["enum"] == fonts.names()
    assert s["$defs"]["style"]["properties"]["font"]["enum"] == fonts.names()
    js = (resources_dir() / "display" / "rc-util.js").read_text("utf-8")
    body = js[js.index("var FONT_STACKS = {") : js.index("};", js.index("var FONT_STACKS = {"))]
    page = dict(re.findall(r"'([a-z-]+)': \"([^\"]+)\"", body))
    assert page == {name: fonts.stack(name) for name in fonts.names()}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"theme": {"font": "Comic Sans MS"}}, "$.theme.font"),
        ({"style": {"font": "Arial, sans-serif"}}, "$.blocks[0].style.font"),
        ({"style": {"font": 7}}, "$.blocks[0].style.font"),
    ],
)
async def test_a_font_that_is_not_bundled_is_refused_naming_its_path(
    api: Api, fields: dict[str, Any], where: str
) -> None:
    status, data = await api.call("POST", "/api/templates", custom(**fields))
    assert status == 400, data
    assert data["error"].startswith(f"{where}: unknown font "), data
    assert "inter, barlow-condensed, oswald, roboto-mono" in data["error"]
    assert [t for t in await api.ok("GET", "/api/templates") if not t["builtin"]] == []


async def test_every_bundled_font_and_older_name_is_accepted(api: Api) -> None:
    for name in fonts.names():
        saved = await api.ok(
            "POST", "/api/templates", custom(theme={"font": name}, style={"font": name}), 201
        )
        assert saved["theme"]["font"] == name and saved["blocks"][0]["style"]["font"] == name


async def test_an_import_naming_an_unknown_font_is_refused(api: Api) -> None:
    base = await api.ok("GET", "/api/templates/results-classic/export")
    bad = json.loads(json.dumps(base))
    bad["template"]["blocks"][0].setdefault("style", {})["font"] = "Papyrus"
    status, data = await api.call("POST", "/api/templates/import", bad)
    assert status == 400 and "$.blocks[0].style.font: unknown font 'Papyrus'" in data["error"], data
    assert data["error"].startswith("$.template"), data
    assert [t for t in await api.ok("GET", "/api/templates") if not t["builtin"]] == []
    await api.ok("POST", "/api/templates/import", base, 201)


async def test_a_template_stored_with_another_font_loads_with_the_default(
    tmp_path: Path, caplog: Any
) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        tid = (await api.ok("POST", "/api/templates", custom(theme={"font": "oswald"}), 201))["id"]
        old = {**custom(theme={"font": "Georgia, serif"}, style={"font": "oswald"}), "schema_version": 2}
        assert rc.services is not None

        def write(conn: Any) -> None:  # what a save stored before fonts were checked
            conn.execute(
                text("UPDATE templates SET body = :b WHERE id = :i"), {"b": json.dumps(old), "i": tid}
            )

        await rc.services.store.run(write)
    caplog.set_level(logging.WARNING, "race_control.templates")
    async with running(settings) as (rc, api):
        got = await api.ok("GET", f"/api/templates/{tid}")
        assert "font" not in got["theme"] and got["blocks"][0]["style"]["font"] == "oswald"
    assert f"template {tid}: $.theme.font named a font that is not bundled" in caplog.text


async def test_the_font_routes_serve_woff2_with_long_cache_and_a_strict_type(api: Api) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(api.base + "/display/fonts/fonts.css") as r:  # no API token: public
            css = await r.text()
            assert r.status == 200 and r.content_type == "text/css", r.headers
            assert (
                r.headers["Cache-Control"] == "no-cache" and r.headers["X-Content-Type-Options"] == "nosniff"
            )
            etag = r.headers["ETag"]
        async with http.get(api.base + "/display/fonts/fonts.css", headers={"If-None-Match": etag}) as r:
            assert r.status == 304
        urls = CSS_URL.findall(css)
        assert sorted(name for _, name, _ in urls) == sorted(fonts.files())
        assert "http" not in css and "//" not in css.replace("/*", "").replace("*/", "")  # no remote URL
        for url, name, digest in urls:
            async with http.get(api.base + url) as r:
                body = await r.read()
                assert r.status == 200, url
                assert r.headers["Content-Type"] == "font/woff2", (url, r.headers)
                assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert body == (FONT_DIR / name).read_bytes()
                assert fonts._digest(name) == digest
        async with http.get(api.base + "/display/fonts/fonts.json") as r:
            listed = await r.json()
        assert [f["name"] for f in listed["fonts"]] == fonts.names() and listed["default"] == "inter"
        for bad in ("LICENSE-inter.txt", "nope.woff2", "..%2Fdisplay%2Fpage.html", "%2e%2e%2Ffonts.py"):
            async with http.get(api.base + "/display/fonts/" + bad) as r:
                assert r.status == 404, bad
