"""Display templates: built-in JSON files plus the timer's own, stored in the local database.

Templates are data, never code: this module validates every custom template
(known block types, numbers where numbers belong, colours and image sources from a
strict whitelist, then the JSON Schema of resources/template.schema.json), and the page
renders them with ``textContent`` only.  Documents of an older schema version are upgraded
first (``schema.upgrade``; docs/templates.md).  Custom templates are versioned: each save
bumps ``version`` and keeps that version's body in ``template_versions``.  A save is planned
into a ``UnitOfWork``; the cached template changes only after its transaction committed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from race_control.ids import new_id
from race_control.paths import resources_dir
from race_control.store.database import Store
from race_control.store.models import Template, now
from race_control.store.unit_of_work import UnitOfWork
from race_control.templates import history
from race_control.templates.errors import TemplateInputError, TemplateNotFound
from race_control.templates.fonts import drop_unknown_fonts
from race_control.templates.schema import check_schema, upgrade

log = logging.getLogger("race_control.templates")

DEFAULT_BY_MODE = {"results": "results-classic", "pre-race": "pre-race-classic"}
FORMAT = "race-control/template@1"
BLOCK_TYPES = {
    "name",
    "bib",
    "time",
    "city_state",
    "message",
    "division",
    "place",
    "clock",
    "countdown",
    "leaderboard",
    "text",
    "image",
    "slides",
    "team",
    "recent",
    "qr",
}
COLOR_RE = re.compile(r"^(#[0-9a-fA-F]{3,8}|rgba?\(\s*[0-9.,\s%]+\)|transparent)$")
MAX_TEMPLATE_BYTES = 4_000_000  # images inline as data: URLs
# what a template holds at its top level (the page reads these; id and version are the store's)
TEMPLATE_FIELDS = (
    "id", "version", "schema_version", "format", "name", "mode", "canvas", "theme", "grid", "portrait", "idle_text", "blocks",
)  # fmt: skip
MAX_DEPTH = 16  # a template nests 5 deep (blocks → block → items → item → text)
MAX_INT = 2**53  # the page reads numbers as JavaScript doubles


def _dir() -> Path:
    return resources_dir() / "display" / "templates"


@lru_cache(maxsize=64)
def builtin(template_id: str) -> dict[str, Any] | None:
    if not template_id.replace("-", "").replace("_", "").isalnum():
        return None
    path = _dir() / f"{template_id}.json"
    if not path.is_file():
        return None
    return upgrade(json.loads(path.read_text("utf-8")))


def builtin_ids() -> list[str]:
    return sorted(p.stem for p in _dir().glob("*.json"))


# Finisher/correction/leaderboard-entry keys a screen always gets, whatever its template: the
# page's own logic reads them (rc-link.js/rc-queue.js: type, seq, corrects_seq for ordering,
# dedupe and corrections; known for "Bib N"; read_at for the latency ack; nameFor() falls back
# from name to first/last name to bib; the recent list shows name, bib and time) and the
# display protocol names them; plus the result's own timing, which says nothing about the
# runner (time_kind, elapsed, chip/gun time, division_place), and ``replay`` (a replayed finish: the
# page's REPLAY badge).  Every other field (city,
# division, message, team, age, gender, ...) is sent only if a block shows it (team: a team block).
SCREEN_MINIMUM = frozenset(
    {"type", "seq", "corrects_seq", "bib", "name", "first_name", "last_name", "time", "location",
     "place", "known", "read_at", "time_kind", "elapsed", "chip_time", "gun_time", "division_place",
     "replay"}
)  # fmt: skip
# what each block type shows of a finisher (rc-cards.js renderSingle / renderBoards)
_BLOCK_FIELDS: dict[str, frozenset[str]] = {
    "name": frozenset({"name", "first_name", "last_name", "bib"}),
    "bib": frozenset({"bib"}),
    "time": frozenset({"time"}),
    "city_state": frozenset({"city", "state", "country"}),
    "message": frozenset({"message"}),
    "division": frozenset({"division"}),
    "place": frozenset({"place"}),
    "leaderboard": frozenset({"name", "first_name", "last_name", "bib", "time", "place"}),
    "team": frozenset({"team"}),
    "recent": frozenset({"name", "first_name", "last_name", "bib", "time", "place"}),
}
# the multi-up grid a burst of finishers is shown in (rc-cards.js renderGrid): name, bib,
# city/state/country, division and time on every card
_GRID_FIELDS = frozenset(
    {"name", "first_name", "last_name", "bib", "city", "state", "country", "division", "time"}
)


def template_fields(template: dict[str, Any]) -> set[str]:
    """The participant fields a screen showing ``template`` needs: SCREEN_MINIMUM plus what its
    blocks display (a leaderboard filtered by division also reads ``division``) and, when it
    has a ``grid``, what the grid's cards display.  Only a ``team`` block shows ``team``; no block
    shows ``age`` or ``gender``: screens never get them (the operator's API and history keep everything)."""
    fields = set(SCREEN_MINIMUM)
    blocks = template.get("blocks")
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        fields |= _BLOCK_FIELDS.get(str(block.get("type")), frozenset())
        if block.get("type") == "leaderboard" and block.get("division"):
            fields.add("division")
    if isinstance(template.get("grid"), dict):
        fields |= _GRID_FIELDS
    return fields


def validate_template(body: object) -> dict[str, Any]:
    """A clean copy of ``body`` if it is a valid template; InputError naming the problem otherwise."""
    if not isinstance(body, dict):
        raise TemplateInputError("a template must be a JSON object")
    unknown = sorted(str(k)[:40] for k in body if k not in TEMPLATE_FIELDS)
    if unknown:
        raise TemplateInputError(
            f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a template; "
            f"known: {', '.join(TEMPLATE_FIELDS)}"
        )
    _check_values(body)  # before json.dumps: no NaN (every screen's JSON.parse fails on it)
    if len(json.dumps(body)) > MAX_TEMPLATE_BYTES:
        raise TemplateInputError(f"the template is larger than {MAX_TEMPLATE_BYTES // 1_000_000} MB")
    t = upgrade(body)  # a copy at SCHEMA_VERSION
    t["format"] = FORMAT
    if not isinstance(t.get("mode"), str) or t["mode"] not in DEFAULT_BY_MODE:
        raise TemplateInputError("'mode' must be 'results' or 'pre-race'")
    name = t.get("name", "")
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        raise TemplateInputError("'name' must be 1-120 characters")
    for key, fields, low in (
        ("canvas", ("width", "height"), 1),
        ("grid", ("x", "y", "w", "h", "columns"), -5000),
    ):
        part = t.get(key, {})
        if not isinstance(part, dict):
            raise TemplateInputError(f"'{key}' must be an object")
        for field in fields:
            v = part.get(field, low)
            if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= 10000:
                raise TemplateInputError(f"'{key}.{field}' must be a number from {low} to 10000")
    _check_colors(t.get("theme", {}), "theme")
    bg = t.get("theme", {}).get("background_image")
    if bg is not None:
        _check_image(bg, "theme.background_image")
    blocks = t.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > 100:
        raise TemplateInputError("'blocks' must be a list of at most 100 blocks")
    for i, b in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(b, dict) or not isinstance(b.get("type"), str) or b["type"] not in BLOCK_TYPES:
            raise TemplateInputError(f"{where}: 'type' must be one of {', '.join(sorted(BLOCK_TYPES))}")
        for key in ("x", "y", "w", "h"):
            v = b.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, int | float) or not -5000 <= v <= 10000:
                raise TemplateInputError(f"{where}: '{key}' must be a number of canvas pixels")
        _check_colors(b.get("style", {}), f"{where}.style")
        for key in ("text", "prefix", "label", "title", "empty_text"):
            if key in b and (not isinstance(b[key], str) or len(b[key]) > 500):
                raise TemplateInputError(f"{where}: '{key}' must be text of at most 500 characters")
        if "rotate" in b:
            rot = b["rotate"]
            if (
                not isinstance(rot, list)
                or len(rot) > 200
                or not all(isinstance(m, str) and len(m) <= 300 for m in rot)
            ):
                raise TemplateInputError(
                    f"{where}: 'rotate' must be a list of messages of at most 300 characters"
                )
        if b["type"] == "image":
            _check_image(b.get("src"), f"{where}.src")
        if b["type"] == "slides":
            _check_slides(b.get("items", []), where)
    check_schema(t)
    return t


