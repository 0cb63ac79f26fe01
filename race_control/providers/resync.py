"""Safe re-sync, planned without I/O: local roster + fetched entrants → what would change.

``plan_resync(local, fetched, supplies)`` compares the local participants of one event (with
their link to a registration of this provider event, if any, and their ``local_fields``: what
the timer edited here) with a pull's entrants, and returns a ``Plan``; nothing is applied
here (``operations.provider_sync`` applies a plan in one unit of work).  The rules
(docs/providers.md#re-sync-rules):

* **Identity**: an entrant is its registration (provider + provider event + registration id).
  A local runner linked to that registration is that entrant.  An unlinked local runner wearing
  the entrant's bib is taken for it only if a name agrees (same first or last name, any case);
  a bib worn by somebody else is a conflict, quarantined.  Never matched on name + birth date.
* **Ownership per field**: a provider only changes the fields its adapter supplies
  (``supplies``); a field in the runner's ``local_fields`` is never overwritten — the remote
  value is listed in ``kept_local``; a blank remote bib or chip never clears a local one.
* **Removals are marks**: a removed, transferred, deferred, refunded or cancelled registration
  of a local runner is listed in ``removed`` (the link is marked, the runner stays in the roster:
  a runner on the course must still be named).  A linked runner missing from a *full* pull is a
  ``suspected_removal`` to confirm, never deleted; an incremental pull says nothing of runners
  it did not bring.
* **One bad row is quarantined** with its reason (no bib for a new runner, a bib somebody else
  wears, a value the roster cannot hold); the rest goes on.  Duplicates (a registration on two
  pages) were collapsed by the fetch, the last copy winning.
"""

from __future__ import annotations

import json
import operator
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from itertools import repeat
from typing import Any, ClassVar, TypeVar

from race_control.providers.normalized import PARTICIPANT_FIELDS, Entrant, FetchResult
from race_control.roster.participants import ParticipantRow, Rejected, parse_row
from race_control.store import json_text

# fields a blank remote value never clears
STICKY = ("bib", "chip")
# compared (and written) participant fields, in the order the preview lists them
COMPARED = (
    "bib",
    "chip",
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
    "hidden",
)
ROW_FIELDS = tuple(f for f in ParticipantRow.__slots__ if f != "raw")
GONE = ("removed", "transferred", "deferred", "refunded", "cancelled")


@dataclass(frozen=True)
class LocalRunner:
    """One local participant as the planner sees it."""

    id: str
    fields: dict[str, Any]  # the participant's fields (bib, first_name, ... hidden)
    raw: dict[str, Any] = field(default_factory=dict)  # its extra columns (chip among them)
    local_fields: frozenset[str] = frozenset()
    registration_id: str = ""  # the registration of THIS provider event it is linked to
    link_status: str = ""  # that link's status (active, removed, ...)
    link_raw: dict[str, Any] | None = None  # the provider row that link keeps (None: not loaded)
    # or that row as the store holds it (JSON text), compared without decoding it first
    link_raw_json: str | None = None

    def link_is(self, e: Entrant, status: str) -> bool:
        """True if this runner's link already says exactly this (no write needed)."""
        if self.registration_id != e.registration_id or self.link_status != status:
            return False
        if self.link_raw_json is not None:
            # the text the store wrote for an equal row is json.dumps of it; another text may
            # still be an equal row (keys in another order): then the decoded rows decide
            return self.link_raw_json == json_text.dumps(e.raw) or json.loads(self.link_raw_json) == e.raw
        return self.link_raw == e.raw

    def __post_init__(self) -> None:
        # read many times a plan; ``fields`` is never changed (set once: a cached_property
        # takes a lock on its first read, 50,000 times a re-sync)
        object.__setattr__(self, "bib", str(self.fields["bib"]))

    bib: ClassVar[str]  # set by __post_init__ (not a constructor argument)

    def value(self, name: str) -> Any:
        return self.raw.get("chip", "") if name == "chip" else self.fields.get(name)


@dataclass(frozen=True, slots=True)
class Added:
    entrant: Entrant
    row: ParticipantRow  # the new participant as ``parse_row`` made it (applied as is)

    @property
    def fields(self) -> dict[str, Any]:
        """The new participant's roster fields (``ROW_FIELDS``), for a look at the plan."""
        return {k: getattr(self.row, k) for k in ROW_FIELDS}

    @property
    def raw(self) -> dict[str, Any]:
        """Its extra columns (``participants.raw``)."""
        return dict(self.row.raw)


