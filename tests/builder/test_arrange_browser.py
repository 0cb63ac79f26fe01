"""Arranging a selection in the builder, in real Chromium with the mouse and the keyboard:
Shift+click and the rubber band, align (six ways) and distribute, groups (a group moves,
resizes and locks as one), copy/paste/duplicate (also into another template), and every one of
those undone and redone with the document's JSON identical at each step."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from race_control.app import RaceControl
from tests.builder.helpers import box_center, doc, open_builder, state
from tests.conftest import Api
from tests.display.browser import chromium

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# three blocks far apart (no snapping between them while they are dragged a little)
A = {"type": "text", "x": 100, "y": 100, "w": 200, "h": 80, "text": "A"}
B = {"type": "text", "x": 500, "y": 260, "w": 300, "h": 100, "text": "B"}
C = {"type": "text", "x": 1200, "y": 180, "w": 150, "h": 60, "text": "C"}


async def _template(api: Api, blocks: list[dict[str, Any]], name: str = "Arrange") -> dict[str, Any]:
    body = {"schema_version": 2, "name": name, "mode": "results", "canvas": {"width": 1920, "height": 1080}}
    return await api.ok("POST", "/api/templates", {**body, "blocks": blocks}, 201)


def rects(d: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    return [(b["x"], b["y"], b["w"], b["h"]) for b in d["blocks"]]


async def select(page: Page, *indices: int) -> None:
    await page.keyboard.press("Escape")
    for n, i in enumerate(indices):
        await page.click(f".box[data-index='{i}']", modifiers=["Shift"] if n else [])
    assert (await state(page))["selection"] == sorted(indices)


async def blocks(page: Page, n: int) -> dict[str, Any]:
    """The document once it has n blocks (a paste lands after the keyboard event's paste)."""
    await page.wait_for_function(f"window.rcBuilder.doc().blocks.length === {n}", timeout=5_000)
    return await doc(page)


async def press(page: Page, name: str) -> None:
    await page.click(f"#panel button[name='{name}']")


async def drag(page: Page, x: float, y: float, dx: float, dy: float) -> None:
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + dx, y + dy, steps=8)
    await page.mouse.up()


