"""Following the central tables for the sessions that have screens on this relay.

A session is *watched* from its first screen until ``idle_after`` seconds after its last one
left.  Every wake-up — a NOTIFY relayed by the listener thread, or the poll every
``poll_interval`` seconds whatever happened — reads, for all watched sessions together, their
session rows (one query), then for each watched session the display events after the last seq
it delivered (one query per session, more only for a backlog above ``PAGE``), and hands them to
the hub, which fans each message out in memory to that session's screens.  So PostgreSQL's load
grows with the sessions watched and the wake-ups, never with the number of screens.

Nothing here outlives the process: the last seq delivered, the session rows and the hub's
recent log are a cache of the central tables.  A restarted relay reads them again and screens
resume from the central display events (``after_seq``), exactly as from a laptop's store.

Changes of a session row become the laptop's control messages: ``mode`` (with its ``by``),
``session`` (the screen view), ``template`` (a new template id or version); a session that is
closed, no longer public or deleted has its screens closed with 4410, as the laptop does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from race_control.central.errors import CentralError
from race_control.display_server.hub import Hub
from race_control.errors import NotFound
from race_control.logging_setup import safe
from race_control.relay import POLL_INTERVAL, reads
from race_control.relay.reads import CentralSession, Reader
from race_control.sessions.service import resume_point_in, screen_view_of
from race_control.templates.service import TemplateService

log = logging.getLogger("race_control.relay.feed")
PAGE = 1000  # display events per query
PRIME = 2000  # a newly watched session's last messages, loaded into the hub's recent log
IDLE_AFTER = 60.0  # seconds a session without screens stays watched


@dataclass
class Watched:
    session: CentralSession
    last_seq: int  # the highest seq handed to the hub
    idle_since: float | None = None


class Feed:
    def __init__(
        self,
        reader: Reader,
        catchups: Reader,
        hub: Hub,
        templates: TemplateService,
        *,
        poll_interval: float = POLL_INTERVAL,
        idle_after: float = IDLE_AFTER,
    ) -> None:
        self._reader = reader  # wake-ups and lookups: never queued behind the screens' replays
        self._catchups = catchups  # the hub's replays from the central table
        self._hub = hub
        self._templates = templates
        self.poll_interval = poll_interval
        self.idle_after = idle_after
        self._watched: dict[str, Watched] = {}
        self._resolved: dict[tuple[str | None, int | None, str], dict[str, Any]] = {}  # never mutated
        self._by_token: dict[str, str] = {}
        self._joining: dict[str, asyncio.Future[Watched | None]] = {}
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self.wakeups = 0  # refreshes run (tests, metrics)
        self.queries = 0  # queries those refreshes sent
        self.delivered = 0  # sequenced messages handed to the hub
        self.failing = False  # the last refresh could not read the central database

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relay-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def wake_threadsafe(self) -> None:
        """Called by the listener thread on a NOTIFY."""
        self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.refresh()
            except CentralError as exc:
                if not self.failing:  # once per outage, not at every poll
                    log.warning("relay: reading the central database failed (%s); trying again", safe(exc))
                self.failing = True
            except Exception:
                log.exception("relay: refresh failed")
            else:
                if self.failing:
                    log.warning("relay: the central database answers again")
                self.failing = False
            self._drop_idle()

    # --- what the routes ask ------------------------------------------------------------------
    async def lookup(self, token: str) -> CentralSession | None:
        """The session behind a screen link (watched: no query)."""
        sid = self._by_token.get(token)
        if sid is not None and sid in self._watched:
            return self._watched[sid].session
        return await self._reader.run(reads.session_by_token, token)

    async def watch(self, token: str) -> Watched | None:
        """Follow the public, open session behind ``token`` (None: there is none)."""
        sid = self._by_token.get(token)
        if sid is not None and sid in self._watched:
            w = self._watched[sid]
            w.idle_since = None
            return w
        joining = self._joining.get(token)
        if joining is None:
            joining = self._joining[token] = self._loop.create_future()
            try:
                found = await self._join(token)
            except BaseException as exc:
                joining.set_exception(exc)
                joining.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
                raise
            finally:
                self._joining.pop(token, None)
            joining.set_result(found)
            return found
        return await asyncio.shield(joining)

    async def _join(self, token: str) -> Watched | None:
        session = await self._reader.run(reads.session_by_token, token)
        if session is None or not session.served or session.status != "open":
            return None
        last_seq, recent = await self._reader.run(reads.last_events, session.id, PRIME)
        self._hold_template(session)
        w = Watched(session, last_seq)
        self._watched[session.id] = w
        self._by_token[session.token] = session.id
        if recent:
            self._hub.publish(session.id, recent)  # no screen yet: fills the recent log only
        elif last_seq == 0:
            self._hub.start_log(session.id)  # no finisher yet: replays need no query
        return w

    def session_of(self, session_id: str) -> CentralSession:
        w = self._watched.get(session_id)
        if w is None:
            raise NotFound(f"display session {session_id[:64]!r} is not followed by this relay")
        return w.session

    def hello(self, w: Watched) -> dict[str, Any]:
        from race_control.display_server.pages import hello_message

        s = w.session
        return hello_message(self.screen_view(s), self.template(s), w.last_seq, s.epoch)

    def screen_view(self, s: CentralSession) -> dict[str, Any]:
        # gun_at: the laptop derives it from its timing streams' guns, which the central
        # tables do not carry for screens: a relay's race clock block stays hidden
        return screen_view_of(s.id, s.name, s.event_name, s.mode, None, s.starts_at)

    def template(self, s: CentralSession) -> dict[str, Any]:
        """Its template: a custom one from the central ``templates`` (an unknown or deleted one
        falls back to the mode's built-in, as on the laptop)."""
        tid = None if s.template_deleted else s.template_id
        key = (tid, s.template_version, s.mode)
        found = self._resolved.get(key)
        if found is None:  # a deep copy each time costs ~4 ms: once per version, every screen shares it
            self._hold_template(s)
            found = self._resolved[key] = self._templates.resolve(tid, s.mode)
            if len(self._resolved) > 256:
                self._resolved.pop(next(iter(self._resolved)))
        return found

    def resume_point(self, session_id: str, epoch: str | None, after_seq: int) -> int:
        w = self._watched.get(session_id)
        return resume_point_in(w.session.epochs if w else None, epoch, after_seq)

    async def backlog(self, session_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
        """The hub's catch-up from the central display events (a replay older than its log).
        Nothing after the last seq delivered: no query (a new screen of a session with no
        finishers yet resumes after 0; what comes later reaches it through ``publish``)."""
        w = self._watched.get(session_id)
        if w is not None and after_seq >= w.last_seq:
            return []
        return await self._catchups.run(reads.events_after, session_id, after_seq, limit)

    # --- wake-ups --------------------------------------------------------------------------
    async def refresh(self) -> None:
        """One wake-up: the watched sessions' rows, then each one's new display events."""
        ids = list(self._watched)
        if not ids:
            return
        self.wakeups += 1
        self.queries += 1
        rows = {s.id: s for s in await self._reader.run(reads.sessions_by_id, ids)}
        for sid in ids:
            w = self._watched.get(sid)
            if w is not None:
                await self._changed(w, rows.get(sid))
        await asyncio.gather(*(self._pull(sid) for sid in list(self._watched)))

    async def _pull(self, session_id: str) -> None:
        while True:
            w = self._watched.get(session_id)
            if w is None:
                return
            after = w.last_seq
            self.queries += 1
            payloads = await self._reader.run(reads.events_after, session_id, after, PAGE)
            if w.last_seq != after or self._watched.get(session_id) is not w:
                return  # unwatched or advanced meanwhile: the next wake-up carries on
            fresh = [p for p in payloads if p.get("seq", 0) > after]
            if fresh:
                w.last_seq = fresh[-1]["seq"]
                self.delivered += len(fresh)
                self._hub.publish(session_id, fresh)
            if len(payloads) < PAGE:
                return

    async def _changed(self, w: Watched, new: CentralSession | None) -> None:
        old = w.session
        sid = old.id
        if new is None or not new.served or new.status != "open":
            self._unwatch(sid)
            await self._hub.close_session(sid)  # 4410: the page shows the ended screen
            return
        w.session = new
        if new.token != old.token:
            self._by_token.pop(old.token, None)
            self._by_token[new.token] = sid
        if new.mode != old.mode:
            self._hub.send_control(sid, {"type": "mode", "mode": new.mode, "by": new.mode_changed_by})
        if self.screen_view(new) != self.screen_view(old):
            self._hub.send_control(sid, {"type": "session", "session": self.screen_view(new)})
        if (new.template_id, new.template_version, new.template_deleted) != (
            old.template_id,
            old.template_version,
            old.template_deleted,
        ):
            self._hub.send_control(sid, {"type": "template", "template": self.template(new)})

    def _hold_template(self, s: CentralSession) -> None:
        if s.template_id and s.template_body is not None and not s.template_deleted:
            self._templates.hold(
                {"id": s.template_id, "version": s.template_version or 1, "body": s.template_body}
            )

    def _unwatch(self, session_id: str) -> None:
        w = self._watched.pop(session_id, None)
        if w is not None and self._by_token.get(w.session.token) == session_id:
            self._by_token.pop(w.session.token, None)
        self._hub.forget(session_id)

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for sid, w in list(self._watched.items()):
            if self._hub.screens(sid):
                w.idle_since = None
            elif w.idle_since is None:
                w.idle_since = now
            elif now - w.idle_since >= self.idle_after:
                self._unwatch(sid)

    def watched(self) -> list[str]:
        return list(self._watched)
