"""The portable template file through the API: export -> import gives the same template and the
same images; images are re-encoded, stored once by content hash and served to screens by this
server (no token, no network); every kind of dangerous file is refused with its reason and
changes nothing."""

from __future__ import annotations

import copy
import hashlib
import io
from typing import Any

import pytest
from PIL import Image

from race_control.app import RaceControl
from race_control.templates import history
from tests.conftest import Api
from tests.templates import pictures

NOT_STORED = ("id", "version")


async def image_count(rc: RaceControl) -> int:
    assert rc.services is not None
    return await rc.services.store.run(history.count_images)


def with_images(base: dict[str, Any]) -> dict[str, Any]:
    """results-classic with a background, a logo block and (in a pre-race slide) the same logo."""
    t = {k: v for k, v in copy.deepcopy(base).items() if k not in NOT_STORED}
    t["name"] = "Sponsor finish"
    t["theme"]["background_image"] = pictures.data_url(pictures.png((3840, 2160), (5, 10, 40)))
    logo = pictures.data_url(pictures.png((1000, 500), (255, 255, 255, 0)))
    t["blocks"].append({"type": "image", "x": 1500, "y": 20, "w": 400, "h": 200, "src": logo})
    t["blocks"].append({"type": "image", "x": 20, "y": 900, "w": 200, "h": 100, "src": logo})
    return t


async def file_of(api: Api, template: dict[str, Any]) -> dict[str, Any]:
    base = await api.ok("GET", "/api/templates/results-classic/export")
    return {**base, "template": template, "images": {}}


async def test_export_then_import_gives_the_same_template_and_images(rc: RaceControl, api: Api) -> None:
    base = await api.ok("GET", "/api/templates/results-classic")
    first = await api.ok("POST", "/api/templates/import", await file_of(api, with_images(base)), 201)
    bg, big, small = (
        first["theme"]["background_image"],
        first["blocks"][-2]["src"],
        first["blocks"][-1]["src"],
    )
    assert bg.startswith("/display/images/") and big == small  # one logo, stored once
    assert await image_count(rc) == 2

    # screens load them from this server, without the API token, cached forever
    sizes = {}
    for src in (bg, big):
        async with api.http.get(api.base + src) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/png", src
            assert (
                "immutable" in r.headers["Cache-Control"] and r.headers["X-Content-Type-Options"] == "nosniff"
            )
            data = await r.read()
        assert src.endswith(hashlib.sha256(data).hexdigest() + ".png")
        sizes[src] = Image.open(io.BytesIO(data)).size
    assert sizes == {bg: (1920, 1080), big: (400, 200)}  # the canvas, and the larger of the logo's boxes

    exported = await api.ok("GET", f"/api/templates/{first['id']}/export")
    assert set(exported["images"]) == {bg.rsplit("/", 1)[1], big.rsplit("/", 1)[1]}
    again = await api.ok("POST", "/api/templates/import", exported, 201)
    assert again["id"] != first["id"] and again["version"] == 1
    assert {k: v for k, v in again.items() if k not in NOT_STORED} == {
        k: v for k, v in first.items() if k not in NOT_STORED
    }
    assert await image_count(rc) == 2  # the same bytes: nothing new stored
    assert (await api.ok("GET", f"/api/templates/{again['id']}/export"))["images"] == exported["images"]


async def test_a_version_1_template_in_a_file_is_upgraded(api: Api) -> None:
    base = await api.ok("GET", "/api/templates/pre-race-classic")
    old = {k: v for k, v in base.items() if k not in (*NOT_STORED, "schema_version")}
    saved = await api.ok("POST", "/api/templates/import", await file_of(api, {**old, "name": "Old"}), 201)
    assert saved["schema_version"] == 2 and saved["blocks"] == base["blocks"]


async def test_unknown_templates_images_and_versions_are_404(api: Api) -> None:
    for path in (
        "/api/templates/nope/export",
        "/api/templates/nope/versions",
        "/display/images/" + "0" * 64 + ".png",
    ):
        status, body = await api.call("GET", path)
        assert status == 404 and "error" in body, (path, body)
    status, body = await api.call("GET", "/display/images/../../etc/passwd")
    assert status == 404


