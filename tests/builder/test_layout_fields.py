"""The optional layout fields of schema version 2: a block's ``modes`` (the layouts it shows
in: a results template can lay out pre-race too) and the burst settings in ``grid``
(``layout``, ``max``, ``dwell_s``).  Old documents stay valid; a bad value is a 400 naming its
JSON path and nothing is stored; the fields travel in the portable file."""

from __future__ import annotations

from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.templates.errors import TemplateInputError
from race_control.templates.service import validate_template
from tests.conftest import Api

BLOCKS = [
    {"type": "name", "x": 10, "y": 10, "w": 800, "h": 120},
    {"type": "text", "x": 10, "y": 300, "w": 900, "h": 120, "text": "Soon", "modes": ["pre-race"]},
    {"type": "clock", "x": 1000, "y": 10, "w": 500, "h": 120, "modes": ["results", "pre-race"]},
]


def body(grid: dict[str, Any] | None = None, **block: Any) -> dict[str, Any]:
    b = {"type": "name", "x": 10, "y": 10, "w": 800, "h": 120, **block}
    out: dict[str, Any] = {"schema_version": 2, "name": "Layouts", "mode": "results", "blocks": [b]}
    if grid is not None:
        out["grid"] = grid
    return out


def test_modes_and_burst_settings_are_accepted() -> None:
    validate_template({**body(grid={"layout": "list", "max": 2, "dwell_s": 1}), "blocks": BLOCKS})
    validate_template(
        body(grid={"x": 0, "y": 0, "w": 900, "h": 600, "columns": 3, "layout": "cards", "max": 8})
    )
    validate_template(body(grid={"dwell_s": 60, "max": 5}, modes=["results"]))


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (body(modes=[]), "$.blocks[0].modes"),
        (body(modes=["finish"]), "$.blocks[0].modes[0]"),
        (body(modes="pre-race"), "$.blocks[0].modes"),
        (body(modes=["results", "results"]), "$.blocks[0].modes"),
        (body(grid={"layout": "table"}), "$.grid.layout"),
        (body(grid={"max": 1}), "$.grid.max"),
        (body(grid={"max": 9}), "$.grid.max"),
        (body(grid={"max": 4.5}), "$.grid.max"),
        (body(grid={"dwell_s": 0.5}), "$.grid.dwell_s"),
        (body(grid={"dwell_s": "3"}), "$.grid.dwell_s"),
    ],
)
def test_a_bad_value_names_its_field(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(TemplateInputError) as e:
        validate_template(doc)
    assert str(e.value).startswith(path + ":"), str(e.value)


async def test_the_api_refuses_a_bad_value_with_a_400_naming_it_and_stores_nothing(
    rc: RaceControl, api: Api
) -> None:
    before = await api.ok("GET", "/api/templates")
    for doc, path in [(body(grid={"max": 12}), "$.grid.max"), (body(modes=["idle"]), "$.blocks[0].modes[0]")]:
        status, answer = await api.call("POST", "/api/templates", doc)
        assert status == 400 and answer["error"].startswith(path + ":"), answer
    assert await api.ok("GET", "/api/templates") == before
    made = await api.ok("POST", "/api/templates", body(), 201)
    status, answer = await api.call("PUT", f"/api/templates/{made['id']}", body(grid={"layout": "grid"}))
    assert status == 400 and answer["error"].startswith("$.grid.layout:"), answer
    assert (await api.ok("GET", f"/api/templates/{made['id']}"))["version"] == made["version"]


async def test_layouts_and_the_burst_travel_in_the_portable_file(rc: RaceControl, api: Api) -> None:
    grid = {"x": 56, "y": 150, "w": 1328, "h": 874, "columns": 1, "layout": "list", "max": 6, "dwell_s": 2.5}
    made = await api.ok("POST", "/api/templates", {**body(grid=grid), "blocks": BLOCKS}, 201)
    exported = await api.ok("GET", f"/api/templates/{made['id']}/export")
    assert exported["template"]["blocks"] == BLOCKS and exported["template"]["grid"] == grid
    again = await api.ok("POST", "/api/templates/import", exported, 201)
    got = await api.ok("GET", f"/api/templates/{again['id']}")
    assert got["blocks"] == BLOCKS and got["grid"] == grid
    exported["template"]["grid"]["max"] = 0
    status, answer = await api.call("POST", "/api/templates/import", exported)
    assert status == 400 and "$.grid.max" in answer["error"], answer
