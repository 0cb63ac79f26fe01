"""``Operations``: the one place where each user action happens.

Grouped by what they act on — ``sessions`` (display sessions and their screens),
``roster`` (events, participants), ``templates``, ``timing`` (streams, file imports),
``replay`` (stored streams played into sessions).
Built by the composition root (``app.py``) from the domain services; the display
server's hub is plugged in as the ``ScreenControl`` once it exists.  Listeners of
``changes`` (the desktop's redraws, later the sync worker's wake-up) get every
action's ``Change`` records after its commit.
"""

from __future__ import annotations

from race_control.operations.presets import PresetOperations
from race_control.operations.provider_sync import ProviderSyncOperations
from race_control.operations.remote import RemoteOperations
from race_control.operations.replay import ReplayOperations
from race_control.operations.roster import RosterOperations
from race_control.operations.roster_files import RosterFileOperations
from race_control.operations.screen_control import NoScreens, ScreenControl
from race_control.operations.sessions import SessionOperations
from race_control.operations.templates import TemplateOperations
from race_control.operations.timing import TimingOperations
from race_control.providers.accounts import ProviderAccounts
from race_control.roster.service import EventService
from race_control.sessions.presets import PresetService
from race_control.sessions.service import SessionService
from race_control.store.unit_of_work import ChangeListener
from race_control.templates.service import TemplateService
from race_control.timing.ingest.streams import TimingService


class Operations:
    def __init__(
        self,
        events: EventService,
        sessions: SessionService,
        templates: TemplateService,
        timing: TimingService,
        screens: ScreenControl | None = None,
        presets: PresetService | None = None,
    ) -> None:
        self.changes: list[ChangeListener] = []
        sessions.changes = self.changes  # its automatic switches and corrections are changes too
        self.sessions = SessionOperations(sessions, templates, timing, screens or NoScreens(), self.changes)
        store = sessions.store  # the one local store every service writes to
        self.roster = RosterOperations(store, events, sessions, self.changes)
        self.roster_files = RosterFileOperations(store, events, sessions, self.changes)  # CSV / ACTIVE files
        self.templates = TemplateOperations(store, templates, self.sessions, self.changes)
        self.timing = TimingOperations(store, timing, self.changes)
        preset_service = presets or PresetService(store)
        self.presets = PresetOperations(store, preset_service, sessions, self.sessions, self.changes)
        # another laptop's changes, pulled by central sync (docs/sync.md#pull)
        self.remote = RemoteOperations(
            store, events, sessions, templates, preset_service, self.sessions, self.changes
        )
        # replays of stored streams into sessions: one object, so the API and the desktop share them
        self.replay = ReplayOperations(sessions, timing, self.changes, lambda: self.sessions.screens)
        self.providers: ProviderSyncOperations | None = None  # attach_providers (app.py)
        self._provider_parts = (store, events, sessions)

    def attach_providers(self, accounts: ProviderAccounts) -> ProviderSyncOperations:
        """Provider accounts and syncs (their secret store needs the data dir, known to app.py)."""
        store, events, sessions = self._provider_parts
        self.providers = ProviderSyncOperations(store, events, sessions, accounts, self.changes)
        return self.providers

    def attach_screens(self, screens: ScreenControl) -> None:
        self.sessions.screens = screens
