"""Line framing for text timing protocols (sans-IO).

TCP is a byte stream: one ``recv()`` is not one line.  ``LineBuffer`` collects
bytes and yields complete lines, keeping the trailing partial line.  It accepts
``\\r\\n``, ``\\n`` and ``\\r`` terminators (real clients are sloppy), drops NUL
bytes, decodes latin-1 (never fails), and bounds memory: a line longer than
``max_line`` is cut off and reported instead of growing the buffer forever.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class OverlongLine:
    """A line was longer than the buffer allows; its first bytes are kept for the log."""

    head: str
    length: int


class LineBuffer:
    """Split a byte stream into text lines.  Pure: no sockets, no clocks."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buf = bytearray()
        self._max = max_line
        self._discarding = 0  # >0 while skipping the rest of an over-long line

    def feed(self, data: bytes) -> list[str | OverlongLine]:
        """Add bytes; return every line completed by them (without terminators).

        Empty lines are skipped.  An over-long line yields one ``OverlongLine``.
        """
        out: list[str | OverlongLine] = []
        if not data:
            return out
        buf = self._buf
        buf += data.replace(b"\x00", b"")
        start = 0
        n = len(buf)
        while start < n:
            # find the nearest terminator (\r or \n)
            cr = buf.find(b"\r", start)
            lf = buf.find(b"\n", start)
            if cr == -1 and lf == -1:
                break
            end = lf if cr == -1 else cr if lf == -1 else min(cr, lf)
            raw = bytes(buf[start:end])
            start = end + 1
            if self._discarding:
                total = self._discarding + len(raw)
                self._discarding = 0
                out.append(OverlongLine(self._overlong_head, total))
                continue
            if len(raw) > self._max:
                out.append(OverlongLine(raw[:80].decode("latin-1"), len(raw)))
                continue
            if raw:
                out.append(raw.decode("latin-1"))
        del buf[:start]
        if len(buf) > self._max:
            # the partial line is already too long: remember its head, drop the bytes
            if not self._discarding:
                self._overlong_head = bytes(buf[:80]).decode("latin-1")
            self._discarding += len(buf)
            buf.clear()
        return out

    @property
    def pending(self) -> int:
        """Bytes of the unfinished line currently held."""
        return len(self._buf)
