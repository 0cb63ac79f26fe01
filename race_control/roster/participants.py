"""Participant records: validation and normalization of roster rows (pure, no I/O).

One bad row is rejected with a reason that names the field; it never fails the
whole import.  Bibs are normalized once here (and for every read, by the same
function), so `00123`, ` 123 ` and `123` are the same runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TEXT_FIELDS = {
    "first_name": 200,
    "last_name": 200,
    "gender": 32,
    "city": 200,
    "state": 100,
    "country": 100,
    "division": 100,
    "team": 200,
    "wave": 64,
    "message": 500,
    "alias": 200,
}
KNOWN_FIELDS = {"bib", "age", "hidden", *TEXT_FIELDS}
_BIB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")
# control characters other than plain spaces make no sense in a name and can break a screen;
# bidi overrides are kept (real names are right-to-left) and the display isolates them
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def normalize_bib(value: object) -> str:
    """Canonical bib text: trimmed, leading zeros dropped (`007` → `7`, `0` stays `0`)."""
    text = str(value).strip()
    if text.isdigit():
        return text.lstrip("0") or "0"
    return text.upper() if text.isascii() else text


@dataclass(frozen=True, slots=True)
class ParticipantRow:
    bib: str
    first_name: str = ""
    last_name: str = ""
    age: int | None = None
    gender: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    division: str = ""
    team: str = ""
    wave: str = ""
    message: str = ""
    alias: str = ""
    hidden: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    bib: str
    error: str

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "bib": self.bib, "error": self.error}


def parse_row(index: int, row: object) -> ParticipantRow | Rejected:
    """Validate one incoming row (a JSON object or a CSV dict)."""
    if isinstance(row, str) and row.startswith("line "):  # a CSV line that could not be parsed
        return Rejected(index, "", row)
    if not isinstance(row, dict):
        return Rejected(index, "", f"row {index}: expected an object, got {type(row).__name__}")
    raw_bib = row.get("bib")
    if raw_bib is None or (isinstance(raw_bib, str) and not raw_bib.strip()):
        return Rejected(index, "", f"row {index}: 'bib' is required")
    if isinstance(raw_bib, bool) or not isinstance(raw_bib, str | int):
        return Rejected(index, str(raw_bib)[:32], f"row {index}: 'bib' must be a string or integer")
    bib = normalize_bib(raw_bib)
    if not _BIB_RE.match(bib):
        return Rejected(
            index, str(raw_bib)[:32], f"row {index}: bib {str(raw_bib)[:32]!r} is not a valid bib"
        )
    values: dict[str, Any] = {}
    for name, limit in TEXT_FIELDS.items():
        value = row.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return Rejected(index, bib, f"row {index} (bib {bib}): '{name}' must be a string")
        value = _CONTROL_RE.sub(" ", value).strip()
        if len(value) > limit:
            return Rejected(
                index, bib, f"row {index} (bib {bib}): '{name}' is longer than {limit} characters"
            )
        values[name] = value
    age = row.get("age")
    if age is not None and age != "":
        if isinstance(age, str) and age.strip().isdigit():
            age = int(age.strip())
        if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 130:
            return Rejected(index, bib, f"row {index} (bib {bib}): 'age' must be a whole number 0-130")
        values["age"] = age
    hidden = row.get("hidden", False)
    if not isinstance(hidden, bool):
        return Rejected(index, bib, f"row {index} (bib {bib}): 'hidden' must be true or false")
    if not values.get("first_name") and not values.get("last_name"):
        return Rejected(index, bib, f"row {index} (bib {bib}): 'first_name' or 'last_name' is required")
    unknown = sorted(set(row) - KNOWN_FIELDS)
    raw = {k: row[k] for k in unknown if isinstance(row[k], str | int | float | bool)} if unknown else {}
    return ParticipantRow(bib=bib, hidden=hidden, raw=raw, **values)


def parse_rows(
    rows: list[object], *, offset: int = 0, seen: set[str] | None = None
) -> tuple[list[ParticipantRow], list[Rejected]]:
    """Validate a batch; a bib that appears twice keeps its first row and rejects the rest.

    A large import validates chunk by chunk: ``offset`` is the chunk's first row number and
    ``seen`` the bibs of earlier chunks (updated here), so numbers and duplicates stay file-wide.
    """
    good: list[ParticipantRow] = []
    bad: list[Rejected] = []
    seen = set() if seen is None else seen
    for i, row in enumerate(rows, start=offset):
        result = parse_row(i, row)
        if isinstance(result, Rejected):
            bad.append(result)
        elif result.bib in seen:
            bad.append(Rejected(i, result.bib, f"row {i}: bib {result.bib} appears more than once"))
        else:
            seen.add(result.bib)
            good.append(result)
    return good, bad
