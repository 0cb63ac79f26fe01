"""RunSignUp: races (our provider events), their events (our races), participants, removed
participants, corrals (waves) and results.  The wire facts relied on are in docs/providers.md.

Auth: the API v2 key — ``rsu_api_key`` in the query, the secret in the ``X-RSU-API-SECRET``
header (never in a URL, so never in a log).  Every call sends ``format=json`` (the default is
XML).  Participants come page by page in ``registration_id`` order with
``after_registration_id`` (keyset: a runner registering mid-pull cannot shift the pages),
2,500 a page (the API's maximum), until a page holds fewer.  An incremental pull sends
``modified_after_timestamp`` 10 s before the newest ``last_modified`` seen last time: the
boundary is inclusive and clocks drift, so rows come back again and are collapsed by
registration id.  Removed participants (transfers, deferrals, clears) are their own feed, read
on every pull.  Errors may come as HTTP 200 with ``{"error": {"error_code", "error_msg"}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from race_control.providers import normalized as n
from race_control.providers.base import ProviderAdapter
from race_control.providers.errors import MISSING, ProviderHTTPError, ProviderInputError
from race_control.providers.normalized import Entrant, FetchResult, ProviderEvent, Race, Result

PAGE = 2500  # participants per page (RunSignUp's maximum)
RACES_PAGE = 1000  # races per page (its maximum)
OVERLAP = 10  # seconds an incremental pull reaches back (inclusive boundary, clock skew)
REMOVED_STATUS = {
    "transferred": "transferred",
    "deferred": "deferred",
    "refunded": "refunded",
    "cleared": "removed",
    "removed": "removed",
}
AUTH_CODES = {6}  # "get a new key"
# what a participant row says (no division: RunSignUp has none on it; the wave only when the race
# has corrals; no message, no privacy flag)
SUPPLIES = frozenset(
    ("bib", "chip", "first_name", "last_name", "age", "gender", "city", "state", "country", "team")
)


class RunSignUp(ProviderAdapter):
    id = "runsignup"
    name = "RunSignUp"
    kind = "registration"
    credential_fields = ("api_key", "api_secret")
    default_base_url = "https://runsignup.com/Rest"
    incremental = True
    page_size = PAGE

    async def _get(self, path: str, **params: Any) -> Any:
        query = {"format": "json", "rsu_api_key": self.credentials["api_key"], **params}
        data, resp = await self.get_json(path, query, {"X-RSU-API-SECRET": self.credentials["api_secret"]})
        if isinstance(data, dict) and isinstance(data.get("error"), dict | str):
            self._raise_body_error(data["error"], self.path_of(str(resp.request.url)))
        return data

    def _raise_body_error(self, error: Any, path: str) -> None:
        code = error.get("error_code") if isinstance(error, dict) else None
        msg = n.text(error.get("error_msg") if isinstance(error, dict) else error, 200)
        words = msg.lower()
        if code in AUTH_CODES or any(
            w in words for w in ("api key", "secret", "auth", "permission", "login")
        ):
            raise self.auth_failed(path, f"error {code}: {msg}")
        raise ProviderHTTPError(
            f"{self.name}: {path} answered error {code}: {msg}", status=200, provider=self.id, path=path
        )

    # --- events ------------------------------------------------------------------------------
    async def list_events(self) -> list[ProviderEvent]:
        self.progress.start(f"{self.name}: races", 0)
        out: list[ProviderEvent] = []
        page = 1
        while True:
            data = await self._get("races", events="T", page=page, results_per_page=RACES_PAGE)
            races = self.need(data, "races", list, "/races", "races")
            for i, wrapped in enumerate(races):
                race = self.need(wrapped, "race", dict, "/races", f"races[{i}].race")
                out.append(self._event(race, f"/races races[{i}].race"))
            self.page_done(len(races), "races")
            if len(races) < RACES_PAGE:
                return out
            page += 1

    def _event(self, race: dict[str, Any], where: str) -> ProviderEvent:
        race_id = race.get("race_id")
        if not isinstance(race_id, int | str) or isinstance(race_id, bool) or not str(race_id):
            raise self.shape(where.split(" ")[0], f"{where.split(' ')[-1]}.race_id", "a race id", race_id)
        address = race.get("address") if isinstance(race.get("address"), dict) else {}
        events = race.get("events") if isinstance(race.get("events"), list) else []
        return ProviderEvent(
            provider=self.id,
            provider_event_id=str(race_id),
            name=n.text(race.get("name")),
            date=n.iso_date(race.get("next_date")) or n.iso_date(race.get("last_date")),
            timezone=n.text(race.get("timezone"), 64),
            city=n.text(address.get("city")),
            state=n.text(address.get("state")),
            country=n.text(address.get("country_code")),
            races=tuple(
                Race(
                    provider_race_id=n.text(e.get("event_id")),
                    name=n.text(e.get("name")),
                    distance=n.text(e.get("distance")),
                    start_time=n.text(e.get("start_time")),
                    raw=e,
                )
                for e in events
                if isinstance(e, dict) and e.get("event_id") is not None
            ),
            raw=race,
        )

    async def event(self, race_id: str) -> ProviderEvent:
        path = f"race/{_segment(race_id)}"
        data = await self._get(path, future_events_only="F")
        race = self.need(data, "race", dict, f"/{path}", "race")
        return self._event(race, f"/{path} race")

    async def corrals(self, race_id: str) -> list[dict[str, Any]]:
        path = f"race/{_segment(race_id)}/corrals"
        try:
            data = await self._get(path)
        except ProviderHTTPError as exc:
            if exc.status == 404:  # a race without corrals
                return []
            raise
        corrals = data.get("race_corrals") if isinstance(data, dict) else None
        return [c for c in corrals if isinstance(c, dict)] if isinstance(corrals, list) else []

    # --- participants -------------------------------------------------------------------------
    async def fetch_entrants(
        self, provider_event_id: str, cursor: dict[str, Any] | None = None
    ) -> FetchResult:
        race_id = _segment(provider_event_id)
        event = await self.event(race_id)
        races = {r.provider_race_id: r for r in event.races}
        if not races:
            raise self.shape(f"/race/{race_id}", "race.events", "a non-empty list of events", [])
        corrals = await self.corrals(race_id)
        waves = Corrals.of(corrals)
        since = cursor.get("modified_after") if cursor else None
        incremental = isinstance(since, int | float) and not isinstance(since, bool)
        self.progress.start(f"{self.name}: participants of {event.name}", 0)
        extra: dict[str, Any] = {"event_id": ",".join(races)}
        if incremental:
            extra["modified_after_timestamp"] = max(0, int(since) - OVERLAP)  # type: ignore[arg-type]
        entrants: list[Entrant] = []
        quarantined: list[dict[str, Any]] = []
        newest = int(since) if incremental else 0  # type: ignore[arg-type]
        after: str | None = None
        path = f"race/{race_id}/participants"
        while True:
            params = {
                **extra,
                "results_per_page": self.page_size,
                "sort": "registration_id ASC",
                "include_questions": "T",
            }
            if after is not None:
                params["after_registration_id"] = after
            data = await self._get(path, **params)
            rows = self._participant_rows(data, f"/{path}")
            for i, row in enumerate(rows):
                got = self._entrant(row, race_id, races, waves)
                if isinstance(got, str):
                    quarantined.append({"row": _row_label(row, i), "reason": got})
                    continue
                entrants.append(got)
                if got.modified is not None:
                    newest = max(newest, int(got.modified))
            self.page_done(len(rows), "participants")
            if len(rows) < self.page_size:
                break
            last = rows[-1].get("registration_id") if isinstance(rows[-1], dict) else None
            if last is None or str(last) == after:
                break  # no way forward (a page whose last row has no id): stop rather than loop
            after = str(last)
        removed, newest_removed = await self._removed(race_id, races, extra, quarantined)
        entrants.extend(removed)
        collapsed, dupes = n.collapse(entrants)
        cursor_out = {"modified_after": max(newest, newest_removed)} if (newest or newest_removed) else {}
        supplies = SUPPLIES | {"wave"} if corrals else SUPPLIES
        return FetchResult(
            collapsed,
            quarantined,
            full=not incremental,
            cursor=cursor_out,
            duplicates=dupes,
            supplies=supplies,
        )

    def _participant_rows(self, data: Any, path: str) -> list[Any]:
        """The participants of a response: an array of ``{"event", "participants"}`` (or one such
        object); the per-event ``event.participants`` is always empty (RunSignUp's legacy bug), an
        element may have no ``participants`` key at all."""
        blocks = data if isinstance(data, list) else [data]
        rows: list[Any] = []
        for i, block in enumerate(blocks):
            if not isinstance(block, dict):
                raise self.shape(path, f"[{i}]", "an object with 'participants'", block)
            name = f"[{i}].participants" if isinstance(data, list) else "participants"
            if "participants" not in block and "event" not in block:  # not this API's shape at all
                raise self.shape(path, name, "a list", MISSING)
            got = block.get("participants", [])
            if not isinstance(got, list):
                raise self.shape(path, name, "a list", got)
            rows.extend(got)
        return rows

    def _entrant(
        self,
        row: Any,
        race_id: str,
        races: dict[str, Race],
        corrals: Corrals,
        status: str = "active",
    ) -> Entrant | str:
        """One participant row as an ``Entrant``, or the reason it cannot be one."""
        if not isinstance(row, dict):
            return f"a participant is {type(row).__name__}, not an object"
        reg = row.get("registration_id")
        if isinstance(reg, bool) or not isinstance(reg, int | str) or not str(reg).strip():
            return "no registration_id"
        user = row.get("user")
        if not isinstance(user, dict):
            return f"registration {reg}: 'user' is not an object"
        address = user.get("address") if isinstance(user.get("address"), dict) else {}
        event_id = n.text(row.get("event_id"))
        custom: dict[str, Any] = {}
        for q in row.get("question_responses") or []:
            if isinstance(q, dict) and n.text(q.get("question_text")):
                answer = q.get("response")
                if answer is None and isinstance(q.get("responses"), list):
                    answer = ", ".join(n.text(a) for a in q["responses"])
                custom[n.text(q.get("question_text"), 64)] = n.text(answer, 500)
        modified = row.get("last_modified_ts", row.get("last_modified"))
        reason = n.text(row.get("removed_reason"), 32).lower()
        return Entrant(
            provider=self.id,
            provider_event_id=race_id,
            registration_id=str(reg).strip(),
            bib=n.bib(row.get("bib_num")),
            chip=n.text(row.get("chip_num"), 64),
            first_name=n.text(user.get("first_name")),
            last_name=n.text(user.get("last_name")),
            gender=n.sex(user.get("gender")),
            age=n.age(row.get("age")),
            birth_date=n.iso_date(user.get("dob")),
            city=n.text(address.get("city")),
            state=n.text(address.get("state"), 100),
            country=n.text(address.get("country_code"), 100),
            race_id=event_id,
            race_name=races[event_id].name if event_id in races else "",
            team=n.text(row.get("team_name")),
            wave=_wave(event_id, custom, corrals),
            custom=custom,
            status=REMOVED_STATUS.get(reason, "removed") if status != "active" else "active",
            status_reason=reason,
            transferred_to=n.text(row.get("new_registration_id"), 64),
            modified=float(modified)
            if isinstance(modified, int | float) and not isinstance(modified, bool)
            else None,
            raw=row,
        )

    async def _removed(
        self, race_id: str, races: dict[str, Race], extra: dict[str, Any], quarantined: list[dict[str, Any]]
    ) -> tuple[list[Entrant], int]:
        """``/removed-participants``: ``{"event": {"event_id", "participants": [...]}}`` (or an
        array of those) — the participants *inside* ``event`` here, unlike the live list."""
        path = f"race/{race_id}/removed-participants"
        out: list[Entrant] = []
        newest = 0
        page = 1
        while True:
            data = await self._get(path, **extra, page=page, results_per_page=self.page_size)
            blocks = data if isinstance(data, list) else [data]
            rows: list[Any] = []
            for i, block in enumerate(blocks):
                event = self.need(block, "event", dict, f"/{path}", f"[{i}].event")
                got = event.get("participants", [])
                if not isinstance(got, list):
                    raise self.shape(f"/{path}", f"[{i}].event.participants", "a list", got)
                rows.extend(
                    {"event_id": event.get("event_id"), **r} if isinstance(r, dict) else r for r in got
                )
            for i, row in enumerate(rows):
                got = self._entrant(row, race_id, races, NO_CORRALS, status="removed")
                if isinstance(got, str):
                    quarantined.append({"row": _row_label(row, i, "removed"), "reason": got})
                    continue
                out.append(got)
                if got.modified is not None:
                    newest = max(newest, int(got.modified))
            self.page_done(len(rows), "removed participants")
            if len(rows) < self.page_size:
                return out, newest
            page += 1

    # --- results --------------------------------------------------------------------------------
    async def fetch_results(self, provider_event_id: str, race_id: str) -> list[Result]:
        """One event's (distance's) results: every result set, the rows' registration ids from
        the parallel ``registration_ids`` array (a manual entry has none)."""
        rid = _segment(provider_event_id)
        path = f"race/{rid}/results/get-results"
        out: list[Result] = []
        page = 1
        while True:
            data = await self._get(path, event_id=race_id, page=page, results_per_page=self.page_size)
            sets = self.need(data, "individual_results_sets", list, f"/{path}", "individual_results_sets")
            count = 0
            for si, rs in enumerate(sets):
                rows = self.need(rs, "results", list, f"/{path}", f"individual_results_sets[{si}].results")
                regs = rs.get("registration_ids") if isinstance(rs.get("registration_ids"), list) else []
                for i, row in enumerate(rows):
                    if not isinstance(row, dict):
                        continue
                    reg = regs[i] if i < len(regs) else None
                    out.append(
                        Result(
                            provider=self.id,
                            provider_event_id=rid,
                            registration_id=n.text(reg, 64),
                            bib=n.bib(row.get("bib")),
                            first_name=n.text(row.get("first_name")),
                            last_name=n.text(row.get("last_name")),
                            gender=n.sex(row.get("gender")),
                            age=n.age(row.get("age")),
                            race_id=n.text(race_id),
                            division=n.text(rs.get("individual_result_set_name")),
                            place=row.get("place") if isinstance(row.get("place"), int) else None,
                            clock_time=n.text(row.get("clock_time"), 40),
                            chip_time=n.text(row.get("chip_time"), 40),
                            raw=row,
                        )
                    )
                count += len(rows)
            self.page_done(count, "results")
            if count < self.page_size:
                return out
            page += 1


@dataclass(frozen=True)
class Corrals:
    """A race's corrals as the wave of a participant is looked up (once a pull, not per row):
    ``names`` lower-cased name -> name, ``by_event`` event id -> the corrals that apply to it."""

    names: dict[str, str]
    by_event: dict[str, list[str]]

    @classmethod
    def of(cls, corrals: list[dict[str, Any]]) -> Corrals:
        names = {
            n.text(c.get("race_corral_name")).lower(): n.text(c.get("race_corral_name")) for c in corrals
        }
        by_event: dict[str, list[str]] = {}
        for c in corrals:
            for event_id in {n.text(x) for x in c.get("race_corral_applicable_event_ids") or []}:
                by_event.setdefault(event_id, []).append(n.text(c.get("race_corral_name"), 64))
        return cls(names, by_event)


NO_CORRALS = Corrals({}, {})


def _wave(event_id: str, custom: dict[str, Any], corrals: Corrals) -> str:
    """The participant's corral: RunSignUp does not put it on the participant.  An answer to a
    question that names one of the race's corrals is it; else the one corral that applies to the
    participant's event, if there is exactly one."""
    for answer in custom.values():
        if isinstance(answer, str) and answer.lower() in corrals.names:
            return corrals.names[answer.lower()][:64]
    mine = corrals.by_event.get(event_id, []) if event_id else []
    return mine[0] if len(mine) == 1 else ""


def _row_label(row: Any, index: int, feed: str = "participants") -> str:
    if isinstance(row, dict):
        reg = n.text(row.get("registration_id"), 64)
        user = row.get("user") if isinstance(row.get("user"), dict) else {}
        who = f"{n.text(user.get('first_name'))} {n.text(user.get('last_name'))}".strip()
        return f"{feed} row {index}" + (f" (registration {reg})" if reg else "") + (f" {who}" if who else "")
    return f"{feed} row {index}"


def _segment(value: str) -> str:
    """An id as one URL path segment (RunSignUp ids are digits)."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ProviderInputError(
            f"RunSignUp race id {text[:40]!r} must be digits", provider="runsignup", field="provider_event_id"
        )
    return text
