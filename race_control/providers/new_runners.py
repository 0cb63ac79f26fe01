"""The participants new entrants add, validated column by column (pure, no I/O).

The re-sync planner (``resync.plan_resync``) makes a new entrant's participant from its
supplied participant fields and its extra columns (``Entrant.extra``) and validates that row
with ``participants.parse_row``.  For a first import of a 50,000-row file that is 50,000 rows
validated field by field (docs/providers.md#load).  ``new_runner_rows`` gives the same
``ParticipantRow`` — or the same ``Rejected`` with the same reason — for each entrant, with each
field cleaned and checked once as a column.  Where the answer cannot be told that way for every
row (more custom answers than ``extra`` keeps, which then depend on the row; a value that is not
text) it returns None and the planner validates each row itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import fields
from itertools import repeat
from operator import attrgetter
from types import NoneType
from typing import Any

from race_control.providers.normalized import MAX_CUSTOM, PARTICIPANT_FIELDS, RESERVED, Entrant
from race_control.roster.participants import (
    _BIB_RE,
    _CONTROL_RE,
    MAX_EXTRA_NAME,
    MAX_EXTRA_TEXT,
    TEXT_FIELDS,
    ParticipantRow,
    Rejected,
    normalize_bib,
)

_EXTRA = ("chip", "birth_date", "race_name")  # the entrant's own fields ``extra`` keeps
_ROW_FIELDS = tuple(f.name for f in fields(ParticipantRow))
_SLOTS = {name: ParticipantRow.__dict__[name] for name in _ROW_FIELDS}  # (slots: member descriptors)
_TEXT = frozenset((str,))
_TEXT_OR_NONE = frozenset((str, NoneType))


def _rows(count: int, columns: dict[str, Iterable[Any]]) -> list[Any]:
    """``count`` ``ParticipantRow``s, field by field from ``columns`` (one per field): what its
    ``__init__`` sets, set by each slot's own descriptor over a whole column at once (its
    ``__init__`` per row was a third of validating a 50,000-row file: docs/providers.md#load)."""
    new = object.__new__
    rows = [new(ParticipantRow) for _ in range(count)]
    for name in _ROW_FIELDS:
        deque(map(_SLOTS[name].__set__, rows, columns[name]), maxlen=0)
    return rows


def _cleaned(column: list[Any]) -> list[str]:
    """``parse_row``'s text: each control character a space, then stripped."""
    if all(map(str.isprintable, column)):
        return list(map(str.strip, column))
    return [(v if v.isprintable() else _CONTROL_RE.sub(" ", v)).strip() for v in column]


def _controls_to_spaces(column: list[str | None]) -> list[str | None]:
    """``parse_row``'s extra text: each control character a space (None: no such column)."""
    if all(map(str.isprintable, filter(None, column))):
        return column
    return [v if v is None or v.isprintable() else _CONTROL_RE.sub(" ", v) for v in column]


def _first_failure(checks: Iterable[tuple[list[Any], Callable[[int], str]]]) -> dict[int, str]:
    """Row index → the reason of the first check it fails (a check: the rows' failure marks, and
    the reason of row i)."""
    failed: dict[int, str] = {}
    for marks, reason in checks:
        for i, bad in enumerate(marks):
            if bad and i not in failed:
                failed[i] = reason(i)
    return failed


