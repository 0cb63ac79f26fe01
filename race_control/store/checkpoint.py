"""WAL checkpoints off the hot path: a thread of the store's own, with a connection of its own.

In WAL mode every commit appends its pages to the ``-wal`` file; a *checkpoint* copies them
into the database file and syncs it.  By default SQLite runs one inside the commit that takes
the WAL past 1,000 pages, on the connection that made it: the store's one DB thread, between a
read arriving and its finisher reaching the screens (with ``synchronous=FULL`` that checkpoint
syncs the database file too, a few to tens of milliseconds).  The app's connections switch
that off (``PRAGMA wal_autocheckpoint=0``, ``Store.start_checkpoints``) and this thread does
it instead:

* every ``interval`` seconds it runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own
  connection.  PASSIVE never waits for the writer or the readers (SQLite runs a checkpoint
  beside a writer: the writer keeps appending, the checkpoint copies what was committed before
  it began), so a commit never waits for it; the first commit after a checkpoint that caught up
  starts the WAL over from its beginning (and ``journal_size_limit`` trims the file);
* the WAL starts over only when a write transaction *begins* with every frame copied; a writer
  that commits back to back always begins a moment too early, so a PASSIVE checkpoint alone
  lets the WAL grow without end.  When the WAL holds more than ``restart_frames`` frames, the
  thread runs a RESTART checkpoint: it waits for the commit in progress, holds the next one
  back while it copies what is left (little: a PASSIVE one just ran) and makes the next writer
  start the WAL over — the one time a commit waits, every ~32 MiB of writes;
* the work is in SQLite's C code, which releases the GIL: the loop and the DB thread go on;
* ``close()`` stops the thread and runs a last ``TRUNCATE`` checkpoint (nothing writes any
  more): the app leaves a database file that holds everything and an empty WAL.

A checkpoint that fails (disk full, I/O error) is logged and tried again next time: the WAL
keeps every committed page until a checkpoint succeeds, so nothing is lost, only the file grows.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("race_control.store.checkpoint")

INTERVAL = 0.5  # seconds between checkpoints (one with nothing to copy costs next to nothing)
RESTART_FRAMES = 8_000  # WAL frames (~32 MiB of 4 KiB pages) past which the WAL is made to restart


class Checkpointer:
    def __init__(
        self, path: Path, *, interval: float = INTERVAL, restart_frames: int = RESTART_FRAMES
    ) -> None:
        self.path = path
        self.interval = interval
        self.restart_frames = restart_frames
        self.checkpoints = 0  # checkpoints run (tests and metrics)
        self.restarts = 0  # of them RESTART ones (a writer never paused long enough)
        self.failures = 0
        self._wal = path.with_name(path.name + "-wal")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="race-control-checkpoint", daemon=True)
        self._conn: sqlite3.Connection | None = None

    def start(self) -> None:
        # an existing file only (mode=rw): the checkpointer never creates a database
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # (it commits nothing, but say so)
        self._conn = conn
        self._thread.start()

    def _wal_bytes(self) -> int:
        try:
            return self._wal.stat().st_size
        except FileNotFoundError:
            return 0

    def run_once(self, mode: str = "PASSIVE") -> tuple[int, int, int] | None:
        """One checkpoint now: SQLite's (busy, WAL frames, frames checkpointed), or None if it failed."""
        assert self._conn is not None, "start() first"
        try:
            # fetchall: the statement ends here (a statement left open holds a read lock, and a
            # WAL with a reader on it cannot start over)
            ((busy, frames, done),) = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
        except sqlite3.Error as exc:
            self.failures += 1
            log.warning("WAL checkpoint of %s failed (tried again later): %s", self.path.name, exc)
            return None
        self.checkpoints += 1
        return int(busy), int(frames), int(done)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            got = self.run_once()
            if got is not None and got[1] > self.restart_frames:
                self.restarts += 1
                self.run_once("RESTART")

    def close(self) -> None:
        """Stop the thread; then (nothing writes any more) a last TRUNCATE checkpoint."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self._conn is not None:
            if self._wal_bytes():
                self.run_once("TRUNCATE")
            self._conn.close()
            self._conn = None
