"""Provider accounts: the row (provider, label, base URL — no secret) and its credentials in the
secret store (``race_control.secrets.SecretStore``: environment, OS keyring, or a 0600 file
with a warning), each field a secret named ``provider:<account id>:<field>``.

Credentials never reach the database, a log line or an API answer: ``to_json`` names the
credential *fields* only.  Secret-store calls may block (a keyring round trip): they run in an
executor, never on the loop.

Also here: the store queries the re-sync needs (the local runners of an event with their links
to one provider event; writing links and the next pull's cursor), run on the store's thread.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from race_control.ids import new_id
from race_control.progress import Progress
from race_control.providers.base import ProviderAdapter, RetryPolicy, check_base_url
from race_control.providers.errors import ProviderInputError, ProviderNotFound
from race_control.providers.registry import adapter_class
from race_control.providers.resync import Linked, LocalRunner
from race_control.secrets import SecretStore
from race_control.store import json_text
from race_control.store.database import Store
from race_control.store.models import ProviderAccount, ProviderSync, now
from race_control.store.unit_of_work import UnitOfWork

if TYPE_CHECKING:  # (httpx is imported by whoever makes the client: not at start-up)
    import httpx

ACCOUNT_FIELDS = ("provider", "label", "credentials", "base_url")
ROW_FIELDS = (
    "bib",
    "first_name",
    "last_name",
    "age",
    "gender",
    "city",
    "state",
    "country",
    "division",
    "team",
    "wave",
    "message",
    "alias",
    "hidden",
)


@dataclass(frozen=True)
class Account:
    id: str
    provider: str
    label: str
    base_url: str
    credential_fields: tuple[str, ...]
    created_at: float

    def to_json(self) -> dict[str, Any]:
        cls = adapter_class(self.provider)
        return {
            "id": self.id,
            "provider": self.provider,
            "provider_name": cls.name,
            "label": self.label,
            "base_url": self.base_url or cls.default_base_url,
            "credentials": list(self.credential_fields),  # the field names, never the values
            "created_at": self.created_at,
        }


def secret_name(account_id: str, field: str) -> str:
    return f"provider:{account_id}:{field}"


class ProviderAccounts:
    def __init__(self, store: Store, secrets: SecretStore, retry: RetryPolicy | None = None) -> None:
        self._store = store
        self._secrets = secrets
        self._accounts: dict[str, Account] = {}
        self.retry = retry or RetryPolicy()
        self.loaded = False

    async def load(self) -> None:
        def _load(conn: Connection) -> list[Any]:
            return list(conn.execute(select(ProviderAccount.__table__)).all())

        for r in await self._store.run(_load):
            self._accounts[r.id] = Account(
                r.id, r.provider, r.label, r.base_url, tuple(r.credential_fields or ()), r.created_at
            )
        self.loaded = True

    def accounts(self) -> list[Account]:
        return sorted(self._accounts.values(), key=lambda a: a.created_at)

    def get(self, account_id: object) -> Account:
        if not isinstance(account_id, str) or not account_id:
            raise ProviderInputError(
                "'account_id' must be a provider account id (a string)", field="account_id"
            )
        try:
            return self._accounts[account_id]
        except KeyError:
            raise ProviderNotFound(f"provider account {account_id[:64]!r} does not exist") from None

    # --- create ------------------------------------------------------------------------------
    async def plan_create(self, uow: UnitOfWork, body: object) -> Account:
        """Validate, store the credentials in the secret store, queue the account row; the
        secrets are removed again if the transaction does not commit (``forget``)."""
        if not isinstance(body, dict):
            raise ProviderInputError("body must be a JSON object with 'provider', 'label' and 'credentials'")
        unknown = sorted(str(k)[:40] for k in body if k not in ACCOUNT_FIELDS)
        if unknown:
            raise ProviderInputError(
                f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a provider account; "
                f"known: {', '.join(ACCOUNT_FIELDS)}"
            )
        cls = adapter_class(body.get("provider"))
        label = body.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            raise ProviderInputError(
                "'label' is required: a non-empty string of at most 200 characters", field="label"
            )
        creds = body.get("credentials")
        if not isinstance(creds, dict):
            raise ProviderInputError(
                f"'credentials' must be an object with {', '.join(cls.credential_fields)}",
                field="credentials",
            )
        allowed = (*cls.credential_fields, *cls.optional_credential_fields)
        extra = sorted(str(k)[:40] for k in creds if k not in allowed)
        if extra:
            raise ProviderInputError(
                f"unknown credential field(s) {', '.join(map(repr, extra[:10]))} for {cls.name}; "
                f"known: {', '.join(allowed)}",
                field="credentials",
            )
        for f in cls.credential_fields:
            value = creds.get(f)
            if not isinstance(value, str) or not value.strip():
                raise ProviderInputError(
                    f"credential '{f}' is required for {cls.name} (a non-empty string)",
                    field=f"credentials.{f}",
                )
            if len(value) > 4000:
                raise ProviderInputError(
                    f"credential '{f}' is longer than 4000 characters", field=f"credentials.{f}"
                )
        base_url = body.get("base_url", "")
        if base_url not in ("", None):
            check_base_url(base_url, cls.id)  # type: ignore[arg-type]
        else:
            base_url = ""
        account = Account(
            new_id(), cls.id, label.strip(), base_url, tuple(f for f in allowed if f in creds), now()
        )
        values = {f: str(creds[f]) for f in account.credential_fields}
        await asyncio.get_running_loop().run_in_executor(None, self._put_secrets, account.id, values)
        uow.write(_insert_account, account)
        uow.record("provider_account", account.id, "created", provider=cls.id, label=account.label)

        def _apply() -> None:
            self._accounts[account.id] = account

        uow.after_commit(_apply)
        return account

    def _put_secrets(self, account_id: str, values: Mapping[str, str]) -> None:
        for f, v in values.items():
            self._secrets.set(secret_name(account_id, f), v)

    async def forget(self, account: Account) -> None:
        def _drop() -> None:
            for f in account.credential_fields:
                self._secrets.delete(secret_name(account.id, f))

        await asyncio.get_running_loop().run_in_executor(None, _drop)

    # --- use ----------------------------------------------------------------------------------
    async def credentials(self, account: Account) -> dict[str, str]:
        def _get() -> dict[str, str | None]:
            return {f: self._secrets.get(secret_name(account.id, f)) for f in account.credential_fields}

        got = await asyncio.get_running_loop().run_in_executor(None, _get)
        missing = [f for f, v in got.items() if not v]
        if missing:
            raise ProviderInputError(
                f"provider account {account.label!r}: credential(s) {', '.join(missing)} are missing from the "
                "secret store (keyring or secrets file); add the account again",
                provider=account.provider,
                field="credentials",
            )
        return {f: v for f, v in got.items() if v}

    async def adapter(
        self, account: Account, client: httpx.AsyncClient, progress: Progress | None = None
    ) -> ProviderAdapter:
        cls = adapter_class(account.provider)
        return cls(
            client,
            await self.credentials(account),
            base_url=account.base_url or None,
            retry=self.retry,
            progress=progress,
        )


def _insert_account(conn: Connection, a: Account) -> None:
    conn.execute(
        ProviderAccount.__table__.insert().values(
            id=a.id,
            provider=a.provider,
            label=a.label,
            base_url=a.base_url,
            credential_fields=list(a.credential_fields),
            created_at=a.created_at,
            updated_at=a.created_at,
        )
    )


# --- the re-sync's store queries -------------------------------------------------------------
# the participant columns ``load_local`` reads, in this order: id, the ROW_FIELDS, raw, local_fields
_LOCAL_SQL = f"SELECT id, {', '.join(ROW_FIELDS)}, raw, local_fields FROM participants WHERE event_id = ?"
_LINKS_SQL = (
    "SELECT participant_id, registration_id, status, raw FROM provider_links "
    "WHERE event_id = ? AND provider = ? AND provider_event_id = ? AND participant_id != ''"
)
_HIDDEN = ROW_FIELDS.index("hidden")


_EMPTY_JSON: dict[str, Any] = {"null": None, "{}": {}, "[]": []}


def _json(text: str | None) -> Any:
    """A JSON column's value as the ORM reads it (SQL NULL: None); the common empty ones
    without a parse (a fresh object each time: the caller may keep it)."""
    if text is None:
        return None
    if text in _EMPTY_JSON:
        return copy.copy(_EMPTY_JSON[text])
    return json.loads(text)


def load_local(conn: Connection, event_id: str, provider: str, provider_event_id: str) -> list[LocalRunner]:
    """The event's participants, each with its link to a registration of this provider event.

    Read with the driver's cursor in the caller's transaction (no result row objects: a re-sync
    reads every runner of the event, docs/providers.md#load); a link's provider row stays JSON
    text until the plan compares it."""
    cur = conn.connection.cursor()
    try:
        links = {
            pid: (reg, status, raw)
            for pid, reg, status, raw in cur.execute(_LINKS_SQL, (event_id, provider, provider_event_id))
        }
        out = []
        width = len(ROW_FIELDS)
        for r in cur.execute(_LOCAL_SQL, (event_id,)):
            values = list(r[1 : 1 + width])
            values[_HIDDEN] = bool(values[_HIDDEN])
            link = links.get(r[0])
            out.append(
                LocalRunner(
                    id=r[0],
                    fields=dict(zip(ROW_FIELDS, values, strict=True)),
                    raw=dict(_json(r[1 + width]) or {}),
                    local_fields=frozenset(_json(r[2 + width]) or ()),
                    registration_id=link[0] if link else "",
                    link_status=link[1] if link else "",
                    link_raw=None,
                    link_raw_json=link[2] if link else None,
                )
            )
        return out
    finally:
        cur.close()


def load_cursor(
    conn: Connection, event_id: str, account_id: str, provider_event_id: str
) -> dict[str, Any] | None:
    t = ProviderSync.__table__
    row = conn.execute(
        select(t.c.cursor).where(
            t.c.event_id == event_id, t.c.account_id == account_id, t.c.provider_event_id == provider_event_id
        )
    ).first()
    return dict(row.cursor) if row is not None and row.cursor else None


# a link upsert: one statement, prepared once and executed for every link
_LINK_SQL = (
    "INSERT INTO provider_links (event_id, provider, provider_event_id, registration_id, "
    "participant_id, account_id, status, raw, synced_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (event_id, provider, provider_event_id, registration_id) DO UPDATE SET "
    "participant_id = excluded.participant_id, account_id = excluded.account_id, "
    "status = excluded.status, raw = excluded.raw, synced_at = excluded.synced_at"
)


_PID, _BIB, _STATUS = attrgetter("participant_id"), attrgetter("bib"), attrgetter("status")
_ENTRANT, _RAW = attrgetter("entrant"), attrgetter("raw")
_KEY = attrgetter("provider", "provider_event_id", "registration_id")  # a link's, after the event


def write_links(
    conn: Connection,
    event_id: str,
    account_id: str,
    links: list[Linked],
    added_ids: Mapping[str, str],
) -> None:
    """Upsert the plan's links; an added runner's participant id is its bib's in ``added_ids``
    (the ids the roster's import plan gave them, inserted earlier in this same transaction).
    One statement executed for many rows (compiled once: a multi-row VALUES statement is
    compiled anew for every chunk, which costs more than the inserts themselves); the provider
    row is written as the JSON column writes it."""
    if not links:
        return
    stamp = now()
    pids = list(map(_PID, links))
    if "" in pids:
        try:
            pids = [pid or added_ids[bib] for pid, bib in zip(pids, map(_BIB, links), strict=True)]
        except KeyError as exc:  # a planner bug, not bad input: nothing is written
            raise RuntimeError(f"a new runner's link has no participant id: bib {exc.args[0]!r}") from exc
    entrants = list(map(_ENTRANT, links))  # (column by column: a file's 50,000 links, C loops)
    values = list(
        zip(
            repeat(event_id),
            *zip(*map(_KEY, entrants), strict=True),
            pids,
            repeat(account_id),
            map(_STATUS, links),
            json_text.dumps_all(map(_RAW, entrants)),
            repeat(stamp),
            repeat(stamp),
        )
    )
    if values:
        conn.exec_driver_sql(_LINK_SQL, values)


def write_cursor(
    conn: Connection, event_id: str, account_id: str, provider_event_id: str, cursor: dict[str, Any]
) -> None:
    t = ProviderSync.__table__
    stamp = now()
    stmt = sqlite_insert(t).values(
        event_id=event_id,
        account_id=account_id,
        provider_event_id=provider_event_id,
        cursor=cursor,
        last_sync_at=stamp,
        created_at=stamp,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["event_id", "account_id", "provider_event_id"],
            set_={"cursor": stmt.excluded.cursor, "last_sync_at": stamp},
        )
    )
