"""Template actions: save (a new version) — screens showing the template restyle at once."""

from __future__ import annotations

from race_control.operations.results import TemplateResult
from race_control.operations.sessions import SessionOperations
from race_control.store.database import Store
from race_control.store.unit_of_work import ChangeListener, UnitOfWork
from race_control.templates.service import TemplateService


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

    async def save(self, body: object, template_id: str | None = None) -> TemplateResult:
        """Create (no id) or update a custom template; built-ins are read-only (save a copy).
        One unit of work; after its commit, open sessions showing the template restyle."""
        async with self._templates.lock:
            uow = UnitOfWork(self._store, self._changes)
            saved = self._templates.plan_save(uow, body, template_id)
            await uow.commit()
        n = self._sessions.restyle_sessions_of(saved["id"]) if template_id else 0
        return TemplateResult(saved, n)
