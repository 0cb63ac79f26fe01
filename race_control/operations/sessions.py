"""Display-session and screen actions: create, change, close, bind/unbind, move and reload screens.

Each is one coroutine: it validates (4xx errors name the problem), takes the sessions
lock, lets the sessions service plan the change into one ``UnitOfWork`` and commits it;
the new state is applied, and screens and listeners told, only after the commit — a
failed write changes nothing.  The lock is held from planning to commit by every
session action: bind and rule changes re-run stored reads under it (no read decided
twice or missed), and no two actions plan from the same old state.  The API and the
desktop call these and nothing else, so a side effect (restyling screens after a
template change, disconnecting screens of a closed session) lives here once.
"""

from __future__ import annotations

from typing import Any

from race_control.operations.results import ScreensResult, SessionResult
from race_control.operations.screen_control import ScreenControl
from race_control.sessions.errors import SessionConflict, SessionInputError, SessionNotFound
from race_control.sessions.live import LiveSession
from race_control.sessions.service import SessionService
from race_control.store.unit_of_work import ChangeListener, UnitOfWork
from race_control.templates.service import TemplateService
from race_control.timing.ingest.streams import TimingService


class SessionOperations:
    def __init__(
        self,
        sessions: SessionService,
        templates: TemplateService,
        timing: TimingService,
        screens: ScreenControl,
        changes: list[ChangeListener] | None = None,
    ) -> None:
        self._sessions = sessions
        self._templates = templates
        self._timing = timing
        self.screens = screens
        self._changes = changes if changes is not None else []

    def _unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessions.store, self._changes)

    # --- sessions ---------------------------------------------------------------------
    async def create(self, body: object) -> SessionResult:
        """A new display session; ``timing_session_ids`` binds streams in the same action."""
        streams: list[str] = []
        if isinstance(body, dict):
            self._check_template(body.get("template_id"))
            streams = body.get("timing_session_ids", [])
            if not isinstance(streams, list) or not all(isinstance(x, str) for x in streams):
                raise SessionInputError("'timing_session_ids' must be a list of timing session ids")
            for sid in streams:
                if self._timing.stream(sid) is None:
                    raise SessionInputError(f"timing session {sid[:64]!r} does not exist")
        async with self._sessions.lock:
            uow = self._unit_of_work()
            session = await self._sessions.plan_create(uow, body, dict.fromkeys(streams))
            await uow.commit()
        return SessionResult(session)

    async def update(self, session_id: str, body: object) -> SessionResult:
        """Change name, mode, template, schedule, leaderboard, status or rules (rules re-run
        the stored reads).  Screens get the new session view; a new template restyles them;
        closing disconnects them."""
        if isinstance(body, dict) and body.get("template_id") is not None:
            self._check_template(body["template_id"])
        async with self._sessions.lock:
            uow = self._unit_of_work()
            session, rerun = await self._sessions.plan_update(uow, session_id, body)
            await uow.commit()
        if session.status == "closed":
            await self.screens.close_session(session.id)
        elif isinstance(body, dict) and "template_id" in body:
            self._restyle(session)
        return SessionResult(session, rerun)

    async def close(self, session_id: str) -> SessionResult:
        return await self.update(session_id, {"status": "closed"})

    async def switch_mode(self, session_id: str, mode: str) -> SessionResult:
        return await self.update(session_id, {"mode": mode})

    async def set_leaderboard(self, session_id: str, top: int) -> SessionResult:
        return await self.update(session_id, {"leaderboard_top": top})

    async def set_public(self, session_id: str, public: bool) -> SessionResult:
        """Public: `race-control relay` serves its screens from the central database too."""
        return await self.update(session_id, {"public": public})

    async def set_rules(self, session_id: str, rules: dict[str, Any]) -> SessionResult:
        return await self.update(session_id, {"rules": rules})

    async def bind(self, session_id: str, stream_id: object) -> SessionResult:
        """Bind a timing stream: its stored reads run through the session's rules now."""
        self._sessions.get(session_id)
        if not isinstance(stream_id, str):
            raise SessionInputError("'timing_session_id' must be a string")
        if self._timing.stream(stream_id) is None:
            raise SessionNotFound(f"timing session {stream_id[:64]!r} does not exist")
        async with self._sessions.lock:
            uow = self._unit_of_work()
            session = await self._sessions.plan_bind(uow, session_id, stream_id)
            await uow.commit()
        return SessionResult(session)

    async def unbind(self, session_id: str, stream_id: str) -> SessionResult:
        """Unbind a stream: the session keeps what it showed and decides only its other streams."""
        async with self._sessions.lock:
            uow = self._unit_of_work()
            session = await self._sessions.plan_unbind(uow, session_id, stream_id)
            await uow.commit()
        return SessionResult(session)

    # --- screens ----------------------------------------------------------------------
    def reload_screens(self, session_id: str, screen_id: object = None) -> ScreensResult:
        """Reload one screen (``screen_id``) or every screen of the session."""
        session = self._sessions.get(session_id)
        return ScreensResult(self._control(session.id, {"type": "reload"}, screen_id))

    def move_screens(self, session_id: str, to_session_id: object, screen_id: object = None) -> ScreensResult:
        """Send one screen (or all) of this session to another open session: it navigates there."""
        session = self._sessions.get(session_id)
        if not isinstance(to_session_id, str):
            raise SessionInputError("'to_session_id' must be a display session id")
        target = self._sessions.get(to_session_id)
        if target.status != "open":
            raise SessionConflict(f"display session {target.id} is closed")
        message = {"type": "switch", "url": f"/display/{target.token}"}
        return ScreensResult(self._control(session.id, message, screen_id), target)

    # --- helpers ----------------------------------------------------------------------
    def _control(self, session_id: str, message: dict[str, Any], screen_id: object) -> int:
        if screen_id is not None and not isinstance(screen_id, str):
            raise SessionInputError("'screen_id' must be a string")
        sent = self.screens.send_control(session_id, message, screen_id)
        if screen_id is not None and not sent:
            raise SessionNotFound(f"screen {screen_id[:64]!r} is not connected to this session")
        return sent

    def restyle(self, session: LiveSession) -> None:
        """Its screens redraw with the session's current template (a change made elsewhere)."""
        self._restyle(session)

    def _restyle(self, session: LiveSession) -> None:
        template = self._templates.resolve(session.template_id, session.mode)
        self.screens.send_control(session.id, {"type": "template", "template": template})

    def restyle_sessions_of(self, template_id: str) -> int:
        """Open sessions showing this template redraw at once (after it was saved)."""
        n = 0
        for session in self._sessions.sessions():
            if session.template_id == template_id and session.status == "open":
                self._restyle(session)
                n += 1
        return n

    def _check_template(self, template_id: object) -> None:
        if template_id is None:
            return
        if not isinstance(template_id, str) or not self._templates.exists(template_id):
            known = ", ".join(t["id"] for t in self._templates.list())
            raise SessionInputError(
                f"'template_id' {str(template_id)[:64]!r} is not a known template ({known})"
            )
