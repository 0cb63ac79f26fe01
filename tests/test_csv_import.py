"""Roster CSV import: loose headers, broken rows quarantined with line numbers, encodings."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_control.errors import InputError
from race_control.roster.csv_import import parse_csv, read_csv_file
from race_control.roster.participants import parse_rows


def test_headers_from_registration_exports_map_without_setup() -> None:
    text = "\ufeffBib Number,First Name,LAST NAME,Sex,Age Group,Town,Province,Shirt Size,Private\n0042,Ann,Lee,F,F30-39,Boise,ID,M,yes\n"
    rows = parse_csv(text)
    assert rows == [
        {
            "bib": "0042",
            "first_name": "Ann",
            "last_name": "Lee",
            "gender": "F",
            "division": "F30-39",
            "city": "Boise",
            "state": "ID",
            "hidden": True,
            "Shirt Size": "M",
        },
    ]
    good, bad = parse_rows(rows)
    assert not bad and good[0].bib == "42" and good[0].hidden and good[0].raw == {"Shirt Size": "M"}


def test_broken_rows_are_rejected_with_their_line_and_the_rest_import() -> None:
    text = (
        "bib,first_name,last_name,age,hidden\n"
        "1,Ann,Lee,34,\n"
        "2,Bo,Ek,34,maybe\n"  # hidden is neither yes nor no
        "3,Cy,Do,34,no,EXTRA\n"  # more fields than the header
        "\n"
        '4,Di,"Unclosed,40,no\n'
    )
    rows = parse_csv(text)
    good, bad = parse_rows(rows)
    assert [g.bib for g in good] == ["1"]
    reasons = [b.error for b in bad]
    assert any("'hidden'" in r for r in reasons)
    assert any("line 4" in r and "6 fields but the header has 5" in r for r in reasons)
    assert any("line 6" in r and "unclosed quote" in r for r in reasons)
    assert len(bad) == 3


def test_files_without_a_bib_column_or_empty_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no bib column"):
        parse_csv("name,city\nAnn,Boise\n")
    with pytest.raises(InputError, match="empty"):
        parse_csv("")
    with pytest.raises(InputError, match="cannot read"):
        read_csv_file(tmp_path / "missing.csv")


def test_windows_excel_export_in_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes("bib;first_name\n".replace(";", ",").encode() + "7,Zoë Müller\n".encode("cp1252"))
    assert read_csv_file(path)[0]["first_name"] == "Zoë Müller"