def _known_fonts(doc: dict[str, Any], what: str) -> dict[str, Any]:
    """A template stored or synced before fonts were checked may name one that is not bundled:
    it falls back to the default (logged) rather than the whole template being refused."""
    doc = copy.deepcopy(doc)  # the row's own body stays as it was
    for where in drop_unknown_fonts(doc):
        log.warning("%s: %s named a font that is not bundled; the default font is used", what, where)
    return doc


def _check_values(body: dict[str, Any]) -> None:
    """Every value is JSON a browser reads back: finite numbers (no NaN/Infinity), integers
    within a double's exact range, no nesting deeper than MAX_DEPTH, text keys.  The error
    names where (``blocks[2].style.size``)."""
    todo: list[tuple[object, str, int]] = [(body, "", 0)]
    while todo:
        value, where, depth = todo.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise TemplateInputError(f"'{where}' must be a finite number, not {value}")
        if isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT <= value <= MAX_INT:
            raise TemplateInputError(f"'{where}' is a number out of range")
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            raise TemplateInputError(f"'{where}' nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise TemplateInputError(f"'{where}' has a key that is not text")
                todo.append((v, f"{where}.{k[:40]}" if where else k[:40], depth + 1))
        elif isinstance(value, list):
            todo.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))


def _check_slides(items: object, where: str) -> None:
    """Pre-race slides: text and sponsor images (same image rules as everywhere)."""
    if not isinstance(items, list) or len(items) > 50:
        raise TemplateInputError(f"{where}: 'items' must be a list of at most 50 slides")
    for j, item in enumerate(items):
        if isinstance(item, str):
            continue
        if not isinstance(item, dict):
            raise TemplateInputError(f"{where}.items[{j}] must be text or an object with title, text, image")
        for key in ("title", "text"):
            if key in item and (not isinstance(item[key], str) or len(item[key]) > 600):
                raise TemplateInputError(
                    f"{where}.items[{j}]: '{key}' must be text of at most 600 characters"
                )
        if item.get("image") is not None:
            _check_image(item["image"], f"{where}.items[{j}].image")


