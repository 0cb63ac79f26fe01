"""Copernico (Timingsense): races, their events, athletes, and the public preset export.
Wire facts: docs/providers.md#copernico.

Copernico is the *timing* platform (registration platforms push their runners into it), so the
adapter's kind is ``scoring``, like CT Live.  A Copernico *race* is the whole meeting (a slug
such as ``carrera-de-la-mujer-valencia-2026``) — our provider event; its *events* (10K, half)
are our races.

Private API: ``x-api-key: <api_key>`` on every request; ``GET {base}`` lists the races,
``GET {base}/{race}`` is one race with its events, ``GET {base}/{race}/athletes`` the athletes
(``{"data": [...]}``, no paging seen) and ``GET {base}/{race}/athlete/{id}/full`` one athlete
whole.  A listed athlete without ``events`` is a summary: its full object is fetched, at most
``parallel`` at a time (the live-copernico worker keeps itself to 10).

Public preset export (no key): ``GET {base}/{race}/preset/{login}:::{preset}/{event}`` → the
preset's columns, bare or under ``data``/``results``; times in **milliseconds**.

Quirks handled here for every answer: a gzip body without ``Content-Encoding`` (unpacked, at
most ``MAX_BODY`` bytes), double-encoded UTF-8 (``MartÃ­n`` → ``Martín``).  A withdrawn athlete
is marked ``removed``; an athletes answer with no athlete at all is taken as *not full* (never
"everyone left" — the rule of the clients that read Copernico: prune missing rows, never on an
empty answer).
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from race_control.providers import normalized as n
from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import ProviderInputError, ProviderMalformed
from race_control.providers.normalized import Entrant, FetchResult, ProviderEvent, Race, Result

if TYPE_CHECKING:  # (httpx is imported by whoever makes the client: not at start-up)
    import httpx

MAX_BODY = 64 * 1024 * 1024  # an unpacked answer; Copernico caps a preset export at 6 MB packed
BASE_SUPPLIES = frozenset(("bib", "first_name", "last_name", "division", "team", "wave"))
OPTIONAL = {"gender": "gender", "city": "city", "province": "state", "country": "country"}
GONE = {"withdrawn": "removed", "deleted": "removed", "cancelled": "cancelled", "canceled": "cancelled"}
_RACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MOJIBAKE = re.compile("[ÃÂâÅÄ][\u0080-\u00bf\u2000-\u203a\u20ac\u0152-\u0178]")


def fix_mojibake(value: str) -> str:
    """Undo UTF-8 read as Latin-1/cp1252 (``Ã³`` → ``ó``), once; anything else stays as it is."""
    if value.isascii() or not _MOJIBAKE.search(value):
        return value
    for codec in ("cp1252", "latin-1"):
        try:
            return value.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return value


def t(value: object, limit: int = 200) -> str:
    return fix_mojibake(n.text(value, limit))


def ms_time(value: object) -> str:
    """``H:MM:SS.mmm`` from Copernico's milliseconds; ``""`` for none (null, 0: a revoked split)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return ""
    try:
        ms = int(float(value))
    except ValueError:
        return ""
    if ms <= 0:
        return ""
    seconds, milli = divmod(ms, 1000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{sec:02d}.{milli:03d}"


class Copernico(ProviderAdapter):
    id = "copernico"
    name = "Copernico"
    kind = "scoring"
    credential_fields = ("api_key",)
    default_base_url = "https://public-api.copernico.cloud/api/races"
    parallel = 10  # athlete detail requests in flight at once

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.credentials["api_key"], "Accept": "application/json"}

    def parse_json(self, resp: httpx.Response) -> Any:
        """JSON, also from a gzip body sent without ``Content-Encoding``."""
        body = resp.content
        if body[:2] == b"\x1f\x8b":
            where = self.path_of(str(resp.request.url))
            try:
                unpack = zlib.decompressobj(wbits=31)
                body = unpack.decompress(body, MAX_BODY)
            except zlib.error as exc:
                raise ProviderMalformed(
                    f"{self.name}: {where} sent a broken gzip body ({exc})", provider=self.id, path=where
                ) from None
            if unpack.unconsumed_tail:
                raise ProviderMalformed(
                    f"{self.name}: {where} unpacks to more than {MAX_BODY // 2**20} MiB",
                    provider=self.id,
                    path=where,
                )
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return super().parse_json(resp)  # the base's error, naming the path and content type

    async def _get(self, path: str, *, auth: bool = True) -> Any:
        data, _ = await self.get_json(path, headers=self._headers() if auth else None)
        return data

    def _rows(self, data: Any, path: str, keys: Iterable[str] = ("data",)) -> list[Any]:
        """The list of an answer: bare, or under one of ``keys``."""
        if isinstance(data, list):
            return data
        for key in keys:
            if isinstance(data, dict) and isinstance(data.get(key), list):
                return data[key]
        return self.need(data, next(iter(keys)), list, path, next(iter(keys)))

    # --- races ---------------------------------------------------------------------------------
    async def list_events(self) -> list[ProviderEvent]:
        self.progress.start(f"{self.name}: races", 0)
        rows = self._rows(await self._get(self.base_url), self.base_url)  # no trailing slash
        self.page_done(len(rows), "races")
        out = []
        for row in rows:
            race_id = t(row if isinstance(row, str) else row.get("id") if isinstance(row, dict) else "", 128)
            if not _RACE_ID.match(race_id):
                continue  # not a race (a null, a number where a slug belongs)
            out.append(await self.race(race_id))
        return out

    async def race(self, race_id: str) -> ProviderEvent:
        """One race with its events (our races)."""
        race_id = _race_id(race_id)
        data = await self._get(race_id)
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            data = data["data"]
        if not isinstance(data, dict):
            raise self.shape(race_id, "data", "an object", data)
        self.page_done(1, f"race {race_id}")
        events = data.get("events") if isinstance(data.get("events"), list) else []
        races = []
        for ev in events:
            if isinstance(ev, str):
                ev = {"name": ev}
            if not isinstance(ev, dict) or not t(ev.get("name") or ev.get("id")):
                continue
            name = t(ev.get("name") or ev.get("id"))
            distance = ev.get("distance")
            races.append(
                Race(
                    provider_race_id=name,  # athletes name their event by its name
                    name=name,
                    distance=f"{distance} m"
                    if isinstance(distance, int | float) and distance
                    else t(distance),
                    start_time=t(ev.get("startTime") or ev.get("start"), 40),
                    raw=ev,
                )
            )
        return ProviderEvent(
            provider=self.id,
            provider_event_id=race_id,
            name=t(data.get("name")) or race_id,
            date=n.iso_date(data.get("date") or data.get("startDate")),
            timezone=t(data.get("timezone"), 64),
            city=t(data.get("location") or data.get("city")),
            country=t(data.get("country"), 100),
            races=tuple(races),
            raw=data,
        )

    # --- athletes ------------------------------------------------------------------------------
    async def fetch_entrants(
        self, provider_event_id: str, cursor: dict[str, Any] | None = None
    ) -> FetchResult:
        race_id = _race_id(provider_event_id)
        self.progress.start(f"{self.name}: athletes of {race_id}", 0)
        path = f"{race_id}/athletes"
        rows = self._rows(await self._get(path), path)
        self.page_done(len(rows), "athletes")
        full_rows = await self._complete(race_id, rows)
        entrants: list[Entrant] = []
        quarantined: list[dict[str, Any]] = []
        supplies = set(BASE_SUPPLIES)
        for i, row in enumerate(full_rows):
            got = self._entrants(row, race_id)
            if isinstance(got, str):
                quarantined.append({"row": _label(row, i), "reason": got})
                continue
            entrants.extend(got)
            supplies.update(OPTIONAL[k] for k in OPTIONAL if isinstance(row, dict) and k in row)
        collapsed, dupes = n.collapse(entrants)
        # an empty answer is never "everyone withdrew": no suspected removals from it
        return FetchResult(
            collapsed,
            quarantined,
            full=bool(rows),
            cursor={},
            duplicates=dupes,
            supplies=frozenset(supplies),
        )

    async def _complete(self, race_id: str, rows: list[Any]) -> list[Any]:
        """Each listed athlete whole: a summary (no ``events``) is replaced by its ``/full``."""
        gate = asyncio.Semaphore(self.parallel)

        async def full(row: Any) -> Any:
            if not isinstance(row, dict) or isinstance(row.get("events"), list) or not t(row.get("id"), 64):
                return row  # whole already, or broken: _entrants names what is wrong
            aid = t(row.get("id"), 64)
            path = f"{race_id}/athlete/{quote(aid, safe='')}/full"
            async with gate:
                data = await self._get(path)
            if isinstance(data, dict) and isinstance(data.get("data"), dict):
                data = data["data"]
            self.need({"athlete": data}, "athlete", dict, path, "athlete")
            self.need(data, "events", list, path, "events")  # a /full without events: a new shape
            self.page_done(1, "athletes")
            return data

        return await _all(full(r) for r in rows)

    def _entrants(self, row: Any, race_id: str) -> list[Entrant] | str:
        if not isinstance(row, dict):
            return f"an athlete is {type(row).__name__}, not an object"
        aid = t(row.get("id"), 64)
        if not aid:
            return "no id"
        events = row.get("events")
        if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
            return f"athlete {aid}: 'events' is not a list of objects"
        first, last = t(row.get("name")), t(row.get("surname"))
        if not first and not last:
            first, _, last = t(row.get("fullname")).partition(" ")
        out = []
        for k, ev in enumerate(events):
            status = t(ev.get("realStatus") or ev.get("status"), 32).lower()
            chip = ev.get("chip")
            chip = chip[0] if isinstance(chip, list) and chip else chip
            event_name = t(ev.get("event"))
            out.append(
                Entrant(
                    provider=self.id,
                    provider_event_id=race_id,
                    # one registration per athlete and event: the first keeps the plain id
                    registration_id=aid if k == 0 else f"{aid}:{event_name}",
                    bib=n.bib(ev.get("dorsal")),
                    chip=t(chip, 64),
                    first_name=first,
                    last_name=last,
                    gender=n.sex(row.get("gender")),
                    birth_date=n.iso_date(row.get("birthdate")),
                    city=t(row.get("city")),
                    state=t(row.get("province"), 100),
                    country=t(row.get("country"), 100),
                    race_id=event_name,
                    race_name=event_name,
                    division=t(ev.get("category"), 100),
                    team=t(ev.get("team")) or t(ev.get("club")),
                    wave=t(ev.get("wave"), 64),
                    custom={
                        f: t(row.get(f)) for f in (f"extrafield{i}" for i in range(1, 6)) if t(row.get(f))
                    },
                    status=GONE.get(status, "active"),
                    status_reason=status if status in GONE else "",
                    raw=row,
                )
            )
        return out

    # --- the public preset export -----------------------------------------------------------------
    async def fetch_preset(self, race_id: str, login: str, preset: str, event: str) -> list[dict[str, Any]]:
        """The rows of a preset export (no key needed): nested ``times`` flattened to dotted keys
        (``times.official_finish``), text de-mojibaked, times left in milliseconds."""
        race_id = _race_id(race_id)
        for name, value in (("login", login), ("preset", preset), ("event", event)):
            if not isinstance(value, str) or not value.strip():
                raise ProviderInputError(
                    f"{self.name}: the preset export needs '{name}'", provider=self.id, field=name
                )
        path = f"{race_id}/preset/{quote(login.strip(), safe='@')}:::{quote(preset, safe='')}/{quote(event, safe='')}"
        self.progress.start(f"{self.name}: preset {preset} of {race_id}", 0)
        rows = self._rows(await self._get(path, auth=False), path, ("data", "results"))
        self.page_done(len(rows), f"preset {preset}")
        return [_flat(r) for r in rows if isinstance(r, dict)]

    async def fetch_results(self, race_id: str, login: str, preset: str, event: str) -> list[Result]:
        """A preset export as results: ``times.official_finish`` is the clock time,
        ``times.real_finish`` (or ``net``) the chip time; a revoked time (null/0) is none."""
        rows = await self.fetch_preset(race_id, login, preset, event)
        out = []
        for row in rows:
            rank = t(row.get("position") or row.get("pos") or row.get("rank"), 10)
            out.append(
                Result(
                    provider=self.id,
                    provider_event_id=race_id,
                    registration_id=t(row.get("id"), 64),
                    bib=n.bib(row.get("dorsal")),
                    first_name=t(row.get("name")),
                    last_name=t(row.get("surname")),
                    gender=n.sex(row.get("gender")),
                    race_id=event,
                    race_name=event,
                    division=t(row.get("category"), 100),
                    place=int(rank) if rank.isdigit() else None,
                    clock_time=ms_time(row.get("times.official_finish", row.get("times.finish"))),
                    chip_time=ms_time(row.get("times.real_finish", row.get("times.net_finish"))),
                    raw=row,
                )
            )
        return out


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        else:
            out[name] = fix_mojibake(value) if isinstance(value, str) else value
    return out


async def _all(jobs: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run the jobs together; the first failure cancels the rest and is raised (not a group)."""
    tasks = [asyncio.ensure_future(j) for j in jobs]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _label(row: Any, index: int) -> str:
    if isinstance(row, dict) and t(row.get("id"), 64):
        who = f"{t(row.get('name'))} {t(row.get('surname'))}".strip()
        return f"athlete {t(row.get('id'), 64)}" + (f" ({who})" if who else "")
    return f"athletes row {index}"


def _race_id(value: object) -> str:
    text = str(value).strip()
    if not _RACE_ID.match(text):
        raise ProviderInputError(
            f"Copernico race id {text[:40]!r} must be the race's slug (letters, digits, '-', '_', '.')",
            provider="copernico",
            field="provider_event_id",
        )
    return text
