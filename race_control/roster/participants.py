"""Participant records: validation and normalization of roster rows (pure, no I/O).

One bad row is rejected with a reason that names the field; it never fails the
whole import.  Bibs are normalized once here (and for every read, by the same
function), so `00123`, ` 123 ` and `123` are the same runner.
"""

from __future__ import annotations

import math
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
# columns we do not know (a registration export's "Shirt size") are kept as the row's `raw`
MAX_EXTRA_FIELDS = 50
MAX_EXTRA_NAME = 64
MAX_EXTRA_TEXT = 2000
_BIB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")
# control characters (C0, DEL, C1), line separators and lone surrogates make no sense in a name
# and can break a screen or the store; bidi overrides are kept (real names are right-to-left)
# and the display isolates them
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _clean(value: str) -> str:
    """``value`` with each control character a space.  A printable string has none (they are
    all unprintable), so the common case skips the regex (a 50,000-row roster: docs/providers.md#load)."""
    return value if value.isprintable() else _CONTROL_RE.sub(" ", value)


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
        return Rejected(index, "", f"row {index}: 'bib' must be a string or integer")
    if isinstance(raw_bib, int) and not 0 <= raw_bib < 10**32:  # str() of a 5,000-digit int raises
        return Rejected(index, "", f"row {index}: bib must be a whole number 0 or more of at most 32 digits")
    bib = normalize_bib(raw_bib)
    if not _BIB_RE.match(bib):
        return Rejected(
            index, str(raw_bib)[:32], f"row {index}: bib {str(raw_bib)[:32]!r} is not a valid bib"
        )
    values: dict[str, Any] = {}
    # the text fields this row has, in TEXT_FIELDS' order (the first bad one is the one named);
    # a row holds a few of the eleven (a 50,000-row roster: docs/providers.md#load)
    for name in [n for n in TEXT_FIELDS if n in row] if len(row) < len(TEXT_FIELDS) else TEXT_FIELDS:
        value = row.get(name)
        if value is None:
            continue
        if type(value) is not str and not isinstance(value, str):
            return Rejected(index, bib, f"row {index} (bib {bib}): '{name}' must be a string")
        if not value.isprintable():  # (``_clean``, inline: it runs for every field of every row)
            value = _CONTROL_RE.sub(" ", value)
        value = value.strip()
        if len(value) > TEXT_FIELDS[name]:
            return Rejected(
                index, bib, f"row {index} (bib {bib}): '{name}' is longer than {TEXT_FIELDS[name]} characters"
            )
        values[name] = value
    age = row.get("age")
    if age is not None and age != "":
        # ASCII digits only: "²".isdigit() is True and int("²") raises; a 5,000-digit int() too
        if isinstance(age, str) and age.strip().isascii() and age.strip().isdigit() and len(age.strip()) <= 3:
            age = int(age.strip())
        if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 130:
            return Rejected(index, bib, f"row {index} (bib {bib}): 'age' must be a whole number 0-130")
        values["age"] = age
    hidden = row.get("hidden", False)
    if not isinstance(hidden, bool):
        return Rejected(index, bib, f"row {index} (bib {bib}): 'hidden' must be true or false")
    if not values.get("first_name") and not values.get("last_name"):
        return Rejected(index, bib, f"row {index} (bib {bib}): 'first_name' or 'last_name' is required")
    others = row.keys() - KNOWN_FIELDS
    unknown = sorted(map(str, others)) if others else []
    if len(unknown) > MAX_EXTRA_FIELDS:
        return Rejected(
            index, bib, f"row {index} (bib {bib}): {len(unknown)} extra fields (at most {MAX_EXTRA_FIELDS})"
        )
    raw: dict[str, Any] = {}
    for k in unknown:
        v = row[k]
        if len(k) > MAX_EXTRA_NAME:
            return Rejected(
                index,
                bib,
                f"row {index} (bib {bib}): a field name is longer than {MAX_EXTRA_NAME} characters",
            )
        if isinstance(v, str):
            if len(v) > MAX_EXTRA_TEXT:
                return Rejected(
                    index, bib, f"row {index} (bib {bib}): {k!r} is longer than {MAX_EXTRA_TEXT} characters"
                )
            raw[k] = _clean(v)
        elif (isinstance(v, int) and abs(v) < 2**63) or (isinstance(v, float) and math.isfinite(v)):
            raw[k] = v  # (a bool is an int)
        # anything else (objects, lists, null, out-of-range numbers) is not a column: not kept
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
