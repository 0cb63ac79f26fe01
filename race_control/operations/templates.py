"""Template actions: save (a new version) — screens showing the template restyle at once."""

from __future__ import annotations

from race_control.operations.results import TemplateResult
from race_control.operations.sessions import SessionOperations
from race_control.templates.service import TemplateService


class TemplateOperations:
    def __init__(self, templates: TemplateService, sessions: SessionOperations) -> None:
        self._templates = templates
        self._sessions = sessions

    async def save(self, body: object, template_id: str | None = None) -> TemplateResult:
        """Create (no id) or update a custom template; built-ins are read-only (save a copy)."""
        saved = await self._templates.save(body, template_id)
        n = self._sessions.restyle_sessions_of(saved["id"]) if template_id else 0
        return TemplateResult(saved, n)
