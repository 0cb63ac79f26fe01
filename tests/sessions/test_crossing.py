"""Crossing rules as tables: each row is a read and the decision expected for it."""

from __future__ import annotations

import pytest

from race_control.errors import InputError
from race_control.roster.participants import ParticipantRow
from race_control.sessions.crossing import Crossing, CrossingEngine, CrossingRules
from race_control.sessions.finisher import finisher_payload
from race_control.timing.ingest.stored_read import StoredRead
from race_control.timing.protocols.chronotrack_time import format_elapsed

_seq = iter(range(1, 1_000_000))


def read(
    bib: str,
    clock: float,
    location: str = "finish",
    stream: str = "s1",
    kind: str = "tag",
    reader: str = "0FA22E",
    gator: int = 1,
) -> StoredRead:
    n = next(_seq)
    return StoredRead(stream, location, n, kind, bib, bib, "", clock, 0, reader, gator, n, 1000.0 + clock)


def decide(engine: CrossingEngine, r: StoredRead) -> str:
    out = engine.process(r)
    if out is None:
        return "gun"
    if isinstance(out, Crossing):
        return "cross" if out.elapsed is None else f"cross {format_elapsed(out.elapsed)}"
    return "suppress: " + out.reason.split(":")[0]


def test_duplicate_window_per_bib_and_location() -> None:
    engine = CrossingEngine(CrossingRules(duplicate_window=30))
    table = [
        (read("101", 100.0), "cross"),
        (read("101", 105.0), "suppress: duplicate"),  # re-read 5 s later
        (read("101", 129.9), "suppress: duplicate"),
        (read("101", 131.0), "cross"),  # a new lap after the window
        (read("102", 105.0), "cross"),
        (read("101", 106.0, location="9k"), "cross"),  # other location counts separately
        (read("99997", 107.0), "suppress: tag 99997 is an ignored test tag"),
    ]
    assert [decide(engine, r) for r, _ in table] == [want for _, want in table]


def test_location_filter_and_gun_time() -> None:
    engine = CrossingEngine(CrossingRules(locations=("finish",)))
    assert decide(engine, read("guntime", 3600.0, location="start", kind="gun")) == "gun"
    assert decide(engine, read("5", 3600.0 + 1537.4)) == "cross 25:38"  # 1537.4 s rounds up
    assert decide(engine, read("6", 3650.0, location="start")).startswith("suppress: location start")
    # a gun from another stream does not apply (clock offsets between sources do not cancel)
    assert decide(engine, read("7", 9000.0, stream="other")) == "cross"


def test_rules_validation() -> None:
    assert CrossingRules.from_json(None, default_window=12).duplicate_window == 12
    rules = CrossingRules.from_json({"locations": ["finish"], "duplicate_window": 5, "ignore_tags": []})
    assert rules.to_json() == {
        "locations": ["finish"],
        "duplicate_window": 5.0,
        "ignore_tags": [],
        "start_locations": [],
        "min_time_since_start": 0.0,
        "lines": [],
        "stray_after": 60.0,
        "stray_gap": 10.0,
        "waves": {},
    }
    again = CrossingRules.from_json(
        {"waves": {"A": "08:00:55.16"}, "lines": [{"location": "F2", "line": "F"}]}
    )
    assert CrossingRules.from_json(again.to_json()) == again
    for bad in (
        {"locations": "finish"},
        {"duplicate_window": "x"},
        {"duplicate_window": True},
        {"duplicate_window": -1},
        {"ignore_tags": [1]},
        [],
        {"start_locations": "s"},
        {"min_time_since_start": -5},
        {"colour": "red"},
        {"lines": [{"location": "x"}]},
        {"lines": [{"location": "x", "line": "y", "gator": "1"}]},
        {"waves": {"A": "soon"}},
        {"waves": ["08:00:00"]},
    ):
        with pytest.raises(InputError):
            CrossingRules.from_json(bad)


def test_finisher_payload_privacy_and_unknown() -> None:
    crossing = Crossing(read("42", 3661.0), elapsed=3661.0)
    unknown = finisher_payload(7, crossing, None)
    assert (unknown["seq"], unknown["name"], unknown["known"], unknown["time"]) == (
        7,
        "Bib 42",
        False,
        "1:01:01",
    )
    runner = ParticipantRow(bib="42", first_name="Ann", last_name="Lee", city="Boise", message="Go!")
    shown = finisher_payload(8, crossing, runner)
    assert (shown["name"], shown["city"], shown["message"], shown["known"]) == (
        "Ann Lee",
        "Boise",
        "Go!",
        True,
    )
    hidden = finisher_payload(
        9, crossing, ParticipantRow(bib="42", first_name="Ann", city="Boise", hidden=True)
    )
    assert (hidden["name"], hidden["city"], hidden["first_name"]) == ("Bib 42", "", "")
    alias = finisher_payload(
        10, crossing, ParticipantRow(bib="42", first_name="Ann", last_name="Lee", alias="Speedy")
    )
    assert (alias["name"], alias["first_name"], alias["last_name"]) == ("Speedy", "Speedy", "")
    tod = finisher_payload(11, Crossing(read("42", 30 * 3600 + 5.0), elapsed=None), None)
    assert tod["time"] == "6:00:05" and tod["time_kind"] == "time-of-day"


