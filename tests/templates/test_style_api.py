"""The style panel's fields (size, weight, align, line height, case, border, radius, shadow,
opacity) through the API: saved and read back as given, kept by export -> import, and a bad
value refused with a 400 naming its JSON path and nothing saved."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import Api
from tests.templates.test_schema import NEW_STYLE

NOT_STORED = ("id", "version")


async def styled(api: Api) -> dict[str, Any]:
    base = await api.ok("GET", "/api/templates/results-classic")
    t = {k: v for k, v in copy.deepcopy(base).items() if k not in NOT_STORED}
    t["name"] = "Styled finish"
    t["blocks"][2]["style"] = dict(NEW_STYLE)
    t["blocks"][3]["style"] = {**t["blocks"][3].get("style", {}), "shadow": "soft", "border": {"width": 3}}
    return t


async def test_style_fields_are_saved_and_survive_export_then_import(api: Api) -> None:
    t = await styled(api)
    saved = await api.ok("POST", "/api/templates", t, 201)
    got = await api.ok("GET", f"/api/templates/{saved['id']}")
    assert got["blocks"][2]["style"] == NEW_STYLE
    assert (
        got["blocks"][3]["style"]["border"] == {"width": 3} and got["blocks"][3]["style"]["shadow"] == "soft"
    )
    exported = await api.ok("GET", f"/api/templates/{saved['id']}/export")
    again = await api.ok("POST", "/api/templates/import", exported, 201)
    assert again["blocks"][2]["style"] == NEW_STYLE
    assert {k: v for k, v in again.items() if k not in NOT_STORED} == {
        k: v for k, v in got.items() if k not in NOT_STORED
    }


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("opacity", 2, "$.blocks[2].style.opacity: 2 is greater than"),
        ("shadow", {"x": 1, "y": 1, "blur": 900}, "$.blocks[2].style.shadow.blur: 900 is greater than"),
        ("border", {"width": 2, "color": "red}"}, "$.blocks[2].style.border.color"),
        ("case", "shout", "$.blocks[2].style.case: 'shout' is not one of"),
    ],
)
async def test_a_bad_style_field_is_a_400_naming_its_path_and_saves_nothing(
    api: Api, key: str, value: object, path: str
) -> None:
    before = await api.ok("GET", "/api/templates")
    t = await styled(api)
    t["blocks"][2]["style"][key] = value
    status, body = await api.call("POST", "/api/templates", t)
    assert status == 400 and body["error"].startswith(path), body
    f = await api.ok("GET", "/api/templates/results-classic/export")
    f["template"] = t
    status, body = await api.call("POST", "/api/templates/import", f)
    assert status == 400 and path in body["error"], body
    assert await api.ok("GET", "/api/templates") == before


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ("1e400", "out of range"),
    ],
)
async def test_a_style_number_that_is_not_finite_is_a_400(api: Api, number: str, reason: str) -> None:
    t = await styled(api)
    t["blocks"][2]["style"]["line_height"] = "@@"
    raw = json.dumps(t).replace('"@@"', number).encode()
    status, body = await api.call("POST", "/api/templates", raw=raw)
    assert status == 400 and reason in body["error"], body
