"""What every sans-IO timing link shares, whichever side of the socket we are on.

The CTP01 server (``ctp01.Ctp01Server``) and the RACE RESULT client
(``raceresult.RaceResultClient``) are different conversations with the same
plumbing: outbound lines queued until the transport asks for ``data_to_send()``,
inbound bytes framed into lines (each one reported as ``RawLine`` before anything
derived from it, so the raw log is written first), malformed input counted as
``BadLine`` and never raised, and a one-way trip to the ``closed`` phase.  Keeping
that here means both protocol modules hold only their own conversation.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from race_control.timing.protocols.errors import TimingInputError
from race_control.timing.protocols.events import BadLine, LinkDead, RawLine, TimingEvent
from race_control.timing.protocols.framing import LineBuffer, OverlongLine

__all__ = ["LineLink", "load_zone"]


def load_zone(name: str, error: type[Exception]) -> ZoneInfo:
    """``ZoneInfo(name)``, or ``error`` (the caller's config error) for an unknown zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise error(f"unknown timezone {name!r}") from exc


class LineLink:
    """Base of one sans-IO connection.  Subclasses set ``_phase`` and implement ``_handle``.

    ``_tz``/``_reference_date`` are the clock every timing protocol reads times
    against (seconds since local midnight of the race day, see ``ct_time``).
    """

    _config_error: type[Exception] = TimingInputError  # what set_clock raises for an unknown zone
    _phase: str
    _tz: ZoneInfo
    _reference_date: dt.date

    def __init__(self) -> None:
        self._buffer = LineBuffer()
        self._out: list[str] = []
        self._connection_id: str | None = None
        self._bad_lines = 0
        # backpressure: while the transport is not reading, the peer cannot be heard, so neither
        # silence nor an unfinished handshake counts against it (see ``reading_paused``)
        self._paused_since: float | None = None
        self._paused_total = 0.0
        self._resumed_at = float("-inf")

    # ------------------------------------------------------------------ read-only state
    @property
    def phase(self) -> str:
        """Where the conversation is; ``closed`` is final."""
        return self._phase

    @property
    def closed(self) -> bool:
        return self._phase == "closed"

    @property
    def connection_id(self) -> str | None:
        return self._connection_id

    @property
    def bad_lines(self) -> int:
        return self._bad_lines

    @property
    def paused(self) -> bool:
        """The transport has stopped reading this link (``reading_paused``)."""
        return self._paused_since is not None

    # ------------------------------------------------------------------ public API
    def set_clock(self, timezone: str, reference_date: dt.date) -> None:
        """Interpret times in this source's own zone and day (per-source settings).

        Applies to the lines that arrive from now on; the caller sets it once the
        stream is identified and before streaming starts, or when the operator
        changes the source's settings.
        """
        self._tz = load_zone(timezone, self._config_error)
        self._reference_date = reference_date

    def reading_paused(self, now: float) -> None:
        """The transport stopped reading the socket (backpressure: storage is behind).

        Whatever the peer sends now waits in the socket unread, so its silence is our doing:
        the dead-link and handshake clocks stand still until ``reading_resumed``.  (The
        transport tells us; this class never reads a clock.)
        """
        if self._paused_since is None:
            self._paused_since = now

    def reading_resumed(self, now: float) -> None:
        """The transport reads the socket again: silence counts from ``now`` on."""
        if self._paused_since is not None:
            self._paused_total += max(now - self._paused_since, 0.0)
            self._paused_since = None
            self._resumed_at = now

    def end_of_input(self) -> list[TimingEvent]:
        """The connection ended: an unfinished last line is reported, never parsed.

        Every complete line was already handled by ``receive_data``.  Bytes after the last
        line break are kept (``RawLine``, so the raw log holds every byte that arrived) and
        flagged (``BadLine``), but a cut-off data line is not a read.
        """
        events: list[TimingEvent] = []
        for item in self._buffer.feed(b"\n"):  # completes the partial line, if there is one
            if isinstance(item, OverlongLine):
                self._bad(events, item.head, f"line too long ({item.length} bytes), dropped")
                continue
            events.append(RawLine(self._stored_form(item)))
            self._bad(events, item, "connection ended in the middle of this line: not parsed")
        return events

    def data_to_send(self) -> bytes:
        """Drain queued outbound lines as CRLF-terminated bytes."""
        if not self._out:
            return b""
        data = "".join(line + "\r\n" for line in self._out).encode("latin-1", "replace")
        self._out.clear()
        return data

    # ------------------------------------------------------------------ internals
    def _send(self, line: str) -> None:
        self._out.append(line)

    def _bad(self, events: list[TimingEvent], line: str, reason: str) -> None:
        self._bad_lines += 1
        events.append(BadLine(self._stored_form(line), reason))  # logged: never a credential

    def _die(self, events: list[TimingEvent], reason: str) -> list[TimingEvent]:
        self._phase = "closed"
        events.append(LinkDead(reason))
        return events

    def _timed_out(
        self, now: float, events: list[TimingEvent], *, peer: str, handshaking: bool, handshake_step: str
    ) -> bool:
        """Dead link (silence for ``dead_after``) or a handshake that never finished: close.
        Subclasses keep ``_last_rx``, ``_created`` and a config with both limits.  Time while
        reading is paused does not count: a link we are not reading is never silent."""
        if self._paused_since is not None:
            return False
        cfg = self.config  # type: ignore[attr-defined]
        silent = now - max(self._last_rx, self._resumed_at)  # type: ignore[attr-defined]
        if silent >= cfg.dead_after:
            self._die(events, f"no data from {peer} for {silent:.1f} s")
            return True
        shaking = now - self._created - self._paused_total  # type: ignore[attr-defined]
        if handshaking and shaking >= cfg.handshake_timeout:
            self._die(events, f"{handshake_step} within {cfg.handshake_timeout:g} s")
            return True
        return False

    def _feed(self, data: bytes, now: float, events: list[TimingEvent]) -> None:
        """Frame ``data`` into lines: ``RawLine`` first, then whatever ``_handle`` makes of it."""
        for item in self._buffer.feed(data):
            if self._phase == "closed":
                return
            if isinstance(item, OverlongLine):
                self._bad(events, item.head, f"line too long ({item.length} bytes), dropped")
                continue
            events.append(RawLine(self._stored_form(item)))
            self._handle(item, now, events)

    def _stored_form(self, line: str) -> str:
        """The line as it is stored and logged (protocols redact credentials here)."""
        return line

    def _handle(self, line: str, now: float, events: list[TimingEvent]) -> None:
        raise NotImplementedError
