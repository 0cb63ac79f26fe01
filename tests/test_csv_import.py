"""Roster CSV import: loose headers, broken rows quarantined with line numbers, encodings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from race_control.errors import InputError
from race_control.providers import active
from race_control.providers.file_import import entrants
from race_control.roster.csv_import import parse_csv, read_csv_file
from race_control.roster.mapping import detect, names_a_column, validate
from race_control.roster.participants import parse_rows
from race_control.roster.tabular import Table, read_table


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


# --- roster files with a mapping (roster/tabular.py, roster/mapping.py, providers/file_import.py) -----


def table(text: str | bytes, encoding: str = "utf-8") -> Table:
    raw = text if isinstance(text, bytes) else text.encode(encoding)
    return read_table(raw, names_a_column)


def test_the_delimiter_is_sniffed_and_the_header_row_found_below_a_title() -> None:
    for delim, name in ((",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        text = f"Report of 2026-06-01{delim * 3}\n" + delim.join(["Bib", "First", "Last", "Club"]) + "\n"
        text += delim.join(["7", "Ann", "Lee, Jr.", "Harriers"]) + "\n"
        t = table(text.replace("Lee, Jr.", '"Lee, Jr."') if delim == "," else text)
        assert t.describe()["delimiter"] == name and t.header_line == 2
        assert t.headers == ["Bib", "First", "Last", "Club"] and t.rows == [
            (3, ["7", "Ann", "Lee, Jr.", "Harriers"])
        ]
    assert detect(["Bib", "First", "Last", "Club"]) == {
        "bib": "Bib",
        "first_name": "First",
        "last_name": "Last",
        "team": "Club",
    }


def test_encodings_bom_cp1252_and_latin1_fallback() -> None:
    assert table("\ufeffbib,first_name\n1,Zoë\n").encoding == "utf-8-sig"
    assert table("bib,first_name\n1,Zoë\n").headers == ["bib", "first_name"]  # no BOM in the header
    assert table("bib,first_name\n1,Zoë “Z”\n", "cp1252").rows[0][1] == ["1", "Zoë “Z”"]
    latin = table(b"bib,first_name\n1,Zo\xeb\x81\n")  # 0x81 is not cp1252
    assert (latin.encoding, latin.rows[0][1][1]) == ("latin-1", "Zoë\x81")
    assert table("bib,first_name\n1,Zoë\n", "utf-16").encoding == "utf-16"


def test_workbooks_are_refused_with_save_as_csv() -> None:
    for magic in (b"PK\x03\x04\x14\x00", b"\xd0\xcf\x11\xe0\xa1\xb1"):
        with pytest.raises(InputError, match=r"save it as CSV"):
            table(magic + b"rest")


def test_formula_prefixes_are_data_and_every_bad_row_says_why() -> None:
    text = (
        "Reg ID,Bib,Name,Sex,DOB,Private,Status,Shoe\n"
        "r1,007,\"=cmd|'/c calc'!A1\",f,1990-02-03,yes,Registered,44\n"
        "r2,8,+Bo Ek,M,2/3/1990,,,\n"
        "r3,9,Cy,F,31/12/1990,,,\n"  # a day-first date is not one we read
        "r4,10,Di,F,,maybe,,\n"
        "r5,,Ed,M,,,,\n"  # no bib: a registration without one yet (the planner quarantines it)
        "r1,11,Again,M,,,,\n"
        "r6,8,Same Bib,F,,,,\n"
        "r7,12,Gone,M,,,Cancelled by runner,\n"
        "r8,13,Extra,M,,,,,,too many\n"
    )
    t = table(text)
    mapping = validate(detect(t.headers), t.headers)
    assert (
        mapping["name"] == "Name"
        and mapping["hidden"] == "Private"
        and mapping["registration_id"] == "Reg ID"
    )
    got, lines = entrants(t, mapping, "csv", "club")
    by_reg = {e.registration_id: e for e in got.entrants}
    ann = by_reg["r1"]
    assert (ann.bib, ann.name, ann.gender, ann.birth_date, ann.hidden) == (
        "7",
        "=cmd|'/c calc'!A1",  # a name, never evaluated
        "F",
        "1990-02-03",
        True,
    )
    assert ann.custom == {"Shoe": "44"} and ann.raw["Bib"] == "007" and ann.key == ("csv", "club", "r1")
    assert (by_reg["r2"].first_name, by_reg["r2"].last_name, by_reg["r2"].birth_date) == (
        "+Bo",
        "Ek",
        "1990-02-03",
    )
    assert by_reg["r5"].bib == "" and by_reg["r7"].status == "cancelled"
    assert lines["r7"] == 9
    assert got.quarantined == [
        {"row": "line 10", "reason": "10 fields but the header has 8"},
        {"row": "line 4", "reason": "birth date '31/12/1990' is not YYYY-MM-DD or M/D/YYYY"},
        {"row": "line 5", "reason": "privacy value 'maybe' is not yes or no"},
        {"row": "line 7", "reason": "registration r1 is already on line 2"},
        {"row": "line 8", "reason": "bib 8 is already on line 3"},
    ]
    assert got.supplies == {"bib", "first_name", "last_name", "gender", "hidden"}


def test_a_mapping_must_name_an_identity_and_a_name_and_real_columns() -> None:
    with pytest.raises(InputError, match="needs a 'bib' or a 'registration_id'"):
        validate({"first_name": "First"})
    with pytest.raises(InputError, match="needs a name column"):
        validate({"bib": "Bib"})
    with pytest.raises(InputError, match="mapped to two fields"):
        validate({"bib": "A", "first_name": "A"})
    with pytest.raises(InputError, match="no column 'Nr'"):
        validate({"bib": "Nr", "last_name": "Last"}, ["Bib", "Last"])
    # ACTIVE's words first: its "Category" is the race (a distance), elsewhere an age group
    headers = ["Confirmation Number", "Bib Number", "First Name", "Last Name", "Category", "Date of Birth"]
    assert detect(headers, active.SYNONYMS)["race_name"] == "Category"
    assert detect(headers, active.SYNONYMS)["registration_id"] == "Confirmation Number"
    assert detect(headers)["division"] == "Category"


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300) | st.text(alphabet='bib,;\t|"\n\r =+é\x00\u2028Zoë', max_size=300))
def test_any_file_is_read_or_refused_by_name_never_raised(body: bytes | str) -> None:
    raw = body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else body
    try:
        t = read_table(b"bib,first_name,last_name\n" + raw, names_a_column)
        mapping = validate(detect(t.headers), t.headers)
    except InputError:
        return
    got, _ = entrants(t, mapping, "csv", "fuzz")
    assert all(e.registration_id for e in got.entrants)
    assert len({e.registration_id for e in got.entrants}) == len(got.entrants)
    assert all(q["row"].startswith("line ") and q["reason"] for q in got.quarantined)
