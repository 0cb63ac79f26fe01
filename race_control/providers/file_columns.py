"""A roster file normalized column by column into entrants (pure, no I/O).

``file_import.to_entrant`` says what one row becomes; ``file_entrants`` gives the same entrants
and the same quarantined rows for a whole table (``file_import.entrants`` is this) without
walking every field of every row in Python: each mapped column is stripped, cut and checked once
as a list, a column of few distinct values (gender, age, privacy, status) is normalized once per
distinct value, and only a row that breaks a rule is named one by one (by the first rule it
breaks, in ``to_entrant``'s order).  A 50,000-row file: docs/providers.md#load.
The rules of a file's values (privacy words, status words, what a mapping supplies) are here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import compress, repeat
from typing import Any

from race_control.providers.errors import ProviderInputError
from race_control.providers.normalized import (
    PARTICIPANT_FIELDS,
    Entrant,
    FetchResult,
    age,
    iso_date,
    sex,
)
from race_control.roster.participants import normalize_bib
from race_control.roster.tabular import Table

TRUE = frozenset(("1", "true", "yes", "y", "x", "private", "hidden"))
FALSE = frozenset(("", "0", "false", "no", "n", "public"))
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
# the fields a file's entrant is made with, in ``to_entrant``'s order (the others: defaults)
ENTRANT_FIELDS = (
    "provider",
    "provider_event_id",
    "registration_id",
    "bib",
    "chip",
    "first_name",
    "last_name",
    "gender",
    "age",
    "birth_date",
    "race_name",
    "message",
    "hidden",
    "custom",
    "status",
    "status_reason",
    "raw",
    "city",
    "state",
    "country",
    "division",
    "team",
    "wave",
)
# the fields with a class default (left out of an entrant's own fields when no column gives them)
_DEFAULTED = frozenset(("age", "hidden", "status", "status_reason"))
# mapped field → the length it is cut to (the others are normalized: bib, age, gender, ...)
CUT = {
    "chip": 32,
    "first_name": 200,
    "last_name": 200,
    "name": 200,
    "race_name": 200,
    "message": 500,
    "city": 200,
    "state": 100,
    "country": 100,
    "division": 100,
    "team": 200,
    "wave": 64,
}


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


def _per_value(fn: Callable[[str], Any], column: list[str]) -> list[Any]:
    """``fn`` of each value, called once per distinct value (a column of few: gender, age)."""
    done = {v: fn(v) for v in set(column)}
    return list(map(done.__getitem__, column))


def _bibs(column: list[str]) -> list[str]:
    """``normalized.bib`` of each (stripped) value; a plain number without leading zeros is its
    own bib (the common case, without the calls)."""
    return [
        v
        if v.isdigit() and v[0] != "0" and len(v) <= 64
        else ("" if v in ("", "-") else normalize_bib(v[:64]))
        for v in column
    ]


def _cut(column: list[str], limit: int) -> list[str]:
    if max(map(len, column), default=0) <= limit:
        return column
    return [v[:limit] for v in column]


def _first_errors(checks: Iterable[tuple[list[Any], Callable[[int], str]]]) -> dict[int, str]:
    """Row index → the reason of the first check it fails; a check is (a column whose true
    values mark the failing rows, the reason of row i)."""
    errors: dict[int, str] = {}
    for marks, reason in checks:
        for i, bad in enumerate(marks):
            if bad and i not in errors:
                errors[i] = reason(i)
    return errors


def file_entrants(
    table: Table, mapping: Mapping[str, str], provider: str, source: str
) -> tuple[FetchResult, dict[str, int]]:
    """The file as one full pull (every usable row an entrant, the others quarantined with their
    line and reason) and the line of each entrant (registration id → line)."""
    result = FetchResult(full=True, supplies=supplies(mapping))
    result.quarantined = [{"row": f"line {n}", "reason": reason} for n, reason in table.errors]
    headers = table.headers
    width = len(headers)
    lines = [n for n, _ in table.rows]
    grid = [values for _, values in table.rows]
    if any(len(values) != width for values in grid):
        raise ValueError("file_pull: a row's width is not the header's")
    count = len(grid)
    columns = list(map(list, zip(*grid, strict=True))) if grid else [[] for _ in headers]
    index = {h: i for i, h in enumerate(headers)}  # (the last of two blank headers: a dict's)
    blank = [""] * count

    def field(name: str) -> list[str]:
        """The mapped column of ``name``, each value stripped (blank when not mapped)."""
        if name not in mapping:
            return blank
        column = columns[index[mapping[name]]]
        out = list(map(str.strip, column))
        return _cut(out, CUT[name]) if name in CUT else out

    numbers = _bibs(field("bib")) if "bib" in mapping else blank
    registrations = field("registration_id")
    if "registration_id" not in mapping or "" in registrations:
        registrations = [r or (f"bib:{b}" if b else "") for r, b in zip(registrations, numbers, strict=True)]
    first, last = field("first_name"), field("last_name")
    if "name" in mapping:
        first, last = list(first), list(last)
        for i, full in enumerate(field("name")):
            if full and not first[i] and not last[i]:
                given, _, family = full.rpartition(" ") if " " in full else ("", "", full)
                first[i], last[i] = given.strip(), family.strip()
    given_age = field("age")
    years = _per_value(lambda v: age(v) if v else None, given_age) if "age" in mapping else repeat(None)
    given_born = field("birth_date")
    born = _per_value(lambda v: iso_date(v) if v else "", given_born) if "birth_date" in mapping else blank
    given_privacy = field("hidden")
    privacy = _per_value(str.lower, given_privacy) if "hidden" in mapping else blank
    words = field("status")
    status = _per_value(lambda w: status_of(w) if w else "active", words) if "status" in mapping else None

    checks: list[tuple[list[Any], Callable[[int], str]]] = [
        (
            [not r for r in registrations],
            lambda i: "no bib (and no registration id) on this row",
        ),
        (
            [len(r) > 64 for r in registrations],
            lambda i: f"registration id {registrations[i][:20]!r}… is longer than 64 characters",
        ),
    ]
    if "age" in mapping:
        years = list(years)
        checks.append(
            (
                [bool(g) and y is None for g, y in zip(given_age, years, strict=True)],
                lambda i: f"age {given_age[i][:20]!r} is not a whole number 0-130",
            )
        )
    if "birth_date" in mapping:
        checks.append(
            (
                [bool(g) and not b for g, b in zip(given_born, born, strict=True)],
                lambda i: f"birth date {given_born[i][:20]!r} is not YYYY-MM-DD or M/D/YYYY",
            )
        )
    if "hidden" in mapping:
        checks.append(
            (
                _per_value(lambda p: p not in TRUE and p not in FALSE, privacy),
                lambda i: f"privacy value {given_privacy[i][:20]!r} is not yes or no",
            )
        )
    errors = _first_errors(checks)

    used = set(mapping.values())
    custom_headers = [h for h in headers if h and h not in used]
    custom_columns = [list(map(str.strip, columns[index[h]])) for h in custom_headers]
    if not custom_headers:
        custom: list[dict[str, str]] = [{} for _ in range(count)]
    elif len(custom_headers) == 1:
        (h,) = custom_headers
        custom = [{h: v} if v else {} for v in custom_columns[0]]
    else:
        custom = [
            {h: v for h, v in zip(custom_headers, values, strict=True) if v}
            for values in zip(*custom_columns, strict=True)
        ]
    if status is None:
        status_list: Any = repeat("active")
        reasons: Any = repeat("")
    else:
        status_list = status
        reasons = [w[:100] if s != "active" else "" for w, s in zip(words, status, strict=True)]
    hidden = _per_value(TRUE.__contains__, privacy) if "hidden" in mapping else repeat(False)
    gender = _per_value(sex, field("gender")) if "gender" in mapping else blank
    raw = [dict(zip(headers, values, strict=True)) for values in grid]  # each entrant's own dict

    by_field = {
        "provider": repeat(provider),
        "provider_event_id": repeat(source),
        "registration_id": registrations,
        "bib": numbers,
        "chip": field("chip"),
        "first_name": first,
        "last_name": last,
        "gender": gender,
        "age": years,
        "birth_date": born,
        "race_name": field("race_name"),
        "message": field("message"),
        "hidden": hidden,
        "custom": custom,
        "status": status_list,
        "status_reason": reasons,
        "raw": raw,
        "city": field("city"),
        "state": field("state"),
        "country": field("country"),
        "division": field("division"),
        "team": field("team"),
        "wave": field("wave"),
    }
    # a field no column gives is left to the class's default (``entrant_of``'s rule): fewer keys
    names = [
        k
        for k in ENTRANT_FIELDS
        if not (by_field[k] is blank or (k in _DEFAULTED and type(by_field[k]) is repeat))
    ]
    first_line: dict[str, int] = {}
    bib_line: dict[str, int] = {}
    quarantined = result.quarantined
    keep: list[bool] = []
    states = status_list if status is not None else repeat("active")
    for i, n, registration, number, state in zip(
        range(count), lines, registrations, numbers, states, strict=False
    ):
        if i in errors:
            quarantined.append({"row": f"line {n}", "reason": errors[i]})
        elif registration in first_line:
            what = f"bib {number}" if registration.startswith("bib:") else f"registration {registration}"
            quarantined.append(
                {"row": f"line {n}", "reason": f"{what} is already on line {first_line[registration]}"}
            )
        elif number and number in bib_line and state == "active":
            quarantined.append(
                {"row": f"line {n}", "reason": f"bib {number} is already on line {bib_line[number]}"}
            )
        else:
            first_line[registration] = n
            if number and state == "active":
                bib_line[number] = n
            keep.append(True)
            continue
        keep.append(False)
    entrants = result.entrants
    new = object.__new__
    rows = zip(*(by_field[k] for k in names), strict=False)  # (repeat: a constant)
    for values in compress(rows, keep) if not all(keep) else rows:
        e = new(Entrant)  # as ``normalized.entrant_of`` makes one (the fields are these)
        e.__dict__.update(zip(names, values, strict=True))
        entrants.append(e)
    result.cursor = {"rows": len(table.rows)}
    return result, first_line
