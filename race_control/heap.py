"""The start-up heap kept out of garbage collection (issue #13: GC off the hot path).

CPython's cyclic garbage collector walks every tracked object of a generation when it collects
it; the oldest generation holds everything that survived: the modules, the app's services, the
rosters and the sessions' state loaded at start-up (hundreds of thousands of objects in a big
race).  A full collection walks all of them, holding the GIL — a pause of the event loop and
of the read → screen path.  ``freeze_startup_heap()``, once the app serves, collects once and
moves what is left into the permanent generation (``gc.freeze``): later collections walk only
what was made since.  Objects of that generation are still freed by reference counting as
usual; only a reference cycle among them would stay (start-up leaves none worth collecting:
it was just collected).  The CLI's ``serve``/``demo`` and the desktop call it; the library
(``RaceControl``, tests) does not, so a test process never freezes its tests' leftovers.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("race_control.heap")


def freeze_startup_heap() -> int:
    """Collect, then freeze what survived; the number of objects now frozen."""
    t0 = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info(
        "start-up heap: %d objects kept out of collection (%.0f ms)",
        frozen,
        (time.perf_counter() - t0) * 1000,
    )
    return frozen
