"""The re-sync planner (pure: no HTTP, no store): identity by registration, per-field ownership,
removals as marks, suspected removals, quarantine."""

from __future__ import annotations

from typing import Any

from race_control.providers.normalized import PARTICIPANT_FIELDS, Entrant, FetchResult
from race_control.providers.resync import LocalRunner, plan_resync

ALL = frozenset((*PARTICIPANT_FIELDS, "chip"))


def runner(
    pid: str, bib: str, first: str, last: str, reg: str = "", local: tuple[str, ...] = (), **kw: Any
) -> LocalRunner:
    fields = {
        "bib": bib,
        "first_name": first,
        "last_name": last,
        "age": None,
        "gender": "",
        "city": "",
        "state": "",
        "country": "",
        "division": "",
        "team": "",
        "wave": "",
        "message": "",
        "alias": "",
        "hidden": False,
    }
    raw = kw.pop("raw", {})
    status = kw.pop("link_status", "active" if reg else "")
    fields.update(kw)
    return LocalRunner(pid, fields, raw, frozenset(local), reg, status)


def entrant(reg: str, bib: str, first: str, last: str, **kw: Any) -> Entrant:
    return Entrant("runsignup", "48213", reg, bib=bib, first_name=first, last_name=last, **kw)


def plan(local: list[LocalRunner], remote: list[Entrant], full: bool = True, **kw: Any) -> Any:
    return plan_resync(local, FetchResult(remote, full=full, supplies=kw.pop("supplies", ALL), **kw))


def test_a_first_sync_adds_new_runners_and_links_an_imported_roster_by_bib_and_name() -> None:
    local = [runner("p1", "1", "Ann", "Lee"), runner("p2", "2", "Bo", "Kay")]
    remote = [
        entrant("r1", "1", "Ann", "Lee", city="Boise"),  # the CSV-imported runner: linked, city added
        entrant("r2", "2", "Ben", "Kay"),  # same last name: the same runner, first name corrected
        entrant("r3", "3", "Cy", "Moe", chip="E200"),
    ]
    p = plan(local, remote)
    assert [a.entrant.registration_id for a in p.added] == ["r3"]
    assert p.added[0].raw == {"chip": "E200"} and p.added[0].fields["bib"] == "3"
    assert {c.runner.id: c.diff for c in p.changed} == {
        "p1": {"city": ("", "Boise")},
        "p2": {"first_name": ("Bo", "Ben")},
    }
    assert sorted((lk.entrant.registration_id, lk.participant_id) for lk in p.links) == [
        ("r1", "p1"),
        ("r2", "p2"),
        ("r3", ""),
    ]
    assert p.to_json()["added"] == 1 and p.to_json()["changed"] == 2


def test_a_bib_worn_by_somebody_else_is_quarantined_never_overwritten() -> None:
    local = [runner("p1", "7", "Walk", "Up"), runner("p2", "8", "Dee", "Ray", reg="r8")]
    remote = [entrant("r1", "7", "Zed", "Ox"), entrant("r2", "8", "Eve", "Fox")]
    p = plan(local, remote)
    assert not p.changed and not p.added
    reasons = [q["reason"] for q in p.quarantined]
    assert reasons == [
        "bib 7 is worn here by bib 7 (Walk Up), not Zed Ox: fix the bib here or at the provider",
        "bib 8 is worn here by bib 8 (Dee Ray), linked to registration r8",
    ]
    assert p.quarantined[0]["row"] == "registration r1 (Zed Ox)"


def test_local_edits_are_kept_and_listed_and_a_blank_remote_bib_or_chip_clears_nothing() -> None:
    local = [
        runner("p1", "12", "Ann", "Lee", reg="r1", local=("first_name", "bib"), raw={"chip": "E1"}),
        runner("p2", "13", "Bo", "Kay", reg="r2", raw={"chip": "E2"}),
    ]
    remote = [
        entrant("r1", "99", "Anne", "Leigh", chip="E1"),  # bib and first name were edited here
        entrant("r2", "", "Bo", "Kay", chip=""),  # the provider has no bib or chip for him (yet)
    ]
    p = plan(local, remote)
    assert [(c.runner.id, c.diff) for c in p.changed] == [("p1", {"last_name": ("Lee", "Leigh")})]
    assert p.changed[0].fields["first_name"] == "Ann" and p.changed[0].fields["bib"] == "12"
    assert p.kept_local == [
        {"registration_id": "r1", "bib": "12", "field": "bib", "local": "12", "remote": "99"},
        {"registration_id": "r1", "bib": "12", "field": "first_name", "local": "Ann", "remote": "Anne"},
    ]
    assert [r.id for r, _ in p.unchanged] == ["p2"]  # blank bib/chip: nothing to change


