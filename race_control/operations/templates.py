"""Template actions: save, restore a version, import a portable file (each a new version in
one unit of work; screens showing the template restyle at once), and the reads that go with
them: the version history, one version's body, the portable file (docs/templates.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from race_control.operations.results import TemplateResult
from race_control.operations.sessions import SessionOperations
from race_control.store.database import Store
from race_control.store.unit_of_work import ChangeListener, UnitOfWork
from race_control.templates import history, portable
from race_control.templates.errors import TemplateInputError, TemplateNotFound
from race_control.templates.images import StoredImage, parse_ref, prepare_image
from race_control.templates.service import TemplateService, template_from_row


class TemplateOperations:
    def __init__(
        self,
        store: Store,
        templates: TemplateService,
        sessions: SessionOperations,
        changes: list[ChangeListener],
    ) -> None:
        self._store = store
        self._templates = templates
        self._sessions = sessions
        self._changes = changes

    async def save(
        self, body: object, template_id: str | None = None, origin: str = "saved"
    ) -> TemplateResult:
        """Create (no id) or update a custom template; built-ins are read-only (save a copy).
        One unit of work; after its commit, open sessions showing the template restyle."""
        async with self._templates.lock:
            uow = UnitOfWork(self._store, self._changes)
            saved = self._templates.plan_save(uow, body, template_id, origin)
            await uow.commit()
        n = self._sessions.restyle_sessions_of(saved["id"]) if template_id else 0
        return TemplateResult(saved, n)

    # ------------------------------------------------------------------ versions

    async def versions(self, template_id: str) -> list[dict[str, Any]]:
        """Every version of a template, newest first: ``version``, ``saved_at``, ``name``,
        ``mode``, ``origin`` and ``current`` (a built-in has one version, never saved)."""
        current = self._templates.get(template_id)  # 404 first
        if not self._templates.is_custom(template_id):
            return [_listed(1, None, current, "builtin", True)]
        rows = await self._store.run(history.list_versions, template_id)
        return [
            _listed(r["version"], r["saved_at"], r, r["origin"], r["version"] == current["version"])
            for r in rows
        ]

    async def version(self, template_id: str, version: int) -> dict[str, Any]:
        """The template as it was at ``version`` (a preview: the same shape as the template now,
        plus ``saved_at`` and ``origin``)."""
        current = self._templates.get(template_id)
        if not self._templates.is_custom(template_id):
            if version != 1:
                raise TemplateNotFound(f"built-in template {template_id!r} has only version 1")
            return current
        row = await self._store.run(history.get_version, template_id, version)
        if row is None:
            raise TemplateNotFound(
                f"template {template_id!r} has no version {version} (its versions: 1 to {current['version']}; "
                "GET /api/templates/{id}/versions lists them)"
            )
        found = self._templates.upgraded(template_from_row({**row, "id": template_id}))
        return {**found, "saved_at": row["saved_at"], "origin": row["origin"]}

    async def restore(self, template_id: str, version: int) -> TemplateResult:
        """Make ``version``'s body the template's current one, as a NEW version (the history is
        never rewritten: restoring back again is one more restore)."""
        if not self._templates.is_custom(template_id):
            self._templates.get(template_id)  # 404 for an unknown id
            raise TemplateInputError(
                f"built-in template {template_id!r} cannot be changed; save it as a new template"
            )
        old = await self.version(template_id, version)
        body = {k: v for k, v in old.items() if k not in ("id", "version", "saved_at", "origin")}
        return await self.save(body, template_id, origin="restored")

    # ------------------------------------------------------------------ the portable file

    async def export_file(self, template_id: str) -> dict[str, Any]:
        """The portable file of a template (built-in or custom) with the images it shows."""
        template = self._templates.get(template_id)
        hashes = sorted({ref[0] for use in portable.image_uses(template) if (ref := parse_ref(use.src))})
        stored = await self._store.run(history.get_images, hashes) if hashes else {}
        return await asyncio.get_running_loop().run_in_executor(None, portable.write_file, template, stored)

    async def import_file(self, body: object) -> TemplateResult:
        """A portable file checked whole (``portable.read_file``, in an executor: it decodes and
        re-encodes images), then its images and the template (a new one) in one unit of work."""
        loop = asyncio.get_running_loop()
        template, images = await loop.run_in_executor(None, portable.read_file, body)
        async with self._templates.lock:
            uow = UnitOfWork(self._store, self._changes)
            uow.write(history.put_images, images)
            saved = self._templates.plan_save(uow, template, None, "imported")
            await uow.commit()
        return TemplateResult(saved, 0)

    async def store_image(self, data: bytes, box: tuple[int, int], where: str) -> StoredImage:
        """An image a timer picked in the builder: checked, shrunk to ``box`` and re-encoded
        (``images.prepare_image``, in an executor), stored once by content hash."""
        img = await asyncio.get_running_loop().run_in_executor(None, prepare_image, data, box, where)
        uow = UnitOfWork(self._store, self._changes)
        uow.write(history.put_images, [img])
        await uow.commit()
        return img

    async def image(self, sha256: str) -> StoredImage | None:
        found = await self._store.run(history.get_images, [sha256])
        return found.get(sha256)


def _listed(version: int, saved_at: float | None, t: Any, origin: str, current: bool) -> dict[str, Any]:
    return {"version": version, "saved_at": saved_at, "name": t["name"], "mode": t["mode"], "origin": origin,
            "current": current}  # fmt: skip