def test_finisher_payload_rounds_elapsed_times_up_and_times_of_day_down() -> None:
    """Screens publish elapsed times as results are: any fraction rounds up to the next second."""
    crossing = Crossing(read("42", 33937.4), elapsed=1537.4, chip_time=1537.4, gun_time=3599.01)
    shown = finisher_payload(1, crossing, None)
    assert (shown["time"], shown["chip_time"], shown["gun_time"]) == ("25:38", "25:38", "1:00:00")
    assert shown["elapsed"] == 1537.4  # the raw value stays for ranking
    exact = finisher_payload(2, Crossing(read("42", 33937.0), elapsed=33937.37 - 32400.37), None)
    assert exact["time"] == "25:37"  # float noise of a clock subtraction is not a fraction
    tod = finisher_payload(3, Crossing(read("42", 9 * 3600 + 25 * 60 + 37.9), elapsed=None), None)
    assert tod["time"] == "9:25:37"  # a time of day is not rounded up: 09:25:37.9 is not yet :38


def test_shared_start_finish_mat_gives_chip_and_gun_time() -> None:
    """FINISH1 = START1 in the real 2021 data: first read starts the bib, the next after the minimum finishes."""
    rules = CrossingRules(locations=("mat",), start_locations=("mat",), min_time_since_start=600)
    engine = CrossingEngine(rules)
    wave1, wave2 = 8 * 3600 + 55.0, 8 * 3600 + 300 + 55.0
    table = [
        (read("guntime", wave1, location="mat", kind="gun"), "gun"),
        (read("1", wave1 + 4.0, location="mat"), "suppress: start"),
        (read("1", wave1 + 9.0, location="mat"), "suppress: too soon"),  # re-read on the start mat
        (read("guntime", wave2, location="mat", kind="gun"), "gun"),
        (read("2", wave2 + 12.0, location="mat"), "suppress: start"),
        (read("1", wave1 + 3000.0, location="mat"), "cross 49:56"),  # chip time: 3000 - 4
        (read("1", wave1 + 3005.0, location="mat"), "suppress: duplicate"),
        (read("2", wave2 + 2500.0, location="mat"), "cross 41:28"),
        (read("3", wave2 + 2600.0, location="mat"), "cross 43:20"),  # missed the start mat: gun time
        (read("4", wave2 + 30.0, location="9k"), "suppress: location 9k is not shown by this session"),
        # walked over the mat in wave 1 on the way to the wave 2 corral, then started with wave 2
        (read("6", wave1 + 60.0, location="mat"), "suppress: start"),
        (read("6", wave2 + 20.0, location="mat"), "suppress: start"),
        (read("6", wave2 + 1820.0, location="mat"), "cross 30:00"),
    ]
    assert [decide(engine, r) for r, _ in table] == [want for _, want in table]
    engine = CrossingEngine(rules)
    engine.process(read("guntime", wave1, location="mat", kind="gun"))
    engine.process(read("5", wave1 + 2.0, location="mat"))
    done = engine.process(read("5", wave1 + 1802.0, location="mat"))
    assert isinstance(done, Crossing) and done.chip_time == 1800.0 and done.gun_time == 1802.0


def test_backup_mats_and_readers_count_once() -> None:
    rules = CrossingRules.from_json(
        {
            "locations": ["FINISH"],
            "lines": [
                {"location": "FINISH1", "line": "FINISH"},
                {"location": "FINISH2", "line": "FINISH"},
                {"location": "MAT", "reader_id": "12000c", "line": "FINISH"},  # reader ids match any case
                {"location": "MAT", "reader_id": "120044", "gator": 3, "line": "ANNOUNCER"},
            ],
        }
    )
    engine = CrossingEngine(rules)
    table = [
        (read("9", 100.0, location="FINISH2", stream="backup-pc"), "cross"),
        (read("9", 100.8, location="FINISH1"), "suppress: duplicate"),  # the same runner on the main mat
        (read("9", 101.5, location="MAT", reader="12000C"), "suppress: duplicate"),
        (
            read("8", 102.0, location="MAT", reader="120044", gator=3),
            "suppress: location ANNOUNCER is not shown by this session",
        ),
        (
            read("8", 102.5, location="MAT", reader="120044", gator=2),
            "suppress: location MAT is not shown by this session",
        ),
    ]
    assert [decide(engine, r) for r, _ in table] == [want for _, want in table]


def test_parked_tags_are_suppressed_after_a_minute_without_pause() -> None:
    engine = CrossingEngine(CrossingRules(duplicate_window=30, stray_after=60, stray_gap=10))
    decisions = [decide(engine, read("1234", 500.0 + 5 * i)) for i in range(20)]  # read every 5 s for 95 s
    assert decisions[0] == "cross"
    assert decisions[6] == "cross"  # 30 s later: a new crossing as far as the window knows...
    assert all(d.startswith("suppress: stray") for d in decisions[12:])  # ...until it is clearly parked
    assert decide(engine, read("1234", 700.0)) == "cross"  # it left and came back: a real crossing


def test_wave_gun_set_by_hand_comes_from_the_roster_wave() -> None:
    rules = CrossingRules.from_json({"waves": {"A": "08:00:00", "B": "08:10:00.50"}})
    waves = {"1": "A", "2": "B"}
    engine = CrossingEngine(rules, wave_of=lambda bib: waves.get(bib, ""))
    assert decide(engine, read("1", 8 * 3600 + 1800.0)) == "cross 30:00"
    assert (
        decide(engine, read("2", 8 * 3600 + 1800.0)) == "cross 20:00"
    )  # 1199.5 s after 08:10:00.50 rounds up
    assert decide(engine, read("3", 8 * 3600 + 1800.0)) == "cross"  # no wave, no gun: time of day
