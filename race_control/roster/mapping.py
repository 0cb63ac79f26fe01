"""Which column of a roster file is which field: detection, validation (pure).

A mapping is ``{field: column header}`` over ``TARGETS`` — the normalized entrant's fields
(``providers/normalized.py``) a file can hold.  ``detect`` proposes one from the headers (case,
spaces and punctuation ignored; the common words of registration exports and a source's own
``synonyms``, e.g. ACTIVE's); the timer corrects it in the preview and the import saves it for
the next file of the same source.  Every column not mapped is kept as a custom field of the
runner (its extra columns) and in the row's raw copy.
"""

from __future__ import annotations

from collections.abc import Mapping

from race_control.roster.errors import RosterInputError

TARGETS = (
    "registration_id",
    "bib",
    "chip",
    "first_name",
    "last_name",
    "name",  # one "Name" column: split at the last space when first/last are not mapped
    "gender",
    "age",
    "birth_date",
    "city",
    "state",
    "country",
    "race_name",
    "division",
    "team",
    "wave",
    "message",
    "hidden",
    "status",
)
# header words (lower case, letters and digits only) → field
SYNONYMS: dict[str, str] = {
    **{w: "registration_id" for w in ("registrationid", "regid", "registration", "entryid", "participantid")},
    **{w: "bib" for w in ("bib", "bibnumber", "bibno", "bibnum", "racenumber", "number", "dorsal")},
    **{w: "chip" for w in ("chip", "chipid", "chipnumber", "tag", "tagid", "rfid")},
    **{w: "first_name" for w in ("firstname", "first", "givenname", "forename", "nombre")},
    **{w: "last_name" for w in ("lastname", "last", "surname", "familyname", "apellidos")},
    **{w: "name" for w in ("name", "fullname", "participantname", "runner", "athlete")},
    **{w: "gender" for w in ("gender", "sex")},
    "age": "age",
    "raceage": "age",
    **{w: "birth_date" for w in ("birthdate", "dob", "dateofbirth", "birthday")},
    **{w: "city" for w in ("city", "town")},
    **{w: "state" for w in ("state", "province", "region", "stateprovince")},
    **{w: "country" for w in ("country", "nation", "countrycode", "nationality")},
    **{w: "race_name" for w in ("race", "distance", "event", "racename", "eventname", "course")},
    **{w: "division" for w in ("division", "agegroup", "category", "bracket", "class")},
    **{w: "team" for w in ("team", "club", "teamname")},
    **{w: "wave" for w in ("wave", "corral", "startwave")},
    **{w: "message" for w in ("message", "personalmessage")},
    **{w: "hidden" for w in ("hidden", "private", "optout", "privacy", "anonymous")},
    **{w: "status" for w in ("status", "registrationstatus", "entrystatus")},
}


def header_key(header: str) -> str:
    return "".join(ch for ch in header.lower() if ch.isalnum())


def detect(headers: list[str], synonyms: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proposed mapping: the first column each field's words name (a source's ``synonyms``
    before the common ones)."""
    out: dict[str, str] = {}
    for words in (synonyms or {}, SYNONYMS):
        for h in headers:
            target = words.get(header_key(h))
            if target and target not in out and h not in out.values():
                out[target] = h
    return out


def names_a_column(cells: list[str], synonyms: Mapping[str, str] | None = None) -> bool:
    """A header row: it names a bib, a name or a registration column."""
    found = set(detect([c.strip() for c in cells], synonyms))
    keyed = bool(found & {"bib", "registration_id"}) and bool(found & {"first_name", "last_name", "name"})
    return keyed or len(found) >= 3


def validate(mapping: object, headers: list[str] | None = None) -> dict[str, str]:
    """A mapping from a request or the store: ``{field: header}`` over ``TARGETS``, each header
    used once (and, with ``headers``, one of the file's)."""
    if not isinstance(mapping, dict):
        raise RosterInputError("'mapping' must be an object {field: column header}")
    unknown = sorted(str(k)[:40] for k in mapping if k not in TARGETS)
    if unknown:
        raise RosterInputError(
            f"unknown mapping field(s) {', '.join(map(repr, unknown[:10]))}; known: {', '.join(TARGETS)}"
        )
    out: dict[str, str] = {}
    for k, v in mapping.items():
        if v is None or v == "":
            continue  # explicitly not mapped
        if not isinstance(v, str) or len(v) > 200:
            raise RosterInputError(f"mapping {k!r} must be a column header (a string) or null")
        if v in out.values():
            raise RosterInputError(f"column {v[:80]!r} is mapped to two fields")
        if headers is not None and v not in headers:
            raise RosterInputError(
                f"mapping {k!r}: the file has no column {v[:80]!r} (columns: {', '.join(headers)[:300]})"
            )
        out[k] = v
    if not {"bib", "registration_id"} & set(out):
        raise RosterInputError("the mapping needs a 'bib' or a 'registration_id' column")
    if not {"first_name", "last_name", "name"} & set(out):
        raise RosterInputError("the mapping needs a name column: 'first_name', 'last_name' or 'name'")
    return out
