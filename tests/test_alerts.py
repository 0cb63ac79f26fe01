"""The alert board: raised once per condition, kept listed after it clears, gone when acknowledged."""

from __future__ import annotations

import pytest

from race_control.alerts import MAX_RESOLVED, AlertBoard


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def test_a_repeated_condition_is_one_alert_with_a_count() -> None:
    clock = Clock()
    board = AlertBoard(clock)
    board.raise_alert("stream_silent", "s1", "no reads for 60 s")
    clock.t += 30
    board.raise_alert("stream_silent", "s1", "no reads for 90 s", severity="critical")
    [alert] = board.alerts()
    assert (alert.id, alert.count, alert.severity) == ("stream_silent:s1", 2, "critical")
    assert alert.message == "no reads for 90 s"
    assert alert.since == 1_800_000_000.0 and alert.last_at == 1_800_000_030.0
    j = alert.to_json()
    assert j["since"] == "2027-01-15T08:00:00Z" and j["active"] is True


def test_a_cleared_alert_stays_listed_until_acknowledged() -> None:
    board = AlertBoard(Clock())
    board.raise_alert("screen_lost", "scr1", "screen 'TV 1' dropped")
    board.clear("screen_lost", "scr1")
    [alert] = board.alerts()
    assert alert.active is False  # a screen that dropped is kept listed, not vanished
    board.acknowledge(alert.id)
    assert board.alerts() == [] and board.alerts(include_acknowledged=True) == []


def test_acknowledged_active_alert_is_hidden_and_comes_back_when_raised_after_clearing() -> None:
    board = AlertBoard(Clock())
    board.raise_alert("storage_error", "store", "disk full")
    board.acknowledge("storage_error:store")
    assert board.alerts() == []
    assert board.is_active("storage_error", "store")
    board.clear("storage_error", "store")
    board.raise_alert("storage_error", "store", "disk full again")
    [alert] = board.alerts()
    assert alert.message == "disk full again" and alert.count == 1


def test_a_condition_back_before_anyone_looked_is_the_same_alert() -> None:
    board = AlertBoard(Clock())
    board.raise_alert("backlog", "ingest", "10,000 reads waiting")
    board.clear("backlog", "ingest")
    board.raise_alert("backlog", "ingest", "12,000 reads waiting")
    [alert] = board.alerts()
    assert alert.active and alert.count == 2


def test_active_alerts_come_first_and_resolved_ones_are_bounded() -> None:
    clock = Clock()
    board = AlertBoard(clock)
    for i in range(MAX_RESOLVED + 10):
        clock.t += 1
        board.raise_alert("screen_lost", f"s{i}", "dropped")
        board.clear("screen_lost", f"s{i}")
    clock.t += 1
    board.raise_alert("clock_off", "st1", "7 h ahead")
    listed = board.alerts()
    assert listed[0].id == "clock_off:st1"
    assert len(listed) == MAX_RESOLVED + 1
    assert "screen_lost:s0" not in {a.id for a in listed}  # the oldest resolved went first


def test_unknown_kind_or_severity_is_a_bug_named_at_once() -> None:
    board = AlertBoard(Clock())
    with pytest.raises(ValueError, match="kind"):
        board.raise_alert("bogus", "x", "y")
    with pytest.raises(ValueError, match="severity"):
        board.raise_alert("backlog", "x", "y", severity="fatal")


def test_listeners_hear_raise_clear_and_acknowledge_and_a_failing_one_does_not_stop_others() -> None:
    board = AlertBoard(Clock())
    heard: list[tuple[str, bool, bool]] = []

    def broken(_alert: object) -> None:
        raise RuntimeError("listener bug")

    board.listeners += [broken, lambda a: heard.append((a.id, a.active, a.acknowledged))]
    board.raise_alert("seq_conflict", "st1", "seq 5 at FINISH arrived again with other content")
    board.clear("seq_conflict", "st1")
    board.acknowledge("seq_conflict:st1")
    assert heard == [
        ("seq_conflict:st1", True, False),
        ("seq_conflict:st1", False, False),
        ("seq_conflict:st1", False, True),
    ]


def test_hold_raises_once_refreshes_the_message_and_clears_when_it_stops() -> None:
    clock = Clock()
    board = AlertBoard(clock)
    heard: list[str] = []
    board.listeners.append(lambda a: heard.append(a.message))
    board.hold("backlog", "ingest", False, "nothing")  # does not hold: nothing raised
    assert board.alerts() == [] and heard == []
    for n in (51_000, 51_000, 60_000):  # a periodic check, once a second
        clock.t += 1
        board.hold("backlog", "ingest", True, f"{n:,} reads wait")
    [alert] = board.alerts()
    assert (alert.count, alert.message, alert.since) == (1, "60,000 reads wait", 1_800_000_001.0)
    assert heard == ["51,000 reads wait", "60,000 reads wait"]  # told only when it changed
    board.hold("backlog", "ingest", False)
    assert not board.is_active("backlog", "ingest") and board.alerts()[0].message == "60,000 reads wait"
