"""``normalized.entrant_of``: the fast way a roster file makes its entrants is the constructor's."""

from __future__ import annotations

import dataclasses

import pytest

from race_control.providers.normalized import Entrant, entrant_of

FIELDS = {
    "provider": "csv",
    "provider_event_id": "spring-5k",
    "registration_id": "bib:7",
    "bib": "7",
    "first_name": "Zoë",
    "last_name": "Müller",
    "age": 34,
    "hidden": False,
    "custom": {"Shirt": "M"},
    "raw": {"Bib": "007", "First": "Zoë"},
}


def test_entrant_of_equals_the_constructor_and_fills_the_defaults() -> None:
    made = entrant_of(dict(FIELDS))
    assert made == Entrant(**FIELDS)
    assert dataclasses.asdict(made) == dataclasses.asdict(Entrant(**FIELDS))
    assert made.race_id == "" and made.modified is None and made.status == "active"
    assert made.name == "Zoë Müller" and made.key == ("csv", "spring-5k", "bib:7")


def test_an_entrant_made_so_is_frozen() -> None:
    made = entrant_of(dict(FIELDS))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.bib = "8"  # type: ignore[misc]


def test_unknown_or_missing_fields_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="unknown \\['colour'\\]"):
        entrant_of({**FIELDS, "colour": "red"})
    without = {k: v for k, v in FIELDS.items() if k != "custom"}
    with pytest.raises(TypeError, match="missing \\['custom'\\]"):
        entrant_of(without)
