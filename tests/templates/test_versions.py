"""Every save is a version: list them, preview any, restore any (as a new version); templates
stored before versions existed (schema version 1, store revision 0012) load unchanged, come up
upgraded, and have their version listed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import text

from race_control.app import RaceControl
from race_control.paths import resources_dir
from race_control.store.database import alembic_config, sqlite_engine
from race_control.templates.service import builtin_ids
from tests.conftest import Api, make_settings
from tests.helpers.live_app import running


def body(base: dict[str, Any], name: str, accent: str) -> dict[str, Any]:
    t = copy.deepcopy(base)
    t.update(name=name)
    t["theme"]["accent"] = accent
    return t


async def test_each_save_is_a_version_to_list_preview_and_restore(rc: RaceControl, api: Api) -> None:
    base = await api.ok("GET", "/api/templates/results-classic")
    first = await api.ok("POST", "/api/templates", body(base, "Blue", "#1e90ff"), 201)
    tid = first["id"]
    await api.ok("PUT", f"/api/templates/{tid}", body(base, "Red", "#ff4500"))
    await api.ok("PUT", f"/api/templates/{tid}", body(base, "Gold", "#ffd21f"))

    listed = await api.ok("GET", f"/api/templates/{tid}/versions")
    assert [(v["version"], v["name"], v["origin"], v["current"]) for v in listed] == [
        (3, "Gold", "saved", True), (2, "Red", "saved", False), (1, "Blue", "saved", False),
    ]  # fmt: skip
    assert listed[0]["saved_at"] >= listed[1]["saved_at"] >= listed[2]["saved_at"] > 0

    old = await api.ok("GET", f"/api/templates/{tid}/versions/1")
    assert {k: v for k, v in old.items() if k not in ("saved_at", "origin")} == first
    assert (await api.ok("GET", f"/api/templates/{tid}"))["name"] == "Gold"  # a preview changes nothing

    restored = await api.ok("POST", f"/api/templates/{tid}/versions/1/restore")
    assert (restored["version"], restored["name"], restored["theme"]["accent"]) == (4, "Blue", "#1e90ff")
    assert await api.ok("GET", f"/api/templates/{tid}") == restored
    after = await api.ok("GET", f"/api/templates/{tid}/versions")
    assert [(v["version"], v["origin"]) for v in after][:2] == [(4, "restored"), (3, "saved")]
    assert {k: v for k, v in restored.items() if k != "version"} == {
        k: v for k, v in first.items() if k != "version"
    }


async def test_versions_of_builtins_and_bad_version_numbers(api: Api) -> None:
    listed = await api.ok("GET", "/api/templates/results-classic/versions")
    assert [(v["version"], v["origin"], v["saved_at"]) for v in listed] == [(1, "builtin", None)]
    assert (await api.ok("GET", "/api/templates/results-classic/versions/1"))["name"] == "Results — classic"
    status, data = await api.call("POST", "/api/templates/results-classic/versions/1/restore")
    assert status == 400 and "built-in" in data["error"]
    base = await api.ok("GET", "/api/templates/results-classic")
    tid = (await api.ok("POST", "/api/templates", body(base, "Mine", "#000000"), 201))["id"]
    for path, want in (
        (f"/api/templates/{tid}/versions/7", 404),
        (f"/api/templates/{tid}/versions/x", 400),
        (f"/api/templates/{tid}/versions/0", 400),
        ("/api/templates/nope/versions/1", 404),
    ):
        status, data = await api.call("GET", path)
        assert status == want and data["error"], (path, data)
    status, data = await api.call("POST", f"/api/templates/{tid}/versions/7/restore")
    assert status == 404 and "no version 7" in data["error"]
    assert (await api.ok("GET", f"/api/templates/{tid}"))["version"] == 1


async def test_a_template_stored_before_versions_loads_upgraded_with_its_version(tmp_path: Path) -> None:
    """A data dir at store revision 0012 holding a version-1 body, as Race Control stored it."""
    settings = make_settings(tmp_path / "data")
    raw = json.loads((resources_dir() / "display" / "templates" / "results-classic.json").read_text("utf-8"))
    v1 = {**raw, "name": "Finish 2025"}
    assert "schema_version" not in v1
    engine = sqlite_engine(settings.database_path)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0012")
        conn.execute(
            text("INSERT INTO templates (id, name, mode, version, body, created_at, updated_at) "
                 "VALUES ('old-1', 'Finish 2025', 'results', 5, :body, 1750000000.0, 1750000100.0)"),
            {"body": json.dumps(v1)},
        )  # fmt: skip
    engine.dispose()

    async with running(settings) as (rc, api):
        got = await api.ok("GET", "/api/templates/old-1")
        assert got == {**v1, "schema_version": 2, "id": "old-1", "version": 5}
        listed = await api.ok("GET", "/api/templates/old-1/versions")
        assert [(v["version"], v["origin"], v["saved_at"]) for v in listed] == [(5, "existing", 1750000100.0)]
        preview = await api.ok("GET", "/api/templates/old-1/versions/5")
        assert preview["schema_version"] == 2 and preview["blocks"] == v1["blocks"]
        saved = await api.ok("PUT", "/api/templates/old-1", {**got, "name": "Finish 2026"})
        assert saved["version"] == 6
        assert rc.services is not None

        def stored(conn: Any) -> Any:
            return conn.execute(text("SELECT body FROM templates WHERE id = 'old-1'")).scalar_one()

        assert json.loads(await rc.services.store.run(stored))["schema_version"] == 2  # the save wrote v2


async def test_a_stored_template_that_is_not_valid_is_not_loaded_and_the_log_names_its_field(
    tmp_path: Path, caplog: Any
) -> None:
    settings = make_settings(tmp_path / "data")
    raw = json.loads((resources_dir() / "display" / "templates" / "results-classic.json").read_text("utf-8"))
    broken = {**raw, "name": "Broken"}
    broken["blocks"] = [{**raw["blocks"][0], "x": "left"}, *raw["blocks"][1:]]
    engine = sqlite_engine(settings.database_path)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        conn.execute(
            text("INSERT INTO templates (id, name, mode, version, body, created_at, updated_at) "
                 "VALUES ('bad-1', 'Broken', 'results', 1, :body, 1.0, 1.0)"),
            {"body": json.dumps(broken)},
        )  # fmt: skip
    engine.dispose()
    with caplog.at_level("ERROR", logger="race_control.templates"):
        async with running(settings) as (_rc, api):
            status, _ = await api.call("GET", "/api/templates/bad-1")
            assert status == 404
            # the built-ins only (the starter templates of resources/display/templates/)
            assert [t["id"] for t in await api.ok("GET", "/api/templates")] == builtin_ids()
    assert any("bad-1" in r.getMessage() and "blocks[0]" in r.getMessage() for r in caplog.records), (
        caplog.text
    )