@dataclass(frozen=True)
class Changed:
    runner: LocalRunner
    entrant: Entrant
    fields: dict[str, Any]  # the participant after the sync (every field)
    raw: dict[str, Any]
    diff: dict[str, tuple[Any, Any]]  # field -> (before, after)


@dataclass(frozen=True)
class Linked:
    """A registration to remember (the link row): matched, added, or removed."""

    entrant: Entrant
    participant_id: str  # "" for an added runner (its id is known when inserted: by bib)
    bib: str
    status: str


@dataclass
class Plan:
    added: list[Added] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    unchanged: list[tuple[LocalRunner, Entrant]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    suspected_removals: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    kept_local: list[dict[str, Any]] = field(default_factory=list)
    links: list[Linked] = field(default_factory=list)
    duplicates: int = 0
    full: bool = True

    def to_json(self, limit: int = 500) -> dict[str, Any]:
        """The preview: counts for added/changed/removed/unchanged (docs/providers.md#api), the lists that
        need a look (each at most ``limit`` long; ``truncated`` says if any was cut)."""
        lists = {
            "quarantined": self.quarantined,
            "kept_local": self.kept_local,
            "removals": self.removed,
            "suspected_removals": self.suspected_removals,
            "added_runners": [
                {"registration_id": a.entrant.registration_id, "bib": a.row.bib, "name": a.entrant.name}
                for a in self.added[: limit + 1]  # one more than shown: ``truncated`` sees it
            ],
            "changes": [
                {
                    "registration_id": c.entrant.registration_id,
                    "bib": c.runner.bib,
                    "name": c.entrant.name,
                    "fields": {k: {"from": v[0], "to": v[1]} for k, v in c.diff.items()},
                }
                for c in self.changed[: limit + 1]
            ],
        }
        out: dict[str, Any] = {
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "unchanged": len(self.unchanged),
            "full": self.full,
            "duplicates": self.duplicates,
        }
        truncated = False
        for name, rows in lists.items():
            truncated |= len(rows) > limit
            out[name] = rows[:limit]
        out["truncated"] = truncated
        return out


def _names_agree(runner: LocalRunner, e: Entrant) -> bool:
    first = str(runner.fields.get("first_name") or "").casefold()
    last = str(runner.fields.get("last_name") or "").casefold()
    return bool((first and first == e.first_name.casefold()) or (last and last == e.last_name.casefold()))


def _who(runner: LocalRunner) -> str:
    name = f"{runner.fields.get('first_name', '')} {runner.fields.get('last_name', '')}".strip()
    return f"bib {runner.bib}" + (f" ({name})" if name else "")


def _blank(value: Any) -> bool:
    return value is None or value == ""


T = TypeVar("T")
NewRows = Callable[[list[Entrant], frozenset[str]], "list[ParticipantRow | Rejected | None] | None"]


def plan_resync(
    local: list[LocalRunner],
    fetched: FetchResult,
    supplies: frozenset[str] | None = None,
    new_rows: NewRows | None = None,
) -> Plan:
    """``new_rows(entrants, supplies)``, when given, answers for each new entrant what
    ``parse_row`` of its row would (None for one without a bib), or None to let the planner
    validate each (``providers.new_runners``: a roster file's, column by column)."""
    supplies = fetched.supplies if supplies is None else supplies
    plan = Plan(quarantined=list(fetched.quarantined), duplicates=fetched.duplicates, full=fetched.full)
    by_reg = {r.registration_id: r for r in local if r.registration_id}
    by_bib = {r.bib: r for r in local}
    seen_regs: set[str] = set()
    # bibs taken once the plan is applied: start from the local roster; a matched runner's bib
    # may move (then its old bib is free unless someone else takes it)
    claimed: dict[str, str] = {}  # bib -> registration id that claims it in this plan
    matched: list[tuple[LocalRunner, Entrant]] = []
    new: list[Entrant] = []
    taken: dict[str, str] = {}  # local runner id -> the registration matched to it

    for e in fetched.entrants:
        seen_regs.add(e.registration_id)
        runner = by_reg.get(e.registration_id)
        if runner is None and e.bib and e.bib in by_bib:
            holder = by_bib[e.bib]
            if holder.registration_id and holder.registration_id != e.registration_id:
                if e.status == "active":
                    plan.quarantined.append(
                        _q(
                            e,
                            f"bib {e.bib} is worn here by {_who(holder)}, linked to registration "
                            f"{holder.registration_id}",
                        )
                    )
                continue
            if not _names_agree(holder, e):
                if e.status == "active":
                    plan.quarantined.append(
                        _q(
                            e,
                            f"bib {e.bib} is worn here by {_who(holder)}, not {e.name or 'this runner'}: "
                            "fix the bib here or at the provider",
                        )
                    )
                continue
            if holder.id in taken:
                plan.quarantined.append(
                    _q(e, f"bib {e.bib} is already this pull's registration {taken[holder.id]}")
                )
                continue
            runner = holder
        if runner is not None:
            taken[runner.id] = e.registration_id
        if e.status in GONE:
            if runner is not None:
                if not runner.link_is(e, e.status):
                    plan.links.append(Linked(e, runner.id, runner.bib, e.status))
                if runner.link_status != e.status:
                    item = {
                        "registration_id": e.registration_id,
                        "bib": runner.bib,
                        "name": e.name,
                        "status": e.status,
                    }
                    if e.status_reason:
                        item["reason"] = e.status_reason
                    if e.transferred_to:
                        item["transferred_to"] = e.transferred_to
                    plan.removed.append(item)
            continue
        if runner is None:
            new.append(e)
        else:
            matched.append((runner, e))

    # a matched runner's bib: the remote one (if it owns the bib and gives one), else its own
    moving: dict[str, str] = {}  # runner id -> new bib
    for runner, e in matched:
        bib = runner.bib
        if "bib" in supplies and e.bib and e.bib != runner.bib and "bib" not in runner.local_fields:
            bib = e.bib
        if bib != runner.bib:
            moving[runner.id] = bib
        claimed.setdefault(bib, e.registration_id)
    stays = {r.bib for r in local if r.id not in moving}  # bibs still worn by who wears them now

    same = _unchanged_test(supplies)
    for runner, e in matched:
        target = moving.get(runner.id)
        if target is None and same(runner, e):
            plan.unchanged.append((runner, e))
            continue
        if target is not None:
            holder = by_bib.get(target)
            if (holder is not None and holder.id not in moving and target in stays) or claimed.get(
                target
            ) != e.registration_id:
                who = _who(holder) if holder is not None else f"registration {claimed.get(target)}"
                plan.quarantined.append(
                    _q(e, f"the provider moves {_who(runner)} to bib {target}, worn by {who}")
                )
                continue
        _plan_match(plan, runner, e, supplies, target or runner.bib)

    given = [k for k in PARTICIPANT_FIELDS if k in supplies or k == "bib"]  # a new runner's fields
    values, many = operator.attrgetter(*given), len(given) > 1  # (a tuple of them when many)
    made = new_rows(new, supplies) if new_rows is not None and new else None
    adding: list[Entrant] = []
    rows: list[ParticipantRow] = []
    for e, ready in zip(new, made if made is not None else repeat(None), strict=False):
        if not e.bib:
            plan.quarantined.append(
                _q(e, "has no bib yet: assign one at the provider, or add the runner here as a walk-up")
            )
            continue
        if e.bib in claimed or (e.bib in stays):
            holder = by_bib.get(e.bib)
            who = _who(holder) if holder is not None else f"registration {claimed[e.bib]}"
            plan.quarantined.append(_q(e, f"bib {e.bib} is also {who}'s"))
            continue
        if ready is not None:
            parsed = ready
        else:
            row = dict(zip(given, values(e), strict=True)) if many else {given[0]: values(e)}
            row.update(e.extra())
            parsed = parse_row(0, row)
        if isinstance(parsed, Rejected):
            plan.quarantined.append(_q(e, parsed.error.split(": ", 1)[-1]))
            continue
        claimed[parsed.bib] = e.registration_id
        adding.append(e)
        rows.append(parsed)
    # ``Added(e, row)`` and ``Linked(e, "", row.bib, "active")`` for each, made a field at a time
    # over all of them (their ``__init__`` per runner was a tenth of planning a 50,000-row file)
    plan.added.extend(_made(Added, len(rows), entrant=adding, row=rows))
    plan.links.extend(
        _made(
            Linked,
            len(rows),
            entrant=adding,
            participant_id=repeat(""),
            bib=map(operator.attrgetter("bib"), rows),
            status=repeat("active"),
        )
    )

    if fetched.full:
        for r in local:
            if r.registration_id and r.registration_id not in seen_regs and r.link_status == "active":
                plan.suspected_removals.append(
                    {
                        "registration_id": r.registration_id,
                        "bib": r.bib,
                        "name": f"{r.fields.get('first_name', '')} {r.fields.get('last_name', '')}".strip(),
                        "reason": "missing from a full pull: confirm at the provider before removing",
                    }
                )
    return plan


def _unchanged_test(supplies: frozenset[str]) -> Callable[[LocalRunner, Entrant], bool]:
    """A test that a matched runner who keeps its bib needs nothing written: every compared
    field it is given equals the local one and its link already keeps this provider row.

    ``_plan_match`` answers the same (``unchanged``) for such a runner, a field at a time; this
    compares all of them as one tuple (most of a 50,000-runner re-sync: docs/providers.md#load).
    False only means "let ``_plan_match`` decide"."""
    names = tuple(n for n in COMPARED if n in supplies and n not in STICKY)
    theirs = operator.attrgetter(*names) if names else (lambda e: ())
    mine = operator.itemgetter(*names) if names else (lambda f: ())
    if len(names) == 1:  # (the getters give a bare value, not a tuple, for one name)
        theirs, mine = (lambda e, g=theirs: (g(e),)), (lambda f, g=mine: (g(f),))
    bib_given, chip_given = "bib" in supplies, "chip" in supplies

    def same(runner: LocalRunner, e: Entrant) -> bool:
        fields = runner.fields
        if bib_given and e.bib and e.bib != runner.bib:  # (a bib kept local is listed)
            return False
        if fields.get("bib") != runner.bib:
            return False
        if chip_given and e.chip and e.chip != (runner.raw.get("chip", "") or ""):
            return False
        try:
            if mine(fields) != theirs(e):
                return False
        except KeyError:  # a field the local row does not have: compared one at a time
            return False
        return runner.link_is(e, "active")

    return same


def _plan_match(plan: Plan, runner: LocalRunner, e: Entrant, supplies: frozenset[str], bib: str) -> None:
    diff: dict[str, tuple[Any, Any]] = {}
    if "bib" in supplies and e.bib and e.bib != runner.bib and "bib" in runner.local_fields:
        plan.kept_local.append(
            {
                "registration_id": e.registration_id,
                "bib": runner.bib,
                "field": "bib",
                "local": runner.bib,
                "remote": e.bib,
            }
        )
    fields = runner.fields
    after: dict[str, Any] | None = None  # the fields after the sync, copied on the first change
    chip: str | None = None  # the local chip the row keeps (a blank remote one, or a local edit)
    for name in COMPARED:
        if name not in supplies and name != "bib":
            continue
        if name == "bib":
            theirs: Any = bib
            mine = fields.get("bib")
        elif name == "chip":
            theirs = e.chip
            mine = runner.raw.get("chip", "") or ""  # runner.value
        else:
            theirs = getattr(e, name)
            mine = fields.get(name)
        if mine == theirs or (name in STICKY and _blank(theirs)):
            if name == "chip" and _blank(theirs) and mine:
                chip = mine
            continue
        if name in runner.local_fields:
            plan.kept_local.append(
                {
                    "registration_id": e.registration_id,
                    "bib": runner.bib,
                    "field": name,
                    "local": mine,
                    "remote": theirs,
                }
            )
            if name == "chip":
                chip = mine
            continue
        diff[name] = (mine, theirs)
        if name != "chip":
            if after is None:
                after = dict(fields)
            after[name] = theirs
    linked = runner.link_is(e, "active")
    if not diff and linked:
        # the provider row is the one the link keeps (compared as text) and no field differs:
        # nothing to write, and nothing to validate again (that row passed ``parse_row`` when
        # it was linked; a 50,000-runner re-sync is mostly these: docs/providers.md#load)
        plan.unchanged.append((runner, e))
        return
    raw = {**runner.raw, **e.extra()}
    if chip is not None:
        raw["chip"] = chip
    row = parse_row(0, {**(fields if after is None else after), **raw})
    if isinstance(row, Rejected):
        plan.quarantined.append(_q(e, row.error.split(": ", 1)[-1]))
        return
    if not linked:
        plan.links.append(Linked(e, runner.id, row.bib, "active"))
    if diff:
        plan.changed.append(Changed(runner, e, {k: getattr(row, k) for k in ROW_FIELDS}, dict(row.raw), diff))
    else:
        plan.unchanged.append((runner, e))


def _made(cls: type[T], count: int, **columns: Iterable[Any]) -> list[T]:
    """``count`` instances of the frozen dataclass ``cls``, each field set from its column as its
    ``__init__`` would (``object.__setattr__``, the way a frozen one sets them), a column at a
    time; ``columns`` names every field."""
    assert columns.keys() == {f.name for f in fields(cls)}, columns.keys()  # type: ignore[arg-type]
    new = object.__new__
    made = [new(cls) for _ in range(count)]
    put = object.__setattr__
    for name, column in columns.items():
        deque(map(put, made, repeat(name, count), column), maxlen=0)
    return made


def _q(e: Entrant, reason: str) -> dict[str, Any]:
    label = f"registration {e.registration_id}"
    if e.name:
        label += f" ({e.name})"
    return {"row": label, "reason": reason}
