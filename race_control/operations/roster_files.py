"""Roster file actions: preview a file's column mapping, import it through the safe re-sync.

A roster file (CSV of any source without an API; ``provider: "active"`` for an ACTIVEWorks
export) is read and normalized off the loop (``roster.tabular`` → ``providers.file_import``),
then planned like a provider's pull (``providers.resync.plan_resync``: the file is a full pull
of its *source*) and, with ``apply: true``, applied by ``provider_sync.apply_plan`` in ONE unit
of work together with the source's saved mapping: new runners, changed runners (local edits
kept), links, removals marked (never deleted), corrections on screens.  A bad row is
quarantined with its line; a bad request or a file that cannot be read changes nothing.

The mapping used: the request's, else the source's saved one (when the file has all its
columns), else the one detected from the headers.  docs/providers.md#roster-files.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from race_control.heap import release_in_slices
from race_control.operations.provider_sync import Origin, apply_plan
from race_control.progress import Progress
from race_control.providers import active, ultrasignup
from race_control.providers.accounts import load_local
from race_control.providers.file_import import entrant_json, entrants
from race_control.providers.new_runners import new_runner_rows
from race_control.providers.normalized import Entrant, FetchResult
from race_control.providers.resync import LocalRunner, Plan, plan_resync
from race_control.roster.errors import RosterInputError
from race_control.roster.gc_pause import FILE_IMPORT_THRESHOLD0, bulk_gc
from race_control.roster.mapping import TARGETS, detect, names_a_column, validate
from race_control.roster.saved_mappings import check_source, list_mappings, load_mapping, put_mapping
from race_control.roster.service import EventService
from race_control.roster.tabular import Table, read_table
from race_control.sessions.service import SessionService
from race_control.store.database import Store
from race_control.store.unit_of_work import ChangeListener, UnitOfWork

FILE_FIELDS = ("content", "content_base64", "file_name", "provider", "source", "mapping")
IMPORT_FIELDS = (*FILE_FIELDS, "apply", "save_mapping")
MAPPING_FIELDS = ("provider", "mapping", "headers")
SYNONYMS: dict[str, dict[str, str]] = {
    "csv": {},
    "active": active.SYNONYMS,
    "ultrasignup": ultrasignup.SYNONYMS,
}
SAMPLE_ROWS = 10
# an import's steps (``Progress`` labels); from APPLYING on it runs to its end
APPLYING = "Applying (one unit of work)"
STEPS = ("Reading the file", "Planning the changes", APPLYING)
LIST_LIMIT = 500
RELEASE_ROWS = 2_000  # a file of this many rows or more: its entrants and plan freed after the answer


@dataclass(frozen=True)
class FileRequest:
    raw: bytes
    provider: str
    source: str
    mapping: dict[str, str] | None
    file_name: str = ""
    apply: bool = False
    save_mapping: bool = True


@dataclass
class Prepared:
    table: Table
    mapping: dict[str, str]
    mapping_from: str  # request | saved | detected
    problem: str | None  # why the mapping cannot import (only for a saved/detected one)
    fetched: FetchResult | None
    lines: dict[str, int]


def parse_request(body: object, *, importing: bool) -> FileRequest:
    known = IMPORT_FIELDS if importing else FILE_FIELDS
    if not isinstance(body, dict):
        raise RosterInputError(f"body must be a JSON object ({', '.join(known)})")
    unknown = sorted(str(k)[:40] for k in body if k not in known)
    if unknown:
        raise RosterInputError(
            f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a roster file request; known: {', '.join(known)}"
        )
    if ("content" in body) == ("content_base64" in body):
        raise RosterInputError(
            "send the file as exactly one of 'content' (text) or 'content_base64' (its bytes)"
        )
    if "content" in body:
        if not isinstance(body["content"], str):
            raise RosterInputError("'content' must be the file's text (a string)")
        raw = body["content"].encode("utf-8", errors="surrogatepass")
    else:
        if not isinstance(body["content_base64"], str):
            raise RosterInputError("'content_base64' must be the file's bytes in base64 (a string)")
        try:
            raw = base64.b64decode(body["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise RosterInputError("'content_base64' is not valid base64") from None
    provider = body.get("provider", "csv")
    if not isinstance(provider, str) or provider not in SYNONYMS:
        raise RosterInputError(f"'provider' must be one of {', '.join(SYNONYMS)} (a roster file's origin)")
    source = check_source(body.get("source", provider))
    file_name = body.get("file_name", "")
    if not isinstance(file_name, str) or len(file_name) > 255:
        raise RosterInputError("'file_name' must be a string of at most 255 characters")
    if file_name.lower().endswith((".xlsx", ".xls", ".xlsm", ".ods")):
        raise RosterInputError(
            f"{file_name[:80]!r} is a spreadsheet workbook: save it as CSV (File > Save As > CSV UTF-8) and import the CSV"
        )
    mapping = body.get("mapping")
    if mapping is not None:
        mapping = validate(mapping)
    apply = body.get("apply", False)
    save = body.get("save_mapping", True)
    if importing and not isinstance(apply, bool):
        raise RosterInputError("'apply' must be true (import) or false (preview the changes only)")
    if importing and "apply" not in body:
        raise RosterInputError("'apply' is required: true imports, false previews the changes")
    if not isinstance(save, bool):
        raise RosterInputError("'save_mapping' must be true or false")
    return FileRequest(raw, provider, source, mapping, file_name, apply, save)


def prepare(req: FileRequest, saved: dict[str, Any] | None) -> Prepared:
    """Read, map and normalize the file (CPU work: run in an executor for a large file)."""
    synonyms = SYNONYMS[req.provider]
    table = read_table(req.raw, lambda cells: names_a_column(cells, synonyms))
    problem: str | None = None
    if req.mapping is not None:
        mapping, origin = validate(req.mapping, table.headers), "request"
    else:
        kept = dict(saved["mapping"]) if saved else {}
        if kept and all(h in table.headers for h in kept.values()):
            mapping, origin = kept, "saved"
        else:
            mapping, origin = detect(table.headers, synonyms), "detected"
        try:
            mapping = validate(mapping, table.headers)
        except RosterInputError as exc:
            problem = str(exc)
    if problem is not None:
        return Prepared(table, mapping, origin, problem, None, {})
    fetched, lines = entrants(table, mapping, req.provider, req.source)
    return Prepared(table, mapping, origin, None, fetched, lines)


def _who(e: Entrant) -> str:
    who = f"bib {e.bib}" if e.registration_id.startswith("bib:") else f"registration {e.registration_id}"
    return who + (f" ({e.name})" if e.name else "")


def name_lines(plan: Plan, fetched: FetchResult, lines: dict[str, int]) -> None:
    """The planner names a row by its registration: name it by its line in the file too."""
    wanted = {q["row"] for q in plan.quarantined if q["row"].startswith("registration ")}
    if not wanted:  # (the file's own quarantined rows are named by their line already)
        return
    by_label: dict[str, str] = {}
    for e in fetched.entrants:
        label = f"registration {e.registration_id}" + (f" ({e.name})" if e.name else "")
        if label in wanted:
            by_label[label] = f"line {lines.get(e.registration_id, 0)}, {_who(e)}"
    for q in plan.quarantined:
        q["row"] = by_label.get(q["row"], q["row"])


def _plan(local: list[LocalRunner], p: Prepared) -> Plan:
    """The re-sync plan of a prepared file (pure CPU: run off the loop for a large roster)."""
    assert p.fetched is not None
    plan = plan_resync(local, p.fetched, new_rows=new_runner_rows)
    name_lines(plan, p.fetched, p.lines)
    return plan


class RosterFileOperations:
    def __init__(
        self, store: Store, events: EventService, sessions: SessionService, changes: list[ChangeListener]
    ) -> None:
        self._store = store
        self._events = events
        self._sessions = sessions
        self._changes = changes
        self._releasing: set[asyncio.Task[None]] = set()

    def _release(self, heaps: list[Any], few: ExitStack) -> None:
        """A large file's entrants, plan and rows freed after the answer, a slice of loop time
        at a time (freed when ``_import``'s frame ended, 50,000 of each held the answer back);
        what ``few`` holds (the import's fewer collections) is let go once they are freed."""
        later = few.pop_all()  # (``few`` is left empty: closing it does nothing)
        task = asyncio.get_running_loop().create_task(release_in_slices(heaps))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)
        task.add_done_callback(lambda _: later.close())

    async def _prepare(self, req: FileRequest) -> Prepared:
        saved = await self._store.run(load_mapping, req.source)
        return await asyncio.get_running_loop().run_in_executor(None, prepare, req, saved)

    async def preview(self, event_id: str, body: object) -> dict[str, Any]:
        """The mapping preview: headers, the mapping proposed, sample rows normalized, the rows
        that cannot be used.  Changes nothing."""
        self._events.event(event_id)
        req = parse_request(body, importing=False)
        with bulk_gc():
            p = await self._prepare(req)
        used = set(p.mapping.values())
        out: dict[str, Any] = {
            "provider": req.provider,
            "source": req.source,
            "file": p.table.describe(),
            "headers": p.table.headers,
            "fields": list(TARGETS),
            "mapping": p.mapping,
            "mapping_from": p.mapping_from,
            "mapping_problem": p.problem,
            "custom_columns": [h for h in p.table.headers if h and h not in used],
            "entrants": 0,
            "sample": [],
            "errors": [],
            "truncated": False,
        }
        if p.fetched is not None:
            out["entrants"] = len(p.fetched.entrants)
            out["sample"] = [
                {"line": p.lines.get(e.registration_id, 0), **entrant_json(e)}
                for e in p.fetched.entrants[:SAMPLE_ROWS]
            ]
            out["errors"] = p.fetched.quarantined[:LIST_LIMIT]
            out["truncated"] = len(p.fetched.quarantined) > LIST_LIMIT
        return out

    async def import_file(
        self, event_id: str, body: object, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Preview (``apply`` false) or apply the file through the re-sync rules; with ``apply``
        the mapping is saved for the source in the same unit of work (``save_mapping``).

        ``progress`` (the desktop's) goes through ``STEPS``; ``cancel()`` on it stops the
        import with ``Cancelled`` until the last step begins (``APPLYING``: the one unit of work,
        which then runs to its end) — nothing is changed before that."""
        self._events.event(event_id)
        req = parse_request(body, importing=True)
        progress = progress or Progress()
        # a 50,000-row file: (almost) no collection while it is read, planned, applied — and
        # freed: the thresholds come back once its objects are (``_release``), or the first
        # young collection after them would walk all of them (~0.3 s) before the answer
        with ExitStack() as few:  # (emptied if ``_release`` takes it over)
            few.enter_context(bulk_gc(FILE_IMPORT_THRESHOLD0))
            return await self._import(event_id, req, progress, few)

    async def _import(
        self, event_id: str, req: FileRequest, progress: Progress, few: ExitStack
    ) -> dict[str, Any]:
        progress.start(STEPS[0], len(STEPS) if req.apply else len(STEPS) - 1)
        p = await self._prepare(req)
        progress.raise_if_cancelled()
        if p.fetched is None:
            raise RosterInputError(
                f"{p.problem} (columns: {', '.join(p.table.headers)[:300]}); send a 'mapping'"
            )
        async with self._events.lock:
            progress.advance(label=STEPS[1])
            local = await self._store.run(load_local, event_id, req.provider, req.source)
            plan = await asyncio.get_running_loop().run_in_executor(None, _plan, local, p)
            progress.raise_if_cancelled()  # the last moment a cancel changes nothing
            if req.apply:
                progress.advance(label=APPLYING)
                uow = UnitOfWork(self._store, self._changes)
                if req.save_mapping:
                    uow.write(put_mapping, req.source, req.provider, p.mapping, p.table.headers)
                cursor = {
                    **p.fetched.cursor,
                    "file_name": req.file_name,
                    "quarantined": len(plan.quarantined),
                }
                origin = Origin(req.provider, "", req.source)
                await apply_plan(
                    uow, self._store, self._events, self._sessions, event_id, origin, plan, cursor
                )
        progress.advance()
        out = plan.to_json(LIST_LIMIT)
        if len(p.table.rows) >= RELEASE_ROWS:  # freed after the answer, in slices (heap.py)
            heaps = [plan.links, plan.added, plan.changed, plan.unchanged, p.fetched.entrants]
            self._release([*heaps, local, p.table.rows, p.lines], few)
        out.update(
            applied=req.apply,
            provider=req.provider,
            source=req.source,
            file=p.table.describe(),
            mapping=p.mapping,
            mapping_from=p.mapping_from,
        )
        return out

    async def mappings(self) -> list[dict[str, Any]]:
        return await self._store.run(list_mappings)

    async def save_mapping(self, source: object, body: object) -> dict[str, Any]:
        """Save (create or replace) a source's mapping by hand (the desktop's mapping editor)."""
        name = check_source(source)
        if not isinstance(body, dict):
            raise RosterInputError(f"body must be a JSON object ({', '.join(MAPPING_FIELDS)})")
        unknown = sorted(str(k)[:40] for k in body if k not in MAPPING_FIELDS)
        if unknown:
            raise RosterInputError(
                f"unknown field(s) {', '.join(map(repr, unknown[:10]))} in a mapping; known: {', '.join(MAPPING_FIELDS)}"
            )
        provider = body.get("provider", "csv")
        if not isinstance(provider, str) or provider not in SYNONYMS:
            raise RosterInputError(f"'provider' must be one of {', '.join(SYNONYMS)}")
        headers = body.get("headers", [])
        if not isinstance(headers, list) or not all(isinstance(h, str) and len(h) <= 200 for h in headers):
            raise RosterInputError("'headers' must be a list of column headers (strings)")
        if len(headers) > 200:
            raise RosterInputError("'headers' lists more than 200 columns")
        mapping = validate(body.get("mapping"), headers or None)
        uow = UnitOfWork(self._store, self._changes)
        uow.write(put_mapping, name, provider, mapping, headers)
        await uow.commit()
        saved = await self._store.run(load_mapping, name)
        assert saved is not None
        return saved
