"""Backups of a data dir: one file with a consistent snapshot of the store, and its restore.

A backup is a zip file:

- ``race-control.sqlite3``: the database, copied with SQLite's online backup API from a
  connection of its own that holds one read transaction for the whole copy.  In WAL mode a
  reader never blocks the writer, so a backup runs while Race Control ingests reads, and the
  copy is the database as it was at one instant (every group commit wholly in or wholly out).
  Holding the read transaction also keeps SQLite from restarting a stepwise copy each time
  another connection writes (https://www.sqlite.org/backup.html), which under a steady stream
  of reads could never finish.  Templates, and the images inside them (data: URLs), are rows
  of this database.
- ``settings.json`` (if the data dir has one) and any ``images/`` or ``templates/`` folder of
  the data dir (none today: kept for image files that live beside the database later).
- ``manifest.json``: format, app version, schema revision (Alembic head of the snapshot),
  created_at, counts (events, sessions, reads, finishers, ...) and a sha256 of every member.

Not in a backup: the API token (a secret; the restored data dir keeps or creates its own),
``server.json``, logs, older backups.

Restore validates everything first (manifest, checksums, ``PRAGMA integrity_check``, a
schema revision this app knows), then keeps the replaced database (with its -wal/-shm) aside
as ``race-control.sqlite3.replaced-<time>`` and moves the backup's in.  It refuses while an
instance runs on the data dir.  A restored database older than this app is upgraded by the
next start's migrations.

Threading: everything here is synchronous and Qt-free and may take seconds on a large store;
callers on the event loop run it in an executor.  Every file is written to a temporary name
next to its target (mode 0600) and renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from race_control import __version__
from race_control.config import SETTINGS_FILE, Settings
from race_control.store.database import StoreError

FORMAT = "race-control-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = Settings(data_dir=Path(".")).database_path.name  # race-control.sqlite3
FILE_DIRS = ("images", "templates")  # data-dir folders copied whole when they exist
BACKUP_DIR = "backups"  # automatic backups: DIR/backups/race-control-<time>.zip
AUTO_PREFIX = "race-control-"
AUTO_SUFFIX = ".zip"
PAGES_PER_STEP = 1024  # database pages copied per backup step (the GIL is released between)
COUNTED = {  # manifest counts: name -> SQL over the snapshot (tables that exist)
    "events": "SELECT count(*) FROM events",
    "participants": "SELECT count(*) FROM participants",
    "sessions": "SELECT count(*) FROM display_sessions",
    "streams": "SELECT count(*) FROM timing_streams",
    "reads": "SELECT count(*) FROM reads",
    "display_events": "SELECT count(*) FROM display_events",
    "finishers": "SELECT count(*) FROM display_events WHERE kind = 'finisher'",
    "templates": "SELECT count(*) FROM templates",
}
_CHUNK = 1 << 20


class BackupError(StoreError):
    """A backup cannot be made or restored; the message names the file and what is wrong.

    Not retryable: a damaged file, a newer schema or a running instance stays so."""

    retryable = False


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    database: Path
    kept_aside: list[Path] = field(default_factory=list)  # the replaced files, renamed
    restored: list[Path] = field(default_factory=list)


# --- schema revisions ---------------------------------------------------------------------------
def known_revisions() -> list[str]:
    """This app's Alembic revisions, oldest first."""
    from alembic.script import ScriptDirectory

    from race_control.store.database import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _revision(conn: sqlite3.Connection) -> str:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return ""
    return str(row[0]) if row else ""


# --- making a backup ----------------------------------------------------------------------------
def create_backup(data_dir: Path, dest: Path, *, pages_per_step: int = PAGES_PER_STEP) -> dict[str, Any]:
    """Write a backup of ``data_dir`` to ``dest`` (atomically) and return its manifest.

    Works while Race Control runs on ``data_dir`` (and writes).  BackupError if there is no
    database, it cannot be read, or ``dest`` cannot be written."""
    manifest = _write_backup(data_dir, dest, pages_per_step=pages_per_step)
    assert manifest is not None
    return manifest


