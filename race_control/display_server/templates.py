"""Display templates: built-in JSON templates shipped in ``resources/display/templates``.

Templates are data, never code; the page renders them with ``textContent`` only.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from race_control.errors import InputError
from race_control.paths import resources_dir

DEFAULT_BY_MODE = {"results": "results-classic", "pre-race": "pre-race-classic"}


def _dir():  # type: ignore[no-untyped-def]
    return resources_dir() / "display" / "templates"


@lru_cache(maxsize=64)
def builtin(template_id: str) -> dict[str, Any] | None:
    path = _dir() / f"{template_id}.json"
    if not template_id.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        return None
    return json.loads(path.read_text("utf-8"))


def builtin_ids() -> list[str]:
    return sorted(p.stem for p in _dir().glob("*.json"))


def resolve(template_id: str | None, mode: str) -> dict[str, Any]:
    """The template a session shows; a missing built-in falls back to a minimal one."""
    tid = template_id or DEFAULT_BY_MODE.get(mode, "results-classic")
    found = builtin(tid)
    if found is not None:
        return found
    return {"format": "race-control/template@1", "name": tid, "mode": mode, "blocks": []}


def check_exists(template_id: str | None) -> None:
    if template_id is not None and builtin(template_id) is None:
        raise InputError(
            f"'template_id' {template_id[:64]!r} is not a known template ({', '.join(builtin_ids())})"
        )
