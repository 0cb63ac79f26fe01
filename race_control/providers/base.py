"""The shared base of every provider adapter: HTTP with retries, errors that name what failed,
progress and cancellation.

An adapter is given an ``httpx.AsyncClient`` (the caller owns it: one per sync, or a test's
client), the account's credentials (a dict of the provider's credential fields) and optionally
a ``base_url`` that replaces the provider's real one (tests point it at a fake server).

Retries (``RetryPolicy``): a 429, a 5xx or a network failure is tried again up to
``attempts`` times in all, waiting ``base_delay * 2**n`` (capped at ``max_delay``) with full
jitter (a random wait between half of it and all of it), or what the provider's ``Retry-After``
asks (seconds or an HTTP date) when it sends one — unless that is longer than
``max_retry_after``: then we stop at once rather than hang a sync for minutes.  A 401/403 is
``ProviderAuthError`` (never retried), another 4xx ``ProviderHTTPError``, a body that is not
JSON ``ProviderMalformed``.  No retry library is used: tenacity/backoff are not dependencies,
and honouring ``Retry-After`` with a cap is a dozen lines here.

Progress: ``progress`` (``race_control.progress.Progress``) hears each page (its label says
which) and the rows it brought; ``progress.cancel()`` stops the fetch before its next request
(``Cancelled``).  A fetch changes nothing locally, so a cancelled one leaves nothing behind.

Secrets never reach a log line or an error: messages carry the URL *path* only.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from race_control.progress import Progress
from race_control.providers.errors import (
    MISSING,
    ProviderAuthError,
    ProviderHTTPError,
    ProviderInputError,
    ProviderMalformed,
    ProviderShapeError,
    ProviderUnavailable,
    shape_error,
)
from race_control.providers.normalized import FetchResult, ProviderEvent

if TYPE_CHECKING:  # (httpx is imported by whoever makes the client: not at start-up)
    import httpx

log = logging.getLogger("race_control.providers")
# httpx logs every request's full URL at INFO; CT Live's credentials are query parameters
logging.getLogger("httpx").setLevel(logging.WARNING)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in all, the first one included
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0  # a longer Retry-After: give up now (ProviderUnavailable)
    timeout: float = 30.0  # per request

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return retry_after
        full = min(self.max_delay, self.base_delay * 2**retry)
        return rng.uniform(full / 2, full)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ProviderAdapter:
    """What every adapter is: the provider's identity, and the HTTP helper.

    Subclasses set the class attributes and implement ``list_events`` and ``fetch_entrants``.
    """

    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    kind: ClassVar[str] = "registration"  # registration | scoring | file
    credential_fields: ClassVar[tuple[str, ...]] = ()
    optional_credential_fields: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""
    incremental: ClassVar[bool] = False  # fetch_entrants can pull only what changed since a cursor

    def __init__(
        self,
        client: httpx.AsyncClient,
        credentials: Mapping[str, str],
        *,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        progress: Progress | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        missing = [f for f in self.credential_fields if not credentials.get(f)]
        if missing:
            raise ProviderInputError(
                f"{self.name}: missing credential field(s) {', '.join(missing)}", provider=self.id
            )
        self.client = client
        self.credentials = dict(credentials)
        self.base_url = check_base_url(base_url or self.default_base_url, self.id)
        self.retry = retry or RetryPolicy()
        self.progress = progress or Progress()
        self._sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self.pages = 0  # pages fetched so far (every request that returned data)
        self.rows = 0  # rows those pages held
        self.retries = 0  # requests tried again (429/5xx/network)

    # --- what an adapter provides -------------------------------------------------------
    async def list_events(self) -> list[ProviderEvent]:
        raise NotImplementedError

    async def fetch_entrants(
        self, provider_event_id: str, cursor: dict[str, Any] | None = None
    ) -> FetchResult:
        """Every entrant of the event (``cursor`` None: a full pull), or, for an incremental
        adapter, those changed since ``cursor`` (what a previous result's ``cursor`` was)."""
        raise NotImplementedError

    # --- HTTP ------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):  # an absolute URL (a token endpoint)
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def path_of(self, url: str) -> str:
        return urlsplit(url).path or "/"

    def page_done(self, rows: int, what: str) -> None:
        """Count one page of ``rows`` rows (the progress bar's step)."""
        self.pages += 1
        self.rows += rows
        self.progress.advance(rows, label=f"{self.name}: {what}, page {self.pages} ({self.rows} rows)")

    def auth_failed(self, path: str, detail: str) -> ProviderAuthError:
        return ProviderAuthError(
            f"{self.name} refused the account's credentials at {path}: {detail}", provider=self.id, path=path
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request with the retry policy; a 2xx response (anything else raises)."""
        import httpx  # (already imported: the client is one of its own)

        url = self.url(path)
        where = self.path_of(url)
        last = ""
        for attempt in range(self.retry.attempts):
            self.progress.raise_if_cancelled()
            retry_after: float | None = None
            try:
                resp = await self.client.request(
                    method, url, params=params, headers=headers, data=data, timeout=self.retry.timeout
                )
            except httpx.TransportError as exc:  # refused, reset, timed out: worth another try
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 300:
                    return resp
                if resp.status_code in (401, 403):
                    raise self.auth_failed(where, f"HTTP {resp.status_code} {_reason(resp)}")
                if resp.status_code != 429 and resp.status_code < 500:
                    raise ProviderHTTPError(
                        f"{self.name}: {method} {where} answered HTTP {resp.status_code} {_reason(resp)}",
                        status=resp.status_code,
                        provider=self.id,
                        path=where,
                    )
                last = f"HTTP {resp.status_code}"
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.retry.max_retry_after:
                    raise ProviderUnavailable(
                        f"{self.name}: {where} answered {last} and asks to wait {retry_after:.0f} s "
                        f"(more than {self.retry.max_retry_after:.0f} s): try the sync again later",
                        provider=self.id,
                        path=where,
                    )
            if attempt + 1 == self.retry.attempts:
                break
            wait = self.retry.delay(attempt, retry_after, self._rng)
            self.retries += 1
            log.info(
                "%s: %s %s failed (%s); retry %d in %.1f s", self.id, method, where, last, attempt + 1, wait
            )
            await self._sleep(wait)
        raise ProviderUnavailable(
            f"{self.name}: {method} {where} failed {self.retry.attempts} times (last: {last}); try again later",
            provider=self.id,
            path=where,
        )

    async def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[Any, httpx.Response]:
        resp = await self.request("GET", path, params=params, headers=headers)
        return self.parse_json(resp), resp

    def parse_json(self, resp: httpx.Response) -> Any:
        where = self.path_of(str(resp.request.url))
        try:
            return json.loads(resp.content)
        except (ValueError, UnicodeDecodeError) as exc:
            kind = resp.headers.get("Content-Type", "no content type")
            raise ProviderMalformed(
                f"{self.name}: {where} did not answer JSON ({kind}; {type(exc).__name__}: {str(exc)[:80]})",
                provider=self.id,
                path=where,
            ) from None

    # --- shape checks ------------------------------------------------------------------------
    def shape(self, path: str, field: str, expected: str, got: object) -> ProviderShapeError:
        """The shape error of ``field`` in the answer of ``path`` (relative to the base URL)."""
        return shape_error(self.name, self.path_of(self.url(path)), field, expected, got)

    def need(self, obj: object, key: str, typ: type | tuple[type, ...], path: str, field: str) -> Any:
        """``obj[key]`` if ``obj`` is an object holding a ``typ`` there; else ``ProviderShapeError``."""
        if not isinstance(obj, dict):
            raise self.shape(path, field.rsplit(".", 1)[0] or field, "an object", obj)
        value = obj.get(key, MISSING)
        if not isinstance(value, typ):
            expected = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.shape(path, field, _EXPECTED.get(expected, f"a {expected}"), value)
        return value


_EXPECTED = {"list": "a list", "dict": "an object", "str": "a string", "int": "a number"}


def _reason(resp: httpx.Response) -> str:
    return (resp.reason_phrase or "").strip()[:80]


def check_base_url(url: str, provider: str) -> str:
    """An http(s) URL with a host, without credentials or a query (those would leak into logs)."""
    if not isinstance(url, str) or len(url) > 500:
        raise ProviderInputError(
            f"{provider}: 'base_url' must be an http(s) URL", provider=provider, field="base_url"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderInputError(
            f"{provider}: 'base_url' {url[:80]!r} is not an http(s) URL with a host",
            provider=provider,
            field="base_url",
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ProviderInputError(
            f"{provider}: 'base_url' must not hold credentials, a query or a fragment",
            provider=provider,
            field="base_url",
        )
    return url
