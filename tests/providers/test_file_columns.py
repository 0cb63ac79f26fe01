"""A roster file normalized column by column (``providers.file_columns``) gives exactly what its
rows give one by one (``file_import.to_entrant``): the same entrants, the same quarantined rows
with the same reasons in the same order, the same lines.  And the new runners validated column
by column (``providers.new_runners``) plan exactly as ``parse_row`` of each row would."""

from __future__ import annotations

import random
from typing import Any

import pytest

from race_control.providers.file_columns import file_entrants
from race_control.providers.file_import import RowError, _Columns, supplies, to_entrant
from race_control.providers.new_runners import new_runner_rows
from race_control.providers.normalized import Entrant, FetchResult
from race_control.providers.resync import LocalRunner, plan_resync
from race_control.roster.tabular import Table

HEADERS = [
    "Reg",
    "Bib",
    "First",
    "Last",
    "Name",
    "Sex",
    "Age",
    "DOB",
    "Private",
    "Status",
    "Chip",
    "Team",
    "City",
    "Wave",
    "Shirt",
    "",
    "Notes",
    "",
]
MAPPINGS: list[dict[str, str]] = [
    {
        "registration_id": "Reg",
        "bib": "Bib",
        "first_name": "First",
        "last_name": "Last",
        "gender": "Sex",
        "age": "Age",
        "birth_date": "DOB",
        "hidden": "Private",
        "status": "Status",
        "chip": "Chip",
        "team": "Team",
        "city": "City",
        "wave": "Wave",
    },
    {"bib": "Bib", "name": "Name", "age": "Age", "status": "Status"},  # no registration column: bib:<bib>
    {"bib": "Bib", "first_name": "First", "last_name": "Last", "name": "Name", "hidden": "Private"},
    {"registration_id": "Reg", "last_name": "Last", "birth_date": "DOB", "team": "Team"},  # no bib
]
# cell values that hit every rule: blanks, spaces, cuts, control characters, words of each kind
CELLS = {
    "Reg": ["r1", "r2", "r1", "", " r3 ", "x" * 65, "r" + "9" * 63, "bib:5"],
    "Bib": ["1", "007", " 8 ", "", "-", "0", "a-1", "12 34", "x" * 70 + " y", "²", "  ", "Ab_9"],
    "First": ["Ann", "", "  Bo ", "Zo\x07ë", "x" * 199 + " y", "=SUM(A1)", "\u2028Cy"],
    "Last": ["Lee", "", "Kay ", "Mül\tler", "y" * 250],
    "Name": ["", "Mary Ann  Lee", "Cher", "  Jo   Ko ", "a" * 210 + " b"],
    "Sex": ["M", "f", "Female", "", "x", "unknown", " W ", "nb"],
    "Age": ["", "30", "131", "²", "abc", " 7 ", "0", "0130"],
    "DOB": ["", "1990-02-03", "2/3/1990", "31/12/1990", "1990-02-03T10:00", "nope"],
    "Private": ["", "yes", "No", "maybe", " X ", "hidden", "public"],
    "Status": ["", "Registered", "Cancelled by runner", "REFUND", "transferred", "withdrawn", "Inactive"],
    "Chip": ["", "E200", "c" * 40],
    "Team": ["", "Tri Club", "t" * 201],
    "City": ["Boise", "", "  Nampa  "],
    "Wave": ["", "A", "w" * 70],
    "Shirt": ["", "S", " M ", "\x01L"],
    "Notes": ["", "vegan", "n" * 2100],
}


def reference(table: Table, mapping: dict[str, str], provider: str, source: str) -> Any:
    """The file row by row with ``to_entrant`` (what ``entrants`` was before it went by column)."""
    result = FetchResult(full=True, supplies=supplies(mapping))
    result.quarantined = [{"row": f"line {n}", "reason": reason} for n, reason in table.errors]
    first_line: dict[str, int] = {}
    bib_line: dict[str, int] = {}
    columns = _Columns(mapping, table.headers)
    for n, values in table.rows:
        cells = dict(zip(table.headers, values, strict=True))
        try:
            e = to_entrant(n, cells, mapping, provider, source, columns)
        except RowError as exc:
            result.quarantined.append({"row": f"line {n}", "reason": str(exc)})
            continue
        if e.registration_id in first_line:
            what = (
                f"bib {e.bib}"
                if e.registration_id.startswith("bib:")
                else f"registration {e.registration_id}"
            )
            result.quarantined.append(
                {"row": f"line {n}", "reason": f"{what} is already on line {first_line[e.registration_id]}"}
            )
            continue
        if e.bib and e.bib in bib_line and e.status == "active":
            result.quarantined.append(
                {"row": f"line {n}", "reason": f"bib {e.bib} is already on line {bib_line[e.bib]}"}
            )
            continue
        first_line[e.registration_id] = n
        if e.bib and e.status == "active":
            bib_line[e.bib] = n
        result.entrants.append(e)
    result.cursor = {"rows": len(table.rows)}
    return result, first_line


def random_table(seed: int, rows: int = 400) -> Table:
    """Rows mostly good (a unique registration and bib, the first value of each column), every
    third cell or so one of the others."""
    pick = random.Random(seed)

    def cell(n: int, header: str) -> str:
        if pick.random() < 0.7:
            return {"Reg": f"r{n}", "Bib": str(n)}.get(header) or CELLS.get(header, [""])[0]
        return pick.choice(CELLS.get(header, ["", "?", " \x02 "]))

    body = [(n, [cell(n, h) for h in HEADERS]) for n in range(3, rows + 3)]
    return Table(list(HEADERS), body, [(2, "cannot be read: x")])


