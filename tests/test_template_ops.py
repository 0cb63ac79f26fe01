"""Template saves as units of work: a failed transaction leaves the list and the body as they
were; every custom template comes back from a restart exactly as it was saved."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.templates.service import template_from_row, template_row
from tests.conftest import make_settings
from tests.helpers.failing_store import FAILURES, MESSAGE, allow, refuse
from tests.helpers.live_app import running


def sponsor(base: dict[str, Any], name: str, accent: str) -> dict[str, Any]:
    mine = copy.deepcopy(base)
    mine.update(name=name)
    mine["theme"]["accent"] = accent
    return mine


async def test_a_failed_save_leaves_the_templates_as_they_were(rc: RaceControl) -> None:
    assert rc.services is not None
    store, ops, templates = rc.services.store, rc.services.ops, rc.services.templates
    base = templates.get("results-classic")
    listed = templates.list()

    trigger = await refuse(store, "templates")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.templates.save(sponsor(base, "Sponsor blue", "#1e90ff"))
    assert templates.list() == listed
    await allow(store, trigger)
    saved = (await ops.templates.save(sponsor(base, "Sponsor blue", "#1e90ff"))).template
    assert saved["version"] == 1 and templates.get(saved["id"]) == saved

    trigger = await refuse(store, "templates", op="UPDATE")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.templates.save(sponsor(base, "Sponsor red", "#ff4500"), saved["id"])
    assert templates.get(saved["id"]) == saved  # body, name and version
    assert next(t for t in templates.list() if t["id"] == saved["id"])["version"] == 1
    assert [v["version"] for v in await ops.templates.versions(saved["id"])] == [1]  # no version half-saved
    await allow(store, trigger)
    again = (await ops.templates.save(sponsor(base, "Sponsor red", "#ff4500"), saved["id"])).template
    assert (again["version"], again["name"], again["theme"]["accent"]) == (2, "Sponsor red", "#ff4500")
    assert [v["version"] for v in await ops.templates.versions(saved["id"])] == [2, 1]


async def test_a_failed_import_or_restore_leaves_templates_versions_and_images_as_they_were(
    rc: RaceControl,
) -> None:
    from race_control.templates import history, portable
    from tests.templates import pictures

    assert rc.services is not None
    store, ops, templates = rc.services.store, rc.services.ops, rc.services.templates
    base = templates.get("results-classic")
    logo = {"type": "image", "x": 0, "y": 0, "w": 100, "h": 100, "src": pictures.data_url(pictures.png())}
    file = portable.write_file({**sponsor(base, "Logo", "#1e90ff"), "blocks": [*base["blocks"], logo]}, {})
    listed = templates.list()
    trigger = await refuse(store, "templates")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.templates.import_file(file)
    assert templates.list() == listed and await store.run(history.count_images) == 0  # the image went too
    await allow(store, trigger)
    saved = (await ops.templates.import_file(file)).template
    assert await store.run(history.count_images) == 1
    await ops.templates.save(sponsor(saved, "Logo 2", "#ff4500"), saved["id"])
    trigger = await refuse(store, "templates", op="UPDATE")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.templates.restore(saved["id"], 1)
    assert templates.get(saved["id"])["name"] == "Logo 2"
    assert [v["version"] for v in await ops.templates.versions(saved["id"])] == [2, 1]
    await allow(store, trigger)
    assert (await ops.templates.restore(saved["id"], 1)).template["name"] == "Logo"


def test_the_row_mapping_keeps_every_part_of_a_template() -> None:
    from race_control.templates.service import builtin

    base = builtin("pre-race-classic")
    assert base is not None
    template = {**copy.deepcopy(base), "id": "t1", "version": 7, "extra": {"kept": [1, 2]}}
    row = template_row("t1", template)
    assert (row["id"], row["name"], row["mode"], row["version"]) == ("t1", base["name"], "pre-race", 7)
    assert template_from_row(row) == template


async def test_templates_come_back_from_a_restart_as_they_were(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, _api):
        assert rc.services is not None
        ops, templates = rc.services.ops, rc.services.templates
        results = templates.get("results-classic")
        prerace = templates.get("pre-race-classic")
        first = (await ops.templates.save(sponsor(results, "Finish blue", "#1e90ff"))).template
        await ops.templates.save(sponsor(results, "Finish red", "#ff4500"), first["id"])
        await ops.templates.save(sponsor(results, "Finish gold", "#ffd21f"), first["id"])
        await ops.templates.save(sponsor(prerace, "Start area", "#00aa55"))
        listed = templates.list()
        bodies = {t["id"]: templates.get(t["id"]) for t in listed}
    assert [t["version"] for t in listed if not t["builtin"]] == [3, 1]
    async with running(settings) as (rc, _api):
        assert rc.services is not None
        templates = rc.services.templates
        assert templates.list() == listed
        assert {t["id"]: templates.get(t["id"]) for t in templates.list()} == bodies