def new_runner_rows(
    entrants: list[Entrant], supplies: frozenset[str]
) -> list[ParticipantRow | Rejected | None] | None:
    """For each entrant (in order), ``parse_row(0, row)`` of the row the planner makes of it as a
    new runner — its fields in ``supplies`` (and its bib), then ``extra()`` — or None for an
    entrant without a bib (the planner quarantines it first).  None: see the module's doc."""
    with_bib = [e for e in entrants if e.bib]
    given = frozenset(k for k in PARTICIPANT_FIELDS if k in supplies or k == "bib")
    count = len(with_bib)
    given_bibs = list(map(attrgetter("bib"), with_bib))
    if not set(map(type, given_bibs)) <= _TEXT:
        return None
    texts: dict[str, list[str]] = {}
    for name in TEXT_FIELDS:
        if name not in given:
            texts[name] = [""] * count
            continue
        column = list(map(attrgetter(name), with_bib))
        if not set(map(type, column)) <= _TEXT:
            return None  # not text: ``parse_row`` says which row
        texts[name] = _cleaned(column)
    customs = list(map(attrgetter("custom"), with_bib))
    if not set(map(type, customs)) <= {dict} or max(map(len, customs), default=0) > MAX_CUSTOM:
        return None  # ``extra`` keeps the first 40 answers of each: which, row by row
    answers: set[Any] = set().union(*customs) if customs else set()
    if not set(map(type, answers)) <= _TEXT:
        return None
    kept = {k for k in answers if k not in RESERVED and 0 < len(k) <= MAX_EXTRA_NAME}
    bibs = list(map(normalize_bib, given_bibs))
    bad_bib = [not _BIB_RE.match(b) for b in bibs]
    checks: list[tuple[list[Any], Callable[[int], str]]] = [
        (bad_bib, lambda i: f"row 0: bib {given_bibs[i][:32]!r} is not a valid bib")
    ]
    for name, limit in TEXT_FIELDS.items():
        column = texts[name]
        if max(map(len, column), default=0) > limit:
            checks.append(
                (
                    [len(v) > limit for v in column],
                    lambda i, name=name, limit=limit: (
                        f"row 0 (bib {bibs[i]}): '{name}' is longer than {limit} characters"
                    ),
                )
            )
    checks.append(
        (
            [not f and not la for f, la in zip(texts["first_name"], texts["last_name"], strict=True)],
            lambda i: f"row 0 (bib {bibs[i]}): 'first_name' or 'last_name' is required",
        )
    )
    # the extra columns, by name as ``parse_row`` keeps them (None: the row has none of it); an
    # answer is cut to 2,000 characters there; a column no row has is left out
    keys: list[str] = []
    columns: list[list[Any]] = []
    for k in sorted({*_EXTRA, *kept}):
        if k in _EXTRA:  # kept when given
            column = [v or None for v in map(attrgetter(k), with_bib)]
        else:  # kept when answered (a blank answer too)
            column = [c.get(k) for c in customs]
            if not set(map(type, column)) <= _TEXT_OR_NONE:
                return None  # a number or an object: ``extra`` and ``parse_row`` judge each
            column = [v if v is None else v[:MAX_EXTRA_TEXT] for v in column]
        present = set(map(type, column))
        if present == {NoneType}:
            continue
        if not present <= _TEXT_OR_NONE or max(map(len, filter(None, column)), default=0) > MAX_EXTRA_TEXT:
            return None
        keys.append(k)
        columns.append(_controls_to_spaces(column))
    if "age" in given:
        ages: Iterable[Any] = list(map(attrgetter("age"), with_bib))
        if not all(a is None or (type(a) is int and 0 <= a <= 130) for a in set(ages)):
            return None
    else:
        ages = repeat(None)
    if "hidden" in given:
        hidden: Iterable[Any] = list(map(attrgetter("hidden"), with_bib))
        if not set(map(type, hidden)) <= {bool}:
            return None
    else:
        hidden = repeat(False)
    raws: Iterable[dict[str, str]]
    if not keys:
        raws = ({} for _ in range(count))
    elif len(keys) == 1:
        (key,) = keys
        raws = ({} if v is None else {key: v} for v in columns[0])
    else:
        raws = (
            {k: v for k, v in zip(keys, values, strict=True) if v is not None}
            for values in zip(*columns, strict=True)
        )
    failed = _first_failure(checks)
    made: list[ParticipantRow | Rejected] = _rows(
        count,
        {
            "bib": bibs,
            **texts,
            "age": ages,
            "hidden": hidden,
            "raw": list(raws),
        },
    )
    for i, reason in failed.items():
        made[i] = Rejected(0, given_bibs[i][:32] if bad_bib[i] else bibs[i], reason)
    it = iter(made)
    return [next(it) if e.bib else None for e in entrants]