def test_fields_the_provider_does_not_supply_are_left_alone() -> None:
    local = [runner("p1", "1", "Ann", "Lee", reg="r1", division="F40", wave="B", hidden=True)]
    p = plan(
        local, [entrant("r1", "1", "Ann", "Lee")], supplies=frozenset(("bib", "first_name", "last_name"))
    )
    assert not p.changed and len(p.unchanged) == 1


def test_removed_and_transferred_are_marked_and_missing_runners_are_only_suspected() -> None:
    local = [
        runner("p1", "1", "Ann", "Lee", reg="r1"),
        runner("p2", "2", "Bo", "Kay", reg="r2"),
        runner("p3", "3", "Cy", "Moe", reg="r3"),
        runner("p4", "4", "Walk", "Up"),  # a local walk-up: never linked, never suspected
    ]
    remote = [
        entrant("r1", "1", "Ann", "Lee"),
        entrant(
            "r2", "", "Bo", "Kay", status="transferred", status_reason="transferred", transferred_to="r9"
        ),
    ]
    p = plan(local, remote)
    assert p.removed == [
        {
            "registration_id": "r2",
            "bib": "2",
            "name": "Bo Kay",
            "status": "transferred",
            "reason": "transferred",
            "transferred_to": "r9",
        }
    ]
    assert [(lk.entrant.registration_id, lk.status) for lk in p.links if lk.status != "active"] == [
        ("r2", "transferred")
    ]
    assert [s["registration_id"] for s in p.suspected_removals] == ["r3"]
    assert "confirm" in p.suspected_removals[0]["reason"]
    # the plan never deletes: nobody leaves the roster
    assert not hasattr(p, "deleted")
    # an incremental pull says nothing of runners it did not bring
    assert plan(local, remote, full=False).suspected_removals == []
    # a removal already marked is not listed again
    again = [*local[:1], runner("p2", "2", "Bo", "Kay", reg="r2", link_status="transferred"), *local[2:]]
    assert plan(again, remote).removed == []


def test_one_bad_row_is_quarantined_and_the_rest_goes_on() -> None:
    remote = [
        entrant("r1", "", "No", "Bib"),
        entrant("r2", "5", "", ""),
        entrant("r3", "a b", "Bad", "Bib"),
        entrant("r4", "6", "Good", "Row"),
        entrant("r5", "6", "Same", "Bib"),
    ]
    p = plan([], remote, quarantined=[{"row": "participants row 9", "reason": "no registration_id"}])
    assert [a.entrant.registration_id for a in p.added] == ["r4"]
    assert [(q["row"], q["reason"]) for q in p.quarantined] == [
        ("participants row 9", "no registration_id"),
        (
            "registration r1 (No Bib)",
            "has no bib yet: assign one at the provider, or add the runner here as a walk-up",
        ),
        ("registration r2", "'first_name' or 'last_name' is required"),
        ("registration r3 (Bad Bib)", "bib 'a b' is not a valid bib"),
        ("registration r5 (Same Bib)", "bib 6 is also registration r4's"),
    ]


def test_bibs_moved_and_swapped_at_the_provider() -> None:
    local = [
        runner("p1", "1", "Ann", "Lee", reg="r1"),
        runner("p2", "2", "Bo", "Kay", reg="r2"),
        runner("p3", "3", "Cy", "Moe", reg="r3"),
        runner("p4", "4", "Di", "Nu"),
    ]
    remote = [
        entrant("r1", "2", "Ann", "Lee"),  # 1 and 2 swapped
        entrant("r2", "1", "Bo", "Kay"),
        entrant("r3", "4", "Cy", "Moe"),  # 4 is worn by a runner who stays: quarantined
    ]
    p = plan(local, remote)
    assert sorted((c.runner.id, c.fields["bib"]) for c in p.changed) == [("p1", "2"), ("p2", "1")]
    assert [q["reason"] for q in p.quarantined] == [
        "the provider moves bib 3 (Cy Moe) to bib 4, worn by bib 4 (Di Nu)"
    ]


def test_bibs_are_normalized_and_a_leading_zero_is_no_change() -> None:
    from race_control.providers.normalized import bib

    assert [bib(v) for v in ("007", 7, " 12 ", None, "", "-", "a1")] == ["7", "7", "12", "", "", "", "A1"]
    local = [runner("p1", "7", "Ann", "Lee", reg="r1")]
    assert len(plan(local, [entrant("r1", bib("0007"), "Ann", "Lee")]).unchanged) == 1
