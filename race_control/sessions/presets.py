"""Presets: a named set-up to create display sessions from, shared with the partner's laptops.

Two kinds (the central ``presets.kind``): ``rules`` holds a session's crossing rules only;
``session`` holds what a new session is set up with — mode, template, rules and leaderboard
size (never its event, name, streams or schedule: those belong to one race).  A preset is
saved from a session (``operations.presets``) and a session is created from one; presets
of other laptops come down with the pull (``plan_remote``).

Every change is planned into a ``UnitOfWork``; the cache changes after its commit.  Loop
rule: runs on the event loop, SQL on the store's thread; holders of ``lock`` plan one at a time.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from sqlalchemy import Connection, select

from race_control.ids import new_id
from race_control.sessions.errors import SessionInputError, SessionNotFound
from race_control.sessions.live import MODES
from race_control.sessions.rules import CrossingRules
from race_control.store.database import Store
from race_control.store.models import Preset, now
from race_control.store.unit_of_work import UnitOfWork

KINDS = ("session", "rules")
# what a preset of each kind holds (its body's keys)
BODY_FIELDS = {"session": ("mode", "template_id", "rules", "leaderboard_top"), "rules": ("rules",)}


def validate_preset(kind: object, name: object, body: object) -> tuple[str, str, dict[str, Any]]:
    """(kind, name, clean body), or ``SessionInputError`` naming the problem."""
    if kind not in KINDS:
        raise SessionInputError(f"'kind' must be one of {', '.join(KINDS)}")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise SessionInputError("'name' must be 1-200 characters")
    if not isinstance(body, dict):
        raise SessionInputError("a preset's 'body' must be an object")
    known = BODY_FIELDS[str(kind)]
    unknown = sorted(str(k)[:40] for k in body if k not in known)
    if unknown:
        raise SessionInputError(
            f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a {kind} preset; known: {', '.join(known)}"
        )
    clean: dict[str, Any] = {"rules": CrossingRules.from_json(body.get("rules")).to_json()}
    if kind == "session":
        if body.get("mode", "results") not in MODES:
            raise SessionInputError(f"'mode' must be one of {', '.join(MODES)}")
        tid = body.get("template_id")
        if tid is not None and (not isinstance(tid, str) or not tid or len(tid) > 64):
            raise SessionInputError("'template_id' must be a template id string or null")
        top = body.get("leaderboard_top", 0)
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 100:
            raise SessionInputError("'leaderboard_top' must be a whole number 0-100")
        clean.update(mode=body.get("mode", "results"), template_id=tid, leaderboard_top=top)
    return str(kind), name.strip(), clean


class PresetService:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._presets: dict[str, dict[str, Any]] = {}
        self.lock = asyncio.Lock()

    async def load(self) -> None:
        def _q(conn: Connection) -> list[Any]:
            return list(conn.execute(select(Preset.__table__)).mappings())

        for row in await self._store.run(_q):
            self._presets[row["id"]] = _preset(row)

    def list(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(p) for p in sorted(self._presets.values(), key=lambda p: (p["name"], p["id"]))]

    def get(self, preset_id: str) -> dict[str, Any]:
        found = self._presets.get(preset_id)
        if found is None:
            raise SessionNotFound(f"preset {preset_id[:64]!r} does not exist")
        return copy.deepcopy(found)

    def plan_save(self, uow: UnitOfWork, kind: object, name: object, body: object) -> dict[str, Any]:
        """Queue a new preset; returns it as it will be.  Caller holds ``lock``."""
        k, n, clean = validate_preset(kind, name, body)
        stamp = now()
        preset = {
            "id": new_id(),
            "kind": k,
            "name": n,
            "body": clean,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self._plan_put(uow, preset, "created")
        return copy.deepcopy(preset)

    def plan_remote(self, uow: UnitOfWork, row: dict[str, Any], deleted: bool) -> str | None:
        """Queue another laptop's preset (a central ``presets`` row) or its delete (the preset
        goes).  Validated like a save.  Returns the action, None if nothing to do."""
        pid = str(row["id"])
        if deleted:
            if pid not in self._presets:
                return None
            uow.write(_delete_preset, pid)
            uow.record("preset", pid, "deleted")
            uow.after_commit(lambda: self._presets.pop(pid, None))
            return "deleted"
        k, n, clean = validate_preset(row["kind"], row["name"], row["body"])
        preset = {
            "id": pid,
            "kind": k,
            "name": n,
            "body": clean,
            "created_at": float(row["created_at"]),
            "updated_at": float(row["updated_at"]),
        }
        action = "updated" if pid in self._presets else "created"
        self._plan_put(uow, preset, action)
        return action

    def _plan_put(self, uow: UnitOfWork, preset: dict[str, Any], action: str) -> None:
        uow.write(_write_preset, preset)
        uow.record("preset", preset["id"], action, preset_kind=preset["kind"], name=preset["name"])
        uow.after_commit(lambda: self._presets.__setitem__(preset["id"], preset))


def _preset(row: Any) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "kind", "name", "body", "created_at", "updated_at")}


def _write_preset(conn: Connection, preset: dict[str, Any]) -> None:
    t = Preset.__table__
    values = {k: v for k, v in preset.items() if k not in ("id", "created_at")}
    if not conn.execute(t.update().where(t.c.id == preset["id"]).values(**values)).rowcount:
        conn.execute(t.insert().values(**preset))


def _delete_preset(conn: Connection, preset_id: str) -> None:
    t = Preset.__table__
    conn.execute(t.delete().where(t.c.id == preset_id))