def _check_colors(style: object, where: str) -> None:
    if not isinstance(style, dict):
        raise TemplateInputError(f"'{where}' must be an object")
    for key in ("color", "background", "foreground", "accent"):
        value = style.get(key)
        if value is not None and (not isinstance(value, str) or not COLOR_RE.match(value.strip())):
            raise TemplateInputError(f"'{where}.{key}' must be a colour like #ffd21f")


def _check_image(src: object, where: str) -> None:
    ok = isinstance(src, str) and (
        (src.startswith("/") and not src.startswith("//"))
        or re.match(r"^data:image/(png|jpeg|gif|webp);base64,", src)
    )
    if not ok:
        raise TemplateInputError(
            f"'{where}' must be a /path on this server or a data:image/png|jpeg|gif|webp;base64 URL"
        )


def template_row(template_id: str, template: dict[str, Any]) -> dict[str, Any]:
    """A custom template's ``templates`` columns: the ONE mapping save and load share.

    ``body`` holds everything the timer designed; ``id`` and ``version`` are columns of
    their own, and ``name``/``mode`` are copied out of the body for listing."""
    body = {k: v for k, v in template.items() if k not in ("id", "version")}
    return {
        "id": template_id,
        "name": body["name"],
        "mode": body["mode"],
        "version": template["version"],
        "body": body,
    }


def template_from_row(row: Any) -> dict[str, Any]:
    """The template as the service holds it, from a ``templates`` row (inverse of ``template_row``)."""
    return {**row["body"], "id": row["id"], "version": row["version"]}


