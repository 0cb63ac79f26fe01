"""Provider actions: add an account, list its events, preview or apply a re-sync of a roster.

A sync fetches first (HTTP, no lock held, nothing changes locally), then, under the roster lock,
reads the local runners and their links, plans (``providers.resync.plan_resync``, pure) and —
when ``apply`` — applies the whole plan in ONE unit of work: new runners through the roster's
import plan, changed ones through its replace plan (bib moves and swaps included, local edits
kept), the links with each registration's status and raw payload, the next pull's cursor, and a
``correction`` for every finish already on a screen whose runner's shown data changed (under
the sessions lock, as a local edit does).  Nothing of it is applied if the transaction fails.
``apply: false`` answers the same plan and changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from race_control.operations.roster import plan_corrections
from race_control.progress import Progress
from race_control.providers.accounts import (
    Account,
    ProviderAccounts,
    load_cursor,
    load_local,
    write_cursor,
    write_links,
)
from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import FetchResult, ProviderEvent
from race_control.providers.resync import Plan, plan_resync
from race_control.roster.gc_pause import bulk_gc
from race_control.roster.participants import ParticipantRow
from race_control.roster.service import EventService
from race_control.sessions.service import SessionService
from race_control.store.database import Store
from race_control.store.unit_of_work import ChangeListener, UnitOfWork

if TYPE_CHECKING:  # (imported when the first client is made: not at start-up)
    import httpx

SYNC_FIELDS = ("account_id", "provider_event_id", "apply", "full")
ClientFactory = Callable[[], "httpx.AsyncClient"]


def default_client() -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "race-control"}, trust_env=False)


class ProviderSyncOperations:
    def __init__(
        self,
        store: Store,
        events: EventService,
        sessions: SessionService,
        accounts: ProviderAccounts,
        changes: list[ChangeListener],
        client: ClientFactory = default_client,
    ) -> None:
        self._store = store
        self._events = events
        self._sessions = sessions
        self.accounts = accounts
        self._changes = changes
        self._client = client

    def _unit(self) -> UnitOfWork:
        return UnitOfWork(self._store, self._changes)

    async def create_account(self, body: object) -> Account:
        uow = self._unit()
        account = await self.accounts.plan_create(uow, body)
        try:
            await uow.commit()
        except BaseException:
            await self.accounts.forget(account)  # no row: no secrets left behind
            raise
        return account

    async def list_events(self, account_id: str, progress: Progress | None = None) -> list[ProviderEvent]:
        account = self.accounts.get(account_id)
        async with self._client() as client:
            adapter = await self.accounts.adapter(account, client, progress)
            return await adapter.list_events()

    async def sync(self, event_id: str, body: object, progress: Progress | None = None) -> dict[str, Any]:
        """Preview (``apply`` false) or apply a re-sync of ``event_id`` from a provider event."""
        self._events.event(event_id)
        if not isinstance(body, dict):
            raise ProviderInputError(
                "body must be a JSON object with 'account_id', 'provider_event_id' and 'apply'"
            )
        unknown = sorted(str(k)[:40] for k in body if k not in SYNC_FIELDS)
        if unknown:
            raise ProviderInputError(
                f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a sync; known: {', '.join(SYNC_FIELDS)}"
            )
        account = self.accounts.get(body.get("account_id"))
        remote_id = body.get("provider_event_id")
        if isinstance(remote_id, int) and not isinstance(remote_id, bool):
            remote_id = str(remote_id)
        if not isinstance(remote_id, str) or not remote_id.strip() or len(remote_id) > 64:
            raise ProviderInputError(
                "'provider_event_id' must be the provider's event id (a string)", field="provider_event_id"
            )
        remote_id = remote_id.strip()
        apply = body.get("apply")
        if not isinstance(apply, bool):
            raise ProviderInputError("'apply' must be true (apply) or false (preview only)", field="apply")
        full = body.get("full", False)
        if not isinstance(full, bool):
            raise ProviderInputError("'full' must be true or false", field="full")

        with bulk_gc():  # 50,000 runners: fewer collections while they are fetched and planned
            return await self._sync(event_id, account, remote_id, apply, full, progress)

    async def _sync(
        self,
        event_id: str,
        account: Account,
        remote_id: str,
        apply: bool,
        full: bool,
        progress: Progress | None,
    ) -> dict[str, Any]:
        cursor = None if full else await self._store.run(load_cursor, event_id, account.id, remote_id)
        async with self._client() as client:
            adapter = await self.accounts.adapter(account, client, progress)
            fetched = await adapter.fetch_entrants(remote_id, cursor if adapter.incremental else None)
        if progress is not None:  # a Cancel during the fetch's last request: still nothing applied
            progress.raise_if_cancelled()

        async with self._events.lock:
            local = await self._store.run(load_local, event_id, account.provider, remote_id)
            if len(fetched.entrants) < OFF_LOOP_ROWS:
                plan = plan_resync(local, fetched)
            else:  # 50,000 runners: ~0.3-0.5 s of planning, not on the loop (screens, pings)
                plan = await asyncio.get_running_loop().run_in_executor(None, plan_resync, local, fetched)
            if apply:
                await self._apply(event_id, account, remote_id, plan, fetched, cursor)
        out = plan.to_json()
        out.update(
            applied=apply,
            provider=account.provider,
            provider_event_id=remote_id,
            pages=adapter.pages,
            rows=adapter.rows,
            retries=adapter.retries,
        )
        return out

    async def _apply(
        self,
        event_id: str,
        account: Account,
        remote_id: str,
        plan: Plan,
        fetched: FetchResult,
        cursor: dict[str, Any] | None,
    ) -> None:
        """The plan in one unit of work (the caller holds the roster lock)."""
        await apply_plan(
            self._unit(),
            self._store,
            self._events,
            self._sessions,
            event_id,
            Origin(account.provider, account.id, remote_id),
            plan,
            fetched.cursor or cursor or {},
        )


@dataclass(frozen=True)
class Origin:
    """Where a plan's entrants came from: the provider (``csv``/``active`` for a roster file),
    the account ("" for a file) and the provider event (a file's source name)."""

    provider: str
    account_id: str
    remote_id: str


OFF_LOOP_ROWS = 2_000  # added runners from which their plan is made off the event loop


async def apply_plan(
    uow: UnitOfWork,
    store: Store,
    events: EventService,
    sessions: SessionService,
    event_id: str,
    origin: Origin,
    plan: Plan,
    cursor: dict[str, Any],
) -> None:
    """A re-sync plan (a provider's or a roster file's) in ``uow``, committed here: new runners
    through the roster's import plan, changed ones through its replace plan, the links, the
    cursor, and corrections of the finishes screens showed for a changed runner (under the
    sessions lock).  The caller holds the roster lock; whatever else it queued in ``uow``
    commits with it, or nothing does."""
    source = f"provider:{origin.provider}"
    added_ids: dict[str, str] = {}  # bib -> the new participant's id, for its link
    if plan.added:  # the planner validated each (parse_row) and checked its bib free
        rows = [a.row for a in plan.added]
        if len(rows) < OFF_LOOP_ROWS:
            added_ids = events.plan_import_rows(uow, event_id, rows, source)
        else:  # ids and change records for 50,000 runners: ~0.1-0.3 s, not on the loop (the
            # caller holds the roster lock: nothing else plans into the roster meanwhile)
            added_ids = await asyncio.get_running_loop().run_in_executor(
                None, events.plan_import_rows, uow, event_id, rows, source
            )
    pairs: list[tuple[ParticipantRow, ParticipantRow]] = []
    if plan.changed:
        rows_after = [(c.runner.bib, ParticipantRow(**{**c.fields, "raw": c.raw})) for c in plan.changed]
        pairs = events.plan_replace(uow, event_id, rows_after, source)
    uow.write(write_links, event_id, origin.account_id, plan.links, added_ids)
    uow.write(write_cursor, event_id, origin.account_id, origin.remote_id, cursor)
    uow.record(
        "event",
        event_id,
        "synced",
        provider=origin.provider,
        provider_event_id=origin.remote_id,
        added=len(plan.added),
        changed=len(plan.changed),
        removed=len(plan.removed),
    )
    async with sessions.lock:
        if pairs:
            # the finishes shown for every bib this plan changed (its old and its new wearer; a
            # swap names both sides), like a local edit's (``RosterOperations``)
            wears: dict[str, ParticipantRow | None] = {}
            for before, after in pairs:
                if before.bib != after.bib:
                    wears.setdefault(before.bib, None)
            for _, after in pairs:
                wears[after.bib] = after
            await plan_corrections(uow, store, sessions, event_id, wears)
        await uow.commit()
