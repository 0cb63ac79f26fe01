"""Every thread's stack, written the moment the event loop stalls (issue #13: no stall > 100 ms).

A stall of the loop means screens, the API and the timing links all wait; what caused it is
gone by the time Python code can look (a watchdog thread needs the GIL to take stacks, so it
sees what runs *after* the stall).  ``faulthandler.dump_traceback_later`` writes every
thread's stack from C, without the GIL, when it is not re-armed in time: a loop task re-arms it
every ``beat`` seconds, so a loop stuck for ``after`` seconds gets its stacks written to
``logs/stalls.log`` while it is still stuck (the GIL's holder, a long C call, a collection).
The task also sees the stall afterwards (its own beat came late) and logs a warning with the
time, so the log says when and the file says where.  After ``MAX_DUMPS`` stalls it stops
arming (a machine far too slow for the race would otherwise fill the disk with stacks).

Process-wide (faulthandler holds one such timer per process): ``serve``/``demo`` and the
desktop start it once they serve; the library (tests) does not.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import time
from pathlib import Path
from typing import IO

from race_control.private_files import private_dir, private_file

log = logging.getLogger("race_control.stalls")

AFTER_S = 0.5  # a loop this late gets its stacks written (screens notice a second or more)
BEAT_S = 0.1  # how often the loop re-arms the timer
MAX_DUMPS = 50  # stalls written per run at most


class StallWatch:
    def __init__(self, path: Path, *, after: float = AFTER_S, beat: float = BEAT_S) -> None:
        if not 0 < beat < after:
            raise ValueError("the beat must be shorter than the stall it watches for")
        self.path = Path(path)
        self.after, self.beat = after, beat
        self.stalls = 0  # stalls seen since start (each one's stacks are in the file)
        self._file: IO[str] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> bool:
        """Watch from now on; False (and a warning) when its file cannot be opened: a
        diagnostic never keeps the app from serving."""
        try:
            private_dir(self.path.parent)
            private_file(self.path)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            log.warning("stall watch off: cannot open %s (%s)", self.path, exc)
            return False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="stall-watch")
        return True

    async def _run(self) -> None:
        try:
            await self._watch()
        finally:  # cancelled, or its loop gone: no timer left to write to a file closed later
            faulthandler.cancel_dump_traceback_later()

    async def _watch(self) -> None:
        assert self._file is not None
        while self.stalls < MAX_DUMPS:
            faulthandler.dump_traceback_later(self.after, file=self._file)
            began = time.monotonic()
            await asyncio.sleep(self.beat)
            took = time.monotonic() - began
            if took >= self.after:  # the timer fired meanwhile: the stacks are in the file
                self.stalls += 1
                when = time.strftime("%Y-%m-%d %H:%M:%S")
                self._file.write(f"-- the stall above: {when}, the loop stuck about {took * 1000:.0f} ms\n\n")
                self._file.flush()
                log.warning(
                    "the event loop stalled about %.0f ms (screens, the API and the timing links "
                    "waited); every thread's stack at the time is in %s",
                    took * 1000,
                    self.path,
                )
        log.warning(
            "stall watch: %d stalls written to %s; not watching any more this run", self.stalls, self.path
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None  # its ``finally`` disarmed the timer
        if self._file is not None:
            self._file.close()
            self._file = None
