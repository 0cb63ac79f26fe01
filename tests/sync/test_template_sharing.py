"""Templates shared through the central database, with their images, on a real PostgreSQL.

Two laptops of one partner (two real ``RaceControl``s, two data dirs, two device ids): a
template imported on A with an image reaches B's template list, B's builder and B's screens
(the image served by B's own ``/display/images/…``, from B's store, so offline afterwards);
an edit made on B, with a new image, comes back to A; a laptop of another partner sees none
of it; a central image row whose bytes are not what they claim is refused on pull, with the
reason logged and nothing stored, while the rest of the page is applied.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2
import pytest
from PIL import Image

from race_control.sync.connection import connect
from race_control.sync.pull import Puller
from race_control.templates import history
from tests.helpers.waiting import until
from tests.sync.laptops import Central, Laptop, laptop, partners
from tests.templates import pictures

pytestmark = pytest.mark.postgres


async def import_with_image(lap: Laptop, name: str, color: tuple[int, ...]) -> dict[str, Any]:
    """A template file (results-classic plus a logo block) imported on ``lap``: the logo is
    re-encoded and stored in ``lap``'s content-hash image store."""
    base = await lap.api.ok("GET", "/api/templates/results-classic/export")
    template = {k: v for k, v in copy.deepcopy(base["template"]).items() if k not in ("id", "version")}
    template["name"] = name
    logo = pictures.data_url(pictures.png((800, 400), color))
    template["blocks"].append({"type": "image", "x": 1500, "y": 20, "w": 400, "h": 200, "src": logo})
    return await lap.api.ok(
        "POST", "/api/templates/import", {**base, "template": template, "images": {}}, 201
    )


def logo_of(template: dict[str, Any]) -> str:
    return str(template["blocks"][-1]["src"])


async def image(lap: Laptop, src: str) -> tuple[int, bytes, str]:
    """What a screen gets for ``src`` from this laptop's own server (no token, like a screen)."""
    async with lap.api.http.get(lap.api.base + src) as r:
        return r.status, await r.read(), r.headers.get("Content-Type", "")


async def builder_list(lap: Laptop) -> list[dict[str, Any]]:
    """The builder's template list, signed in as the builder is (one-time code -> cookie)."""
    code = await lap.api.ok("POST", "/api/builder/codes", {"template_id": "results-classic"}, 201)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(lap.api.base + code["path"], allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(lap.api.base + "/builder/api/templates") as r:
            assert r.status == 200
            return list(await r.json())


async def stored_hashes(lap: Laptop) -> set[str]:
    return set(
        await lap.store.run(lambda c: [r[0] for r in c.exec_driver_sql("SELECT sha256 FROM template_images")])
    )


def central_images(central: Central, i: int) -> list[tuple[str, str]]:
    """``(id, origin)`` of partner ``i``'s central image rows, read as that partner's login."""
    conn = central.partner(i)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, origin FROM template_images ORDER BY id")
            return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


async def test_a_template_and_its_image_made_on_a_reach_b_s_builder_and_screens(tmp_path: Path) -> None:
    with partners(2) as central:
        url, other = central.partners[0]["url"], central.partners[1]["url"]
        async with (
            laptop(tmp_path, "a", url, worker=True) as a,
            laptop(tmp_path, "b", url, worker=True) as b,
            laptop(tmp_path, "c", other, worker=True) as c,
        ):
            made = await import_with_image(a, "Sponsor finish", (200, 30, 30))
            src = logo_of(made)
            sha = src.rsplit("/", 1)[1].split(".")[0]
            status, data, _ = await image(a, src)
            assert status == 200

            async def on_b() -> bool:
                listed = {t["id"]: t for t in await b.api.ok("GET", "/api/templates")}
                return made["id"] in listed and (await image(b, src))[0] == 200

            await until(on_b, "A's template and its image on B", timeout=90)
            got = await b.api.ok("GET", f"/api/templates/{made['id']}")
            assert got["name"] == "Sponsor finish" and logo_of(got) == src
            # B's builder lists it (the builder reads its list from this laptop's API)
            listed = {t["id"]: t for t in await builder_list(b)}
            assert listed[made["id"]]["name"] == "Sponsor finish" and not listed[made["id"]]["builtin"]
            # B's screens load the image from B itself: the same bytes, from B's own store
            status, on_b_bytes, kind = await image(b, src)
            assert (status, kind) == (200, "image/png") and on_b_bytes == data
            assert hashlib.sha256(on_b_bytes).hexdigest() == sha
            assert Image.open(io.BytesIO(on_b_bytes)).size == (400, 200)
            assert sha in await stored_hashes(b)
            versions = await b.api.ok("GET", f"/api/templates/{made['id']}/versions")
            assert [(v["version"], v["origin"]) for v in versions] == [(1, "synced")]

            # stored once centrally, sent by A; B (which has it now) never uploads it again
            await until(
                lambda: (
                    b.rc.services.sync.status().state == "idle" and b.rc.services.sync.status().backlog == 0
                ),
                "B's sync idle with nothing waiting",
            )
            assert central_images(central, 0) == [(sha, await a.device())]

            # the other partner: nothing, neither through its laptop nor through its login
            c.rc.services.sync.request()
            await until(lambda: c.rc.services.sync.status().last_success is not None, "C synced once")
            await until(lambda: central.visible(), "every central row visible to a pull")
            await c.pull_all(central)
            assert made["id"] not in {t["id"] for t in await c.api.ok("GET", "/api/templates")}
            assert made["id"] not in {t["id"] for t in await builder_list(c)}
            assert (await image(c, src))[0] == 404
            assert await stored_hashes(c) == set()
            assert central_images(central, 1) == []


def refuse_resend(central: Central, sha: str) -> None:
    conn = central.owner()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE FUNCTION refuse_resend() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF NEW.id = '{sha}' THEN RAISE EXCEPTION 'image {sha} sent again'; END IF;"
                " RETURN NEW; END $$"
            )
            cur.execute(
                "CREATE TRIGGER refuse_resend BEFORE INSERT ON template_images"
                " FOR EACH ROW EXECUTE FUNCTION refuse_resend()"
            )
    finally:
        conn.close()