async def test_align_distribute_group_copy_paste_and_undo_redo_of_all(rc: RaceControl, api: Api) -> None:
    tpl = await _template(api, [A, B, C])
    other = await _template(api, [A], "Other")
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1920, "height": 1080})
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=api.base)
        page = await open_builder(context, api, tpl["id"])
        k = (await state(page))["scale"]
        snapshots = [json.dumps(await doc(page), sort_keys=True)]

        async def step() -> None:  # one command more on the stack
            snapshots.append(json.dumps(await doc(page), sort_keys=True))
            assert (await state(page))["undo"] == len(snapshots) - 1

        # ---- align: on the selection's bounding box (x 100..1350, y 100..360)
        await select(page, 0, 1, 2)
        expected = {
            "align-left": [(100, 100), (100, 260), (100, 180)],
            "align-right": [(1150, 100), (1050, 260), (1200, 180)],
            "align-center": [(625, 100), (575, 260), (650, 180)],
            "align-top": [(100, 100), (500, 100), (1200, 100)],
            "align-bottom": [(100, 280), (500, 260), (1200, 300)],
            "align-middle": [(100, 190), (500, 180), (1200, 200)],
        }
        for name, want in expected.items():
            await press(page, name)
            got = [(b["x"], b["y"]) for b in (await doc(page))["blocks"]]
            assert got == want, (name, got)
            await page.keyboard.press("Control+z")
            assert rects(await doc(page)) == rects({"blocks": [A, B, C]}), name
        assert (await state(page))["undo"] == 0 and (await state(page))["redo"] == 1
        # one block alone aligns on the canvas
        await select(page, 2)
        await press(page, "align-right")
        assert (await doc(page))["blocks"][2]["x"] == 1920 - 150
        await step()
        await press(page, "align-middle")
        assert (await doc(page))["blocks"][2]["y"] == (1080 - 60) // 2
        await step()

        # ---- distribute: equal gaps between the middle ones, the ends stay
        await select(page, 0, 1, 2)
        await press(page, "distribute-x")  # widths 650 in 100..1920: gaps of (1820 - 650) / 2
        d = await doc(page)
        assert [b["x"] for b in d["blocks"]] == [100, 885, 1770], d["blocks"]
        await step()
        await press(page, "distribute-y")  # A 100+80, B 260+100, C 510+60: gaps (570 - 240) / 2
        d = await doc(page)
        assert [b["y"] for b in d["blocks"]] == [100, 295, 510], d["blocks"]
        await step()
        # two units: nothing to distribute
        await select(page, 0, 1)
        assert await page.locator("#panel button[name='distribute-x']").is_disabled()

        # ---- group A and B (Ctrl+G); a click on one selects both
        await page.keyboard.press("Control+g")
        d = await doc(page)
        gid = d["blocks"][0].get("group")
        assert gid and d["blocks"][1]["group"] == gid and "group" not in d["blocks"][2]
        await step()
        await page.keyboard.press("Escape")
        await page.click(".box[data-index='0']")
        assert (await state(page))["selection"] == [0, 1]
        assert await page.locator(".selbox").count() == 1
        # drag the group by A: both move by the same amount
        before = await doc(page)
        x0, y0 = await box_center(page, 0)
        await drag(page, x0, y0, 120 * k, 64 * k)
        after = await doc(page)
        da = (
            after["blocks"][0]["x"] - before["blocks"][0]["x"],
            after["blocks"][0]["y"] - before["blocks"][0]["y"],
        )
        db = (
            after["blocks"][1]["x"] - before["blocks"][1]["x"],
            after["blocks"][1]["y"] - before["blocks"][1]["y"],
        )
        assert da == db and abs(da[0] - 120) <= 8 and abs(da[1] - 64) <= 8, (da, db)
        assert after["blocks"][2] == before["blocks"][2]
        await step()
        # undo the group's move: both back; redo: both moved again
        await page.keyboard.press("Control+z")
        assert (await doc(page))["blocks"] == before["blocks"]
        await page.keyboard.press("Control+Shift+z")
        assert (await doc(page))["blocks"] == after["blocks"]
        # resize the group by its frame's south-east handle: both scale
        se = await page.locator(".selbox .handle[data-h='se']").bounding_box()
        assert se is not None
        box0, B_ = after["blocks"][0], after["blocks"][1]
        left, right = box0["x"], max(box0["x"] + box0["w"], B_["x"] + B_["w"])
        await page.keyboard.down("Alt")  # no snapping: an exact scale
        await drag(page, se["x"] + se["width"] / 2, se["y"] + se["height"] / 2, -(right - left) / 2 * k, 0)
        await page.keyboard.up("Alt")
        scaled = (await doc(page))["blocks"]
        new_right = max(scaled[0]["x"] + scaled[0]["w"], scaled[1]["x"] + scaled[1]["w"])
        assert abs((new_right - left) - (right - left) / 2) <= 3, scaled
        assert abs(scaled[1]["w"] - B_["w"] / 2) <= 3 and abs(scaled[0]["w"] - box0["w"] / 2) <= 3, scaled
        assert scaled[0]["h"] == box0["h"] and scaled[1]["y"] == B_["y"]
        await step()
        # lock the group: a drag moves nothing, Delete deletes nothing
        await press(page, "lock")
        d = await doc(page)
        assert d["blocks"][0].get("locked") is True and d["blocks"][1].get("locked") is True
        await step()
        locked = await doc(page)
        x0, y0 = await box_center(page, 1)
        await drag(page, x0, y0, 200 * k, 100 * k)
        await page.keyboard.press("Delete")
        assert await doc(page) == locked
        await press(page, "unlock")
        await step()

        # ---- rubber band from the empty top-left corner over A (and so its group) only
        await page.keyboard.press("Escape")
        ov = await page.locator("#overlay").bounding_box()
        assert ov is not None
        a = (await doc(page))["blocks"][0]
        await drag(page, ov["x"] + 10 * k, ov["y"] + 10 * k, (a["x"] + 20 - 10) * k, (a["y"] + 20 - 10) * k)
        assert (await state(page))["selection"] == [0, 1]
        assert await page.locator(".band").count() == 0

        # ---- copy/paste: the group comes back 20 px further each time, a new group, selected
        await page.keyboard.press("Control+c")
        await page.keyboard.press("Control+v")
        d = await blocks(page, 5)
        for src, new in ((0, 3), (1, 4)):
            assert (d["blocks"][new]["x"], d["blocks"][new]["y"]) == (
                d["blocks"][src]["x"] + 20,
                d["blocks"][src]["y"] + 20,
            )
        assert d["blocks"][3]["group"] == d["blocks"][4]["group"] != d["blocks"][0]["group"]
        assert (await state(page))["selection"] == [3, 4]
        await step()
        await page.keyboard.press("Control+v")
        d = await blocks(page, 7)
        assert d["blocks"][5]["x"] == d["blocks"][0]["x"] + 40
        await step()
        # duplicate one block (Ctrl+D): a copy 20 px off, selected
        await select(page, 2)
        await page.keyboard.press("Control+d")
        d = await doc(page)
        assert len(d["blocks"]) == 8 and d["blocks"][7]["x"] == d["blocks"][2]["x"] + 20
        assert (await state(page))["selection"] == [7]
        await step()
        # ungroup the second pasted group (Ctrl+Shift+G), then nudge both with the arrows
        await page.click(".box[data-index='5']")
        assert (await state(page))["selection"] == [5, 6]
        await page.keyboard.press("Control+Shift+g")
        d = await doc(page)
        assert "group" not in d["blocks"][5] and "group" not in d["blocks"][6] and d["blocks"][3]["group"]
        await step()
        await page.keyboard.press("Shift+ArrowRight")
        await step()

        # ---- undo everything to the start and redo everything: the JSON of each step matches
        depth = len(snapshots) - 1
        assert (await state(page))["undo"] == depth, (await state(page), depth)
        for i in range(depth, 0, -1):
            assert json.dumps(await doc(page), sort_keys=True) == snapshots[i], i
            await page.keyboard.press("Control+z")
        assert json.dumps(await doc(page), sort_keys=True) == snapshots[0]
        for i in range(1, depth + 1):
            await page.keyboard.press("Control+Shift+z")
            assert json.dumps(await doc(page), sort_keys=True) == snapshots[i], i

        # ---- paste into another template: from this browser's storage, and from the system
        # clipboard alone (the copy event put the blocks there as race-control/blocks@1 JSON)
        second = await open_builder(context, api, other["id"])
        await second.keyboard.press("Control+v")
        d2 = await blocks(second, 3)
        assert [b["text"] for b in d2["blocks"]] == ["A", "A", "B"]
        assert d2["blocks"][1]["group"] == d2["blocks"][2]["group"]
        assert (await state(second))["selection"] == [1, 2]
        clip = json.loads(await second.evaluate("navigator.clipboard.readText()"))
        assert clip["format"] == "race-control/blocks@1" and [b["text"] for b in clip["blocks"]] == ["A", "B"]
        await second.evaluate("localStorage.clear()")
        third = await open_builder(context, api, other["id"])
        await third.keyboard.press("Control+v")
        d3 = await blocks(third, 3)
        assert [b["text"] for b in d3["blocks"]] == ["A", "A", "B"]
        assert not page.errors and not second.errors and not third.errors  # type: ignore[attr-defined]
        await context.close()


