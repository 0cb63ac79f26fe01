"""The template document's schema version, its upgrades and its JSON Schema.

``SCHEMA_VERSION`` is the version this code writes; ``upgrade`` turns a document of any older
version into the current one, one step at a time (``_UPGRADES[n]`` takes version n to n+1);
``check_schema`` validates a current document against resources/template.schema.json and
names the first bad field by its JSON path.  The history is in docs/templates.md.

Version 1 is what Race Control stored before versions existed: no ``schema_version`` field
(``format`` ``race-control/template@1``, or none).  Version 2 adds ``schema_version`` and image
references to the content-addressed image store (``/display/images/<sha256>.png``); every
version-1 document is a valid version-2 document once it says so, so the step only adds the
field.  ``format`` stays ``race-control/template@1``: it names the display contract the page
checks (docs/display-protocol.md#5), which did not change.  Fields added to version 2 since
are optional (a document without them is as valid as before): ``group``, ``locked``,
``style.overflow`` and ``modes`` on a block, the style panel's ``style.size``, ``weight``,
``align``, ``line_height``, ``case``, ``border``, ``radius``, ``shadow`` and ``opacity`` (each
bounded; a number that is not finite never gets this far: the API refuses it as not JSON), ``layout``, ``max`` and ``dwell_s`` in ``grid``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from race_control.paths import resources_dir
from race_control.templates.errors import TemplateInputError
from race_control.templates.fonts import check_fonts

if TYPE_CHECKING:  # (jsonschema is loaded when a template is first checked, not at start-up)
    import jsonschema

SCHEMA_VERSION = 2
SCHEMA_FILE = "template.schema.json"


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "schema_version": 2}


_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def version_of(doc: dict[str, Any]) -> int:
    """The schema version ``doc`` says it has (1 when it says nothing); InputError if unreadable."""
    v = doc.get("schema_version", 1)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise TemplateInputError(f"$.schema_version: must be a whole number from 1 to {SCHEMA_VERSION}")
    if v > SCHEMA_VERSION:
        raise TemplateInputError(
            f"$.schema_version: {v} is newer than this Race Control reads (up to {SCHEMA_VERSION}); "
            "update Race Control to open this template"
        )
    return v


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` at ``SCHEMA_VERSION`` (a new dict; ``doc`` is not changed)."""
    v = version_of(doc)
    out = copy.deepcopy(doc)
    while v < SCHEMA_VERSION:
        out = _UPGRADES[v](out)
        v += 1
    return out


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((resources_dir() / SCHEMA_FILE).read_text("utf-8"))
    return doc


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


def check_schema(doc: object) -> None:
    """TemplateInputError ``"$.blocks[2].x: ..."`` for the first place ``doc`` breaks the schema."""
    # a font that is not bundled: named with the list (the schema would say "not one of")
    from jsonschema.exceptions import best_match

    if isinstance(doc, dict):
        check_fonts(doc)
    error = best_match(_validator().iter_errors(doc))
    if error is None:
        return
    # best_match prefers the shallowest error; for oneOf/anyOf the deepest cause says more
    while error.context:
        error = best_match(error.context) or error
        if not error.context:
            break
    message = error.message
    if len(message) > 300:
        message = message[:300] + "…"
    raise TemplateInputError(f"{error.json_path}: {message}")