class TemplateService:
    """Built-in templates plus custom ones in the store (cached in memory)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._custom: dict[str, dict[str, Any]] = {}
        # an action holds this from planning to commit, so two saves of one template never
        # both become the same version
        self.lock = asyncio.Lock()

    async def load(self) -> None:
        def _q(conn: Connection) -> list[Any]:
            return list(conn.execute(select(Template.__table__)).mappings())

        for row in await self._store.run(_q):
            try:  # an older schema version is upgraded; the stored row itself is not rewritten
                clean = validate_template(_known_fonts(template_from_row(row), f"template {row['id']}"))
            except TemplateInputError as exc:
                log.error(
                    "template %s (%r) is not a valid template, not loaded: %s", row["id"], row["name"], exc
                )
                continue
            self._custom[row["id"]] = {**clean, "id": row["id"], "version": row["version"]}

    def hold(self, row: Any) -> None:
        """Cache a custom template read elsewhere, as ``load`` would (the relay: a central
        ``templates`` row: ``id``, ``version``, ``body``)."""
        self._custom[row["id"]] = upgrade(template_from_row(row))

    def list(self) -> list[dict[str, Any]]:
        out = [
            {"id": tid, "name": t["name"], "mode": t["mode"], "builtin": True, "version": 1}
            for tid in builtin_ids()
            if (t := builtin(tid))
        ]
        out += [
            {"id": tid, "name": t["name"], "mode": t["mode"], "builtin": False, "version": t["version"]}
            for tid, t in sorted(self._custom.items(), key=lambda kv: kv[1]["name"])
        ]
        return out

    def get(self, template_id: str) -> dict[str, Any]:
        found = self._custom.get(template_id) or builtin(template_id)
        if found is None:
            raise TemplateNotFound(f"template {template_id[:64]!r} does not exist")
        return copy.deepcopy({**found, "id": template_id})

    @staticmethod
    def upgraded(template: dict[str, Any]) -> dict[str, Any]:
        """A stored template (a version's body, say) at the current schema version."""
        return upgrade(template)

    def is_custom(self, template_id: str) -> bool:
        """A template of the store (versioned, changeable), not a built-in."""
        return template_id in self._custom

    def exists(self, template_id: str) -> bool:
        return template_id in self._custom or builtin(template_id) is not None

    def resolve(self, template_id: str | None, mode: str) -> dict[str, Any]:
        """The template a session shows; an unknown id falls back to the mode's built-in."""
        tid = (
            template_id
            if template_id and self.exists(template_id)
            else DEFAULT_BY_MODE.get(mode, "results-classic")
        )
        return self.get(tid)

    def plan_save(
        self, uow: UnitOfWork, body: object, template_id: str | None = None, origin: str = "saved"
    ) -> dict[str, Any]:
        """Validate and queue a custom template's save (no id: a new one; else its next version,
        kept in the history with ``origin``: saved, restored or imported); built-ins are
        read-only (save a copy).  The cache changes once ``uow`` commits.
        Returns the template as it will be.  Caller holds ``lock``."""
        if template_id is not None and template_id not in self._custom:
            if builtin(template_id) is not None:
                raise TemplateInputError(
                    f"built-in template {template_id!r} cannot be changed; save it as a new template"
                )
            raise TemplateNotFound(f"template {template_id[:64]!r} does not exist")
        clean = validate_template(body)
        clean.pop("id", None)
        clean.pop("version", None)
        tid = template_id or new_id()
        version = self._custom[tid]["version"] + 1 if tid in self._custom else 1
        saved = {**clean, "id": tid, "version": version}
        self._plan_put(uow, saved, "updated" if template_id else "created", now(), origin)
        return copy.deepcopy(saved)

    def plan_remote(self, uow: UnitOfWork, row: dict[str, Any], deleted: bool) -> str | None:
        """Queue another laptop's template (a central ``templates`` row, its id and version
        kept) or its delete (the row goes, sessions showing it fall back to their mode's
        built-in).  Validated like a save; a built-in id is never overwritten.  Returns the
        action (created/updated/deleted), None if there is nothing to do.  Caller holds ``lock``."""
        tid = str(row["id"])
        if builtin(tid) is not None:
            raise TemplateInputError(f"built-in template {tid!r} cannot be changed")
        if deleted:
            if tid not in self._custom:
                return None
            uow.write(_delete_template, tid)
            uow.write(history.delete_versions, tid)
            uow.record("template", tid, "deleted")
            uow.after_commit(lambda: self._custom.pop(tid, None))
            return "deleted"
        body = _known_fonts(
            {**row["body"], "name": row["name"], "mode": row["mode"]}, f"synced template {tid}"
        )
        clean = validate_template(body)
        saved = {**clean, "id": tid, "version": int(row["version"])}
        action = "updated" if tid in self._custom else "created"
        self._plan_put(uow, saved, action, float(row["updated_at"]), "synced")
        return action

    def _plan_put(
        self, uow: UnitOfWork, saved: dict[str, Any], action: str, stamp: float, origin: str
    ) -> None:
        tid = saved["id"]
        row = template_row(tid, saved)
        uow.write(_write_template, row, stamp)
        version = {k: row[k] for k in ("name", "mode", "version", "body")}
        uow.write(history.write_version, {**version, "template_id": tid, "saved_at": stamp, "origin": origin})
        uow.record("template", tid, action, name=saved["name"], mode=saved["mode"], version=saved["version"])

        def _apply() -> None:
            self._custom[tid] = saved

        uow.after_commit(_apply)

    async def save(self, body: object, template_id: str | None = None) -> dict[str, Any]:
        """``plan_save`` in a unit of work of its own (tools and tests; the app's action is
        ``operations.templates.save``, which also restyles the screens)."""
        async with self.lock:
            uow = UnitOfWork(self._store)
            saved = self.plan_save(uow, body, template_id)
            await uow.commit()
        return saved


def _delete_template(conn: Connection, template_id: str) -> None:
    t = Template.__table__
    conn.execute(t.delete().where(t.c.id == template_id))


def _write_template(conn: Connection, row: dict[str, Any], stamp: float) -> None:
    t = Template.__table__
    values = {k: v for k, v in row.items() if k != "id"}
    if not conn.execute(t.update().where(t.c.id == row["id"]).values(**values, updated_at=stamp)).rowcount:
        conn.execute(t.insert().values(**row, created_at=stamp, updated_at=stamp))
