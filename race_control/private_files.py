"""Files only their owner can read: the data dir 0700, every file in it 0600.

The data dir holds participant data, display tokens, the API token and password verifiers,
so its modes do not follow the umask (0755/0644 on most machines: readable by every account
on the laptop).  Each writer creates its file through these helpers (``os.open`` with 0600,
so there is no moment when the file is readable by others) and an existing file or directory
with looser modes is tightened, with a log line saying so.  SQLite creates ``-wal``/``-shm``
with the main database file's mode, which is why ``private_file`` creates the database file
before SQLite opens it.  Safe from any thread; never touches the loop.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600

log = logging.getLogger("race_control.files")


def private_dir(path: Path) -> Path:
    """``path`` as a directory of mode 0700: created so (with missing parents), or tightened."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` exists (empty if new) with mode 0600, created so or tightened.  Its contents are
    left alone."""
    path = Path(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def private_tree(root: Path) -> Path:
    """``root`` 0700 and everything in it tightened: directories 0700, files 0600 (what an older
    version or a copied-in file left open).  Symlinks are not followed.  One log line per change."""
    root = private_dir(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            if not os.path.islink(os.path.join(folder, name)):
                _tighten(Path(folder, name), DIR_MODE)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink() and path.is_file():
                _tighten(path, FILE_MODE)
    return root


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a 0600 temporary file renamed over it)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a stale .tmp left by a crash keeps its old mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        os.chmod(path, mode)
        log.warning("%s was open to other accounts (mode %s): made it %s", path, oct(current), oct(mode))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are 0600: the file opened at start and each new one after a
    rollover (the rotated ones keep the mode they were written with)."""

    def _open(self) -> IO[Any]:
        # not private_file: its log line would come back into this handler while it opens
        os.close(os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        os.chmod(self.baseFilename, FILE_MODE)
        return super()._open()
