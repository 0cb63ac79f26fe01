"""`race-control serve` keeps its start-up heap out of garbage collection (race_control/heap.py)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers.server_process import start_serve


def test_freeze_startup_heap_collects_then_freezes_what_survived() -> None:
    # in a child: freezing is process-wide, and this test process must not keep its heap frozen
    code = (
        "import gc\n"
        "from race_control.heap import freeze_startup_heap\n"
        "junk = []; junk.append(junk); del junk\n"  # a cycle: collected, not frozen
        "n = freeze_startup_heap()\n"
        "assert n == gc.get_freeze_count() > 5_000, n\n"
        "assert gc.collect() == 0\n"  # nothing left to walk from before
        "print(n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert int(out.stdout) > 5_000


def test_after_the_start_up_each_full_collections_survivors_are_frozen_too() -> None:
    # in a child: freezing is process-wide.  The race's state grows all day; a full collection
    # that walked it every time held the loop 50-80 ms with 20 sessions (issue #13)
    code = (
        "import gc\n"
        "from race_control.heap import freeze_startup_heap\n"
        "freeze_startup_heap()\n"
        "frozen = gc.get_freeze_count()\n"
        "race = [{'bib': str(i), 'payload': {'n': i}} for i in range(20_000)]\n"  # lives on
        "junk = []; junk.append(junk); del junk\n"  # cyclic garbage: collected, not frozen
        "found = gc.collect(2)\n"
        "grew = gc.get_freeze_count() - frozen\n"
        "assert found >= 1, found\n"
        "assert grew >= 20_000, grew\n"  # the race's dicts (a dict of ints is not tracked)
        "young = [[i] for i in range(1000)]\n"
        "gc.collect(1)\n"  # a young collection freezes nothing: its survivors age as usual
        "assert gc.get_freeze_count() - frozen == grew\n"
        "print(grew)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert int(out.stdout) >= 20_000


def test_serve_freezes_its_startup_heap(tmp_path: Path) -> None:
    async def main() -> str:
        proc = await start_serve(tmp_path / "data")
        try:
            log = tmp_path / "data" / "logs" / "race-control.log"
            for _ in range(200):
                if log.exists() and "start-up heap" in log.read_text():
                    break
                await asyncio.sleep(0.05)
            return log.read_text()
        finally:
            proc.terminate()
            await proc.communicate()

    text = asyncio.run(main())
    found = re.search(
        r"start-up heap: (\d+) objects kept out of collection \(\d+ ms; (\d+) collections before it", text
    )
    assert found and int(found.group(1)) > 20_000, text[-2000:]
    # the imports and the start-up walked the growing heap not once (pause_collections)
    assert int(found.group(2)) == 0, text[-2000:]


def test_full_collections_wait_while_a_heavy_action_runs_young_ones_do_not() -> None:
    # in a child: the thresholds are process-wide
    code = (
        "import gc\n"
        "from race_control.heap import full_collections_deferred\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: seen.append(info['generation']) if phase == 'stop' else None)\n"
        "gc.set_threshold(50, 2, 2)\n"
        "gc.collect()\n"  # nothing due yet when the action starts (imports leave counts behind)
        "seen.clear()\n"
        "with full_collections_deferred():\n"
        "    with full_collections_deferred():\n"  # nested: the rebuild inside an import, say
        "        keep = [[i] for i in range(100_000)]\n"  # survivors: full collections due
        "    assert gc.get_threshold()[2] > 2\n"  # the outer one still defers
        "    more = [[i] for i in range(100_000)]\n"
        "assert 0 in seen and 1 in seen and 2 not in seen, sorted(set(seen))\n"
        "assert gc.get_threshold() == (50, 2, 2), gc.get_threshold()\n"
        "seen.clear()\n"
        "after = [[i] for i in range(100_000)]\n"
        "assert 2 in seen, sorted(set(seen))\n"  # due again once the actions ended
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


async def test_release_in_slices_empties_each_in_place_and_lets_the_loop_run_between() -> None:
    from race_control.heap import RELEASE_STEP, release_in_slices

    rows, keys, index = (
        [object() for _ in range(20 * RELEASE_STEP)],
        set(range(3000)),
        dict.fromkeys(range(3000)),
    )
    kept = rows  # the same list object: emptied in place, not replaced
    turns = 0

    async def other() -> None:
        nonlocal turns
        while rows or keys or index:
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.ensure_future(other())
    await release_in_slices([rows, keys, index], slice_s=0.0)  # one step a slice
    await ticker
    assert kept is rows and rows == [] and keys == set() and index == {}
    assert turns >= 20  # the loop ran between the slices
