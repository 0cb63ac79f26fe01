"""Logging, configured once per process.  Raw timing traffic gets its own rotating file."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import re
from pathlib import Path
from typing import IO, Any

from race_control.private_files import PrivateRotatingFileHandler, private_dir

_configured = False
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# what must never reach a log line as it is: C0/C1 control characters (a newline forges a log line,
# ESC drives the operator's terminal), the Unicode line separators, and lone surrogates (text
# decoded with surrogateescape, e.g. a non-UTF-8 header: the UTF-8 log file cannot encode them)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    return _NAMED.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def safe(value: object, limit: int = 200) -> str:
    """``value`` (client text: a path, a header, a name) fit for one log line: control characters
    escaped (``\\n``, ``\\x1b``), cut to ``limit`` characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        text = f"<an integer of {value.bit_length()} bits>"  # repr() of a 5,000-digit int raises
    else:
        text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _UNSAFE.sub(_escape, text)


class EscapeControlCharacters(logging.Filter):
    """Escapes control characters in every record's message (not its traceback), so no client
    text that reaches a message unescaped can forge a line or send a terminal escape."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format: the handler reports it when it formats the record
            return True
        if _UNSAFE.search(message):
            record.msg, record.args = _UNSAFE.sub(_escape, message), None
        return True


class RawTrafficHandler(PrivateRotatingFileHandler):
    """The raw timing log's file (every line a timing client sends, logged on the event loop as
    it arrives, on the read -> screen path).  ``RotatingFileHandler`` looks the file up
    (``os.path.exists``), seeks to its end and flushes it for every record: syscalls that each
    let the store's thread take the GIL while the read waits.  Here the size is counted as the
    records are written and the file is flushed once per turn of the loop (a callback after
    everything the loop was doing; at once when logged outside a running loop), so a packet's
    lines cost one write.  Rolls over as the stock handler does (``maxBytes``, ``backupCount``)."""

    _size = 0
    _flush_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def _open(self) -> IO[Any]:
        stream = super()._open()
        self._size = os.fstat(stream.fileno()).st_size
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + self.terminator
            if self.stream is None:
                self.stream = self._open()
            size = len(text) if text.isascii() else len(text.encode(self.encoding or "utf-8"))
            if self.maxBytes > 0 and self._size and self._size + size > self.maxBytes:
                self.doRollover()  # (reopens: ``_size`` is the new file's)
            self.stream.write(text)
            self._size += size
            self._flush_later()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _flush_later(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on a loop's thread: nothing would come back for it
            self.flush()
            return
        if self._flush_on is loop:
            return
        self._flush_on = loop
        loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_on = None
        self.flush()


def configure_logging(log_dir: Path | None, *, verbose: bool = False, console: bool = True) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger("race_control")
    root.setLevel(logging.DEBUG)
    root.propagate = False
    if console:
        handler = logging.StreamHandler()
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(EscapeControlCharacters())
        root.addHandler(handler)
    if log_dir is not None:
        private_dir(log_dir)  # logs name participants and clients: 0700, files 0600
        app_file = PrivateRotatingFileHandler(
            log_dir / "race-control.log", maxBytes=10_000_000, backupCount=5, encoding="utf-8"
        )
        app_file.setLevel(logging.INFO)
        app_file.setFormatter(logging.Formatter(FORMAT))
        app_file.addFilter(lambda record: not record.name.startswith("race_control.raw"))
        app_file.addFilter(EscapeControlCharacters())
        root.addHandler(app_file)
        raw = logging.getLogger("race_control.raw")
        raw.setLevel(logging.DEBUG)
        raw_file = RawTrafficHandler(
            log_dir / "timing-raw.log", maxBytes=50_000_000, backupCount=10, encoding="utf-8"
        )
        raw_file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        raw_file.addFilter(EscapeControlCharacters())
        raw.addHandler(raw_file)
        raw.propagate = False
