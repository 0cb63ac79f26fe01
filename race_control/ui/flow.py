"""What the timer has chosen so far (user, mode, event, template, display session).

The pages read and change it; ``changed`` tells the step list to redraw.  Creating or
updating the display session goes through the sessions service (named operations).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from race_control.errors import NotFound
from race_control.sessions.live import LiveSession
from race_control.templates.service import DEFAULT_BY_MODE

MODE_TITLES = {"results": "Results", "pre-race": "Pre-race"}
SOURCES = {  # how the user logged in (the login page)
    "local": "account on this laptop",
    "central": "central account",
    "central-offline": "central account, checked offline",
}


class Flow(QObject):
    changed = Signal()

    def __init__(self, services: Any) -> None:
        super().__init__()
        self.services = services
        self.user: str | None = None  # None = not logged in; "" = local mode
        self.user_source = ""  # a SOURCES key
        self.mode = "results"
        self.event_id: str | None = None
        self.template_id: str | None = None
        self.session_id: str | None = None

    # --- state ------------------------------------------------------------------------
    @property
    def logged_in(self) -> bool:
        return self.user is not None

    @property
    def user_label(self) -> str:
        if self.user is None:
            return "not logged in"
        if not self.user:
            return "local mode (no account)"
        return f"{self.user} ({SOURCES[self.user_source]})" if self.user_source else self.user

    def set_user(self, user: str, source: str = "local") -> None:
        self.user, self.user_source = user, (source if user else "")
        self.changed.emit()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if self.template_id:
            try:
                if self.services.templates.get(self.template_id).get("mode") != mode:
                    self.template_id = None
            except NotFound:
                self.template_id = None
        self.changed.emit()

    def set_event(self, event_id: str) -> None:
        if event_id != self.event_id:
            self.event_id = event_id
            self.session_id = None
        self.changed.emit()

    def set_template(self, template_id: str) -> None:
        self.template_id = template_id
        self.changed.emit()

    def set_session(self, session_id: str) -> None:
        """Make ``session_id`` the display session the template, timing and display pages work on;
        the mode and template follow it (so ``ensure_session`` does not overwrite them)."""
        s = self.services.sessions.get(session_id)
        self.session_id, self.event_id, self.mode = s.id, s.event_id, s.mode
        self.template_id = s.template_id  # None: the mode's built-in default, as its screens show
        self.changed.emit()

    def _template_fits(self, template_id: str, mode: str) -> bool:
        try:
            return bool(self.services.templates.get(template_id).get("mode") == mode)
        except NotFound:
            return False

    def event_sessions(self) -> list[LiveSession]:
        """Every display session of the chosen event (open and closed), oldest first."""
        if not self.event_id:
            return []
        return [x for x in self.services.sessions.sessions() if x.event_id == self.event_id]

    @property
    def event_name(self) -> str:
        if not self.event_id:
            return ""
        try:
            return str(self.services.events.event(self.event_id).name)
        except NotFound:
            return ""

    @property
    def template_name(self) -> str:
        tid = self.template_id or DEFAULT_BY_MODE[self.mode]
        try:
            return str(self.services.templates.get(tid)["name"])
        except NotFound:
            return tid

    @property
    def session(self) -> LiveSession | None:
        if not self.session_id:
            return None
        try:
            return self.services.sessions.get(self.session_id)
        except NotFound:
            return None

    # --- operations -------------------------------------------------------------------
    async def ensure_session(self) -> LiveSession:
        """The display session for the chosen event, mode and template (created or updated).

        Re-uses the selected session while it is open, else the newest open session of the event
        (the app was restarted mid-race), else creates one.
        """
        if not self.event_id:
            raise NotFound("choose an event first")
        s = self.session
        if s is None or s.event_id != self.event_id or s.status != "open":
            mine = [x for x in self.event_sessions() if x.status == "open"]
            s = mine[-1] if mine else None
        if s is None:
            body: dict[str, Any] = {
                "event_id": self.event_id,
                "mode": self.mode,
                "name": f"{MODE_TITLES[self.mode]} display",
            }
            if self.template_id:
                body["template_id"] = self.template_id
            s = (await self.services.ops.sessions.create(body)).session
        else:
            change: dict[str, Any] = {}
            if s.mode != self.mode:
                change["mode"] = self.mode
            if self.template_id and s.template_id != self.template_id:
                change["template_id"] = self.template_id
            if change:  # the same operation as PATCH /api/sessions: screens restyle at once
                s = (await self.services.ops.sessions.update(s.id, change)).session
        self.session_id = s.id
        self.changed.emit()
        return s

    async def create_session(self, name: str, mode: str) -> LiveSession:
        """A further display session of the chosen event (another race, wave or screen group),
        selected at once.  It starts with the chosen template when that suits its mode."""
        if not self.event_id:
            raise NotFound("choose an event first")
        body: dict[str, Any] = {"event_id": self.event_id, "mode": mode, "name": name.strip()}
        if self.template_id and self._template_fits(self.template_id, mode):
            body["template_id"] = self.template_id
        s = (await self.services.ops.sessions.create(body)).session
        self.set_session(s.id)
        return s

    async def close_session(self, session_id: str) -> None:
        """Close a display session: its screens are disconnected (their page shows it ended).
        If it was the selected one, the newest other open session of the event is selected."""
        await self.services.ops.sessions.close(session_id)  # its screens are disconnected
        if self.session_id == session_id:
            others = [x for x in self.event_sessions() if x.status == "open"]
            if others:
                self.set_session(others[-1].id)
                return
            self.session_id = None
        self.changed.emit()
