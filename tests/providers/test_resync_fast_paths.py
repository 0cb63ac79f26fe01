"""The planner's shortcuts for a large re-sync keep its answers (docs/providers.md#load): a
matched runner is skipped (not validated again, nothing written) only when no field differs AND
its link keeps exactly this provider row; anything else is planned as before."""

from __future__ import annotations

import json
from dataclasses import replace

from race_control.providers.normalized import FetchResult
from race_control.providers.resync import LocalRunner, plan_resync
from tests.providers.test_resync import ALL, entrant, runner


def linked(r: LocalRunner, raw: dict) -> LocalRunner:
    return replace(r, link_raw_json=json.dumps(raw))


def test_a_runner_linked_to_this_very_row_with_nothing_changed_is_unchanged_and_not_rewritten() -> None:
    e = entrant("r1", "1", "Ann", "Lee", raw={"registration_id": "r1", "v": 1})
    p = plan_resync(
        [linked(runner("p1", "1", "Ann", "Lee", reg="r1"), e.raw)], FetchResult([e], supplies=ALL)
    )
    assert [(r.id, x.registration_id) for r, x in p.unchanged] == [("p1", "r1")]
    assert not p.changed and not p.links and not p.quarantined


def test_a_local_row_changed_elsewhere_is_restored_even_when_the_link_keeps_the_same_row() -> None:
    # the link says the provider row did not move, but the participant differs from it (another
    # source wrote it, not a local edit): the provider's value is planned back
    e = entrant("r1", "1", "Ann", "Lee", city="Boise", raw={"registration_id": "r1", "v": 1})
    local = linked(runner("p1", "1", "Ann", "Lee", reg="r1", city="Nampa"), e.raw)
    p = plan_resync([local], FetchResult([e], supplies=ALL))
    assert [(c.runner.id, c.diff) for c in p.changed] == [("p1", {"city": ("Nampa", "Boise")})]
    assert p.changed[0].fields["city"] == "Boise" and not p.links


def test_a_new_provider_row_with_the_same_fields_rewrites_the_link_only() -> None:
    e = entrant("r1", "1", "Ann", "Lee", raw={"registration_id": "r1", "v": 2})
    local = linked(runner("p1", "1", "Ann", "Lee", reg="r1"), {"registration_id": "r1", "v": 1})
    p = plan_resync([local], FetchResult([e], supplies=ALL))
    assert not p.changed and [r.id for r, _ in p.unchanged] == ["p1"]
    assert [(x.participant_id, x.status) for x in p.links] == [("p1", "active")]


def test_a_row_the_roster_cannot_hold_is_still_quarantined_when_its_link_is_new() -> None:
    e = entrant("r1", "1", "Ann", "Lee", custom={f"q{i}": "x" for i in range(60)}, raw={"v": 3})
    local = runner("p1", "1", "Ann", "Lee", reg="r1", raw={f"k{i}": "y" for i in range(30)})
    p = plan_resync([local], FetchResult([e], supplies=ALL))
    assert [q["reason"] for q in p.quarantined] == ["70 extra fields (at most 50)"]
    assert not p.unchanged and not p.links


def test_a_chip_or_bib_that_differs_is_planned_even_when_the_link_keeps_the_same_row() -> None:
    # the one-tuple comparison of the other fields leaves the chip and the bib to their own
    # rules: a new remote chip is written, a blank one keeps the local chip, a new remote bib moves
    raw = {"registration_id": "r1", "v": 1}
    e = entrant("r1", "1", "Ann", "Lee", chip="E201", raw=raw)
    local = linked(runner("p1", "1", "Ann", "Lee", reg="r1", raw={"chip": "E200"}), raw)
    p = plan_resync([local], FetchResult([e], supplies=ALL))
    assert [(c.runner.id, c.diff) for c in p.changed] == [("p1", {"chip": ("E200", "E201")})]
    assert p.changed[0].raw["chip"] == "E201"

    blank = plan_resync([local], FetchResult([replace(e, chip="")], supplies=ALL))
    assert not blank.changed and [r.id for r, _ in blank.unchanged] == ["p1"]

    moved = plan_resync([local], FetchResult([replace(e, bib="7", chip="E200")], supplies=ALL))
    assert [(c.runner.id, c.diff) for c in moved.changed] == [("p1", {"bib": ("1", "7")})]

    kept = replace(local, local_fields=frozenset({"bib"}))
    held = plan_resync([kept], FetchResult([replace(e, bib="7", chip="E200")], supplies=ALL))
    assert [(k["field"], k["remote"]) for k in held.kept_local] == [("bib", "7")]
    assert not held.changed