def bad_files() -> list[tuple[str, Any, str]]:
    """(id, change to a good file, what the 400 must say) — every way in the issue and a few more."""

    def block(**kw: Any) -> Any:
        return lambda f: f["template"]["blocks"].append(
            {"type": "text", "x": 0, "y": 0, "w": 10, "h": 10, **kw}
        )

    def text(value: str) -> Any:
        return lambda f: f["template"]["blocks"][0].__setitem__("text", value)

    def image(name: str, data: bytes) -> Any:
        def put(f: dict[str, Any]) -> None:
            f["images"][name] = pictures.b64(data)
            f["template"]["blocks"].append(
                {"type": "image", "x": 0, "y": 0, "w": 90, "h": 90, "src": f"/display/images/{name}"}
            )

        return put

    sha = "ab" * 32
    return [
        ("script-tag", text("<script>alert(1)</script>"), "script"),
        ("event-handler-text", text('x" onerror="alert(1)'), "event-handler attribute"),
        ("event-handler-key", block(onclick="alert(1)"), "$.template.blocks[10].onclick: refused: an event-handler"),
        ("markup", text('<img src="x">'), "markup"),
        ("javascript-url", lambda f: f["template"]["blocks"].append({"type": "image", "x": 0, "y": 0, "w": 9, "h": 9, "src": "javascript:alert(1)"}), "javascript: URL"),
        ("remote-url-image", lambda f: f["template"]["theme"].__setitem__("background_image", "https://evil.example/x.png"), "remote URL"),
        ("protocol-relative", lambda f: f["template"]["theme"].__setitem__("background_image", "//evil.example/x.png"), "remote URL"),
        ("server-path", lambda f: f["template"]["theme"].__setitem__("background_image", "/api/sessions"), "not an image the file carries"),
        ("css-url", lambda f: f["template"]["blocks"][0]["style"].__setitem__("font", "x; background:url(https://e.example)"), "CSS url()"),
        ("css-import", text("@import 'https://e.example/a.css'"), "CSS @import"),
        ("css-expression", lambda f: f["template"]["blocks"][0]["style"].__setitem__("color", "expression(alert(1))"), "CSS expression()"),
        ("data-html", text("data:text/html;base64,PHNjcmlwdD4="), "data: URL that is not"),
        ("svg-data-url", lambda f: f["template"]["theme"].__setitem__("background_image", "data:image/svg+xml;base64," + pictures.b64(pictures.SVG_SCRIPT)), "data: URL that is not"),
        ("svg-with-script", image(f"{sha}.png", pictures.SVG_SCRIPT), "SVG image with script"),
        ("svg", image(f"{sha}.png", pictures.SVG_PLAIN), "SVG can carry script"),
        ("html-as-image", image(f"{sha}.png", pictures.HTML), "not a readable image"),
        ("bomb", image(f"{sha}.png", pictures.huge_pixels()), "pixels"),
        ("not-base64", lambda f: (image(f"{sha}.png", b"")(f), f["images"].__setitem__(f"{sha}.png", "%%%")), "not valid base64"),
        ("bad-image-name", lambda f: f["images"].__setitem__("../x.png", pictures.b64(pictures.png())), "name must be"),
        ("missing-image", lambda f: f["template"]["theme"].__setitem__("background_image", f"/display/images/{sha}.png"), "does not carry image"),
        ("unused-image", lambda f: f["images"].__setitem__(f"{sha}.png", pictures.b64(pictures.png())), "does not show this image"),
        ("inline-not-an-image", lambda f: f["template"]["theme"].__setitem__("background_image", "data:image/png;base64," + pictures.b64(b"hello")), "not a readable image"),
        ("unknown-field", lambda f: f.__setitem__("run", "x"), "unknown field"),
        ("wrong-format", lambda f: f.__setitem__("format", "zip"), "$.format"),
        ("invalid-template", lambda f: f["template"]["blocks"][3].__setitem__("w", "wide"), "$.template: blocks[3]"),
        ("newer-schema", lambda f: f["template"].__setitem__("schema_version", 9), "$.template: $.schema_version: 9 is newer"),
    ]  # fmt: skip


@pytest.mark.parametrize(("change", "reason"), [c[1:] for c in bad_files()], ids=[c[0] for c in bad_files()])
async def test_a_dangerous_or_broken_file_is_refused_with_its_reason_and_changes_nothing(
    rc: RaceControl, api: Api, change: Any, reason: str
) -> None:
    good = await api.ok("GET", "/api/templates/results-classic/export")
    good["template"]["name"] = "Mine"
    before = await api.ok("GET", "/api/templates")
    bad = copy.deepcopy(good)
    change(bad)
    status, body = await api.call("POST", "/api/templates/import", bad)
    assert status == 400 and reason in body["error"], body
    assert await api.ok("GET", "/api/templates") == before and await image_count(rc) == 0
    await api.ok("POST", "/api/templates/import", good, 201)  # the same file without it is fine


async def test_a_body_that_is_not_a_file_is_a_400(api: Api) -> None:
    for body in ([], "x", {"format": "race-control/template-file", "file_version": 1}):
        status, data = await api.call("POST", "/api/templates/import", body)
        assert status == 400 and "$" in data["error"], (body, data)
