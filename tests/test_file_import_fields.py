"""A roster file's row as an entrant (``providers.file_import``): every mapped field trimmed and
cut to its limit, custom columns in header order, status words, the raw row kept whole."""

from __future__ import annotations

from race_control.providers.file_import import entrants
from race_control.roster.tabular import Table

LIMITS = {
    "chip": 32,
    "first_name": 200,
    "last_name": 200,
    "city": 200,
    "state": 100,
    "country": 100,
    "division": 100,
    "team": 200,
    "wave": 64,
    "message": 500,
    "race_name": 200,
}


def test_each_field_is_trimmed_and_cut_to_its_limit_and_the_rest_are_custom_columns() -> None:
    headers = ["Reg", "Bib", *LIMITS, "Status", "Shirt", "", "Notes"]
    mapping = {"registration_id": "Reg", "bib": "Bib", "status": "Status", **{k: k for k in LIMITS}}
    long = ["  " + "x" * 600 + "  " for _ in LIMITS]
    row = ["R1", " 007 ", *long, "Refunded on 3/1", " L ", "ignored", "  "]
    table = Table(headers, [(2, row)])
    fetched, lines = entrants(table, mapping, "csv", "club")
    (e,) = fetched.entrants
    for name, limit in LIMITS.items():
        assert getattr(e, name) == "x" * limit, name
    assert (e.registration_id, e.bib, e.status, e.status_reason) == ("R1", "7", "refunded", "Refunded on 3/1")
    assert e.custom == {"Shirt": "L"}  # a blank cell and a column with no header are not custom
    assert e.raw == dict(zip(headers, row, strict=True)) and lines == {"R1": 2}


def test_a_full_name_column_splits_and_no_status_column_means_active() -> None:
    table = Table(
        ["Bib", "Name", "Team"], [(2, ["12", "  Mary Ann   Lee ", "Tri Club"]), (3, ["13", "Cher", ""])]
    )
    fetched, _ = entrants(table, {"bib": "Bib", "name": "Name"}, "csv", "club")
    a, b = fetched.entrants
    assert (a.first_name, a.last_name, a.status, a.custom) == (
        "Mary Ann",
        "Lee",
        "active",
        {"Team": "Tri Club"},
    )
    assert (b.first_name, b.last_name, b.registration_id) == ("", "Cher", "bib:13")
