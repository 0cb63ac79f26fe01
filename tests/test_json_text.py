"""``store.json_text.dumps`` writes exactly ``json.dumps``'s text (the JSON columns' own), for
the rows an import writes and for any other JSON value."""

from __future__ import annotations

import json
import math

import pytest

from race_control.store import json_text

VALUES = [
    {},
    [],
    "",
    "plain",
    {"Bib": "00001", "First Name": "Zoë1", "Last Name": "Müller1", "Shirt Size": "S"},
    {'quote"': "back\\slash", "ctl": "\x00\x1f\x7f", "line": "a\u2028b", "emoji": "🏃", "": ""},
    {"n": 1, "f": 1.5, "big": 10**30, "neg": -0.0, "tiny": 1e-300, "t": True, "no": False, "none": None},
    {"nested": {"list": [1, "two", [3.0, {"x": None}]], "empty": {}}, 5: "int key", 2.5: "float key"},
    [math.inf, -math.inf, 1.0],
    3,
    2.5,
    None,
    True,
    'é"\n',
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_text_is_json_dumps_text(value: object) -> None:
    assert json_text.dumps(value) == json.dumps(value)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_compact_text_is_json_dumps_compact_text(value: object) -> None:
    assert json_text.dumps_compact(value) == json.dumps(value, separators=(",", ":"))


def test_nan_and_what_json_cannot_hold() -> None:
    assert json_text.dumps({"x": math.nan}) == json.dumps({"x": math.nan}) == '{"x": NaN}'
    with pytest.raises(TypeError):
        json_text.dumps({"x": object()})
    with pytest.raises(TypeError):
        json_text.dumps({(1, 2): "tuple key"})
    assert json_text.dumps_compact({"x": math.nan, "y": [1]}) == '{"x":NaN,"y":[1]}'
    with pytest.raises(TypeError):
        json_text.dumps_compact({"x": object()})


def test_dumps_all_is_dumps_of_each_in_order() -> None:
    assert json_text.dumps_all(iter(VALUES)) == [json.dumps(v) for v in VALUES]
    assert json_text.dumps_all([]) == []
    with pytest.raises(TypeError):
        json_text.dumps_all([{"x": 1}, {"x": object()}])
