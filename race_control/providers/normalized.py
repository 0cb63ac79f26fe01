"""One normalized schema for every provider: events, races (distances), entrants, results.

Every record keeps the provider's ``raw`` payload (the row as it came, JSON-able) next to the
normalized fields.  An entrant's identity is ``key`` = (provider, provider event id,
registration id) — never a name and a birth date (two Jane Smiths born the same day are two
runners; a corrected name is the same runner).  Bibs are normalized like the local roster's
(``roster.participants.normalize_bib``: ``00123`` is ``123``); no bib is ``""``.

Sex is one of ``M``, ``F``, ``X`` (non-binary, mixed) or ``""`` (not given / not disclosed).
``status`` of an entrant: ``active``, or why the registration is gone — ``removed``,
``transferred``, ``deferred``, ``refunded``, ``cancelled`` (``status_reason`` the provider's
word, ``transferred_to`` the new registration when the provider says).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from race_control.roster.participants import normalize_bib

STATUSES = ("active", "removed", "transferred", "deferred", "refunded", "cancelled")
# the normalized entrant's fields that become a local participant's (same names there)
PARTICIPANT_FIELDS = (
    "bib",
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
EntrantKey = tuple[str, str, str]
RESERVED = frozenset((*PARTICIPANT_FIELDS, "alias", "chip", "birth_date", "race_name"))
MAX_CUSTOM = 40  # the roster keeps at most 50 extra columns a runner


@dataclass(frozen=True)
class Race:
    """A distance / sub-event of a provider event (RunSignUp event, CT Live race...)."""

    provider_race_id: str
    name: str
    distance: str = ""
    start_time: str = ""  # as the provider wrote it
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider_race_id": self.provider_race_id,
            "name": self.name,
            "distance": self.distance,
            "start_time": self.start_time,
        }


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    provider_event_id: str
    name: str
    date: str = ""  # YYYY-MM-DD when the provider says, else ""
    timezone: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    races: tuple[Race, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "provider_event_id": self.provider_event_id,
            "name": self.name,
            "date": self.date,
            "timezone": self.timezone,
            "city": self.city,
            "state": self.state,
            "country": self.country,
            "races": [r.to_json() for r in self.races],
        }


@dataclass(frozen=True)
class Entrant:
    provider: str
    provider_event_id: str
    registration_id: str
    bib: str = ""
    chip: str = ""
    first_name: str = ""
    last_name: str = ""
    gender: str = ""  # M | F | X | ""
    age: int | None = None
    birth_date: str = ""  # YYYY-MM-DD or ""
    city: str = ""
    state: str = ""
    country: str = ""
    race_id: str = ""
    race_name: str = ""
    division: str = ""
    team: str = ""
    wave: str = ""
    message: str = ""
    hidden: bool = False  # the runner asked not to be shown by name
    custom: dict[str, Any] = field(default_factory=dict)  # answers to the provider's own questions
    status: str = "active"
    status_reason: str = ""
    transferred_to: str = ""
    modified: float | None = None  # the provider's last-modified time (unix), when it has one
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> EntrantKey:
        return (self.provider, self.provider_event_id, self.registration_id)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def participant_fields(self) -> dict[str, Any]:
        """The local participant's fields this entrant says (``chip``, the race, the birth date
        and the custom answers go into the participant's ``raw``)."""
        return {k: getattr(self, k) for k in PARTICIPANT_FIELDS}

    def extra(self) -> dict[str, Any]:
        """What the local roster keeps as extra columns (``participants.raw``)."""
        out: dict[str, Any] = {}
        for k in ("chip", "birth_date", "race_name"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        for k, v in list(self.custom.items())[:MAX_CUSTOM]:
            if k in RESERVED or k in out or not isinstance(k, str) or not 0 < len(k) <= 64:
                continue  # a question named like a roster field ("team") must not become it
            if isinstance(v, str | int | float) and not isinstance(v, bool):
                out[k] = v[:2000] if isinstance(v, str) else v
        return out


# Entrant's fields with a default factory, and all its fields (``entrant_of``)
_ENTRANT_FACTORIES = frozenset(f.name for f in fields(Entrant) if f.default_factory is not MISSING)
_ENTRANT_FIELDS = frozenset(f.name for f in fields(Entrant))


def entrant_of(values: dict[str, Any]) -> Entrant:
    """``Entrant(**values)``, made without the frozen dataclass's ``object.__setattr__`` per
    field (a third of normalizing a 50,000-row roster file: docs/providers.md#load).  ``values``
    names only Entrant's fields and every field that has a default factory (``custom``,
    ``raw``); a field it leaves out reads its default from the class, as a dataclass's does.
    The entrant is as frozen as any other."""
    if not (values.keys() <= _ENTRANT_FIELDS and values.keys() >= _ENTRANT_FACTORIES):
        unknown = sorted(values.keys() - _ENTRANT_FIELDS)
        raise TypeError(
            f"entrant_of: unknown {unknown} or missing {sorted(_ENTRANT_FACTORIES - values.keys())}"
        )
    e = object.__new__(Entrant)
    e.__dict__.update(values)
    return e


@dataclass(frozen=True)
class Result:
    provider: str
    provider_event_id: str
    registration_id: str  # "" when the provider has none for the row (a manual entry)
    bib: str = ""
    first_name: str = ""
    last_name: str = ""
    gender: str = ""
    age: int | None = None
    race_id: str = ""
    race_name: str = ""
    division: str = ""
    place: int | None = None
    clock_time: str = ""
    chip_time: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class FetchResult:
    """What one pull of an event brought: the entrants (duplicates already collapsed, the last
    copy of a registration wins), the rows that could not be read (quarantined with their reason),
    whether it was a full pull (a runner missing from it may have been removed), and the cursor
    the next incremental pull starts from."""

    entrants: list[Entrant] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)  # {"row", "reason"}
    full: bool = True
    cursor: dict[str, Any] = field(default_factory=dict)
    duplicates: int = 0  # rows that repeated a registration already seen in this pull
    # the participant fields this provider fills: the others are never changed by a sync
    supplies: frozenset[str] = frozenset(PARTICIPANT_FIELDS)


