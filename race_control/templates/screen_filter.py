"""What leaves for a screen: only the participant fields its session's template shows.

``screen_payload_filter`` builds the Hub's ``payload_filter(session_id, payload)``.  It is
applied where messages are encoded for screens (live, catch-up from the recent log or the
store, the hello's leaderboard, control messages); the stored display events keep every field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from race_control.errors import NotFound
from race_control.templates.service import DEFAULT_BY_MODE, SCREEN_MINIMUM, TemplateService, template_fields

PayloadFilter = Callable[[str, dict[str, Any]], dict[str, Any]]
_FINISHER_TYPES = ("finisher", "correction")


def keep_fields(payload: dict[str, Any], fields: set[str] | frozenset[str]) -> dict[str, Any]:
    """``payload`` with only ``fields`` (finisher/correction), or its leaderboard entries with
    only ``fields``; any other message unchanged."""
    kind = payload.get("type")
    if kind in _FINISHER_TYPES:
        return {k: v for k, v in payload.items() if k in fields}
    if kind == "leaderboard":
        return _board(payload, fields)
    if kind == "hello" and isinstance(payload.get("leaderboard"), dict):
        return {**payload, "leaderboard": _board(payload["leaderboard"], fields)}
    return payload


def _board(board: dict[str, Any], fields: set[str] | frozenset[str]) -> dict[str, Any]:
    def entries(rows: Any) -> Any:
        if not isinstance(rows, list):
            return rows
        return [{k: v for k, v in e.items() if k in fields} if isinstance(e, dict) else e for e in rows]

    out = {**board, "entries": entries(board.get("entries"))}
    if isinstance(board.get("divisions"), dict):
        out["divisions"] = {d: entries(rows) for d, rows in board["divisions"].items()}
    return out


def screen_payload_filter(session_of: Callable[[str], Any], templates: TemplateService) -> PayloadFilter:
    """The filter for screens of a session: its current template's fields.  A pre-race
    template shows no finisher, but the first finisher turns the page to results with the
    results template (the built-in one), so that template's fields are used then."""
    cache: dict[tuple[str | None, str, int], set[str]] = {}

    def fields_for(session_id: str) -> set[str] | None:
        try:
            session = session_of(session_id)
        except NotFound:
            return None
        tid, mode = session.template_id, session.mode
        custom = templates._custom.get(tid) if tid else None  # no copy: this runs per message
        key = (tid, mode, custom["version"] if custom else 0)
        found = cache.get(key)
        if found is None:
            template = templates.resolve(tid, mode)
            if template.get("mode") == "pre-race":
                template = templates.resolve(DEFAULT_BY_MODE["results"], "results")
            found = cache[key] = template_fields(template)
            if len(cache) > 256:
                cache.pop(next(iter(cache)))
        return found

    def payload_filter(session_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("type") not in (*_FINISHER_TYPES, "leaderboard", "hello"):
            return payload
        fields = fields_for(session_id)
        # no such session: nothing beyond what every page needs leaves
        return keep_fields(payload, SCREEN_MINIMUM if fields is None else fields)

    return payload_filter
