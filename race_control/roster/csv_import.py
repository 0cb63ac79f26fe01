"""Roster CSV files → participant rows (the same validation as the API).

Headers are matched loosely (case, spaces, common synonyms such as "First Name",
"Bib Number", "Sex", "Age Group"), so exports from most registration systems
import without a mapping step.  A broken row is rejected with its line number;
the rest import.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from race_control.roster.errors import RosterInputError

SYNONYMS = {
    "bib": "bib",
    "bibnumber": "bib",
    "bibno": "bib",
    "number": "bib",
    "race number": "bib",
    "firstname": "first_name",
    "first": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "last": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "age": "age",
    "gender": "gender",
    "sex": "gender",
    "city": "city",
    "town": "city",
    "state": "state",
    "province": "state",
    "region": "state",
    "country": "country",
    "division": "division",
    "agegroup": "division",
    "category": "division",
    "team": "team",
    "club": "team",
    "wave": "wave",
    "corral": "wave",
    "message": "message",
    "personalmessage": "message",
    "alias": "alias",
    "nickname": "alias",
    "hidden": "hidden",
    "private": "hidden",
    "optout": "hidden",
}
TRUE = {"1", "true", "yes", "y", "x"}
FALSE = {"", "0", "false", "no", "n"}


def _key(header: str) -> str | None:
    plain = "".join(ch for ch in header.strip().lower() if ch.isalnum() or ch == " ")
    return SYNONYMS.get(plain) or SYNONYMS.get(plain.replace(" ", ""))


def parse_csv(text: str) -> list[Any]:
    """Rows as dicts keyed by our field names; a row that cannot be read becomes a string error."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterInputError("the CSV file is empty") from None
    except csv.Error as exc:
        raise RosterInputError(f"the CSV header cannot be read: {exc}") from None
    keys = [_key(h) for h in header]
    if "bib" not in keys:
        raise RosterInputError(
            f"the CSV has no bib column (headers: {', '.join(h.strip() for h in header)[:200]})"
        )
    rows: list[Any] = []
    while True:
        start_line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append(f"line {reader.line_num}: {exc}")
            continue
        if not any(v.strip() for v in values):
            continue
        if any("\n" in v or "\r" in v for v in values):
            # names never span lines: an unclosed quote swallowed the following rows
            rows.append(f"line {start_line}: a quoted field runs over several lines (unclosed quote?)")
            continue
        if len(values) > len(keys):
            rows.append(f"line {reader.line_num}: {len(values)} fields but the header has {len(keys)}")
            continue
        row: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for key, head, value in zip(keys, header, values, strict=False):
            value = value.strip()
            if key is None:
                if value:
                    extra[head.strip()[:64]] = value
            elif key == "hidden":
                low = value.lower()
                row["hidden"] = True if low in TRUE else False if low in FALSE else value
            elif value:
                row[key] = value
        row.update({k: v for k, v in extra.items() if k not in row})
        rows.append(row)
    return rows


def read_csv_file(path: Path) -> list[Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterInputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # Excel exports on Windows
    return parse_csv(text)
