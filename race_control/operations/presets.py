"""Preset actions: save a session's set-up as a named preset, list them, create a session from one.

A preset (``sessions/presets.py``) is shared with the partner's other laptops by central
sync like a template.  Each save is one unit of work; creating a session from a preset is
the ordinary ``sessions.create`` with the preset's fields under the caller's.
"""

from __future__ import annotations

from typing import Any

from race_control.operations.results import SessionResult
from race_control.operations.sessions import SessionOperations
from race_control.sessions.errors import SessionInputError
from race_control.sessions.presets import KINDS, PresetService
from race_control.sessions.service import SessionService
from race_control.store.database import Store
from race_control.store.unit_of_work import ChangeListener, UnitOfWork

SAVE_FIELDS = ("name", "kind", "session_id", "body")


class PresetOperations:
    def __init__(
        self,
        store: Store,
        presets: PresetService,
        sessions: SessionService,
        session_ops: SessionOperations,
        changes: list[ChangeListener],
    ) -> None:
        self._store = store
        self._presets = presets
        self._sessions = sessions
        self._session_ops = session_ops
        self._changes = changes

    def list(self) -> list[dict[str, Any]]:
        return self._presets.list()

    def get(self, preset_id: str) -> dict[str, Any]:
        return self._presets.get(preset_id)

    async def save(self, body: object) -> dict[str, Any]:
        """``{"name", "kind": "session"|"rules", "session_id"}``: that session's set-up (kind
        session: mode, template, rules, leaderboard size; kind rules: its rules) as a new
        preset; or ``{"name", "kind", "body"}`` with the preset's body itself."""
        if not isinstance(body, dict):
            raise SessionInputError("body must be a JSON object with 'name', 'kind' and 'session_id'")
        unknown = sorted(str(k)[:40] for k in body if k not in SAVE_FIELDS)
        if unknown:
            raise SessionInputError(
                f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a preset; known: {', '.join(SAVE_FIELDS)}"
            )
        kind = body.get("kind")
        if kind not in KINDS:
            raise SessionInputError(f"'kind' must be one of {', '.join(KINDS)}")
        if ("session_id" in body) == ("body" in body):
            raise SessionInputError("give either 'session_id' (save that session's set-up) or 'body'")
        content = body.get("body")
        if "session_id" in body:
            sid = body["session_id"]
            if not isinstance(sid, str):
                raise SessionInputError("'session_id' must be a display session id")
            s = self._sessions.get(sid)
            content = {"rules": s.rules.to_json()}
            if kind == "session":
                content.update(mode=s.mode, template_id=s.template_id, leaderboard_top=s.leaderboard_top)
        async with self._presets.lock:
            uow = UnitOfWork(self._store, self._changes)
            saved = self._presets.plan_save(uow, kind, body.get("name"), content)
            await uow.commit()
        return saved

    async def create_session(self, preset_id: str, body: object) -> SessionResult:
        """A new display session set up from the preset; ``body`` (``event_id``, ``name``, and
        any session field) is the ordinary create body and wins over the preset's fields."""
        preset = self._presets.get(preset_id)
        if not isinstance(body, dict):
            raise SessionInputError("body must be a JSON object with 'event_id'")
        fields = dict(preset["body"])
        if preset["kind"] == "rules":
            fields.setdefault("mode", "results")
        return await self._session_ops.create({**fields, **body})
