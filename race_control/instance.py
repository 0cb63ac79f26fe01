"""One Race Control per data dir: an OS file lock on ``DIR/.lock``, held for the instance's life.

A second instance on the same data dir (a second double-click, a ``serve`` started beside the
desktop app) would run migrations on the live database, delete the first one's ``server.json``
and hand out display sequence numbers twice.  So ``RaceControl.start`` takes this lock before
anything touches the data dir's store (migrations, ``api-token``, ``server.json``), and a second
one fails with ``DataDirInUse``, naming the running one from its ``server.json`` (pid, URL).

The lock is the operating system's (``flock`` on Unix, ``LockFileEx`` on Windows, through the
``filelock`` library), so it goes away with the process: a crashed or killed instance never
leaves a stale lock behind, unlike a pid file.  The ``.lock`` file may stay; it means nothing
unless a live process holds its lock.

Commands that work beside a running instance (``backup``, which reads through SQLite's own
locking) do not take the lock; commands that must not (``restore``) call ``held_by`` /
``is_locked``, or better hold ``InstanceLock`` themselves for as long as they work, so no
instance starts half-way through.

Threading: plain blocking calls that return at once (the lock is never waited for); call them
from start-up code, not from a busy loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from race_control.errors import RaceControlError

LOCK_FILE = ".lock"
SERVER_JSON = "server.json"


@dataclass(frozen=True)
class RunningInstance:
    """What is known about the instance that holds a data dir's lock (from its ``server.json``;
    both ``None`` while it is starting up and has not written one yet)."""

    pid: int | None = None
    url: str | None = None

    def describe(self) -> str:
        if self.pid is None and not self.url:
            return "starting up, or a restore in progress: no server.json yet"
        parts = []
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        if self.url:
            parts.append(self.url)
        return ", ".join(parts)


class DataDirInUse(RaceControlError):
    """Another Race Control holds this data dir's lock.  Not retryable by us: the operator
    stops the other one, or starts this one with another data dir."""

    retryable = False

    def __init__(self, data_dir: Path, running: RunningInstance) -> None:
        self.data_dir = data_dir
        self.running = running
        super().__init__(
            f"the data dir {data_dir} is in use by another Race Control ({running.describe()}). "
            "Stop that one first, or start this one with another --data-dir."
        )


def read_server_json(data_dir: Path) -> RunningInstance:
    """The pid and URL in ``DIR/server.json``; empty if it is missing or unreadable
    (it is written by the running instance once it listens)."""
    try:
        info = json.loads((data_dir / SERVER_JSON).read_text("utf-8"))
    except (OSError, ValueError):
        return RunningInstance()
    if not isinstance(info, dict):
        return RunningInstance()
    pid = info.get("pid")
    url = info.get("http_url")
    return RunningInstance(
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        url=url if isinstance(url, str) and url else None,
    )


class InstanceLock:
    """The data dir's lock, taken without waiting.  ``acquire`` raises ``DataDirInUse``;
    ``release`` is safe to call when not held.  Also a context manager."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_FILE
        # thread_local=False: taken on the start-up thread, released wherever shutdown runs
        self._lock = FileLock(self.path, timeout=0, mode=0o600, thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> None:
        if self._lock.is_locked:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise DataDirInUse(self.data_dir, read_server_json(self.data_dir)) from None

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.release()


def held_by(data_dir: Path) -> RunningInstance | None:
    """The instance holding ``data_dir``'s lock, or ``None`` if no process holds it (also when
    the dir or its lock file does not exist: nothing is created then).  A snapshot: an instance
    may start right after; to keep it out, hold ``InstanceLock`` instead."""
    data_dir = Path(data_dir)
    if not (data_dir / LOCK_FILE).exists():
        return None
    probe = InstanceLock(data_dir)
    try:
        probe.acquire()
    except DataDirInUse as exc:
        return exc.running
    probe.release()
    return None


def is_locked(data_dir: Path) -> bool:
    """True while a process (this one included) holds ``data_dir``'s lock."""
    return held_by(data_dir) is not None
