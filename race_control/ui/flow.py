"""What the timer has chosen so far (user, mode, event, template, display session).

The pages read and change it; ``changed`` tells the step list to redraw.  Creating or
updating the display session goes through the sessions service (named operations).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from race_control.display_server.templates import DEFAULT_BY_MODE
from race_control.errors import NotFound
from race_control.sessions.live import LiveSession

MODE_TITLES = {"results": "Results", "pre-race": "Pre-race"}


class Flow(QObject):
    changed = Signal()

    def __init__(self, services: Any) -> None:
        super().__init__()
        self.services = services
        self.user: str | None = None  # None = not logged in; "" = local mode
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
        return self.user or "local mode (no account)"

    def set_user(self, user: str) -> None:
        self.user = user
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
        s = self.services.sessions.get(session_id)
        self.session_id, self.event_id = s.id, s.event_id
        self.changed.emit()

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

        Re-uses the current session, else the newest open session of the event (the app was
        restarted mid-race), else creates one.
        """
        sessions = self.services.sessions
        if not self.event_id:
            raise NotFound("choose an event first")
        s = self.session
        if s is None or s.event_id != self.event_id:
            mine = [x for x in sessions.sessions() if x.event_id == self.event_id and x.status == "open"]
            s = mine[-1] if mine else None
        if s is None:
            body: dict[str, Any] = {
                "event_id": self.event_id,
                "mode": self.mode,
                "name": f"{MODE_TITLES[self.mode]} display",
            }
            if self.template_id:
                body["template_id"] = self.template_id
            s = await sessions.create(body)
        else:
            change: dict[str, Any] = {}
            if s.mode != self.mode:
                change["mode"] = self.mode
            if self.template_id and s.template_id != self.template_id:
                change["template_id"] = self.template_id
            if change:
                s, _ = await sessions.update(s.id, change)
        self.session_id = s.id
        self.changed.emit()
        return s
