"""The bundle of running services that the web server, the CLI and the GUI share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from race_control.accounts import Accounts
from race_control.alerts import AlertBoard
from race_control.config import Settings
from race_control.display_server.hub import Hub
from race_control.flags import Features
from race_control.operations.actions import Operations
from race_control.roster.service import EventService
from race_control.sessions.service import LiveSession, SessionService
from race_control.store.database import Store
from race_control.sync.off import NoSync
from race_control.templates.service import TemplateService
from race_control.timing.ingest.pipeline import IngestPipeline
from race_control.timing.ingest.streams import TimingService

if TYPE_CHECKING:  # (imported only when central sync is configured: app.py)
    from race_control.sync.worker import SyncWorker


@dataclass
class Services:
    settings: Settings
    store: Store
    events: EventService
    sessions: SessionService
    pipeline: IngestPipeline
    timing: TimingService
    hub: Hub
    templates: TemplateService
    api_token: str
    accounts: Accounts
    ops: Operations
    public_base_url: str = ""  # http://<lan address>:<port>, known once the server listens
    alerts: AlertBoard = field(default_factory=AlertBoard)  # what needs the operator now (GET /api/alerts)
    features: Features = field(default_factory=Features)  # feature flags, resolved at start-up
    # central sync (GET/POST /api/sync): the worker when a central URL is configured, else always off
    sync: SyncWorker | NoSync = field(default_factory=NoSync)

    def display_url(self, session: LiveSession) -> str:
        return f"{self.public_base_url}/display/{session.token}"
