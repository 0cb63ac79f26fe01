"""The builder's optional block fields in schema version 2: ``group`` (blocks that move as one),
``locked`` and ``style.overflow`` (shrink / ellipsis / wrap).  Old documents stay valid; a bad
value is a 400 naming its JSON path, and nothing is stored."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.templates.errors import TemplateInputError
from race_control.templates.service import builtin, builtin_ids, validate_template
from tests.conftest import Api


def body(**block: Any) -> dict[str, Any]:
    b = {"type": "name", "x": 10, "y": 10, "w": 800, "h": 120, **block}
    return {"schema_version": 2, "name": "Fields", "mode": "results", "blocks": [b]}


def test_group_locked_and_overflow_are_accepted() -> None:
    for mode in ("auto", "shrink", "ellipsis", "wrap"):
        validate_template(body(group="g-1_a", locked=True, style={"overflow": mode, "size": 90}))


def test_old_documents_without_the_fields_stay_valid() -> None:
    for tid in builtin_ids():
        t = copy.deepcopy(builtin(tid))
        assert t is not None
        for key in ("id", "version", "builtin"):
            t.pop(key, None)
        validate_template(t)


@pytest.mark.parametrize(
    ("block", "path"),
    [
        ({"group": ""}, "$.blocks[0].group"),
        ({"group": "has space"}, "$.blocks[0].group"),
        ({"group": "x" * 41}, "$.blocks[0].group"),
        ({"group": 7}, "$.blocks[0].group"),
        ({"locked": "yes"}, "$.blocks[0].locked"),
        ({"style": {"overflow": "scroll"}}, "$.blocks[0].style.overflow"),
        ({"style": {"overflow": True}}, "$.blocks[0].style.overflow"),
    ],
)
def test_a_bad_value_names_its_field(block: dict[str, Any], path: str) -> None:
    with pytest.raises(TemplateInputError) as e:
        validate_template(body(**block))
    assert str(e.value).startswith(path + ":"), str(e.value)


async def test_the_api_refuses_a_bad_overflow_with_a_400_and_stores_nothing(
    rc: RaceControl, api: Api
) -> None:
    before = await api.ok("GET", "/api/templates")
    status, answer = await api.call("POST", "/api/templates", body(style={"overflow": "scroll"}))
    assert status == 400 and answer["error"].startswith("$.blocks[0].style.overflow:"), answer
    assert await api.ok("GET", "/api/templates") == before
    good = await api.ok("POST", "/api/templates", body(group="g1", style={"overflow": "wrap"}), 201)
    saved = await api.ok("GET", f"/api/templates/{good['id']}")
    assert saved["blocks"][0]["group"] == "g1" and saved["blocks"][0]["style"]["overflow"] == "wrap"


async def test_groups_locks_and_overflow_travel_in_the_portable_file(rc: RaceControl, api: Api) -> None:
    blocks = [
        {
            "type": "name",
            "x": 10,
            "y": 10,
            "w": 800,
            "h": 120,
            "group": "g1",
            "style": {"overflow": "shrink"},
        },
        {"type": "bib", "x": 10, "y": 140, "w": 300, "h": 90, "group": "g1", "locked": True},
        {"type": "text", "x": 900, "y": 10, "w": 600, "h": 90, "text": "Hi", "style": {"overflow": "wrap"}},
    ]
    made = await api.ok("POST", "/api/templates", {**body(), "blocks": blocks}, 201)
    exported = await api.ok("GET", f"/api/templates/{made['id']}/export")
    assert exported["template"]["blocks"] == blocks
    again = await api.ok("POST", "/api/templates/import", exported, 201)
    assert (await api.ok("GET", f"/api/templates/{again['id']}"))["blocks"] == blocks
    exported["template"]["blocks"][1]["group"] = "not an id"
    status, answer = await api.call("POST", "/api/templates/import", exported)
    assert status == 400 and "blocks[1].group" in answer["error"], answer
