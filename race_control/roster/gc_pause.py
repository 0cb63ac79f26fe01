"""Fewer garbage collections while a large roster is read, planned and written.

A 50,000-runner import or re-sync allocates millions of small objects (rows, dicts, entrants)
that live until the plan is applied.  With CPython's default thresholds (700, 10, 10) that
triggers dozens of collections, the full ones walking the whole heap — about a second of a
re-sync (docs/providers.md#load).  ``bulk_gc()`` raises the youngest generation's threshold
for the duration of such an action and restores the thresholds it found when the last action
in flight ends (nested and concurrent actions — the loop's and the executor's threads — count).
Collection is never switched off: cycles made meanwhile are still collected, only less often,
so memory stays bounded.  A roster file's import asks for a higher threshold
(``FILE_IMPORT_THRESHOLD0``) for the few seconds it runs.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLD0 = 100_000  # net allocations between young collections while a bulk action runs
# a roster file's import: its ~10 tracked objects a row (entrants, rows, links, change records)
# live until it is applied, so every young collection in it finds nothing to free; at 100,000 a
# 50,000-row import still spent ~0.4 s in 6-7 of them (docs/providers.md#load), at this none
FILE_IMPORT_THRESHOLD0 = 1_000_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def bulk_gc(threshold0: int = BULK_THRESHOLD0) -> Iterator[None]:
    """Raise gc's first threshold to ``threshold0`` inside (an action in flight with a higher
    one keeps that); all three restored after the last exit."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
        t0, t1, t2 = gc.get_threshold()
        if t0:  # 0: the application switched collection off; leave it so
            gc.set_threshold(max(t0, threshold0), t1, t2)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
