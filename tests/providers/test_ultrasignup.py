"""UltraSignup: the RD's entrants export read through the normalized schema (a full pull of a
did, keyed by order id, removals marked, bad rows quarantined, missing columns named), and the
public results JSON against a fake UltraSignup on loopback (faults retried and named)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from race_control.errors import InputError
from race_control.providers.base import RetryPolicy
from race_control.providers.errors import (
    ProviderInputError,
    ProviderMalformed,
    ProviderShapeError,
    ProviderUnavailable,
)
from race_control.providers.ultrasignup import SYNONYMS, UltraSignup, read_export
from race_control.roster.mapping import detect, names_a_column
from race_control.roster.tabular import read_table
from tests.conftest import Api
from tests.providers.fakes.ultrasignup import FakeUltraSignup, entrant, export_csv, result
from tests.providers.test_runsignup import Sleeps

DID = "118204"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUltraSignup]:
    server = FakeUltraSignup()
    server.results[DID] = [
        result("Erin", "Vance", "9:41:17", bib="12", place="1"),
        result("Paul", "Kerr", "6:10:00", status=2, gender="M", age=51),
        result("Ana", "Ruiz", "", status=3),
        result("Jo", "Park", "11:02:09", status=6, place="2"),
    ]
    server.results["118205"] = [result("Lee", "Sun", "4:58:00", place="1")]
    async with server:
        yield server


def adapter(fake: FakeUltraSignup, client: httpx.AsyncClient, **kw: object) -> UltraSignup:
    return UltraSignup(client, {}, base_url=fake.url + "/service/events.svc", **kw)  # type: ignore[arg-type]


def test_the_export_is_a_full_pull_of_the_did() -> None:
    rows = [entrant(880_100 + i, f"First{i}", f"Last{i}", bib=str(100 + i)) for i in range(1, 6)]
    rows[0].update({"First Name": "Zoë", "City": "Hood River"})
    rows[1].update(Status="Removed")
    rows[2].update(Bib="", Team="Bend Trail Club", Distance="50 Mile")
    rows.append(entrant(0, "No", "Order", **{"Order ID": ""}))
    rows.append({**rows[3], "Bib": "444"})  # the same order again: refused, the first one stays
    got = read_export(export_csv(rows), DID)
    assert got.full and len(got.entrants) == 5
    assert got.quarantined == [
        {"row": "line 7", "reason": "no bib (and no registration id) on this row"},
        {"row": "line 8", "reason": "registration 880104 is already on line 5"},
    ]
    e = got.entrants[0]
    assert (e.key, e.bib, e.first_name, e.gender, e.age, e.birth_date, e.city, e.state, e.race_name) == (
        ("ultrasignup", DID, "880101"),
        "101",
        "Zoë",
        "F",
        36,
        "1990-03-02",
        "Hood River",
        "OR",
        "50K",
    )
    assert e.raw["Email"] == "first1@example.net"  # the row as it came
    by_id = {x.registration_id: x for x in got.entrants}
    assert (by_id["880102"].status, by_id["880102"].status_reason) == ("removed", "Removed")
    assert by_id["880101"].status == "active"  # "Registered"
    assert (by_id["880103"].bib, by_id["880103"].team, by_id["880103"].race_name) == (
        "",
        "Bend Trail Club",
        "50 Mile",
    )
    assert by_id["880104"].bib == "104"
    assert by_id["880101"].custom["Email"] == "first1@example.net"  # a column not mapped: a custom field
    assert "team" in got.supplies and "division" not in got.supplies


def test_other_spellings_semicolons_and_windows_1252() -> None:
    header = ("order_no", "fname", "lname", "sex", "bib_number", "status")
    rows = [
        {
            "order_no": "7",
            "fname": "José",
            "lname": "Núñez",
            "sex": "Male",
            "bib_number": "007",
            "status": "",
        },
        {
            "order_no": "8",
            "fname": "Kai",
            "lname": "O\u2019Lund",
            "sex": "F",
            "bib_number": "8",
            "status": "Refunded",
        },
    ]
    data = export_csv(rows, header, encoding="cp1252").replace(b",", b";")
    got = read_export(data, DID)
    assert [
        (e.registration_id, e.first_name, e.last_name, e.gender, e.bib, e.status) for e in got.entrants
    ] == [
        ("7", "José", "Núñez", "M", "7", "active"),
        ("8", "Kai", "O\u2019Lund", "F", "8", "refunded"),  # cp1252 has its own quote
    ]
    assert got.supplies == frozenset(
        ("first_name", "last_name", "gender", "bib")
    )  # no city column: left alone


def test_a_file_that_cannot_be_read_is_refused_naming_why() -> None:
    no_id = export_csv([entrant(1, "A", "B")], ("First Name", "Last Name", "Bib"))
    with pytest.raises(
        ProviderInputError,
        match=r"no order / registration id column \(known: entrantid, orderid, orderno",
    ) as exc:
        read_export(no_id, DID)
    assert "found: First Name, Last Name, Bib" in str(exc.value) and exc.value.field == "file"
    with pytest.raises(ProviderInputError, match="Excel workbook: open it and save it as CSV"):
        read_export(b"PK\x03\x04rest-of-a-zip", DID)
    with pytest.raises(ProviderInputError, match="header but no entrants"):
        read_export(export_csv([]), DID)
    with pytest.raises(InputError, match="the file is empty"):
        read_export(b"  \r\n", DID)
    with pytest.raises(ProviderInputError, match="must be digits"):
        read_export(export_csv([entrant(1, "A", "B")]), "118204/../x")
    every_row_refused = read_export(export_csv([entrant(1, "A", "B", **{"Order ID": ""})]), DID)
    assert not every_row_refused.full  # no evidence that anyone left


async def test_results_json_of_several_dids_politely_spaced(fake: FakeUltraSignup) -> None:
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client, sleep=sleeps)
        got = await a.fetch_results(DID, "118205")
        assert await a.list_events() == []
        with pytest.raises(
            ProviderInputError, match="no participant API: import the race director's entrants export"
        ):
            await a.fetch_entrants(DID)
    assert fake.paths() == [
        f"/service/events.svc/results/{DID}/1/json",
        "/service/events.svc/results/118205/1/json",
    ]
    assert sleeps.waits == [2.0]
    assert [(r.first_name, r.bib, r.place, r.chip_time, r.raw["result_status"]) for r in got] == [
        ("Erin", "12", 1, "9:41:17", "finished"),
        ("Paul", "", None, "", "dnf"),
        ("Ana", "", None, "", "dns"),
        ("Jo", "", 2, "11:02:09", "finished"),
        ("Lee", "", 1, "4:58:00", "finished"),
    ]
    assert (got[1].gender, got[1].age, got[4].provider_event_id) == ("M", 51, "118205")


async def test_results_faults_are_retried_and_named(fake: FakeUltraSignup) -> None:
    fake.fault("/results/", "429", retry_after=4)
    fake.fault("/results/", "500")
    fake.fault("/results/", "slow", delay=1.0)
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        a = adapter(fake, client, sleep=sleeps, retry=RetryPolicy(timeout=0.3))
        assert len(await a.fetch_results(DID)) == 4 and a.retries == 3 and 4 in sleeps.waits
        fake.fault("/results/", "malformed")
        with pytest.raises(
            ProviderMalformed,
            match=f"UltraSignup: /service/events.svc/results/{DID}/1/json did not answer JSON",
        ):
            await adapter(fake, client).fetch_results(DID)
        fake.shape_change = True
        with pytest.raises(
            ProviderShapeError, match=f"/results/{DID}/1/json: 'results' should be a list, got dict"
        ) as shape:
            await adapter(fake, client).fetch_results(DID)
        assert shape.value.field == "results"
        fake.shape_change = False
        fake.fault("/results/", "503", times=5)
        with pytest.raises(ProviderUnavailable, match="failed 2 times"):
            await adapter(fake, client, sleep=Sleeps(), retry=RetryPolicy(attempts=2)).fetch_results(DID)


async def test_the_export_through_the_roster_file_import_is_a_re_sync_of_the_did(api: Api) -> None:
    """Today's API path (docs/providers.md#ultrasignup): a roster file of source <did>, its
    mapping the one read_export detects (Order ID the registration id), saved for the did."""
    eid = (await api.ok("POST", "/api/events", {"name": "Bend 50K", "date": "2026-06-13"}, 201))["id"]
    rows = [entrant(880_100 + i, f"First{i}", f"Last{i}", bib=str(100 + i)) for i in range(1, 4)]
    data = export_csv(rows)
    mapping = detect(read_table(data, lambda c: names_a_column(c, SYNONYMS)).headers, SYNONYMS)
    body = {"content": data.decode("utf-8-sig"), "source": DID, "mapping": mapping, "apply": True}
    preview = await api.ok(
        "POST", f"/api/events/{eid}/roster/preview", {k: body[k] for k in ("content", "source", "mapping")}
    )
    assert [s["registration_id"] for s in preview["sample"]] == [
        "880101",
        "880102",
        "880103",
    ]  # not bib:<bib>
    first = await api.ok("POST", f"/api/events/{eid}/roster/import", body)
    assert (first["added"], first["quarantined"]) == (3, [])
    # the RD's next export: runner 2 renamed, runner 3 gone (a suspected removal, never deleted)
    rows[1]["First Name"] = "Renamed"
    again = {**body, "content": export_csv(rows[:2]).decode("utf-8-sig")}
    del again["mapping"]  # the saved mapping of the did is used
    second = await api.ok("POST", f"/api/events/{eid}/roster/import", again)
    assert (second["changed"], second["mapping_from"], [s["bib"] for s in second["suspected_removals"]]) == (
        1,
        "saved",
        ["103"],
    )
    got = {p["bib"]: p["first_name"] for p in await api.ok("GET", f"/api/events/{eid}/participants")}
    assert got == {"101": "First1", "102": "Renamed", "103": "First3"}


async def test_an_ultrasignup_export_imported_as_such_needs_no_mapping(api: Api) -> None:
    """``"provider": "ultrasignup"``: the export's own header words (Order ID the registration
    id) are the proposed mapping, so the RD's file goes in as it is."""
    eid = (await api.ok("POST", "/api/events", {"name": "Bend 50K", "date": "2026-06-13"}, 201))["id"]
    rows = [entrant(880_200 + i, f"First{i}", f"Last{i}", bib=str(200 + i)) for i in range(1, 3)]
    body = {"content": export_csv(rows).decode("utf-8-sig"), "source": DID, "provider": "ultrasignup"}
    preview = await api.ok("POST", f"/api/events/{eid}/roster/preview", body)
    assert [s["registration_id"] for s in preview["sample"]] == ["880201", "880202"]
    done = await api.ok("POST", f"/api/events/{eid}/roster/import", {**body, "apply": True})
    assert (done["added"], done["quarantined"]) == (2, [])