@pytest.mark.parametrize("mapping", MAPPINGS, ids=["full", "name-only", "first-last-name", "no-bib"])
@pytest.mark.parametrize("seed", range(4))
def test_a_file_by_columns_is_the_file_row_by_row(mapping: dict[str, str], seed: int) -> None:
    table = random_table(seed)
    got, lines = file_entrants(table, mapping, "csv", "club")
    want, want_lines = reference(table, mapping, "csv", "club")
    assert got.quarantined == want.quarantined
    assert got.entrants == want.entrants
    assert [list(e.raw.items()) + list(e.custom.items()) for e in got.entrants] == [
        list(e.raw.items()) + list(e.custom.items()) for e in want.entrants
    ]  # (in the same order)
    assert (lines, got.cursor, got.supplies, got.full) == (want_lines, want.cursor, want.supplies, want.full)
    assert len(got.quarantined) > 1 and got.entrants  # (the file has both)


def test_an_empty_file_and_a_row_of_the_wrong_width() -> None:
    got, lines = file_entrants(Table(["Bib", "Last"], []), {"bib": "Bib", "last_name": "Last"}, "csv", "c")
    assert (got.entrants, got.quarantined, lines, got.cursor) == ([], [], {}, {"rows": 0})
    with pytest.raises(ValueError):
        file_entrants(Table(["Bib", "Last"], [(2, ["1"])]), {"bib": "Bib"}, "csv", "c")


def plans(
    entrants: list[Entrant], sup: frozenset[str], local: list[LocalRunner] | None = None
) -> tuple[Any, Any]:
    fetched = FetchResult(entrants, supplies=sup)
    fast = plan_resync(list(local or []), fetched, new_rows=new_runner_rows)
    slow = plan_resync(list(local or []), fetched)
    return fast, slow


def same(fast: Any, slow: Any) -> None:
    assert fast.quarantined == slow.quarantined
    assert [(a.entrant, a.row) for a in fast.added] == [(a.entrant, a.row) for a in slow.added]
    assert [list(a.row.raw.items()) for a in fast.added] == [list(a.row.raw.items()) for a in slow.added]
    assert fast.links == slow.links and fast.to_json() == slow.to_json()
    new_links = [(x.entrant, x.participant_id, x.bib, x.status) for x in fast.links if not x.participant_id]
    assert new_links == [(a.entrant, "", a.row.bib, "active") for a in fast.added]  # one link each


@pytest.mark.parametrize("mapping", MAPPINGS, ids=["full", "name-only", "first-last-name", "no-bib"])
@pytest.mark.parametrize("seed", range(4))
def test_new_runners_by_columns_plan_as_each_row_parsed(mapping: dict[str, str], seed: int) -> None:
    got, _ = file_entrants(random_table(seed), mapping, "csv", "club")
    fast, slow = plans(got.entrants, got.supplies)
    same(fast, slow)
    if "bib" in mapping:
        assert fast.added and any(
            "valid bib" in q["reason"] or "required" in q["reason"] for q in fast.quarantined
        )


def test_a_local_runner_and_entrants_of_any_provider_plan_the_same() -> None:
    base = {"first_name": "Ann", "last_name": "Lee"}
    entrants = [
        Entrant(
            "p",
            "e",
            "r1",
            bib="1",
            custom={"Shirt": "", "team": "x", "k" * 65: "y", "Note": "a\x00b"},
            **base,
        ),
        Entrant(
            "p",
            "e",
            "r2",
            bib="2",
            chip="E2",
            birth_date="1990-01-02",
            race_name="10K",
            custom={"Shoe": "z" * 2500},
            **base,
        ),
        Entrant("p", "e", "r3", bib="bad bib", **base),
        Entrant("p", "e", "r4", bib="4"),  # no name
        Entrant("p", "e", "r5", bib="5", age=40, hidden=True, city="Bo\x85ise ", **base),
        Entrant("p", "e", "r6", bib="", **base),  # no bib
        Entrant("p", "e", "r7", bib="7", first_name="x" * 300),  # longer than the roster keeps
        Entrant("p", "e", "r8", bib="8", **base),  # bib worn here by someone else
    ]
    local = [LocalRunner("p8", {"bib": "8", "first_name": "Other", "last_name": "One", "hidden": False})]
    for sup in (
        frozenset(("bib", "first_name", "last_name", "age", "hidden", "city", "chip")),
        frozenset(("bib",)),
    ):
        fast, slow = plans(entrants, sup, local)
        same(fast, slow)
    assert len(fast.quarantined) >= 3


def test_rows_it_cannot_tell_by_columns_are_left_to_the_planner() -> None:
    many = {f"q{i}": "a" for i in range(41)}  # more answers than an entrant keeps (its first 40)
    odd = [
        [Entrant("p", "e", "r1", bib="1", last_name="Lee", custom=many)],
        [Entrant("p", "e", "r1", bib="1", last_name="Lee", custom={"Shoe": 44})],
        [Entrant("p", "e", "r1", bib="1", last_name="Lee", chip="c" * 2001)],
    ]
    all_fields = frozenset(("bib", "last_name", "chip"))
    for entrants in odd:
        assert new_runner_rows(entrants, all_fields) is None
        same(*plans(entrants, all_fields))
