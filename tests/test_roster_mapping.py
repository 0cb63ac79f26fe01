"""Roster files through the real app's API: the mapping preview, the re-sync preview and import,
saved mappings per source, quarantined rows, nothing half-applied, and ACTIVE's export file."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from typing import Any

import pytest

from race_control.app import RaceControl
from tests.conftest import Api

ULTRA = (
    "Results export,,,,,\n"  # a title line above the header
    "Bib;First Name;Last Name;Gender;Age;Shirt Size\n"
    "0042;Ann;Lee;F;34;M\n"
    '7;Bo;=HYPERLINK("x");male;41;L\n'  # a formula prefix is a name, never evaluated
    "8;Cy;Do;F;abc;S\n"  # a broken age: quarantined, the rest imports
    "9;Di;Ek;X;29;\n"
)


async def event(api: Api) -> str:
    return (await api.ok("POST", "/api/events", {"name": "Trail 50K", "date": "2026-06-01"}, 201))["id"]


def b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode()


async def roster(api: Api, eid: str) -> dict[str, dict[str, Any]]:
    return {p["bib"]: p for p in await api.ok("GET", f"/api/events/{eid}/participants")}


async def test_preview_detects_the_header_and_proposes_a_mapping_with_samples(api: Api) -> None:
    eid = await event(api)
    p = await api.ok("POST", f"/api/events/{eid}/roster/preview", {"content": ULTRA, "source": "ultrasignup"})
    assert p["file"] == {
        "encoding": "utf-8",
        "delimiter": "semicolon",
        "header_line": 2,
        "rows": 4,
        "unreadable_rows": 0,
    }
    assert p["mapping"] == {
        "bib": "Bib",
        "first_name": "First Name",
        "last_name": "Last Name",
        "gender": "Gender",
        "age": "Age",
    }
    assert p["mapping_from"] == "detected" and p["mapping_problem"] is None
    assert p["custom_columns"] == ["Shirt Size"]
    sample = {s["bib"]: s for s in p["sample"]}
    assert sample["42"]["line"] == 3 and sample["42"]["custom"] == {"Shirt Size": "M"}
    assert sample["7"]["last_name"] == '=HYPERLINK("x")' and sample["7"]["gender"] == "M"
    assert p["errors"] == [{"row": "line 5", "reason": "age 'abc' is not a whole number 0-130"}]
    assert await roster(api, eid) == {}  # a preview changes nothing


async def test_import_previews_then_applies_and_saves_the_mapping_for_the_source(api: Api) -> None:
    eid = await event(api)
    body = {"content": ULTRA, "source": "ultrasignup", "apply": False}
    plan = await api.ok("POST", f"/api/events/{eid}/roster/import", body)
    assert (plan["added"], plan["changed"], plan["applied"]) == (3, 0, False)
    assert plan["quarantined"] == [{"row": "line 5", "reason": "age 'abc' is not a whole number 0-130"}]
    assert await roster(api, eid) == {}
    assert await api.ok("GET", "/api/roster/mappings") == []

    done = await api.ok("POST", f"/api/events/{eid}/roster/import", {**body, "apply": True})
    assert (done["added"], done["applied"]) == (3, True)
    got = await roster(api, eid)
    assert sorted(got, key=int) == ["7", "9", "42"]
    assert got["7"]["last_name"] == '=HYPERLINK("x")' and got["42"]["age"] == 34
    saved = await api.ok("GET", "/api/roster/mappings")
    assert [(m["source"], m["mapping"]["age"]) for m in saved] == [("ultrasignup", "Age")]

    # the next file of the source: a renamed "Age" column would not be detected, the saved
    # mapping is used once its columns are all there; an edit made here is kept
    await api.ok("PATCH", f"/api/events/{eid}/participants/9", {"first_name": "Dee"})
    again = ULTRA.replace("8;Cy;Do;F;abc;S\n", "").replace("0042;Ann;Lee;F;34", "0042;Ann;Lee-Ray;F;35")
    again = again.replace("9;Di;Ek", "9;Diana;Ek")
    plan = await api.ok("POST", f"/api/events/{eid}/roster/import", {**body, "content": again})
    assert plan["mapping_from"] == "saved"
    assert (plan["added"], plan["changed"], plan["unchanged"]) == (0, 1, 2)
    assert plan["changes"][0]["fields"] == {
        "last_name": {"from": "Lee", "to": "Lee-Ray"},
        "age": {"from": 34, "to": 35},
    }
    assert plan["kept_local"] == [
        {"registration_id": "bib:9", "bib": "9", "field": "first_name", "local": "Dee", "remote": "Diana"}
    ]


async def test_a_runner_missing_from_the_next_file_is_a_suspected_removal_never_deleted(api: Api) -> None:
    eid = await event(api)
    body = {"content": "bib,first_name,last_name\n1,Ann,Lee\n2,Bo,Ek\n", "apply": True}
    await api.ok("POST", f"/api/events/{eid}/roster/import", body)
    plan = await api.ok(
        "POST",
        f"/api/events/{eid}/roster/import",
        {**body, "content": "bib,first_name,last_name\n1,Ann,Lee\n"},
    )
    assert [s["bib"] for s in plan["suspected_removals"]] == ["2"]
    assert sorted(await roster(api, eid)) == ["1", "2"]


async def test_bad_requests_and_unmappable_files_are_400_and_change_nothing(api: Api) -> None:
    eid = await event(api)
    url = f"/api/events/{eid}/roster/import"
    cases = [
        ({"content": "bib,first_name\n1,A\n"}, "'apply' is required"),
        ({"apply": True}, "exactly one of 'content'"),
        ({"content": "x", "content_base64": "eA==", "apply": True}, "exactly one of"),
        ({"content_base64": "***", "apply": True}, "not valid base64"),
        ({"content_base64": base64.b64encode(b"PK\x03\x04rest").decode(), "apply": True}, "save it as CSV"),
        ({"content": "a,b\n1,2\n", "file_name": "roster.xlsx", "apply": True}, "save it as CSV"),
        ({"content": "city,town\nBoise,Eagle\n", "apply": True}, "needs a 'bib' or a 'registration_id'"),
        (
            {
                "content": "bib,first_name\n1,A\n",
                "mapping": {"bib": "Nope", "first_name": "first_name"},
                "apply": True,
            },
            "no column 'Nope'",
        ),
        (
            {"content": "bib,first_name\n1,A\n", "mapping": {"shoe": "bib"}, "apply": True},
            "unknown mapping field",
        ),
        (
            {"content": "bib,first_name\n1,A\n", "provider": "excel", "apply": True},
            "'provider' must be one of",
        ),
        ({"content": "bib,first_name\n1,A\n", "source": "../etc", "apply": True}, "'source' must be"),
        ({"content": "bib,bib\n1,2\n", "apply": True}, "twice"),
        ({"content": "", "apply": True}, "empty"),
        ({"content": "bib,first_name\n1,A\n", "apply": "yes"}, "'apply' must be"),
        ({"content": "bib,first_name\n1,A\n", "apply": True, "extra": 1}, "unknown field(s) 'extra'"),
        ({"content": "bib,first_name\n1,A\n", "provider": {}, "apply": True}, "'provider' must be one of"),
    ]
    for body, needle in cases:
        status, answer = await api.call("POST", url, body)
        assert status == 400, (body, answer)
        assert needle in answer["error"], (body, answer)
    for body in ({"provider": {}, "mapping": {"bib": "bib"}}, {"provider": ["csv"], "mapping": {}}):
        status, answer = await api.call("PUT", "/api/roster/mappings/fuzz", body)
        assert status == 400 and "'provider' must be one of" in answer["error"], (body, answer)
    status, _ = await api.call("POST", "/api/events/nope/roster/import", {"content": "x", "apply": True})
    assert status == 404
    assert await roster(api, eid) == {} and await api.ok("GET", "/api/roster/mappings") == []


async def test_encodings_and_delimiters_of_real_exports(api: Api) -> None:
    eid = await event(api)
    files = [
        ("\ufeffbib\tfirst_name\tlast_name\n1\tZoë\tMüller\n", "utf-8", "utf-8-sig", "tab"),
        ("bib|first_name|last_name\n2|Zoë|Ñúñez\n", "cp1252", "cp1252", "pipe"),
        ("bib,first_name,last_name\n3,Zoë,Ek\x81\n", "latin-1", "latin-1", "comma"),  # no cp1252 char
    ]
    for text, enc, named, delim in files:
        p = await api.ok("POST", f"/api/events/{eid}/roster/preview", {"content_base64": b64(text, enc)})
        assert (p["file"]["encoding"], p["file"]["delimiter"]) == (named, delim), text
        assert p["sample"][0]["first_name"] == "Zoë"
    assert p["sample"][0]["last_name"] == "Ek\x81"  # kept as read; the roster replaces control chars


async def test_one_bad_row_of_many_does_not_stop_the_rest_and_duplicates_are_quarantined(
    rc: RaceControl, api: Api
) -> None:
    eid = await event(api)
    rows = "".join(f"{n},Runner{n},X\n" for n in range(1, 201))
    text = "bib,first_name,last_name\n" + rows + "7,Again,X\n" + ',"Unclosed,X\n'
    done = await api.ok("POST", f"/api/events/{eid}/roster/import", {"content": text, "apply": True})
    assert done["added"] == 200
    reasons = {q["row"]: q["reason"] for q in done["quarantined"]}
    assert reasons == {
        "line 202": "bib 7 is already on line 8",
        "line 203": "a quoted field runs over several lines (unclosed quote?)",
    }
    assert len(await roster(api, eid)) == 200


async def test_a_failure_inside_the_transaction_leaves_nothing_behind(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runners, their links and the saved mapping are one transaction: the mapping's write
    failing (a full disk, say) leaves no runner and no link behind."""
    import race_control.operations.roster_files as roster_files

    def full_disk(conn: Any, *args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(roster_files, "put_mapping", full_disk)
    eid = await event(api)
    body = {"content": "bib,first_name\n1,Ann\n2,Bo\n", "source": "club", "apply": True}
    status, _ = await api.call("POST", f"/api/events/{eid}/roster/import", body)
    assert status >= 500
    assert await roster(api, eid) == {}
    monkeypatch.undo()
    plan = await api.ok("POST", f"/api/events/{eid}/roster/import", {**body, "apply": False})
    assert plan["added"] == 2 and plan["suspected_removals"] == []  # no link was left either


ACTIVE_EXPORT = (
    "Confirmation Number,Bib Number,First Name,Last Name,Gender,Age on Race Day,Date of Birth,"
    "State/Province,Category,Team Name,Registration Status,T-Shirt\n"
    "AW-1001,101,Ann,Lee,Female,34,1992-03-04,ID,Half Marathon,Harriers,Complete,M\n"
    "AW-1002,102,Bo,Ek,Male,41,,OR,5K,,Complete,L\n"
    "AW-1003,103,Cy,Do,Female,29,,WA,5K,,Cancelled,S\n"
)


async def test_an_activeworks_export_imports_as_provider_active(api: Api) -> None:
    listed = {p["id"]: p for p in await api.ok("GET", "/api/providers")}
    assert (listed["active"]["kind"], listed["active"]["credentials"]) == ("file", [])
    eid = await event(api)
    body = {"content": ACTIVE_EXPORT, "provider": "active"}
    p = await api.ok("POST", f"/api/events/{eid}/roster/preview", body)
    assert p["source"] == "active"
    assert p["mapping"] == {
        "registration_id": "Confirmation Number",
        "bib": "Bib Number",
        "first_name": "First Name",
        "last_name": "Last Name",
        "gender": "Gender",
        "age": "Age on Race Day",
        "birth_date": "Date of Birth",
        "state": "State/Province",
        "race_name": "Category",  # ACTIVEWorks' registration category is the distance
        "team": "Team Name",
        "status": "Registration Status",
    }
    ann = p["sample"][0]
    assert (ann["registration_id"], ann["gender"], ann["race_name"], ann["custom"]) == (
        "AW-1001",
        "F",
        "Half Marathon",
        {"T-Shirt": "M"},
    )
    done = await api.ok("POST", f"/api/events/{eid}/roster/import", {**body, "apply": True})
    assert (done["added"], done["provider"]) == (2, "active")  # the cancelled one is not a runner
    got = await roster(api, eid)
    assert sorted(got) == ["101", "102"] and got["101"]["team"] == "Harriers"
    # the next export: AW-1002 cancelled now — marked, never deleted
    later = ACTIVE_EXPORT.replace("5K,,Complete,L", "5K,,Cancelled,L")
    plan = await api.ok("POST", f"/api/events/{eid}/roster/import", {**body, "content": later, "apply": True})
    assert [(r["registration_id"], r["status"]) for r in plan["removals"]] == [("AW-1002", "cancelled")]
    assert sorted(await roster(api, eid)) == ["101", "102"]
    # an ACTIVE account cannot sync: the answer says to import the export file
    acc = await api.ok(
        "POST", "/api/providers/accounts", {"provider": "active", "label": "AW", "credentials": {}}, 201
    )
    status, answer = await api.call("GET", f"/api/providers/accounts/{acc['id']}/events")
    assert status == 400 and "export the participants from ACTIVEWorks" in answer["error"]


async def test_a_bib_a_walk_up_wears_here_is_quarantined_and_named_by_its_line(api: Api) -> None:
    eid = await event(api)
    await api.ok(
        "POST", f"/api/events/{eid}/participants", [{"bib": "5", "first_name": "Zed", "last_name": "Walker"}]
    )
    text = "bib,first_name,last_name\n4,Ann,Lee\n5,Bo,Ek\n"
    done = await api.ok("POST", f"/api/events/{eid}/roster/import", {"content": text, "apply": True})
    assert done["added"] == 1
    assert [q["row"] for q in done["quarantined"]] == ["line 3, bib 5 (Bo Ek)"]
    assert "worn here by bib 5 (Zed Walker)" in done["quarantined"][0]["reason"]
    assert (await roster(api, eid))["5"]["first_name"] == "Zed"


async def test_a_large_file_answers_before_its_entrants_are_freed_then_frees_them(
    rc: RaceControl, api: Api
) -> None:
    import gc

    from race_control.providers.normalized import Entrant
    from race_control.roster.gc_pause import FILE_IMPORT_THRESHOLD0

    assert rc.services is not None
    files = rc.services.ops.roster_files
    eid = await event(api)
    rows = "".join(f"{i};Ann{i};Lee;F;30\n" for i in range(1, 2_501))
    body = {"content_base64": b64("Bib;First Name;Last Name;Gender;Age\n" + rows), "apply": True}

    def alive() -> int:
        return sum(type(o) is Entrant for o in gc.get_objects())

    before, thresholds = alive(), gc.get_threshold()
    done = await files.import_file(eid, body)
    assert done["added"] == 2_500
    assert alive() - before >= 2_500  # the answer is back; its 2,500 entrants are freed after it
    # and collections stay few until they are (a young collection would walk every one of them)
    assert gc.get_threshold()[0] == FILE_IMPORT_THRESHOLD0
    await asyncio.gather(*files._releasing)
    await asyncio.sleep(0)  # (the release's done callbacks)
    assert alive() - before < 10 and not files._releasing
    assert gc.get_threshold() == thresholds
