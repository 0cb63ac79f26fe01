"""Row ids: time-ordered UUIDs (v7 layout), one at a time or many at once."""

from __future__ import annotations

import time
import uuid

import pytest

from race_control.ids import new_id, new_ids


def _ms(text: str) -> int:
    return uuid.UUID(text).int >> 80


def test_new_ids_are_distinct_v7_uuids_stamped_now() -> None:
    before = time.time_ns() // 1_000_000
    ids = new_ids(20_000)
    after = time.time_ns() // 1_000_000
    assert len(ids) == 20_000 and len(set(ids)) == 20_000
    for text in ids[:50] + ids[-50:]:
        u = uuid.UUID(text)
        assert str(u) == text  # canonical text: lower-case hex, dashes where a UUID has them
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert before <= _ms(text) <= after
    assert new_ids(0) == []


def test_ids_sort_by_creation_across_milliseconds() -> None:
    first = new_id()
    time.sleep(0.003)
    batch = new_ids(3)
    time.sleep(0.003)
    last = new_id()
    assert first < min(batch) and max(batch) < last
    assert uuid.UUID(first).version == uuid.UUID(last).version == 7


def test_the_random_part_differs_between_ids_of_one_millisecond() -> None:
    ids = new_ids(1_000)
    assert len({_ms(t) for t in ids}) == 1  # one read of the clock for the batch
    assert len({uuid.UUID(t).int & ((1 << 62) - 1) for t in ids}) == 1_000


def test_a_batch_is_the_ids_new_id_makes_of_the_same_random_bytes_and_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from race_control import ids

    pool = bytes(range(256)) * 40  # every byte value in every position of an id's 10
    monkeypatch.setattr(ids.os, "urandom", lambda n: pool[:n])
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_764_620_000_123_456_789)
    head = ids._head()
    want = [ids._uuid7(head, int.from_bytes(pool[i : i + 10], "big")) for i in range(0, 10_000, 10)]
    assert new_ids(1_000) == sorted(want)  # the same ids, in ascending order


def test_a_batch_comes_in_ascending_order() -> None:
    # rows written in id order add to the end of the indexes on their ids (docs/providers.md#load)
    batch = new_ids(5_000)
    assert batch == sorted(batch) and len(set(batch)) == 5_000
