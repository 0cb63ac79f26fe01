"""Controller-file import through the API: real 2021 files, idempotent, bad input named."""

from __future__ import annotations

from pathlib import Path

from race_control.app import RaceControl
from tests.conftest import DATA, Api


def lines_of(path: Path) -> list[str]:
    return [ln for ln in path.read_text("latin-1").splitlines() if ln.startswith("TO~")]


async def test_import_a_controller_folder_and_bind_it(rc: RaceControl, api: Api) -> None:
    folder = DATA / "chronotrack-2021" / "19K"
    expected = lines_of(folder / "5072019.csv")
    result = await api.ok("POST", "/api/timing/import", {"path": str(folder), "timezone": "UTC"}, status=201)
    assert (result["location"], result["reference_date"], result["reads"]) == (
        "19K",
        "2021-05-08",
        len(expected),
    )
    assert result["already_imported"] == 0 and result["bad_row_count"] == 0
    again = await api.ok("POST", "/api/timing/import", {"path": str(folder)}, status=201)
    assert (again["reads"], again["already_imported"]) == (0, len(expected))  # idempotent
    streams = await api.ok("GET", "/api/timing/sessions")
    assert (
        len(streams) == 1
        and streams[0]["protocol"] == "controller-file"
        and streams[0]["reads"] == len(expected)
    )
    assert streams[0]["clock_warnings"] == 0  # imported files are expected to be in the past

    event = await api.ok(
        "POST", "/api/events", {"name": "Import", "date": "2021-05-08", "timezone": "UTC"}, 201
    )
    session = await api.ok(
        "POST",
        "/api/sessions",
        {"event_id": event["id"], "mode": "results", "rules": {"duplicate_window": 300}},
        201,
    )
    bound = await api.ok(
        "POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": result["timing_session_id"]}
    )
    # independently: distinct non-test bibs at 19K whose reads are never 300 s apart more than once
    bibs = {ln.split("~")[2].lstrip("0") for ln in expected} - {"99995", "99996", "99997", "99998"}
    assert bound["finishers"] >= len(bibs)
    assert rc.services is not None


async def test_import_with_a_date_filter_and_bad_rows(rc: RaceControl, api: Api, tmp_path: Path) -> None:
    start = DATA / "chronotrack-2021" / "START1"
    result = await api.ok(
        "POST", "/api/timing/import", {"path": str(start), "date": "2021-05-02"}, status=201
    )
    assert result["reads"] == len(lines_of(start / "5012018.csv"))  # the other event in that folder
    broken = tmp_path / "MAT" / "1.csv"
    broken.parent.mkdir()
    broken.write_text(
        "TO~1~9511~160~18~1620458668.64~12000C~8~-63~1~P~192\nTO~garbage\nTO~3~12~160~18~notatime~12000C~1~-66~3~P~1\n"
    )
    result = await api.ok("POST", "/api/timing/import", {"path": str(broken)}, status=201)
    assert result["reads"] == 1 and result["bad_row_count"] == 2 and result["location"] == "MAT"
    assert {row["line"] for row in result["bad_rows"]} == {2, 3}


async def test_import_errors_name_the_problem(api: Api, tmp_path: Path) -> None:
    cases = [
        ({}, "'path'"),
        ({"path": str(tmp_path / "nope")}, "no such file"),
        ({"path": str(tmp_path)}, "no reads"),
        ({"path": str(tmp_path), "timezone": "Nowhere/Land"}, "time zone"),
        ({"path": str(tmp_path), "date": "yesterday"}, "'date'"),
        ({"path": str(tmp_path), "location": "x" * 17}, "'location'"),
        ({"path": str(tmp_path), "colour": "red"}, "unknown field"),
    ]
    (tmp_path / "notes.txt").write_text("hello")
    for body, needle in cases:
        got, data = await api.call("POST", "/api/timing/import", body)
        assert got == 400 and needle in data["error"], (body, data)
    assert await api.ok("GET", "/api/timing/sessions") == []