async def test_a_multi_selection_drags_as_one_with_guides(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    """The three chips of the classic card (bib, division, place) selected with Shift+click and
    dragged down towards the name: their box snaps to the name's top edge and to the left edge
    they share with it, and pink guides show both while the mouse is down.  The picture of that
    is docs/screenshots/builder-align.png (RC_UPDATE_SCREENSHOTS=1 rewrites it; 1280x720)."""
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 720})
        page = await open_builder(context, api, "results-classic")
        d = await doc(page)
        chips = [i for i, b in enumerate(d["blocks"]) if b["type"] in ("bib", "division", "place")]
        name = next(b for b in d["blocks"] if b["type"] == "name")
        bottom = max(d["blocks"][i]["y"] + d["blocks"][i]["h"] for i in chips)
        await select(page, *chips)
        k = (await state(page))["scale"]
        x0, y0 = await box_center(page, chips[1])
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        await page.mouse.move(x0 + 2 * k, y0 + (name["y"] - bottom - 3) * k, steps=8)
        guides = (await state(page))["guides"]
        assert {"axis": "y", "at": name["y"]} in guides and {"axis": "x", "at": name["x"]} in guides, guides
        assert await page.locator(".guide").count() >= 2 and await page.locator(".selbox").count() == 1
        shot = tmp_path / "builder-align.png"
        await page.screenshot(path=str(shot))
        await page.mouse.up()
        after = await doc(page)
        moved = [after["blocks"][i] for i in chips]
        assert max(b["y"] + b["h"] for b in moved) == name["y"] and min(b["x"] for b in moved) == name["x"]
        assert [b["y"] - d["blocks"][i]["y"] for b, i in zip(moved, chips, strict=True)] == [
            name["y"] - bottom
        ] * 3
        assert await page.locator(".guide").count() == 0
        assert not page.errors, page.errors  # type: ignore[attr-defined]
        await context.close()
    assert shot.stat().st_size > 20_000
    if os.environ.get("RC_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, SCREENSHOTS / shot.name)
