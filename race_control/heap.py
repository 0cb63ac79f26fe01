"""The start-up heap kept out of garbage collection (issue #13: GC off the hot path).

CPython's cyclic garbage collector walks every tracked object of a generation when it collects
it; the oldest generation holds everything that survived: the modules, the app's services, the
rosters and the sessions' state loaded at start-up (hundreds of thousands of objects in a big
race).  A full collection walks all of them, holding the GIL — a pause of the event loop and
of the read → screen path.  ``freeze_startup_heap()``, once the app serves, collects once and
moves what is left into the permanent generation (``gc.freeze``): later collections walk only
what was made since; and so on after each full collection (``_freeze_after_full``), so none walks
the race's growing state again.  Objects of that generation are still freed by reference counting as
usual; only a reference cycle among them would stay (start-up leaves none worth collecting:
it was just collected).  The CLI's ``serve``/``demo`` and the desktop call it; the library
(``RaceControl``, tests) does not, so a test process never freezes its tests' leftovers.

Until then nothing needs collecting at all: the imports and the start-up make objects that live
for the whole run (modules, classes, rosters, sessions' state), so every collection during them
walks a growing heap and frees next to nothing — about 0.4 s of CPU of a restart at 250,000
reads x 20 sessions (issue #13).  ``serve`` calls ``pause_collections()`` before its imports;
``freeze_startup_heap`` then collects once (what the start-up left as cyclic garbage is freed
there, as before), freezes, and switches collection back on.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("race_control.heap")


def pause_collections() -> None:
    """No cyclic collection until ``freeze_startup_heap`` (or ``resume_collections``): for the
    imports and the start-up of a process that will freeze its heap."""
    global _paused_at
    gc.disable()
    _paused_at = _collections()


def _collections() -> int:
    return sum(g["collections"] for g in gc.get_stats())


def resume_collections() -> None:
    """Collection on again (a start-up that failed before ``freeze_startup_heap``)."""
    gc.enable()


def freeze_startup_heap() -> int:
    """Collect, then freeze what survived, then collect as usual again (also after
    ``pause_collections``); the number of objects now frozen."""
    global _startup_frozen
    t0 = time.perf_counter()
    before = _collections() - _paused_at  # since pause_collections (0), else since the start
    gc.collect()
    gc.freeze()
    gc.enable()
    _startup_frozen = True
    if _freeze_after_full not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full)
    frozen = gc.get_freeze_count()
    log.info(
        "start-up heap: %d objects kept out of collection (%.0f ms; %d collections before it)",
        frozen,
        (time.perf_counter() - t0) * 1000,
        before,
    )
    return frozen


def _freeze_after_full(phase: str, info: dict[str, Any]) -> None:
    """After each full collection of a process that froze its start-up heap, freeze what
    survived it too (issue #13): the race's own state (every session's finishers, rankings,
    payloads) grows all day, and each full collection walked all of it — 50-80 ms of the loop
    every second with 20 sessions at full speed, freeing nothing.  Frozen right after being
    collected, the survivors are all reachable; later full collections walk only what was made
    since.  The cost is the start-up heap's: a reference cycle that becomes garbage after its
    objects were frozen is never collected (reference counting frees everything else)."""
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


DEFERRED = 1_000_000  # gen-1 collections before a full one, while ``full_collections_deferred``
_defer_lock = threading.Lock()
_deferring = 0
_thresholds: tuple[int, int, int] | None = None
_paused_at = 0  # collections made before pause_collections
_startup_frozen = False  # freeze_startup_heap ran: this process keeps its heap frozen (not tests)


@contextmanager
def full_collections_deferred() -> Iterator[None]:
    """No full (oldest-generation) collection while a heavy action runs in slices (issue #13):
    a rebuild of a million reads or a million-row import makes objects faster than anything
    else, and each time the survivors have grown by a quarter CPython walks all of them in one
    full collection holding the GIL — pauses of 0.3-1.5 s of the loop at that size.  Young
    collections go on as usual (cyclic garbage of the requests served meanwhile is still
    freed).  When the last deferring action ends, a young collection, then ``gc.freeze`` of
    what survived (as at start-up: the action's state, and its transient objects until their
    reference counts free them) instead of the full collection the thresholds would start at
    once (only in a process that froze its start-up heap: ``serve``, the desktop; a test process
    just gets its thresholds back).  What it costs: a reference cycle that became garbage after reaching the oldest
    generation during the action is kept (nothing of ours makes such cycles in bulk).
    Thread-safe and nestable (the rebuild runs on the loop, the file is read in an executor)."""
    global _deferring, _thresholds
    with _defer_lock:
        if _deferring == 0:
            _thresholds = gc.get_threshold()
            t0, t1, _t2 = _thresholds
            gc.set_threshold(t0, t1, DEFERRED)  # only the oldest: roster.gc_pause sets the first
        _deferring += 1
    try:
        yield
    finally:
        with _defer_lock:
            _deferring -= 1
            if _deferring == 0 and _thresholds is not None:
                if _startup_frozen:
                    gc.collect(1)
                    gc.freeze()
                t0, t1, _t2 = gc.get_threshold()
                gc.set_threshold(t0, t1, _thresholds[2])
                _thresholds = None


RELEASE_STEP = 500  # items freed between two looks at the clock (``release_in_slices``)
RELEASE_SLICE_S = 0.008  # seconds of loop time a slice of freeing takes (a rebuild's slice)


async def release_in_slices(
    heaps: list[list[Any] | set[Any] | dict[Any, Any]], slice_s: float = RELEASE_SLICE_S
) -> None:
    """Empty each list, set or dict in place from its end, ``slice_s`` of loop time at a time: a
    rebuild's million rows, or a roster file's 50,000 entrants and plan, freed by reference
    counting in slices rather than all at once when the last frame holding them ends (a
    million dicts freed at once held the loop 3.7 s; an import's answer waited on its frees).
    Only for what nothing reads any more."""
    for heap in heaps:
        while heap:
            deadline = time.perf_counter() + slice_s
            while True:  # at least one step a slice
                if isinstance(heap, list):
                    del heap[-RELEASE_STEP:]
                else:
                    pop = heap.popitem if isinstance(heap, dict) else heap.pop
                    for _ in range(min(RELEASE_STEP, len(heap))):
                        pop()
                if not heap or time.perf_counter() >= deadline:
                    break
            await asyncio.sleep(0)
