"""Roster row validation and bib normalization."""

from __future__ import annotations

from race_control.roster.participants import ParticipantRow, Rejected, normalize_bib, parse_row, parse_rows


def test_normalize_bib() -> None:
    assert [normalize_bib(x) for x in ["007", " 12 ", 5, "0", "000", "m1-50", "A12"]] == [
        "7",
        "12",
        "5",
        "0",
        "0",
        "M1-50",
        "A12",
    ]


def test_hostile_text_is_kept_as_text_but_control_characters_go() -> None:
    row = parse_row(
        0, {"bib": "1", "first_name": "<script>alert(1)</script>", "last_name": "\u202eevil\x00\x07"}
    )
    assert isinstance(row, ParticipantRow)
    assert row.first_name == "<script>alert(1)</script>"  # escaping is the display's job
    assert row.last_name == "\u202eevil"


def test_rejections_name_the_field() -> None:
    cases = {
        "bib": {"bib": None, "first_name": "A"},
        "valid bib": {"bib": "a b", "first_name": "A"},
        "'city' must be a string": {"bib": "1", "first_name": "A", "city": 5},
        "longer than 200": {"bib": "1", "first_name": "A" * 201},
        "'hidden'": {"bib": "1", "first_name": "A", "hidden": "yes"},
        "'age'": {"bib": "1", "first_name": "A", "age": 200},
    }
    for needle, row in cases.items():
        result = parse_row(3, row)
        assert isinstance(result, Rejected) and needle in result.error and "row 3" in result.error, (
            needle,
            result,
        )


def test_batch_keeps_first_of_duplicate_bibs_and_unknown_fields_as_raw() -> None:
    good, bad = parse_rows([{"bib": "01", "first_name": "A", "shirt": "M"}, {"bib": "1", "first_name": "B"}])
    assert [g.first_name for g in good] == ["A"] and good[0].raw == {"shirt": "M"}
    assert len(bad) == 1 and "more than once" in bad[0].error
