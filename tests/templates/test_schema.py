"""The template document's schema: version 1 bodies (what was stored before versions) upgrade to
version 2 unchanged but for ``schema_version``; every document is checked against
resources/template.schema.json, and a break is named by its JSON path."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from race_control.paths import resources_dir
from race_control.templates.errors import TemplateInputError
from race_control.templates.schema import SCHEMA_VERSION, check_schema, upgrade
from race_control.templates.service import builtin, builtin_ids, validate_template


def v1_body() -> dict:
    """A template as Race Control 0.x stored it: format @1, no schema_version."""
    raw = json.loads((resources_dir() / "display" / "templates" / "results-classic.json").read_text("utf-8"))
    assert "schema_version" not in raw and raw["format"] == "race-control/template@1"
    return {**raw, "name": "Old finish"}


def test_the_schema_file_is_a_valid_json_schema_and_every_builtin_meets_it() -> None:
    doc = json.loads((resources_dir() / "template.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["properties"]["schema_version"] == {
        **doc["properties"]["schema_version"],
        "const": SCHEMA_VERSION,
    }
    for tid in builtin_ids():
        t = builtin(tid)
        assert t is not None and t["schema_version"] == SCHEMA_VERSION
        jsonschema.validate(t, doc)


def test_a_version_1_body_upgrades_to_version_2_keeping_everything_else() -> None:
    old = v1_body()
    kept = copy.deepcopy(old)
    new = validate_template(old)
    assert old == kept  # the input is not changed
    assert new == {**kept, "schema_version": 2}
    assert upgrade({"blocks": []}) == {"blocks": [], "schema_version": 2}
    assert validate_template(new) == new  # a version 2 document stays as it is


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (3, "newer than this Race Control reads"),
        (0, "whole number"),
        ("2", "whole number"),
        (True, "whole number"),
    ],
)
def test_a_schema_version_this_code_cannot_read_is_refused(version: object, message: str) -> None:
    with pytest.raises(TemplateInputError, match=rf"^\$\.schema_version: .*{message}"):
        validate_template({**v1_body(), "schema_version": version})


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda t: t["blocks"][2].__setitem__("x", 20000), r"\$\.blocks\[2\]\.x: 20000 is greater than"),
        (
            lambda t: t["blocks"][9]["style"].__setitem__("background", "url(x)"),
            r"\$\.blocks\[9\]\.style\.background",
        ),
        (lambda t: t.__setitem__("idle_text", {"a": 1}), r"\$\.idle_text: "),
        (
            lambda t: t["blocks"].append({"type": "image", "x": 1}),
            r"\$\.blocks\[10\]: 'src' is a required property",
        ),
        (lambda t: t.__setitem__("mode", "finish"), r"\$\.mode: 'finish' is not one of"),
    ],
    ids=["number", "colour", "idle-text", "image-without-src", "mode"],
)
def test_the_json_schema_names_the_bad_field_by_its_json_path(change, path: str) -> None:  # type: ignore[no-untyped-def]
    t = upgrade(v1_body())
    change(t)
    with pytest.raises(TemplateInputError, match=path):
        check_schema(t)


def test_saving_runs_the_json_schema_too() -> None:
    """What only the schema says (idle_text is text) is refused on save, with its path."""
    with pytest.raises(TemplateInputError, match=r"^\$\.idle_text: "):
        validate_template({**v1_body(), "idle_text": ["not", "text"]})


NEW_STYLE = {
    "size": 72,
    "weight": 300,
    "align": "right",
    "line_height": 1.5,
    "case": "title",
    "border": {"width": 6, "color": "#ff0000"},
    "radius": 24,
    "shadow": {"x": 4, "y": -6, "blur": 12, "color": "rgba(0,0,0,0.5)"},
    "opacity": 0.5,
}


@pytest.mark.parametrize(
    "style",
    [
        NEW_STYLE,
        {"shadow": "soft", "weight": "bold", "size": 6, "line_height": 0.8, "opacity": 0},
        {"shadow": "strong", "weight": 900, "size": 1200, "line_height": 3, "opacity": 1, "case": "upper"},
        {"shadow": "none", "border": {"width": 0}, "radius": 200, "case": "none"},
        {"case": "lower", "border": {"width": 40, "color": "transparent"}, "weight": 100, "align": "center"},
    ],
)
def test_the_style_fields_of_the_style_panel_are_accepted(style: dict) -> None:
    t = upgrade(v1_body())
    t["blocks"][2]["style"] = style
    assert validate_template(t)["blocks"][2]["style"] == style


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("size", 5, r"size: 5 is less than"),
        ("size", 1e300, r"size: 1e\+300 is greater than"),
        ("size", "72px", r"size: '72px' is not of type"),
        ("weight", 950, r"weight: 950 is greater than"),
        ("weight", 450.5, r"weight: 450.5 is not of type 'integer'"),
        ("weight", "heavy", r"weight: 'heavy' is not"),
        ("align", "justify", r"align: 'justify' is not one of"),
        ("line_height", 0.5, r"line_height: 0.5 is less than"),
        ("line_height", 3.5, r"line_height: 3.5 is greater than"),
        ("case", "UPPER", r"case: 'UPPER' is not one of"),
        ("border", {"width": 41}, r"border\.width: 41 is greater than"),
        ("border", {"width": 2, "color": "red;x:y"}, r"border\.color: "),
        ("border", {"color": "#fff"}, r"border: 'width' is a required property"),
        ("border", {"width": 2, "style": "dashed"}, r"border: Additional properties"),
        ("radius", -1, r"radius: -1 is less than"),
        ("radius", 201, r"radius: 201 is greater than"),
        ("shadow", "huge", r"shadow: 'huge' is not one of"),
        ("shadow", {"x": 1, "y": 2, "blur": 1e9}, r"shadow\.blur: 1000000000.0 is greater than"),
        ("shadow", {"x": 101, "y": 0, "blur": 0}, r"shadow\.x: 101 is greater than"),
        ("shadow", {"x": 1, "y": 2, "blur": 3, "color": "url(x)"}, r"shadow\.color: "),
        ("opacity", 1.5, r"opacity: 1.5 is greater than"),
        ("opacity", -0.1, r"opacity: -0.1 is less than"),
    ],
)
def test_a_bad_style_field_is_refused_naming_its_path(key: str, value: object, path: str) -> None:
    t = upgrade(v1_body())
    t["blocks"][2].setdefault("style", {})[key] = value
    with pytest.raises(TemplateInputError, match=r"^\$\.blocks\[2\]\.style\." + path):
        validate_template(t)


def test_jsonschema_is_loaded_by_the_first_check_not_by_start_up() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import race_control.app\n"
        "print('jsonschema' in sys.modules)\n"
        "from race_control.templates.schema import check_schema\n"
        "try:\n"
        "    check_schema({'schema_version': 2})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "print('jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "TemplateInputError", "True"]