def _write_backup(
    data_dir: Path, dest: Path, *, pages_per_step: int = PAGES_PER_STEP, unless_sha256: str = ""
) -> dict[str, Any] | None:
    """``create_backup``; when the snapshot's sha256 is ``unless_sha256`` (nothing changed since
    that backup), write nothing and return None."""
    data_dir = Path(data_dir)
    db = data_dir / DATABASE
    if not db.is_file():
        raise BackupError(f"there is no database to back up in {data_dir} ({DATABASE} is missing)")
    dest = Path(dest).expanduser().absolute()
    if not dest.parent.is_dir():
        raise BackupError(f"cannot write the backup {dest}: the folder {dest.parent} does not exist")
    try:
        work = Path(tempfile.mkdtemp(prefix=".race-control-backup-", dir=dest.parent))
    except OSError as exc:
        raise BackupError(f"cannot write the backup {dest}: {exc.strerror or exc}") from None
    try:
        snapshot = work / DATABASE
        _snapshot(db, snapshot, pages_per_step)
        db_sha = _sha256(snapshot)
        if unless_sha256 and db_sha == unless_sha256:
            return None
        members: dict[str, Path] = {}
        settings = data_dir / SETTINGS_FILE
        if settings.is_file():
            members[SETTINGS_FILE] = settings
        for folder in FILE_DIRS:
            root = data_dir / folder
            if root.is_dir():
                for path in sorted(root.rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        members[path.relative_to(data_dir).as_posix()] = path
        with sqlite3.connect(snapshot) as conn:
            revision = _revision(conn)
            counts = _counts(conn)
        conn.close()
        now = time.time()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": __version__,
            "schema_revision": revision,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "created_at_epoch": now,
            "data_dir": str(data_dir.absolute()),
            "database": {"name": DATABASE, "bytes": snapshot.stat().st_size, "sha256": db_sha},
            "files": {},
            "counts": counts,
        }
        packed = work / "backup.zip"
        fd = os.open(packed, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with (
            os.fdopen(fd, "wb") as raw,
            zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
        ):
            z.write(snapshot, DATABASE)
            for name, path in members.items():
                content = path.read_bytes()
                manifest["files"][name] = hashlib.sha256(content).hexdigest()
                z.writestr(name, content)
            z.writestr(MANIFEST, json.dumps(manifest, indent=2))
        _fsync(packed)
        os.replace(packed, dest)
        _fsync_dir(dest.parent)
        return manifest
    except OSError as exc:
        raise BackupError(f"cannot write the backup {dest}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _snapshot(db: Path, target: Path, pages_per_step: int) -> None:
    """Copy ``db`` to ``target`` as of one instant (see the module docstring), then make the copy
    a self-contained rollback-journal file and check it."""
    try:
        src = sqlite3.connect(db, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open the database {db}: {exc}") from None
    try:
        src.execute("PRAGMA query_only=ON")
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the read snapshot starts here
            src.backup(dst, pages=pages_per_step)
            src.execute("COMMIT")
            dst.execute("PRAGMA journal_mode=DELETE")
            problems = [r[0] for r in dst.execute("PRAGMA integrity_check")]
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up the database {db}: {exc}") from None
    finally:
        src.close()
    if problems != ["ok"]:
        raise BackupError(f"the database {db} fails SQLite's integrity check: {'; '.join(problems[:5])}")


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    out = {}
    for name, sql in COUNTED.items():
        try:
            out[name] = int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # a table this revision does not have
            continue
    return out


# --- checking a backup --------------------------------------------------------------------------
def read_manifest(file: Path) -> dict[str, Any]:
    """The manifest of ``file`` (not checked against the contents: see ``check_backup``)."""
    with _open_zip(file) as z:
        return _manifest(file, z)


def check_backup(file: Path) -> dict[str, Any]:
    """Validate ``file`` completely (as restore does) and return its manifest."""
    with tempfile.TemporaryDirectory(prefix=".race-control-check-") as work:
        manifest, _files = _unpack(Path(file), Path(work))
    return manifest


def _open_zip(file: Path) -> zipfile.ZipFile:
    file = Path(file)
    if not file.is_file():
        raise BackupError(f"{file}: no such file")
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BackupError(
            f"{file} is not a Race Control backup: not a readable zip file ({exc}; damaged or cut short?)"
        ) from None


def _manifest(file: Path, z: zipfile.ZipFile) -> dict[str, Any]:
    if MANIFEST not in z.namelist():
        raise BackupError(f"{file} is not a Race Control backup: it has no {MANIFEST}")
    try:
        manifest = json.loads(z.read(MANIFEST))
    except (ValueError, zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise BackupError(f"{file}: its {MANIFEST} cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{file} is not a Race Control backup: {MANIFEST} does not say format {FORMAT!r}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(
            f"{file} was made by a newer Race Control ({manifest.get('app_version')}, backup format "
            f"{version}); this is {__version__} (format {FORMAT_VERSION}): restore it with a newer Race Control"
        )
    db = manifest.get("database")
    if not isinstance(db, dict) or db.get("name") != DATABASE or not isinstance(db.get("sha256"), str):
        raise BackupError(f"{file}: {MANIFEST} does not describe the database ({DATABASE} and its sha256)")
    if not isinstance(manifest.get("files", {}), dict):
        raise BackupError(f"{file}: {MANIFEST} 'files' is not an object")
    return manifest


def _safe_member(file: Path, name: object) -> str:
    """A member name that stays inside the data dir: settings.json or a file under FILE_DIRS."""
    path = PurePosixPath(str(name))
    if str(name) == SETTINGS_FILE or (
        len(path.parts) >= 2
        and path.parts[0] in FILE_DIRS
        and not path.is_absolute()
        and ".." not in path.parts
        and "\\" not in str(name)
    ):
        return str(name)
    raise BackupError(f"{file}: {MANIFEST} lists a file outside the data dir ({name!r})")


def _extract(file: Path, z: zipfile.ZipFile, name: str, target: Path, expected_sha256: str) -> None:
    if name not in z.namelist():
        raise BackupError(f"{file} is incomplete: {MANIFEST} lists {name} but the file does not hold it")
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with z.open(name) as src, open(target, "wb") as out:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise BackupError(f"{file} is damaged: {name} cannot be unpacked ({exc})") from None
    if digest.hexdigest() != expected_sha256:
        raise BackupError(
            f"{file}: the checksum of {name} does not match the manifest (sha256 {digest.hexdigest()}, "
            f"the manifest says {expected_sha256}): the file is damaged or was changed"
        )


def _unpack(file: Path, work: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Check ``file`` and unpack it under ``work``: (manifest, {member name: unpacked path})."""
    with _open_zip(file) as z:
        manifest = _manifest(file, z)
        db = work / DATABASE
        _extract(file, z, DATABASE, db, manifest["database"]["sha256"])
        files = {}
        for name, sha in manifest.get("files", {}).items():
            member = _safe_member(file, name)
            target = work / "files" / member
            _extract(file, z, member, target, str(sha))
            files[member] = target
    try:
        conn = sqlite3.connect(
            db.absolute().as_uri() + "?mode=ro", uri=True
        )  # (as_uri: a '#' or '?' in a path)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            revision = _revision(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{file}: its database is damaged (SQLite's integrity check: {exc})") from None
    if problems != ["ok"]:
        raise BackupError(
            f"{file}: its database is damaged (SQLite's integrity check: {'; '.join(problems[:5])})"
        )
    known = known_revisions()
    if not revision:
        raise BackupError(f"{file}: its database has no schema revision (not a Race Control database?)")
    if revision not in known:
        raise BackupError(
            f"{file}: its database has schema revision {revision}, newer than this Race Control "
            f"({__version__}, newest revision {known[-1]}) knows: restore it with the version that made "
            f"it ({manifest.get('app_version')}) or a newer one"
        )
    return manifest, files


# --- restoring ----------------------------------------------------------------------------------
def running_instance(data_dir: Path) -> str:
    """Who runs on ``data_dir`` ("" = nobody): a ``server.json`` whose pid is alive.

    For callers that cannot hold the instance lock (``race_control.instance``, a layer this
    module does not import); the ``restore`` command holds the lock instead."""
    path = Path(data_dir) / "server.json"
    try:
        info = json.loads(path.read_text("utf-8"))
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    if pid <= 0 or pid == os.getpid():
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""
    except PermissionError:
        pass  # alive, another user's
    url = info.get("http_url", "") if isinstance(info, dict) else ""
    return f"pid {pid}" + (f", {url}" if url else "")


def restore_backup(
    file: Path, data_dir: Path, *, with_settings: bool = False, locked: bool = False
) -> RestoreResult:
    """Check ``file``, keep the data dir's database aside and put the backup's in its place.

    ``with_settings``: also replace ``settings.json`` by the backup's (the current one is kept
    aside); otherwise the data dir keeps its own.  ``images/``/``templates/`` folders in the
    backup replace the data dir's (kept aside).  Refuses (BackupError, nothing changed) while an
    instance runs on ``data_dir`` or if the file is not a good backup.

    ``locked``: the caller holds the data dir's instance lock (``race_control.instance``), so
    no instance runs and ``server.json`` is not consulted: after a crash or a power cut (when a
    restore is most needed) it may name a pid that another program has now."""
    file, data_dir = Path(file), Path(data_dir)
    running = "" if locked else running_instance(data_dir)
    if running:
        raise BackupError(
            f"Race Control is running on {data_dir} ({running}): close it first, then restore "
            "(a database is never swapped under a running instance)"
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        manifest, files = _unpack(file, work)
        stamp = _unused_stamp(data_dir)
        kept: list[Path] = []
        restored: list[Path] = []
        db = data_dir / DATABASE
        moves: list[tuple[Path, Path]] = []  # (from, to), undone in reverse if a later step fails
        try:
            for suffix in ("", "-wal", "-shm", "-journal"):
                current = data_dir / (DATABASE + suffix)
                if current.exists():
                    aside = data_dir / f"{DATABASE}.replaced-{stamp}{suffix}"
                    os.replace(current, aside)
                    moves.append((current, aside))
                    kept.append(aside)
            os.chmod(work / DATABASE, 0o600)
            os.replace(work / DATABASE, db)
            restored.append(db)
            wanted = {n: p for n, p in files.items() if n != SETTINGS_FILE or with_settings}
            for top in sorted({PurePosixPath(n).parts[0] for n in wanted if n != SETTINGS_FILE}):
                current = data_dir / top
                if current.exists():
                    aside = data_dir / f"{top}.replaced-{stamp}"
                    os.replace(current, aside)
                    moves.append((current, aside))
                    kept.append(aside)
            if SETTINGS_FILE in wanted and (data_dir / SETTINGS_FILE).exists():
                aside = data_dir / f"{SETTINGS_FILE}.replaced-{stamp}"
                os.replace(data_dir / SETTINGS_FILE, aside)
                moves.append((data_dir / SETTINGS_FILE, aside))
                kept.append(aside)
            for name, path in wanted.items():
                target = data_dir / name
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.chmod(path, 0o600)
                os.replace(path, target)
                restored.append(target)
            _fsync_dir(data_dir)
        except OSError as exc:
            for path in reversed(restored):
                with contextlib.suppress(OSError):
                    path.unlink()
            for original, aside in reversed(moves):
                with contextlib.suppress(OSError):
                    os.replace(aside, original)
            raise BackupError(f"cannot restore into {data_dir}: {exc.strerror or exc}") from None
        return RestoreResult(manifest, db, kept, restored)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _unused_stamp(data_dir: Path) -> str:
    """A time stamp no ``*.replaced-<stamp>`` in ``data_dir`` has yet (two restores in one second)."""
    base = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    stamp, n = base, 1
    while any(data_dir.glob(f"*.replaced-{stamp}*")):
        n += 1
        stamp = f"{base}-{n}"
    return stamp


# --- automatic backups --------------------------------------------------------------------------
def automatic_backups(data_dir: Path) -> list[Path]:
    """DIR/backups/race-control-<time>.zip, oldest first (other files there are not ours)."""
    folder = Path(data_dir) / BACKUP_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{AUTO_PREFIX}*{AUTO_SUFFIX}") if p.is_file())


def rotating_backup(
    data_dir: Path, keep: int, *, pages_per_step: int = PAGES_PER_STEP
) -> tuple[Path | None, list[Path]]:
    """A backup into DIR/backups/, then delete all but the newest ``keep`` automatic backups.

    Returns (the new file, or None when nothing changed since the newest one; the deleted files)."""
    folder = Path(data_dir) / BACKUP_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = automatic_backups(data_dir)
    newest_sha = ""
    if existing:
        try:
            newest_sha = str(read_manifest(existing[-1])["database"]["sha256"])
        except BackupError:
            newest_sha = ""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f"-{int(now % 1 * 1e6):06d}"
    dest = folder / f"{AUTO_PREFIX}{stamp}{AUTO_SUFFIX}"
    made = _write_backup(data_dir, dest, pages_per_step=pages_per_step, unless_sha256=newest_sha)
    removed = []
    backups = automatic_backups(data_dir)
    for old in backups[: max(0, len(backups) - max(keep, 1))]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
        removed.append(old)
    return (dest if made is not None else None), removed


# --- helpers ------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":  # Windows cannot open a folder for fsync
        return
    with contextlib.suppress(OSError):
        _fsync(path)
