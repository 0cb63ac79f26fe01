"""A roster file's table + its column mapping → normalized entrants (pure, no I/O).

Every source without an API — a CSV or Excel-saved export of UltraSignup, a club's sheet, an
ACTIVEWorks participant export (``providers/active.py``) — comes in through here, into the one
normalized schema (``normalized.Entrant``), so the same re-sync planner (``resync.plan_resync``)
decides what is added, changed, removed, unchanged, kept local or quarantined.

* An entrant's ``provider`` is ``csv`` or ``active``, its provider event the *source* name (the
  saved mapping's name), its registration id the file's registration column or, without one,
  ``bib:<bib>`` (the bib is then the runner's identity in that file).
* ``raw`` is the row as it came (every column, by header); columns not mapped are the runner's
  custom fields.  Text is data: ``=SUM(A1)`` in a name stays that text.
* A row that cannot be used — unreadable, no bib and no registration id, an age or birth date
  or privacy value that is not one, a registration (or bib) already on an earlier line — is
  quarantined with its line and reason; the rest goes on.
* ``supplies`` is what the mapping covers: a file without a team column never clears a team.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import (
    PARTICIPANT_FIELDS,
    Entrant,
    FetchResult,
    age,
    bib,
    iso_date,
    sex,
    text,
)
from race_control.roster.tabular import Table

TRUE = {"1", "true", "yes", "y", "x", "private", "hidden"}
FALSE = {"", "0", "false", "no", "n", "public"}
# a status column's words (lower case, first match by prefix) → the normalized status
STATUS_WORDS = (
    ("cancel", "cancelled"),
    ("refund", "refunded"),
    ("transfer", "transferred"),
    ("defer", "deferred"),
    ("remov", "removed"),
    ("withdr", "removed"),
    ("delet", "removed"),
    ("inactive", "removed"),
)
TEXT_LIMITS = {"city": 200, "state": 100, "country": 100, "division": 100, "team": 200, "wave": 64}


def status_of(word: str) -> str:
    low = word.strip().lower()
    for prefix, status in STATUS_WORDS:
        if low.startswith(prefix):
            return status
    return "active"


def supplies(mapping: Mapping[str, str]) -> frozenset[str]:
    names = set(mapping)
    if "name" in names:
        names |= {"first_name", "last_name"}
    return frozenset(n for n in names if n in PARTICIPANT_FIELDS or n == "chip")


class RowError(ProviderInputError):
    """What is wrong with one row of a roster file: the row is quarantined with this reason."""


def to_entrant(
    line: int, cells: dict[str, str], mapping: Mapping[str, str], provider: str, source: str
) -> Entrant:
    """One row as an entrant; ``RowError`` names what is wrong with it."""

    def get(name: str) -> str:
        column = mapping.get(name)
        return cells.get(column, "").strip() if column is not None else ""

    number = bib(get("bib"))
    registration = get("registration_id")
    if not registration:
        if not number:
            raise RowError("no bib (and no registration id) on this row")
        registration = f"bib:{number}"
    if len(registration) > 64:
        raise RowError(f"registration id {registration[:20]!r}… is longer than 64 characters")
    first, last = text(get("first_name")), text(get("last_name"))
    if not first and not last and get("name"):
        full = text(get("name"))
        first, _, last = full.rpartition(" ") if " " in full else ("", "", full)
        first, last = first.strip(), last.strip()
    years = None
    if get("age"):
        years = age(get("age"))
        if years is None:
            raise RowError(f"age {get('age')[:20]!r} is not a whole number 0-130")
    born = iso_date(get("birth_date")) if get("birth_date") else ""
    if get("birth_date") and not born:
        raise RowError(f"birth date {get('birth_date')[:20]!r} is not YYYY-MM-DD or M/D/YYYY")
    privacy = get("hidden").lower()
    if privacy not in TRUE and privacy not in FALSE:
        raise RowError(f"privacy value {get('hidden')[:20]!r} is not yes or no")
    columns = set(mapping.values())
    custom = {h: v.strip() for h, v in cells.items() if h and h not in columns and v.strip()}
    word = get("status")
    return Entrant(
        provider=provider,
        provider_event_id=source,
        registration_id=registration,
        bib=number,
        chip=text(get("chip"), 32),
        first_name=first,
        last_name=last,
        gender=sex(get("gender")),
        age=years,
        birth_date=born,
        race_name=text(get("race_name")),
        message=text(get("message"), 500),
        hidden=privacy in TRUE,
        custom=custom,
        status=status_of(word),
        status_reason=word[:100] if status_of(word) != "active" else "",
        raw=dict(cells),
        **{k: text(get(k), n) for k, n in TEXT_LIMITS.items()},
    )


def entrants(
    table: Table, mapping: Mapping[str, str], provider: str, source: str
) -> tuple[FetchResult, dict[str, int]]:
    """The file as one full pull: every usable row an entrant, the others quarantined; and the
    line of each entrant (registration id → line), to name a row the planner quarantines."""
    result = FetchResult(full=True, supplies=supplies(mapping))
    result.quarantined = [{"row": f"line {n}", "reason": reason} for n, reason in table.errors]
    first_line: dict[str, int] = {}
    bib_line: dict[str, int] = {}
    headers = table.headers
    for n, values in table.rows:
        cells = dict(zip(headers, values, strict=True))
        try:
            e = to_entrant(n, cells, mapping, provider, source)
        except RowError as exc:
            result.quarantined.append({"row": f"line {n}", "reason": str(exc)})
            continue
        if e.registration_id in first_line:
            what = (
                f"bib {e.bib}"
                if e.registration_id.startswith("bib:")
                else f"registration {e.registration_id}"
            )
            result.quarantined.append(
                {"row": f"line {n}", "reason": f"{what} is already on line {first_line[e.registration_id]}"}
            )
            continue
        if e.bib and e.bib in bib_line and e.status == "active":
            result.quarantined.append(
                {"row": f"line {n}", "reason": f"bib {e.bib} is already on line {bib_line[e.bib]}"}
            )
            continue
        first_line[e.registration_id] = n
        if e.bib and e.status == "active":
            bib_line[e.bib] = n
        result.entrants.append(e)
    result.cursor = {"rows": len(table.rows)}
    return result, first_line


def entrant_json(e: Entrant) -> dict[str, Any]:
    """An entrant as the mapping preview shows it (its normalized fields, no raw row)."""
    return {
        "registration_id": e.registration_id,
        "bib": e.bib,
        "chip": e.chip,
        "first_name": e.first_name,
        "last_name": e.last_name,
        "gender": e.gender,
        "age": e.age,
        "birth_date": e.birth_date,
        "city": e.city,
        "state": e.state,
        "country": e.country,
        "race_name": e.race_name,
        "division": e.division,
        "team": e.team,
        "wave": e.wave,
        "message": e.message,
        "hidden": e.hidden,
        "status": e.status,
        "custom": e.custom,
    }
