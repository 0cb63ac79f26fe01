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

from race_control.providers.file_columns import FALSE, TRUE, RowError, file_entrants, status_of, supplies
from race_control.providers.normalized import Entrant, FetchResult, age, bib, entrant_of, iso_date, sex
from race_control.roster.tabular import Table

__all__ = ["FALSE", "TRUE", "RowError", "entrant_json", "entrants", "status_of", "supplies", "to_entrant"]


class _Columns:
    """A mapping resolved once per file: which column each field reads, and the custom ones
    (every other named column: a 50,000-row file is normalized row by row with these)."""

    def __init__(self, mapping: Mapping[str, str], headers: list[str] | None = None) -> None:
        self.mapping = mapping
        used = set(mapping.values())
        self.custom = None if headers is None else [h for h in headers if h and h not in used]
        self.used = used


def to_entrant(
    line: int,
    cells: dict[str, str],
    mapping: Mapping[str, str],
    provider: str,
    source: str,
    columns: _Columns | None = None,
) -> Entrant:
    """One row as an entrant; ``RowError`` names what is wrong with it.  ``columns``: the
    mapping resolved for the file's headers (``entrants`` passes it; else resolved here)."""
    del line
    cols = columns if columns is not None else _Columns(mapping)
    values = {name: cells.get(column, "").strip() for name, column in mapping.items()}
    get = values.get

    number = bib(get("bib", ""))
    registration = get("registration_id", "")
    if not registration:
        if not number:
            raise RowError("no bib (and no registration id) on this row")
        registration = f"bib:{number}"
    if len(registration) > 64:
        raise RowError(f"registration id {registration[:20]!r}… is longer than 64 characters")
    # the values are stripped strings already: ``text(v, n)`` of one is ``v[:n]``
    first, last = get("first_name", "")[:200], get("last_name", "")[:200]
    if not first and not last and get("name"):
        full = get("name", "")[:200]
        first, _, last = full.rpartition(" ") if " " in full else ("", "", full)
        first, last = first.strip(), last.strip()
    years = None
    given_age = get("age", "")
    if given_age:
        years = age(given_age)
        if years is None:
            raise RowError(f"age {given_age[:20]!r} is not a whole number 0-130")
    given_born = get("birth_date", "")
    born = iso_date(given_born) if given_born else ""
    if given_born and not born:
        raise RowError(f"birth date {given_born[:20]!r} is not YYYY-MM-DD or M/D/YYYY")
    given_privacy = get("hidden", "")
    privacy = given_privacy.lower()
    if privacy not in TRUE and privacy not in FALSE:
        raise RowError(f"privacy value {given_privacy[:20]!r} is not yes or no")
    if cols.custom is None:
        custom = {h: v.strip() for h, v in cells.items() if h and h not in cols.used and v.strip()}
    else:
        custom = {}
        for h in cols.custom:
            v = cells.get(h, "").strip()
            if v:
                custom[h] = v
    word = get("status", "")
    status = status_of(word) if word else "active"
    return entrant_of(
        dict(
            provider=provider,
            provider_event_id=source,
            registration_id=registration,
            bib=number,
            chip=get("chip", "")[:32],
            first_name=first,
            last_name=last,
            gender=sex(get("gender", "")),
            age=years,
            birth_date=born,
            race_name=get("race_name", "")[:200],
            message=get("message", "")[:500],
            hidden=privacy in TRUE,
            custom=custom,
            status=status,
            status_reason=word[:100] if status != "active" else "",
            raw=cells,
            city=get("city", "")[:200],
            state=get("state", "")[:100],
            country=get("country", "")[:100],
            division=get("division", "")[:100],
            team=get("team", "")[:200],
            wave=get("wave", "")[:64],
        )
    )


def entrants(
    table: Table, mapping: Mapping[str, str], provider: str, source: str
) -> tuple[FetchResult, dict[str, int]]:
    """The file as one full pull: every usable row an entrant (``to_entrant``'s), the others
    quarantined with their line and reason; and the line of each entrant (registration id →
    line), to name a row the planner quarantines.  Made column by column
    (``providers.file_columns``: the same entrants, the same reasons)."""
    return file_entrants(table, mapping, provider, source)


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