async def test_an_edit_on_b_with_a_new_image_comes_back_to_a(tmp_path: Path) -> None:
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            made = await import_with_image(a, "Harbor", (10, 120, 200))
            assert await a.push() > 0
            await b.pull_all(central)
            assert made["id"] in {t["id"] for t in await b.api.ok("GET", "/api/templates")}

            # on B: a new logo (imported there, so stored in B's image store), then the shared
            # template edited to show it — a new version, B's change
            other = await import_with_image(b, "scratch", (250, 200, 0))
            new_src = logo_of(other)
            edited = await b.api.ok("GET", f"/api/templates/{made['id']}")
            body = {k: v for k, v in edited.items() if k not in ("id", "version")}
            body["name"] = "Harbor (edited on B)"
            body["blocks"][-1]["src"] = new_src
            saved = await b.api.ok("PUT", f"/api/templates/{made['id']}", body)
            assert saved["version"] == 2
            assert (await image(a, new_src))[0] == 404  # A has never seen that image

            # B holds A's image now (pulled), but never sends it back: a central trigger refuses
            # any insert of it (a BEFORE trigger fires even for ON CONFLICT DO NOTHING)
            refuse_resend(central, logo_of(made).rsplit("/", 1)[1][:64])
            assert await b.push() > 0
            await a.pull_all(central)
            back = await a.api.ok("GET", f"/api/templates/{made['id']}")
            assert back["name"] == "Harbor (edited on B)" and back["version"] == 2
            assert logo_of(back) == new_src
            status, data, kind = await image(a, new_src)
            assert (status, kind) == (200, "image/png")
            assert data == (await image(b, new_src))[1]
            versions = await a.api.ok("GET", f"/api/templates/{made['id']}/versions")
            assert (versions[0]["version"], versions[0]["origin"], versions[0]["current"]) == (
                2,
                "synced",
                True,
            )

            # last writer wins, as for every shared row: A edits after B -> B takes A's edit
            body["name"] = "Harbor (A again)"
            await a.api.ok("PUT", f"/api/templates/{made['id']}", body)
            assert await a.push() > 0
            await b.pull_all(central)
            assert (await b.api.ok("GET", f"/api/templates/{made['id']}"))["name"] == "Harbor (A again)"
            # nothing was sent twice: each image once, by the laptop that made it
            rows = dict(central_images(central, 0))
            assert rows == {
                logo_of(made).rsplit("/", 1)[1][:64]: await a.device(),
                new_src.rsplit("/", 1)[1][:64]: await b.device(),
            }


def hostile_rows() -> list[tuple[str, str, bytes, str]]:
    """``(name, ext, bytes, reason)``: central rows that claim to be images and are not."""
    html = pictures.HTML
    svg = pictures.SVG_SCRIPT
    real = pictures.png((20, 10))
    gif = pictures.gif()
    return [
        (hashlib.sha256(html).hexdigest(), "png", html, "not a readable image"),
        (hashlib.sha256(svg).hexdigest(), "png", svg, "SVG"),
        (hashlib.sha256(b"something else").hexdigest(), "png", real, "do not hash to the image's name"),
        (hashlib.sha256(gif).hexdigest(), "png", gif, "a GIF file named .png"),
    ]


async def test_a_central_image_row_that_is_not_an_image_is_refused_on_pull_and_the_rest_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            made = await import_with_image(a, "Good one", (0, 150, 60))
            assert await a.push() > 0
            # another "laptop" of the partner (its login, any device id) writes hostile rows
            conn = central.partner(0)
            try:
                with conn.cursor() as cur:
                    for name, ext, data, _reason in hostile_rows():
                        cur.execute(
                            "INSERT INTO template_images (id, ext, width, height, data, created_at, origin)"
                            " VALUES (%s, %s, 1, 1, %s, %s, 'hostile-device')",
                            (name, ext, psycopg2.Binary(data), time.time()),
                        )
                conn.commit()
            finally:
                conn.close()
            await until(central.visible, "every central row visible to a pull")

            puller = Puller(b.store, b.ops.remote)
            pg = connect(url)
            try:
                with caplog.at_level(logging.WARNING, logger="race_control.sync"):
                    await puller.round(pg)
            finally:
                pg.close()

            # nothing of them is stored or served; the rest of the pull went on: A's template
            # and its real image are on B
            good = logo_of(made).rsplit("/", 1)[1][:64]
            for name, ext, _data, _reason in hostile_rows():
                assert (await image(b, f"/display/images/{name}.{ext}"))[0] == 404
            assert await stored_hashes(b) == {good}
            assert await b.store.run(history.count_images) == 1
            assert (await image(b, logo_of(made)))[0] == 200
            assert made["id"] in {t["id"] for t in await b.api.ok("GET", "/api/templates")}
            # each refused with its reason, logged with the image's name
            refused = {r.sha256: r for r in puller.refused}
            for name, ext, _data, reason in hostile_rows():
                assert name in refused, name
                assert reason in refused[name].reason, (reason, refused[name].reason)
                assert refused[name].origin == "hostile-device"
                assert f"template image {name}.{ext}: refused" in caplog.text