def sort_rows(
    rows: Iterable[Any], to_entrant: Callable[[Any], Entrant | str], label: Callable[[Any, int], str]
) -> tuple[list[Entrant], list[dict[str, Any]]]:
    """A provider's rows as entrants, and the rows ``to_entrant`` refused (it returns the
    reason) as quarantined ``{"row": label(row, index), "reason"}``."""
    entrants: list[Entrant] = []
    quarantined: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        got = to_entrant(row)
        if isinstance(got, str):
            quarantined.append({"row": label(row, i), "reason": got})
        else:
            entrants.append(got)
    return entrants, quarantined


def collapse(entrants: list[Entrant]) -> tuple[list[Entrant], int]:
    """One entrant per registration: the last copy seen wins (a later page is the newer state);
    the number of duplicates dropped."""
    by_key: dict[EntrantKey, Entrant] = {}
    for e in entrants:
        by_key.pop(e.key, None)  # re-inserted last: the order follows the latest copy
        by_key[e.key] = e
    return list(by_key.values()), len(entrants) - len(by_key)


# --- value normalizers (shared by the adapters) -----------------------------------------------
def text(value: object, limit: int = 200) -> str:
    """A trimmed string from a provider's value (``None`` → ``""``; numbers as text)."""
    if type(value) is str:  # the common case first (650,000 calls a 50,000-runner pull)
        return value.strip()[:limit]
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float | str):
        return str(value).strip()[:limit]
    return ""


def bib(value: object) -> str:
    """A normalized bib, ``""`` for none (``None``, ``""``, ``"-"``, ``0`` never means a bib)."""
    raw = text(value, 64)
    if raw in ("", "-"):
        return ""
    return normalize_bib(raw)


def sex(value: object) -> str:
    """``M``/``F``/``X``/``""`` from ``M``, ``male``, ``Female``, ``f``, Race Roster's 0/1/2/8/9..."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {1: "M", 2: "F", 8: "X", 9: "X"}.get(value, "")
    word = text(value, 32).lower()
    if word in ("m", "male", "man", "men", "h", "hombre"):
        return "M"
    if word in ("f", "female", "woman", "women", "w", "mujer"):
        return "F"
    if word in ("", "u", "unknown", "0", "prefer not to say", "not disclosed"):
        return ""
    return "X"  # non-binary, mixed, co-ed, anything else stated


def age(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 130 else None
    word = text(value, 8)
    if word.isascii() and word.isdigit() and int(word) <= 130:
        return int(word)
    return None


def iso_date(value: object) -> str:
    """``YYYY-MM-DD`` from ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM...`` or US ``M/D/YYYY``; else ``""``."""
    word = text(value, 40)
    if not word:
        return ""
    head = word.split("T")[0].split(" ")[0]
    try:
        return dt.date.fromisoformat(head).isoformat()
    except ValueError:
        pass
    try:
        return dt.datetime.strptime(head, "%m/%d/%Y").date().isoformat()
    except ValueError:
        return ""
