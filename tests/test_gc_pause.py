"""``roster.gc_pause.bulk_gc``: fewer collections during a bulk roster action, thresholds back after."""

from __future__ import annotations

import gc
import threading

import pytest

from race_control.roster.gc_pause import BULK_THRESHOLD0, bulk_gc


@pytest.fixture(autouse=True)
def _thresholds():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_raises_the_first_threshold_inside_and_restores_all_three():
    gc.set_threshold(700, 11, 12)
    with bulk_gc():
        assert gc.get_threshold() == (BULK_THRESHOLD0, 11, 12)
        assert gc.isenabled()  # never switched off: cycles are still collected
    assert gc.get_threshold() == (700, 11, 12)


def test_nested_and_concurrent_actions_restore_after_the_last_one():
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with bulk_gc():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=other)
    with bulk_gc():
        t.start()
        assert inside.wait(5)
        with bulk_gc():
            pass
        assert gc.get_threshold()[0] == BULK_THRESHOLD0  # the inner exit did not restore
    assert gc.get_threshold()[0] == BULK_THRESHOLD0  # the other thread's action still runs
    release.set()
    t.join(5)
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_when_the_action_raises():
    with pytest.raises(RuntimeError), bulk_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_collection_switched_off_stays_off():
    gc.set_threshold(0, 10, 10)
    with bulk_gc():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == (0, 10, 10)


def test_a_higher_threshold_is_kept():
    gc.set_threshold(BULK_THRESHOLD0 * 2, 10, 10)
    with bulk_gc():
        assert gc.get_threshold()[0] == BULK_THRESHOLD0 * 2


def test_a_higher_threshold_for_one_action_and_the_lower_one_nested_keeps_it():
    from race_control.roster.gc_pause import FILE_IMPORT_THRESHOLD0

    gc.set_threshold(700, 11, 12)
    with bulk_gc(FILE_IMPORT_THRESHOLD0):
        assert gc.get_threshold() == (FILE_IMPORT_THRESHOLD0, 11, 12)
        with bulk_gc():  # a sync while the file imports: the file's threshold stays
            assert gc.get_threshold()[0] == FILE_IMPORT_THRESHOLD0
        assert gc.get_threshold()[0] == FILE_IMPORT_THRESHOLD0
    assert gc.get_threshold() == (700, 11, 12)
    with bulk_gc(), bulk_gc(FILE_IMPORT_THRESHOLD0):  # and a file import inside a sync raises it
        assert gc.get_threshold()[0] == FILE_IMPORT_THRESHOLD0
    assert gc.get_threshold() == (700, 11, 12)
