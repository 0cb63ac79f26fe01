"""The composition root: builds every service from ``Settings`` for the GUI and for ``serve``.

Everything async is created inside the running loop (``start``) and closed in
reverse order (``stop``).  Nothing here imports Qt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from race_control.accounts import Accounts
from race_control.alerts import AlertBoard
from race_control.config import (
    ENV_CTP01_USERS,
    Settings,
    ctp01_credentials,
    local_timezone,
    timing_exposure,
    timing_networks,
)
from race_control.display_server.hub import Hub
from race_control.display_server.lan import lan_address
from race_control.display_server.monitor import Monitor
from race_control.display_server.services import Services
from race_control.display_server.web import create_app
from race_control.flags import resolve as resolve_features
from race_control.instance import InstanceLock
from race_control.operations.actions import Operations
from race_control.private_files import private_tree, write_private_text
from race_control.providers.accounts import ProviderAccounts
from race_control.roster.service import EventService
from race_control.secrets import SecretStore
from race_control.sessions.presets import PresetService
from race_control.sessions.read_consumer import SessionReadConsumer
from race_control.sessions.service import SessionService
from race_control.sessions.snapshot_keeper import SnapshotKeeper
from race_control.store.backup import create_backup, rotating_backup
from race_control.store.clean_close import mark_closed
from race_control.store.database import Store, StoreError
from race_control.sync.connection import CentralTarget
from race_control.templates.screen_filter import screen_payload_filter
from race_control.templates.service import TemplateService
from race_control.timing.ingest.pipeline import IngestPipeline
from race_control.timing.ingest.streams import TimingService
from race_control.timing.protocols.ctp01_settings import Ctp01Config
from race_control.timing.transports.ctp01_listener import Ctp01Listener
from race_control.timing.transports.raceresult_connector import RaceResultConnector, parse_decoder_address

log = logging.getLogger("race_control.app")


def ensure_api_token(settings: Settings) -> str:
    """The env/setting token, else DIR/api-token (created 0600 on first start)."""
    if settings.api_token:
        return settings.api_token
    path = settings.data_dir / "api-token"
    if path.is_file():
        token = path.read_text("utf-8").strip()
        if token:
            os.chmod(path, 0o600)
            return token
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


class RaceControl:
    """One running instance: store, services, timing listener, HTTP server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.http_port = 0
        self.timing_port = 0
        self._runner: web.AppRunner | None = None
        self._listener: Ctp01Listener | None = None
        self.decoders: list[RaceResultConnector] = []  # outbound RACE RESULT connections
        self._ticker: asyncio.Task[None] | None = None
        self._instance_lock = InstanceLock(settings.data_dir)
        self._backups: asyncio.Task[None] | None = None  # automatic backups while reads arrive
        self._backup_thread: ThreadPoolExecutor | None = None  # one backup at a time, off the loop
        self._backup_at_stop = False  # set once started: a clean shutdown writes a backup
        self.monitor: Monitor | None = None  # periodic alert checks (silent streams, disk, backlog)
        self.snapshots: SnapshotKeeper | None = None  # the sessions' derived state, kept stored

    @property
    def http_url(self) -> str:
        return self.services.public_base_url if self.services else ""

    async def start(self) -> Services:
        st = self.settings
        features = resolve_features(st.features)  # an unknown flag name stops here (ValueError)
        alerts = AlertBoard()
        private_tree(st.data_dir)  # 0700/0600: participant data, tokens, verifiers (tightened if looser)
        # before anything touches the store: a second instance stops here (DataDirInUse)
        self._instance_lock.acquire()
        tz = st.timezone or local_timezone()
        store = Store(st.database_path)
        try:  # checks the file first: DatabaseUnusable if damaged or from a newer app
            await asyncio.get_running_loop().run_in_executor(None, store.migrate)
            store.start_checkpoints()  # WAL checkpoints off the read → screen path
        except BaseException:
            store.close()
            raise
        events = EventService(store, tz)
        sessions = SessionService(store, events, default_window=st.duplicate_window)
        pipeline = IngestPipeline(store, SessionReadConsumer(sessions), alerts)
        timing = TimingService(store, pipeline, timezone=tz, alerts=alerts)

        def wall_time(stream_id: str, clock: float) -> float | None:
            """A gun's real time for the screens' race clock; a replay or an imported file has
            no live race clock (its guns are not "now"), so screens hide it."""
            stream = timing.stream(stream_id)
            return stream.wall_time(clock) if stream and stream.live else None

        sessions.wall_time = wall_time
        hub = Hub(
            sessions.events_after,
            alerts,
            lambda sid: _session_name(sessions, sid),
            resume_point=sessions.resume_point,
        )
        hub.set_limits(
            per_session=st.max_screens_per_session,
            per_address=st.max_screens_per_address,
            store_catchups=st.max_store_catchups,
            resume_interval=st.resume_interval,
        )
        sessions.add_publisher(hub.publish)
        sessions.add_control(hub.send_control)
        templates = TemplateService(store)
        hub.payload_filter = screen_payload_filter(sessions.get, templates)  # screens: template's fields
        presets = PresetService(store)
        ops = Operations(events, sessions, templates, timing, hub, presets)
        provider_accounts = ProviderAccounts(store, SecretStore(st.data_dir))
        ops.attach_providers(provider_accounts)
        services = Services(
            st,
            store,
            events,
            sessions,
            pipeline,
            timing,
            hub,
            templates,
            ensure_api_token(st),
            Accounts(store),
            ops,
            alerts=alerts,
            features=features,
        )
        self.services = services
        await events.load()
        await templates.load()
        await presets.load()
        await provider_accounts.load()
        await timing.load()
        await sessions.load()
        self.snapshots = SnapshotKeeper(sessions, store)  # so the next start-up need not replay
        self.snapshots.start()
        pipeline.start()
        hub.start()
        self.monitor = Monitor(services)
        self.monitor.start()
        central = CentralTarget.from_settings(st)  # none: no central sync, nothing else changes
        if central is not None:
            from race_control.sync.pull import Puller
            from race_control.sync.worker import SyncWorker

            services.sync = SyncWorker(
                store,
                central,
                alerts=alerts,
                retry_min=st.central_retry_min,
                retry_max=st.central_retry_max,
                backlog_alert=st.central_backlog_alert,
            )
            ops.changes.append(services.sync.poke)
            services.sync.add_round(Puller(store, ops.remote))  # what other laptops shared
            services.sync.start()
        self._ticker = asyncio.create_task(self._tick(), name="race-control-tick")
        self._backup_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="race-control-backup")
        if st.backup_keep > 0 and st.backup_interval > 0:
            self._backups = asyncio.create_task(self._backup_during_race(), name="race-control-backups")

        self._runner = web.AppRunner(create_app(services), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, st.host, st.http_port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.http_port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        public = st.public_host or lan_address(st.host)
        services.public_base_url = f"http://{public}:{self.http_port}"

        auth = st.ctp01_authentication
        users = ctp01_credentials() if auth != "none" else {}
        if auth != "none" and not users:
            raise ValueError(
                f"CTP01 authentication {auth!r} needs accounts in {ENV_CTP01_USERS} (user:password)"
            )
        self._listener = Ctp01Listener(
            timing,
            Ctp01Config(timezone=tz, authentication=auth, credentials=users),
            allow=timing_networks(st.timing_allow),
            alerts=alerts,
            max_connections=st.max_timing_connections,
            max_unidentified_lines=st.max_unidentified_lines,
            max_unidentified_bytes=st.max_unidentified_bytes,
            max_write_buffer=st.max_client_write_buffer,
        )
        self.timing_port = await self._listener.start(st.host, st.timing_port)
        if hint := timing_exposure(st):
            log.warning("timing port %d: %s", self.timing_port, hint)
        for address in st.decoders:
            host, port = parse_decoder_address(address)
            connector = RaceResultConnector(timing, host, port, timezone=tz)
            self.decoders.append(connector)
            await connector.start()
        self._write_server_json()
        self._backup_at_stop = st.backup_keep > 0
        log.info("serving %s (timing port %d)", services.public_base_url, self.timing_port)
        return services

    async def _tick(self) -> None:
        """Once a second: scheduled mode switches (more periodic work joins here)."""
        while self.services is not None:
            await asyncio.sleep(1.0)
            if self.services is not None:
                self.services.sessions.tick(time.time())
            if self.monitor is not None:
                try:
                    self.monitor.tick(time.time())
                except Exception:  # a broken check must not stop the ticker (mode switches)
                    log.exception("alert checks failed")

    async def backup(self, dest: Path) -> dict[str, Any]:
        """Back up the data dir to ``dest`` now (Settings' "Back up now…"): the manifest.
        BackupError (a StoreError) names what failed."""
        assert self._backup_thread is not None, "not started"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._backup_thread, create_backup, self.settings.data_dir, dest)

    async def _rotating_backup(self) -> None:
        """One automatic backup into DIR/backups/ (skipped if nothing changed since the last one)."""
        assert self._backup_thread is not None
        st = self.settings
        loop = asyncio.get_running_loop()
        try:
            made, removed = await loop.run_in_executor(
                self._backup_thread, rotating_backup, st.data_dir, st.backup_keep
            )
        except (StoreError, OSError) as exc:
            log.error("automatic backup failed: %s", exc)
            return
        if made is not None:
            log.info("automatic backup %s (%d older removed)", made, len(removed))

    async def _backup_during_race(self) -> None:
        """Every ``backup_interval`` seconds in which reads were stored: a rotating backup."""
        assert self.services is not None
        pipeline = self.services.pipeline
        seen = pipeline.committed_reads
        while True:
            await asyncio.sleep(self.settings.backup_interval)
            if pipeline.committed_reads != seen:
                seen = pipeline.committed_reads
                await self._rotating_backup()

    async def _keep_streams(self, s: Services) -> bytes | None:
        """The streams' derived state for the next start-up (kept with the clean-close record)."""
        try:
            return await s.timing.keep()
        except Exception:  # the next start-up derives it from the reads instead: slower, not wrong
            log.exception("could not keep the timing streams' state for the next start-up")
            return None

    def _write_server_json(self) -> None:
        info = {
            "http_url": self.http_url,
            "http_port": self.http_port,
            "timing_port": self.timing_port,
            "pid": os.getpid(),
        }
        write_private_text(self.settings.data_dir / "server.json", json.dumps(info, indent=2))

    async def stop(self) -> None:
        """Reverse order: stop taking reads, flush them, close screens and HTTP, close the store."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._backups is not None:
            self._backups.cancel()
            self._backups = None
        if self.monitor is not None:
            await self.monitor.stop()
            self.monitor = None
        if self.services is not None:  # the batch on its way finishes; the rest waits in the outbox
            await self.services.sync.stop()
        for connector in reversed(self.decoders):
            await connector.stop()
        self.decoders.clear()
        if self._listener:
            await self._listener.close()
            self._listener = None
        await asyncio.sleep(0)
        s = self.services
        if s:
            await s.pipeline.stop()
            await s.timing.flush()  # the last disconnects' counters (bad lines, warnings) are saved
        if self.snapshots is not None:  # every read is decided and stored: the sessions as they are
            try:
                await self.snapshots.stop()
            except Exception:  # the next start-up replays the reads instead: slower, not wrong
                log.exception("could not write the sessions' snapshots")
            self.snapshots = None
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
        if s and self._backup_at_stop:  # every read is stored and nothing writes any more
            self._backup_at_stop = False
            await self._rotating_backup()
        if self._backup_thread is not None:
            self._backup_thread.shutdown(wait=False)  # idle: the last backup was awaited
            self._backup_thread = None
        if s:
            kept = await self._keep_streams(s)
            s.store.close()
            mark_closed(s.store.path, kept)  # the next start-up need not read every page again
            self.services = None
        if self._instance_lock.held:  # else the server.json is another instance's
            path: Path = self.settings.data_dir / "server.json"
            path.unlink(missing_ok=True)
            self._instance_lock.release()


def _session_name(sessions: SessionService, session_id: str) -> str:
    """A display session's name for an alert (its id if it is gone)."""
    found = next((s for s in sessions.sessions() if s.id == session_id), None)
    return found.name if found else session_id
