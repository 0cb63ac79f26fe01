"""Whether the database was last closed cleanly by the app, so start-up need not read every page.

``check_database`` runs ``PRAGMA quick_check`` at start-up: it reads the whole file (seconds for
a big race: 7 s for the 1.2 GB of 250,000 reads x 20 sessions on a loaded 2-core machine), so
start-up would grow with the race.  Damage comes from a crash or a power cut while writing, a
failing disk or someone else's tool, so the check is skipped only after the app itself stopped
cleanly: ``mark_closed`` (the last thing a clean stop does, the store closed, the WAL folded
in) records the file's identity (inode, size, modification time); ``closed_cleanly`` (start-up)
consumes the mark — so a crash of this run means a full check at the next start — and says
whether the file is still exactly the file the app closed.  Anything else (no mark, a WAL left
behind, the file replaced, restored, touched or grown) gets the full check.

A clean stop may also keep, in the same record, what start-up would otherwise derive from the
stored rows (``kept``: the timing streams' seq trackers, ``timing.ingest.streams_kept``);
``closed_cleanly`` hands it back only together with a yes, so it is used only for the very file
it was derived from (anything else: the caller derives it again, as after a crash).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from race_control.private_files import write_private_text

log = logging.getLogger(__name__)


def _mark_of(db: Path) -> Path:
    return db.with_name(db.name + ".closed")


def _identity(db: Path) -> dict[str, int] | None:
    try:
        st = db.stat()
    except OSError:
        return None
    return {"inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass(frozen=True)
class CleanClose:
    """The app closed the file cleanly and it is unchanged since (``closed_cleanly``)."""

    kept: bytes | None = None  # what the stop kept with the record (``mark_closed``), if anything


def mark_closed(db: Path, kept: bytes | None = None) -> None:
    """Record that the app closed ``db`` cleanly (after the store is closed), with ``kept``."""
    wal = db.with_name(db.name + "-wal")
    identity = _identity(db)
    if identity is None or (wal.exists() and wal.stat().st_size > 0):
        return  # something still to fold in: the next start checks the whole file
    record: dict[str, object] = dict(identity)
    if kept is not None:
        record["kept"] = base64.b64encode(kept).decode("ascii")
    try:
        write_private_text(_mark_of(db), json.dumps(record))
    except OSError as exc:  # a full disk: the next start just checks the whole file
        log.warning("could not record the clean close of %s: %s", db, exc)


def closed_cleanly(db: Path) -> CleanClose | None:
    """A ``CleanClose`` if the app's last clean close of ``db`` is recorded and the file is
    unchanged since, else None.  Consumes the record either way (this run's crash must not
    leave it behind)."""
    mark = _mark_of(db)
    try:
        recorded = json.loads(mark.read_text())
    except (OSError, ValueError):
        recorded = None
    try:
        os.unlink(mark)
    except FileNotFoundError:
        pass
    wal = db.with_name(db.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return None
    if not isinstance(recorded, dict):
        return None
    kept = recorded.pop("kept", None)
    if recorded != _identity(db):
        return None
    try:
        return CleanClose(base64.b64decode(kept, validate=True) if isinstance(kept, str) else None)
    except (binascii.Error, ValueError):
        log.warning("what the clean close of %s kept is unreadable: derived again", db)
        return CleanClose()
