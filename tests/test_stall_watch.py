"""The stall watch writes every thread's stack while the event loop is stuck, says when in the
log, keeps quiet while the loop runs, and stops after ``MAX_DUMPS`` stalls.

In a child process: ``faulthandler``'s timer is one per process (pytest's own plugin uses it)."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, sys, time
    from pathlib import Path
    from race_control import stall_watch

    warnings = []
    class Keep(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())
    logging.getLogger("race_control.stalls").addHandler(Keep())
    stall_watch.MAX_DUMPS = int(sys.argv[3])

    def hold_the_loop(seconds):
        time.sleep(seconds)  # a long call on the loop's thread: nothing else runs meanwhile

    async def main():
        watch = stall_watch.StallWatch(Path(sys.argv[1]), after=0.3, beat=0.05)
        watch.start()
        await asyncio.sleep(0.5)  # a loop that runs: nothing written
        if sys.argv[4] == "cancel":  # its task cancelled (a loop shutting down), not stopped
            watch._task.cancel()
            await asyncio.gather(watch._task, return_exceptions=True)
        for _ in range(int(sys.argv[2])):
            hold_the_loop(0.8)
            await asyncio.sleep(0.2)
        stalls = watch.stalls
        await watch.stop()
        print(json.dumps({"stalls": stalls, "warnings": warnings}))

    asyncio.run(main())
    """
)


def watch(tmp_path: Path, stalls: int, max_dumps: int = 50, how: str = "") -> tuple[dict[str, object], str]:
    path = tmp_path / "logs" / "stalls.log"  # the folder is made by the watch
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), str(stalls), str(max_dumps), how or "-"],
        capture_output=True, text=True, timeout=60, env=env, check=True,
    )  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it names participants' data paths: private
    return json.loads(out.stdout.splitlines()[-1]), path.read_text("utf-8")


def test_a_stalled_loop_gets_every_threads_stack_written_while_it_is_stuck(tmp_path: Path) -> None:
    got, text = watch(tmp_path, stalls=1)
    assert got["stalls"] == 1
    assert text.count("Timeout (0:00:00.300000)!") == 1
    assert "in hold_the_loop" in text  # where the loop was while stuck, not what ran after
    assert "-- the stall above: " in text
    (warning,) = got["warnings"]  # type: ignore[misc]
    assert "the event loop stalled about" in warning and "stalls.log" in warning


def test_a_running_loop_writes_nothing(tmp_path: Path) -> None:
    got, text = watch(tmp_path, stalls=0)
    assert got == {"stalls": 0, "warnings": []}
    assert text == ""


def test_it_stops_watching_after_max_dumps_stalls(tmp_path: Path) -> None:
    got, text = watch(tmp_path, stalls=3, max_dumps=2)
    assert got["stalls"] == 2
    assert text.count("Timeout (") == 2  # the third stall is not written
    assert any("not watching any more" in w for w in got["warnings"])  # type: ignore[attr-defined]


def test_a_cancelled_watch_leaves_no_timer_behind(tmp_path: Path) -> None:
    """Its task cancelled without ``stop`` (a loop shutting down): the C timer is disarmed too,
    so it never writes to a file (or a reused descriptor) later."""
    got, text = watch(tmp_path, stalls=1, how="cancel")
    assert got["stalls"] == 0
    assert "Timeout" not in text


async def test_a_file_it_cannot_open_turns_it_off_with_a_warning_and_never_stops_the_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from race_control.stall_watch import StallWatch

    (tmp_path / "logs").write_text("a file where the folder should be")
    watch = StallWatch(tmp_path / "logs" / "stalls.log")
    with caplog.at_level(logging.WARNING, "race_control.stalls"):
        assert watch.start() is False
    assert "stall watch off: cannot open" in caplog.text
    await watch.stop()  # nothing to stop: fine
